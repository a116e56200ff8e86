"""Linearization of a network around a state: Jacobians, eigenmodes, stability, time constants.

Maps s' = F(s, x) are analysed through J = ∂F/∂s; continuous-time models, F(s) = s + alpha·f(s), through
the flow Jacobian ∂f/∂s = (∂F/∂s − I)/alpha, whose eigenvalues are rates per unit of the model's time
constant τ (Sussillo & Barak 2013). Stability is always that of the map that runs — |λ| < 1, or for a
flow |1 + alpha·λ| < 1, which a fast rotating mode can violate while Re λ < 0 — decided by the one rule
of `dynamics.stability`; modes within `stability_tolerance` of the boundary are marginal.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
from threadpoolctl import threadpool_limits

from dynascope.dynamics._jacobians import jacobians
from dynascope.dynamics._system import as_system
from dynascope.dynamics._validation import check_finite, check_params, check_step
from dynascope.dynamics.stability import (
    flow_map_disagree, mode_stability, sort_modes, stability_kind, stability_tolerance,
)
from dynascope.errors import ConfigError, ShapeError

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
        try:
            return w, right, np.linalg.inv(right)
        except np.linalg.LinAlgError:
            # A defective Jacobian (a repeated eigenvalue with fewer eigenvectors than its multiplicity, such
            # as the exact zeros of a spiking network's spike and refractory blocks) has no invertible
            # eigenvector matrix; the pseudo-inverse still gives the left vectors of the modes that have them.
            return w, right, np.linalg.pinv(right)


def linearize(
    model: Any,
    params: Any,
    state: Any,
    inputs: Any,
    *,
    float64: bool = True,
    continuous: bool | None = None,
    alpha: float | None = None,
) -> Linearization:
    """Linearize a network at one or several states under a constant input.

    Jacobians come from `jax.jacfwd`; the eigenvalues classify each mode as stable, marginal or unstable
    (for a map or a flow, see `dynascope.dynamics.stability`).

    Args:
        model: a dynascope Model, an object with the model methods, or a callable
            `step(params, state, x) -> state`.
        params: one network's parameters (no leading network axis).
        state: the state to linearize at, `[S]`, or `[K, S]` for K states.
        inputs: the constant input `[I]` (shared by every state) or `[K, I]`.
        float64: compute the Jacobians and eigendecomposition in float64.
        continuous: declare a bare step function the Euler step of a flow (see `find_fixed_points`);
            None for a model, which declares its own.
        alpha: the Euler step size of that flow (bare step functions only).

    Returns:
        `Linearization` whose leading shape is that of `state` without its last axis (Jacobian
        `[..., S, S]`, input Jacobian `[..., S, I]`, eigenvalues and eigenvectors, speed, modes).

    Raises:
        ShapeError: `state` not `[S]`/`[K, S]`, `inputs` not matching it, or sizes the model does not
        take; ConfigError: NaN/inf in `state`, `inputs` or `params`, a Jacobian that is not finite, or an
        unusable `model`/`continuous`/`alpha`.

    Reference: Sussillo & Barak 2013 (linearization around fixed and slow points).
    """
    system = as_system(model, continuous=continuous, alpha=alpha)
    states = np.asarray(state)
    if states.ndim not in (1, 2) or states.shape[-1] == 0:
        raise ShapeError(f"state must be [S] or [K, S], got shape {states.shape}; pass one state per row.")
    batched = states.ndim == 2
    states2 = states if batched else states[None]
    given = inputs
    inputs = np.asarray(given)
    if inputs.ndim == 1:
        inputs = np.broadcast_to(inputs, (states2.shape[0], inputs.shape[0]))
    if inputs.ndim != 2 or inputs.shape[0] != states2.shape[0]:
        raise ShapeError(
            f"inputs must be [I] or [K, I] with K = {states2.shape[0]} rows like state, got shape {np.shape(given)}."
        )
    check_params(model, params)
    check_step(system, params, states2.shape[1], inputs.shape[1])
    fix = "Linearize at a finite state (e.g. a row of FixedPoints.states) with finite inputs and params."
    for name, value in (("state", states2 if batched else states), ("inputs", given), ("params", params)):
        check_finite(name, value, fix)
    one = jax.tree.map(lambda a: np.asarray(a)[None], params)  # a population of one
    jac, jac_in, residual = (
        None if a is None else a[0]
        for a in jacobians(system, one, states2[None], inputs[None], float64=float64, with_inputs=True)
    )
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
