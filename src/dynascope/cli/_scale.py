"""`--backend ray` of `dynascope train`, `analyze` and `compare`: the step as Ray tasks (`dynascope.scale`),
with one progress row for all its shards."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import typer

from dynascope.cli._display import console, networks_table, progress
from dynascope.errors import ConfigError

#: The values of `--backend`: in this process, or sharded across a Ray cluster.
BACKENDS = ("embedded", "ray")


def check_backend(backend: str) -> str:
    """`backend`, or a ConfigError naming the choices."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}.")
    return backend


def ray_options(what: str) -> dict[str, Any]:
    """The typer options of `--backend ray` (as keyword defaults of a command), `what` naming a shard's unit."""
    return dict(
        backend=typer.Option("embedded", "--backend", help="embedded (this process) or ray (a Ray cluster, docs/scale.md)"),
        address=typer.Option(None, "--address", help="--backend ray: the cluster ('auto', HOST:PORT) \\[default: local]"),
        shard_size=typer.Option(None, "--shard-size", help=f"--backend ray: {what} per shard"),
        cpus_per_shard=typer.Option(1.0, "--cpus-per-shard", help="--backend ray: CPUs each shard asks for"),
        gpus_per_shard=typer.Option(0.0, "--gpus-per-shard", help="--backend ray: GPUs per shard (0.25: 4 a GPU)"),
        max_retries=typer.Option(3, "--max-retries", help="--backend ray: restarts of a shard whose worker died"),
    )


class _ShardRow:
    """A progress row for a sharded step (done, running, queued, retried, failed), started with the first
    counts so that an error before any shard is planned stays one line."""

    def __init__(self, label: str) -> None:
        self.bar, self.label, self.row = progress(), label, None

    def __call__(self, c: Any) -> None:
        if self.row is None and c.total == 0:  # nothing left to do: no "0/0" row
            return
        if self.row is None:
            self.bar.start()
            self.row = self.bar.add_task(self.label, total=c.total, status="")
        parts = [f"{c.running} running", f"{c.queued} queued"]
        parts += [f"{n} {what}" for n, what in ((c.earlier, "done earlier"), (c.retried, "retried"),
                                               (c.failed, "failed")) if n]
        self.bar.update(self.row, total=c.total, completed=c.done, status=", ".join(parts))

    def stop(self) -> None:
        if self.row is not None:
            self.bar.stop()


def _with_row(label: str, step: Callable[[_ShardRow], Any]) -> Any:
    row = _ShardRow(label)
    try:
        return step(row)
    finally:
        row.stop()


def train_run_ray(config: Any, out: Path, resume: bool, *, address: str | None, shard_size: int | None,
                  cpus_per_shard: float, gpus_per_shard: float, max_retries: int) -> None:
    """Run a sweep on Ray with a progress row for its shards (done, running, queued, retried, failed),
    then print the network table."""
    from dynascope.scale import require_ray, run_sweep_ray

    require_ray()  # a missing extra is one line, before anything is created
    run = _with_row("shards", lambda show: run_sweep_ray(
        config, out, resume=resume, shard_size=shard_size, address=address, num_cpus=cpus_per_shard,
        num_gpus=gpus_per_shard, max_retries=max_retries, progress=show))
    console.print(networks_table(run, f"networks in {out}"))


def analyze_run_ray(run: Any, options: Any, force: bool, on_skip: Callable[[str, str], None], *,
                    address: Optional[str], shard_size: Optional[int], cpus_per_shard: float,
                    gpus_per_shard: float, max_retries: int) -> None:
    """`dynascope analyze --backend ray`: the groups to analyse as Ray tasks, with one progress row."""
    from dynascope import scale

    _with_row("analysis shards", lambda show: scale.analyze_run_ray(
        run, options, force=force, shard_size=shard_size, address=address, num_cpus=cpus_per_shard,
        num_gpus=gpus_per_shard, max_retries=max_retries, progress=show, on_skip=on_skip))


def study_ray(run: Any, options: Any, force: bool, on_progress: Callable[[str, int, int], None], *,
              address: Optional[str], shard_size: Optional[int], cpus_per_shard: float, gpus_per_shard: float,
              max_retries: int) -> Any:
    """`dynascope compare --backend ray`: each metric's pairs in blocks computed as Ray tasks; progress per
    metric in pairs (the caller's bar)."""
    from dynascope import scale

    return scale.study_ray(run, options, force=force, shard_size=shard_size, address=address,
                           num_cpus=cpus_per_shard, num_gpus=gpus_per_shard, max_retries=max_retries,
                           progress=on_progress)
