"""Recurrent network of adaptive LIF neurons (the LSNN of Bellec et al. 2018)."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from dynascope._registry import option
from dynascope.models._base import Params
from dynascope.models._registry import register
from dynascope.models._spiking import Spiking


@register("alif")
@dataclasses.dataclass(frozen=True)
class ALIF(Spiking):
    """Recurrent current-based LIF network in which a fraction of the neurons has an adaptive threshold.

    Neuron j fires when v_j ≥ A_j = θ + β_j a_j, where the adaptation variable a_j follows its own spikes,

        a_j ← ρ a_j + (1 − ρ) z_j,   ρ = exp(−dt/τ_a)   (`tau_adapt`),

    updated after the threshold test of the step (the step's spike raises the next step's threshold).
    β_j = `beta` for the first round(`adaptive_fraction`·H) neurons and 0 for the others (plain LIF).
    A neuron firing r spikes per step has a ≈ r, so its threshold sits about β·r above θ; each spike raises
    it by β(1 − ρ) and the rise decays with τ_a, a memory far longer than τ_m (Bellec et al. 2018's
    adaptive neurons). Reset by subtraction removes the threshold the neuron fired at, v ← v − A_j.

    Everything else (exact integration, options, parameters, init) is `lif`'s, described on `Spiking`. The
    flat state is lif's five blocks followed by a (6·H numbers), then the spike history with delays;
    `adaptation(state)` returns a.
    Options beyond lif's: `tau_adapt` (ms, default 200), `beta` (default 10, in units of the membrane
    potential), `adaptive_fraction` (default 0.5).

    References: Bellec, Salaj, Subramoney, Legenstein & Maass 2018, "Long short-term memory and
    learning-to-learn in networks of spiking neurons", NeurIPS.
    """

    extra_blocks: ClassVar[int] = 1

    tau_adapt: float = option(200.0, gt=0, doc="time constant in ms of threshold adaptation")
    beta: float = option(10.0, ge=0, doc="threshold increase per unit of adaptation")
    adaptive_fraction: float = option(0.5, ge=0, le=1, doc="the fraction of neurons with an adaptive threshold")

    @property
    def n_adaptive(self) -> int:
        """Number of adaptive neurons (the first ones)."""
        return int(round(self.adaptive_fraction * self.n_hidden))

    def adaptation(self, state: jax.Array) -> jax.Array:
        """The adaptation variables a `[..., H]` of a state `[..., S]`."""
        return self.extra(state)

    def step(self, params: Params, state: jax.Array, x: jax.Array, probe: jax.Array | None = None) -> jax.Array:
        a = self.adaptation(state)
        beta = jnp.where(jnp.arange(self.n_hidden) < self.n_adaptive, self.beta, 0.0).astype(state.dtype)
        u = self.encode(state, x)
        n = self.advance(params, self.neurons(state), u, self.threshold + beta * a, self.history(state), probe)
        rho = math.exp(-self.dt / self.tau_adapt)
        return self.pack(state, n, rho * a + (1.0 - rho) * n.spikes, inputs=u)
