"""Continuous-time rate network, Euler-discretised: x' = x + α(−x + W_rec φ(x) + W_in u + b)."""

from __future__ import annotations

import dataclasses
from typing import Callable, ClassVar

import jax
import jax.numpy as jnp

from dynascope._registry import option
from dynascope.models._base import Model, Params
from dynascope.models._init import input_matrix, readout_matrix, recurrent_matrix
from dynascope.models._registry import register

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "softplus": jax.nn.softplus,
}


#: What `alpha` means, in the error message of every continuous-time model.
ALPHA_DOC = "the Euler step dt/τ; 1 turns the flow into a discrete map"


@register("ctrnn")
@dataclasses.dataclass(frozen=True)
class CTRNN(Model):
    """Continuous-time rate RNN τ dx/dt = −x + W_rec φ(x) + W_in u + b, integrated by forward Euler.

    Step (alpha = dt/τ): x_{t+1} = x_t + α(−x_t + W_rec φ(x_t) + W_in u_t + b). The state x is the vector of
    synaptic currents; the rates r = φ(x) are what `activity` returns and what is read out,
    y = W_out r + b_out. `flow` returns the vector field −x + W_rec φ(x) + W_in u + b computed directly (not
    by differencing two steps), so fixed points are located to full floating-point precision.

    Options: `alpha` (dt/τ in (0, 1], default 0.1); `activation` 'tanh', 'relu' or 'softplus';
    `weight_init` of W_rec: 'normal' (N(0, g²/N), Sompolinsky, Crisanti & Sommers 1988), 'orthogonal'
    (Saxe et al. 2014) or 'identity' (Le et al. 2015); `gain` g, default 1.1 — just past the edge of
    chaos g = 1 of the tanh network, the spectral radius Song, Yang & Wang (2016) initialise
    unconstrained networks with; g = 1.5 gives the chaotic spontaneous activity used with FORCE
    (Sussillo & Abbott 2009). W_in ~ N(0, 1/I), b = 0, W_out ~ N(0, 1/N), h0 = 0 (trained).
    Recurrent noise is added by `run(noise_key=, noise_std=)`.

    References: Sompolinsky, Crisanti & Sommers 1988; Sussillo & Barak 2013; Song, Yang & Wang 2016.
    """

    continuous: ClassVar[bool] = True
    renamed_params: ClassVar[dict[str, str]] = {"W": "W_rec", "U": "W_in"}

    alpha: float = option(0.1, gt=0, le=1, doc=ALPHA_DOC)  # type: ignore[assignment]
    activation: str = option("tanh", choices=tuple(ACTIVATIONS))
    weight_init: str = option("normal", choices=("normal", "orthogonal", "identity"))
    gain: float = option(1.1, gt=0)

    def init(self, key: jax.Array) -> Params:  # type: ignore[override]
        k_rec, k_in, k_out = jax.random.split(key, 3)
        n = self.n_hidden
        return {
            "W_rec": recurrent_matrix(k_rec, n, self.weight_init, self.gain),
            "W_in": input_matrix(k_in, n, self.n_inputs),
            "b": jnp.zeros(n),
            "W_out": readout_matrix(k_out, self.n_outputs, n),
            "b_out": jnp.zeros(self.n_outputs),
            "h0": jnp.zeros(n),
        }

    def activity(self, state: jax.Array) -> jax.Array:
        """Firing rates φ(x) `[..., N]` of the currents `state [..., N]`."""
        return ACTIVATIONS[self.activation](state)

    def flow(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        """The vector field τ dx/dt = −x + W_rec φ(x) + W_in u + b `[N]`."""
        return -state + params["W_rec"] @ self.activity(state) + params["W_in"] @ x + params["b"]

    def step(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        return state + self.alpha * self.flow(params, state, x)
