"""Context-dependent integration (Mante, Sussillo, Shenoy & Newsome 2013)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dynascope._registry import option
from dynascope.tasks._base import Task, Trials
from dynascope.tasks._epochs import check_epochs, ms_to_steps, sign_accuracy
from dynascope.tasks._registry import register


@register("cdi")
@dataclasses.dataclass(frozen=True)
class ContextDependentIntegration(Task):
    """Integrate one of two noisy evidence streams, chosen by a context cue, and report its sign.

    Inputs (I = 4): two evidence streams ("motion", "colour") and two one-hot context channels.
    Trial: a context c ∈ {motion, colour} is drawn uniformly and its channel is 1 for the whole trial.
    For each stream independently a coherence magnitude is drawn uniformly from `coherences` and a
    sign s = ±1 with probability ½; during the stimulus epoch the stream is s·coherence plus
    Gaussian noise of standard deviation `noise_std` per step (zero outside it).
    Epochs: fixation (`fixation_ms`), stimulus (`stimulus_ms`), then the response epoch for the rest
    of `n_time`. Target (1 output): 0 before the response epoch, then the sign s of the relevant
    stream (a coherence of 0 therefore gets a random correct answer). Scored: the response epoch,
    and the fixation epoch too when `score_fixation` (the stimulus epoch is free).
    `metric`: fraction of response-epoch steps whose output has the correct sign.
    Fixed-point structure: under each context input (zero evidence) a trained network has an
    approximate line attractor along which the relevant evidence is integrated.
    Reference: Mante, Sussillo, Shenoy & Newsome 2013, "Context-dependent computation by recurrent
    dynamics in prefrontal cortex", Nature.
    """

    coherences: tuple[float, ...] = option((0.05, 0.1, 0.2, 0.4), ge=0, nonempty=True)
    noise_std: float = option(0.5, ge=0)
    fixation_ms: float = 100.0
    stimulus_ms: float = 600.0
    score_fixation: bool = True
    n_time: int = 90
    dt: float = 10.0
    # Ideal observer with the defaults: ~0.93 correct; networks reach ~0.9.
    criterion = 0.85
    input_names = ("motion", "colour", "context: motion", "context: colour")
    output_names = ("choice",)

    @property
    def n_inputs(self) -> int:
        return 4

    @property
    def n_outputs(self) -> int:
        return 1

    def validate(self) -> None:
        # Cross-option rule only (each option's own constraint is declared on its field).
        check_epochs("cdi", self.n_time, self.dt, {"fixation_ms": self.fixation_ms, "stimulus_ms": self.stimulus_ms})

    def _epochs(self) -> tuple[int, int]:
        """(first stimulus step, first response step)."""
        fix = ms_to_steps(self.fixation_ms, self.dt)
        return fix, fix + ms_to_steps(self.stimulus_ms, self.dt)

    def sample(self, key: jax.Array, batch_size: int) -> Trials:
        k_ctx, k_coh, k_sign, k_noise = jax.random.split(key, 4)
        stim_on, resp_on = self._epochs()
        coh_set = jnp.asarray(self.coherences, jnp.float32)
        context = jax.random.randint(k_ctx, (batch_size,), 0, 2)
        coh = coh_set[jax.random.randint(k_coh, (batch_size, 2), 0, len(self.coherences))]
        sign = jnp.where(jax.random.bernoulli(k_sign, 0.5, (batch_size, 2)), 1.0, -1.0)
        t = jnp.arange(self.n_time)
        in_stim = ((t >= stim_on) & (t < resp_on)).astype(jnp.float32)[None, :, None]
        noise = self.noise_std * jax.random.normal(k_noise, (batch_size, self.n_time, 2), jnp.float32)
        evidence = in_stim * ((sign * coh)[:, None, :] + noise)
        ctx = jnp.broadcast_to(jax.nn.one_hot(context, 2, dtype=jnp.float32)[:, None, :], (batch_size, self.n_time, 2))
        inputs = jnp.concatenate([evidence, ctx], axis=-1)

        answer = jnp.take_along_axis(sign, context[:, None], axis=1)  # [B, 1]
        in_resp = (t >= resp_on)[None, :, None]
        targets = jnp.where(in_resp, answer[:, None, :], 0.0).astype(jnp.float32)
        scored = in_resp | ((t < stim_on)[None, :, None] & self.score_fixation)
        mask = jnp.broadcast_to(scored, targets.shape).astype(jnp.float32)
        return Trials(inputs, targets, mask)

    def analysis_inputs(self) -> jax.Array:
        """One row per context: the context one-hot with zero evidence, `[2, 4]`."""
        return jnp.array([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]], jnp.float32)

    def metric(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        """Fraction of response-epoch steps whose output has the sign of the correct choice, `[B]`."""
        return sign_accuracy(outputs, trials)
