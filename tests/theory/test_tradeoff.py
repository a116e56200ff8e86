"""The initial-scale trade-off (Advani, Saxe & Sompolinsky 2020): trained maps against the min-norm solutions
NumPy computes from the same data, the frozen part of the initial map against its expectation, and the
trade-off itself (larger initial weights: faster, worse test error)."""

from __future__ import annotations

import numpy as np
import pytest

from dynascope.errors import DynascopeError
from dynascope.theory import init_scale_scan


def min_norm_from(x: np.ndarray, y: np.ndarray, w0: np.ndarray) -> np.ndarray:
    """The interpolating solution closest to w0: w0 + X⁺(y − X w0), by NumPy's pseudo-inverse."""
    return w0 + np.linalg.pinv(x) @ (y - x @ w0)


def test_the_shallow_student_keeps_its_initial_map_outside_the_data(key):
    scan = init_scale_scan(24, 12, [0.3, 1.0], depth=1, noise_variance=0.1, learning_rate=0.1, steps=1000,
                           key=key, n_data=3, n_networks=2)
    assert scan.maps.shape == scan.initial_maps.shape == (2, 3, 2, 24) and not scan.diverged.any()
    for a in range(2):
        for d in range(3):
            for k in range(2):
                expected = min_norm_from(scan.inputs[d], scan.labels[d], scan.initial_maps[a, d, k])
                np.testing.assert_allclose(scan.maps[a, d, k], expected, atol=2e-3)
    # test error = ‖w − w*‖² + σ², recomputed here; the theory column is min_norm_test_error with σ0² = a0²
    np.testing.assert_allclose(scan.test_error, np.sum((scan.maps - scan.teachers[None, :, None]) ** 2, -1) + 0.1,
                               rtol=1e-9)
    np.testing.assert_allclose(scan.theory, [0.1 + (1 + a**2) * 0.5 + 0.1 * 12 / 11 for a in (0.3, 1.0)], rtol=1e-12)
    assert np.all(np.isfinite(scan.time_to_learn))


def test_larger_initial_weights_learn_faster_and_generalize_worse(key):
    scales = np.array([0.01, 0.3, 1.0])
    scan = init_scale_scan(24, 12, scales, depth=2, noise_variance=0.1, learning_rate=0.05, steps=1200, key=key,
                           n_data=6, n_networks=2)
    assert not scan.diverged.any() and np.all(scan.train_error < 1e-4)  # every student interpolates
    times = np.exp(np.mean(np.log(scan.time_to_learn), axis=(1, 2)))
    tests = scan.test_error.mean(axis=(1, 2))
    assert np.all(np.diff(times) < 0) and np.all(np.diff(tests) > 0)
    # From tiny weights the deep student is the min-norm student from zero (NumPy's pinv on the same data):
    # the frozen part left in the final map is W_2(final) × W_1's frozen part, of order a0 = 0.01.
    for d in range(6):
        np.testing.assert_allclose(scan.maps[0, d], np.broadcast_to(min_norm_from(scan.inputs[d], scan.labels[d],
                                                                                  np.zeros(24)), (2, 24)), atol=0.02)
    # The initial map's frozen part has mean a0^4 (1 − P/N) (a0^{2·depth}, fan-in scaled layers); 12 draws
    # at N = 24 leave ≈ 15 % Monte Carlo error, so 40 % fails only for a wrong power of a0.
    np.testing.assert_allclose(scan.frozen.mean(axis=(1, 2))[1:], scales[1:] ** 4 * 0.5, rtol=0.4)
    np.testing.assert_allclose(scan.theory, 0.1 + (1 + scales**4) * 0.5 + 0.1 * 12 / 11, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"init_scales": [0.1, -1.0]}, r"init_scales must .*-1\.0"),
        ({"fraction": 1.5}, r"fraction must lie in \(0, 1\), got fraction=1\.5"),
        ({"depth": 0}, r"depth must .*got 0"),
        ({"n_data": 0}, r"n_data must .*got 0"),
    ],
)
def test_bad_arguments_are_refused(key, kwargs, pattern):
    args = dict(n_inputs=4, n_examples=2, init_scales=[0.1], noise_variance=0.1, learning_rate=0.1, steps=4,
                key=key) | kwargs
    with pytest.raises(DynascopeError, match=pattern):
        init_scale_scan(**args)
