"""Two-module recurrent LIF network with a controlled fraction of between-module connections."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from dynascope._registry import option
from dynascope.errors import ConfigError
from dynascope.models._base import Params
from dynascope.models._modules import input_mask, module_labels, module_mask
from dynascope.models._registry import register
from dynascope.models.lif import LIF
from dynascope.models.modular import INPUTS_A_DOC, INTER_DOC, check_inputs_a


@register("modular_lif")
@dataclasses.dataclass(frozen=True)
class ModularLIF(LIF):
    """Two modules of a recurrent LIF network, each driven by its own input stream: the spiking `modular`.

    The neurons, their exact integration, the surrogate gradients, the flat state and every option but the
    two below are `lif`'s (described on `Spiking`). Module A is the first ⌈H/2⌉ neurons, module B the rest
    (`modules`, `[H]` labels 0/1). Two fixed 0/1 masks, seen through `stop_gradient` and never
    L2-regularised, make the network modular:
      - `M_rec [H, H]`: every connection within a module and exactly round(`inter_fraction` · 2 H_A H_B) of
        the connections between them, drawn per network (`module_mask`; Newman's Q of it is the network's
        structural modularity, `compare.modularity`);
      - `M_in [H, I]`: the first `inputs_a` input channels (default ⌈I/2⌉) drive module A only, the others
        module B only.
    The readout sees both modules.

    Init: lif's, rescaled per neuron so that the masks do not shrink the drive: row j of W_rec by
    √(H / k_j), k_j the connections neuron j receives (so one presynaptic spike still moves the membrane by
    about gain·θ/√k_j at the PSP peak, however few between-module links there are), and row j of W_in by
    √(I / I_m), I_m the channels that reach neuron j's module.

    Options beyond lif's: `inter_fraction`, `inputs_a`. `connectivity` < 1 and `dale` are refused: the
    module mask is the connectivity, and Dale's first-neurons-excitatory layout would put every excitatory
    neuron in module A.

    References: Béna & Goodman 2025, "Dynamics of specialization in neural modules under resource
    constraints", Nat. Commun. (spiking modules under the same constraints as rate ones).
    """

    inter_fraction: float = option(0.1, ge=0, le=1, doc=INTER_DOC)
    inputs_a: int | None = option(None, gt=0, doc=INPUTS_A_DOC)

    def validate(self) -> None:
        if self.sparse:  # before lif's checks, whose advice (lower connectivity) modular_lif refuses too
            raise ConfigError("modular_lif: sparse=True is not supported; its recurrent mask is the module mask "
                              "(set by inter_fraction), stored dense. Use lif with sparse=True and connectivity < 1 "
                              "for a large sparse network.")
        super().validate()
        if self.n_hidden < 2:
            raise ConfigError(f"modular_lif needs n_hidden >= 2 (one neuron per module at least), got {self.n_hidden}.")
        check_inputs_a("modular_lif", self.inputs_a, self.n_inputs)
        if self.connectivity < 1:
            raise ConfigError(f"modular_lif: connectivity={self.connectivity} is not supported; its recurrent "
                              "mask is the module mask, whose sparsity between modules inter_fraction sets. Leave "
                              "connectivity at 1, or use lif for a random sparse network.")
        if self.delta_input:
            raise ConfigError("modular_lif: input_encoding='delta' is not supported (its input mask gives each module "
                              "its own channels, not encoder neurons); leave input_encoding='current', or use lif.")
        if self.dale:
            raise ConfigError("modular_lif: dale=True is not supported (Dale's layout makes the first neurons "
                              "excitatory, which would be all of module A); use lif for Dale's law.")

    @property
    def modules(self) -> np.ndarray:
        """Module label of each neuron `[H]` (0 for A, 1 for B)."""
        return module_labels(self.n_hidden)

    def init(self, key: jax.Array) -> Params:  # type: ignore[override]
        params = super().init(key)
        h, i = self.n_hidden, self.n_inputs
        # A key of its own (not a split of lif's), so the weights before masking are lif's for the same key.
        m_rec = module_mask(h, self.inter_fraction, key=jax.random.fold_in(key, 11))
        m_in = input_mask(h, i, self.inputs_a)
        fan_in = jnp.maximum(m_rec.sum(axis=1, keepdims=True), 1.0)
        channels = jnp.maximum(m_in.sum(axis=1, keepdims=True), 1.0)
        params["W_rec"] = params["W_rec"] * jnp.sqrt(h / fan_in)
        params["W_in"] = params["W_in"] * jnp.sqrt(i / channels)
        params["M_rec"], params["M_in"] = m_rec, m_in
        return params

    def effective_weights(self, params: Params) -> jax.Array:
        """The recurrent matrix W_rec ⊙ M_rec `[H, H]` the step uses."""
        return params["W_rec"] * jax.lax.stop_gradient(params["M_rec"])

    def effective_inputs(self, params: Params) -> jax.Array:
        """The input matrix W_in ⊙ M_in `[H, I]` the step uses."""
        return params["W_in"] * jax.lax.stop_gradient(params["M_in"])

    def weight_names(self, params: Params) -> list[str]:
        """Weight matrices L2 regularisation acts on: every one with ndim ≥ 2 but the masks and the delays."""
        return [k for k, v in params.items() if v.ndim >= 2 and not k.startswith("M_") and k != "delays"]
