"""Discrete-time vanilla RNN: h' = φ(W_rec h + W_in x + b)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from dynascope._registry import option
from dynascope.models._base import Model, Params
from dynascope.models._init import recurrent_matrix
from dynascope.models._registry import register

ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu}


@register("vanilla")
@dataclasses.dataclass(frozen=True)
class Vanilla(Model):
    """Vanilla (Elman) RNN map h_{t+1} = φ(W_rec h_t + W_in x_t + b), read out as y = W_out h + b_out.

    Options: `activation` ('tanh' or 'relu'); `weight_init` of W_rec: 'normal' (entries N(0, g²/N), Sompolinsky
    et al. 1988), 'orthogonal' (g·Q, Saxe et al. 2014) or 'identity' (g·I, the IRNN of Le et al. 2015,
    meant for relu); `gain` g.
    """

    renamed_params: ClassVar[dict[str, str]] = {"W": "W_rec", "U": "W_in"}

    activation: str = option("tanh", choices=tuple(ACTIVATIONS))
    weight_init: str = option("normal", choices=("normal", "orthogonal", "identity"))
    gain: float = 1.0

    def init(self, key: jax.Array) -> Params:  # type: ignore[override]
        k_rec, k_in, k_out = jax.random.split(key, 3)
        n, i, o = self.n_hidden, self.n_inputs, self.n_outputs
        return {
            "W_rec": recurrent_matrix(k_rec, n, self.weight_init, self.gain),
            "W_in": jax.random.normal(k_in, (n, i)) / jnp.sqrt(i),
            "b": jnp.zeros(n),
            "W_out": jax.random.normal(k_out, (o, n)) / jnp.sqrt(n),
            "b_out": jnp.zeros(o),
            "h0": jnp.zeros(n),
        }

    def step(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        phi = ACTIVATIONS[self.activation]
        return phi(params["W_rec"] @ state + params["W_in"] @ x + params["b"])
