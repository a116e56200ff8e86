"""The dynamical skeleton over training: fixed points and skeletons of every network at each parameter snapshot
its training kept (`TrainOptions.snapshot_every`, `dynascope train --snapshot-every`), and when each network's
final structure appeared.

Each snapshot is analysed exactly as `analyze_run` analyses the trained weights (`analyze_group`: the same
trials, initial states and options), so the last snapshot's rows equal the trained network's. Networks that
diverged in training are left out, as there.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from dynascope.errors import ConfigError
from dynascope.pipeline.analyze import AnalysisOptions, SkipNote, analyze_group, diverged_networks
from dynascope.pipeline.populations import load_snapshots
from dynascope.store import RunFolder, SkeletonRows, TrainingSkeletonRows

__all__ = ["Emergence", "OverTrainingProgress", "analyze_over_training", "emergence"]

#: progress(group, snapshots_done, n_snapshots) after every snapshot of a group.
OverTrainingProgress = Callable[[str, int, int], None]


def analyze_over_training(
    run: RunFolder,
    options: AnalysisOptions = AnalysisOptions(),
    *,
    force: bool = False,
    progress: OverTrainingProgress | None = None,
    on_skip: SkipNote | None = None,
) -> list[str]:
    """Fixed points and skeletons of every network of `run` at each of its parameter snapshots.

    The rows go to the `training_skeletons` table, one shard per group (its presence marks the group
    done, so an interrupted analysis resumes by group). Networks diverged in training, or with
    non-finite states at a snapshot, are skipped (see `analyze_group`).

    Args:
        run: the run folder, trained with `snapshot_every`/`--snapshot-every`.
        options: the analysis settings (`AnalysisOptions`), checked before anything is read.
        force: analyse every group again, done or not.
        progress: called as `progress(group, snapshots_done, n_snapshots)` before every snapshot of a
            group and at its end, or None.
        on_skip: called as `on_skip(network, reason)` once for each network left out, or None.

    Returns:
        The names of the groups analysed.

    Raises:
        ConfigError: `options` not an `AnalysisOptions` or invalid, or no group of `run` kept snapshots;
        RunFolderError: as `load_snapshots`.
    """
    if not isinstance(options, AnalysisOptions):
        raise ConfigError(f"options must be an AnalysisOptions, got {type(options).__name__}.")
    options.validate()
    groups = run.snapshot_groups()
    if not groups:
        raise ConfigError(f"{run.location} kept no parameter snapshots during training, so there is nothing to analyse "
                          "over training; train with --snapshot-every N (e.g. 100) into a new folder.")
    done = {p.stem for p in run.shards(TrainingSkeletonRows)}
    todo = [g for g in groups if force or g not in done]
    diverged = diverged_networks(run) if todo else {}
    skipped_once: set[str] = set()

    def skip(net: str, why: str) -> None:
        if on_skip is not None and net not in skipped_once:
            skipped_once.add(net)
            on_skip(net, why)

    for name in todo:
        steps, at = load_snapshots(run, name)
        parts = []
        for j, (step, group) in enumerate(zip(steps, at)):
            if progress is not None:
                progress(name, j, len(steps))
            _, skeletons = analyze_group(group, options, exclude=diverged, on_skip=skip)
            parts.append(_at_step(skeletons, int(step)))
        run.write(name, TrainingSkeletonRows.concat(parts))
        if progress is not None:
            progress(name, len(steps), len(steps))
    return todo


def _at_step(rows: SkeletonRows, step: int) -> TrainingSkeletonRows:
    n = len(rows.network)
    return TrainingSkeletonRows(
        network=list(rows.network), group=list(rows.group), step=[step] * n, input_index=list(rows.input_index),
        n_stable=list(rows.n_stable), n_saddles=list(rows.n_saddles), index_counts=list(rows.index_counts),
        n_slow=list(rows.n_slow), wl_hash=list(rows.wl_hash),
    )


@dataclasses.dataclass(frozen=True)
class Emergence:
    """When each network's final skeleton appeared, per network and analysis input (arrays of one length).

    network, input_index: the row's network id and analysis input. final_stable: stable points at the
    last snapshot. stable_from: the first snapshot step from which the number of stable points stays at
    its final value. skeleton_from: the same for the whole skeleton (its
    Weisfeiler–Lehman hash). first_stable_steps: per row, {number of stable points: the first step at which
    the network had that many}, which tells the order in which its attractors appeared.
    """

    network: np.ndarray
    input_index: np.ndarray
    final_stable: np.ndarray
    stable_from: np.ndarray
    skeleton_from: np.ndarray
    first_stable_steps: tuple[dict[int, int], ...]


def emergence(run: RunFolder) -> Emergence:
    """When each network's final number of stable points, and its final skeleton, appeared during training.

    Args:
        run: the run folder, analysed by `analyze_over_training`.

    Returns:
        `Emergence`, one row per network and analysis input, read from the `training_skeletons` table
        (empty arrays when it has no rows).
    """
    rows = run.read(TrainingSkeletonRows, order_by=("network", "input_index", "step"))
    network, k = np.asarray(rows.network, dtype=object), np.asarray(rows.input_index, np.int64)
    step, stable = np.asarray(rows.step, np.int64), np.asarray(rows.n_stable, np.int64)
    wl = np.asarray(rows.wl_hash, dtype=object)
    out: dict[str, list] = {f: [] for f in ("network", "input_index", "final_stable", "stable_from", "skeleton_from")}
    firsts: list[dict[int, int]] = []
    keys = list(dict.fromkeys(zip(network.tolist(), k.tolist())))
    for net, kk in keys:
        at = np.flatnonzero((network == net) & (k == kk))
        s, n, h = step[at], stable[at], wl[at]
        out["network"].append(net)
        out["input_index"].append(kk)
        out["final_stable"].append(int(n[-1]))
        out["stable_from"].append(_settled_from(s, n == n[-1]))
        out["skeleton_from"].append(_settled_from(s, h == h[-1]))
        first: dict[int, int] = {}
        for t, c in zip(s.tolist(), n.tolist()):
            first.setdefault(int(c), int(t))
        firsts.append(first)
    return Emergence(
        network=np.asarray(out["network"], dtype=object),
        input_index=np.asarray(out["input_index"], np.int64),
        final_stable=np.asarray(out["final_stable"], np.int64),
        stable_from=np.asarray(out["stable_from"], np.int64),
        skeleton_from=np.asarray(out["skeleton_from"], np.int64),
        first_stable_steps=tuple(firsts),
    )


def _settled_from(steps: np.ndarray, final: np.ndarray) -> int:
    """The first step from which `final` holds at every later snapshot (the last snapshot always holds)."""
    not_final = np.flatnonzero(~final)
    return int(steps[0] if not_final.size == 0 else steps[not_final[-1] + 1])
