"""The size-equivalence factor of an ablation: how many times more neurons the arm without a mechanism needs to
perform as well as the arm with it.

Each arm's mean score against log(size) is made non-decreasing (isotonic least squares: performance that falls
with size is noise for this question) and read by linear interpolation in log(size), which is monotone
between the sizes tried. For a performance level L, s_X(L) is the smallest size at which arm X's curve reaches
L; the factor at L is s_without(L) / s_with(L). The levels are the with-arm's fitted scores at its sizes.
When the without-arm never reaches L within the sizes tried the factor is only bounded: "> s_max / s_with(L)";
when it is above L already at its smallest size, "< s_min / s_with(L)" (the mechanism hurts there).

The headline factor is the geometric mean of the factors at the levels the without-arm reaches (not only the
highest: where both arms saturate at the largest size the factor there is 1 whatever the mechanism does);
when it reaches none, the strongest bound. Its confidence interval is a paired bootstrap over seeds (the arms share seeds, so a
replicate draws the same seeds for both); a replicate whose curves do not cross contributes its bound, so
an interval next to a bound is itself a bound on that side.

Reference: Perez-Nieves, Leung, Dragotti & Goodman 2021, "Neural heterogeneity promotes robust learning",
Nat. Commun. (the "equivalent to N times more neurons" comparison); Efron & Tibshirani 1993, "An
Introduction to the Bootstrap" (percentile intervals).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from dynascope.errors import ShapeError

__all__ = ["SizeEquivalence", "bootstrap_mean", "isotonic", "size_equivalence"]

#: How the factor relates to the number given: equal, greater than, less than.
RELATIONS = ("=", ">", "<")


@dataclasses.dataclass(frozen=True)
class SizeEquivalence:
    """The size-equivalence factor of an ablation.

    factor: the headline factor, or the bound when `relation` is '>' or '<'. ci_low, ci_high: its percentile
    bootstrap interval. levels `[L]`: performance levels (the with-arm's fitted scores, distinct);
    with_sizes `[L]`: the with-arm's size at each level; per_level `[L]` and per_level_relation: the factor
    (or bound) at each level.
    """

    factor: float
    relation: str
    ci_low: float
    ci_high: float
    levels: np.ndarray
    with_sizes: np.ndarray
    per_level: np.ndarray
    per_level_relation: tuple[str, ...]

    def __str__(self) -> str:
        if self.relation != "=":
            return f"{self.relation} {self.factor:.3g}"
        return f"{self.factor:.3g} [{self.ci_low:.3g}, {self.ci_high:.3g}]"


def isotonic(values: np.ndarray) -> np.ndarray:
    """The non-decreasing sequence closest to `values [K]` in least squares (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [sum, count]
    for v in np.asarray(values, np.float64):
        blocks.append([float(v), 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, n = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += n
    return np.concatenate([np.full(int(n), s / n) for s, n in blocks])


def _reach(log_sizes: np.ndarray, fit: np.ndarray, level: float) -> tuple[float, str]:
    """(log size, relation) at which the non-decreasing curve `fit` over `log_sizes` first reaches `level`:
    '=' within the sizes, '<' when above it already at the first size, '>' when it never reaches it."""
    if fit[0] > level:
        return float(log_sizes[0]), "<"
    if fit[0] == level:
        return float(log_sizes[0]), "="
    above = np.flatnonzero(fit >= level)
    if above.size == 0:
        return float(log_sizes[-1]), ">"
    j = int(above[0])
    frac = (level - fit[j - 1]) / (fit[j] - fit[j - 1])
    return float(log_sizes[j - 1] + frac * (log_sizes[j] - log_sizes[j - 1])), "="


def _factors(log_sizes: np.ndarray, mean_with: np.ndarray, mean_without: np.ndarray):
    """Levels, the with-arm's log sizes, log factors and relations at each level (see the module)."""
    fit_with, fit_without = isotonic(mean_with), isotonic(mean_without)
    levels = np.unique(fit_with)
    log_with = np.array([_reach(log_sizes, fit_with, lv)[0] for lv in levels])
    reached = [_reach(log_sizes, fit_without, lv) for lv in levels]
    log_factor = np.array([r[0] for r in reached]) - log_with
    return levels, log_with, log_factor, tuple(r[1] for r in reached)


def _headline(log_factor: np.ndarray, relations: tuple[str, ...]) -> tuple[float, str]:
    """(log factor, relation): the geometric mean over the levels matched, else the strongest bound."""
    matched = [i for i, r in enumerate(relations) if r == "="]
    if matched:
        return float(np.mean(log_factor[matched])), "="
    if ">" in relations:
        return float(max(f for f, r in zip(log_factor, relations) if r == ">")), ">"
    return float(min(log_factor)), "<"


def _check(name: str, scores: np.ndarray, n_sizes: int) -> np.ndarray:
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 2 or scores.shape[0] != n_sizes:
        raise ShapeError(f"{name} must be [sizes, seeds] with {n_sizes} sizes, got shape {scores.shape}; "
                         "give one row of per-seed scores per size.")
    if np.isnan(scores).all(axis=1).any():
        raise ShapeError(f"{name} has a size with no finite score; every size needs at least one scored network.")
    return scores


def size_equivalence(
    sizes: np.ndarray,
    scores_with: np.ndarray,
    scores_without: np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> SizeEquivalence:
    """The size-equivalence factor (see the module) of an ablation and its paired bootstrap interval.

    Args:
        sizes: `[K]` network sizes, increasing.
        scores_with, scores_without: `[K, N]` each network's score (higher is better) at each size, seed j of
            one arm matched with seed j of the other; NaN where a network has none.
        n_boot: bootstrap replicates. level: coverage of the interval. seed: PRNG seed of the resampling.
    """
    sizes = np.asarray(sizes, np.float64)
    if sizes.ndim != 1 or sizes.size < 2 or not np.all(np.diff(sizes) > 0) or sizes[0] <= 0:
        raise ShapeError(f"sizes must be at least two increasing positive sizes, got {sizes.tolist()}.")
    a = _check("scores_with", scores_with, sizes.size)
    b = _check("scores_without", scores_without, sizes.size)
    if a.shape != b.shape:
        raise ShapeError(f"scores_with {a.shape} and scores_without {b.shape} must have the same shape: the "
                         "arms are matched seed by seed.")
    if not 0 < level < 1:
        raise ShapeError(f"level must lie in (0, 1), got {level}.")
    x = np.log(sizes)
    mean_a, mean_b = np.nanmean(a, axis=1), np.nanmean(b, axis=1)
    levels, log_with, log_factor, relations = _factors(x, mean_a, mean_b)
    head, relation = _headline(log_factor, relations)
    rng = np.random.default_rng(seed)
    n = a.shape[1]
    boot = np.empty(n_boot)
    for r in range(n_boot):
        idx = rng.integers(0, n, n)
        ma, mb = _nanmean_rows(a[:, idx], mean_a), _nanmean_rows(b[:, idx], mean_b)
        boot[r] = _headline(*_factors(x, ma, mb)[2:])[0]
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(boot, [tail, 100 - tail])
    return SizeEquivalence(
        factor=math.exp(head),
        relation=relation,
        ci_low=math.exp(lo),
        ci_high=math.exp(hi),
        levels=levels,
        with_sizes=np.exp(log_with),
        per_level=np.exp(log_factor),
        per_level_relation=relations,
    )


def _nanmean_rows(scores: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Mean of each row of `scores [K, N]` over its finite entries; a row that a resample filled with NaNs
    only (it missed every scored network of that size) keeps the row's mean over all seeds, `fallback [K]`."""
    finite = np.isfinite(scores)
    count = finite.sum(axis=1)
    total = np.where(finite, scores, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), fallback)


def bootstrap_mean(values: np.ndarray, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean of the finite `values [N]` and its percentile bootstrap interval; NaNs
    when none is finite."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, (n_boot, v.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(v.mean()), float(lo), float(hi)
