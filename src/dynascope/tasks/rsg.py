"""Ready-Set-Go interval reproduction (Jazayeri & Shadlen 2010; Remington et al. 2018)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dynascope.errors import ConfigError
from dynascope.tasks._base import Task, Trials
from dynascope._registry import option
from dynascope.tasks._epochs import ms_to_steps
from dynascope.tasks._registry import register


@register("rsg")
@dataclasses.dataclass(frozen=True)
class ReadySetGo(Task):
    """Measure the interval between Ready and Set, then produce it (times a gain) after Set.

    Inputs (I = 3): a Ready pulse, a Set pulse (each `pulse_ms` long) and a tonic gain cue.
    Trial: the Ready step r is drawn uniformly from `ready_ms` (an inclusive (earliest, latest) range
    in ms); a sample interval t_s is drawn uniformly from `intervals` (ms) and a gain g from `gains`.
    Set comes at s = r + n_s with n_s = round(t_s/dt) steps, and Go is due at s + n_p with
    n_p = round(g·t_s/dt). The gain cue channel holds g for the whole trial.
    Target (1 output): 0 up to Set, then a ramp rising linearly to 1 at Go, then 1 to the end of the
    trial (the ramp-to-threshold readout of Remington et al. 2018). Every step is scored.
    `metric`: 1 − |t_out − t_target| / (t_target − s) clipped to [0, 1], where t_out and t_target
    are the first steps after Set at which the output and the target reach 0.9; an output that
    never reaches 0.9 scores 0. A score of 0.9 is a timing error of 10 % of the produced interval.
    `intervals` may be set outside the training range to test extrapolation; `n_time` must fit
    the latest Go (validate says how long it must be).
    Fixed-point structure: under the gain cue alone (`analysis_inputs`, one row per gain) the
    network sits at a fixed point before Ready; timing comes from slow transient dynamics whose
    speed scales with t_s (Remington et al. 2018; Wang, Narain, Hosseini & Jazayeri 2018).
    References: Jazayeri & Shadlen 2010, "Temporal context calibrates interval timing", Nat.
    Neurosci.; Remington, Narain, Hosseini & Jazayeri 2018, "Flexible sensorimotor computations
    through rapid reconfiguration of cortical dynamics", Neuron.
    """

    intervals: tuple[float, ...] = option((480.0, 560.0, 640.0, 720.0, 800.0), gt=0, nonempty=True, doc="ms")
    gains: tuple[float, ...] = option((1.0,), gt=0, nonempty=True)
    ready_ms: tuple[float, float] = option((100.0, 300.0), ge=0, doc="earliest and latest Ready time in ms")
    pulse_ms: float = option(40.0, gt=0)
    n_time: int = 110
    dt: float = 20.0
    criterion = 0.9
    threshold = 0.9
    input_names = ("ready", "set", "gain cue")
    output_names = ("go ramp",)

    @property
    def n_inputs(self) -> int:
        return 3

    @property
    def n_outputs(self) -> int:
        return 1

    def validate(self) -> None:
        # Rules between options, or between the two values of ready_ms; each option's own constraint is
        # declared on its field.
        intervals, gains = self.intervals, self.gains
        shortest = min(min(intervals), min(intervals) * min(gains))
        if ms_to_steps(shortest, self.dt) < 1:
            raise ConfigError(
                f"the shortest interval to measure or produce, {shortest:g} ms, is under one step of "
                f"dt={self.dt} ms; pass intervals and gains with interval·gain >= {self.dt / 2:g} ms or a smaller dt."
            )
        ready = self.ready_ms
        if not ready[0] <= ready[1]:
            raise ConfigError(
                f"ready_ms must be an (earliest, latest) pair of times in ms with earliest <= latest, "
                f"got {ready!r}; e.g. ready_ms=(100.0, 300.0)."
            )
        if ms_to_steps(self.pulse_ms, self.dt) < 1:
            raise ConfigError(
                f"pulse_ms must last at least one step of dt={self.dt} ms, got {self.pulse_ms!r}; "
                f"pass pulse_ms >= {self.dt / 2:g}."
            )
        needed = self._latest_go() + 1
        if self.n_time < needed:
            raise ConfigError(
                f"n_time={self.n_time} steps is too short for rsg: the latest Go (ready at {ready[1]:g} ms, "
                f"interval {max(intervals):g} ms, gain {max(gains):g}) falls on step {needed - 1} at "
                f"dt={self.dt} ms; pass n_time >= {needed} or shorter intervals."
            )

    def _latest_go(self) -> int:
        """Step of the latest possible Go."""
        r = ms_to_steps(self.ready_ms[1], self.dt)
        return max(
            r + ms_to_steps(ts, self.dt) + ms_to_steps(g * ts, self.dt) for ts in self.intervals for g in self.gains
        )

    def sample(self, key: jax.Array, batch_size: int) -> Trials:
        k_ready, k_ts, k_gain = jax.random.split(key, 3)
        r_lo, r_hi = ms_to_steps(self.ready_ms[0], self.dt), ms_to_steps(self.ready_ms[1], self.dt)
        # Step counts are rounded in Python so that the target uses exactly the documented integers.
        n_s_set = jnp.array([ms_to_steps(ts, self.dt) for ts in self.intervals], jnp.int32)
        n_p_set = jnp.array(
            [[ms_to_steps(g * ts, self.dt) for g in self.gains] for ts in self.intervals], jnp.int32
        )
        i_ts = jax.random.randint(k_ts, (batch_size,), 0, len(self.intervals))
        i_g = jax.random.randint(k_gain, (batch_size,), 0, len(self.gains))
        ready = jax.random.randint(k_ready, (batch_size,), r_lo, r_hi + 1)
        set_ = ready + n_s_set[i_ts]
        n_p = n_p_set[i_ts, i_g]
        gain = jnp.asarray(self.gains, jnp.float32)[i_g]

        t = jnp.arange(self.n_time)[None, :]
        width = ms_to_steps(self.pulse_ms, self.dt)
        ready_pulse = (t >= ready[:, None]) & (t < ready[:, None] + width)
        set_pulse = (t >= set_[:, None]) & (t < set_[:, None] + width)
        cue = jnp.broadcast_to(gain[:, None], (batch_size, self.n_time))
        inputs = jnp.stack(
            [ready_pulse.astype(jnp.float32), set_pulse.astype(jnp.float32), cue], axis=-1
        )
        since_set = (t - set_[:, None]).astype(jnp.float32)
        ramp = jnp.clip(since_set / n_p[:, None].astype(jnp.float32), 0.0, 1.0)
        targets = ramp[..., None]
        return Trials(inputs, targets, jnp.ones_like(targets))

    def analysis_inputs(self) -> jax.Array:
        """One row per gain: no pulse, the tonic gain cue at g, `[len(gains), 3]`."""
        g = jnp.asarray(self.gains, jnp.float32)
        return jnp.stack([jnp.zeros_like(g), jnp.zeros_like(g), g], axis=-1)

    def metric(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        """Timing score per trial `[B]`: 1 − relative error of the produced Go time (see class docstring)."""
        t = jnp.arange(trials.inputs.shape[1])
        set_ = jnp.argmax(trials.inputs[:, :, 1] > 0, axis=1)
        after = t[None, :] > set_[:, None]
        t_target = _first(after & (trials.targets[:, :, 0] >= self.threshold))
        t_out = _first(after & (outputs[:, :, 0] >= self.threshold))
        produced = jnp.maximum(t_target - set_, 1).astype(jnp.float32)
        err = jnp.abs(t_out - t_target).astype(jnp.float32) / produced
        reached = t_out < trials.inputs.shape[1]
        return jnp.where(reached, jnp.clip(1.0 - err, 0.0, 1.0), 0.0)


def _first(hit: jax.Array) -> jax.Array:
    """Index of the first True along axis 1 of `hit [B, T]`, or T where there is none."""
    n_time = hit.shape[1]
    return jnp.where(hit.any(axis=1), jnp.argmax(hit, axis=1), n_time)
