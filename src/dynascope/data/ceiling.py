"""The noise ceiling of a recording: how well its own condition averages predict themselves across trials.

Trials of each condition are split at random into two halves; the Pearson correlation between the two halves'
condition-averaged responses (over conditions x bins) is the split-half reliability, and the Spearman-Brown
correction turns it into the reliability of averages over all the trials. No model of the recording can be
expected to correlate with its condition averages better than this.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.errors import ConfigError, DataError, ShapeError, check_positive_int


@dataclasses.dataclass(frozen=True)
class NoiseCeiling:
    """Split-half reliability of a recording, Spearman-Brown corrected.

    `per_neuron [N]` and `pooled`: the corrected reliability at the mean split-half correlation (NaN for a
    neuron whose half averages do not vary); `per_neuron_interval [N, 2]` and `pooled_interval (low, high)`:
    the central `confidence` range of the corrected values over the `n_splits` random splits;
    `split_half_per_neuron [N]`, `split_half_pooled`: the uncorrected means; `conditions` the conditions used
    (those with at least two trials) and `trials_per_half [C]`.
    """

    per_neuron: np.ndarray
    pooled: float
    per_neuron_interval: np.ndarray
    pooled_interval: tuple[float, float]
    split_half_per_neuron: np.ndarray
    split_half_pooled: float
    conditions: tuple[Any, ...]
    trials_per_half: np.ndarray
    n_splits: int
    confidence: float


def spearman_brown(r: Any, factor: float = 2.0) -> Any:
    """The reliability of an average over `factor` times as many trials, from reliability `r`.

    factor·r / (1 + (factor − 1)·r).

    Args:
        r: reliability (a correlation), a number or an array.
        factor: how many times as many trials the average takes (2: from a split half to the whole).

    Returns:
        The corrected reliability, the type and shape of `r`.

    Reference: Spearman 1910; Brown 1910 (Br J Psychol).
    """
    return factor * r / (1.0 + (factor - 1.0) * r)


def split_half_ceiling(
    responses: Any,
    labels: Any,
    *,
    key: jax.Array,
    n_splits: int = 100,
    confidence: float = 0.95,
) -> NoiseCeiling:
    """The Spearman-Brown-corrected split-half reliability of responses averaged per condition.

    For each of `n_splits` splits drawn from `key`, the trials of every condition are shuffled and split into
    two halves of floor(n_c / 2) (an odd trial out is left out); each half is averaged per condition, and the
    halves are correlated over conditions x bins, for each neuron and pooled (each neuron centred on its own
    mean, so differences between baselines do not count as signal). Conditions with a single trial are left
    out. The interval is the spread over random splits, not over resampled trials.

    Args:
        responses: spike counts or rates per bin `[trials, T, N]`.
        labels: the condition of each trial `[trials]`.
        key: JAX PRNG key (keyword-only) for the random splits.
        n_splits: how many random splits (≥ 1).
        confidence: the central fraction of the splits the intervals span, a float in (0, 1).

    Returns:
        `NoiseCeiling` (per-neuron `[N]` and pooled values, their intervals, the raw split-half
        correlations, the conditions used and trials per half).

    Raises:
        ShapeError: `responses` not a non-empty `[trials, T, N]` or `labels` not one per trial;
        DataError: non-finite or non-numeric responses, or no condition with two trials;
        ConfigError: `n_splits` or `confidence` out of range.

    Reference: Spearman 1910; Brown 1910.
    """
    x = np.asarray(responses)
    if x.ndim != 3 or 0 in x.shape:
        raise ShapeError(f"responses must be a non-empty array [trials, time, neurons], got shape {x.shape}; "
                         "add a neurons axis with x[..., None] if there is one neuron.")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
        raise DataError(f"responses must be finite numbers (counts or rates), got dtype {x.dtype} with "
                        f"{int((~np.isfinite(x)).sum()) if np.issubdtype(x.dtype, np.number) else 'non-numeric'} "
                        "non-finite values; drop or fill those trials first.")
    lab = np.asarray(labels)
    if lab.shape != (x.shape[0],):
        raise ShapeError(f"labels must hold one condition per trial, shape [{x.shape[0]}], got {lab.shape}.")
    n_splits = check_positive_int("n_splits", n_splits)
    if not (isinstance(confidence, float) and 0 < confidence < 1):
        raise ConfigError(f"confidence must be a number in (0, 1), got {confidence!r}; e.g. 0.95.")
    names, index, counts = np.unique(lab, return_inverse=True, return_counts=True)
    keep = counts >= 2
    if not keep.any() or keep.sum() * x.shape[1] < 2:
        raise DataError(f"labels: no condition has two trials to split ({len(names)} conditions of "
                        f"{counts.min()}-{counts.max()} trials); the noise ceiling needs repeated trials of the "
                        "same condition.")
    rows = keep[index]
    remap = np.cumsum(keep) - 1
    half = counts[keep] // 2
    r_neuron, r_pooled = _splits(jnp.asarray(x[rows], jnp.float32), jnp.asarray(remap[index[rows]], jnp.int32),
                                 jnp.asarray(half, jnp.int32), jax.random.split(key, n_splits))
    r_neuron, r_pooled = np.asarray(r_neuron, np.float64), np.asarray(r_pooled, np.float64)
    tails = 100 * np.array([(1 - confidence) / 2, (1 + confidence) / 2])
    with np.errstate(invalid="ignore"):
        per_neuron_interval = np.percentile(spearman_brown(r_neuron), tails, axis=0).T
    mean_neuron = r_neuron.mean(axis=0)
    mean_pooled = float(r_pooled.mean())
    low, high = np.percentile(spearman_brown(r_pooled), tails)
    return NoiseCeiling(
        per_neuron=spearman_brown(mean_neuron), pooled=float(spearman_brown(mean_pooled)),
        per_neuron_interval=per_neuron_interval, pooled_interval=(float(low), float(high)),
        split_half_per_neuron=mean_neuron, split_half_pooled=mean_pooled,
        conditions=tuple(v.item() if isinstance(v, np.generic) else v for v in names[keep]),
        trials_per_half=half, n_splits=n_splits, confidence=confidence)


@jax.jit
def _splits(x: jax.Array, cond: jax.Array, half: jax.Array, keys: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Split-half correlations `[splits, N]` per neuron and `[splits]` pooled, one random split per key."""
    n_cond = half.shape[0]

    def one(key: jax.Array) -> tuple[jax.Array, jax.Array]:
        # A random rank of each trial within its condition: sort by (condition, random draw).
        order = jnp.lexsort((jax.random.uniform(key, cond.shape), cond))
        first = jnp.searchsorted(cond[order], jnp.arange(n_cond))  # where each condition starts in `order`
        rank = jnp.zeros_like(cond).at[order].set(jnp.arange(cond.shape[0]) - first[cond[order]])
        h = half[cond]
        size = h.astype(x.dtype)
        weight_a = (rank < h).astype(x.dtype) / size
        weight_b = ((rank >= h) & (rank < 2 * h)).astype(x.dtype) / size
        a = jax.ops.segment_sum(x * weight_a[:, None, None], cond, n_cond)  # [C, T, N]
        b = jax.ops.segment_sum(x * weight_b[:, None, None], cond, n_cond)
        a = a.reshape(-1, a.shape[-1])
        b = b.reshape(-1, b.shape[-1])
        a = a - a.mean(axis=0)
        b = b - b.mean(axis=0)
        saa, sbb, sab = (a * a).sum(0), (b * b).sum(0), (a * b).sum(0)
        per_neuron = sab / jnp.sqrt(saa * sbb)
        pooled = sab.sum() / jnp.sqrt(saa.sum() * sbb.sum())
        return per_neuron, pooled

    return jax.lax.map(one, keys)
