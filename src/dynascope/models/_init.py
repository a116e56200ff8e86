"""Recurrent weight initialisations from the literature, shared by the rate models."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def recurrent_matrix(key: jax.Array, n: int, kind: str, gain: float) -> jax.Array:
    """An `[n, n]` float32 recurrent matrix.

    'normal': entries N(0, gain²/n), spectral radius ≈ gain (Sompolinsky, Crisanti & Sommers 1988);
    'orthogonal': gain·Q with Q Haar-orthogonal (Saxe, McClelland & Ganguli 2014);
    'identity': gain·I (Le, Jaitly & Hinton 2015).
    """
    if kind == "normal":
        return gain * jax.random.normal(key, (n, n)) / jnp.sqrt(n)
    if kind == "orthogonal":
        return gain * jax.nn.initializers.orthogonal()(key, (n, n), jnp.float32)
    if kind == "identity":
        return gain * jnp.eye(n)
    raise ValueError(kind)


def uniform(key: jax.Array, shape: tuple[int, ...], bound: float) -> jax.Array:
    """float32 entries U(−bound, bound): PyTorch's RNN/GRU/LSTM init with bound = 1/√H."""
    return jax.random.uniform(key, shape, jnp.float32, -bound, bound)


def input_matrix(key: jax.Array, n: int, n_inputs: int) -> jax.Array:
    """An `[n, n_inputs]` float32 input matrix with entries N(0, 1/n_inputs), so each unit's drive is O(1)."""
    return jax.random.normal(key, (n, n_inputs)) / jnp.sqrt(n_inputs)


def readout_matrix(key: jax.Array, n_outputs: int, n: int) -> jax.Array:
    """An `[n_outputs, n]` float32 readout with entries N(0, 1/n), so outputs are O(1) for O(1) activity."""
    return jax.random.normal(key, (n_outputs, n)) / jnp.sqrt(n)
