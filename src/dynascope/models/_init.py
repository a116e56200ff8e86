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
