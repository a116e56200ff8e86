"""Long short-term memory with exactly PyTorch's `nn.LSTMCell` equations; state = concat(h, c)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dynascope.models._base import Model, Params
from dynascope.models._init import readout_matrix, uniform
from dynascope.models._registry import register


@register("lstm")
@dataclasses.dataclass(frozen=True)
class LSTM(Model):
    """LSTM map (h, c) -> (h', c') (Hochreiter & Schmidhuber 1997; Gers et al. 2000), as `torch.nn.LSTMCell`.

    With W_ih `[4H, I]`, W_hh `[4H, H]`, b_ih, b_hh `[4H]` in PyTorch's gate order (i, f, g, o):
        [i; f; g; o] = W_ih x + b_ih + W_hh h + b_hh
        c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g)
        h' = σ(o) ⊙ tanh(c')
    The state is the flat vector s = concat(h, c) `[2H]` (so `n_state = 2H`, and `h0` `[2H]` holds the
    trained initial h and c); `activity(s)` is h, the part read out, y = W_out h + b_out.

    Init: every PyTorch parameter U(−1/√H, 1/√H) as PyTorch does, then `forget_bias` (default 1.0) is
    added to the forget-gate slice of `bias_ih`, so the cell keeps most of its memory at the start of
    training (Gers, Schmidhuber & Cummins 2000; Jozefowicz, Zaremba & Sutskever 2015). Set
    `forget_bias=0.0` for PyTorch's own initial distribution. W_out ~ N(0, 1/H); h0 = 0.

    References: Hochreiter & Schmidhuber 1997; Gers et al. 2000; Jozefowicz et al. 2015.
    """

    forget_bias: float = 1.0

    @property
    def n_state(self) -> int:
        return 2 * self.n_hidden

    def init(self, key: jax.Array) -> Params:  # type: ignore[override]
        k_ih, k_hh, k_bih, k_bhh, k_out = jax.random.split(key, 5)
        h, i, o = self.n_hidden, self.n_inputs, self.n_outputs
        bound = 1.0 / float(h) ** 0.5
        bias_ih = uniform(k_bih, (4 * h,), bound)
        bias_ih = bias_ih.at[h : 2 * h].add(jnp.float32(self.forget_bias))
        return {
            "weight_ih": uniform(k_ih, (4 * h, i), bound),
            "weight_hh": uniform(k_hh, (4 * h, h), bound),
            "bias_ih": bias_ih,
            "bias_hh": uniform(k_bhh, (4 * h,), bound),
            "W_out": readout_matrix(k_out, o, h),
            "b_out": jnp.zeros(o),
            "h0": jnp.zeros(2 * h),
        }

    def activity(self, state: jax.Array) -> jax.Array:
        """The hidden state h `[..., H]`: the first H entries of `state [..., 2H]`."""
        return state[..., : self.n_hidden]

    def step(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        n = self.n_hidden
        h, c = state[:n], state[n:]
        gates = params["weight_ih"] @ x + params["bias_ih"] + params["weight_hh"] @ h + params["bias_hh"]
        i = jax.nn.sigmoid(gates[:n])
        f = jax.nn.sigmoid(gates[n : 2 * n])
        g = jnp.tanh(gates[2 * n : 3 * n])
        o = jax.nn.sigmoid(gates[3 * n :])
        c_new = f * c + i * g
        return jnp.concatenate([o * jnp.tanh(c_new), c_new])
