"""linearize against Jacobians, eigenvalues and time constants worked by hand."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from dynascope.dynamics import Linearization, linearize
from dynascope.errors import ConfigError, ShapeError

DELTAS = (0.5, 3.0)


def duffing(p, s, x):
    """Euler step (alpha 0.1) of ẋ = y + u, ẏ = x − x³ − δy."""
    f = jnp.stack([s[1] + x[0], s[0] - s[0] ** 3 - p["delta"] * s[1]])
    return s + 0.1 * f


def linear_map(p, s, x):
    return p["A"] @ s + p["B"] @ x


def _duffing(delta: float) -> Linearization:
    states = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    return linearize(duffing, {"delta": jnp.float32(delta)}, states, np.zeros(1), continuous=True, alpha=0.1)


@pytest.mark.parametrize("delta", DELTAS)
def test_duffing_jacobians_eigenvalues_and_types_by_hand(delta):
    d = float(np.float32(delta))
    lin = _duffing(delta)
    np.testing.assert_allclose(lin.jacobian[0], [[0, 1], [1, -d]], atol=1e-12)
    np.testing.assert_allclose(lin.jacobian[1], [[0, 1], [-2, -d]], atol=1e-12)
    np.testing.assert_allclose(lin.input_jacobian, np.broadcast_to([[1.0], [0.0]], (3, 2, 1)), atol=1e-12)
    saddle = [(-d + np.sqrt(d * d + 4)) / 2, (-d - np.sqrt(d * d + 4)) / 2]  # dominant (largest Re) first
    np.testing.assert_allclose(lin.eigvals[0], saddle, atol=1e-12)
    root = np.sqrt(complex(d * d - 8))
    well = [(-d + root) / 2, (-d - root) / 2]
    for k in (1, 2):
        np.testing.assert_allclose(np.sort_complex(lin.eigvals[k]), np.sort_complex(well), atol=1e-12)
    focus = d * d < 8
    assert list(lin.kind) == ["saddle"] + ["stable focus" if focus else "stable node"] * 2
    np.testing.assert_array_equal(lin.n_unstable, [1, 0, 0])
    np.testing.assert_array_equal(lin.is_stable, [False, True, True])


@pytest.mark.parametrize("delta", DELTAS)
def test_left_and_right_eigenvectors(delta):
    lin = _duffing(delta)
    for j, w, r, left in zip(lin.jacobian, lin.eigvals, lin.right, lin.left):
        np.testing.assert_allclose(j @ r, r @ np.diag(w), atol=1e-12)  # J R = R Λ
        np.testing.assert_allclose(left @ j, np.diag(w) @ left, atol=1e-12)  # L J = Λ L
        np.testing.assert_allclose(left @ r, np.eye(2), atol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(r, axis=0), 1.0, atol=1e-12)
    # the saddle's unstable direction, by hand: (1, λ₊) up to scale
    d = float(np.float32(delta))
    lam = (-d + np.sqrt(d * d + 4)) / 2
    v = lin.right[0][:, 0].real
    np.testing.assert_allclose(v[1] / v[0], lam, atol=1e-12)


def test_flow_time_constants_and_frequencies_in_task_units():
    # Stable focus of the flow, λ = −δ/2 ± iω with ω = √(8 − δ²)/2, per unit τ. With alpha = dt/τ = 0.1
    # and dt = 10 ms, τ = 100 ms: decay time τ/(δ/2) and frequency ω/(2πτ).
    lin = _duffing(0.5)
    d = float(np.float32(0.5))
    omega = np.sqrt(8 - d * d) / 2
    tau_ms = lin.time_constants_ms(10.0)
    np.testing.assert_allclose(tau_ms[1], [100.0 / (d / 2)] * 2, rtol=1e-12)
    np.testing.assert_allclose(lin.frequencies_hz(10.0)[1], [1000.0 * omega / (2 * np.pi * 100.0)] * 2, rtol=1e-12)
    np.testing.assert_allclose(lin.rates_per_ms(10.0)[1], lin.eigvals[1] / 100.0, rtol=1e-12)
    # the saddle: growing mode has negative τ (e-folding time of the growth), decaying mode positive
    lam = np.sort(lin.eigvals[0].real)[::-1]
    np.testing.assert_allclose(tau_ms[0], -100.0 / lam, rtol=1e-12)
    assert tau_ms[0][0] < 0 < tau_ms[0][1]


def test_map_time_constants_and_frequencies_in_task_units():
    # A map with eigenvalues 0.5 and r·e^{±iθ}: τ = −dt/ln|λ|, f = θ/(2π dt) per ms.
    r, theta, dt = 0.9, 0.3, 20.0
    a = np.zeros((3, 3))
    a[0, 0] = 0.5
    a[1:, 1:] = r * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    p = {"A": jnp.asarray(a, jnp.float32), "B": jnp.asarray(np.arange(6.0).reshape(3, 2), jnp.float32)}
    lin = linearize(linear_map, p, np.zeros(3), np.zeros(2))
    a64 = np.asarray(p["A"], np.float64)
    np.testing.assert_allclose(lin.jacobian, a64, atol=1e-15)
    np.testing.assert_allclose(lin.input_jacobian, np.arange(6.0).reshape(3, 2), atol=1e-15)
    w = lin.eigvals  # dominant first: |λ| = 0.9, 0.9 (+θ first), 0.5
    assert w[0].imag > 0 and w[1].imag < 0 and abs(w[2] - a64[0, 0]) < 1e-12
    r64, th64 = np.abs(w[0]), np.angle(w[0])
    assert r64 == pytest.approx(r, rel=1e-6) and th64 == pytest.approx(theta, rel=1e-6)
    taus = [-dt / np.log(r64)] * 2 + [-dt / np.log(a64[0, 0])]
    np.testing.assert_allclose(lin.time_constants_ms(dt), taus, rtol=1e-12)
    np.testing.assert_allclose(lin.frequencies_hz(dt), [1000 * th64 / (2 * np.pi * dt)] * 2 + [0.0], rtol=1e-12)
    assert lin.kind == "stable focus" and lin.n_unstable == 0 and lin.states.shape == (3,)
    assert lin.left.shape == (3, 3) and lin.right.shape == (3, 3)


def test_unstable_node_and_marginal_kinds():
    p = {"A": jnp.asarray(np.diag([2.0, 1.5]), jnp.float32), "B": jnp.zeros((2, 1))}
    assert linearize(linear_map, p, np.zeros(2), np.zeros(1)).kind == "unstable node"
    p = {"A": jnp.asarray(np.diag([1.0, 0.5]), jnp.float32), "B": jnp.zeros((2, 1))}
    lin = linearize(linear_map, p, np.zeros(2), np.zeros(1))
    assert lin.kind == "marginal" and lin.n_unstable == 0 and not lin.is_stable
    assert np.isinf(lin.time_constants_ms(1.0)[0])


def test_linearize_errors():
    p = {"A": jnp.eye(2), "B": jnp.zeros((2, 1))}
    with pytest.raises(ShapeError, match=r"state must be \[S\] or \[K, S\], got shape \(1, 1, 2\)"):
        linearize(linear_map, p, np.zeros((1, 1, 2)), np.zeros(1))
    with pytest.raises(ShapeError, match=r"inputs must be \[I\] or \[K, I\] with K = 3 rows like state, got shape \(2, 1\)"):
        linearize(linear_map, p, np.zeros((3, 2)), np.zeros((2, 1)))
    lin = linearize(linear_map, p, np.zeros(2), np.zeros(1))
    with pytest.raises(ConfigError, match=r"dt must be the positive time step in milliseconds .* got 0"):
        lin.time_constants_ms(0)


def test_a_defective_jacobian_is_decomposed_not_refused() -> None:
    """A Jordan block (eigenvalue 0 twice, one eigenvector) next to an ordinary matrix in the same batch: the
    decomposition returns finite left vectors for both, and the ordinary one's are exactly R⁻¹ (NumPy)."""
    from dynascope.dynamics.linearization import eigendecompose

    jordan = np.array([[0.0, 1.0], [0.0, 0.0]])
    ordinary = np.array([[0.5, 0.2], [0.1, -0.3]])
    w, right, left = eigendecompose(np.stack([jordan, ordinary]), continuous=False)
    assert np.all(np.isfinite(left))
    np.testing.assert_allclose(w[0], [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(left[1] @ right[1], np.eye(2), atol=1e-12)
    np.testing.assert_allclose(right[1] @ np.diag(w[1]) @ left[1], ordinary, atol=1e-12)
