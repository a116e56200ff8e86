"""Linear centred kernel alignment (CKA) between two populations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.compare._registry import GEOMETRY, register_metric
from dynascope.compare.cca import Basis, as_sample_pair, basis_pair, principal_basis


def _frob_cross(a: jax.Array, b: jax.Array) -> jax.Array:
    """‖aᵀb‖_F² for centred `a [n, p]`, `b [n, q]`, through whichever of the two Gram forms is smaller."""
    n, p, q = a.shape[0], a.shape[1], b.shape[1]
    if n * (p + q) < p * q:
        # Few samples and many units: tr(K_a K_b) with n×n Gram matrices costs less than the p×q product.
        return jnp.sum((a @ a.T) * (b @ b.T))
    return jnp.sum((a.T @ b) ** 2)


def cka_similarity(X: jax.Array | np.ndarray | Basis, Y: jax.Array | np.ndarray | Basis) -> jax.Array:
    """Linear CKA in [0, 1] between two sets of states (scalar).

    CKA = ‖YᵀX‖_F² / (‖XᵀX‖_F ‖YᵀY‖_F) on states centred over samples, i.e. the normalised
    Hilbert–Schmidt independence criterion of the linear kernels. Invariant to orthogonal maps and
    isotropic scaling of either set (not to general invertible maps, unlike CCA), and to zero-padded units.

    Args:
        X: states `[conditions, time, units_x]` or `[samples, units_x]`, or their `principal_basis`.
        Y: states with the same samples, `[..., units_y]`, or their `principal_basis`.

    Reference: Kornblith, Norouzi, Lee & Hinton 2019, "Similarity of neural network representations
    revisited" (ICML).
    """
    if isinstance(X, Basis) or isinstance(Y, Basis):
        # With centred X = U S Vᵀ: ‖XᵀY‖_F = ‖S_x U_xᵀ U_y S_y‖_F and ‖XᵀX‖_F = ‖S_x²‖.
        bx, by = basis_pair(X, Y)
        sx, sy = bx.s * bx.rank, by.s * by.rank
        cross = jnp.sum(((bx.u * sx).T @ (by.u * sy)) ** 2)
        return cross / jnp.sqrt(jnp.sum(sx**4) * jnp.sum(sy**4))
    x, y = as_sample_pair(X, Y)
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    return _frob_cross(x, y) / jnp.sqrt(_frob_cross(x, x) * _frob_cross(y, y))


@register_metric(
    "cka", kind=GEOMETRY, units="unitless", prepare=principal_basis,
    description="1 − linear CKA",
    invariant_to="rotations, reflections, isotropic scaling and translation of either network's states",
)
def cka_distance(X: jax.Array | np.ndarray | Basis, Y: jax.Array | np.ndarray | Basis) -> jax.Array:
    """CKA distance 1 − CKA (scalar) between two sets of states over the same samples.

    Args:
        X: states `[conditions, time, units_x]` or `[samples, units_x]`, or their `principal_basis`.
        Y: states with the same samples, `[..., units_y]`, or their `principal_basis`.

    Returns:
        Scalar array in [0, 1].

    Raises:
        As `cka_similarity`.
    """
    return 1.0 - cka_similarity(X, Y)
