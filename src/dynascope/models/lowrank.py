"""Low-rank continuous-time rate network: J = m nᵀ / N (+ a fixed random bulk g χ / √N)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from dynascope.errors import ConfigError
from dynascope._registry import option
from dynascope.models._base import Model, Params
from dynascope.models._init import readout_matrix
from dynascope.models._registry import register
from dynascope.models.ctrnn import ACTIVATIONS, ALPHA_DOC


@register("lowrank")
@dataclasses.dataclass(frozen=True)
class LowRank(Model):
    """Rank-r rate network τ dx/dt = −x + J φ(x) + W_in u with J = m nᵀ / N + g χ / √N, Euler-stepped.

    Step (alpha = dt/τ): x_{t+1} = x_t + α(−x_t + J φ(x_t) + W_in u_t). The trained structure is the
    pair of connectivity vectors m, n `[N, r]`; `effective_weights(params)` returns J `[N, N]`. The
    rates φ(x) are read out, y = W_out φ(x) + b_out. There is no recurrent bias, so (for a
    zero initial state) the activity stays in span(m, W_in) — the property low-rank theory rests on.

    Random bulk: with `bulk_gain` g > 0 the parameters hold χ `[N, N]`, entries N(0, 1) drawn per network,
    the fixed random part of Mastrogiuseppe & Ostojic's connectivity. By default (`train_bulk=False`)
    it is frozen: the step sees it through `stop_gradient`, so every gradient with respect to χ is
    exactly zero, and `weight_names` leaves it out of L2 regularisation, so gradient optimisers without
    decoupled weight decay (SGD, Adam) never change it. With `train_bulk=True` it trains like any
    weight (close to Schuessler et al. 2020b, who train the full matrix from g χ/√N and find the
    learned change low-rank).
    With g = 0 (default) there is no χ and J is exactly rank r.

    Init: m, n, W_in entries N(0, 1) (O(1) entries, so J has O(1/√N) overlap nᵀm/N at init);
    W_out ~ N(0, 1/N); h0 = 0 (trained). Options: `rank` r (default 1), `alpha` (default 0.1),
    `activation` ('tanh' as in the theory, 'relu', 'softplus'), `bulk_gain`, `train_bulk`.

    References: Mastrogiuseppe & Ostojic 2018, "Linking connectivity, dynamics, and computations in
    low-rank recurrent neural networks", Neuron; Schuessler, Dubreuil, Mastrogiuseppe, Ostojic &
    Barak 2020a, "Dynamics of random recurrent networks with correlated low-rank structure",
    Phys. Rev. Research; Schuessler, Mastrogiuseppe, Dubreuil, Ostojic & Barak 2020b, "The interplay
    between randomness and structure during learning in RNNs", NeurIPS; Dubreuil et al. 2022.
    """

    continuous: ClassVar[bool] = True
    renamed_params: ClassVar[dict[str, str]] = {"U": "W_in"}

    alpha: float = option(0.1, gt=0, le=1, doc=ALPHA_DOC)  # type: ignore[assignment]
    rank: int = option(1, ge=1)
    activation: str = option("tanh", choices=tuple(ACTIVATIONS))
    bulk_gain: float = option(0.0, ge=0, doc="0 = no random bulk")
    train_bulk: bool = False

    def validate(self) -> None:
        # Rules between options only; each option's own constraint is declared on its field.
        if self.rank > self.n_hidden:
            raise ConfigError(
                f"rank must be an integer in [1, n_hidden={self.n_hidden}], got {self.rank!r}; "
                "rank=1 is the simplest low-rank network."
            )
        if self.train_bulk and self.bulk_gain == 0:
            raise ConfigError(
                "train_bulk=True needs a random bulk; set bulk_gain > 0 (e.g. 0.8) or train_bulk=False."
            )

    def init(self, key: jax.Array) -> Params:  # type: ignore[override]
        k_m, k_n, k_in, k_out, k_bulk = jax.random.split(key, 5)
        n, r = self.n_hidden, self.rank
        params = {
            "m": jax.random.normal(k_m, (n, r)),
            "n": jax.random.normal(k_n, (n, r)),
            "W_in": jax.random.normal(k_in, (n, self.n_inputs)),
            "W_out": readout_matrix(k_out, self.n_outputs, n),
            "b_out": jnp.zeros(self.n_outputs),
            "h0": jnp.zeros(n),
        }
        if self.bulk_gain > 0:
            params["chi"] = jax.random.normal(k_bulk, (n, n))
        return params

    def _bulk(self, params: Params) -> jax.Array:
        chi = params["chi"] if self.train_bulk else jax.lax.stop_gradient(params["chi"])
        return (self.bulk_gain / self.n_hidden**0.5) * chi

    def effective_weights(self, params: Params) -> jax.Array:
        """The connectivity J = m nᵀ / N (+ g χ / √N) `[N, N]`."""
        j = params["m"] @ params["n"].T / self.n_hidden
        return j + self._bulk(params) if self.bulk_gain > 0 else j

    def activity(self, state: jax.Array) -> jax.Array:
        """Firing rates φ(x) `[..., N]` of the currents `state [..., N]`."""
        return ACTIVATIONS[self.activation](state)

    def flow(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        """The vector field τ dx/dt = −x + J φ(x) + W_in u `[N]`."""
        rates = self.activity(state)
        # m (nᵀφ / N) costs O(N r) instead of forming the N×N matrix J.
        rec = params["m"] @ (params["n"].T @ rates) / self.n_hidden
        if self.bulk_gain > 0:
            rec = rec + self._bulk(params) @ rates
        return -state + rec + params["W_in"] @ x

    def step(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        return state + self.alpha * self.flow(params, state, x)

    def weight_names(self, params: Params) -> list[str]:
        names = super().weight_names(params)
        return names if self.train_bulk else [k for k in names if k != "chi"]
