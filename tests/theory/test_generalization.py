"""The linear teacher–student (Advani, Saxe & Sompolinsky 2020): Monte Carlo of the min-norm student and of
gradient descent against the analytic errors, and the Marchenko–Pastur integrals against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from dynascope.errors import DynascopeError
from dynascope.theory import generalization as gen


def test_min_norm_test_error_matches_the_analytic_values(key):
    # Analytic values by hand (σ² = 0.25, r² = 1): α < 1: σ² + (1 − α) + σ² α/(1 − α); α > 1: σ² + σ²/(α − 1).
    by_hand = {0.25: 0.25 + 0.75 + 0.25 / 3, 0.5: 0.25 + 0.5 + 0.25, 2.0: 0.25 + 0.25, 4.0: 0.25 + 0.25 / 3}
    alphas = np.array(list(by_hand))
    np.testing.assert_allclose(gen.min_norm_test_error(alphas, 0.25), list(by_hand.values()), rtol=1e-12)
    sweep = gen.min_norm_sweep(200, (200 * alphas).astype(int), noise_variance=0.25, key=key, n_networks=12)
    np.testing.assert_allclose(sweep.alpha, alphas)
    # Tolerance 8 %: the Monte Carlo standard error of the mean over 12 networks at N = 200 is ≈ 2–3 %, and
    # the finite-N correction (P/(N − P − 1) instead of α/(1 − α)) below 1 %.
    np.testing.assert_allclose(sweep.test_error.mean(axis=1), list(by_hand.values()), rtol=0.08)
    # Training error: 0 below the threshold (interpolation), σ²(1 − 1/α) above (exact at any N).
    np.testing.assert_allclose(sweep.train_error.mean(axis=1), [0, 0, 0.125, 0.1875], rtol=0.08, atol=1e-9)
    np.testing.assert_allclose(gen.min_norm_train_error(alphas, 0.25), [0, 0, 0.125, 0.1875])


def test_finite_n_expectation_uses_the_inverse_wishart_mean():
    # N = 100, P = 50: (1 − 0.5) + σ² · 50/49; P = 300: σ² · 100/199 (plus σ² for the noisy label).
    got = gen.min_norm_test_error([0.5, 3.0], 0.25, n_inputs=100)
    np.testing.assert_allclose(got, [0.25 + 0.5 + 0.25 * 50 / 49, 0.25 + 0.25 * 100 / 199], rtol=1e-12)
    assert np.isinf(gen.min_norm_test_error(0.99, 0.25, n_inputs=100))


def test_the_peak_sits_at_the_interpolation_threshold(key):
    sizes = np.array([40, 60, 70, 76, 80, 84, 90, 100, 120])
    noisy = gen.min_norm_sweep(80, sizes, noise_variance=0.25, key=key, n_networks=6)
    assert sizes[np.argmax(np.median(noisy.test_error, axis=1))] == 80
    assert np.isinf(gen.min_norm_test_error(1.0, 0.25))
    # Without label noise there is no peak: the test error falls monotonically with the data.
    clean = gen.min_norm_sweep(80, sizes, noise_variance=0.0, key=key, n_networks=6)
    assert np.all(np.diff(clean.test_error.mean(axis=1)) < 1e-6)
    np.testing.assert_allclose(gen.min_norm_test_error([0.5, 1.0, 2.0], 0.0), [0.5, 0.0, 0.0])


def test_the_peak_height_grows_with_the_noise_as_the_closed_form_says(key):
    # The two sizes flanking the threshold at N = 40: P = 34 and 46. By hand (r² = 1, finite-N inverse-Wishart
    # means): P = 34: σ² + (1 − 34/40) + σ² · 34/5; P = 46: σ² + σ² · 40/5. The noise term is proportional to σ².
    noises = [0.1, 0.4, 1.6]
    by_hand = np.array([[v + 0.15 + v * 6.8, v + 8.0 * v] for v in noises])
    np.testing.assert_allclose([gen.min_norm_test_error([0.85, 1.15], v, n_inputs=40) for v in noises], by_hand,
                               rtol=1e-12)
    # Monte Carlo, the same inputs and teachers for every σ² (one key): the mean errors lie within 20 % of the
    # closed form (at |P − N| = 6 the inverse-Wishart trace is heavy-tailed: 64 networks scatter ±15 % over
    # seeds 0–3), and the peak rises with the noise, as the closed form's.
    means = np.array([gen.min_norm_sweep(40, [34, 46], noise_variance=v, key=key, n_networks=64)
                      .test_error.mean(axis=1) for v in noises])
    np.testing.assert_allclose(means, by_hand, rtol=0.2)
    assert np.all(np.diff(means.max(axis=1)) > 0) and np.all(np.diff(by_hand.max(axis=1)) > 0)
    # ×4 noise, close to ×4 peak: above the threshold the excess over σ² is exactly 8 σ² in the closed form
    np.testing.assert_allclose(np.diff(np.log(means[:, 1] - noises)), np.log(4.0), atol=0.15)


def test_learning_curves_reach_the_min_norm_asymptote_and_start_at_the_prior():
    for alpha in (0.5, 2.0):
        train, test = gen.learning_curves([0.0, 1e6], alpha, 0.3, teacher_variance=1.5, init_variance=0.2)
        assert train[0] == pytest.approx(1.5 + 0.2 + 0.3, rel=1e-10) and test[0] == pytest.approx(2.0, rel=1e-10)
        # frozen subspace: (r² + σ0²)(1 − α) at α < 1, closed forms of the module docstring
        expected = 0.3 + (1.7 * 0.5 + 0.3 * 1.0 if alpha < 1 else 0.3 / (alpha - 1))
        assert test[1] == pytest.approx(expected, rel=1e-8)
        assert train[1] == pytest.approx(0.0 if alpha < 1 else 0.3 * (1 - 1 / alpha), abs=1e-10)


def test_marchenko_pastur_density_has_the_known_moments():
    # ∫ρ = min(1, α) (the rest is the atom at 0) and the full law has mean tr(C)/N = 1 and second moment
    # 1 + 1/α (the MP moments), by SciPy's adaptive quadrature on the density itself.
    for alpha in (0.5, 1.0, 3.0):
        lo, hi = (1 - alpha**-0.5) ** 2, (1 + alpha**-0.5) ** 2
        moments = [integrate.quad(lambda x, k=k: x**k * gen.marchenko_pastur_density(x, alpha), lo, hi,
                                  limit=200)[0] for k in range(3)]
        np.testing.assert_allclose(moments, [min(1.0, alpha), 1.0, 1.0 + 1.0 / alpha], rtol=1e-6)


@pytest.mark.parametrize("n_examples", [50, 200])
def test_gradient_descent_follows_the_marchenko_pastur_theory(key, n_examples):
    run = gen.simulate(100, n_examples, noise_variance=0.25, learning_rate=0.05, steps=1000, key=key,
                       n_networks=16)
    assert run.test_error.shape == run.train_error.shape == (16, run.time.shape[0]) and not run.diverged.any()
    train, test = gen.learning_curves(run.time, run.alpha, 0.25, learning_rate=0.05)
    # Tolerance 6 % (3 % absolute for the training error, which falls to 0 at α < 1): the Monte Carlo error
    # of 16 networks at N = 100 is ≈ 1–2 %, and finite N moves the spectrum's edges by O(N^{−2/3}).
    np.testing.assert_allclose(run.test_error.mean(axis=0), test, rtol=0.06)
    np.testing.assert_allclose(run.train_error.mean(axis=0), train, rtol=0.06, atol=0.03)
    # early stopping helps only with noise and enough data to overfit: the test error has an interior
    # minimum below its final value at α = 0.5 with σ² > 0 (the theory says so, and so does the simulation)
    if n_examples == 50:
        assert test.min() < test[-1] - 0.01 and run.test_error.mean(axis=0).min() < run.test_error.mean(axis=0)[-1]


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda k: gen.min_norm_test_error(-0.5, 0.1), r"alpha must .*alpha=-0\.5"),
        (lambda k: gen.min_norm_test_error(0.5, -0.1), r"noise_variance must .*-0\.1"),
        (lambda k: gen.learning_curves([1.0], 0.5, 0.1, learning_rate=0.0), r"learning_rate must .*0\.0"),
        (lambda k: gen.simulate(0, 5, noise_variance=0.1, learning_rate=0.1, steps=4, key=k), r"n_inputs must .*0"),
        (lambda k: gen.simulate(5, 5, noise_variance=0.1, learning_rate=0.1, steps=4, key=None),
         r"key must be one JAX PRNG key, got None"),
        (lambda k: gen.min_norm_sweep(5, [0], noise_variance=0.1, key=k), r"n_examples must .*0"),
    ],
)
def test_bad_arguments_name_the_argument_and_value(key, call, pattern):
    with pytest.raises(DynascopeError, match=pattern):
        call(key)
