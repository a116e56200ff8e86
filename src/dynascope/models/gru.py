"""Gated recurrent unit with exactly PyTorch's `nn.GRUCell` equations, parameter names and layout."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dynascope.models._base import Model, Params
from dynascope.models._init import readout_matrix, uniform
from dynascope.models._registry import register


@register("gru")
@dataclasses.dataclass(frozen=True)
class GRU(Model):
    """GRU map h' = (1 − z) ⊙ n + z ⊙ h (Cho et al. 2014), identical to `torch.nn.GRUCell`.

    With W_ih = [W_ir; W_iz; W_in] `[3H, I]`, W_hh = [W_hr; W_hz; W_hn] `[3H, H]` (PyTorch's gate
    order r, z, n) and biases b_ih, b_hh `[3H]`:
        r = σ(W_ir x + b_ir + W_hr h + b_hr)
        z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        h' = (1 − z) ⊙ n + z ⊙ h
    Parameters `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` are named and laid out as PyTorch's, so
    a trained `nn.GRU`'s `weight_ih_l0` etc. copy in unchanged. Init as PyTorch: every one of them
    U(−1/√H, 1/√H). Readout y = W_out h + b_out with W_out ~ N(0, 1/H); h0 = 0 (trained).

    References: Cho et al. 2014; PyTorch `torch.nn.GRUCell` documentation.
    """

    def init(self, key: jax.Array) -> Params:  # type: ignore[override]
        k_ih, k_hh, k_bih, k_bhh, k_out = jax.random.split(key, 5)
        h, i, o = self.n_hidden, self.n_inputs, self.n_outputs
        bound = 1.0 / float(h) ** 0.5
        return {
            "weight_ih": uniform(k_ih, (3 * h, i), bound),
            "weight_hh": uniform(k_hh, (3 * h, h), bound),
            "bias_ih": uniform(k_bih, (3 * h,), bound),
            "bias_hh": uniform(k_bhh, (3 * h,), bound),
            "W_out": readout_matrix(k_out, o, h),
            "b_out": jnp.zeros(o),
            "h0": jnp.zeros(h),
        }

    def step(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        h = self.n_hidden
        gi = params["weight_ih"] @ x + params["bias_ih"]
        gh = params["weight_hh"] @ state + params["bias_hh"]
        r = jax.nn.sigmoid(gi[:h] + gh[:h])
        z = jax.nn.sigmoid(gi[h : 2 * h] + gh[h : 2 * h])
        n = jnp.tanh(gi[2 * h :] + r * gh[2 * h :])
        return (1.0 - z) * n + z * state
