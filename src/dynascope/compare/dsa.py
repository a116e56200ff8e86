"""Dynamical similarity analysis (DSA): compare the linear operators that best predict two flows.

Each system's trajectories are delay-embedded (a Hankel matrix) and a rank-r linear operator A is
fitted in the whitened coordinates of that embedding (HAVOK-style DMD). Two systems are then compared
by how close A_x is to an orthogonal change of basis of A_y: min over orthogonal C of the angle
between A_x and C A_y Cᵀ. A rotated, reflected or permuted copy of a network scores 0; a network whose
states trace the same geometry under a different flow does not.

Solver. The reference implementation (Ostrow et al., github.com/mitchellostrow/DSA) runs 1500 Adam steps
(lr 5e-3) on a Cayley-parametrised C, twice per pair (identity start and a row-swapped start): 3000
gradient evaluations, sequential in Python. Here f(C) = tr(A_xᵀ C A_y Cᵀ) is maximised by Riemannian
gradient ascent on the orthogonal group with Cayley-transform steps and Barzilai–Borwein step sizes (Wen
& Yin 2013), which needs no learning rate. Each step costs one r×r solve. Several starts run at once
under vmap, and the best iterate seen is kept: by default 16 starts × 200 steps. Every start is U_x R
U_yᵀ, with U the eigenbasis of an operator's symmetric part (signs fixed by its antisymmetric part): R =
I is exact for conjugated copies with distinct eigenvalues, the other R are random and alternate between
determinant +1 and −1. Cayley steps never leave a component of O(r), so both components are searched;
and because the starts and the steps move with any change of basis of either operator, the distance does
not depend on the bases the operators are given in (to rounding, wherever that eigenbasis is well
defined: distinct eigenvalues), even where the search ends in a local optimum. How often the default
starts reach the best value a much longer search finds, against earlier starts and the reference's
scheme, is in benchmarks/RESULTS.md §12. The problem is non-convex, so raise `n_starts` where it
matters. Because the solve is a fixed number of
array operations it jits and vmaps over pairs (`pairwise_distances`).

`eigenvalue_wasserstein` is the cheap spectral variant: the optimal matching between the two spectra
(Redman et al. 2023 in the DSA package). For normal operators it is the exact minimum of ‖A_x − C A_y Cᵀ‖_F
over all unitary C (Hoffman & Wielandt 1953), hence a lower bound of the orthogonal one.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from dynascope.compare._checks import check_finite
from dynascope.compare._registry import DYNAMICS, register_metric
from dynascope.errors import ConfigError, ShapeError

SCORES = ("angular", "euclidean")


def _as_trajectories(x: jax.Array | np.ndarray, name: str) -> jax.Array:
    x = jnp.asarray(x)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ShapeError(
            f"{name} must be trajectories [conditions, time, units] (or one trajectory [time, units]), "
            f"got shape {tuple(x.shape)}."
        )
    if x.shape[0] < 1 or x.shape[2] < 1:
        raise ShapeError(
            f"{name} is empty (shape {tuple(x.shape)}); pass trajectories of at least one condition and one unit."
        )
    check_finite(x, name)
    if not jnp.issubdtype(x.dtype, jnp.floating) or x.dtype.itemsize < 4:
        x = x.astype(jnp.float32)
    return x


def _check_int(name: str, value: object, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}.")
    return int(value)


def delay_embed(X: jax.Array | np.ndarray, n_delays: int, delay_interval: int = 1) -> jax.Array:
    """Delay (Hankel) embedding `[conditions, time − (n_delays − 1)·delay_interval, n_delays·units]`.

    Row t of a condition is [x_t, x_{t−τ}, ..., x_{t−(d−1)τ}] (most recent first, as the reference).

    Args:
        X: trajectories `[conditions, time, units]` or one trajectory `[time, units]`.
        n_delays: number of delays d (≥ 1).
        delay_interval: steps τ between delays (≥ 1).

    Returns:
        The embedding, float (at least float32).

    Raises:
        ShapeError: `X` of the wrong rank, empty, or too short for the delays; DataError: NaN/inf in
        `X`; ConfigError: `n_delays` or `delay_interval` not an integer ≥ 1.

    Reference: Takens 1981; Brunton et al. 2017 (HAVOK).
    """
    return _embed(_as_trajectories(X, "X"), n_delays, delay_interval, "X")


def _embed(x: jax.Array, n_delays: int, delay_interval: int, name: str) -> jax.Array:
    """`delay_embed` of checked trajectories `x [conditions, time, units]` (called `name` in errors)."""
    d = _check_int("n_delays", n_delays)
    tau = _check_int("delay_interval", delay_interval)
    t_out = x.shape[1] - (d - 1) * tau
    if t_out < 2:
        raise ShapeError(
            f"{name}: trajectories of {x.shape[1]} steps are too short for n_delays={d}, "
            f"delay_interval={tau}; need at least {(d - 1) * tau + 2} steps. Use fewer delays or longer "
            f"trajectories."
        )
    blocks = [x[:, (d - 1 - k) * tau : (d - 1 - k) * tau + t_out] for k in range(d)]
    return jnp.concatenate(blocks, axis=-1)


def dmd_operator(
    X: jax.Array | np.ndarray,
    *,
    n_delays: int = 1,
    rank: int | None = None,
    delay_interval: int = 1,
    ridge: float = 0.0,
) -> jax.Array:
    """HAVOK-style DMD: the linear operator `A [rank, rank]` advancing the whitened delay coordinates.

    The Hankel matrix H `[samples, n_delays·units]` (all conditions stacked, not centred) is
    factored H = V S Wᵀ; with V_r its first `rank` left singular vectors split into consecutive-time
    pairs (V₋, V₊) within each condition, A = argmin ‖V₊ − V₋ Aᵀ‖² + ridge‖A‖².

    Args:
        X: trajectories `[conditions, time, units]` or one trajectory `[time, units]`.
        n_delays: number of delays d in the embedding.
        rank: number of whitened coordinates kept (default: all, n_delays·units).
        delay_interval: steps between delays.
        ridge: Tikhonov regularisation of the least squares.

    Reference: Brunton, Brunton, Proctor, Kaiser & Kutz 2017 (HAVOK); Ostrow, Eisen, Kozachkov &
    Fiete 2023 (DSA), whose `DMD.A_v` this reproduces.
    """
    h = delay_embed(X, n_delays, delay_interval)
    return _havok(h, _check_rank(h.shape, rank), _check_ridge(ridge))


def population_operator(
    X: jax.Array | np.ndarray, *, n_delays: int = 4, rank: int = 10, min_units: int | None = None
) -> jax.Array:
    """The DMD operator `[r, r]` DSA compares across a population.

    `dmd_operator` with `n_delays` delays and rank r = min(rank, n_delays · min_units), so that every
    operator of a population has the same size and none keeps directions that only padding spans.

    Args:
        X: one network's trajectories `[conditions, time, units]`, zero-padded to the widest network
            of the population.
        n_delays: number of delays in the embedding (≥ 1).
        rank: the most whitened coordinates kept.
        min_units: unit count of the smallest network compared (None: X's own).

    Returns:
        The operator `[r, r]`.

    Raises:
        As `dmd_operator`.

    Reference: Ostrow, Eisen, Kozachkov & Fiete 2023 (DSA).
    """
    units = jnp.shape(X)[-1] if min_units is None else min_units
    return dmd_operator(X, n_delays=n_delays, rank=min(rank, n_delays * units))


_population_operator = jax.jit(population_operator, static_argnames=("n_delays", "rank", "min_units"))


def operator_spectrum(
    X: jax.Array | np.ndarray, *, n_delays: int = 4, rank: int = 10, min_units: int | None = None
) -> np.ndarray:
    """Eigenvalues `[r]` (complex128) of `population_operator(X, ...)`, for `spectrum_distance`.

    Each network's operator is fitted (compiled once per shape) and decomposed once, on the host, so
    that comparing many pairs only matches spectra.

    Args:
        X: one network's trajectories `[conditions, time, units]`, zero-padded to the widest network.
        n_delays: number of delays in the embedding (≥ 1).
        rank: the most whitened coordinates kept; r = min(rank, n_delays · min_units).
        min_units: unit count of the smallest network compared (None: X's own).

    Returns:
        `np.ndarray [r]` of complex128 eigenvalues.

    Raises:
        As `dmd_operator`: ShapeError for `X` or a too-short trajectory, ConfigError for the options.
    """
    op = _population_operator(jnp.asarray(X), n_delays=n_delays, rank=rank, min_units=min_units)
    return np.linalg.eigvals(np.asarray(op, np.float64))


def _check_rank(hankel_shape: tuple[int, ...], rank: int | None) -> int:
    c, t, m = hankel_shape
    r = m if rank is None else _check_int("rank", rank)
    if r > min(m, c * t):
        raise ConfigError(
            f"rank must be at most min(n_delays·units, samples) = {min(m, c * t)}, got {r}; "
            f"lower rank or add delays."
        )
    return r


def _check_ridge(ridge: float) -> float:
    if isinstance(ridge, bool) or not isinstance(ridge, (int, float)) or ridge < 0:
        raise ConfigError(f"ridge must be a non-negative number, got {ridge!r}.")
    return float(ridge)


def _havok(h: jax.Array, r: int, ridge: float) -> jax.Array:
    """The DMD operator `[r, r]` of a Hankel tensor `h [conditions, time, width]`."""
    c, t, m = h.shape
    q, rr = jnp.linalg.qr(h.reshape(c * t, m))
    ur, _, _ = jnp.linalg.svd(rr, full_matrices=False)
    v = (q @ ur[:, :r]).reshape(c, t, r)
    v_minus = v[:, :-1].reshape(-1, r)
    v_plus = v[:, 1:].reshape(-1, r)
    if ridge == 0.0:
        a_t = jnp.linalg.lstsq(v_minus, v_plus)[0]
    else:
        gram = v_minus.T @ v_minus + ridge * jnp.eye(r, dtype=v.dtype)
        a_t = jnp.linalg.solve(gram, v_minus.T @ v_plus)
    return a_t.T


# -- the orthogonal alignment ----------------------------------------------------------------------


def _tree_signs(k: jax.Array) -> jax.Array:
    """Signs `[r]` (±1) that make the couplings of a maximum spanning tree of |k| positive.

    `k [r, r]` antisymmetric. Flipping basis vectors by signs D turns k into D k D, so the signs that
    make k[i, j] > 0 along a fixed set of r − 1 edges are unique up to one global sign (which changes
    no conjugation). The tree is the maximum spanning tree of |k| (Prim's algorithm from the row of
    largest total coupling), so the signs are read from the largest, best-determined entries, and both
    the tree and the signs are the same for D k D as for k.
    """
    k = jnp.asarray(k)
    r = k.shape[0]
    w = jnp.abs(k)
    root = jnp.argmax(w.sum(axis=1))
    in_tree = jnp.zeros(r, dtype=bool).at[root].set(True)
    signs = jnp.ones(r, dtype=k.dtype)

    def grow(_: jax.Array, carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        in_tree, signs = carry
        edges = jnp.where(in_tree[:, None] & ~in_tree[None, :], w, -1.0)
        i, j = jnp.divmod(jnp.argmax(edges), r)
        sign = signs[i] * jnp.where(k[i, j] < 0, -1.0, 1.0).astype(k.dtype)
        return in_tree.at[j].set(True), signs.at[j].set(sign)

    _, signs = jax.lax.fori_loop(0, r - 1, grow, (in_tree, signs))
    return signs


def _canonical_eigenbasis(a: jax.Array) -> jax.Array:
    """Eigenvectors `[r, r]` of the symmetric part of `a`, their signs fixed by the antisymmetric part.

    If b = Qᵀ a Q (Q orthogonal, either determinant) then, for distinct eigenvalues of the symmetric
    part and a connected coupling, U_b = Qᵀ U_a up to one global sign, so U_a U_bᵀ = ±Q recovers the
    conjugation exactly. Each eigenvector's sign is otherwise arbitrary; it is fixed by `_tree_signs`
    on the antisymmetric part in the eigenbasis (its diagonal is zero, so it carries no sign itself).
    """
    _, u = jnp.linalg.eigh(0.5 * (a + a.T))
    k = u.T @ (0.5 * (a - a.T)) @ u
    return u * _tree_signs(k)


def _random_orthogonal(key: jax.Array, n: int, r: int, dtype: jnp.dtype) -> jax.Array:
    """`[n, r, r]` random orthogonal matrices, alternately of determinant −1 and +1 (the first −1).

    Each is a product of r random Householder reflections (Haar-distributed on the component of
    determinant (−1)^r), the first row negated where that gives the wrong determinant, so both
    components of O(r) are searched. Built from matrix products only: no LAPACK call that could run
    beside the eigendecomposition (see `basis_pair` in cca.py on XLA:CPU's thread pool).
    """
    v = jax.random.normal(key, (r, n, r), dtype=dtype)
    v = v / jnp.linalg.norm(v, axis=-1, keepdims=True)

    def reflect(q: jax.Array, vk: jax.Array) -> tuple[jax.Array, None]:
        return q - 2.0 * (q @ vk[:, :, None]) * vk[:, None, :], None

    q, _ = jax.lax.scan(reflect, jnp.broadcast_to(jnp.eye(r, dtype=dtype), (n, r, r)), v)
    want = np.where(np.arange(n) % 2 == 0, -1.0, 1.0)
    flip = jnp.asarray(want * (-1.0) ** r, dtype=dtype)
    return q.at[:, 0, :].multiply(flip[:, None])


def _starts(a: jax.Array, b: jax.Array, n_starts: int, key: jax.Array) -> jax.Array:
    """Initial orthogonal matrices `[n_starts, r, r]`: U_a R U_bᵀ for R = I, then random R.

    U_a, U_b are the canonical eigenbases of the two operators (`_canonical_eigenbasis`), so the first
    start is exact for conjugated copies, and every start moves with a change of basis of either
    operator: for a' = Q a Qᵀ the starts are Q times those for a. The ascent is equivariant too, so
    the distance does not depend on the basis either operator is given in. The random R alternate
    between determinant −1 and +1 (relative to the first start): both components of O(r), which the
    Cayley steps never leave, are searched.
    """
    r = a.shape[0]
    # One batched eigendecomposition for both operators (one LAPACK call, not two side by side).
    ua, ub = jax.vmap(_canonical_eigenbasis)(jnp.stack([a, b]))
    eye = jnp.eye(r, dtype=a.dtype)[None]
    rs = eye if n_starts == 1 else jnp.concatenate([eye, _random_orthogonal(key, n_starts - 1, r, a.dtype)])
    return ua @ rs @ ub.T


def _check_score(score: str) -> None:
    if score not in SCORES:
        raise ConfigError(f"score must be one of {', '.join(map(repr, SCORES))}, got {score!r}.")


def _check_square_pair(a: jax.Array, b: jax.Array) -> None:
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape != b.shape:
        raise ShapeError(
            f"A and B must be square operators of the same size [r, r], got {tuple(a.shape)} and "
            f"{tuple(b.shape)}; fit both with the same rank (dmd_operator(..., rank=r))."
        )


def _float_pair(A: jax.Array | np.ndarray, B: jax.Array | np.ndarray) -> tuple[jax.Array, jax.Array]:
    """Two square operators of one size, cast to one float dtype (strict promotion forbids mixing)."""
    a, b = jnp.asarray(A), jnp.asarray(B)
    _check_square_pair(a, b)
    if a.shape[0] < 1:
        raise ShapeError("A and B are empty [0, 0] operators; fit them with rank >= 1.")
    check_finite(a, "A")
    check_finite(b, "B")
    dtype = a.dtype if a.dtype.itemsize >= b.dtype.itemsize else b.dtype
    if not jnp.issubdtype(dtype, jnp.floating) or dtype.itemsize < 4:
        dtype = jnp.dtype(jnp.float32)
    return a.astype(dtype), b.astype(dtype)


def _objective(a: jax.Array, b: jax.Array, c: jax.Array) -> jax.Array:
    return jnp.sum(a * (c @ b @ c.T))


def _ascend(a: jax.Array, b: jax.Array, c0: jax.Array, n_iters: int) -> tuple[jax.Array, jax.Array]:
    """Riemannian BB ascent of tr(aᵀ c b cᵀ) from `c0`; returns the best iterate and its value."""
    eye = jnp.eye(a.shape[0], dtype=a.dtype)

    def direction(c: jax.Array) -> jax.Array:
        # Skew W with W c the Riemannian gradient of f at c (Wen & Yin 2013, eq. 2.4).
        g = a @ c @ b.T + a.T @ c @ b
        return g @ c.T - c @ g.T

    def body(i: jax.Array, carry: tuple) -> tuple:
        c, w, tau, best_c, best_f = carry
        c_new = jnp.linalg.solve(eye - 0.5 * tau * w, (eye + 0.5 * tau * w) @ c)
        w_new = direction(c_new)
        s, y = c_new - c, w_new @ c_new - w @ c
        sy, ss, yy = jnp.abs(jnp.sum(s * y)), jnp.sum(s * s), jnp.sum(y * y)
        tiny = jnp.finfo(a.dtype).tiny
        # Alternate the two Barzilai–Borwein step sizes; clip so a flat or noisy step cannot blow up.
        tau_new = jnp.where(i % 2 == 0, ss / jnp.maximum(sy, tiny), sy / jnp.maximum(yy, tiny))
        tau_new = jnp.clip(tau_new, 1e-3, 1e3)
        f_new = _objective(a, b, c_new)
        better = f_new > best_f
        return (
            c_new,
            w_new,
            tau_new.astype(a.dtype),
            jnp.where(better, c_new, best_c),
            jnp.where(better, f_new, best_f),
        )

    init = (c0, direction(c0), jnp.asarray(0.1, a.dtype), c0, _objective(a, b, c0))
    _, _, _, best_c, best_f = jax.lax.fori_loop(0, n_iters, body, init)
    return best_c, best_f


def optimal_similarity_transform(
    A: jax.Array | np.ndarray,
    B: jax.Array | np.ndarray,
    *,
    n_starts: int = 16,
    n_iters: int = 200,
    key: jax.Array | None = None,
) -> jax.Array:
    """The orthogonal C `[r, r]` maximising tr(Aᵀ C B Cᵀ), i.e. minimising ‖A − C B Cᵀ‖_F.

    Riemannian Barzilai–Borwein ascent with Cayley steps from `n_starts` starts at once (see the
    module docstring), `n_iters` steps each; the best iterate is returned. The problem is non-convex:
    more starts lower the chance of a local optimum.

    Args:
        A: operator `[r, r]`.
        B: operator `[r, r]`, the same size as `A`.
        n_starts: number of starts solved together (≥ 1).
        n_iters: ascent steps per start (≥ 0).
        key: JAX PRNG key for the random starts (None: `jax.random.key(0)`, so the result is
            deterministic).

    Returns:
        Orthogonal `C [r, r]` in the float dtype of the operators.

    Raises:
        ShapeError: operators not square, of different sizes, or empty; DataError: NaN/inf;
        ConfigError: `n_starts` or `n_iters` out of range.

    Reference: Ostrow et al. 2023 (the objective); Wen & Yin 2013, "A feasible method for optimization
    with orthogonality constraints" (the iteration).
    """
    a, b = _float_pair(A, B)
    n_starts = _check_int("n_starts", n_starts)
    n_iters = _check_int("n_iters", n_iters, low=0)
    key = jax.random.key(0) if key is None else key
    return _align(a, b, key, n_starts, n_iters)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _align(a: jax.Array, b: jax.Array, key: jax.Array, n_starts: int, n_iters: int) -> jax.Array:
    # Unit norms make the step sizes scale-free; they do not change the maximiser.
    a = a / jnp.linalg.norm(a)
    b = b / jnp.linalg.norm(b)
    starts = _starts(a, b, n_starts, key)
    cs, values = jax.vmap(lambda c0: _ascend(a, b, c0, n_iters))(starts)
    c = cs[jnp.argmax(values)]
    # Re-orthonormalise: many Cayley steps in float32 drift from the group by ~1e-6.
    u, _, vt = jnp.linalg.svd(c)
    return u @ vt


@register_metric(
    "dsa", kind=DYNAMICS, units="rad", prepare=population_operator, expensive=True,
    description="angle between the DMD operators after the best orthogonal change of basis",
    invariant_to="rotations, reflections and permutations of the units (orthogonal changes of basis)",
)
def similarity_transform_distance(
    A: jax.Array | np.ndarray,
    B: jax.Array | np.ndarray,
    *,
    score: str = "angular",
    n_starts: int = 16,
    n_iters: int = 200,
    key: jax.Array | None = None,
) -> jax.Array:
    """Distance between two operators `A, B [r, r]` up to an orthogonal change of basis (scalar).

    'angular': arccos( max_C tr(Aᵀ C B Cᵀ) / (‖A‖_F ‖B‖_F) ) in [0, π], as the DSA reference.
    'euclidean': min_C ‖A − C B Cᵀ‖_F on the operators as given (the reference scales both to unit
    norm first; we do not, so that it can be checked against the Hoffman–Wielandt bound of
    `eigenvalue_wasserstein`).

    Args:
        A: operator `[r, r]`.
        B: operator `[r, r]`, the same size as `A`.
        score: 'angular' (radians) or 'euclidean' (Frobenius norm).
        n_starts: starts of the orthogonal search, as in `optimal_similarity_transform`.
        n_iters: ascent steps per start, as in `optimal_similarity_transform`.
        key: JAX PRNG key for the random starts (None: `jax.random.key(0)`).

    Returns:
        Scalar array.

    Raises:
        ConfigError: an unknown `score` or solver option out of range; ShapeError/DataError: as
        `optimal_similarity_transform`.

    Reference: Ostrow, Eisen, Kozachkov & Fiete 2023, "Beyond geometry: comparing the temporal
    structure of computation in neural circuits with dynamical similarity analysis" (NeurIPS).
    """
    _check_score(score)
    a, b = _float_pair(A, B)
    c = optimal_similarity_transform(a, b, n_starts=n_starts, n_iters=n_iters, key=key)
    moved = c @ b @ c.T
    if score == "euclidean":
        return jnp.linalg.norm(a - moved)
    cos = jnp.sum(a * moved) / (jnp.linalg.norm(a) * jnp.linalg.norm(b))
    return jnp.arccos(jnp.clip(cos, -1.0, 1.0))


def dsa_distance(
    X: jax.Array | np.ndarray,
    Y: jax.Array | np.ndarray,
    *,
    n_delays: int = 1,
    rank: int | None = None,
    delay_interval: int = 1,
    ridge: float = 0.0,
    score: str = "angular",
    n_starts: int = 16,
    n_iters: int = 200,
    key: jax.Array | None = None,
) -> jax.Array:
    """Dynamical similarity distance between two sets of trajectories (scalar).

    Fits `dmd_operator` to each (same `n_delays`, `rank`; the unit counts may differ as long as the
    rank fits both) and returns `similarity_transform_distance` of the two operators.

    Args:
        X: trajectories `[conditions, time, units_x]` (or one trajectory `[time, units_x]`).
        Y: trajectories `[conditions', time', units_y]`; need not share conditions with X.
        n_delays, rank, delay_interval, ridge: DMD options (see `dmd_operator`).
        score, n_starts, n_iters, key: comparison options (see `similarity_transform_distance`).

    To compare a population, fit the operators once and compare them pairwise:
    `pairwise_distances(similarity_transform_distance, Xs, prepare=partial(dmd_operator, rank=r))`.

    Reference: Ostrow, Eisen, Kozachkov & Fiete 2023 (NeurIPS).
    """
    hx = _embed(_as_trajectories(X, "X"), n_delays, delay_interval, "X")
    hy = _embed(_as_trajectories(Y, "Y"), n_delays, delay_interval, "Y")
    rx, ry = _check_rank(hx.shape, rank), _check_rank(hy.shape, rank)
    if rx != ry:
        raise ShapeError(
            f"X and Y gave operators of sizes {rx} and {ry} (rank defaults to n_delays·units, which "
            f"differs between them); pass the same rank for both."
        )
    ridge = _check_ridge(ridge)
    dtype = hx.dtype if hx.dtype.itemsize >= hy.dtype.itemsize else hy.dtype
    hx, hy = hx.astype(dtype), hy.astype(dtype)
    if hx.shape == hy.shape:
        # Fit both in one batched program (see `basis_pair` in cca.py on XLA:CPU's thread pool).
        a, b = jax.vmap(lambda h: _havok(h, rx, ridge))(jnp.stack([hx, hy]))
    else:
        a, b = _havok(hx, rx, ridge), _havok(hy, ry, ridge)
    return similarity_transform_distance(a, b, score=score, n_starts=n_starts, n_iters=n_iters, key=key)


def eigenvalue_wasserstein(A: jax.Array | np.ndarray, B: jax.Array | np.ndarray) -> float:
    """Optimal-matching distance between the eigenvalue spectra of two operators (Python float).

    √( min over permutations π of Σ_i |λ_i(A) − λ_π(i)(B)|² ), eigenvalues as points of the complex
    plane, solved exactly by `scipy.optimize.linear_sum_assignment`; the smaller spectrum is padded
    with zeros when the sizes differ (as the reference). The DSA reference reports the squared value.
    For normal A and B this is min over unitary C of ‖A − C B C*‖_F, a lower bound of the orthogonal
    `similarity_transform_distance(..., score='euclidean')`. Runs in NumPy/SciPy on the host, so it
    does not jit.

    Args:
        A: operator `[r, r]`.
        B: operator `[r', r']` (the sizes may differ).

    Returns:
        The distance, a Python float ≥ 0.

    Raises:
        ShapeError: an operator that is not square or is empty; DataError: NaN/inf in an operator.

    Reference: Hoffman & Wielandt 1953; Redman et al. 2023; Ostrow et al. 2023.
    """
    a, b = np.asarray(A), np.asarray(B)
    for name, m in (("A", a), ("B", b)):
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise ShapeError(f"{name} must be a square operator [r, r], got shape {m.shape}.")
        check_finite(m, name)
    return spectrum_distance(np.linalg.eigvals(a.astype(np.float64)), np.linalg.eigvals(b.astype(np.float64)))


@register_metric(
    "dsa_wasserstein", kind=DYNAMICS, units="unitless", prepare=operator_spectrum, jit=False,
    description="optimal-matching distance between the DMD operators' eigenvalues",
    invariant_to="any invertible change of basis of the fitted operator (its eigenvalues are kept)",
)
def spectrum_distance(la: np.ndarray, lb: np.ndarray) -> float:
    """`eigenvalue_wasserstein` from precomputed spectra, for reuse over many pairs.

    Args:
        la: eigenvalues `[r]` (complex), e.g. from `operator_spectrum`.
        lb: eigenvalues `[r']` (complex); the shorter spectrum is padded with zeros.

    Returns:
        The optimal-matching distance, a Python float ≥ 0.

    Raises:
        DataError: NaN/inf in a spectrum; ShapeError: an empty spectrum.

    Reference: Hoffman & Wielandt 1953; Ostrow et al. 2023.
    """
    la, lb = np.asarray(la, np.complex128), np.asarray(lb, np.complex128)
    check_finite(la, "la")
    check_finite(lb, "lb")
    if la.size == 0 or lb.size == 0:
        raise ShapeError(
            f"spectrum_distance needs a non-empty spectrum on each side, got {la.size} and {lb.size} eigenvalues; "
            "an operator of size 0 has no dynamics to compare."
        )
    n = max(la.size, lb.size)
    la = np.concatenate([la, np.zeros(n - la.size)])
    lb = np.concatenate([lb, np.zeros(n - lb.size)])
    cost = np.abs(la[:, None] - lb[None, :]) ** 2
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    return float(np.sqrt(cost[rows, cols].sum()))
