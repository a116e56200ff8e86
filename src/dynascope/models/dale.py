"""Excitatory/inhibitory rate network obeying Dale's law (Song, Yang & Wang 2016)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from dynascope.errors import ConfigError
from dynascope._registry import option
from dynascope.models._base import Model, Params
from dynascope.models._init import input_matrix, readout_matrix
from dynascope.models._registry import register
from dynascope.models.ctrnn import ALPHA_DOC

ACTIVATIONS = {"relu": jax.nn.relu, "softplus": jax.nn.softplus}


@register("dale")
@dataclasses.dataclass(frozen=True)
class Dale(Model):
    """E/I continuous-time rate network whose weights keep their signs however they are trained.

    τ dx/dt = −x + W_eff r + U_eff u + b,  r = φ(x) ≥ 0,  Euler step x' = x + α(τ dx/dt) with α = dt/τ.
    Units 0..N_E−1 are excitatory and N_E..N−1 inhibitory, N_E = round(e_fraction · N) (default 80 %).
        W_eff = |W_rec_raw| · D · M,  D = diag(+1 for E columns, −1 for I columns),
        M = 1 − I (no self-connections; `autapses=True` keeps the diagonal),
        U_eff = |W_in_raw|  (inputs are excitatory, Song et al. 2016).
    The sign of every connection is fixed by its presynaptic unit, so training `W_rec_raw` by any
    gradient method can never flip one; `effective_weights(params)` returns W_eff `[N, N]`.
    (Song et al.'s code rectifies, [W]₊, where we take |W|: a weight pushed through zero comes back
    instead of dying.) Rates are φ = relu (Song et al.) or softplus (`activation`).
    The output is read from excitatory units only, y = W_out[:, :N_E] r_E + b_out (long-range
    projections in cortex are excitatory); `W_out` keeps PyTorch-like shape `[O, N]`, its inhibitory
    columns are zero at init and ignored by `readout`. Its signs are not constrained.

    Init (following Song et al. 2016): magnitudes Gamma(k=2), no self-connections; then in each row
    the inhibitory weights are scaled so they cancel the excitatory ones exactly (row sums of W_eff
    are 0: balanced, which keeps the eigenvalues inside the bulk, Rajan & Abbott 2006), and the matrix
    is scaled to spectral radius exactly `gain` (default 1.5, Song et al.'s ρ₀). The radius comes
    from a nonsymmetric eigensolver (LAPACK, on the host when on GPU), so `init` is the one
    slow-ish function of this model. W_in_raw ~ |N(0, 1/I)|,
    W_out[:, :N_E] ~ N(0, 1/N_E), b = 0, h0 = 0.1 (Song et al.'s x0, so relu units start active and h0
    receives gradient).

    References: Song, Yang & Wang 2016, "Training excitatory-inhibitory recurrent neural networks for
    cognitive tasks: a simple and flexible framework", PLoS Comput. Biol.; Rajan & Abbott 2006,
    "Eigenvalue spectra of random matrices for neural networks", Phys. Rev. Lett.
    """

    continuous: ClassVar[bool] = True
    renamed_params: ClassVar[dict[str, str]] = {"W_raw": "W_rec_raw", "U_raw": "W_in_raw"}

    alpha: float = option(0.1, gt=0, le=1, doc=ALPHA_DOC)  # type: ignore[assignment]
    e_fraction: float = option(0.8, gt=0, lt=1, doc="the fraction of excitatory units")
    activation: str = option("relu", choices=tuple(ACTIVATIONS))
    gain: float = option(1.5, gt=0, doc="spectral radius of the initial weights")
    autapses: bool = False

    @property
    def n_exc(self) -> int:
        """Number N_E of excitatory units (the first N_E)."""
        return int(round(self.e_fraction * self.n_hidden))

    def validate(self) -> None:
        # Rule between options only; each option's own constraint is declared on its field.
        f = self.e_fraction
        if not 1 <= self.n_exc <= self.n_hidden - 1:
            raise ConfigError(
                f"e_fraction={f} with n_hidden={self.n_hidden} gives {self.n_exc} excitatory and "
                f"{self.n_hidden - self.n_exc} inhibitory units; both must be at least 1. "
                "Use more hidden units or an e_fraction closer to 0.5."
            )

    # -- the sign structure ----------------------------------------------------------------------
    def _excitatory(self) -> jax.Array:
        """[N] bool, True for excitatory units."""
        return jnp.arange(self.n_hidden) < self.n_exc

    def _structure(self, dtype: jnp.dtype = jnp.float32) -> jax.Array:
        """D·M as an `[N, N]` matrix: ±1 by presynaptic type, 0 on the diagonal unless autapses."""
        # In the params' dtype: float64 fixed-point refinement runs under strict dtype promotion.
        signs = jnp.where(self._excitatory(), 1.0, -1.0).astype(dtype)
        mask = jnp.ones((self.n_hidden, self.n_hidden), dtype)
        if not self.autapses:
            mask = mask - jnp.eye(self.n_hidden, dtype=dtype)
        return mask * signs[None, :]

    def effective_weights(self, params: Params) -> jax.Array:
        """The signed recurrent matrix W_eff = |W_rec_raw| · D · M `[N, N]` (E columns ≥ 0, I columns ≤ 0)."""
        return jnp.abs(params["W_rec_raw"]) * self._structure(params["W_rec_raw"].dtype)

    def effective_inputs(self, params: Params) -> jax.Array:
        """The nonnegative input matrix U_eff = |W_in_raw| `[N, I]`."""
        return jnp.abs(params["W_in_raw"])

    # -- the contract ----------------------------------------------------------------------------
    def init(self, key: jax.Array) -> Params:  # type: ignore[override]
        k_rec, k_in, k_out = jax.random.split(key, 3)
        n = self.n_hidden
        exc = self._excitatory()
        structure = self._structure()
        mag = jax.random.gamma(k_rec, 2.0, (n, n)) * jnp.abs(structure)
        sum_e = jnp.sum(jnp.where(exc, mag, 0.0), axis=1, keepdims=True)
        sum_i = jnp.sum(jnp.where(exc, 0.0, mag), axis=1, keepdims=True)
        # A row with no inhibitory inputs (one I unit, no autapses) cannot be balanced; leave it.
        ratio = jnp.where(sum_i > 0, sum_e / jnp.where(sum_i > 0, sum_i, 1.0), 1.0)
        mag = jnp.where(exc, mag, mag * ratio)
        radius = jnp.max(jnp.abs(jnp.linalg.eigvals(mag * structure)))
        return {
            "W_rec_raw": mag * (self.gain / jnp.maximum(radius, 1e-6)),
            "W_in_raw": jnp.abs(input_matrix(k_in, n, self.n_inputs)),
            "b": jnp.zeros(n),
            "W_out": jnp.pad(readout_matrix(k_out, self.n_outputs, self.n_exc), ((0, 0), (0, n - self.n_exc))),
            "b_out": jnp.zeros(self.n_outputs),
            "h0": jnp.full(n, 0.1, jnp.float32),
        }

    def activity(self, state: jax.Array) -> jax.Array:
        """Firing rates φ(x) ≥ 0 `[..., N]` of the currents `state [..., N]`."""
        return ACTIVATIONS[self.activation](state)

    def readout(self, params: Params, state: jax.Array) -> jax.Array:
        """y = W_out[:, :N_E] r_E + b_out `[..., O]`: excitatory units only."""
        rates_e = self.activity(state)[..., : self.n_exc]
        return rates_e @ params["W_out"][:, : self.n_exc].T + params["b_out"]

    def flow(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        """The vector field τ dx/dt = −x + W_eff φ(x) + U_eff u + b `[N]`."""
        rec = self.effective_weights(params) @ self.activity(state)
        return -state + rec + self.effective_inputs(params) @ x + params["b"]

    def step(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        return state + self.alpha * self.flow(params, state, x)
