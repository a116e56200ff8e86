"""Continuous-time rate network, Euler-discretised: x' = x + α(−x + W φ(x) + U u + b)."""

from __future__ import annotations

import dataclasses
from typing import Callable, ClassVar

import jax
import jax.numpy as jnp

from dynascope.errors import ConfigError
from dynascope.models._base import Model, Params, check_choice
from dynascope.models._init import input_matrix, readout_matrix, recurrent_matrix
from dynascope.models._registry import register

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "softplus": jax.nn.softplus,
}


def check_alpha(alpha: object) -> None:
    """Raise ConfigError unless the Euler step alpha = dt/τ is a number in (0, 1]."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < alpha <= 1.0:
        raise ConfigError(
            f"alpha (the Euler step dt/τ) must be a number in (0, 1], got {alpha!r}; "
            "use e.g. alpha=0.1 for dt = τ/10 (alpha=1 turns the flow into a discrete map)."
        )


def check_gain(gain: object) -> None:
    """Raise ConfigError unless the initial weight gain is a positive number."""
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not gain > 0:
        raise ConfigError(f"gain must be a positive number (e.g. 1.0), got {gain!r}.")


@register("ctrnn")
@dataclasses.dataclass(frozen=True)
class CTRNN(Model):
    """Continuous-time rate RNN τ dx/dt = −x + W φ(x) + U u + b, integrated by forward Euler.

    Step (alpha = dt/τ): x_{t+1} = x_t + α(−x_t + W φ(x_t) + U u_t + b). The state x is the vector of
    synaptic currents; the rates r = φ(x) are what `activity` returns and what is read out,
    y = W_out r + b_out. `flow` returns the vector field −x + W φ(x) + U u + b computed directly (not
    by differencing two steps), so fixed points are located to full floating-point precision.

    Options: `alpha` (dt/τ in (0, 1], default 0.1); `activation` 'tanh', 'relu' or 'softplus';
    `weight_init` of W: 'normal' (N(0, g²/N), Sompolinsky, Crisanti & Sommers 1988), 'orthogonal'
    (Saxe et al. 2014) or 'identity' (Le et al. 2015); `gain` g, default 1.1 — just past the edge of
    chaos g = 1 of the tanh network, the spectral radius Song, Yang & Wang (2016) initialise
    unconstrained networks with; g = 1.5 gives the chaotic spontaneous activity used with FORCE
    (Sussillo & Abbott 2009). U ~ N(0, 1/I), b = 0, W_out ~ N(0, 1/N), h0 = 0 (trained).
    Recurrent noise is added by `run(noise_key=, noise_std=)`.

    References: Sompolinsky, Crisanti & Sommers 1988; Sussillo & Barak 2013; Song, Yang & Wang 2016.
    """

    continuous: ClassVar[bool] = True

    alpha: float = 0.1  # type: ignore[assignment]
    activation: str = "tanh"
    weight_init: str = "normal"
    gain: float = 1.1

    def validate(self) -> None:
        super().validate()
        check_alpha(self.alpha)
        check_choice("activation", self.activation, tuple(ACTIVATIONS))
        check_choice("weight_init", self.weight_init, ("normal", "orthogonal", "identity"))
        check_gain(self.gain)

    def init(self, key: jax.Array) -> Params:  # type: ignore[override]
        k_rec, k_in, k_out = jax.random.split(key, 3)
        n = self.n_hidden
        return {
            "W": recurrent_matrix(k_rec, n, self.weight_init, self.gain),
            "U": input_matrix(k_in, n, self.n_inputs),
            "b": jnp.zeros(n),
            "W_out": readout_matrix(k_out, self.n_outputs, n),
            "b_out": jnp.zeros(self.n_outputs),
            "h0": jnp.zeros(n),
        }

    def activity(self, state: jax.Array) -> jax.Array:
        """Firing rates φ(x) `[..., N]` of the currents `state [..., N]`."""
        return ACTIVATIONS[self.activation](state)

    def flow(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        """The vector field τ dx/dt = −x + W φ(x) + U u + b `[N]`."""
        return -state + params["W"] @ self.activity(state) + params["U"] @ x + params["b"]

    def step(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        return state + self.alpha * self.flow(params, state, x)
