"""The one stability rule of dynascope: which modes of a linearization grow, decay or are marginal, for
maps and for continuous-time models (judged as the Euler map that runs), and what kind of point that makes.

Every part of dynascope that calls a point stable, a saddle or marginal — fixed points, linearization,
skeletons, periodic orbits and limit cycles, continuation, the report — imports it from here.
References: Sussillo & Barak 2013; Hairer, Nørsett & Wanner 1993 (stability function of Euler's method).
"""

from __future__ import annotations

from typing import Any

import numpy as np

KINDS = ("stable node", "stable focus", "saddle", "unstable node", "unstable focus", "marginal")

#: Rounding term of the marginal tolerance, in units of eps·(1 + ‖J‖) of the precision J was computed in.
ROUNDING = 64.0


def sort_modes(eigvals: np.ndarray, continuous: bool) -> np.ndarray:
    """Indices `[..., S]` that order eigenvalues dominant first: by Re λ (flows) or |λ| (maps), then Im λ."""
    key = eigvals.real if continuous else np.abs(eigvals)
    # lexsort sorts ascending by its last key first: negate for "largest first", +Im before −Im.
    return np.lexsort((-eigvals.imag, -key), axis=-1)


def step_multipliers(eigvals: np.ndarray, continuous: bool, alpha: float) -> np.ndarray:
    """The eigenvalues `[..., S]` of the map that runs: λ for a map, 1 + alpha·λ for the Euler step of a flow."""
    return 1.0 + alpha * eigvals if continuous else eigvals


def growth_per_step(eigvals: np.ndarray, continuous: bool, alpha: float, *, as_flow: bool = False) -> np.ndarray:
    """Signed distance `[..., S]` of each mode to the stability boundary, per step (> 0: grows): |μ| − 1 for
    the multipliers μ of the map that runs (`step_multipliers`); with `as_flow` (continuous models only)
    the flow's alpha·Re λ instead, whose sign is the flow's own verdict."""
    w = np.asarray(eigvals)
    if as_flow and continuous:
        return alpha * w.real
    return np.abs(step_multipliers(w, continuous, alpha)) - 1.0


def stability_tolerance(
    jacobian: np.ndarray, states: np.ndarray, speed: Any, continuous: bool, alpha: float
) -> np.ndarray:
    """The band `[...]` around the stability boundary, in growth per step of the map that runs, inside
    which a mode is reported as marginal (see `mode_stability`):

        tol = ROUNDING·eps·(1 + ‖J_map‖_F) + speed / (1 + ‖s‖)

    The first term is the rounding error of eigenvalues computed from a Jacobian `jacobian [..., S, S]` (the
    map's ∂F/∂s, or the flow Jacobian, for which J_map = I + alpha·J) in its own precision eps (float64:
    ~3e-14·‖J‖; float32: ~8e-6·‖J‖). The second is the relative drift of a point that is not exactly
    fixed: at `states [..., S]` the state moves by `speed [...]` = ‖F(s) − s‖ = √(2q) per step, and a mode
    that grows or decays by less than speed/(1 + ‖s‖) per step is swamped by that drift. At a converged
    fixed point (q < 1e-12) this term is below ~1e-6; at a slow point it is what makes its weak modes
    marginal. A memory mode of a gated network at |λ| = 1 − 5e-5 stays stable.
    """
    jac = np.asarray(jacobian)
    eps = np.finfo(jac.dtype).eps if np.issubdtype(jac.dtype, np.inexact) else np.finfo(np.float64).eps
    j_map = np.eye(jac.shape[-1]) + alpha * jac if continuous else jac
    norm = np.linalg.norm(j_map, axis=(-2, -1))
    drift = np.asarray(speed, np.float64) / (1.0 + np.linalg.norm(np.asarray(states, np.float64), axis=-1))
    return ROUNDING * eps * (1.0 + norm) + drift


