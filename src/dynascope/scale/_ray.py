"""A sweep trained as Ray tasks, one per shard, on the CPUs and GPUs of a Ray cluster (or a local one).

The driver (this process) holds the run folder's writer lock throughout; workers write only their own
shard folders (`scale._shards`), so a run folder at a path must lie on storage every node of the cluster
sees. A run at a URL needs no shared disk: each worker builds its shard locally and pushes it to the URL,
and the driver pulls finished shards into its working copy (`scale._remote_shards`).
Ray retries a shard whose worker died (`max_retries`); a retried attempt continues from the shard's
checkpoint. The driver merges each group once all its shards are finished. Re-running the same call with
`resume=True` after the driver itself died trains only the shards that are not finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Callable

from dynascope.errors import ConfigError, RunFolderError, check_positive_int
from dynascope.pipeline import SweepConfig, group_damage, prepare_run
import dynascope.scale._remote_shards as _remote
import dynascope.scale._shards as _shards
from dynascope.scale._shards import Shard
from dynascope.store import NetworkRows, RunFolder, holds_run, is_url

__all__ = ["CRASH_ENV", "ShardCounts", "check_shard_options", "connect", "default_size", "execute_shards",
           "require_ray", "run_sweep_ray"]

#: Fault drill: "<group>[<start>:<stop>]" (a shard as printed) makes that shard's first attempt kill its worker
#: process halfway through training, to rehearse a cluster's retry path before a long sweep.
CRASH_ENV = "DYNASCOPE_CRASH_SHARD"
INSTALL = "pip install 'dynascope[scale]'"


@dataclasses.dataclass(frozen=True)
class ShardCounts:
    """Where a sharded sweep stands: `total` shards, of which `earlier` were finished before this call,
    `done` are finished (earlier ones included), `running` have an attempt under way, `failed` gave up after
    their retries; `retried` shards needed more than one attempt."""

    total: int
    earlier: int = 0
    done: int = 0
    running: int = 0
    failed: int = 0
    retried: int = 0

    @property
    def queued(self) -> int:
        return self.total - self.done - self.running - self.failed


ShardProgress = Callable[[ShardCounts], None]


def require_ray() -> Any:
    """The `ray` module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"backend: 'ray' needs Ray, which is not installed; install it with {INSTALL}.") from None
    return ray


def run_sweep_ray(
    config: SweepConfig,
    out: str | Path,
    *,
    resume: bool = False,
    shard_size: int | None = None,
    address: str | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    max_retries: int = 3,
    progress: ShardProgress | None = None,
) -> RunFolder:
    """Train sweep `config` into run folder `out` as Ray tasks of at most `shard_size` networks each.

    Each task asks Ray for `num_cpus` CPUs and `num_gpus` GPUs (JAX's preallocation is off in the workers
    so that a fraction lets shards share a GPU). Finished groups and finished shards are kept on `resume`.
    The result is the run folder a single-process `run_sweep` writes, network for network (same keys; the
    float32 results agree to rounding, since XLA may order a batched sum differently for another number
    of networks).

    Args:
        config: the `SweepConfig`.
        out: the run folder.
        resume: continue a run already in `out`.
        shard_size: the most networks per Ray task (None: each group spread over the cluster's
            task slots: its CPUs / `num_cpus`, or GPUs / `num_gpus`).
        address: passed to `ray.init` ('auto': the cluster this machine belongs to; None: a local one
            unless $RAY_ADDRESS is set); an already initialised Ray is used as it is.
        num_cpus: CPUs each task asks Ray for.
        num_gpus: GPUs each task asks Ray for (a fraction lets tasks share a GPU).
        max_retries: how many times Ray retries a task whose worker died (≥ 0).
        progress: called with the `ShardCounts` (done, running, failed, retried) while the shards
            run, or None.

    Returns:
        The `RunFolder`.

    Raises:
        ConfigError: Ray not installed, an invalid config or a bad shard option; RunFolderError: as
        `prepare_run`, or naming every shard that failed after its retries.
    """
    ray = require_ray()
    check_shard_options(shard_size, num_cpus, num_gpus, max_retries)
    if not holds_run(out):  # a new run has work: a cluster that cannot do it fails before the folder
        config.validate()
        connect(ray, address, num_cpus, num_gpus)
    run = prepare_run(config, out, resume=resume, check_memory=False)  # each shard's is checked where it runs
    with run.writing():
        run = prepare_run(config, out, resume=True, check_memory=False)
        todo: dict[str, list[int]] = {}
        earlier = 0
        stored = set(run.groups()) & {p.stem for p in run.shards(NetworkRows)}
        for group, _, _ in config.groups():
            if group in stored and group_damage(run, group) is None:
                continue  # a damaged group is trained again, as `run_sweep` does
            done = _finished(run, group)
            earlier += len(done)
            todo[group] = _shards.missing_networks(config.n_networks, done)
        pending = {g: m for g, m in todo.items() if m}
        shards: list[Shard] = []
        if pending:
            connect(ray, address, num_cpus, num_gpus)
            size = shard_size or default_size(ray, config.n_networks, num_cpus, num_gpus)
            shards = [s for g, m in pending.items() for s in _shards.cut_shards(g, m, size)]
        counts = ShardCounts(total=earlier + len(shards), earlier=earlier, done=earlier)
        for group, missing in todo.items():
            if not missing:  # every network is in finished shards: the driver died before merging
                _merge(run, config, group)
        if shards:
            remaining = {g: sum(1 for s in shards if s.group == g) for g in todo}

            def finished(shard: Shard) -> None:
                remaining[shard.group] -= 1
                if remaining[shard.group] == 0:
                    _merge(run, config, shard.group)

            as_dict, crash = config.to_dict(), os.environ.get(CRASH_ENV, "")
            execute_shards(ray, _remote.attempts_folder(run), "", shards, counts, _attempt,
                           lambda s: (as_dict, run.location, s.group, s.start, s.stop, crash), finished,
                           num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries, progress=progress,
                           rerun="rerun the same command with --resume to train only the missing ones")
        elif progress is not None:
            progress(counts)
        for group, _, _ in config.groups():  # training's leftovers; another stage's shards stay for its rerun
            shutil.rmtree(_shards.group_folder(run.path, group), ignore_errors=True)
            _remote.drop_shards(run, group)
        with contextlib.suppress(OSError):
            (run.path / _shards.SHARDS).rmdir()  # only when empty
    return run


