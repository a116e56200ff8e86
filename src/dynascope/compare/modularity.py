"""Newman's modularity Q of a network's weight matrix for a given partition of its units into modules."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.compare._checks import check_finite, is_concrete
from dynascope.errors import ConfigError, ShapeError


def modularity(
    weights: jax.Array | np.ndarray,
    modules: jax.Array | np.ndarray,
    *,
    directed: bool = True,
    resolution: float = 1.0,
) -> jax.Array:
    """Newman's modularity Q (scalar) of the graph whose edge j → i has weight |weights[i, j]|.

    The graph is weighted by the absolute value of each connection (an inhibitory synapse is as much a
    link as an excitatory one; Q is defined for nonnegative weights), self-connections included.

    - `directed=True` (Leicht & Newman 2008): Q = (1/m) Σ_ij [A_ij − γ k_i^in k_j^out / m] δ(c_i, c_j),
      with A_ij = |weights[i, j]|, k^in / k^out the weighted in- and out-degrees and m = Σ_ij A_ij. It is
      unchanged by transposing `weights`, so it does not matter which index is pre- and which postsynaptic.
    - `directed=False`: the graph symmetrised, A = (|W| + |W|ᵀ)/2, and Newman's undirected Q =
      (1/2m) Σ_ij [A_ij − γ k_i k_j / 2m] δ(c_i, c_j), with a self-loop counted twice in its unit's degree
      (NetworkX's convention), so both forms equal `networkx.algorithms.community.modularity` on the
      same graph.

    Q lies in [−1/2, 1): 0 when connections fall within modules as often as a random graph with the same
    degrees would put them there, larger when they fall within modules more often. For two equal modules,
    all within-module connections present (self-connections too) and a fraction p of the between-module
    ones, the directed Q = 1/(1+p) − 1/2.

    Args:
        weights: `[n_units, n_units]` weight (or 0/1 connectivity) matrix, `weights[i, j]` from unit j to i.
        modules: `[n_units]` integer module label of each unit (any labels; only equality matters).
        directed: the directed form (default) or that of the symmetrised graph.
        resolution: γ, the weight of the null model (1: Newman's Q).

    Returns: Q, a float scalar in the dtype of `weights` (floating).

    References: Newman 2006, "Modularity and community structure in networks", PNAS; Leicht & Newman
    2008, "Community structure in directed networks", Phys. Rev. Lett.
    """
    w = jnp.abs(jnp.asarray(weights))
    if not jnp.issubdtype(w.dtype, jnp.floating):
        w = w.astype(jnp.float32)
    labels = jnp.asarray(modules)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ShapeError(f"weights must be a square matrix [n_units, n_units], got shape {tuple(w.shape)}.")
    if labels.shape != (w.shape[0],):
        raise ShapeError(
            f"modules must hold one label per unit, shape ({w.shape[0]},), got shape {tuple(labels.shape)}."
        )
    check_finite(weights, "weights")
    if is_concrete(w) and float(w.sum()) == 0.0:
        raise ConfigError("weights has no nonzero connection, and Q of an empty graph is undefined (0/0).")
    same = (labels[:, None] == labels[None, :]).astype(w.dtype)
    if directed:
        m = w.sum()
        k_in, k_out = w.sum(axis=1), w.sum(axis=0)
        return jnp.sum((w - resolution * jnp.outer(k_in, k_out) / m) * same) / m
    a = (w + w.T) / 2
    # A self-loop adds twice its weight to its unit's degree (both ends lie on the unit).
    k = a.sum(axis=1) + jnp.diagonal(a)
    two_m = k.sum()
    # Σ_ij A_ij δ counts an off-diagonal edge twice (ij and ji); a self-loop is counted twice as well.
    within = jnp.sum(a * same) + jnp.sum(jnp.diagonal(a))
    return (within - resolution * jnp.sum(jnp.outer(k, k) * same) / two_m) / two_m
