"""Canonical correlation analysis (CCA) and singular-vector CCA (SVCCA) between two populations.

Every metric here takes two sets of states, `X: [conditions, time, units_x]` or already flattened
`X: [samples, units_x]` (conditions × time are flattened into samples), and `Y` with the same samples
and possibly a different number of units. Both are centred over samples and reduced to their
orthonormal principal basis (`principal_basis`), so zero-padded units and rank deficiency change
nothing. CCA is also unchanged by any invertible linear map of either set; SVCCA, which first drops
low-variance components, only by orthogonal maps and scaling.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.compare._checks import check_finite, check_not_empty, warn_few_samples
from dynascope.compare._registry import GEOMETRY, register_metric
from dynascope.errors import ConfigError, ShapeError


def as_samples(x: jax.Array | np.ndarray, name: str = "X") -> jax.Array:
    """Return states `[conditions, time, units]` or `[samples, units]` as a float array `[samples, units]`.

    The boundary check of every geometry metric: ShapeError for a wrong rank or an empty set (fewer than
    2 samples or no unit), DataError for NaN/inf (concrete arrays only), and `FewSamplesWarning` below
    `MIN_SAMPLES_PER_UNIT` samples per unit (see `dynascope.compare._checks`).
    """
    x = jnp.asarray(x)
    if x.ndim not in (2, 3):
        raise ShapeError(
            f"{name} must be states [conditions, time, units] or [samples, units], got an array of "
            f"shape {tuple(x.shape)}; reshape it to one of those."
        )
    check_finite(x, name)  # before flattening, so the reported index is the caller's
    if x.ndim == 3:
        x = x.reshape(x.shape[0] * x.shape[1], x.shape[2])
    check_not_empty(tuple(x.shape), name)
    warn_few_samples(x.shape[0], x.shape[1], name)
    if not jnp.issubdtype(x.dtype, jnp.floating) or x.dtype.itemsize < 4:
        x = x.astype(jnp.float32)
    return x


def as_sample_pair(
    x: jax.Array | np.ndarray, y: jax.Array | np.ndarray
) -> tuple[jax.Array, jax.Array]:
    """Flatten both sets to `[samples, units]`, check their sample counts agree, give them one float dtype."""
    x, y = as_samples(x, "X"), as_samples(y, "Y")
    if x.shape[0] != y.shape[0]:
        raise ShapeError(
            f"X and Y must hold the same samples (conditions × time) in the same order, got "
            f"{x.shape[0]} samples in X and {y.shape[0]} in Y; record both on the same trials."
        )
    # Strict dtype promotion forbids mixing float32 and float64, so cast to the wider one explicitly.
    dtype = x.dtype if x.dtype.itemsize >= y.dtype.itemsize else y.dtype
    return x.astype(dtype), y.astype(dtype)


class Basis(NamedTuple):
    """Principal basis of one set of centred states, as returned by `principal_basis` (a pytree).

    `u [samples, k]` orthonormal left singular vectors, `s [k]` singular values in decreasing order,
    `rank [k]` 1 where `s` is numerically non-zero; `k = min(samples, units)`.
    """

    u: jax.Array
    s: jax.Array
    rank: jax.Array


def principal_basis(X: jax.Array | np.ndarray) -> Basis:
    """The `Basis` of states `[conditions, time, units]` or `[samples, units]`, centred over samples.

    Every geometry metric of this package (CCA, SVCCA, CKA, shape and Procrustes distances) accepts a
    `Basis` in place of the states, so over a population the decomposition runs once per network:
    `pairwise_distances(cca_distance, Xs, prepare=principal_basis)`.

    Args:
        X: states `[conditions, time, units]` or `[samples, units]`.

    Returns:
        `Basis(u [samples, k], s [k], rank [k])` with `k = min(samples, units)`.

    Raises:
        ShapeError: a wrong rank or an empty set; DataError: NaN/inf in `X`.
    """
    return _basis(as_samples(X))


def _basis(x: jax.Array) -> Basis:
    """`principal_basis` of checked states `x [samples, units]`."""
    xc = x - x.mean(axis=0)
    # QR first: on tall matrices a QR plus a small k×k SVD is much cheaper than a tall SVD, on CPU and GPU.
    q, r = jnp.linalg.qr(xc)
    ur, s, _ = jnp.linalg.svd(r, full_matrices=False)
    tol = s[0] * max(x.shape) * jnp.finfo(x.dtype).eps
    return Basis(q @ ur, s, (s > tol).astype(x.dtype))


def basis_pair(
    X: jax.Array | np.ndarray | Basis, Y: jax.Array | np.ndarray | Basis
) -> tuple[Basis, Basis]:
    """Principal bases of two sets of states (or the bases themselves), checked to share samples and dtype."""
    xs = X if isinstance(X, Basis) else as_samples(X, "X")
    ys = Y if isinstance(Y, Basis) else as_samples(Y, "Y")
    n_x = xs.u.shape[0] if isinstance(xs, Basis) else xs.shape[0]
    n_y = ys.u.shape[0] if isinstance(ys, Basis) else ys.shape[0]
    if n_x != n_y:
        raise ShapeError(
            f"X and Y must hold the same samples (conditions × time) in the same order, got "
            f"{n_x} samples in X and {n_y} in Y; record both on the same trials."
        )
    dx = xs.u.dtype if isinstance(xs, Basis) else xs.dtype
    dy = ys.u.dtype if isinstance(ys, Basis) else ys.dtype
    dtype = dx if dx.itemsize >= dy.itemsize else dy

    def to_basis(z: jax.Array | Basis) -> Basis:
        if isinstance(z, Basis):
            return Basis(*(leaf.astype(dtype) for leaf in z))
        return _basis(z.astype(dtype))

    if isinstance(xs, Basis) or isinstance(ys, Basis):
        return to_basis(xs), to_basis(ys)
    # One batched decomposition of both sets rather than two independent ones. Besides saving a
    # dispatch, it keeps XLA:CPU from running two batched LAPACK calls at once (as it would under
    # vmap), which deadlocks its thread pool when it has as many workers as concurrent calls.
    width = max(xs.shape[1], ys.shape[1])
    both = jnp.stack([jnp.pad(z.astype(dtype), ((0, 0), (0, width - z.shape[1]))) for z in (xs, ys)])
    u, s, rank = jax.vmap(_basis)(both)
    return Basis(u[0], s[0], rank[0]), Basis(u[1], s[1], rank[1])


def _keep_mask(s: jax.Array, rank_mask: jax.Array, keep: float | int | None) -> jax.Array:
    """Components kept: the whole rank, the top `keep` (int) or a fraction `keep` of the variance (float)."""
    if keep is None:
        return rank_mask
    if isinstance(keep, int):
        return rank_mask * (jnp.arange(s.shape[0], dtype=s.dtype) < keep).astype(s.dtype)
    var = (s * rank_mask) ** 2
    before = jnp.cumsum(var) - var
    return rank_mask * (before < keep * var.sum()).astype(s.dtype)


def _check_keep(keep: float | int) -> float | int:
    if isinstance(keep, (np.integer, np.floating)):
        keep = keep.item()
    if isinstance(keep, bool) or not isinstance(keep, (int, float)):
        raise ConfigError(
            f"keep must be a number of components (int >= 1) or a variance fraction (float in (0, 1]), "
            f"got {keep!r}."
        )
    if isinstance(keep, int) and keep < 1:
        raise ConfigError(f"keep must be at least 1 component, got {keep}; pass e.g. keep=10 or keep=0.99.")
    if isinstance(keep, float) and not 0.0 < keep <= 1.0:
        raise ConfigError(
            f"keep as a variance fraction must lie in (0, 1], got {keep}; pass e.g. keep=0.99, "
            f"or an int for a fixed number of components."
        )
    return keep


def _check_eps(eps: float) -> None:
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not eps >= 0.0:
        raise ConfigError(f"eps must be a non-negative ridge, got {eps!r}; the default 1e-6 suits most data.")


def _canonical(
    x: jax.Array | np.ndarray | Basis, y: jax.Array | np.ndarray | Basis, eps: float, keep: float | int | None
) -> tuple[jax.Array, jax.Array]:
    """Canonical correlations (descending) and how many of them are meaningful."""
    (ux, sx, rx), (uy, sy, ry) = basis_pair(x, y)
    mx, my = _keep_mask(sx, rx, keep), _keep_mask(sy, ry, keep)

    def shrink(s: jax.Array, m: jax.Array) -> jax.Array:
        # Ridge on the covariance, relative to its mean kept eigenvalue: λ -> λ + eps·mean(λ).
        lam = s**2
        mean = (lam * m).sum() / jnp.maximum(m.sum(), 1.0)
        return m * jnp.sqrt(lam / (lam + eps * mean + jnp.finfo(s.dtype).tiny))

    fx, fy = shrink(sx, mx), shrink(sy, my)
    rho = jnp.linalg.svd((ux * fx).T @ (uy * fy), compute_uv=False)
    k = jnp.minimum(mx.sum(), my.sum())
    return rho, k


def _mean_of_top(rho: jax.Array, k: jax.Array) -> jax.Array:
    top = (jnp.arange(rho.shape[0], dtype=rho.dtype) < k).astype(rho.dtype)
    return (rho * top).sum() / jnp.maximum(k, 1.0)


def cca_correlations(
    X: jax.Array | np.ndarray | Basis, Y: jax.Array | np.ndarray | Basis, *, eps: float = 1e-6
) -> jax.Array:
    """Canonical correlations between two sets of states, in decreasing order.

    Args:
        X: states `[conditions, time, units_x]` or `[samples, units_x]`, or their `principal_basis`.
        Y: states with the same samples, `[..., units_y]`, or their `principal_basis`.
        eps: ridge added to each covariance eigenvalue, relative to the mean eigenvalue.

    Returns:
        `rho [min(samples, units_x, units_y)]`; entries beyond the smaller rank are ~0.

    Reference: Hotelling 1936; the SVD form used here is that of Raghu et al. 2017.
    """
    _check_eps(eps)
    rho = _canonical(X, Y, eps, None)[0]
    # Both sets were decomposed at the larger width; the padded directions carry no correlation.
    width = [z.s.shape[0] if isinstance(z, Basis) else jnp.shape(z)[-1] for z in (X, Y)]
    return rho[: min(width)]


def cca_similarity(
    X: jax.Array | np.ndarray | Basis, Y: jax.Array | np.ndarray | Basis, *, eps: float = 1e-6
) -> jax.Array:
    """Mean canonical correlation ρ̄ in [0, 1] over the smaller of the two ranks (scalar).

    Invariant to any invertible linear map of either set of states.

    Args:
        X: states `[conditions, time, units_x]` or `[samples, units_x]`, or their `principal_basis`.
        Y: states with the same samples, `[..., units_y]`, or their `principal_basis`.
        eps: ridge added to each covariance eigenvalue, relative to the mean eigenvalue (≥ 0).

    Returns:
        Scalar array ρ̄.

    Raises:
        ShapeError: a wrong rank, an empty set, or different sample counts; DataError: NaN/inf in the
        states; ConfigError: `eps` negative or not a number.

    Reference: Hotelling 1936.
    """
    _check_eps(eps)
    return _mean_of_top(*_canonical(X, Y, eps, None))


@register_metric(
    "cca", kind=GEOMETRY, units="unitless", prepare=principal_basis,
    description="1 − mean canonical correlation",
    invariant_to="any invertible linear map of either network's states (and translation)",
)
def cca_distance(
    X: jax.Array | np.ndarray | Basis, Y: jax.Array | np.ndarray | Basis, *, eps: float = 1e-6
) -> jax.Array:
    """CCA distance 1 − ρ̄ (scalar), with ρ̄ the mean canonical correlation of `cca_similarity`.

    Args:
        X: states `[conditions, time, units_x]` or `[samples, units_x]`, or their `principal_basis`.
        Y: states with the same samples, `[..., units_y]`, or their `principal_basis`.
        eps: ridge added to each covariance eigenvalue, relative to the mean eigenvalue (≥ 0).

    Returns:
        Scalar array in [0, 1].

    Raises:
        As `cca_similarity`.

    Reference: Hotelling 1936.
    """
    return 1.0 - cca_similarity(X, Y, eps=eps)


def svcca_similarity(
    X: jax.Array | np.ndarray | Basis,
    Y: jax.Array | np.ndarray | Basis,
    *,
    keep: float | int = 0.99,
    eps: float = 1e-6,
) -> jax.Array:
    """SVCCA: mean canonical correlation after keeping each set's top principal components (scalar).

    Args:
        X: states `[conditions, time, units_x]` or `[samples, units_x]`, or their `principal_basis`.
        Y: states with the same samples, `[..., units_y]`, or their `principal_basis`.
        keep: a float in (0, 1] keeps the fewest components explaining that fraction of the variance;
            an int keeps that many components.
        eps: ridge relative to the mean kept covariance eigenvalue.

    Reference: Raghu, Gilmer, Yosinski & Sohl-Dickstein 2017, "SVCCA".
    """
    keep = _check_keep(keep)
    _check_eps(eps)
    return _mean_of_top(*_canonical(X, Y, eps, keep))


@register_metric(
    "svcca", kind=GEOMETRY, units="unitless", prepare=principal_basis,
    description="1 − mean canonical correlation of the top principal components",
    invariant_to="rotations, reflections, isotropic scaling and translation of either network's states",
)
def svcca_distance(
    X: jax.Array | np.ndarray | Basis,
    Y: jax.Array | np.ndarray | Basis,
    *,
    keep: float | int = 0.99,
    eps: float = 1e-6,
) -> jax.Array:
    """SVCCA distance 1 − (mean canonical correlation of the top principal components), scalar.

    Args:
        X: states `[conditions, time, units_x]` or `[samples, units_x]`, or their `principal_basis`.
        Y: states with the same samples, `[..., units_y]`, or their `principal_basis`.
        keep: a float in (0, 1] keeps the fewest components explaining that fraction of the variance;
            an int keeps that many components.
        eps: ridge relative to the mean kept covariance eigenvalue (≥ 0).

    Returns:
        Scalar array in [0, 1].

    Raises:
        As `svcca_similarity`: ShapeError/DataError for the states, ConfigError for `keep` or `eps`.

    Reference: Raghu, Gilmer, Yosinski & Sohl-Dickstein 2017, "SVCCA".
    """
    return 1.0 - svcca_similarity(X, Y, keep=keep, eps=eps)
