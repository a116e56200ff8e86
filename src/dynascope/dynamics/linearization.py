"""Linearization of a network around a state: Jacobians, eigenmodes, stability, time constants.

Maps s' = F(s, x) are analysed through J = ∂F/∂s (stable iff every |λ| < 1); continuous-time models,
F(s) = s + alpha·f(s), through the flow Jacobian ∂f/∂s = (∂F/∂s − I)/alpha (stable iff every Re λ < 0),
whose eigenvalues are rates per unit of the model's time constant τ (Sussillo & Barak 2013).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from dynascope.dynamics._system import as_system, check_step, jacobians
from dynascope.errors import ConfigError, ShapeError
from dynascope.models._base import Model

KINDS = ("stable node", "stable focus", "saddle", "unstable node", "unstable focus", "marginal")


def sort_modes(eigvals: np.ndarray, continuous: bool) -> np.ndarray:
    """Indices `[..., S]` that order eigenvalues dominant first: by Re λ (flows) or |λ| (maps), then Im λ."""
    key = eigvals.real if continuous else np.abs(eigvals)
    # lexsort sorts ascending by its last key first: negate for "largest first", +Im before −Im.
    return np.lexsort((-eigvals.imag, -key), axis=-1)


def unstable_modes(eigvals: np.ndarray, continuous: bool) -> np.ndarray:
    """Boolean `[..., S]`: Re λ > 0 (flows) or |λ| > 1 (maps)."""
    return eigvals.real > 0 if continuous else np.abs(eigvals) > 1


def stable_modes(eigvals: np.ndarray, continuous: bool) -> np.ndarray:
    """Boolean `[..., S]`: Re λ < 0 (flows) or |λ| < 1 (maps)."""
    return eigvals.real < 0 if continuous else np.abs(eigvals) < 1


def sorted_eigvals(jac: np.ndarray, continuous: bool) -> np.ndarray:
    """Complex eigenvalues `[..., S]` of `jac [..., S, S]`, dominant first (see `sort_modes`)."""
    w = np.linalg.eigvals(jac).astype(complex)
    return np.take_along_axis(w, sort_modes(w, continuous), axis=-1)


def stability_kind(eigvals: np.ndarray, continuous: bool) -> np.ndarray:
    """One of KINDS per point `[...]`: 'saddle' when some modes grow and others decay; 'marginal' when none
    grows but some neither grow nor decay; a node has real spectrum, a focus at least one complex pair."""
    unstable = unstable_modes(eigvals, continuous)
    stable = stable_modes(eigvals, continuous)
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
    normalised so that `left @ right = I` (so `left @ jacobian = diag(eigvals) @ left`). `n_unstable
    [...]` counts growing modes, `kind [...]` is one of KINDS. For flows, eigenvalues are rates per
    unit of the model's τ; `rates_per_ms(dt)` converts both kinds to continuous-time rates in 1/ms.
    """

    states: np.ndarray
    inputs: np.ndarray
    jacobian: np.ndarray
    input_jacobian: np.ndarray
    eigvals: np.ndarray
    right: np.ndarray
    left: np.ndarray
    n_unstable: np.ndarray
    kind: np.ndarray
    continuous: bool
    alpha: float

    @property
    def is_stable(self) -> np.ndarray:
        """Boolean `[...]`: every mode decays."""
        return np.all(stable_modes(self.eigvals, self.continuous), axis=-1)

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
    w, right = np.linalg.eig(jac)
    w, right = w.astype(complex), right.astype(complex)
    order = sort_modes(w, continuous)
    w = np.take_along_axis(w, order, axis=-1)
    right = np.take_along_axis(right, order[..., None, :], axis=-1)
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
    """Linearize `model` (a dynascope Model or a callable step(params, state, x)) at `state [S]` or `[K, S]`
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
    if isinstance(model, Model):
        model.check_params(params)
    check_step(system, model, params, states2.shape[1], inputs.shape[1])
    jac, jac_in = jacobians(system, params, states2, inputs, float64=float64, with_inputs=True)
    w, right, left = eigendecompose(jac, system.continuous)
    n_unstable = unstable_modes(w, system.continuous).sum(axis=-1)
    out = Linearization(
        states=states2, inputs=np.asarray(inputs), jacobian=jac, input_jacobian=jac_in, eigvals=w,
        right=right, left=left, n_unstable=n_unstable, kind=stability_kind(w, system.continuous),
        continuous=system.continuous, alpha=system.alpha,
    )
    return out if batched else _first(out)


def _first(lin: Linearization) -> Linearization:
    """The single point of a batch of one, without the batch axis."""
    fields = {f.name: getattr(lin, f.name) for f in dataclasses.fields(lin)}
    for name in ("continuous", "alpha"):
        fields.pop(name)
    return dataclasses.replace(lin, **{k: v[0] for k, v in fields.items()})
