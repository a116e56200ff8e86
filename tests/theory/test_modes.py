"""The mode equation of Saxe, McClelland & Ganguli 2014 against closed forms derived by hand: the logistic
solution for one hidden layer, and for three hidden layers (depth 4) the implicit solution found below."""

from __future__ import annotations

import numpy as np
import pytest

from dynascope.errors import DynascopeError
from dynascope.theory import crossing_time, mode_strength, time_to_learn


def logistic(t, s, u0, tau):
    """τ u̇ = 2u(s − u): the textbook logistic curve, written independently of the package."""
    return s / (1.0 + (s / u0 - 1.0) * np.exp(-2.0 * s * t / tau))


def depth4_time(u, s, u0, tau):
    """Time to go from u0 to u under τ u̇ = 4 u^{3/2} (s − u). With z = √u the equation is τ ż = 2 z² (s − z²),
    and ∫ dz / (z² (s − z²)) = −1/(s z) + artanh(z/√s) / s^{3/2} by partial fractions."""
    def F(z):
        return -1.0 / (s * z) + np.arctanh(z / np.sqrt(s)) / s**1.5

    return tau / 2.0 * (F(np.sqrt(u)) - F(np.sqrt(u0)))


def test_one_hidden_layer_is_the_logistic_sigmoid_both_ways():
    t = np.linspace(0.0, 400.0, 81)
    s = np.array([3.0, 1.0, 0.2])
    expected = np.stack([logistic(t, si, 1e-4, 20.0) for si in s])
    closed = mode_strength(t, s, 1e-4, tau=20.0, depth=2)
    ode = mode_strength(t, s, 1e-4, tau=20.0, depth=2, method="ode")  # the integrator, checked on its own
    assert closed.shape == ode.shape == (3, 81)
    np.testing.assert_allclose(closed, expected, rtol=1e-12)
    np.testing.assert_allclose(ode, expected, rtol=1e-7, atol=1e-12)


def test_one_hidden_layer_time_to_learn_is_the_logistic_crossing():
    s, u0, tau = 2.0, 1e-3, 5.0
    t_half = tau / (2 * s) * np.log((s - u0) / u0)  # logistic(t) = s/2 solved by hand
    assert time_to_learn(s, u0, tau, 2) == pytest.approx(t_half, rel=1e-12)
    assert logistic(t_half, s, u0, tau) == pytest.approx(s / 2, rel=1e-12)


def test_deep_mode_matches_the_depth4_implicit_solution():
    s, u0, tau = 1.5, 1e-4, 1.0
    levels = np.array([1e-3, 0.1, 0.75, 1.2, 1.45])
    times = depth4_time(levels, s, u0, tau)
    np.testing.assert_allclose(mode_strength(times, s, u0, tau, depth=4), levels, rtol=1e-7)
    np.testing.assert_allclose(time_to_learn(s, u0, tau, 4, fraction=0.5), depth4_time(0.75, s, u0, tau), rtol=1e-9)


def test_deeper_and_smaller_initial_weights_learn_later():
    # The small-u0 law t ≈ τ a0^{−(D−2)} / ((D − 2) s) with u0 = a0^D, by hand: at a0 = 0.01 the plateau
    # dominates and the two agree to the O(a0) corrections.
    a0, s = 0.01, 1.0
    for depth in (3, 4, 5):
        asymptote = a0 ** -(depth - 2) / ((depth - 2) * s)
        assert time_to_learn(s, a0**depth, 1.0, depth) == pytest.approx(asymptote, rel=0.05)
    times = [float(time_to_learn(s, a0**d, 1.0, d)) for d in (2, 3, 4, 5)]
    assert times == sorted(times)


def test_a_mode_above_its_target_relaxes_down_and_is_already_learned():
    u = mode_strength([0.0, 50.0], 1.0, 3.0, 1.0, depth=3)
    assert u[0] == 3.0 and u[1] == pytest.approx(1.0, rel=1e-6)
    assert time_to_learn(1.0, 3.0, 1.0, 3) == 0.0


def test_crossing_time_interpolates_between_records():
    time = np.array([0.0, 1.0, 2.0, 3.0])
    u = np.array([[0.0, 0.2, 0.6, 1.0], [0.0, 0.1, 0.2, 0.3]])
    np.testing.assert_allclose(crossing_time(time, u, 0.5), [1.75, np.nan])


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"s": -1.0}, r"s must .*s=-1\.0"),
        ({"s": 0.0}, r"s must .*s=0\.0"),
        ({"u0": 0.0}, r"u0 must .*u0=0\.0"),
        ({"u0": [0.1, -2.0]}, r"u0 must .*u0=-2\.0"),
        ({"depth": 1}, r"depth must .*depth=1"),
        ({"depth": 0}, r"depth must .*got 0"),
        ({"depth": 2.5}, r"depth must .*2\.5"),
        ({"tau": 0.0}, r"tau must .*got 0\.0"),
        ({"tau": float("nan")}, r"tau must .*nan"),
    ],
)
def test_bad_arguments_name_the_argument_and_value(kwargs, pattern):
    args = {"s": 1.0, "u0": 0.01, "tau": 1.0, "depth": 2} | kwargs
    with pytest.raises(DynascopeError, match=pattern):
        mode_strength([0.0, 1.0], **args)
    with pytest.raises(DynascopeError, match=pattern):
        time_to_learn(**args)


def test_bad_method_fraction_and_times():
    with pytest.raises(DynascopeError, match=r"method='closed_form' .*depth=3"):
        mode_strength(1.0, 1.0, 0.1, 1.0, 3, method="closed_form")
    with pytest.raises(DynascopeError, match=r"method must .*'euler'"):
        mode_strength(1.0, 1.0, 0.1, method="euler")
    with pytest.raises(DynascopeError, match=r"fraction must .*fraction=1\.5"):
        time_to_learn(1.0, 0.1, fraction=1.5)
    with pytest.raises(DynascopeError, match=r"t must hold finite times >= 0"):
        mode_strength([-1.0], 1.0, 0.1)
