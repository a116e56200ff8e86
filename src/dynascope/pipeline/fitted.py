"""Networks fitted to a recording in a run folder (groups trained on the `recording` task), scored on what they
did not see — co-smoothing bits per spike of the held-out neurons on the held-out trials, and, where the
recording carries its ground truth, rate R², latent R² and the stable points against the true skeleton (the
Computation-through-Dynamics Benchmark's metrics; `data.score_networks`) — and written to the catalog as the
table `fit_scores`, one shard per group.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import jax
import numpy as np

from dynascope.data.fit import score_networks
from dynascope.data.recording_task import RecordingTask
from dynascope.errors import ConfigError
from dynascope.pipeline.populations import load_group
from dynascope.store import FitScoreRows, NetworkRows, RunFolder

#: progress(group, done, total): called before and after each group.
FitProgress = Callable[[str, int, int], None]


def fitted_groups(run: RunFolder) -> list[str]:
    """The groups of `run` trained on the `recording` task, in catalog order."""
    nets = run.read(NetworkRows, order_by=("network",))
    return list(dict.fromkeys(g for g, t in zip(nets.group, nets.task) if t == RecordingTask.name))


def score_fitted(
    run: RunFolder,
    *,
    key: jax.Array,
    count_stable_points: bool = True,
    progress: FitProgress | None = None,
) -> FitScoreRows:
    """Score every network of every fitted group of `run` against the recording it was fitted to, and write the
    rows (one shard per group, each written atomically: an interrupted call keeps the groups already done).

    Args:
        run: the run folder.
        key: JAX PRNG key (keyword-only) for the fixed-point searches' initial states (folded with each
            group's position).
        count_stable_points: False skips the fixed-point search (n_stable, skeleton_match left empty).
        progress: called as `progress(group, done, total)` before and after each group, or None.

    Returns:
        `FitScoreRows` of every fitted network.

    Raises:
        ConfigError: no group of the run was trained on the `recording` task; DataError: a recording that
        changed since the fit or cannot be read.
    """
    groups = fitted_groups(run)
    if not groups:
        raise ConfigError(f"{run.location} has no network fitted to a recording (trained on task 'recording'); "
                          "score task-trained networks against a recording with --recordings rec.nwb.")
    nets = run.read(NetworkRows, order_by=("network",))
    parts = []
    for position, group in enumerate(groups):
        if progress is not None:
            progress(group, 0, 1)
        g = load_group(run, group)
        rows = [i for i, x in enumerate(nets.group) if x == group]
        by_index = {nets.index[i]: i for i in rows}
        order = [by_index[k] for k in range(len(g.networks))]
        scores = score_networks(g.task, g.model, g.params, g.task.read_recording(),  # type: ignore[attr-defined]
                                key=jax.random.fold_in(key, position),
                                diverged=np.array([nets.diverged[i] for i in order]),
                                train_metric=np.array([nets.metric[i] for i in order], np.float64),
                                count_stable_points=count_stable_points)
        n = len(order)
        part = FitScoreRows(
            network=list(g.networks), group=[group] * n, arch=[nets.arch[i] for i in order],
            co_bps=_floats(scores.co_bps), co_bps_true=[_float(scores.co_bps_true)] * n,
            rate_r2=_floats(scores.rate_r2), latent_r2=_floats(scores.latent_r2),
            n_stable=[int(k) if k >= 0 else None for k in scores.n_stable],
            n_stable_true=[scores.n_stable_true] * n,
            skeleton_match=[bool(m) if scores.n_stable_true is not None and k >= 0 else None
                            for m, k in zip(scores.skeleton_match, scores.n_stable)],
            train_metric=_floats(scores.train_metric),
            index_counts=[_json(c) if k >= 0 else None for c, k in zip(scores.index_counts, scores.n_stable)],
            index_counts_true=[None if scores.index_counts_true is None else _json(scores.index_counts_true)] * n,
            skeleton_distance=_floats(scores.skeleton_distance))
        run.write(group, part)
        parts.append(part)
        if progress is not None:
            progress(group, 1, 1)
    return FitScoreRows.concat(parts)


def _json(counts: dict[int, int]) -> str:
    # the format of the skeletons table's index_counts
    return json.dumps({str(i): c for i, c in sorted(counts.items())})


def _float(x: float | None) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _floats(values: np.ndarray) -> list[float | None]:
    return [_float(v) for v in np.asarray(values, np.float64)]
