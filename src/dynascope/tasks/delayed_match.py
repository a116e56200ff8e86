"""Delayed match-to-sample (Miller, Erickson & Desimone 1996; NeuroGym DelayMatchSample)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dynascope._registry import option
from dynascope.tasks._base import Task, Trials
from dynascope.tasks._epochs import check_epochs, ms_to_steps, sign_accuracy
from dynascope.tasks._registry import register


@register("delayed_match")
@dataclasses.dataclass(frozen=True)
class DelayedMatch(Task):
    """Hold a sample stimulus in memory over a delay and report whether a test stimulus matches it.

    Inputs (I = 1 + `n_stimuli`): a fixation channel, then one channel per stimulus (one-hot).
    Trial: a sample stimulus is drawn uniformly; with probability `match_prob` the test stimulus is
    the same, otherwise it is drawn uniformly from the other `n_stimuli` − 1.
    Epochs: fixation (`fixation_ms`), sample (`sample_ms`), delay (`delay_ms`), test (`test_ms`),
    then the response epoch for the rest of `n_time`. The fixation channel is 1 until the response
    epoch (its offset is the go cue); a stimulus channel is 1 while its stimulus is shown.
    Target (1 output): 0 before the response epoch, then +1 for a match and −1 for a non-match.
    Scored: the response epoch, and every earlier step too (at 0) when `score_fixation`.
    `metric`: fraction of response-epoch steps whose output has the correct sign.
    Fixed-point structure: under the delay-period input (fixation only, `analysis_inputs`) a trained
    network holds one stable memory state per sample stimulus.
    References: Miller, Erickson & Desimone 1996, "Neural mechanisms of visual working memory in
    prefrontal cortex of the macaque", J. Neurosci.; NeuroGym's DelayMatchSample (Molano-Mazón et
    al. 2022).
    """

    n_stimuli: int = option(3, ge=2)  # at least 2, so that a non-match exists
    match_prob: float = option(0.5, ge=0, le=1)
    fixation_ms: float = 100.0
    sample_ms: float = 200.0
    delay_ms: float = 600.0
    test_ms: float = 200.0
    score_fixation: bool = True
    n_time: int = 65
    dt: float = 20.0
    criterion = 0.95
    output_names = ("match",)

    @property
    def n_inputs(self) -> int:
        return 1 + self.n_stimuli

    @property
    def n_outputs(self) -> int:
        return 1

    @property
    def input_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("fixation",) + tuple(f"stimulus {i}" for i in range(self.n_stimuli))

    def validate(self) -> None:
        # Cross-option rule only (each option's own constraint is declared on its field).
        check_epochs("delayed_match", self.n_time, self.dt, self._epoch_ms())

    def _epoch_ms(self) -> dict[str, float]:
        return {
            "fixation_ms": self.fixation_ms,
            "sample_ms": self.sample_ms,
            "delay_ms": self.delay_ms,
            "test_ms": self.test_ms,
        }

    def sample(self, key: jax.Array, batch_size: int) -> Trials:
        k_sample, k_match, k_other = jax.random.split(key, 3)
        bounds = [0]
        for ms in self._epoch_ms().values():
            bounds.append(bounds[-1] + ms_to_steps(ms, self.dt))
        _, sample_on, delay_on, test_on, resp_on = bounds
        m = self.n_stimuli
        sample = jax.random.randint(k_sample, (batch_size,), 0, m)
        match = jax.random.bernoulli(k_match, self.match_prob, (batch_size,))
        # A non-match is a uniform draw among the other m − 1 stimuli: shift by 1..m−1 modulo m.
        other = (sample + jax.random.randint(k_other, (batch_size,), 1, m)) % m
        test = jnp.where(match, sample, other)

        t = jnp.arange(self.n_time)[None, :, None]
        in_sample = ((t >= sample_on) & (t < delay_on)).astype(jnp.float32)
        in_test = ((t >= test_on) & (t < resp_on)).astype(jnp.float32)
        stim = (
            in_sample * jax.nn.one_hot(sample, m, dtype=jnp.float32)[:, None, :]
            + in_test * jax.nn.one_hot(test, m, dtype=jnp.float32)[:, None, :]
        )
        fixation = jnp.broadcast_to((t < resp_on).astype(jnp.float32), (batch_size, self.n_time, 1))
        inputs = jnp.concatenate([fixation, stim], axis=-1)

        answer = jnp.where(match, 1.0, -1.0)[:, None, None]
        in_resp = t >= resp_on
        targets = jnp.broadcast_to(jnp.where(in_resp, answer, 0.0), (batch_size, self.n_time, 1)).astype(jnp.float32)
        scored = in_resp | (~in_resp & self.score_fixation)
        mask = jnp.broadcast_to(scored, targets.shape).astype(jnp.float32)
        return Trials(inputs, targets, mask)

    def analysis_inputs(self) -> jax.Array:
        """The delay-period input: fixation on, no stimulus, `[1, 1 + n_stimuli]`."""
        return jnp.zeros((1, self.n_inputs), jnp.float32).at[0, 0].set(1.0)

    def metric(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        """Fraction of response-epoch steps whose output has the sign of the correct answer, `[B]`."""
        return sign_accuracy(outputs, trials)
