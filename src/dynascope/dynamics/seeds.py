"""Initial states for the fixed-point search: states the network visits, and points between attractors."""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from dynascope._compile import once
from dynascope.errors import ConfigError, ShapeError, check_positive_int


def sample_initial_states(states: jax.Array, n: int, *, key: jax.Array, noise_std: float = 0.0) -> jax.Array:
    """Draw `n` initial states `[n, S]` from the visited `states [..., S]` (e.g. `[B, T, S]` from `model.run`).

    Picks visited states uniformly (without replacement when there are at least `n`) and adds Gaussian
    noise of standard deviation `noise_std`, the seeding of Sussillo & Barak 2013 and Golub & Sussillo 2018.

    Args:
        states: visited states `[..., S]`.
        n: how many initial states to draw.
        key: JAX PRNG key (keyword-only): which states are picked and the noise.
        noise_std: std of the Gaussian noise added to each picked state (≥ 0).

    Returns:
        `[n, S]`, the dtype of `states`.

    Raises:
        ShapeError: `states` is not `[..., S]` with S ≥ 1; ConfigError: `n` or `noise_std` out of range.
    """
    states = jnp.asarray(states)
    if states.ndim < 2 or states.shape[-1] == 0 or states.size == 0:
        raise ShapeError(
            f"states must be visited states [..., S] (e.g. [B, T, S] from model.run), got shape {states.shape}."
        )
    n = check_positive_int("n", n)
    if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)) or not noise_std >= 0:
        raise ConfigError(f"noise_std must be a number ≥ 0 (the std of the noise added to seeds), got {noise_std!r}.")
    return _sample(key, states.reshape(-1, states.shape[-1]), float(noise_std), n=n)


@functools.partial(once, static_argnames=("n",))
def _sample(key: jax.Array, flat: jax.Array, noise_std: jax.Array, *, n: int) -> jax.Array:
    k_pick, k_noise = jax.random.split(key)
    idx = jax.random.choice(k_pick, flat.shape[0], (n,), replace=n > flat.shape[0])
    picked = flat[idx]
    return picked + (noise_std * jax.random.normal(k_noise, picked.shape, picked.dtype)).astype(picked.dtype)


def saddle_seeds(stable_states: np.ndarray, n_per_pair: int = 1, max_neighbours: int | None = None) -> np.ndarray:
    """Points on the segments between pairs of stable fixed points, as extra initial states for saddles.

    Each pair contributes `n_per_pair` evenly spaced interior points (1: the midpoint). The saddles that
    separate two basins lie between the attractors, where trajectory seeds rarely go; in the N-bit
    flip-flop the midpoint of two corners that differ in k bits is the index-k saddle.

    Args:
        stable_states: stable fixed points `[M, S]`.
        n_per_pair: interior points per pair (≥ 1).
        max_neighbours: pair each point only with that many nearest others (None: all pairs).

    Returns:
        `np.ndarray [P·n_per_pair, S]` for the P pairs, in the dtype of `stable_states`; `[0, S]` when
        there are fewer than two stable points.

    Raises:
        ShapeError: `stable_states` not `[M, S]`; ConfigError: `n_per_pair` or `max_neighbours` not a
        positive integer.
    """
    stable = np.asarray(stable_states)
    if stable.ndim != 2:
        raise ShapeError(f"stable_states must be [M, S], got shape {stable.shape}.")
    n_per_pair = check_positive_int("n_per_pair", n_per_pair)
    m = stable.shape[0]
    if m < 2:
        return np.zeros((0, stable.shape[1]), stable.dtype)
    if max_neighbours is None or check_positive_int("max_neighbours", max_neighbours) >= m - 1:
        pairs = np.array(list(itertools.combinations(range(m), 2)))
    else:
        dist = np.linalg.norm(stable[:, None, :] - stable[None, :, :], axis=-1)
        np.fill_diagonal(dist, np.inf)
        near = np.argsort(dist, axis=1)[:, :max_neighbours]
        pairs = np.unique(np.sort(np.stack([np.repeat(np.arange(m), max_neighbours), near.ravel()], 1), axis=1), axis=0)
    t = (np.arange(1, n_per_pair + 1) / (n_per_pair + 1)).astype(stable.dtype)
    a, b = stable[pairs[:, 0]], stable[pairs[:, 1]]
    points = a[:, None, :] + t[None, :, None] * (b - a)[:, None, :]
    return points.reshape(-1, stable.shape[1])
