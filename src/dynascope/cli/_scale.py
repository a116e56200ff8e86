"""`dynascope train --backend ray`: the sweep as Ray tasks (`dynascope.scale`), with one progress row for
all its shards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dynascope.cli._display import console, networks_table, progress
from dynascope.errors import ConfigError

#: The values of `--backend`: in this process, or sharded across a Ray cluster.
BACKENDS = ("embedded", "ray")


def check_backend(backend: str) -> str:
    """`backend`, or a ConfigError naming the choices."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}.")
    return backend


def train_run_ray(config: Any, out: Path, resume: bool, *, address: str | None, shard_size: int | None,
                  cpus_per_shard: float, gpus_per_shard: float, max_retries: int) -> None:
    """Run a sweep on Ray with a progress row for its shards (done, running, queued, retried, failed),
    then print the network table."""
    from dynascope.scale import ShardCounts, require_ray, run_sweep_ray

    require_ray()  # a missing extra is one line, before anything is created
    bar = progress()
    row = None

    def show(c: ShardCounts) -> None:
        nonlocal row
        if row is None:  # the bar appears once shards are planned: errors before that stay one line
            bar.start()
            row = bar.add_task("shards", total=c.total, status="")
        parts = [f"{c.running} running", f"{c.queued} queued"]
        parts += [f"{n} {what}" for n, what in ((c.earlier, "done earlier"), (c.retried, "retried"),
                                               (c.failed, "failed")) if n]
        bar.update(row, total=c.total, completed=c.done, status=", ".join(parts))

    try:
        run = run_sweep_ray(config, out, resume=resume, shard_size=shard_size, address=address,
                            num_cpus=cpus_per_shard, num_gpus=gpus_per_shard, max_retries=max_retries,
                            progress=show)
    finally:
        if row is not None:
            bar.stop()
    console.print(networks_table(run, f"networks in {out}"))
