"""A synthetic recording: a ground-truth system simulated, observed through neurons, with its trials table."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from dynascope._registry import Option, check_value
from dynascope.data._base import GroundTruthSystem, Skeleton
from dynascope.data._registry import get_system
from dynascope.data.recording import TrialRecording
from dynascope.data.observation import LINKS, SPIKING, Embedding, random_embedding, spike_counts, spike_times
from dynascope.errors import ConfigError, check_positive_int


@dataclasses.dataclass(frozen=True, kw_only=True, repr=False)
class SyntheticRecording(TrialRecording):
    """A `TrialRecording` whose mechanism is known: everything it holds, as NumPy arrays.

    Besides the recording's own `counts`, `labels` (the trials table's `condition`), `inputs`, `bin_width` and
    `source`: `latents [trials, T, d]` (state at the end of each bin), `rates [trials, T, N]` spikes per
    second, `spike_times` one sorted array per neuron in session seconds, `trials` the trials table
    `{column: [trials]}` (`start_time`, `stop_time`, `condition` and the system's other condition columns),
    `skeleton` and `embedding` the ground truth, `system` its registered name and `options` its option values.
    """

    system: str
    options: dict[str, Any]
    latents: np.ndarray
    rates: np.ndarray
    spike_times: tuple[np.ndarray, ...]
    trials: dict[str, np.ndarray]
    skeleton: Skeleton
    embedding: Embedding


def _check_number(name: str, value: Any, **bounds: float) -> float:
    return check_value("synthesize", name, value, float, Option(**bounds))


def synthesize(
    system: GroundTruthSystem | str,
    *,
    key: jax.Array,
    n_trials: int,
    n_neurons: int,
    baseline_hz: float = 10.0,
    gain: float = 1.0,
    link: str = "softplus",
    spiking: str = "poisson",
    inter_trial: float = 0.5,
) -> SyntheticRecording:
    """Simulate `n_trials` trials of a ground-truth system and record them from `n_neurons` neurons.

    The latents go through a `random_embedding` to rates, then to spike counts per bin and spike times
    within the bins. Trials lie one after another in session time, `inter_trial` seconds apart. The CtDB
    design: a recording from a system whose mechanism is known.

    Args:
        system: a `GroundTruthSystem`, or a registered name built with its defaults.
        key: JAX PRNG key (keyword-only), split between simulation, embedding, counts and spike times.
        n_trials: trials simulated (≥ 1).
        n_neurons: neurons recorded (≥ 1).
        baseline_hz: rate at zero drive, spikes per second (> 0).
        gain: scale of the embedding weights (≥ 0).
        link: 'softplus' or 'exp' (see `random_embedding`).
        spiking: 'poisson' or 'bernoulli' (see `spike_counts`).
        inter_trial: seconds between trials (≥ 0).

    Returns:
        `SyntheticRecording` (latents, inputs, rates, counts, spike times, trial table, skeleton,
        embedding).

    Raises:
        UnknownNameError: an unknown system name; ConfigError: any option out of range, or a `gain` that
        drives the rates past floating point.

    Reference: Versteeg, Sedler, McCart & Pandarinath 2023 (CtDB).
    """
    if isinstance(system, str):
        system = get_system(system)
    if not isinstance(system, GroundTruthSystem):
        raise ConfigError(f"system must be a registered system name or a GroundTruthSystem, got "
                          f"{type(system).__name__}; see dynascope.data.system_names().")
    n_trials = check_positive_int("n_trials", n_trials)
    n_neurons = check_positive_int("n_neurons", n_neurons)
    baseline_hz = _check_number("baseline_hz", baseline_hz, gt=0)
    gain = _check_number("gain", gain, ge=0)
    inter_trial = _check_number("inter_trial", inter_trial, ge=0)
    for name, value, allowed in (("link", link, LINKS), ("spiking", spiking, SPIKING)):
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}.")
    k_sim, k_embed, k_count, k_time = jax.random.split(key, 4)
    latents = system.simulate(key=k_sim, n_trials=n_trials)
    embedding = random_embedding(latents.states, key=k_embed, n_neurons=n_neurons, baseline_hz=baseline_hz,
                                 gain=gain, link=link)
    rates = embedding.rates(latents.states)
    if not np.isfinite(np.asarray(rates)).all():
        raise ConfigError(f"gain={gain} with link={link!r} drives rates past floating point; use a smaller "
                          "gain (e.g. 1) or link='softplus'.")
    counts = np.asarray(spike_counts(rates, system.dt, key=k_count, spiking=spiking))
    duration = system.n_time * system.dt
    starts = np.arange(n_trials) * (duration + inter_trial)
    trials = {"start_time": starts, "stop_time": starts + duration, **latents.conditions}
    times = spike_times(counts, starts, system.dt, key=k_time)
    return SyntheticRecording(
        counts=counts, labels=np.asarray([str(c) for c in trials["condition"]]), inputs=np.asarray(latents.inputs),
        bin_width=float(system.dt), source=f"synthetic:{system.name}", system=system.name, options=system.options(),
        latents=np.asarray(latents.states), rates=np.asarray(rates), spike_times=tuple(times), trials=trials,
        skeleton=system.skeleton(), embedding=embedding)
