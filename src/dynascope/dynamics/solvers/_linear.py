"""The linear algebra every solver goes through: norms, guarded LU and Cholesky solves, least squares.

No NaN or inf ever reaches LAPACK (a non-finite matrix is replaced by I, and the answer by NaN, which the
solvers read as "no step"), and the factorizations of one compiled program run one after the other
(`after`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def norm(v: jax.Array) -> jax.Array:
    """‖v‖₂ of a vector `[S]`."""
    return jnp.sqrt(jnp.sum(v * v))


def finite_or(a: jax.Array, b: jax.Array) -> jax.Array:
    """`a` where all of it is finite, else `b`: no NaN or inf ever reaches the model or a factorization."""
    return jnp.where(jnp.all(jnp.isfinite(a)), a, b)


def after(a: jax.Array) -> jax.Array:
    """An exact 0 computed from `a`: adding it to the input of a LAPACK call makes that call wait for `a`.

    Two batched LAPACK kernels running at once can deadlock XLA's CPU runtime: each hands its batch to the
    intra-op thread pool and blocks a pool thread until it is done (seen with 512+ points on 2 cores: an
    LU and a Cholesky, or an LU and a triangular solve, in jax::ParallelBatchMap). XLA orders its CPU
    thunks by the buffers they read and write, so a data dependency (not an optimization barrier, which
    adds no buffer) keeps the factorizations of one program one after the other.
    """
    total = jnp.sum(a)
    return jnp.where(jnp.isfinite(total), total, 0.0) * 0.0


def lu_correction(jac: jax.Array, r: jax.Array) -> tuple[tuple, jax.Array]:
    """The LU factors of `jac [S, S]` and the Newton correction −jac⁻¹r `[S]` (NaN where `jac` or `r` is not
    finite: I is factorized in place of such a matrix, so no NaN reaches LAPACK)."""
    bad = ~(jnp.all(jnp.isfinite(jac)) & jnp.all(jnp.isfinite(r)))
    eye = jnp.eye(r.shape[0], dtype=r.dtype)
    lu = jax.scipy.linalg.lu_factor(jnp.where(bad, eye, jac))
    dx = -jax.scipy.linalg.lu_solve(lu, jnp.where(bad, 0.0, r))
    return lu, jnp.where(bad, jnp.nan, dx)


def lu_resolve(lu: tuple, r: jax.Array) -> jax.Array:
    """−jac⁻¹r `[S]` for another right-hand side, with the factors of `lu_correction`."""
    return -jax.scipy.linalg.lu_solve(lu, r)


def cholesky_solve(matrix: jax.Array, b: jax.Array) -> jax.Array:
    """matrix⁻¹b `[S]` for a symmetric `matrix [S, S]` by Cholesky: NaN where it is not positive definite."""
    return jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(matrix), True), b)


def solve(matrix: jax.Array, b: jax.Array) -> jax.Array:
    """matrix⁻¹b for a square `matrix` (LU with partial pivoting; inf or NaN where it is singular)."""
    return jnp.linalg.solve(matrix, b)


def least_squares(matrix: jax.Array, b: jax.Array) -> jax.Array:
    """The minimum-norm least-squares solution of matrix·x = b (SVD; a singular direction gets no step);
    NaN where `matrix` or `b` is not finite (I is decomposed in its place, so no NaN reaches LAPACK)."""
    bad = ~(jnp.all(jnp.isfinite(matrix)) & jnp.all(jnp.isfinite(b)))
    eye = jnp.eye(*matrix.shape, dtype=matrix.dtype)
    x = jnp.linalg.lstsq(jnp.where(bad, eye, matrix), jnp.where(bad, 0.0, b), rcond=None)[0]
    return jnp.where(bad, jnp.nan, x)