def mode_stability(
    eigvals: np.ndarray,
    continuous: bool,
    alpha: float,
    tol: Any = 0.0,
    singular: Any = None,
    *,
    as_flow: bool = False,
) -> np.ndarray:
    """The one stability rule of dynascope: per mode `[..., S]` +1 (grows), −1 (decays) or 0 (marginal).

    What is judged is the map that runs: the network's map F (eigenvalues λ of ∂F/∂s), or, for a
    continuous-time model, its Euler step s + alpha·f(s), whose multipliers are μ = 1 + alpha·λ for the
    eigenvalues λ of the flow Jacobian ∂f/∂s. A mode grows iff |μ| − 1 > tol, decays iff |μ| − 1 < −tol,
    and is marginal otherwise; `tol [...]` (one per point, see `stability_tolerance`) is 0 by default.
    The Euler step of a flow stable by Re λ < 0 can still grow: |1 + alpha·λ|² > 1 ⇔ 2 Re λ + alpha·|λ|² > 0,
    e.g. a fast rotation λ = μ + iω with −alpha·ω²/2 < μ < 0 (Euler 1768; Hairer, Nørsett & Wanner 1993,
    stability function R(z) = 1 + z).

    `singular [...]` marks points at which ∂F/∂s − I is singular in exact arithmetic: slow points, the
    minima of q = ½‖F(s) − s‖² with q > 0, where ∇q = (∂F/∂s − I)ᵀ(F(s) − s) = 0 with F(s) ≠ s. There the
    mode whose μ is nearest 1 is exactly marginal, and only rounding decides the sign of its computed
    |μ| − 1, so it is reported marginal whatever its value.

    `as_flow=True` (continuous models only) judges the flow instead, by alpha·Re λ against the same tol:
    used to report where the flow's verdict and the map's differ (`flow_map_disagree`) and to locate the
    flow's own bifurcations.
    """
    w = np.asarray(eigvals)
    growth = growth_per_step(w, continuous, alpha, as_flow=as_flow)
    band = np.asarray(tol, np.float64)[..., None]
    sign = np.where(growth > band, 1, np.where(growth < -band, -1, 0)).astype(np.int8)
    if singular is not None:
        flag = np.broadcast_to(np.asarray(singular, bool), w.shape[:-1])
        if flag.any() and w.shape[-1]:
            nearest = np.argmin(np.abs(step_multipliers(w, continuous, alpha) - 1.0), axis=-1)
            marginal = np.zeros(w.shape, bool)
            np.put_along_axis(marginal, nearest[..., None], True, axis=-1)
            sign = np.where(marginal & flag[..., None], np.int8(0), sign)
    return sign


def flow_map_disagree(
    eigvals: np.ndarray, continuous: bool, alpha: float, tol: Any = 0.0, singular: Any = None
) -> np.ndarray:
    """Boolean `[...]`: for a continuous-time model, some mode is judged differently by the flow (Re λ) and
    by its Euler map that actually runs (|1 + alpha·λ|); always False for a map."""
    w = np.asarray(eigvals)
    if not continuous:
        return np.zeros(w.shape[:-1], bool)
    as_map = mode_stability(w, True, alpha, tol, singular)
    as_flow = mode_stability(w, True, alpha, tol, singular, as_flow=True)
    return np.any(as_map != as_flow, axis=-1)


def stability_kind(modes: np.ndarray, eigvals: np.ndarray) -> np.ndarray:
    """One of KINDS per point `[...]` from `modes [..., S]` (`mode_stability`) and `eigvals [..., S]`:
    'saddle' when some modes grow and others do not; 'marginal' when none grows but some are marginal;
    a node has real spectrum, a focus at least one complex pair."""
    unstable, stable = modes > 0, modes < 0
    rotating = np.any(eigvals.imag != 0, axis=-1)
    kind = np.full(eigvals.shape[:-1], "marginal", dtype=object)
    all_stable, all_unstable = np.all(stable, axis=-1), np.all(unstable, axis=-1)
    kind[all_stable] = np.where(rotating, "stable focus", "stable node")[all_stable]
    kind[all_unstable] = np.where(rotating, "unstable focus", "unstable node")[all_unstable]
    kind[np.any(unstable, axis=-1) & ~all_unstable] = "saddle"
    return kind.astype(str)
