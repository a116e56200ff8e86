"""Observing latent trajectories through neurons: a random embedding, a link to firing rates, spike counts
per bin (Poisson or Bernoulli) and spike times within the bins.

The draws here happen once, at the edge, on arrays whose shapes change with every recording: they use NumPy's
generator seeded from the JAX `key` (`host_generator`), because JAX's Poisson sampler compiles for seconds for
each new shape, far longer than the draw itself. Same key, same draws.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.data._base import host_generator

#: Link functions from a neuron's drive to its rate relative to the baseline (1 at drive 0).
LINKS = ("softplus", "exp")
#: Spike count models per bin.
SPIKING = ("poisson", "bernoulli")


@dataclasses.dataclass(frozen=True)
class Embedding:
    """A fixed random map from latents `[..., d]` to firing rates `[..., N]` in spikes per second.

    drive = ((latents - mean) / scale) @ weights + offsets; rate = baseline_hz * link(drive) / link(0), so a
    neuron with zero drive fires at `baseline_hz`. `weights [d, N]`, `offsets [N]`, `mean [d]`, `scale [d]`.
    """

    weights: np.ndarray
    offsets: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    baseline_hz: float
    link: str

    @property
    def n_neurons(self) -> int:
        return int(self.weights.shape[1])

    def drive(self, latents: jax.Array) -> jax.Array:
        """The drive `[..., N]` of every neuron for `latents [..., d]`."""
        z = (latents - jnp.asarray(self.mean, latents.dtype)) / jnp.asarray(self.scale, latents.dtype)
        return z @ jnp.asarray(self.weights, latents.dtype) + jnp.asarray(self.offsets, latents.dtype)

    def rates(self, latents: jax.Array) -> jax.Array:
        """Firing rates `[..., N]` in spikes per second for `latents [..., d]`."""
        eta = self.drive(latents)
        if self.link == "exp":
            return self.baseline_hz * jnp.exp(eta)
        return self.baseline_hz * jax.nn.softplus(eta) / math.log(2.0)


def random_embedding(
    latents: jax.Array,
    *,
    key: jax.Array,
    n_neurons: int,
    baseline_hz: float = 10.0,
    gain: float = 1.0,
    offset_std: float = 0.5,
    link: str = "softplus",
) -> Embedding:
    """A random `Embedding` of latents into `n_neurons` neurons.

    Each latent dimension is standardised over all trials and bins (so `gain` means the same for every
    system), weights are N(0, gain² / d) and each neuron's offset N(0, offset_std²) spreads the baselines.

    Args:
        latents: `[trials, T, d]` latent states.
        key: JAX PRNG key (keyword-only) for the weights and offsets.
        n_neurons: neurons N recorded.
        baseline_hz: rate in spikes per second of a neuron at zero drive.
        gain: scale of the weights.
        offset_std: std of each neuron's drive offset.
        link: 'softplus' or 'exp', the map from drive to rate relative to the baseline.

    Returns:
        `Embedding` with `weights [d, N]`, `offsets [N]`, `mean [d]`, `scale [d]`.
    """
    d = latents.shape[-1]
    flat = np.asarray(latents, np.float64).reshape(-1, d)
    mean = flat.mean(axis=0)
    scale = flat.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)  # a constant dimension carries nothing; keep it finite
    rng = host_generator(key)
    weights = rng.standard_normal((d, n_neurons)) * gain / np.sqrt(d)
    offsets = rng.standard_normal(n_neurons) * offset_std
    return Embedding(weights, offsets, mean, scale, float(baseline_hz), link)


def spike_counts(rates: Any, dt: float, *, key: jax.Array, spiking: str = "poisson") -> np.ndarray:
    """Spike counts per bin of `dt` seconds for rates in spikes per second.

    'poisson': counts ~ Poisson(rate · dt). 'bernoulli': at most one spike, with probability
    1 − exp(−rate · dt), the chance that a Poisson process fires at least once in the bin.

    Args:
        rates: `[..., N]` spikes per second.
        dt: bin width in seconds.
        key: JAX PRNG key (keyword-only) for the draws.
        spiking: 'poisson' or 'bernoulli' (any other value counts as 'poisson'; `synthesize` checks it).

    Returns:
        `np.ndarray [..., N]` int32.
    """
    mean = np.asarray(rates, np.float64) * dt
    rng = host_generator(key)
    if spiking == "bernoulli":
        return (rng.random(mean.shape) < -np.expm1(-mean)).astype(np.int32)
    return rng.poisson(mean).astype(np.int32)


def spike_times(counts: np.ndarray, trial_starts: np.ndarray, dt: float, *, key: jax.Array) -> list[np.ndarray]:
    """Spike times in seconds, one sorted float64 array per neuron, for binned counts.

    Bin t of trial b spans [trial_starts[b] + t dt, trial_starts[b] + (t + 1) dt); given its count, a Poisson
    process's spikes in a bin of constant rate lie independently and uniformly in it, so each is placed there.

    Args:
        counts: spike counts `[trials, T, N]`.
        trial_starts: each trial's start in session time, seconds `[trials]`.
        dt: bin width in seconds.
        key: JAX PRNG key (keyword-only) for the positions within the bins.

    Returns:
        N arrays of spike times.
    """
    counts = np.asarray(counts)
    n_trials, n_time, n_neurons = counts.shape
    # Every spike's (neuron, trial, bin), neuron-major so each neuron's spikes are one contiguous block.
    per_bin = np.moveaxis(counts, 2, 0).reshape(-1)
    index = np.repeat(np.arange(per_bin.size), per_bin)
    neuron, rest = np.divmod(index, n_trials * n_time)
    trial, step = np.divmod(rest, n_time)
    where = host_generator(key).random(index.size)
    times = np.asarray(trial_starts, np.float64)[trial] + (step + where) * dt
    bounds = np.searchsorted(neuron, np.arange(n_neurons + 1))
    return [np.sort(times[bounds[n] : bounds[n + 1]]) for n in range(n_neurons)]
