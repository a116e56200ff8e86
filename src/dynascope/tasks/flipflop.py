"""N-bit flip-flop (Sussillo & Barak 2013)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dynascope._registry import option
from dynascope.tasks._base import Task, Trials
from dynascope.tasks._registry import register


@register("flipflop")
@dataclasses.dataclass(frozen=True)
class FlipFlop(Task):
    """N independent memory bits driven by sparse ±1 pulses.

    Trial: each of the `n_bits` input channels receives a ±1 pulse (random sign) with probability
    `pulse_prob` per step, and — with `set_at_start` — a pulse at t = 0, so every bit is defined from
    the start and the memory has exactly 2^N states. The target of channel i at step t is the sign of
    its most recent pulse (the output switches on the step of the pulse); every step is scored.
    Fixed-point structure: under zero input a trained network has 2^N stable points (the memories)
    joined through saddles. Reference: Sussillo & Barak 2013, "Opening the black box", Neural Comput.
    """

    n_bits: int = option(3, gt=0)
    n_time: int = 64
    dt: float = 10.0
    pulse_prob: float = option(0.05, gt=0, le=1, doc="pulse probability per step")
    set_at_start: bool = True
    criterion = 0.95

    @property
    def n_inputs(self) -> int:
        return self.n_bits

    @property
    def n_outputs(self) -> int:
        return self.n_bits

    def sample(self, key: jax.Array, batch_size: int) -> Trials:
        k_when, k_sign = jax.random.split(key)
        shape = (batch_size, self.n_time, self.n_bits)
        when = jax.random.bernoulli(k_when, self.pulse_prob, shape)
        if self.set_at_start:
            when = when.at[:, 0, :].set(True)
        sign = jnp.where(jax.random.bernoulli(k_sign, 0.5, shape), 1.0, -1.0)
        pulses = jnp.where(when, sign, 0.0).astype(jnp.float32)
        # Index of the most recent pulse at or before each step (0 if none yet).
        t = jnp.arange(self.n_time)[None, :, None]
        last = jax.lax.cummax(jnp.where(when, t, 0), axis=1)
        targets = jnp.take_along_axis(pulses, last, axis=1)
        mask = jnp.where(jax.lax.cummax(when.astype(jnp.int32), axis=1) > 0, 1.0, 0.0).astype(jnp.float32)
        return Trials(pulses, targets, mask)

    def analysis_inputs(self) -> jax.Array:
        return jnp.zeros((1, self.n_bits), jnp.float32)

    def metric(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        """Fraction of scored steps and bits whose output has the sign of the target, per trial `[B]`."""
        hit = (jnp.sign(outputs) == trials.targets).astype(jnp.float32) * trials.mask
        return hit.sum(axis=(1, 2)) / jnp.maximum(trials.mask.sum(axis=(1, 2)), 1.0)
