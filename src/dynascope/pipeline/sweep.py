"""A sweep: groups (architecture × n_hidden) trained one after another into one run folder, resumably."""

from __future__ import annotations

import contextlib
import shutil
import zlib
from pathlib import Path
from typing import Callable, Iterable

import jax
import numpy as np

from dynascope.errors import RunFolderError
from dynascope.pipeline.config import SweepConfig, open_run, written_by
from dynascope.pipeline.populations import group_damage, save_population
from dynascope.store import CONFIG, NetworkRows, Remote, RunFolder, busy, holds_run, is_url, run_location
from dynascope.models import Model
from dynascope.tasks import Task
from dynascope.train import Population, TrainOptions, train_population

__all__ = ["SweepProgress", "group_key", "prepare_run", "run_sweep", "train_groups"]

#: progress(group, steps_done, losses[n]) after every chunk of a group.
SweepProgress = Callable[[str, int, np.ndarray], None]


def group_key(seed: int, group: str) -> jax.Array:
    """The PRNG key of one group: the master seed folded with a stable hash (CRC-32) of the group name.

    Args:
        seed: the master seed (a PRNG integer).
        group: the group's name.

    Returns:
        A JAX PRNG key.
    """
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32(group.encode()) & 0x7FFFFFFF)


def prepare_run(config: SweepConfig, out: str | Path, *, resume: bool = False, check_memory: bool = True) -> RunFolder:
    """Check `config` and create the run folder `out`, or open it to resume.

    `run_sweep` starts with this; call it first to fail before any output. config.toml is written only
    once every option has been validated and the folder has been found writable.

    Args:
        config: the `SweepConfig` (or an `AblationConfig`, which has the same methods).
        out: the run folder.
        resume: open a folder that already holds a run of the same config.
        check_memory: check that a whole group fits this machine (False for the Ray backend,
            `dynascope.scale`, which checks each shard where it runs).

    Returns:
        The `RunFolder`.

    Raises:
        ConfigError: an invalid config, or a group too large for the memory; RunFolderError: `out` holds
        a run and `resume` is off (or another command is writing it), holds a run of a different
        config, or cannot be written.
    """
    config.validate()
    if check_memory:
        config.check_memory()
    out = run_location(out)  # a URL (str) or a local path
    if not holds_run(out):
        return RunFolder.create(out, config.to_dict())
    if not resume:
        writer = busy(Remote(out).path if is_url(out) else out)  # type: ignore[arg-type]
        if writer is not None:  # a second `train` started at the same time: say so, --resume would wait on it
            raise RunFolderError(
                f"{out} is being written by {writer}; only one command may write a run folder at a time: "
                "wait for it to finish, or choose another --out."
            )
        raise RunFolderError(f"{out} already holds a run; pass --resume to continue it, or choose another --out.")
    run = open_run(out)
    stored = {k: v for k, v in run.config.items() if k != "versions"}
    # Which command wrote the folder, and which is resuming it: flags of one cannot continue the other's run.
    writer = written_by(stored)
    resuming = written_by(config.to_dict())
    if writer != resuming:
        raise RunFolderError(f"{out} holds a run written by `dynascope {writer}`, which `dynascope {resuming}` "
                             f"cannot continue; resume it with `dynascope {writer} ... --resume`, or choose "
                             "another --out.")
    if type(config).from_dict(stored) != config:  # a sweep's or an ablation's config (pipeline.ablation)
        raise RunFolderError(
            f"{out} was created with a different config; resume with the original flags "
            f"(see {run.location.rstrip('/')}/{CONFIG}) or choose another --out."
        )
    run.check_writable()
    return run


def run_sweep(
    config: SweepConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: SweepProgress | None = None,
    on_group: Callable[[str, Population], None] | None = None,
) -> RunFolder:
    """Train every group of `config` into the run folder `out` and return it.

    Finished groups (weights and catalog shard written, and passing their checksum and shape checks) are
    skipped on resume; a finished group whose files are damaged is trained again and rewritten; an
    unfinished group continues from its last checkpoint. The folder's writer lock is held throughout, so a
    second writer is refused at once.

    Args:
        config: the `SweepConfig` (every architecture × every size, `n_networks` networks each).
        out: the run folder.
        resume: continue a run already in `out` (otherwise a folder holding a run is refused).
        progress: called as `progress(group, steps_done, losses [n])` after every chunk of
            steps of a group, or None.
        on_group: called as `on_group(group, population)` after each group is trained and
            saved, or None.

    Returns:
        The `RunFolder`.

    Raises:
        ConfigError: an invalid config; RunFolderError: as `prepare_run`, or the folder's writer lock is
        held by another command.
    """
    run = prepare_run(config, out, resume=resume)
    with run.writing():
        run = prepare_run(config, out, resume=True)  # again under the lock: another writer may have finished
        _train_groups(run, config, progress, on_group)
    return run


def _train_groups(
    run: RunFolder,
    config: SweepConfig,
    progress: SweepProgress | None,
    on_group: Callable[[str, Population], None] | None,
) -> None:
    task = config.build_task()
    jobs = ((g, config.build_model(task, a, h), group_key(config.seed, g)) for g, a, h in config.groups())
    train_groups(run, task, jobs, n_networks=config.n_networks, steps=config.steps, train=config.train,
                 progress=progress, on_group=on_group)


def train_groups(
    run: RunFolder,
    task: Task,
    jobs: Iterable[tuple[str, Model, jax.Array]],
    *,
    n_networks: int,
    steps: int,
    train: TrainOptions,
    progress: SweepProgress | None = None,
    on_group: Callable[[str, Population], None] | None = None,
) -> None:
    """Train each `(group, model, key)` of `jobs` into `run`, whose writer lock the caller holds.

    A finished, undamaged group is skipped, a damaged one retrained, an unfinished one continued from its
    checkpoint. The sweep and the ablation (`pipeline.ablation`) both train through this.

    Args:
        run: the run folder.
        task: the `Task` every group trains on.
        jobs: `(group name, model, PRNG key)` per group.
        n_networks: networks per group.
        steps: optimizer steps.
        train: the `TrainOptions`.
        progress: called as `progress(group, steps_done, losses [n])` after every chunk of
            steps of a group, or None.
        on_group: called as `on_group(group, population)` after each group is trained and
            saved, or None.

    Raises:
        RunFolderError: a checkpoint or the group's files cannot be written; ConfigError: as
        `train_population`.
    """
    finished = set(run.groups()) & {p.stem for p in run.shards(NetworkRows)}
    for group, model, key in jobs:
        if group in finished and group_damage(run, group) is None:
            continue
        ckpt = run.path / "checkpoints" / group
        # A checkpoint that cannot be written is a RunFolderError from train.checkpoint itself.
        pop = train_population(
            task,
            model,
            n_networks,
            steps,
            key,
            checkpoint_dir=ckpt,
            progress=(lambda step, losses, g=group: progress(g, step, losses)) if progress else None,
            **train.to_dict(),
        )
        save_population(run, group, pop)
        shutil.rmtree(ckpt, ignore_errors=True)
        run.publish()  # a run at a URL: the finished group is uploaded now, not only at the end
        if on_group is not None:
            on_group(group, pop)
    with contextlib.suppress(OSError):  # only if empty: no group left unfinished
        (run.path / "checkpoints").rmdir()
