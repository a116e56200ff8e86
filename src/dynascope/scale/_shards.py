"""Shards of a sweep: a range of one group's networks, trained on its own and kept in the run folder until
its group is whole.

A shard is written as a small run folder of its own, `<run>/shards/<group>/<start>-<stop>/` (weights and
catalog shards with their checksums, through `dynascope.store`), built under a temp name and renamed into
place: it is either wholly there or absent. When every network of a group is in finished shards, the driver
merges them into the group's ordinary weights and catalog files, so the run folder ends up exactly as a
single-process sweep leaves it, and `analyze`, `compare` and `report` read it unchanged.

Nothing here imports Ray: `scale._ray` runs `train_shard` as Ray tasks, and anything else can call it too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from dynascope import store
from dynascope.errors import RunFolderError
from dynascope.pipeline import SweepConfig, group_damage, group_key, network_id, save_population
from dynascope.store import LossRows, NetworkRows, RunFolder
from dynascope.train import train_population

__all__ = ["SHARDS", "Shard", "commit_folder", "cut_shards", "finished_shards", "group_folder", "merge_group",
           "missing_networks", "record_attempt", "attempts", "shard_path", "train_shard"]

#: The folder of a run that holds shards until their group is whole.
SHARDS = "shards"
_NAME = re.compile(r"^(\d+)-(\d+)$")
_ATTEMPT = re.compile(r"^\.(\d+-\d+)\.attempt-(\d+)$")


@dataclasses.dataclass(frozen=True, order=True)
class Shard:
    """Networks `start` … `stop − 1` of group `group` (network i has seed i, as in a single-process sweep)."""

    group: str
    start: int
    stop: int

    @property
    def name(self) -> str:
        """The shard's folder name, '<start>-<stop>' (stop exclusive), zero-padded so folders sort in order."""
        return f"{self.start:07d}-{self.stop:07d}"

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.start, self.stop))

    def __str__(self) -> str:
        return f"{self.group}[{self.start}:{self.stop}]"


def group_folder(run: Path, group: str, stage: str = "") -> Path:
    """The folder of run `run` that holds `group`'s shards of pipeline `stage`: `shards/<group>` for training
    (stage ""), `shards/<stage>/<group>` for the others ('analyze', 'compare'; a group name always ends in
    '-<n_hidden>', so it never collides with a stage)."""
    return Path(run) / SHARDS / stage / group if stage else Path(run) / SHARDS / group


def shard_path(run: Path, shard: Shard, stage: str = "") -> Path:
    """Where `shard`'s finished folder lies in run folder `run` (`stage` as in `group_folder`)."""
    return group_folder(run, shard.group, stage) / shard.name


def _checkpoint_path(run: Path, shard: Shard) -> Path:
    return Path(run) / SHARDS / shard.group / f".{shard.name}.checkpoint"


def cut_shards(group: str, missing: list[int], shard_size: int) -> list[Shard]:
    """Shards of at most `shard_size` networks covering the missing network indices of a group.

    A shard never spans a gap, so a network that is already in a finished shard is never trained again.

    Args:
        group: the group's name.
        missing: the sorted network indices no finished shard holds.
        shard_size: the most networks per shard.

    Returns:
        The `Shard`s, in index order.
    """
    shards: list[Shard] = []
    run_start = None
    for i, s in enumerate(missing):
        if run_start is None:
            run_start = s
        end_of_run = i + 1 == len(missing) or missing[i + 1] != s + 1
        if end_of_run:
            shards += [Shard(group, a, min(a + shard_size, s + 1)) for a in range(run_start, s + 1, shard_size)]
            run_start = None
    return shards


