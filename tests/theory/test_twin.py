"""The tanh twin of a deep linear network: the same initial weights, the same data; they agree while the
hidden pre-activations are small (tanh(z) = z − z³/3 + …, tanh'(0) = 1) and part when large targets
saturate the hidden units."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from dynascope.errors import DynascopeError
from dynascope.theory import deeplinear, time_to_learn
from dynascope.theory.twin import split, twin

P = 4
X = np.sqrt(P) * np.eye(P)  # one-hot items scaled so XᵀX/P = I (whitened, as the linear theory assumes)
Y = np.array([[3.0, 0, 0], [3, 3, 0], [0, 0, 3], [0, 3, 3]])


def test_twins_agree_on_the_plateau_and_split_with_large_targets(key):
    a0, eta = 1e-3, 0.01
    run = twin(X, Y, depth=2, n_hidden=6, init_scale=a0, learning_rate=eta, steps=1000, key=key, record_every=20)
    # The linear twin is deeplinear.simulate on Σ_xx = XᵀX/P, Σ_yx = YᵀX/P from the same key.
    lin = deeplinear.simulate(X.T @ X / P, Y.T @ X / P, depth=2, n_hidden=6, init_scale=a0, learning_rate=eta,
                              steps=1000, key=key, record_every=20)
    np.testing.assert_allclose(run.linear_outputs[0], np.einsum("rop,qp->rqo", lin.maps[0], X), atol=1e-5)
    # Before the strongest mode (s_1 from NumPy's SVD) is half learned, the pre-activations are at most ~s_1/2
    # in a few directions; at half that time they are still ~a0^2 e^{s t}, tiny, and the relative difference,
    # of order z², stays below 1e-3.
    s1 = np.linalg.svd(Y.T @ X / P, compute_uv=False)[0]
    early = run.time < 0.5 * float(time_to_learn(s1, a0**2))
    assert early.sum() >= 5 and run.difference[0, early].max() < 1e-3
    # Large targets (outputs up to 3) saturate tanh: the trajectories split by > 10 % during learning, after
    # the plateau, and the tanh twin is still behind when the linear network has converged.
    assert run.split.max_difference[0] > 0.1
    assert run.split.time[0] > run.time[early][-1]
    assert run.linear_loss[0, -1] < 1e-3 < run.tanh_loss[0, -1]
    # Small targets (0.03 of the above) keep every unit in tanh's linear range: no split at 5 %.
    small = twin(X, 0.03 * Y, depth=2, n_hidden=6, init_scale=a0, learning_rate=1.0, steps=1000, key=key,
                 record_every=20)
    assert small.linear_loss[0, -1] < 1e-4 * small.linear_loss[0, 0]
    assert small.split.index[0] == -1 and small.split.max_difference[0] < 0.05


def test_split_finds_the_first_crossing():
    s = split([0.0, 1.0, 2.0, 3.0], [[0.0, 0.01, 0.2, 0.1], [0.0, 0.0, 0.0, 0.0]], threshold=0.05)
    np.testing.assert_array_equal(s.index, [2, -1])
    assert s.time[0] == 2.0 and np.isnan(s.time[1])
    np.testing.assert_allclose(s.max_difference, [0.2, 0.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"depth": 1}, "depth must be an integer >= 2"),
        ({"threshold": -1.0}, "threshold must be a finite number > 0"),
        ({"targets": np.ones((3, 2))}, "must share P > 0 rows"),
    ],
)
def test_bad_settings_are_refused(kwargs, match):
    args = dict(inputs=X, targets=Y, depth=2, n_hidden=3, init_scale=0.1, learning_rate=0.01, steps=2,
                key=jax.random.key(0))
    args.update(kwargs)
    with pytest.raises(DynascopeError, match=match):
        twin(**args)
