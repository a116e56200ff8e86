"""The learning trajectory of one singular mode of a deep linear network (Saxe, McClelland & Ganguli 2014).

A network of `depth` weight matrices (N_l = depth + 1 layers of units, so depth 2 has one hidden layer)
trained by gradient flow on whitened inputs (Σ_xx = I) from balanced initial weights aligned with the
singular modes of the input–output correlation Σ_yx = U S Vᵀ learns each mode α on its own: the strength
u_α = u_αᵀ W v_α of the end-to-end map W = W_depth ⋯ W_1 along that mode obeys

    τ u̇ = D u^{2 − 2/D} (s − u),      D = depth = N_l − 1,

with s the mode's singular value and u(0) = u0 = a0^D for a per-layer initial scale a0. For D = 2 this is
the logistic equation, u(t) = s e^{2st/τ} / (e^{2st/τ} − 1 + s/u0): a plateau, then a sigmoidal rise that
comes earlier for stronger modes. For D > 2 we integrate the equation numerically.

Time constant. τ is the time constant of gradient flow on the loss L = ½ E‖y − W x‖² (summed over outputs,
averaged over the examples that define Σ_xx and Σ_yx). Gradient descent W ← W − η ∂L/∂W takes one step of
that flow of length η, so τ = 1/η measured in steps: `mode_strength(step, s, u0, tau=1/η, depth)`, or
equivalently time t = η·step with τ = 1 (what `simulate` returns as `time`). Other normalisations rescale τ:
a loss summed over P examples gives τ = 1/(P η), a mean over n_out outputs without the ½ gives
τ = n_out/(2η), and inputs with Σ_xx = c·I (not whitened) turn the equation into
τ u̇ = D u^{2−2/D} (s − c u), whose fixed point is s/c — whiten the inputs or fold c into s and τ.
The theory is gradient flow: gradient descent follows it up to O(η s) per unit time.

Time to learn. From u0 to u_f the flow takes t = (τ/D) ∫_{u0}^{u_f} du / (u^{2−2/D}(s − u)). For D = 2,
t = τ/(2s) ln(u_f (s − u0) / (u0 (s − u_f))), logarithmic in 1/u0; for D > 2 and small u0 it is dominated by
the plateau, t ≈ τ u0^{−(D−2)/D} / ((D − 2) s) = τ a0^{−(D−2)} / ((D − 2) s): with small initial weights,
learning slows down as a power of a0 that grows with depth, −(N_l − 3).

Reference: Saxe, McClelland & Ganguli 2014, "Exact solutions to the nonlinear dynamics of learning in deep
linear neural networks" (ICLR).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import integrate

from dynascope.errors import ConfigError, ShapeError
from dynascope.theory._checks import choice, positive, positive_array, positive_int, time_points

__all__ = ["METHODS", "crossing_time", "mode_strength", "time_to_learn"]

#: How `mode_strength` computes u(t): the closed form where one exists (depth 2), else the ODE.
METHODS = ("auto", "closed_form", "ode")

# The integrator's tolerances: tight enough that the depth-2 ODE matches the closed form to ~1e-8 relative.
_RTOL = 1e-10
_ATOL = 1e-12


def _modes(s: Any, u0: Any, tau: Any, depth: Any) -> tuple[np.ndarray, np.ndarray, float, int]:
    s_arr = positive_array("s", s)
    u0_arr = positive_array("u0", u0)
    try:
        s_arr, u0_arr = np.broadcast_arrays(s_arr, u0_arr)
    except ValueError:
        raise ConfigError(
            f"s and u0 must broadcast together, got shapes {np.shape(s)} and {np.shape(u0)}; pass one u0 per "
            "mode or a single u0."
        ) from None
    return s_arr, u0_arr, positive("tau", tau), positive_int("depth", depth, minimum=2)


def _closed_form(t: np.ndarray, s: float, u0: float, tau: float) -> np.ndarray:
    # s e^{2st/τ} / (e^{2st/τ} − 1 + s/u0) written with e^{−2st/τ}, which cannot overflow for large t.
    decay = np.exp(-2.0 * s * t / tau)
    return s / (1.0 + (s / u0 - 1.0) * decay)


def _integrate(t: np.ndarray, s: float, u0: float, tau: float, depth: int) -> np.ndarray:
    # In v = ln u the plateau at tiny u is not stiff and u stays positive: dv/dt = (D/τ) u^{1 − 2/D} (s − u).
    power = 1.0 - 2.0 / depth

    def rhs(_: float, v: np.ndarray) -> np.ndarray:
        u = np.exp(v)
        return depth / tau * u**power * (s - u)

    order = np.argsort(t)
    t_sorted = t[order]
    if t_sorted[-1] == 0.0:
        return np.full_like(t, u0)
    solution = integrate.solve_ivp(
        rhs, (0.0, float(t_sorted[-1])), [np.log(u0)], method="DOP853", t_eval=t_sorted, rtol=_RTOL, atol=_ATOL
    )
    if not solution.success:  # pragma: no cover - a smooth scalar ODE; kept so a failure is never silent
        raise RuntimeError(f"solve_ivp failed on the mode equation (s={s}, u0={u0}): {solution.message}")
    out = np.empty_like(t)
    out[order] = np.exp(solution.y[0])
    return np.where(t == 0.0, u0, out)  # exactly u0 at t = 0, not exp(log(u0))


def mode_strength(t: Any, s: Any, u0: Any, tau: Any = 1.0, depth: Any = 2, *, method: str = "auto") -> np.ndarray:
    """Strength u(t) of singular modes of a deep linear network learning from balanced, aligned weights.

    Solves τ u̇ = D u^{2−2/D} (s − u), u(0) = u0, with D = `depth` weight matrices (module docstring): the
    closed-form sigmoid for depth 2, a numerical integration (SciPy `solve_ivp`, DOP853, rtol 1e-10) for
    deeper networks or with `method="ode"`.

    Args:
        t: times `[T]` (or a scalar), ≥ 0, in the units of `tau` (steps with τ = 1/η, or η·steps with τ = 1).
        s: singular value(s) of Σ_yx, > 0: a scalar or an array `[...]` of modes.
        u0: initial strength(s) u(0) > 0 (a0^depth for a per-layer initial scale a0), broadcast with `s`.
        tau: time constant τ > 0 (1/learning rate in steps).
        depth: number of weight matrices D = N_l − 1 ≥ 2 (2: one hidden layer).
        method: "auto" (closed form for depth 2, else the ODE), "closed_form" (depth 2 only) or "ode".

    Returns:
        u: float64 `[..., T]`, the modes' shape (broadcast of `s` and `u0`) followed by the times.

    Raises:
        ConfigError: s, u0 or tau not > 0, depth not an integer ≥ 2, an unknown method, or "closed_form"
            asked for depth > 2; ShapeError: t not 1-D.

    Reference: Saxe, McClelland & Ganguli 2014 (ICLR), eq. 7 and the deep-network reduction of section 3.
    """
    times = time_points("t", t)
    s_arr, u0_arr, tau_f, depth_i = _modes(s, u0, tau, depth)
    method = choice("method", method, METHODS)
    if method == "closed_form" and depth_i != 2:
        raise ConfigError(
            f"method='closed_form' exists only for depth=2 (one hidden layer), got depth={depth_i}; use "
            "method='ode' or 'auto'."
        )
    use_ode = method == "ode" or (method == "auto" and depth_i != 2)
    out = np.empty(s_arr.shape + times.shape)
    for index in np.ndindex(s_arr.shape):
        s_i, u0_i = float(s_arr[index]), float(u0_arr[index])
        out[index] = (
            _integrate(times, s_i, u0_i, tau_f, depth_i) if use_ode else _closed_form(times, s_i, u0_i, tau_f)
        )
    return out


def _learning_time(s: float, u0: float, u_final: float, tau: float, depth: int) -> float:
    if u0 >= u_final:
        return 0.0
    if depth == 2:
        return tau / (2.0 * s) * np.log(u_final * (s - u0) / (u0 * (s - u_final)))
    # In v = ln u: t = (τ/D) ∫ e^{−(1 − 2/D) v} / (s − e^v) dv over [ln u0, ln u_final], a smooth integrand.
    power = 1.0 - 2.0 / depth
    value, _ = integrate.quad(
        lambda v: np.exp(-power * v) / (s - np.exp(v)), np.log(u0), np.log(u_final), epsabs=0.0, epsrel=1e-11,
        limit=200,
    )
    return tau / depth * value


def time_to_learn(s: Any, u0: Any, tau: Any = 1.0, depth: Any = 2, *, fraction: float = 0.5) -> np.ndarray:
    """Time for a mode to grow from u0 to `fraction`·s under τ u̇ = D u^{2−2/D} (s − u).

    Depth 2 uses the closed form τ/(2s) ln(u_f (s − u0) / (u0 (s − u_f))); deeper networks the integral
    (τ/D) ∫_{u0}^{u_f} du / (u^{2−2/D} (s − u)) by SciPy `quad`. Zero where u0 ≥ fraction·s already.

    Args:
        s: singular value(s) > 0, scalar or `[...]`.
        u0: initial strength(s) > 0, broadcast with `s`.
        tau: time constant τ > 0 (1/learning rate in steps).
        depth: number of weight matrices D ≥ 2.
        fraction: the level fraction·s that counts as learned, in (0, 1).

    Returns:
        float64 `[...]` (the broadcast shape of `s` and `u0`), in the units of `tau`.

    Reference: Saxe, McClelland & Ganguli 2014 (ICLR), eq. 8 and section 3.
    """
    s_arr, u0_arr, tau_f, depth_i = _modes(s, u0, tau, depth)
    frac = positive("fraction", fraction)
    if frac >= 1.0:
        raise ConfigError(f"fraction must lie in (0, 1), got fraction={fraction!r}; e.g. 0.5 (half the mode).")
    out = np.empty(s_arr.shape)
    for index in np.ndindex(s_arr.shape):
        s_i = float(s_arr[index])
        out[index] = _learning_time(s_i, float(u0_arr[index]), frac * s_i, tau_f, depth_i)
    return out


def crossing_time(time: Any, u: Any, level: Any) -> np.ndarray:
    """First time a recorded trajectory reaches `level`, linearly interpolated between records; NaN if never.

    Args:
        time: record times `[R]`, increasing.
        u: trajectories `[..., R]` (e.g. `DeepLinearRun.modes` moved to put records last).
        level: the level to reach, a scalar or `[...]` broadcast against `u`'s leading axes.

    Returns:
        float64 `[...]`: the crossing times (NaN where the trajectory stays below `level`; time[0] where it
        starts at or above it).
    """
    times = np.asarray(time, dtype=np.float64)
    traj = np.asarray(u, dtype=np.float64)
    if times.ndim != 1 or traj.ndim < 1 or traj.shape[-1] != times.shape[0]:
        raise ShapeError(
            f"u must end with one axis of {times.shape} records (time's length), got u of shape {traj.shape}."
        )
    levels = np.broadcast_to(np.asarray(level, dtype=np.float64), traj.shape[:-1])
    out = np.full(traj.shape[:-1], np.nan)
    for index in np.ndindex(traj.shape[:-1]):
        row, target = traj[index], levels[index]
        above = np.nonzero(row >= target)[0]
        if above.size == 0:
            continue
        k = int(above[0])
        if k == 0:
            out[index] = times[0]
            continue
        # Linear interpolation between the last record below and the first at or above the level.
        w = (target - row[k - 1]) / (row[k] - row[k - 1])
        out[index] = times[k - 1] + w * (times[k] - times[k - 1])
    return out
