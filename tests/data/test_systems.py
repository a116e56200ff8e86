"""Ground-truth systems against what is known about them without our code: the flip-flop's fixed points found
by SciPy's root finder with their stability from a finite-difference Jacobian, the Hopf cycle's period and
radius from its closed form, the integrator's states from the sum of its inputs, and a system a user adds."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import root

from dynascope import data
from dynascope.data import option
from dynascope.errors import ConfigError, ShapeError, UnknownNameError


def numpy_flow(system: data.GroundTruthSystem, inputs: np.ndarray):
    flow = jax.jit(system.flow)  # one compilation, then every call of the root finder is cheap
    return lambda x: np.asarray(flow(jnp.asarray(x, jnp.float32), jnp.asarray(inputs, jnp.float32)), np.float64)


def jacobian(f, x: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Central differences; exact up to rounding for the cubic flows here (their third derivative is constant)."""
    cols = [(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))]
    return np.stack(cols, axis=1)


def test_flipflop_fixed_points_are_the_closed_form_cube():
    system = data.get_system("flipflop", n_bits=3)
    sk = system.skeleton()
    f = numpy_flow(system, np.zeros(3))
    # SciPy's root finder from a jittered grid around every candidate, and from random points in the box.
    rng = np.random.default_rng(0)
    starts = np.concatenate([np.array(list(np.ndindex(3, 3, 3))) - 1.0 + rng.uniform(-0.2, 0.2, (27, 3)),
                             rng.uniform(-1.5, 1.5, (40, 3))])
    found = []
    for x0 in starts:
        sol = root(f, x0, jac=lambda x: jacobian(f, x), tol=1e-10)
        assert sol.success
        if not any(np.allclose(sol.x, y, atol=1e-4) for y in found):
            found.append(sol.x)
    found = np.array(found)
    found = found[np.lexsort(np.round(found, 6).T[::-1])]
    expected = sk.fixed_points[np.lexsort(sk.fixed_points.T[::-1])]
    assert found.shape == (27, 3)
    np.testing.assert_allclose(found, expected, atol=1e-4)
    for point, n_unstable in zip(sk.fixed_points, sk.n_unstable):
        eig = np.linalg.eigvals(jacobian(f, point))
        assert int((eig.real > 0).sum()) == n_unstable
    assert sk.is_stable.sum() == 8 and np.bincount(sk.n_unstable).tolist() == [8, 12, 6, 1]
    assert np.all(np.abs(sk.fixed_points[sk.is_stable]) == 1)  # the attractors are the 8 corners


def test_flipflop_trials_settle_on_the_attractor_their_pulses_set(key):
    system = data.get_system("flipflop", n_bits=2, n_time=40, switch=True)
    lat = system.simulate(key=key, n_trials=32)
    states = np.asarray(lat.states)
    assert states.shape == (32, 40, 2) and lat.inputs.shape == (32, 40, 2)
    signs = np.array([[1.0 if c == "+" else -1.0 for c in p] for p in lat.conditions["end_pattern"]])
    # After a pulse the overshoot (< 0.5) decays as exp(-2 t / tau): by 0.14 s to < 0.5 e^-5.6 = 1.9e-3.
    np.testing.assert_allclose(states[:, -1], signs, atol=2e-3)
    start = np.array([[1.0 if c == "+" else -1.0 for c in p] for p in lat.conditions["start_pattern"]])
    np.testing.assert_allclose(states[:, 19], start, atol=2e-3)  # before the second pulse
    assert len(set(lat.conditions["condition"])) == 16  # 4 starts x 4 ends, dealt out evenly
    assert np.unique(lat.conditions["condition"], return_counts=True)[1].tolist() == [2] * 16


def test_flipflop_refuses_a_pulse_too_short_to_flip_a_bit():
    with pytest.raises(ConfigError, match=r"pulse_steps=1 bins .* too short to flip a bit .* use pulse_steps >= \d"):
        data.get_system("flipflop", pulse_steps=1)
    with pytest.raises(ConfigError, match=r"option amplitude \(pulse strength\) must be a number > 0.3849"):
        data.get_system("flipflop", amplitude=0.3)


