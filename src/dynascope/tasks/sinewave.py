"""Frequency-cued sine-wave generator (Sussillo & Barak 2013)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dynascope._registry import option
from dynascope.errors import ConfigError
from dynascope.tasks._base import Task, Trials
from dynascope.tasks._registry import register


@register("sinewave")
@dataclasses.dataclass(frozen=True)
class SineWave(Task):
    """Produce a sine wave whose frequency is set by a static input level.

    Trial: one of `n_frequencies` = K conditions j = 1..K is drawn uniformly. The single input channel
    holds the level j/K + 0.25 for the whole trial (the offset keeps every level away from zero, as in
    the paper). The target of the single output at step k (time t_k = k·dt ms) is
    sin(2π f_j t_k / 1000), with f_j spaced linearly from `freq_min_hz` to `freq_max_hz`
    (f_1 = freq_min_hz, f_K = freq_max_hz). Every step is scored.

    Sussillo & Barak used K = 51 levels j/51 + 0.25 and ω from 0.1 to 0.6 rad per unit time; here the
    frequencies are in Hz of simulated time so they are independent of `dt`.
    Fixed-point structure: under each static input a trained network has an unstable fixed point
    whose linearisation has one complex pair with |λ| > 1 (a map) or Re λ > 0 (a flow) whose angle
    predicts the oscillation frequency (`frequencies_hz()` gives the target to compare against).
    Reference: Sussillo & Barak 2013, "Opening the black box", Neural Comput.
    """

    n_frequencies: int = option(51, gt=0)
    freq_min_hz: float = option(1.0, gt=0, doc="Hz")
    freq_max_hz: float = option(6.0, gt=0, doc="Hz")
    n_time: int = 100
    dt: float = 10.0
    criterion = 0.9
    input_names = ("frequency cue",)
    output_names = ("sine",)

    @property
    def n_inputs(self) -> int:
        return 1

    @property
    def n_outputs(self) -> int:
        return 1

    def validate(self) -> None:
        # Cross-option rules only (each option's own constraint is declared on its field).
        if not self.freq_max_hz >= self.freq_min_hz:
            raise ConfigError(
                f"freq_max_hz must be >= freq_min_hz={self.freq_min_hz!r} Hz, got {self.freq_max_hz!r}."
            )
        if self.n_frequencies > 1 and self.freq_max_hz == self.freq_min_hz:
            raise ConfigError(
                f"freq_max_hz equals freq_min_hz={self.freq_min_hz!r} Hz, so the {self.n_frequencies} "
                "frequencies would all be the same; pass a larger freq_max_hz or n_frequencies=1."
            )
        nyquist = 1000.0 / (2.0 * self.dt)
        if self.freq_max_hz >= nyquist:
            raise ConfigError(
                f"freq_max_hz={self.freq_max_hz!r} Hz is at or above the Nyquist frequency {nyquist:g} Hz "
                f"of dt={self.dt!r} ms; pass freq_max_hz < {nyquist:g} or a smaller dt."
            )

    def input_levels(self) -> jax.Array:
        """The static input level j/K + 0.25 of each condition j = 1..K, `[K]` float32."""
        j = jnp.arange(1, self.n_frequencies + 1, dtype=jnp.float32)
        return j / self.n_frequencies + 0.25

    def frequencies_hz(self) -> jax.Array:
        """Target frequency in Hz of each condition, aligned with `input_levels()` and `analysis_inputs()`, `[K]`."""
        if self.n_frequencies == 1:
            return jnp.full((1,), self.freq_min_hz, jnp.float32)
        return jnp.linspace(self.freq_min_hz, self.freq_max_hz, self.n_frequencies, dtype=jnp.float32)

    def sample(self, key: jax.Array, batch_size: int) -> Trials:
        j = jax.random.randint(key, (batch_size,), 0, self.n_frequencies)
        level = self.input_levels()[j]
        freq = self.frequencies_hz()[j]
        t_s = jnp.arange(self.n_time, dtype=jnp.float32) * (self.dt / 1000.0)
        inputs = jnp.broadcast_to(level[:, None, None], (batch_size, self.n_time, 1))
        targets = jnp.sin((2.0 * jnp.pi) * freq[:, None] * t_s[None, :])[..., None]
        mask = jnp.ones_like(targets)
        return Trials(inputs, targets, mask)

    def analysis_inputs(self) -> jax.Array:
        """One row per condition: the static input level `[K, 1]` (frequency: `frequencies_hz()`)."""
        return self.input_levels()[:, None]
