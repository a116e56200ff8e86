"""Replay vs online learning from daily batches, against closed forms: the Kaczmarz projection, the
least-squares (min-norm) solution from numpy.linalg.lstsq, exact recovery without noise beyond N examples."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope.errors import DynascopeError
from dynascope.theory import replay


def test_one_online_step_is_the_projection_onto_the_example():
    rng = np.random.default_rng(0)
    w, x, y = rng.normal(size=5), rng.normal(size=5), 0.7
    # The closest point to w with v·x = y: w plus the min-norm solution of x·δ = y − x·w (NumPy's lstsq).
    expected = w + np.linalg.lstsq(x[None], np.array([y - x @ w]), rcond=None)[0]
    got = replay.kaczmarz_step(jnp.asarray(w, jnp.float32), jnp.asarray(x, jnp.float32), jnp.float32(y))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)
    assert float(np.asarray(got) @ x) == pytest.approx(y, rel=1e-5)


def test_full_replay_without_noise_reaches_the_min_norm_solution(key):
    kwargs = dict(examples_per_day=5, n_days=2, noise_variance=0.0, key=key, n_networks=2)
    run = replay.simulate(20, passes=60, **kwargs)
    assert run.inputs.shape == (2, 10, 20) and run.test_error.shape == (2, 3)
    for i in range(2):
        w = np.linalg.lstsq(run.inputs[i], run.targets[i], rcond=None)[0]  # min-norm: 10 equations, 20 unknowns
        np.testing.assert_allclose(run.weights[i], w, atol=1e-4)
        # exact test error of w over fresh inputs: ‖w − w*‖² (no label noise)
        assert run.test_error[i, -1] == pytest.approx(np.sum((w - run.teacher[i]) ** 2), rel=1e-4)
    # Online learning (same streams) sees each example once: it is not at the min-norm solution, and worse.
    online = replay.simulate(20, replay=False, **kwargs)
    np.testing.assert_array_equal(online.inputs, run.inputs)
    assert np.all(online.test_error[:, -1] > run.test_error[:, -1])


def test_replay_map_helps_without_noise_and_overtrains_at_the_threshold(key):
    # N = 16, 4 days: 4 a day reaches N examples in all (the interpolation threshold), 16 a day 4N.
    m = replay.replay_map(16, examples_per_day=[4, 16], noise_variances=[0.0, 1.0], passes=[1, 16], n_days=4,
                          key=key, n_networks=4)
    assert m.online.shape == (2, 2, 4) and m.replay.shape == (2, 2, 2, 4)
    # No noise and 4N examples: the min-norm solution is the teacher, so many passes recover it (error 0),
    # which one online pass does not. (At exactly N examples the square system converges slowly.)
    assert np.all(m.replay[1, 0, -1] < 1e-6) and np.all(np.median(m.online[:, 0], axis=-1) > 1e-3)
    assert m.verdict[0, 0] == "helps" and m.verdict[1, 0] == "helps"
    # Noise at the threshold: interpolating all N noisy examples (16 passes) is far worse than 1 pass.
    assert m.verdict[0, 1] == "overtrains"
    assert np.median(m.replay[0, 1, -1]) > 1.5 * np.median(m.replay[0, 1, 0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"passes": [4, 2]}, "passes must be increasing"),
        ({"learning_rate": 2.5}, r"learning_rate must lie in \(0, 2\)"),
        ({"noise_variances": [-1.0]}, "noise_variances must be a finite number >= 0"),
        ({"examples_per_day": [0]}, "examples_per_day"),
    ],
)
def test_bad_settings_are_refused(kwargs, match):
    args = dict(examples_per_day=[2], noise_variances=[0.0], passes=[1, 2], n_days=1, key=jax.random.key(0))
    args.update(kwargs)
    with pytest.raises(DynascopeError, match=match):
        replay.replay_map(4, **args)
