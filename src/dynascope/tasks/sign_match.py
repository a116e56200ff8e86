"""Two separable sub-tasks, one per input stream, whose answers the output must combine (Béna & Goodman 2025)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dynascope._registry import option
from dynascope.tasks._base import Task, Trials
from dynascope.tasks._epochs import check_epochs, ms_to_steps, sign_accuracy
from dynascope.tasks._registry import register


@register("sign_match")
@dataclasses.dataclass(frozen=True)
class SignMatch(Task):
    """Decide the sign of each of two noisy streams, then report whether the two signs match.

    Inputs (I = 2): stream A on channel 0, stream B on channel 1. Trial: two independent signs s_A, s_B = ±1
    (probability ½ each); during the stimulus epoch (the first `stimulus_ms`) channel k carries
    s_k·`strength` plus independent Gaussian noise of standard deviation `noise_std` per step, then both
    channels are 0 for the response epoch (the rest of `n_time`). Sub-task k is to decide s_k from its own
    stream alone; the two are separable (no channel carries information about the other sign).
    Target (1 output): 0 during the stimulus epoch, then s_A·s_B (+1 match, −1 mismatch) — an XOR of the
    two sub-tasks' answers, so neither stream alone predicts it better than chance.
    Scored: the response epoch, and the stimulus epoch too (at 0) when `score_stimulus`.
    `metric`: fraction of response-epoch steps whose output has the correct sign.
    `latents(key, batch_size) -> [B, 2]` returns (s_A, s_B) of the trials `sample(key, batch_size)` draws: the
    sub-tasks' latent variables, which the specialization measures (`compare.specialization`) need.
    With the defaults an ideal observer sums 10 samples per stream: each sign is right with probability
    Φ(√10·2) ≈ 1 − 1e-10, so the match is as well.
    Fixed-point structure: under zero input (`analysis_inputs`) a trained network holds one memory per
    answer (match / mismatch), or per pair of signs.
    References: Béna & Goodman 2025, "Dynamics of specialization in neural modules under resource
    constraints", Nat. Commun. (two digits, one per module, whose combination is the output); Minsky &
    Papert 1969 (XOR needs both inputs).
    """

    strength: float = option(1.0, gt=0, doc="mean size of a stream's evidence per step")
    noise_std: float = option(0.5, ge=0, doc="standard deviation of each stream's noise per step")
    stimulus_ms: float = option(200.0, doc="duration of the stimulus epoch, ms (the response epoch is the rest)")
    score_stimulus: bool = option(True, doc="also score the stimulus epoch (at 0)")
    n_time: int = 20
    dt: float = 20.0
    criterion = 0.9
    input_names = ("stream A", "stream B")
    output_names = ("match",)
    #: Names of the sub-tasks, in the order of the columns of `latents`.
    subtask_names = ("sign A", "sign B")

    @property
    def n_inputs(self) -> int:
        return 2

    @property
    def n_outputs(self) -> int:
        return 1

    def validate(self) -> None:
        # Cross-option rule only (each option's own constraint is declared on its field).
        check_epochs("sign_match", self.n_time, self.dt, {"stimulus_ms": self.stimulus_ms})

    def latents(self, key: jax.Array, batch_size: int) -> jax.Array:
        """The signs (s_A, s_B) `[batch_size, 2]` (float32 ±1) of the trials `sample(key, batch_size)` draws."""
        k_sign, _ = jax.random.split(key)
        return jnp.where(jax.random.bernoulli(k_sign, 0.5, (batch_size, 2)), 1.0, -1.0).astype(jnp.float32)

    def sample(self, key: jax.Array, batch_size: int) -> Trials:
        _, k_noise = jax.random.split(key)
        signs = self.latents(key, batch_size)
        resp_on = ms_to_steps(self.stimulus_ms, self.dt)
        t = jnp.arange(self.n_time)[None, :, None]
        in_stim = (t < resp_on).astype(jnp.float32)
        noise = self.noise_std * jax.random.normal(k_noise, (batch_size, self.n_time, 2), jnp.float32)
        inputs = in_stim * (self.strength * signs[:, None, :] + noise)
        match = (signs[:, 0] * signs[:, 1])[:, None, None]
        in_resp = t >= resp_on
        targets = jnp.broadcast_to(jnp.where(in_resp, match, 0.0), (batch_size, self.n_time, 1)).astype(jnp.float32)
        scored = in_resp | (~in_resp & self.score_stimulus)
        mask = jnp.broadcast_to(scored, targets.shape).astype(jnp.float32)
        return Trials(inputs, targets, mask)

    def analysis_inputs(self) -> jax.Array:
        """The response-epoch input: both streams silent, `[1, 2]`."""
        return jnp.zeros((1, 2), jnp.float32)

    def metric(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        """Fraction of response-epoch steps whose output has the sign of s_A·s_B, `[B]`."""
        return sign_accuracy(outputs, trials)
