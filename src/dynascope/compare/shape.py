"""Procrustes and generalized shape metrics: distances between populations after optimal alignment.

`shape_distance` is the angular shape metric of Williams, Kunz, Kornblith & Linderman 2021: each set
of states is centred, partially whitened with a parameter α, and the two are compared after the best
orthogonal alignment. It is a true metric (symmetric, triangle inequality), so distance matrices over a
population can be embedded and clustered without distortion.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.compare._registry import GEOMETRY, register_metric
from dynascope.compare.cca import Basis, as_sample_pair, basis_pair, principal_basis
from dynascope.errors import ConfigError, ShapeError


def _nuclear(m: jax.Array) -> jax.Array:
    return jnp.linalg.svd(m, compute_uv=False).sum()


def _check_alpha(alpha: float) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ConfigError(
            f"alpha must be a number in [0, 1] (1: rotations only, Procrustes; 0: full whitening, CCA), "
            f"got {alpha!r}."
        )


def _aligned_cosine(
    x: jax.Array | np.ndarray | Basis, y: jax.Array | np.ndarray | Basis, alpha: float
) -> jax.Array:
    """max over orthogonal Q of ⟨φ(X), φ(Y)Q⟩ / (‖φ(X)‖ ‖φ(Y)‖) for the partial whitening φ of each set."""
    if alpha == 1.0 and not isinstance(x, Basis) and not isinstance(y, Basis):
        # Rotations only: the centred states themselves, no decomposition needed.
        x, y = as_sample_pair(x, y)
        xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
        return _nuclear(xc.T @ yc) / (jnp.linalg.norm(xc) * jnp.linalg.norm(yc))

    def weights(s: jax.Array, rank: jax.Array) -> jax.Array:
        # φ(X) = U diag(α s + (1 − α)) Vᵀ, with s rescaled so the mean kept covariance eigenvalue is 1:
        # that makes α a scale-free trade-off (netrep applies it to the raw XᵀX, so there its effect
        # depends on the data's scale and sample count).
        s = s / jnp.sqrt((s**2 * rank).sum() / jnp.maximum(rank.sum(), 1.0))
        return rank * (alpha * s + (1.0 - alpha))

    bx, by = basis_pair(x, y)
    gx, gy = weights(bx.s, bx.rank), weights(by.s, by.rank)
    return _nuclear((bx.u * gx).T @ (by.u * gy)) / (jnp.linalg.norm(gx) * jnp.linalg.norm(gy))


def shape_distance(
    X: jax.Array | np.ndarray | Basis, Y: jax.Array | np.ndarray | Basis, *, alpha: float = 1.0
) -> jax.Array:
    """Angular generalized shape distance in [0, π/2] (scalar, radians).

    d_α(X, Y) = arccos( max_Q ⟨φ_α(X), φ_α(Y) Q⟩ / (‖φ_α(X)‖_F ‖φ_α(Y)‖_F) ), Q orthogonal, where φ_α
    centres the states and partially whitens them: with the centred states X = U S Vᵀ,
    φ_α(X) = U (α Ŝ + (1 − α) I) Vᵀ and Ŝ = S scaled so the mean non-zero eigenvalue of ŜᵀŜ is 1.
    α = 1 is the angular Procrustes distance (rotations only); α = 0 whitens fully, a CCA-like metric
    (arccos of Σρ/√(rank_x·rank_y)). Zero-padded units do not change it.

    Args:
        X: states `[conditions, time, units_x]` or `[samples, units_x]`, or their `principal_basis`.
        Y: states with the same samples, `[..., units_y]`, or their `principal_basis`.
        alpha: partial-whitening parameter in [0, 1].

    Reference: Williams, Kunz, Kornblith & Linderman 2021, "Generalized shape metrics on neural
    representations" (NeurIPS).
    """
    _check_alpha(alpha)
    return jnp.arccos(jnp.clip(_aligned_cosine(X, Y, float(alpha)), -1.0, 1.0))


@register_metric(
    "procrustes", kind=GEOMETRY, units="unitless", prepare=principal_basis,
    description="Procrustes distance between centred, unit-norm states",
    invariant_to="rotations, reflections, isotropic scaling and translation of either network's states",
)
def procrustes_distance(X: jax.Array | np.ndarray | Basis, Y: jax.Array | np.ndarray | Basis) -> jax.Array:
    """Orthogonal Procrustes distance in [0, √2] (scalar).

    min over orthogonal Q of ‖X̂ − Ŷ Q‖_F, where X̂, Ŷ are the states centred over samples and scaled
    to unit Frobenius norm; equal to √(2 − 2‖X̂ᵀŶ‖_*). Zero-padded units do not change it.

    Args:
        X: states `[conditions, time, units_x]` or `[samples, units_x]`, or their `principal_basis`.
        Y: states with the same samples, `[..., units_y]`, or their `principal_basis`.

    Reference: Schönemann 1966 (orthogonal Procrustes); Williams et al. 2021 (as a shape metric).
    """
    cos = _aligned_cosine(X, Y, 1.0)
    return jnp.sqrt(jnp.maximum(2.0 - 2.0 * cos, 0.0))


def procrustes_rotation(X: jax.Array | np.ndarray, Y: jax.Array | np.ndarray) -> jax.Array:
    """The orthogonal R `[units, units]` minimising ‖X R − Y‖_F (no centring or scaling).

    Args:
        X: states `[conditions, time, units]` or `[samples, units]`.
        Y: states with the same samples and the same number of units.

    Same convention as `scipy.linalg.orthogonal_procrustes(X, Y)`: with XᵀY = U S Vᵀ, R = U Vᵀ.
    Reference: Schönemann 1966.
    """
    x, y = as_sample_pair(X, Y)
    if x.shape[1] != y.shape[1]:
        raise ShapeError(
            f"procrustes_rotation needs X and Y with the same number of units, got {x.shape[1]} and "
            f"{y.shape[1]}; zero-pad the smaller one (the distances in this module accept different sizes)."
        )
    u, _, vt = jnp.linalg.svd(x.T @ y, full_matrices=False)
    return u @ vt


# The study's shape metric whitens half way (alpha = 0.5), between Procrustes (1) and CCA (0), which the
# study reports separately.
register_metric(
    "shape", kind=GEOMETRY, units="rad", prepare=principal_basis,
    description="angular shape distance after partial whitening",
    invariant_to="rotations, reflections, isotropic scaling and translation; partly (alpha) any linear map",
)(functools.partial(shape_distance, alpha=0.5))