def finished_shards(run: Path, group: str) -> tuple[list[Shard], list[str]]:
    """The finished training shards of a group that pass their checks, and a note for each damaged one.

    The checks: checksums, schema, shapes, the networks their name promises. A damaged shard is deleted
    so it is trained again. Temp folders of attempts that did not finish are not shards.

    Args:
        run: path of the run folder.
        group: the group's name.

    Returns:
        (intact `Shard`s, notes on the damaged ones).
    """
    folder = Path(run) / SHARDS / group
    good: list[Shard] = []
    notes: list[str] = []
    if not folder.is_dir():
        return good, notes
    for path in sorted(folder.iterdir()):
        m = _NAME.match(path.name)
        if m is None or not path.is_dir():
            continue
        shard = Shard(group, int(m.group(1)), int(m.group(2)))
        why = _shard_damage(path, shard)
        if why is None:
            good.append(shard)
        else:
            notes.append(f"shard {shard} is damaged and is trained again ({why})")
            shutil.rmtree(path, ignore_errors=True)
    return good, notes


def _shard_damage(path: Path, shard: Shard) -> str | None:
    if shard.stop <= shard.start:
        return "an empty range"
    try:
        mini = store.open(path)
        why = group_damage(mini, shard.group)
        if why is None:
            expected = [network_id(shard.group, s) for s in shard.seeds]
            if list(mini.read(NetworkRows).network) != expected:
                why = f"it does not hold the networks {expected[0]} … {expected[-1]}"
    except RunFolderError as err:
        why = str(err)
    return why


def missing_networks(n_networks: int, done: list[Shard]) -> list[int]:
    """The network indices 0 … n_networks − 1 that no shard in `done` holds, sorted."""
    covered = np.zeros(n_networks, bool)
    for s in done:
        covered[s.start:min(s.stop, n_networks)] = True
    return np.flatnonzero(~covered).tolist()


