"""Spike-pattern classification: classes that differ only in the timing of their spikes (Gütig & Sompolinsky 2006)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dynascope._registry import option
from dynascope.errors import ConfigError
from dynascope.tasks._base import Task, Trials
from dynascope.tasks._epochs import ms_to_steps
from dynascope.tasks._registry import register


@register("spike_pattern")
@dataclasses.dataclass(frozen=True)
class SpikePattern(Task):
    """Classify spatio-temporal spike patterns whose classes differ only in when each channel fires.

    Inputs (I = `n_channels`): spike trains, 0 or 1 per step. Each of the `n_classes` classes has a fixed
    template, drawn once from `pattern_seed` (an option, so a run folder's config rebuilds the same task): on
    every channel, `spikes_per_channel` spikes at distinct steps drawn uniformly inside the pattern window (the
    first `pattern_ms`). Every class thus has the same number of spikes on every channel: spike counts carry no
    information about the class, only spike timing does.
    Trial: a class drawn uniformly; its template with each spike moved by Gaussian jitter of standard deviation
    `jitter_ms` (rounded to steps, kept inside the window and on distinct steps in their order, so no two
    spikes of a channel merge and every channel keeps exactly `spikes_per_channel` pattern spikes), plus
    independent background spikes (Bernoulli per step, rate `noise_hz`, merged with the pattern: a channel's
    count is then `spikes_per_channel` plus a binomial count whatever the class) on every channel until the
    response epoch. Then a delay of whatever
    `n_time` leaves after the pattern window and the response epoch (silent but for the background spikes;
    none with the defaults), then the response epoch, the last `response_ms`, with no input.
    Target (`n_classes` outputs): one-hot (1 for the trial's class, 0 for the others) during the response
    epoch; only the response epoch is scored (mask 0 before it: the network is free while it listens).
    `metric`: 1 when the argmax of the output averaged over the response epoch is the class, else 0 (chance
    1/`n_classes`); `criterion` 0.9.
    Temporal structure: `pattern_ms` sets how long the network must integrate (a longer window spreads the
    spikes over longer times than the membrane time constant), `jitter_ms` how precise the timing is.
    `templates()` gives the templates' spike steps, `classes(key, batch_size)` the class of each trial of
    `sample(key, batch_size)`.
    Fixed-point structure: the response epoch's input is silence (`analysis_inputs`, zero), under which a
    trained network holds one state per class.
    References: Gütig & Sompolinsky 2006, "The tempotron: a neuron that learns spike timing-based decisions",
    Nat. Neurosci. (random spike-timing templates with Gaussian jitter and background noise); Cramer, Stradmann,
    Schemmel & Zenke 2020, "The Heidelberg spiking data sets for the systematic evaluation of spiking neural
    networks", IEEE TNNLS; Perez-Nieves, Leung, Dragotti & Goodman 2021, "Neural heterogeneity promotes robust
    learning", Nat. Commun. (heterogeneous time constants on tasks of varying temporal structure).
    """

    n_channels: int = option(20, gt=0, doc="input spike trains")
    n_classes: int = option(4, ge=2, doc="pattern classes")
    spikes_per_channel: int = option(2, gt=0, doc="spikes of each channel in every template")
    pattern_ms: float = option(50.0, gt=0, doc="the pattern window in ms")
    jitter_ms: float = option(1.0, ge=0, doc="standard deviation in ms of each spike's timing jitter")
    noise_hz: float = option(2.0, ge=0, doc="rate in Hz of background spikes on every channel")
    response_ms: float = option(10.0, gt=0, doc="the response epoch in ms")
    pattern_seed: int = option(0, ge=0, doc="seed of the class templates")
    n_time: int = 60
    dt: float = 1.0
    criterion = 0.9

    @property
    def n_inputs(self) -> int:
        return self.n_channels

    @property
    def n_outputs(self) -> int:
        return self.n_classes

    @property
    def input_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(f"channel {i}" for i in range(self.n_channels))

    @property
    def output_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(f"class {i}" for i in range(self.n_classes))

    def validate(self) -> None:
        # Rules between options only (each option's own constraint is declared on its field).
        for name in ("pattern_ms", "response_ms"):
            if ms_to_steps(getattr(self, name), self.dt) < 1:
                raise ConfigError(f"{name} must last at least one step of dt={self.dt} ms, got "
                                  f"{getattr(self, name)!r}; pass {name} >= {self.dt / 2:g} or a smaller dt.")
        pattern, response = ms_to_steps(self.pattern_ms, self.dt), ms_to_steps(self.response_ms, self.dt)
        if pattern + response > self.n_time:
            raise ConfigError(
                f"n_time={self.n_time} steps is too short for spike_pattern: the pattern window (pattern_ms="
                f"{self.pattern_ms:g}, {pattern} steps) and the response epoch (response_ms={self.response_ms:g}, "
                f"{response} steps) take {pattern + response} steps of dt={self.dt} ms; pass n_time >= "
                f"{pattern + response} or a shorter pattern_ms."
            )
        if self.spikes_per_channel > pattern:
            raise ConfigError(
                f"spikes_per_channel={self.spikes_per_channel} spikes at distinct steps do not fit in the pattern "
                f"window of {pattern} steps (pattern_ms={self.pattern_ms:g}, dt={self.dt} ms); pass "
                f"spikes_per_channel <= {pattern} or a longer pattern_ms."
            )
        if self.noise_hz * self.dt / 1000.0 > 1.0:
            raise ConfigError(f"noise_hz={self.noise_hz:g} is more than one spike per step of dt={self.dt} ms; "
                              f"pass noise_hz <= {1000.0 / self.dt:g}.")

    @property
    def _steps(self) -> tuple[int, int]:
        """(pattern window, response epoch) in steps."""
        return ms_to_steps(self.pattern_ms, self.dt), ms_to_steps(self.response_ms, self.dt)

    def templates(self) -> jax.Array:
        """Spike steps of every class's template, `[n_classes, n_channels, spikes_per_channel]` int32, sorted
        along the last axis; distinct steps inside the pattern window, drawn from `pattern_seed`."""
        pattern, _ = self._steps
        # Concrete even under jit: the templates are constants of the task, not of the trials.
        with jax.ensure_compile_time_eval():
            u = jax.random.uniform(jax.random.key(self.pattern_seed), (self.n_classes, self.n_channels, pattern))
            # The k smallest of `pattern` uniform draws sit at k distinct steps, uniformly chosen.
            steps = jnp.argsort(u, axis=-1)[..., : self.spikes_per_channel]
            return jnp.sort(steps, axis=-1).astype(jnp.int32)

    def template_rasters(self) -> jax.Array:
        """The templates as spike rasters over the pattern window, `[n_classes, pattern steps, n_channels]` (0/1 float32)."""
        pattern, _ = self._steps
        return _raster(self.templates(), pattern)

    def classes(self, key: jax.Array, batch_size: int) -> jax.Array:
        """The class `[batch_size]` (int32) of each trial `sample(key, batch_size)` draws.

        Args:
            key: the key given to `sample`.
            batch_size: the number of trials given to `sample`.
        """
        k_class, _, _ = jax.random.split(key, 3)
        return jax.random.randint(k_class, (batch_size,), 0, self.n_classes).astype(jnp.int32)

    def sample(self, key: jax.Array, batch_size: int) -> Trials:
        _, k_jitter, k_noise = jax.random.split(key, 3)
        pattern, response = self._steps
        resp_on = self.n_time - response
        label = self.classes(key, batch_size)
        times = self.templates()[label]  # [B, C, k]
        if self.jitter_ms > 0:
            shift = jax.random.normal(k_jitter, times.shape, jnp.float32) * (self.jitter_ms / self.dt)
            times = _distinct(times + jnp.round(shift).astype(jnp.int32), pattern)
        spikes = jnp.pad(_raster(times, pattern), ((0, 0), (0, self.n_time - pattern), (0, 0)))
        t = jnp.arange(self.n_time)[None, :, None]
        before_response = t < resp_on
        if self.noise_hz > 0:
            p = self.noise_hz * self.dt / 1000.0
            noise = jax.random.bernoulli(k_noise, p, (batch_size, self.n_time, self.n_channels))
            spikes = jnp.maximum(spikes, (noise & before_response).astype(jnp.float32))
        in_resp = jnp.broadcast_to(t >= resp_on, (batch_size, self.n_time, self.n_classes))
        onehot = jax.nn.one_hot(label, self.n_classes, dtype=jnp.float32)[:, None, :]
        targets = jnp.where(in_resp, onehot, 0.0).astype(jnp.float32)
        return Trials(spikes, targets, in_resp.astype(jnp.float32))

    def analysis_inputs(self) -> jax.Array:
        """The response epoch's input: every channel silent, `[1, n_channels]`."""
        return jnp.zeros((1, self.n_channels), jnp.float32)

    def metric(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        """1 where the argmax of the output averaged over the scored (response) steps is the target's class,
        else 0, `[B]` float32."""
        m = trials.mask
        n = jnp.maximum(m.sum(axis=1), 1.0)
        mean_out = (m * outputs).sum(axis=1) / n
        mean_target = (m * trials.targets).sum(axis=1) / n
        return (jnp.argmax(mean_out, axis=-1) == jnp.argmax(mean_target, axis=-1)).astype(jnp.float32)


def _distinct(times: jax.Array, n_steps: int) -> jax.Array:
    """Spike steps `[..., k]` moved into `[0, n_steps)` onto k distinct steps, keeping their order.

    A channel's spikes must never merge on one step: whether two template spikes are close enough to merge
    under jitter depends on the class, so merged spikes would make the spike count a class cue. Sorted steps
    t_0 ≤ … ≤ t_{k−1} minus their rank, made non-decreasing by a running maximum (which pushes a spike that
    collides with an earlier one one step later) and clipped into [0, n_steps − k], are strictly increasing
    inside the window once given their rank back; already distinct steps inside it (a template) are unchanged.
    """
    k = times.shape[-1]
    rank = jnp.arange(k, dtype=times.dtype)
    gaps = jax.lax.cummax(jnp.sort(times, axis=-1) - rank, axis=times.ndim - 1)
    return jnp.clip(gaps, 0, n_steps - k) + rank


def _raster(times: jax.Array, n_steps: int) -> jax.Array:
    """Spike steps `[..., C, k]` as a 0/1 raster `[..., n_steps, C]` float32 (spikes on one step merge)."""
    counts = jax.nn.one_hot(times, n_steps, dtype=jnp.float32).sum(axis=-2)  # [..., C, n_steps]
    return jnp.minimum(jnp.swapaxes(counts, -1, -2), 1.0)
