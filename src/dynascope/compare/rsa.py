"""Representational similarity analysis (RSA): compare condition-by-condition dissimilarity matrices."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.compare._checks import check_finite
from dynascope.compare._registry import GEOMETRY, register_metric
from dynascope.errors import ConfigError, ShapeError

DISSIMILARITIES = ("correlation", "euclidean")
COMPARISONS = ("spearman", "pearson")
TIME_MODES = ("flatten", "mean")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}.")


def _responses(x: jax.Array | np.ndarray, time: str, name: str) -> jax.Array:
    """One response vector per condition: `[conditions, features]`; ShapeError if empty, DataError if
    not finite (checked on concrete arrays only)."""
    x = jnp.asarray(x)
    if x.ndim not in (2, 3):
        raise ShapeError(
            f"{name} must be responses [conditions, time, units] or [conditions, units], got shape "
            f"{tuple(x.shape)}."
        )
    if x.size == 0:
        raise ShapeError(
            f"{name} is empty (shape {tuple(x.shape)}); pass the responses of at least one condition, "
            f"time step and unit."
        )
    check_finite(x, name)
    if not jnp.issubdtype(x.dtype, jnp.floating) or x.dtype.itemsize < 4:
        x = x.astype(jnp.float32)
    if x.ndim == 3:
        return x.mean(axis=1) if time == "mean" else x.reshape(x.shape[0], -1)
    return x


def rdm(
    X: jax.Array | np.ndarray, *, dissimilarity: str = "correlation", time: str = "flatten"
) -> jax.Array:
    """Representational dissimilarity matrix `[conditions, conditions]` (symmetric, zero diagonal).

    Args:
        X: responses `[conditions, time, units]` or `[conditions, units]`.
        dissimilarity: 'correlation' (1 − Pearson r between two conditions' response vectors, as
            `scipy.spatial.distance.pdist(..., 'correlation')`) or 'euclidean'.
        time: for 3-D input, 'flatten' concatenates the time steps of a condition into one response
            vector; 'mean' averages them first.

    Reference: Kriegeskorte, Mur & Bandettini 2008, "Representational similarity analysis".
    """
    _check_choice("dissimilarity", dissimilarity, DISSIMILARITIES)
    _check_choice("time", time, TIME_MODES)
    return _rdm(_responses(X, time, "X"), dissimilarity)


def _rdm(r: jax.Array, dissimilarity: str) -> jax.Array:
    """`rdm` of checked responses `r [conditions, features]`."""
    if dissimilarity == "correlation":
        r = r - r.mean(axis=1, keepdims=True)
        r = r / jnp.linalg.norm(r, axis=1, keepdims=True)
        d = 1.0 - r @ r.T
    else:
        sq = (r**2).sum(axis=1)
        d = jnp.sqrt(jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * r @ r.T, 0.0))
    return d * (1.0 - jnp.eye(d.shape[0], dtype=d.dtype))


def _average_ranks(v: jax.Array) -> jax.Array:
    """Ranks 1..n of `v [n]`, ties given their average rank (as `scipy.stats.rankdata`)."""
    s = jnp.sort(v)
    lo = jnp.searchsorted(s, v, side="left").astype(v.dtype)
    hi = jnp.searchsorted(s, v, side="right").astype(v.dtype)
    return (lo + hi + 1.0) / 2.0


def _pearson(a: jax.Array, b: jax.Array) -> jax.Array:
    a, b = a - a.mean(), b - b.mean()
    return (a @ b) / jnp.sqrt((a @ a) * (b @ b))


def rsa_similarity(
    X: jax.Array | np.ndarray,
    Y: jax.Array | np.ndarray,
    *,
    dissimilarity: str = "correlation",
    compare: str = "spearman",
    time: str = "flatten",
) -> jax.Array:
    """Correlation ρ in [−1, 1] between the upper triangles of the two sets' RDMs (scalar).

    Args:
        X: responses `[conditions, time, units_x]` or `[conditions, units_x]`.
        Y: responses to the same conditions, `[conditions, ..., units_y]`.
        dissimilarity: 'correlation' or 'euclidean' (see `rdm`).
        compare: 'spearman' (rank correlation, ties averaged) or 'pearson'.
        time: 'flatten' or 'mean' (see `rdm`).

    With dissimilarity='correlation' the RDM depends on the number of units (zero-padded units shift
    every row mean), so compare unpadded populations; 'euclidean' is unaffected by zero padding.

    Reference: Kriegeskorte, Mur & Bandettini 2008.
    """
    _check_choice("compare", compare, COMPARISONS)
    _check_choice("dissimilarity", dissimilarity, DISSIMILARITIES)
    _check_choice("time", time, TIME_MODES)
    rx, ry = _responses(X, time, "X"), _responses(Y, time, "Y")
    n_x, n_y = rx.shape[0], ry.shape[0]
    if n_x != n_y:
        raise ShapeError(
            f"X and Y must hold responses to the same conditions, got {n_x} conditions in X and {n_y} in Y."
        )
    if n_x < 3:
        raise ShapeError(f"RSA needs at least 3 conditions to correlate dissimilarities, got {n_x}.")
    dx, dy = _rdm(rx, dissimilarity), _rdm(ry, dissimilarity)
    dtype = dx.dtype if dx.dtype.itemsize >= dy.dtype.itemsize else dy.dtype
    iu = np.triu_indices(n_x, k=1)
    a, b = dx[iu].astype(dtype), dy[iu].astype(dtype)
    if compare == "spearman":
        a, b = _average_ranks(a), _average_ranks(b)
    return _pearson(a, b)


def rsa_distance(
    X: jax.Array | np.ndarray,
    Y: jax.Array | np.ndarray,
    *,
    dissimilarity: str = "correlation",
    compare: str = "spearman",
    time: str = "flatten",
) -> jax.Array:
    """RSA distance 1 − ρ in [0, 2] (scalar), with ρ the RDM correlation of `rsa_similarity`.

    Args:
        X: responses `[conditions, time, units_x]` or `[conditions, units_x]`.
        Y: responses to the same conditions, `[conditions, ..., units_y]`.
        dissimilarity: 'correlation' or 'euclidean' (see `rdm`).
        compare: 'spearman' (rank correlation, ties averaged) or 'pearson'.
        time: 'flatten' or 'mean' (see `rdm`).

    Returns:
        Scalar array.

    Raises:
        As `rsa_similarity`: ConfigError for an unknown option, ShapeError for fewer than 3 conditions
        or different condition counts.

    Reference: Kriegeskorte, Mur & Bandettini 2008.
    """
    return 1.0 - rsa_similarity(X, Y, dissimilarity=dissimilarity, compare=compare, time=time)


# Euclidean RDMs in the study: zero-padded units (networks of different sizes) leave them unchanged, and a
# dissimilarity matrix needs at least 3 conditions to have a rank correlation.
register_metric(
    "rsa", kind=GEOMETRY, units="unitless", min_trials=3,
    description="1 − Spearman correlation of the dissimilarity matrices",
    invariant_to="any distance-preserving map of the states (rotations, reflections, translation) and "
                 "monotonic changes of the dissimilarities",
)(functools.partial(rsa_distance, dissimilarity="euclidean"))
