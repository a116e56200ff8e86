"""Recurrent current-based leaky integrate-and-fire network, integrated exactly per step."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dynascope.models._base import Params
from dynascope.models._registry import register
from dynascope.models._spiking import Spiking


@register("lif")
@dataclasses.dataclass(frozen=True)
class LIF(Spiking):
    """Recurrent current-based LIF network with a fixed threshold θ (`threshold`), trained by surrogate gradients.

    The neuron, its exact per-step integration, the flat-state layout (v, I, refractory steps, spikes,
    readout trace: 5·H numbers, then the spike history with delays), the parameters and their initialisation are described on `Spiking`; here the
    firing threshold is the constant θ.

    Options: `dt` (ms per step, default 1), `tau_mem` (20 ms), `tau_syn` (5 ms), `tau_out` (20 ms, the readout
    filter), `threshold` θ (1), `reset` ('subtract' or 'zero'), `refractory` (ms, absolute, rounded to steps;
    default 0), `surrogate` ('fast_sigmoid', 'arctan', 'triangle') and `surrogate_scale`, `tau_spread` and
    `learn_tau` (per-neuron time constants within [`tau_min`, `tau_max`]), `connectivity` (fixed sparse
    mask), `dale` and `e_fraction` (sign-constrained recurrent weights), `gain` (initial recurrent weights),
    `max_delay`, `learn_delays` and `delay_init` (per-connection recurrent delays in steps, `models._delays`).

    References: Gerstner et al. 2014, "Neuronal Dynamics"; Neftci, Mostafa & Zenke 2019, "Surrogate gradient
    learning in spiking neural networks"; Perez-Nieves et al. 2021, "Neural heterogeneity promotes robust
    learning"; Hammouamri et al. 2023, "Learning delays in spiking neural networks using dilated convolutions
    with learnable spacings" (learned delays).
    """

    def step(self, params: Params, state: jax.Array, x: jax.Array, probe: jax.Array | None = None) -> jax.Array:
        u = self.encode(state, x)
        n = self.advance(params, self.neurons(state), u, jnp.asarray(self.threshold, state.dtype), self.history(state),
                         probe)
        return self.pack(state, n, inputs=u)
