"""Two-module continuous-time rate network with a controlled fraction of between-module connections."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from dynascope._registry import option
from dynascope.errors import ConfigError
from dynascope.models._base import Model, Params
from dynascope.models._init import readout_matrix
from dynascope.models._modules import input_mask, module_labels, module_mask
from dynascope.models._registry import register
from dynascope.models.ctrnn import ACTIVATIONS, ALPHA_DOC

INTER_DOC = "fraction of the possible between-module connections that exist (0: disconnected modules)"
INPUTS_A_DOC = "number of leading input channels that drive module A (the others drive B); None: ⌈I/2⌉"


def check_inputs_a(model: str, inputs_a: int | None, n_inputs: int) -> None:
    """Refuse an `inputs_a` that leaves module B no input channel (ConfigError naming `model`).

    With every channel on module A, B learns only from what A passes on and the network trains without a
    word, which is never what a two-stream experiment meant. One input channel is the exception: it can drive
    only one module, as the default split (⌈1/2⌉ = 1) does.

    Args:
        model: the model's registered name, for the message.
        inputs_a: the option (None: the default split).
        n_inputs: the model's input channels I.
    """
    if inputs_a is None or inputs_a < n_inputs or inputs_a == n_inputs == 1:
        return
    what = f"exceeds n_inputs={n_inputs}" if inputs_a > n_inputs else f"gives all {n_inputs} input channels to module A"
    fix = (f"pass at most {n_inputs - 1} (e.g. --model-opt inputs_a={n_inputs - 1}), or leave inputs_a unset for "
           "the first half of the channels" if n_inputs > 1 else "with one input channel leave inputs_a unset")
    raise ConfigError(f"{model}: inputs_a={inputs_a} {what}, which leaves module B no input: B would learn only from "
                      f"what module A passes on; {fix}.")


@register("modular")
@dataclasses.dataclass(frozen=True)
class Modular(Model):
    """Two modules of a continuous-time rate network, each driven by its own input stream.

    τ dx/dt = −x + (W_rec ⊙ M_rec) φ(x) + (W_in ⊙ M_in) u + b, Euler step x' = x + α(τ dx/dt), y = W_out φ(x)
    + b_out. Module A is the first ⌈N/2⌉ units, module B the rest (`modules`, `[N]` labels 0/1). The masks are
    fixed 0/1 parameters, seen by the step through `stop_gradient` and left out of L2 regularisation:
      - `M_rec [N, N]`: every connection within a module, and exactly round(`inter_fraction` · 2 N_A N_B)
        of the connections between them, drawn per network from its `init` key (`module_mask`); the
        structural modularity of the network is Newman's Q of this mask (`compare.modularity`);
      - `M_in [N, I]`: the first `inputs_a` input channels (default ⌈I/2⌉) reach module A only, the rest
        module B only; this is what makes the two streams separable.
    The readout sees both modules, so an output that needs both streams must combine them through the
    between-module connections or in the readout.

    Init: W_rec ~ N(0, gain²/k_i) with k_i the number of connections unit i receives (spectral radius of
    W_rec ⊙ M_rec ≈ gain however sparse the between-module links), W_in ~ N(0, 1/I_m) with I_m the channels
    that reach the unit's module, b = 0, W_out ~ N(0, 1/N), h0 = 0 (trained).

    Options: `alpha` (dt/τ), `activation` ('tanh', 'relu', 'softplus'), `gain`, `inter_fraction`, `inputs_a`.

    References: Béna & Goodman 2025, "Dynamics of specialization in neural modules under resource
    constraints", Nat. Commun.; Newman 2006, "Modularity and community structure in networks", PNAS.
    """

    continuous: ClassVar[bool] = True

    alpha: float = option(0.1, gt=0, le=1, doc=ALPHA_DOC)  # type: ignore[assignment]
    activation: str = option("tanh", choices=tuple(ACTIVATIONS))
    gain: float = option(1.1, gt=0, doc="spectral radius of the initial recurrent weights")
    inter_fraction: float = option(0.1, ge=0, le=1, doc=INTER_DOC)
    inputs_a: int | None = option(None, gt=0, doc=INPUTS_A_DOC)

    def validate(self) -> None:
        # Rules between options only; each option's own constraint is declared on its field.
        if self.n_hidden < 2:
            raise ConfigError(f"modular needs n_hidden >= 2 (one unit per module at least), got {self.n_hidden}.")
        check_inputs_a("modular", self.inputs_a, self.n_inputs)

    @property
    def modules(self) -> np.ndarray:
        """Module label of each unit `[N]` (0 for A, 1 for B)."""
        return module_labels(self.n_hidden)

    def init(self, key: jax.Array) -> Params:  # type: ignore[override]
        k_mask, k_rec, k_in, k_out = jax.random.split(key, 4)
        n = self.n_hidden
        m_rec = module_mask(n, self.inter_fraction, key=k_mask)
        m_in = input_mask(n, self.n_inputs, self.inputs_a)
        fan_in = jnp.maximum(m_rec.sum(axis=1, keepdims=True), 1.0)
        channels = jnp.maximum(m_in.sum(axis=1, keepdims=True), 1.0)
        return {
            "W_rec": self.gain * jax.random.normal(k_rec, (n, n)) / jnp.sqrt(fan_in),
            "M_rec": m_rec,
            "W_in": jax.random.normal(k_in, (n, self.n_inputs)) / jnp.sqrt(channels),
            "M_in": m_in,
            "b": jnp.zeros(n),
            "W_out": readout_matrix(k_out, self.n_outputs, n),
            "b_out": jnp.zeros(self.n_outputs),
            "h0": jnp.zeros(n),
        }

    def effective_weights(self, params: Params) -> jax.Array:
        """The recurrent matrix W_rec ⊙ M_rec `[N, N]` the step uses."""
        return params["W_rec"] * jax.lax.stop_gradient(params["M_rec"])

    def effective_inputs(self, params: Params) -> jax.Array:
        """The input matrix W_in ⊙ M_in `[N, I]` the step uses."""
        return params["W_in"] * jax.lax.stop_gradient(params["M_in"])

    def weight_names(self, params: Params) -> list[str]:
        """Weight matrices L2 regularisation acts on: every one with ndim ≥ 2 but the fixed masks."""
        return [k for k, v in params.items() if v.ndim >= 2 and not k.startswith("M_")]

    def activity(self, state: jax.Array) -> jax.Array:
        """Firing rates φ(x) `[..., N]` of the currents `state [..., N]`."""
        return ACTIVATIONS[self.activation](state)

    def flow(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        """The vector field τ dx/dt `[N]`."""
        rec = self.effective_weights(params) @ self.activity(state)
        return -state + rec + self.effective_inputs(params) @ x + params["b"]

    def step(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        return state + self.alpha * self.flow(params, state, x)
