"""The size-equivalence factor on constructed performance curves whose answer is known by construction, its
isotonic fit against scikit-learn and its bootstrap interval against SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.isotonic import IsotonicRegression

from dynascope.compare.size_equivalence import bootstrap_mean, isotonic, size_equivalence
from dynascope.errors import ShapeError

SIZES = np.array([4, 8, 16, 32, 64, 128], float)


def curve(sizes: np.ndarray) -> np.ndarray:
    """A saturating score, increasing in log size (any increasing function would do)."""
    return 1 - 0.9 * np.exp(-np.log2(sizes) / 3)


def seeds(mean: np.ndarray, n: int = 8, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """[sizes, n] scores around `mean`."""
    return mean[:, None] + noise * np.random.default_rng(seed).standard_normal((mean.size, n))


def test_isotonic_fit_equals_scikit_learn():
    y = np.random.default_rng(1).standard_normal(12).cumsum() * 0.3 + np.arange(12) * 0.1
    expected = IsotonicRegression().fit_transform(np.arange(12), y)
    np.testing.assert_allclose(isotonic(y), expected, atol=1e-12)


def test_an_arm_shifted_by_exactly_two_in_size_needs_twice_the_neurons():
    res = size_equivalence(SIZES, seeds(curve(SIZES)), seeds(curve(SIZES / 2)))
    assert res.relation == "=" and res.factor == pytest.approx(2.0, rel=1e-12)
    assert res.ci_low == pytest.approx(2.0) and res.ci_high == pytest.approx(2.0)  # no seed-to-seed spread
    # every level the arm without reaches within the sizes tried is matched at twice the size; the level of
    # the largest size would need 256 neurons: only a bound, "> 128 / 128"
    assert res.per_level_relation == ("=",) * 5 + (">",)
    np.testing.assert_allclose(res.per_level[:5], 2.0, rtol=1e-12)
    assert res.per_level[-1] == pytest.approx(1.0) and res.with_sizes[-1] == pytest.approx(128)


def test_a_shift_between_the_sizes_tried_is_interpolated_in_log_size():
    linear = lambda s: 0.1 + 0.1 * np.log(s)  # noqa: E731  (linear in log size: interpolation is exact)
    res = size_equivalence(SIZES, seeds(linear(SIZES)), seeds(linear(SIZES / 2.7)))
    assert res.relation == "=" and res.factor == pytest.approx(2.7, rel=1e-9)
    np.testing.assert_allclose(res.per_level[res.with_sizes * 2.7 <= 128], 2.7, rtol=1e-9)


def test_identical_arms_give_a_factor_of_one_within_the_interval():
    scores = seeds(curve(SIZES), noise=0.05, seed=3)
    res = size_equivalence(SIZES, scores, scores.copy())
    assert res.relation == "=" and res.factor == 1.0 and res.ci_low <= 1.0 <= res.ci_high
    assert str(res) == "1 [1, 1]"


def test_curves_that_do_not_cross_give_a_bound():
    never = size_equivalence(SIZES, seeds(curve(SIZES)), seeds(curve(SIZES) - 0.5))
    assert never.relation == ">" and never.factor == pytest.approx(128 / 4)  # even the smallest arm's score
    assert str(never) == "> 32"
    better = size_equivalence(SIZES, seeds(curve(SIZES)), seeds(curve(SIZES) + 0.5))
    assert better.relation == "<" and better.factor == pytest.approx(4 / 128)  # the mechanism hurts


def test_a_noisy_shift_is_recovered_within_its_interval():
    with_ = seeds(curve(SIZES), n=20, noise=0.02, seed=5)
    without = seeds(curve(SIZES / 4), n=20, noise=0.02, seed=6)
    res = size_equivalence(SIZES, with_, without, n_boot=500)
    assert res.relation == "=" and res.ci_low <= 4.0 <= res.ci_high and res.ci_high / res.ci_low < 3


def test_bad_input_is_refused_naming_the_argument():
    good = seeds(curve(SIZES))
    with pytest.raises(ShapeError, match=r"sizes must be at least two increasing positive sizes, got \[8.0, 4.0\]"):
        size_equivalence(np.array([8, 4]), good[:2], good[:2])
    with pytest.raises(ShapeError, match=r"scores_without must be \[sizes, seeds\] with 6 sizes, got shape \(5, 8\)"):
        size_equivalence(SIZES, good, good[:5])
    empty = good.copy()
    empty[2] = np.nan
    with pytest.raises(ShapeError, match="scores_with has a size with no finite score"):
        size_equivalence(SIZES, empty, good)


def test_bootstrap_interval_of_a_mean_agrees_with_scipy():
    x = np.random.default_rng(7).gamma(2.0, 1.0, 40)
    mean, low, high = bootstrap_mean(np.append(x, np.nan), n_boot=4000, seed=1)  # the NaN is left out
    ref = stats.bootstrap((x,), np.mean, n_resamples=4000, method="percentile", random_state=2).confidence_interval
    assert mean == pytest.approx(x.mean())
    assert low == pytest.approx(ref.low, abs=0.05) and high == pytest.approx(ref.high, abs=0.05)
    assert all(np.isnan(bootstrap_mean(np.array([np.nan]))))
