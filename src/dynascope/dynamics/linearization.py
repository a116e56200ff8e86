"""Linearization of a network around a state: Jacobians, eigenmodes, stability, time constants.

Maps s' = F(s, x) are analysed through J = ∂F/∂s; continuous-time models, F(s) = s + alpha·f(s), through
the flow Jacobian ∂f/∂s = (∂F/∂s − I)/alpha, whose eigenvalues are rates per unit of the model's time
constant τ (Sussillo & Barak 2013). Stability is always that of the map that runs — |λ| < 1, or for a
flow |1 + alpha·λ| < 1, which a fast rotating mode can violate while Re λ < 0 — decided by one rule,
`mode_stability`, that every part of dynascope imports; modes within `stability_tolerance` of the
boundary are marginal.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from dynascope.dynamics._system import as_system, check_finite, check_params, check_step, jacobians
from dynascope.errors import ConfigError, ShapeError

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


def one_blas_thread() -> threadpool_limits:
    """A context in which host LAPACK (NumPy's eig of many small S×S matrices) runs on one thread.

    Those calls run beside XLA's own thread pool; OpenBLAS's threads on top of it fight for the same
    cores, and on a small machine the eigenvalues of a few dozen 128×128 Jacobians took seconds instead
    of a fraction of one (benchmarks/RESULTS.md). One matrix that small gains nothing from threads."""
    return threadpool_limits(1, user_api="blas")


def sorted_eigvals(jac: np.ndarray, continuous: bool) -> np.ndarray:
    """Complex eigenvalues `[..., S]` of `jac [..., S, S]`, dominant first (see `sort_modes`)."""
    with one_blas_thread():
        w = np.linalg.eigvals(jac).astype(complex)
    return np.take_along_axis(w, sort_modes(w, continuous), axis=-1)


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


@dataclasses.dataclass(frozen=True, eq=False)
class Linearization:
    """The linearization of a network at `states [..., S]` under constant `inputs [..., I]`.

    `jacobian [..., S, S]`: ∂F/∂s for maps, the flow Jacobian ∂f/∂s for flows; `input_jacobian
    [..., S, I]`: ∂F/∂x, or ∂f/∂x for flows. `eigvals [..., S]` (complex, dominant first), `right
    [..., S, S]` right eigenvectors as columns (unit norm), `left [..., S, S]` left eigenvectors as rows,
    normalised so that `left @ right = I` (so `left @ jacobian = diag(eigvals) @ left`). `speed [...]`:
    ‖F(s) − s‖ per step of the map that runs (0 at a fixed point). `modes [..., S]`: +1 growing, −1
    decaying, 0 marginal, by `mode_stability` for the map that runs (for flows, the Euler step with
    multipliers 1 + alpha·λ) within `stability_tolerance` (rounding, plus the drift `speed`);
    `n_unstable [...]` counts growing modes, `n_marginal [...]` marginal ones, `kind [...]` is one of
    KINDS. `flow_map_disagree [...]`: a continuous model's flow (Re λ) and its Euler map judge some mode
    differently (always False for maps). For flows, eigenvalues are rates per unit of the model's τ;
    `rates_per_ms(dt)` converts both kinds to continuous-time rates in 1/ms.
    """

    states: np.ndarray
    inputs: np.ndarray
    jacobian: np.ndarray
    input_jacobian: np.ndarray
    eigvals: np.ndarray
    right: np.ndarray
    left: np.ndarray
    speed: np.ndarray
    modes: np.ndarray
    n_unstable: np.ndarray
    n_marginal: np.ndarray
    flow_map_disagree: np.ndarray
    kind: np.ndarray
    continuous: bool
    alpha: float

    @property
    def is_stable(self) -> np.ndarray:
        """Boolean `[...]`: every mode decays under the map that runs."""
        return np.all(self.modes < 0, axis=-1)

    def rates_per_ms(self, dt: float) -> np.ndarray:
        """Complex continuous-time rates `[..., S]` in 1/ms for a time step of `dt` ms.

        Flows: λ·alpha/dt, since alpha = dt/τ makes λ/τ = λ·alpha/dt. Maps: ln(λ)/dt (principal
        branch), the rate of the continuous system whose dt-sampling the map is.
        """
        _check_dt(dt)
        if self.continuous:
            return self.eigvals * (self.alpha / dt)
        with np.errstate(divide="ignore"):
            return np.log(self.eigvals) / dt

    def time_constants_ms(self, dt: float) -> np.ndarray:
        """Time constant `[..., S]` in ms of each mode: τ = −1/Re(rate); maps: τ = −dt/ln|λ|.

        Positive for decaying modes, negative for growing ones (|τ| is then the e-folding time of the
        growth), ±inf for modes on the stability boundary, 0 for a map's λ = 0.
        """
        re = self.rates_per_ms(dt).real
        with np.errstate(divide="ignore"):
            return -1.0 / re

    def frequencies_hz(self, dt: float) -> np.ndarray:
        """Oscillation frequency `[..., S]` in Hz of each mode: 1000·|Im rate|/(2π) (maps: |arg λ|/(2π·dt)
        cycles per ms, times 1000)."""
        return 1000.0 * np.abs(self.rates_per_ms(dt).imag) / (2.0 * np.pi)


def _check_dt(dt: float) -> None:
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not dt > 0:
        raise ConfigError(f"dt must be the positive time step in milliseconds (e.g. task.dt), got {dt!r}.")


def eigendecompose(jac: np.ndarray, continuous: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues `[..., S]`, right eigenvectors (columns) and left eigenvectors (rows of R⁻¹), dominant first."""
    with one_blas_thread():
        w, right = np.linalg.eig(jac)
    w, right = w.astype(complex), right.astype(complex)
    order = sort_modes(w, continuous)
    w = np.take_along_axis(w, order, axis=-1)
    right = np.take_along_axis(right, order[..., None, :], axis=-1)
    with one_blas_thread():
        return w, right, np.linalg.inv(right)


def linearize(
    model: Any,
    params: Any,
    state: Any,
    x: Any,
    *,
    float64: bool = True,
    continuous: bool | None = None,
    alpha: float | None = None,
) -> Linearization:
    """Linearize `model` (a dynascope Model, an object with the model methods, or a callable
    step(params, state, x)) at `state [S]` or `[K, S]`
    under constant input `x [I]` or `[K, I]`; Jacobians come from `jax.jacfwd`, in float64 by default.

    `continuous`/`alpha` declare a bare step function an Euler step of a flow (see `find_fixed_points`).
    Returns a `Linearization` whose leading shape is that of `state` without its last axis.
    References: Sussillo & Barak 2013 (linearization around fixed and slow points).
    """
    system = as_system(model, continuous=continuous, alpha=alpha)
    states = np.asarray(state)
    if states.ndim not in (1, 2) or states.shape[-1] == 0:
        raise ShapeError(f"state must be [S] or [K, S], got shape {states.shape}; pass one state per row.")
    batched = states.ndim == 2
    states2 = states if batched else states[None]
    inputs = np.asarray(x)
    if inputs.ndim == 1:
        inputs = np.broadcast_to(inputs, (states2.shape[0], inputs.shape[0]))
    if inputs.ndim != 2 or inputs.shape[0] != states2.shape[0]:
        raise ShapeError(
            f"x must be [I] or [K, I] with K = {states2.shape[0]} rows like state, got shape {np.shape(x)}."
        )
    check_params(model, params)
    check_step(system, params, states2.shape[1], inputs.shape[1])
    fix = "Linearize at a finite state (e.g. a row of FixedPoints.states) with finite inputs and params."
    for name, value in (("state", states2 if batched else states), ("x", x), ("params", params)):
        check_finite(name, value, fix)
    jac, jac_in, residual = jacobians(system, params, states2, inputs, float64=float64, with_inputs=True)
    bad = np.flatnonzero(~np.all(np.isfinite(jac), axis=(-2, -1)))
    if bad.size:
        raise ConfigError(
            f"the Jacobian of the step is not finite at state row {int(bad[0])} = {states2[bad[0]].tolist()} "
            f"({bad.size} row(s) in all): the step overflows there. Linearize at a point where it is finite."
        )
    w, right, left = eigendecompose(jac, system.continuous)
    speed = np.linalg.norm(residual, axis=-1)
    tol = stability_tolerance(jac, states2, speed, system.continuous, system.alpha)
    modes = mode_stability(w, system.continuous, system.alpha, tol)
    out = Linearization(
        states=states2, inputs=np.asarray(inputs), jacobian=jac, input_jacobian=jac_in, eigvals=w,
        right=right, left=left, speed=speed, modes=modes, n_unstable=np.sum(modes > 0, axis=-1),
        n_marginal=np.sum(modes == 0, axis=-1),
        flow_map_disagree=flow_map_disagree(w, system.continuous, system.alpha, tol),
        kind=stability_kind(modes, w), continuous=system.continuous, alpha=system.alpha,
    )
    return out if batched else _first(out)


def _first(lin: Linearization) -> Linearization:
    """The single point of a batch of one, without the batch axis."""
    fields = {f.name: getattr(lin, f.name) for f in dataclasses.fields(lin)}
    for name in ("continuous", "alpha"):
        fields.pop(name)
    return dataclasses.replace(lin, **{k: v[0] for k, v in fields.items()})