def check_shard_options(shard_size: int | None, num_cpus: float, num_gpus: float, max_retries: int) -> None:
    """ConfigError naming the first bad option a sharded step of any stage takes."""
    if shard_size is not None:
        check_positive_int("shard_size", shard_size)
    if not (num_cpus >= 0 and num_gpus >= 0 and num_cpus + num_gpus > 0):
        raise ConfigError(f"num_cpus/num_gpus: got {num_cpus}/{num_gpus}; each shard needs some CPU or GPU "
                          "(e.g. num_cpus=1, or num_gpus=0.25 to fit four shards on a GPU).")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigError(f"max_retries must be an integer ≥ 0, got {max_retries!r}.")


def connect(ray: Any, address: str | None, num_cpus: float, num_gpus: float) -> None:
    """Start or join Ray (an initialised one is used as it is); ConfigError if that fails, or if one shard
    asks for more CPUs or GPUs than the whole cluster has (its tasks would wait forever)."""
    # JAX warns on every os.fork() of a process that has started it; Ray's driver forks helpers that exec at
    # once and never run JAX, so the warning would only tear the progress bar.
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
    if not ray.is_initialized():
        try:
            # Worker output stays in Ray's logs (/tmp/ray/session_latest/logs): it would tear the progress bar.
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise ConfigError(
                f"address: cannot start or join a Ray cluster at {address!r} ({err}); start one with `ray start "
                "--head` and pass its address (or 'auto'), or leave --address out to start a local one."
            ) from err
    resources = ray.cluster_resources()
    for name, need, flag in (("CPU", num_cpus, "--cpus-per-shard"), ("GPU", num_gpus, "--gpus-per-shard")):
        if need > resources.get(name, 0):
            raise ConfigError(f"{flag}: each shard asks for {need:g} {name}s but the Ray cluster has "
                              f"{resources.get(name, 0):g}; ask for less, or add nodes with {name}s.")


def default_size(ray: Any, n_networks: int, num_cpus: float, num_gpus: float) -> int:
    """Networks per shard that spread a group over the cluster's task slots."""
    resources = ray.cluster_resources()
    slots = resources.get("GPU", 0) / num_gpus if num_gpus else resources.get("CPU", 1) / num_cpus
    return max(1, math.ceil(n_networks / max(1, int(slots))))


def _finished(run: RunFolder, group: str) -> list[Shard]:
    """The group's finished training shards (at a URL: those whose marker is there, pulled first)."""
    return _remote.pull_shards(run, group, lambda: _shards.finished_shards(run.path, group)[0])


def _merge(run: RunFolder, config: SweepConfig, group: str) -> None:
    _shards.merge_group(run, group, config.n_networks, _finished(run, group))
    run.publish()  # a run at a URL: the merged group is uploaded now; then its shards there are spent
    _remote.drop_shards(run, group)


