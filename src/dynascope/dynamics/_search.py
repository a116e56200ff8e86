"""Compiled, batched search for fixed points (roots of r(s) = F(s) − s) and slow points (minima of
q(s) = ½‖r(s)‖²) from many points at once.

Each point first runs an affine-covariant damped Newton method on r (Deuflhard's NLEQ-ERR), which
finds fixed points — stable or not — in a few steps even where F is nearly flat (F(s) ≈ s, J − I
ill-conditioned, as in gated networks); a point it cannot take to a root goes on, from its initial state
or Newton's last iterate, whichever has the lower q, with damped Newton on q itself (Levenberg–Marquardt with the exact Hessian), which finds the
minima of q, including those with q > 0 (slow points, ghosts). Every function works on a batch of K
points (and, with `population=True`, on a stack of n networks via vmap); each point stops on its own
criterion, and a few iterations at a time the points still going are gathered into a smaller batch, so
the few that need a hundred iterations do not make all of them pay for a hundred. A point may be given a
search region (a box): it stops as soon as it leaves it, so seeds that walk away from the states a
network visits (towards saturation, where q decays with no minimum) do not pay the whole budget.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dynascope.dynamics._scheduler import Batch, compacted_size, over_points, put_points, schedule, take_points
from dynascope.dynamics._system import System, zero_floor

# Levenberg damping, relative to the curvature scale ‖H‖_F/√S: start, the value a rejected step jumps to at
# least, and the ceiling past which no step can lower q any more (a minimum to working precision). The
# floor is 100·eps of the dtype, below which H + λ adds nothing and float32 Cholesky fails on J_rᵀJ_r.
_LAM_START, _LAM_REJECT, _LAM_MAX = 1e-3, 1e-2, 1e6
# Newton on r: the smallest damping factor tried before the point is handed to the minimisation of q
# (Deuflhard 2004 suggests 1e-8 for highly nonlinear problems; 1e-6 gives up sooner at no loss here),
# and the leash: a Newton iterate may not leave the ball of radius _LEASH·(1 + ‖s₀‖) around its start,
# so that a near-singular Jacobian (by a ghost, say) cannot fling a point to an unrelated root far away.
_NEWTON_LAM_MIN, _LEASH = 1e-6, 1.0
# Iterations between two compactions of the batch, the smallest batch a compaction makes, and the work
# per iteration (~flops) a compaction must save to be worth a compilation of the smaller batch.
_ROUND, _MIN_BATCH, _MIN_SAVING = 4, 8, 2**24


def _q(system: System, params: Any, x: jax.Array, u: jax.Array) -> jax.Array:
    r = system.residual(params, x, u)
    return 0.5 * jnp.sum(r * r)


def _norm(v: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.sum(v * v))


def _at_root(x: jax.Array, q: jax.Array, n_dx: jax.Array, tol: jax.Array) -> jax.Array:
    """Newton on r is done at x: q < tol, q zero to working precision, or the Newton correction ‖dx‖ at
    working precision (a root as exact as rounding allows; False where dx is NaN)."""
    eps = jnp.finfo(x.dtype).eps
    return (q < tol) | (q <= zero_floor(x)) | (n_dx <= 4.0 * eps * (1.0 + _norm(x)))


def _linearize(system: System, params: Any, x: jax.Array, u: jax.Array) -> tuple:
    """r(x) [S], J_r(x) = ∂F/∂x − I [S, S], its LU factors, and the Newton correction −J_r⁻¹ r [S] (NaN where
    r or J_r is not finite; I is factorized in place of such a J_r, so no NaN reaches LAPACK)."""
    r = system.residual(params, x, u)
    j = jax.jacfwd(system.residual, argnums=1)(params, x, u)
    bad = ~(jnp.all(jnp.isfinite(j)) & jnp.all(jnp.isfinite(r)))
    eye = jnp.eye(x.shape[0], dtype=x.dtype)
    lu = jax.scipy.linalg.lu_factor(jnp.where(bad, eye, j))
    dx = -jax.scipy.linalg.lu_solve(lu, jnp.where(bad, 0.0, r))
    return r, j, lu, jnp.where(bad, jnp.nan, dx)


def _after(a: jax.Array) -> jax.Array:
    """An exact 0 computed from `a`: adding it to the input of a LAPACK call makes that call wait for `a`.

    Two batched LAPACK kernels running at once can deadlock XLA's CPU runtime: each hands its batch to the
    intra-op thread pool and blocks a pool thread until it is done (seen with 512+ points on 2 cores: an
    LU and a Cholesky, or an LU and a triangular solve, in jax::ParallelBatchMap). XLA orders its CPU
    thunks by the buffers they read and write, so a data dependency (not an optimization barrier, which
    adds no buffer) keeps the factorizations of one program one after the other.
    """
    total = jnp.sum(a)
    return jnp.where(jnp.isfinite(total), total, 0.0) * 0.0


def _finite_or(a: jax.Array, b: jax.Array) -> jax.Array:
    """`a` where all of it is finite, else `b`: no NaN or inf ever reaches the model or a factorization."""
    return jnp.where(jnp.all(jnp.isfinite(a)), a, b)


# -- the two stages, one iteration at a time -----------------------------------------------------------
# Each stage is a per-point loop whose whole state is its carry, so the driver below can stop it after a
# few iterations, set the points that are done aside and go on with the rest (see _drive).
def _root_begin(x0: jax.Array) -> tuple:
    """Carry of Newton on r at x0: (iteration, iterate, damping λ, last simplified correction, last ‖δ‖,
    last step accepted, at a root)."""
    one = jnp.ones((), x0.dtype)
    return (jnp.asarray(0, jnp.int32), x0, one, jnp.zeros_like(x0), one, jnp.asarray(False), jnp.asarray(False))


def _inside(x: jax.Array, region: jax.Array) -> jax.Array:
    """Whether x [S] lies in the search region `region [2, S]` (lower and upper bounds, ±inf for none)."""
    return jnp.all((x >= region[0]) & (x <= region[1]))


def _root_active(carry: tuple, steps: jax.Array, region: jax.Array) -> jax.Array:
    i, x, lam, _, _, _, done = carry
    return (i < steps) & ~done & (lam >= _NEWTON_LAM_MIN) & _inside(x, region)


def _root_iteration(system: System, params: Any, x0: jax.Array, u: jax.Array, tol: jax.Array, carry: tuple) -> tuple:
    """One iteration of error-oriented damped Newton on r (see `search`)."""
    i, x, lam, bar_prev, n_prev, accepted, _ = carry
    # One linearization per iteration, at the current point (after a rejected step: again at the same x).
    r, _, lu, dx = _linearize(system, params, x, u)
    n_dx = _norm(dx)
    done = _at_root(x, 0.5 * jnp.sum(r * r), n_dx, tol)
    stuck = ~jnp.all(jnp.isfinite(dx))  # J − I singular here: Newton on r cannot go on
    # Damping predicted from the nonlinearity the last accepted step showed (Deuflhard's a-priori estimate).
    mu = n_prev * _norm(bar_prev) / (_norm(bar_prev - dx) * n_dx) * lam
    lam = jnp.where(accepted, jnp.where(jnp.isfinite(mu), jnp.minimum(1.0, mu), 1.0), lam)
    x_t = _finite_or(x + lam * dx, x)
    r_t = _finite_or(system.residual(params, x_t, u), r)
    # The simplified Newton correction J(x)⁻¹ r(x_t) measures progress in the "natural" metric of the
    # linearization: the stiff directions count little, the slow ones a lot. Requiring ‖r‖ itself to fall
    # (LM's test) rejects the long steps along a slow valley that a root lies at the end of. It reuses the
    # LU above, and depends on it through x_t: the LAPACK calls of the body run one after the other
    # (see _after).
    bar = -jax.scipy.linalg.lu_solve(lu, r_t)
    theta = _norm(bar) / n_dx
    radius = _LEASH * (1.0 + _norm(x0))
    inside = _norm(x_t - x0) <= radius
    # A point that has gone half way to the leash and whose linearization still puts the root beyond it
    # is heading for a root outside: damping would only press it against the leash for the rest of the
    # budget (seen on trained tanh networks: 8 % of noisy seeds, each for ~90 iterations), so Newton on r
    # stops here and the minimisation of q takes over.
    stuck = stuck | ((_norm(x - x0) > 0.5 * radius) & (_norm(x + dx - x0) > radius))
    ok = jnp.all(jnp.isfinite(bar)) & (theta < 1.0 - 0.25 * lam) & inside & ~done & ~stuck
    # After a rejection: the a-posteriori estimate, at most half the last factor.
    mu_back = 0.5 * n_dx * lam * lam / _norm(bar - (1.0 - lam) * dx)
    lam_bad = jnp.where(jnp.isfinite(mu_back), jnp.minimum(mu_back, 0.5 * lam), 0.5 * lam)
    lam = jnp.where(ok, lam, jnp.where(stuck, 0.0, lam_bad)).astype(x.dtype)
    return i + 1, jnp.where(ok, x_t, x), lam, bar, n_dx, ok, done


def _minimize_begin(system: System, params: Any, x0: jax.Array, u: jax.Array, limit: jax.Array) -> tuple:
    """Carry of Levenberg–Marquardt on q at x0: (iteration, iterate, its q, damping λ, iteration budget)."""
    lam0 = jnp.asarray(_LAM_START, x0.dtype)
    return jnp.asarray(0, jnp.int32), x0, _q(system, params, x0, u), lam0, limit


def _minimize_active(carry: tuple, tol: jax.Array, region: jax.Array) -> jax.Array:
    i, x, qx, lam, limit = carry
    return (i < limit) & (lam < _LAM_MAX) & (qx > zero_floor(x)) & (qx >= tol) & _inside(x, region)


def _minimize_iteration(system: System, params: Any, u: jax.Array, carry: tuple) -> tuple:
    """One Levenberg–Marquardt iteration on q with its exact Hessian (see `search`)."""
    i, x, qx, lam, limit = carry
    q = functools.partial(_q, system, params)
    eps = jnp.finfo(x.dtype).eps
    g, h = jax.grad(q)(x, u), jax.hessian(q)(x, u)
    # RMS eigenvalue size of H: positive even where H is indefinite, so λ·scale can always restore
    # positive definiteness (at λ ≥ √S at the latest) and the step tends to a short gradient step.
    scale = jnp.maximum(jnp.sqrt(jnp.sum(h * h) / x.shape[0]), eps)
    # A failed Cholesky (H + λ not positive definite) gives NaN: the step is rejected, λ grows.
    chol = jnp.linalg.cholesky(h + (lam * scale) * jnp.eye(x.shape[0], dtype=x.dtype))
    x_new = x - jax.scipy.linalg.cho_solve((chol, True), g)
    q_new = q(x_new, u)
    ok = jnp.all(jnp.isfinite(x_new)) & jnp.isfinite(q_new) & (q_new < qx)
    lam = jnp.where(ok, jnp.maximum(lam / 10.0, 100.0 * eps), jnp.maximum(lam * 10.0, _LAM_REJECT))
    return i + 1, jnp.where(ok, x_new, x), jnp.where(ok, q_new, qx), lam, limit


def _advance_point(
    system: System, stage: str, until: jax.Array, steps: jax.Array, tol: jax.Array,
    params: Any, x0: jax.Array, u: jax.Array, region: jax.Array, carry: tuple,
) -> tuple:
    """Iterate `stage` at one point while it is active and its iteration count is below `until`."""
    if stage == "root":
        active = functools.partial(_root_active, steps=steps, region=region)
        body = functools.partial(_root_iteration, system, params, x0, u, tol)
    else:
        active = functools.partial(_minimize_active, tol=tol, region=region)
        body = functools.partial(_minimize_iteration, system, params, u)
    return jax.lax.while_loop(lambda c: active(c) & (c[0] < until), body, carry)


@functools.partial(jax.jit, static_argnames=("system", "stage", "population"))
def _advance(
    system: System, stage: str, params: Any, x0: jax.Array, u: jax.Array, region: jax.Array, carry: tuple,
    networks: jax.Array, idx: jax.Array, until: jax.Array, steps: jax.Array, tol: jax.Array, *, population: bool,
) -> tuple[tuple, jax.Array]:
    """Advance the points `idx [n, B]` of every network (repeats allowed) up to iteration `until`; returns
    the whole carry with theirs replaced and which points [n, K] are still active."""
    sub = take_points((x0, u, region, carry), networks, idx)
    point = functools.partial(_advance_point, system, stage, until, steps, tol)
    out = over_points(point, population)(params, *sub)
    carry = put_points(carry, networks, idx, out)
    return carry, _still_active(stage, carry, region, steps, tol)


def _still_active(stage: str, carry: tuple, region: jax.Array, steps: jax.Array, tol: jax.Array) -> jax.Array:
    """Which points [n, K] of `stage` are still going."""
    if stage == "root":
        active = functools.partial(_root_active, steps=steps)
    else:
        active = functools.partial(_minimize_active, tol=tol)
    return jax.vmap(jax.vmap(lambda c, b: active(c, region=b)))(carry, region)


def _subset_size(count: int, k: int, n: int, n_state: int) -> int:
    """Points per network and compiled call for at most `count` active ones of k in each of n networks
    (see compacted_size), or all k where that saves less per iteration (~n·k·S³ flops for the
    factorizations) than a new compilation of the batch would cost."""
    size = compacted_size(count, k, _MIN_BATCH)
    return k if n * (k - size) * n_state**3 < _MIN_SAVING else size


def _drive(
    system: System, stage: str, params: Any, x0: jax.Array, u: jax.Array, region: jax.Array, carry: tuple,
    active: np.ndarray, steps: jax.Array, tol: jax.Array, population: bool,
) -> tuple:
    """Run `stage` to the end at every point: _ROUND iterations at a time, each time on the points still
    active only. Under vmap a loop runs as long as its slowest point, so without this the one point in a
    hundred that needs 100 iterations makes all of them pay for 100."""
    n, k = x0.shape[:2]

    def advance(batch: Batch) -> jax.Array:
        nonlocal carry
        # an inactive point (a network with none active) runs no iteration
        carry, still = _advance(
            system, stage, params, x0, u, region, carry, jnp.asarray(batch.networks, jnp.int32),
            jnp.asarray(batch.points, jnp.int32), jnp.asarray(_ROUND * (batch.round + 1), jnp.int32), steps, tol,
            population=population,
        )
        return still

    schedule(active, advance, min_points=_MIN_BATCH, compact_networks=False,
             points_for=lambda count: _subset_size(count, k, n, x0.shape[2]))
    return carry


@jax.jit
def _root_start(x0: jax.Array, region: jax.Array, skip: jax.Array, steps: jax.Array) -> tuple:
    """The carry of Newton on r at every point of x0 [n, K, S], and who is active; a point to `skip`
    [n, K] starts done (it runs no iteration of either stage and ends where it starts)."""
    carry = jax.vmap(jax.vmap(_root_begin))(x0)
    carry = carry[:6] + (skip,)
    return carry, _still_active("root", carry, region, steps, jnp.zeros((), x0.dtype))


@functools.partial(jax.jit, static_argnames=("system", "population"))
def _minimize_start(
    system: System, params: Any, x0: jax.Array, u: jax.Array, region: jax.Array, root: tuple, steps: jax.Array,
    tol: jax.Array, *, population: bool,
) -> tuple:
    """The end of Newton on r (last iterate [n, K, S], whether it is a root [n, K]) and the carry of LM on
    q from x0 for the points that are not (the others get no iterations), with who is active."""

    def one(params: Any, x0: jax.Array, u: jax.Array, region: jax.Array, x: jax.Array, done: jax.Array) -> tuple:
        # The last accepted step is checked here, by the loop's own test (which runs at the start of an
        # iteration): a point whose last allowed step reached a root to rounding is rooted too.
        r, _, _, dx = _linearize(system, params, x, u)
        rooted = done | _at_root(x, 0.5 * jnp.sum(r * r), _norm(dx), tol)
        # LM starts where q is lower: Newton's last iterate (inside the leash) usually got most of the way
        # from a far seed, and restarting from s₀ made LM redo it (twice the LM iterations from noisy seeds).
        # An iterate that left the search region is no start.
        lower = (0.5 * jnp.sum(r * r) < _q(system, params, x0, u)) & _inside(x, region)
        start = jnp.where(lower, x, x0)
        return rooted, _minimize_begin(system, params, start, u, jnp.where(rooted, 0, steps))

    rooted, carry = over_points(one, population)(params, x0, u, region, root[1], root[6])
    return rooted, carry, _still_active("minimize", carry, region, steps, tol)


def _measure_point(system: System, params: Any, x: jax.Array, u: jax.Array) -> tuple[jax.Array, ...]:
    """q at x, the length of the Newton step on q and of the Newton correction on r (see `measure`)."""
    r, jac, _, dx = _linearize(system, params, x, u)
    # The Newton step on q, H⁻¹∇q with H = ∇²q positive definite: the distance to the minimum of q the
    # quadratic model predicts, ~0 at a minimum (slow point or fixed point), inf where H is not positive
    # definite (a saddle of q). Scale-free: a saturated gate that makes F(s) − s small everywhere scales
    # ∇q and H alike, so it does not make every point look like a minimum, as a small ‖∇q‖ would.
    hess = jax.hessian(functools.partial(_q, system, params))(x, u) + _after(dx)
    to_min = jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(hess), True), jac.T @ r)
    min_step = jnp.where(jnp.all(jnp.isfinite(to_min)), _norm(to_min), jnp.inf)
    step = jnp.where(jnp.all(jnp.isfinite(dx)), _norm(dx), jnp.inf)
    step = jnp.where(jnp.all(r == 0), 0.0, step)  # an exact root, even where J − I is singular
    return 0.5 * jnp.sum(r * r), min_step, step


@functools.partial(jax.jit, static_argnames=("system", "population"))
def _measure(system: System, params: Any, u: jax.Array, x: jax.Array, *, population: bool) -> tuple:
    fn = over_points(functools.partial(_measure_point, system), population)
    return fn(params, x, u) if population else tuple(a[0] for a in fn(params, x[None], u[None]))


def search(
    system: System, params: Any, inputs: jax.Array, x0: jax.Array, *, steps: int, tol: float, population: bool,
    region: np.ndarray | None = None, skip: np.ndarray | None = None,
) -> tuple[jax.Array, np.ndarray]:
    """Fixed or slow point reached from every row of `x0 [(n,) K, S]` under `inputs [(n,) K, I]`.

    1. Newton on r = F(s) − s with error-oriented damping: δ = −J_r⁻¹ r, and a damping factor λ accepted
       when the simplified correction ‖J_r(s)⁻¹ r(s + λδ)‖ falls below (1 − λ/4)‖δ‖ (the restricted
       monotonicity test of Deuflhard's NLEQ-ERR), λ predicted from the nonlinearity observed. The test is
       affine invariant, so the long steps along a nearly flat valley to its root are taken at once, where a
       decrease of ‖r‖ (the Levenberg–Marquardt acceptance) forces hundreds of short ones.
    2. If that reaches no root within `steps` iterations, inside the leash of radius 1 + ‖s₀‖, or before
       λ < 1e-6: Levenberg–Marquardt on q from s₀ or Newton's last iterate, whichever has the lower q, solving (H + λ·‖H‖_F/√S·I) δ = −∇q with the exact
       Hessian H = J_rᵀJ_r + Σ r_i ∇²r_i, which converges quadratically to minima of q with q > 0 too.
    Either stops once q < `tol`, and a point stops as soon as it leaves its search region `region
    [(n,) K, 2, S]` (lower and upper bounds per coordinate; None: unbounded). Returns the end states
    `[(n,) K, S]` (see `measure`) and which of them left their region `[(n,) K]` (host). Every point stops
    on its own criterion, and the ones still going run on without the others (a few compiled batch
    sizes), so the cost follows the iterations each point needs. Rows where `skip [(n,) K]` is True (padding)
    run no iteration and end where they start.
    References: Deuflhard 2004 (Newton Methods for Nonlinear Problems, §3.3, NLEQ-ERR); Levenberg 1944;
    Marquardt 1963; Sussillo & Barak 2013.
    """
    # steps and tol are traced, so both phases and every budget share the compiled programs of a dtype.
    steps_, tol_ = jnp.asarray(steps, jnp.int32), jnp.asarray(tol, x0.dtype)
    x0_, u_ = (x0, inputs) if population else (x0[None], inputs[None])
    if region is None:
        bound = jnp.asarray(np.inf, x0_.dtype)
        box = jnp.broadcast_to(jnp.stack([-bound, bound])[:, None], (2, x0_.shape[-1]))
        region_ = jnp.broadcast_to(box, x0_.shape[:2] + box.shape)
    else:
        region_ = jnp.asarray(region if population else region[None], x0_.dtype)
    skip_ = jnp.zeros(x0_.shape[:2], bool) if skip is None else jnp.asarray(skip if population else skip[None])
    carry, active = _root_start(x0_, region_, skip_, steps_)
    root = _drive(system, "root", params, x0_, u_, region_, carry, np.asarray(active), steps_, tol_, population)
    rooted, carry, active = _minimize_start(
        system, params, x0_, u_, region_, root, steps_, tol_, population=population
    )
    minimum = _drive(system, "minimize", params, x0_, u_, region_, carry, np.asarray(active), steps_, tol_, population)
    x = jnp.where(rooted[..., None], root[1], minimum[1])
    left = np.asarray(~jax.vmap(jax.vmap(_inside))(x, region_))
    return (x, left) if population else (x[0], left[0])


def measure(
    system: System, params: Any, inputs: jax.Array, points: jax.Array, *, population: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How close every row of `points [(n,) K, S]` (under `inputs [(n,) K, I]`) is to a fixed or slow point,
    as host arrays `[(n,) K]`: q; the length of the Newton step on q, ‖(∇²q)⁻¹∇q‖ (the distance to the
    minimum of q its quadratic model predicts; ~0 at every minimum, inf where ∇²q is not positive
    definite); and the length of the Newton correction on r, ‖J_r⁻¹ r‖ (the distance to a root the
    linearization predicts; inf where J − I is singular, 0 at an exact root)."""
    out = _measure(system, params, inputs, points, population=population)
    return tuple(np.asarray(a) for a in out)


def speeds_squared(system: System, params: Any, points: jax.Array, inputs: jax.Array, *, population: bool) -> jax.Array:
    """q at every row of `points [(n,) P, S]` under `inputs [(n,) P, I]` -> `[(n,) P]` (one compiled call)."""
    return _speeds(system, params, points, inputs, population=population)


@functools.partial(jax.jit, static_argnames=("system", "population"))
def _speeds(system: System, params: Any, points: jax.Array, inputs: jax.Array, *, population: bool) -> jax.Array:
    batch = jax.vmap(functools.partial(_q, system), in_axes=(None, 0, 0))
    return jax.vmap(batch)(params, points, inputs) if population else batch(params, points, inputs)


def _descend(
    system: System,
    steps: int,
    learning_rate: float,
    tol: float,
    params: Any,
    inputs: jax.Array,
    x0: jax.Array,
) -> jax.Array:
    q_all = jax.vmap(functools.partial(_q, system, params))

    def loss(x: jax.Array) -> tuple[jax.Array, jax.Array]:
        q = q_all(x, inputs)
        return jnp.sum(q), q

    # Adam is per coordinate, so the gradient of Σ_k q_k moves every point on its own q_k.
    opt = optax.adam(optax.cosine_decay_schedule(learning_rate, steps, alpha=1e-2))

    def cond(carry: tuple) -> jax.Array:
        i, _, _, done = carry
        return (i < steps) & ~jnp.all(done)

    def body(carry: tuple) -> tuple:
        i, x, opt_state, done = carry
        (_, q), g = jax.value_and_grad(loss, has_aux=True)(x)
        done = done | (q < tol) | ~jnp.isfinite(q)
        # optax mixes its int32 step count with Python floats, which strict promotion rejects.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = opt.update(g, opt_state, x)
        x_new = x + updates
        keep = done[:, None] | ~jnp.isfinite(x_new)
        return i + 1, jnp.where(keep, x, x_new), opt_state, done

    init = (jnp.asarray(0, jnp.int32), x0, opt.init(x0), jnp.zeros(x0.shape[0], bool))
    return jax.lax.while_loop(cond, body, init)[1]



@functools.partial(jax.jit, static_argnames=("system", "steps", "learning_rate", "tol", "population"))
def adam(
    system: System,
    params: Any,
    inputs: jax.Array,
    x0: jax.Array,
    *,
    steps: int,
    learning_rate: float,
    tol: float,
    population: bool,
) -> jax.Array:
    """Adam on q from every initial state `x0 [(n,) K, S]` under `inputs [(n,) K, I]` -> states `[(n,) K, S]`.

    The learning rate decays by cosine to 1% over `steps`; a point stops once q < `tol` (or q is not
    finite); the loop ends when every point has stopped or after `steps` iterations. This is the descent
    of FixedPointFinder (Golub & Sussillo 2018), kept as an alternative first phase.
    References: Kingma & Ba 2015 (Adam); Sussillo & Barak 2013 (minimising q).
    """
    if steps == 0:
        return x0
    one = functools.partial(_descend, system, steps, learning_rate, tol)
    return jax.vmap(one)(params, inputs, x0) if population else one(params, inputs, x0)