def record_attempt(run: Path, shard: Shard, stage: str = "") -> int:
    """Record that an attempt at `shard` starts and return its number (1 for the first): one empty marker
    file per attempt, created exclusively, so two attempts never get the same number. The driver counts
    them to show which shards run and which were retried."""
    folder = group_folder(run, shard.group, stage)
    folder.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        try:
            os.close(os.open(folder / f".{shard.name}.attempt-{n}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return n
        except FileExistsError:
            n += 1


def attempts(run: Path, group: str, stage: str = "") -> dict[str, int]:
    """{shard name: attempts started} for `group`, from the markers `record_attempt` leaves."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir(group_folder(run, group, stage)):
            m = _ATTEMPT.match(entry.name)
            if m is not None:
                out[m.group(1)] = max(out.get(m.group(1), 0), int(m.group(2)))
    return out


def train_shard(config: SweepConfig, run: Path, shard: Shard, *, progress=None) -> bool:
    """Train the networks of one shard of a sweep and commit them to the run folder.

    Each network gets the keys it gets in a single-process sweep (the group's key folded with its seed),
    whichever shard trains it. Training checkpoints into the shard's own checkpoint folder, so a retried
    attempt continues where a killed one stopped.

    Args:
        config: the `SweepConfig`.
        run: path of the run folder.
        shard: the shard (a group of `config` and a range of its networks).
        progress: as in `train_population`, or None.

    Returns:
        True when this attempt committed the shard; False when another attempt committed it first (this
        one's copy is discarded: a shard is never duplicated).
    """
    run = Path(run)
    final = shard_path(run, shard)
    if final.is_dir():  # committed by an attempt whose worker died before Ray heard back: not trained again
        return False
    arch, n_hidden = next((a, h) for g, a, h in config.groups() if g == shard.group)
    task = config.build_task()
    model = config.build_model(task, arch, n_hidden)
    opts = config.train
    if isinstance(opts.learning_rate, tuple):  # one per network: this shard's slice
        opts = dataclasses.replace(opts, learning_rate=opts.learning_rate[shard.start:shard.stop])
    checkpoint = _checkpoint_path(run, shard)
    pop = train_population(task, model, len(shard.seeds), config.steps, group_key(config.seed, shard.group),
                           seeds=shard.seeds, checkpoint_dir=checkpoint, progress=progress, **opts.to_dict())
    committed = commit_folder(final, lambda tmp: save_population(
        RunFolder.create(tmp, {"shard": {"group": shard.group, "start": shard.start, "stop": shard.stop}}),
        shard.group, pop))
    shutil.rmtree(checkpoint, ignore_errors=True)  # only once the shard is in place: a failed write resumes
    return committed


def commit_folder(final: Path, fill: Callable[[Path], object]) -> bool:
    """Build a shard's folder with `fill(temp folder)` and rename it to `final`, the commit point: the folder
    appears whole or not at all. Returns False (and discards this copy) when another attempt committed
    `final` first, so a shard is never duplicated."""
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    try:
        fill(tmp)
        try:
            os.rename(tmp, final)
            return True
        except OSError:
            if not final.is_dir():
                raise
            return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def merge_group(run: RunFolder, group: str, n_networks: int, shards: list[Shard]) -> None:
    """Write a group's weights and catalog shards into `run` from its finished shards, then delete them.

    Network i comes from the first shard that holds it. Weights are written first (then the parameter
    snapshots, if training kept them) and the network table last, as `save_population` does: that is the
    group's commit point.

    Args:
        run: the run folder, whose writer lock the caller holds.
        group: the group's name.
        n_networks: networks in the group (the shards must hold seeds 0 … n_networks − 1).
        shards: the group's finished shards.

    Raises:
        RunFolderError: the shards do not hold every network, kept different snapshots, or a file cannot
        be read or written.
    """
    params: dict[str, list[np.ndarray]] = {}
    snapshots: dict[str, list[np.ndarray]] = {}  # [m, n_shard, ...] each, when training kept snapshots
    snapshot_steps: list[list[int]] = []
    nets: list[pa.Table] = []
    losses: list[pa.Table] = []
    metadata = None
    for s in sorted(shards):
        mini = store.open(shard_path(run.path, s))
        p, meta = mini.read_weights(group)
        for k, v in p.items():
            params.setdefault(k, []).append(v)
        metadata = metadata or meta
        if group in mini.snapshot_groups():
            steps, snap = mini.read_snapshots(group)
            snapshot_steps.append(steps.tolist())
            for k, v in snap.items():
                snapshots.setdefault(k, []).append(v)
        nets.append(mini.read(NetworkRows).to_arrow())
        losses.append(mini.read(LossRows).to_arrow())
    net_table = pa.concat_tables(nets)
    seeds = np.asarray(net_table.column("seed").to_pylist())
    first = {}
    for position, seed in enumerate(seeds.tolist()):
        first.setdefault(seed, position)
    if sorted(first) != list(range(n_networks)):
        raise RunFolderError(f"the shards of {group!r} do not hold networks 0 … {n_networks - 1}; rerun the "
                             "command with --resume to train the missing ones.")
    take = np.asarray([first[i] for i in range(n_networks)])
    metadata = dict(metadata, seeds=list(range(n_networks)))
    run.write_weights(group, {k: np.concatenate(v)[take] for k, v in params.items()}, metadata)
    if snapshot_steps:  # every shard of one sweep keeps the same steps; a mix means foreign shards
        if len(snapshot_steps) != len(shards) or any(t != snapshot_steps[0] for t in snapshot_steps):
            raise RunFolderError(f"the shards of {group!r} kept different parameter snapshots; delete "
                                 f"{Path(run.path) / SHARDS / group} and rerun the command with --resume.")
        merged = {k: np.concatenate(v, axis=1)[:, take] for k, v in snapshots.items()}
        run.write_snapshots(group, snapshot_steps[0], merged)
    run.write(group, LossRows.from_arrow(pa.concat_tables(losses).take(take)))
    picked = net_table.take(take)
    picked = picked.set_column(picked.schema.get_field_index("index"), "index", pa.array(range(n_networks), pa.int64()))
    run.write(group, NetworkRows.from_arrow(picked))
    shutil.rmtree(Path(run.path) / SHARDS / group, ignore_errors=True)
