"""Random-dots perceptual decision making (Britten et al. 1992; Roitman & Shadlen 2002)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dynascope._registry import option
from dynascope.tasks._base import Task, Trials
from dynascope.tasks._epochs import check_epochs, ms_to_steps, sign_accuracy
from dynascope.tasks._registry import register


@register("perceptual_dm")
@dataclasses.dataclass(frozen=True)
class PerceptualDecision(Task):
    """Two-alternative motion discrimination: integrate noisy evidence and report its sign.

    Inputs (I = 3): a fixation channel and two evidence channels ("left", "right") as in NeuroGym's
    PerceptualDecisionMaking. Trial: a coherence c (in %) is drawn uniformly from `coherences` and a
    direction d = ±1 (right = +1) with probability ½; during the stimulus epoch the right channel is
    0.5 + d·c/200 and the left 0.5 − d·c/200, each plus independent Gaussian noise of standard
    deviation `noise_std` per step (both are 0 outside the stimulus epoch).
    Epochs: fixation (`fixation_ms`), stimulus (`stimulus_ms`), then the response epoch for the rest
    of `n_time`; the fixation channel is 1 until the response epoch (its offset is the go cue).
    Target (1 output): 0 before the response epoch, then d (so at 0 % coherence the correct answer
    is a coin flip). Scored: the response epoch, and every earlier step too (at 0) when
    `score_fixation`. `metric`: fraction of response-epoch steps with the correct sign.
    With the defaults an ideal observer summing the stimulus epoch is ~86 % correct (50 % at 0 %,
    76 % at 3.2 %, ~100 % from 12.8 % coherence), so `criterion` is 0.8.
    Fixed-point structure: under the zero-coherence stimulus input a trained network has an
    approximate line attractor that integrates evidence (`analysis_inputs` also gives the
    fixation-only input).
    References: Britten, Shadlen, Newsome & Movshon 1992, "The analysis of visual motion", J.
    Neurosci.; Shadlen & Newsome 2001, J. Neurophysiol.; Roitman & Shadlen 2002, J. Neurosci.
    """

    coherences: tuple[float, ...] = option((0.0, 3.2, 6.4, 12.8, 25.6, 51.2), ge=0, le=100, nonempty=True,
                                           doc="in %")
    noise_std: float = option(0.2, ge=0)
    fixation_ms: float = 100.0
    stimulus_ms: float = 800.0
    score_fixation: bool = True
    n_time: int = 60
    dt: float = 20.0
    criterion = 0.8
    input_names = ("fixation", "left", "right")
    output_names = ("choice (right +)",)

    @property
    def n_inputs(self) -> int:
        return 3

    @property
    def n_outputs(self) -> int:
        return 1

    def validate(self) -> None:
        # Cross-option rule only (each option's own constraint is declared on its field).
        check_epochs(
            "perceptual_dm", self.n_time, self.dt, {"fixation_ms": self.fixation_ms, "stimulus_ms": self.stimulus_ms}
        )

    def sample(self, key: jax.Array, batch_size: int) -> Trials:
        k_coh, k_dir, k_noise = jax.random.split(key, 3)
        stim_on = ms_to_steps(self.fixation_ms, self.dt)
        resp_on = stim_on + ms_to_steps(self.stimulus_ms, self.dt)
        coh = jnp.asarray(self.coherences, jnp.float32)[
            jax.random.randint(k_coh, (batch_size,), 0, len(self.coherences))
        ]
        direction = jnp.where(jax.random.bernoulli(k_dir, 0.5, (batch_size,)), 1.0, -1.0)
        delta = (direction * coh / 200.0)[:, None, None]
        mean = 0.5 + jnp.concatenate([-delta, delta], axis=-1)  # [B, 1, 2]: left, right
        t = jnp.arange(self.n_time)[None, :, None]
        in_stim = ((t >= stim_on) & (t < resp_on)).astype(jnp.float32)
        noise = self.noise_std * jax.random.normal(k_noise, (batch_size, self.n_time, 2), jnp.float32)
        evidence = in_stim * (mean + noise)
        fixation = jnp.broadcast_to((t < resp_on).astype(jnp.float32), (batch_size, self.n_time, 1))
        inputs = jnp.concatenate([fixation, evidence], axis=-1)

        in_resp = t >= resp_on
        targets = jnp.broadcast_to(
            jnp.where(in_resp, direction[:, None, None], 0.0), (batch_size, self.n_time, 1)
        ).astype(jnp.float32)
        scored = in_resp | (~in_resp & self.score_fixation)
        mask = jnp.broadcast_to(scored, targets.shape).astype(jnp.float32)
        return Trials(inputs, targets, mask)

    def analysis_inputs(self) -> jax.Array:
        """Fixation only, and fixation with the zero-coherence stimulus mean, `[2, 3]`."""
        return jnp.array([[1.0, 0.0, 0.0], [1.0, 0.5, 0.5]], jnp.float32)

    def metric(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        """Fraction of response-epoch steps whose output has the sign of the correct choice, `[B]`."""
        return sign_accuracy(outputs, trials)
