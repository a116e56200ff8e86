"""The two-module partition shared by the modular models: which unit belongs to which module, which input
channel drives which module, and the fixed recurrent mask with a controlled fraction of between-module links."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def module_labels(n_hidden: int) -> np.ndarray:
    """Module of each unit `[n_hidden]` (int): module 0 ("A") is the first ⌈n_hidden/2⌉ units, module 1 ("B")
    the rest."""
    return (np.arange(n_hidden) >= (n_hidden + 1) // 2).astype(np.int32)


def stream_labels(n_inputs: int, inputs_a: int | None) -> np.ndarray:
    """Module each input channel drives `[n_inputs]` (int): the first `inputs_a` channels (default
    ⌈n_inputs/2⌉) drive module 0, the others module 1."""
    n_a = (n_inputs + 1) // 2 if inputs_a is None else inputs_a
    return (np.arange(n_inputs) >= n_a).astype(np.int32)


def input_mask(n_hidden: int, n_inputs: int, inputs_a: int | None) -> jax.Array:
    """0/1 float32 mask `[n_hidden, n_inputs]`: 1 where the channel drives the unit's own module."""
    same = module_labels(n_hidden)[:, None] == stream_labels(n_inputs, inputs_a)[None, :]
    return jnp.asarray(same, jnp.float32)


def module_mask(n_hidden: int, inter_fraction: float, *, key: jax.Array) -> jax.Array:
    """0/1 float32 recurrent mask `[n_hidden, n_hidden]` (`[post, pre]`) of a two-module network.

    Every link within a module is kept, and exactly round(`inter_fraction` · n_between) of the
    n_between = 2·n_A·n_B links between the modules, chosen uniformly at random (an exact count, not a
    Bernoulli draw, so that networks of one population have exactly the structural modularity asked for).

    Args:
        n_hidden: hidden units H; module A is the first ⌈H/2⌉ units, module B the rest (`module_labels`).
        inter_fraction: fraction of the between-module links kept, in [0, 1].
        key: JAX PRNG key (keyword-only) choosing which between-module links are kept.

    Returns:
        `[n_hidden, n_hidden]` float32 mask.
    """
    labels = module_labels(n_hidden)
    between = labels[:, None] != labels[None, :]
    n_between = int(between.sum())
    n_keep = int(round(inter_fraction * n_between))
    # Rank the between-module links by a uniform draw and keep the n_keep smallest (a random subset).
    scores = jnp.where(jnp.asarray(between), jax.random.uniform(key, (n_hidden, n_hidden)), jnp.inf)
    order = jnp.argsort(scores.ravel())
    kept = jnp.zeros(n_hidden * n_hidden, bool).at[order[:n_keep]].set(True).reshape(n_hidden, n_hidden)
    return (jnp.asarray(~between) | kept).astype(jnp.float32)
