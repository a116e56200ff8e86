"""Update-gate RNN (UGRNN) of Collins, Sohl-Dickstein & Sussillo 2017."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dynascope._registry import option
from dynascope.models._base import Model, Params
from dynascope.models._init import input_matrix, readout_matrix, recurrent_matrix
from dynascope.models._registry import register


@register("ugrnn")
@dataclasses.dataclass(frozen=True)
class UGRNN(Model):
    """UGRNN map: a vanilla candidate state mixed into the old state by a single update gate.

        c  = tanh(W_c h + U_c x + b_c)        candidate
        g  = σ(W_g h + U_g x + b_g)           update gate
        h' = g ⊙ h + (1 − g) ⊙ c
    W_c, W_g `[H, H]`, U_c, U_g `[H, I]`, b_c, b_g `[H]`; readout y = W_out h + b_out.

    Introduced by Collins et al. as a minimal gated cell: a GRU without the reset gate, or a vanilla
    RNN with a learned, state-dependent leak.

    Init: W_c and W_g from `weight_init` ('normal' N(0, g²/H) or 'orthogonal' g·Q) with `gain` g
    (default 1.0); U ~ N(0, 1/I); b_c = 0; b_g = `gate_bias` (default 1.0, so σ(1) ≈ 0.73 of the state
    is kept per step at the start of training: a bias towards memory, like the LSTM forget-gate
    bias of Gers et al. 2000). W_out ~ N(0, 1/H); h0 = 0 (trained).

    Reference: Collins, Sohl-Dickstein & Sussillo 2017, "Capacity and trainability in recurrent
    neural networks", ICLR.
    """

    weight_init: str = option("normal", choices=("normal", "orthogonal"))
    gain: float = option(1.0, gt=0)
    gate_bias: float = 1.0

    def init(self, key: jax.Array) -> Params:  # type: ignore[override]
        k_wc, k_wg, k_uc, k_ug, k_out = jax.random.split(key, 5)
        h, i, o = self.n_hidden, self.n_inputs, self.n_outputs
        return {
            "W_c": recurrent_matrix(k_wc, h, self.weight_init, self.gain),
            "U_c": input_matrix(k_uc, h, i),
            "b_c": jnp.zeros(h),
            "W_g": recurrent_matrix(k_wg, h, self.weight_init, self.gain),
            "U_g": input_matrix(k_ug, h, i),
            "b_g": jnp.full(h, self.gate_bias, jnp.float32),
            "W_out": readout_matrix(k_out, o, h),
            "b_out": jnp.zeros(o),
            "h0": jnp.zeros(h),
        }

    def step(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        c = jnp.tanh(params["W_c"] @ state + params["U_c"] @ x + params["b_c"])
        g = jax.nn.sigmoid(params["W_g"] @ state + params["U_g"] @ x + params["b_g"])
        return g * state + (1.0 - g) * c