def _attempt(config: dict[str, Any], run: str, group: str, start: int, stop: int, crash: str) -> bool:
    """One attempt at a shard, in a Ray worker (module-level, so workers import it rather than unpickle code).
    `run`: the run folder's path, or its URL (the shard is built in this machine's worker folder, then
    pushed; one already pushed is never redone)."""
    shard = Shard(group, start, stop)
    url = run if is_url(run) else None
    if url is not None and _remote.shard_is_pushed(url, shard):
        return False
    root = _remote.worker_root(url) if url is not None else Path(run)
    attempt = _shards.record_attempt(root, shard)
    def die(step: int, losses: Any) -> None:  # after the first checkpoint: a death mid-shard
        os._exit(1)

    drill = crash == str(shard) and attempt == 1
    committed = _shards.train_shard(SweepConfig.from_dict(config), root, shard, progress=die if drill else None)
    if url is None:
        return committed
    if _shards.shard_path(root, shard).is_dir():  # committed here (maybe by an attempt that died before its push)
        _remote.push_shard(url, shard)
    return True


def execute_shards(ray: Any, run: Path, stage: str, shards: list[Shard], counts: ShardCounts,
                   attempt: Callable[..., Any], args: Callable[[Shard], tuple], finished: Callable[[Shard], None],
                   *, num_cpus: float, num_gpus: float, max_retries: int, progress: ShardProgress | None,
                   rerun: str) -> None:
    """Run `attempt(*args(shard))` as a Ray task per shard (each asking for `num_cpus` CPUs and `num_gpus`
    GPUs; Ray restarts one whose worker died up to `max_retries` times) and call `finished(shard)` in this
    process as each one succeeds. Attempts are counted from the markers `record_attempt(run, shard, stage)`
    leaves, for `progress`. Every shard runs even when others fail; then RunFolderError naming each failed
    shard and its cause, ending with `rerun` (what to do next). An interrupted driver cancels its shards."""
    env = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    if 0 < num_gpus < 1:  # a GPU shared by 1/num_gpus shards: each may grow to its share
        env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.95 * num_gpus:.3f}"
    task = ray.remote(attempt).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries,
                                       retry_exceptions=False, runtime_env={"env_vars": env})
    before: dict[Shard, int] = {}
    _count_attempts(run, stage, shards, before)  # attempts of earlier runs: a retry is a second attempt in this one
    refs = {task.remote(*args(s)): s for s in shards}
    failures: dict[Shard, str] = {}
    done: set[Shard] = set()
    tries = dict(before)
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            _count_attempts(run, stage, shards, tries)  # before a merge deletes the group's attempt markers
            for ref in ready:
                shard = refs.pop(ref)
                try:
                    ray.get(ref)
                except ray.exceptions.RayError as err:
                    failures[shard] = f"{shard}: {_cause(err)}"
                    continue
                done.add(shard)
                finished(shard)
            if progress is not None:
                progress(_counts(shards, before, tries, counts, done, failures))
    finally:
        for ref in refs:  # an interrupted driver stops its shards; finished ones stay for the rerun
            with contextlib.suppress(Exception):  # a lost connection must not hide why the driver stopped
                ray.cancel(ref, force=True)
    if failures:
        raise RunFolderError(
            f"{len(failures)} of {len(shards)} shards failed after {max_retries} retries "
            f"({'; '.join(failures.values())}); the finished shards are kept: {rerun} (see docs/scale.md if a "
            "shard keeps failing)."
        )


def _count_attempts(run: Path, stage: str, shards: list[Shard], tries: dict[Shard, int]) -> None:
    """Update {shard: attempts started} from the markers workers leave in the shard folders."""
    started = {g: _shards.attempts(run, g, stage) for g in {s.group for s in shards}}
    for s in shards:
        tries[s] = max(tries.get(s, 0), started[s.group].get(s.name, 0))


def _counts(shards: list[Shard], before: dict[Shard, int], tries: dict[Shard, int], counts: ShardCounts,
            finished: set[Shard], failed: dict[Shard, str]) -> ShardCounts:
    started = {s: tries[s] - before[s] for s in shards}  # attempts in this call
    running = sum(1 for s in shards if started[s] and s not in finished and s not in failed)
    return dataclasses.replace(counts, done=counts.earlier + len(finished), running=running,
                               failed=len(failed), retried=sum(1 for s in shards if started[s] > 1))


def _cause(err: BaseException) -> str:
    cause = getattr(err, "cause", None)
    if cause is not None and not isinstance(cause, type(err)):
        return f"{type(cause).__name__}: {cause}"
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