def test_oscillator_period_and_radius_match_the_hopf_closed_form(key):
    frequency, mu = 3.0, 0.5
    system = data.get_system("oscillator", mu=mu, frequency=frequency, n_time=400, dt=0.005, n_phases=1)
    x = np.asarray(system.simulate(key=key, n_trials=2).states[0], np.float64)
    t = system.dt * (np.arange(system.n_time) + 1)
    up = np.flatnonzero((x[:-1, 1] < 0) & (x[1:, 1] >= 0))  # upward crossings of y = 0, interpolated
    crossings = t[up] + system.dt * (-x[up, 1]) / (x[up + 1, 1] - x[up, 1])
    period = np.diff(crossings)
    assert len(period) >= 4
    # Angular speed is omega at every radius, so every turn, transient or not, takes 2 pi / omega.
    np.testing.assert_allclose(period, 1.0 / frequency, rtol=2e-4)
    assert system.skeleton().period == pytest.approx(1.0 / frequency, rel=1e-12)
    # The radius follows the closed form r(t)^2 = mu / (1 + (mu / r(0)^2 - 1) exp(-2 mu t)), from the first bin.
    r = np.hypot(x[:, 0], x[:, 1])
    assert abs(r[0] - math.sqrt(mu)) > 1e-2  # the trial starts off the cycle
    elapsed = t - t[0]
    exact = np.sqrt(mu / (1 + (mu / r[0] ** 2 - 1) * np.exp(-2 * mu * elapsed)))
    np.testing.assert_allclose(r, exact, rtol=1e-5)
    eig = np.linalg.eigvals(jacobian(numpy_flow(system, np.zeros(0)), np.zeros(2)))
    np.testing.assert_allclose(sorted(eig.imag), [-2 * np.pi * frequency, 2 * np.pi * frequency], rtol=1e-4)
    assert int((eig.real > 0).sum()) == system.skeleton().n_unstable[0] == 2


def test_integrator_sums_its_evidence_on_a_line_of_fixed_points(key):
    system = data.get_system("integrator", n_time=30, tau=0.05, coherences=(-1.0, 1.0))
    lat = system.simulate(key=key, n_trials=6)
    u = np.asarray(lat.inputs, np.float64)[..., 0]
    states = np.asarray(lat.states, np.float64)
    np.testing.assert_allclose(states[..., 0], np.cumsum(u, axis=1) * system.dt, atol=1e-4)
    decay = math.exp(-system.dt / system.tau)  # y follows u through a first-order low-pass, exactly per bin
    y = np.zeros(6)
    for step in range(system.n_time):
        y = decay * y + (1 - decay) * u[:, step]
        np.testing.assert_allclose(states[:, step, 1], y, atol=1e-4)
    np.testing.assert_allclose(u.mean(axis=1), lat.conditions["coherence"], atol=4 / math.sqrt(30))
    sk = system.skeleton()
    f = numpy_flow(system, np.zeros(1))
    for point in sk.fixed_points:
        np.testing.assert_allclose(f(point), 0.0, atol=1e-6)
        np.testing.assert_allclose(sorted(np.linalg.eigvals(jacobian(f, point)).real), [-1 / system.tau, 0], atol=1e-3)
    assert (sk.n_marginal == 1).all() and (sk.n_unstable == 0).all() and not sk.is_stable.any()


@data.register_system("test-leak")
@dataclasses.dataclass(frozen=True)
class Leak(data.GroundTruthSystem):
    """A user's own system: one leaky unit, dx/dt = -x / tau, started at each of two values."""

    tau: float = option(0.1, gt=0)

    @property
    def n_latents(self) -> int:
        return 1

    @property
    def n_inputs(self) -> int:
        return 0

    def flow(self, state, inputs):
        return -state / self.tau

    def design(self, rng, n_trials):
        start = np.where(np.arange(n_trials) % 2 == 0, 1.0, -1.0)
        conditions = {"condition": np.array(["up" if s > 0 else "down" for s in start])}
        return np.zeros((n_trials, self.n_time, 0)), start[:, None], conditions

    def skeleton(self):
        return data.Skeleton(np.zeros((1, 1)), np.array([0]), np.array([0]))


def test_a_registered_system_of_ones_own_is_found_and_simulated(key):
    assert "test-leak" in data.system_names() and data.system_options("test-leak")[-1] == "tau"
    system = data.get_system("test-leak", n_time=10, tau=0.2)
    states = np.asarray(system.simulate(key=key, n_trials=4).states)[..., 0]
    t = system.dt * np.arange(1, 11)
    np.testing.assert_allclose(states, np.array([1, -1, 1, -1])[:, None] * np.exp(-t / 0.2), rtol=1e-6)
    with pytest.raises(UnknownNameError, match="unknown system 'flipflp'. Did you mean 'flipflop'?"):
        data.get_system("flipflp")
    with pytest.raises(ConfigError, match="system 'test-leak' has no option 'bits'"):
        data.get_system("test-leak", bits=3)


def test_a_system_whose_design_is_off_is_named(key):
    class NoLabels(Leak):
        def design(self, rng, n_trials):
            inputs, x0, _ = super().design(rng, n_trials)
            return inputs, x0, {"start": np.zeros(n_trials)}

    with pytest.raises(ShapeError, match="design returned no 'condition' column"):
        NoLabels().simulate(key=key, n_trials=2)

    class Wide(Leak):
        def design(self, rng, n_trials):
            inputs, x0, c = super().design(rng, n_trials)
            return inputs, np.zeros((n_trials, 2)), c

    with pytest.raises(ShapeError, match=r"returned initial_states of shape \(2, 2\), expected \(2, 1\)"):
        Wide().simulate(key=key, n_trials=2)
