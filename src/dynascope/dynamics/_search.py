"""Compiled, batched search for fixed points (roots of r(s) = F(s) − s) and slow points (minima of
q(s) = ½‖r(s)‖²) from many points at once.

Each point first runs `solvers.Newton` on r (Deuflhard's NLEQ-ERR), which finds fixed points — stable or
not — in a few steps even where F is nearly flat (F(s) ≈ s, J − I ill-conditioned, as in gated networks);
a point it cannot take to a root goes on, from its initial state or Newton's last iterate, whichever has
the lower q, with `solvers.LevenbergMarquardt` on q (exact Hessian), which finds the minima of q, including
those with q > 0 (slow points, ghosts). Every function works on a batch of K points of each of n
networks (params stacked along a leading network axis; one network is a population of one); each point stops on its own criterion, and a few
iterations at a time the points still going are gathered into a smaller batch (`_scheduler.schedule`),
so the few that need a hundred iterations do not make all of them pay for a hundred. A point may be given
a search region (a box): it stops as soon as it leaves it, so seeds that walk away from the states a
network visits (towards saturation, where q decays with no minimum) do not pay the whole budget.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope._compile import program, work
from dynascope.dynamics._scheduler import Batch, compacted_size, over_points, put_points, schedule, take_points
from dynascope.dynamics._system import System
from dynascope.dynamics.solvers import AbstractSolver, Adam, LevenbergMarquardt, Newton, Result, iterate
from dynascope.dynamics.solvers._base import Fn
from dynascope.dynamics.solvers._levenberg_marquardt import half_squared_norm
from dynascope.dynamics.solvers._linear import after, cholesky_solve, norm
from dynascope.dynamics.solvers._newton import linearize

#: The two stages: Newton on r, then, for the points it took to no root, the minimisation of q.
ROOT, MINIMUM = Newton(), LevenbergMarquardt()
# Iterations between two compactions of the batch, the smallest batch a compaction makes, and the work
# per iteration (~flops) a compaction must save to be worth a compilation of the smaller batch.
_ROUND, _MIN_BATCH, _MIN_SAVING = 4, 8, 2**24


def residual(system: System, params: Any, u: jax.Array) -> Fn:
    """r(s) = F(s) − s of one network under the constant input `u [I]`, as a function of the state."""
    return lambda x: system.residual(params, x, u)


def _inside(x: jax.Array, region: jax.Array) -> jax.Array:
    """Whether x [S] lies in the search region `region [2, S]` (lower and upper bounds, ±inf for none)."""
    return jnp.all((x >= region[0]) & (x <= region[1]))


def _still_active(solver: AbstractSolver, state: Any, region: jax.Array) -> jax.Array:
    """Which points [n, K] of a stage are still going: the solver's own test, inside their region."""
    return jax.vmap(jax.vmap(lambda s, b: solver.going(s) & _inside(s.y, b)))(state, region)


def _advance_point(
    system: System, solver: AbstractSolver, until: jax.Array, params: Any, u: jax.Array, region: jax.Array, state: Any
) -> Any:
    """Iterate `solver` at one point while it is going, inside its region, below iteration `until`."""
    return iterate(solver, residual(system, params, u), state, until, going=lambda s: _inside(s.y, region))


@program(static_argnames=("system", "solver"))
def _advance(
    system: System, solver: AbstractSolver, params: Any, u: jax.Array, region: jax.Array, state: Any,
    networks: jax.Array, points: jax.Array, until: jax.Array,
) -> tuple[Any, jax.Array]:
    """Advance the `points [n, B]` of every network (repeats allowed) up to iteration `until`; returns the
    whole state with theirs replaced and which points [n, K] are still active."""
    sub = take_points((u, region, state), networks, points)
    out = over_points(functools.partial(_advance_point, system, solver, until))(params, *sub)
    state = put_points(state, networks, points, out)
    return state, _still_active(solver, state, region)


def _subset_size(count: int, k: int, n: int, n_state: int) -> int:
    """Points per network and compiled call for at most `count` active ones of k in each of n networks
    (see compacted_size), or all k where that saves less per iteration (~n·k·S³ flops for the
    factorizations) than a new compilation of the batch would cost."""
    size = compacted_size(count, k, _MIN_BATCH)
    return k if n * (k - size) * n_state**3 < _MIN_SAVING else size


def _drive(
    system: System, solver: AbstractSolver, params: Any, u: jax.Array, region: jax.Array, state: Any,
    active: np.ndarray,
) -> Any:
    """Run `solver` to the end at every point: _ROUND iterations at a time, each time on the points still
    active only. Under vmap a loop runs as long as its slowest point, so without this the one point in a
    hundred that needs 100 iterations makes all of them pay for 100."""
    n, k, n_state = state.y.shape

    def advance(batch: Batch) -> jax.Array:
        nonlocal state
        # an inactive point (a network with none active) runs no iteration
        state, still = _advance(
            work(n, k, n_state), system, solver, params, u, region, state, np.asarray(batch.networks, np.int32),
            np.asarray(batch.points, np.int32), np.asarray(_ROUND * (batch.round + 1), np.int32),
        )
        return still

    schedule(active, advance, min_points=_MIN_BATCH, compact_networks=False,
             points_for=lambda count: _subset_size(count, k, n, n_state))
    return state


@functools.partial(jax.jit, static_argnames=("system",))
def _root_start(
    system: System, params: Any, x0: jax.Array, u: jax.Array, region: jax.Array | None, skip: jax.Array | None,
    steps: jax.Array, tol: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array, Any, jax.Array]:
    """Newton's state at every point of x0 [n, K, S], and who is active; a point to `skip` [n, K] starts
    done (it runs no iteration of either stage and ends where it starts). Also returns x0, the inputs and
    the region's defaults: the set-up is done here, in the program that runs anyway, because each eager
    array operation on the host is one more compilation."""
    if region is None:  # unbounded
        box = jnp.stack([jnp.full(x0.shape[-1], -jnp.inf, x0.dtype), jnp.full(x0.shape[-1], jnp.inf, x0.dtype)])
        region = jnp.broadcast_to(box, x0.shape[:2] + box.shape)
    else:
        region = jnp.asarray(region, x0.dtype)
    skip = jnp.zeros(x0.shape[:2], bool) if skip is None else skip

    def one(params: Any, x0: jax.Array, u: jax.Array, skip: jax.Array) -> Any:
        return ROOT.init(residual(system, params, u), x0, max_steps=steps, tol=tol, skip=skip)

    state = over_points(one)(params, x0, u, skip)
    return x0, u, region, state, _still_active(ROOT, state, region)


@functools.partial(jax.jit, static_argnames=("system",))
def _minimize_start(
    system: System, params: Any, x0: jax.Array, u: jax.Array, region: jax.Array, root: Any, steps: jax.Array,
    tol: jax.Array,
) -> tuple[jax.Array, Any, jax.Array]:
    """Which points Newton took to a root [n, K], and the state of the minimisation of q for the others
    (the roots get no iterations), with who is active."""

    def one(params: Any, x0: jax.Array, u: jax.Array, region: jax.Array, root: Any) -> tuple:
        fn = residual(system, params, u)
        y, code = ROOT.result(fn, root)
        rooted = code == Result.CONVERGED
        # The minimisation starts where q is lower: Newton's last iterate (inside the leash) usually got most
        # of the way from a far seed, and restarting from s₀ made it redo that (twice the iterations from
        # noisy seeds). An iterate that left the search region is no start.
        lower = (half_squared_norm(fn, y) < half_squared_norm(fn, x0)) & _inside(y, region)
        start = jnp.where(lower, y, x0)
        return rooted, MINIMUM.init(fn, start, max_steps=jnp.where(rooted, 0, steps), tol=tol)

    rooted, state = over_points(one)(params, x0, u, region, root)
    return rooted, state, _still_active(MINIMUM, state, region)


def search(
    system: System, params: Any, inputs: jax.Array, x0: jax.Array, *, steps: int, tol: float,
    region: np.ndarray | None = None, skip: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed or slow point reached from every row of `x0 [n, K, S]` under `inputs [n, K, I]` (params with
    the leading network axis n), as host arrays.

    1. `solvers.Newton` on r = F(s) − s, at most `steps` iterations.
    2. Where that reaches no root: `solvers.LevenbergMarquardt` on q from s₀ or Newton's last iterate,
       whichever has the lower q, at most `steps` iterations.
    Either stops once q < `tol`, and a point stops as soon as it leaves its search region `region
    [n, K, 2, S]` (lower and upper bounds per coordinate; None: unbounded). Returns the end states
    `[n, K, S]` (see `measure`) and which of them left their region `[n, K]` (host). Every point stops
    on its own criterion, and the ones still going run on without the others (a few compiled batch
    sizes), so the cost follows the iterations each point needs. Rows where `skip [n, K]` is True (padding)
    run no iteration and end where they start.
    References: Deuflhard 2004 (NLEQ-ERR); Levenberg 1944; Marquardt 1963; Sussillo & Barak 2013.
    """
    # steps and tol are traced, so both phases and every budget share the compiled programs of a dtype.
    # Host values go in as NumPy arrays: converting them with jnp on the host would compile a program each.
    dtype = np.dtype(x0.dtype)
    steps_, tol_ = np.asarray(steps, np.int32), np.asarray(tol, dtype)
    x0_, u_, region_, root, active = _root_start(
        system, params, x0, inputs, None if region is None else np.asarray(region, dtype),
        None if skip is None else np.asarray(skip, bool), steps_, tol_,
    )
    root = _drive(system, ROOT, params, u_, region_, root, np.asarray(active))
    if np.asarray(root.at_root).all():
        # Newton took every point to a root (as in the float64 polish of converged points): the second stage
        # would run no iteration, so neither is its start program compiled.
        x = np.asarray(root.y)
    else:
        rooted, state, active = _minimize_start(
            system, params, x0_, u_, region_, root, steps_, tol_
        )
        minimum = _drive(system, MINIMUM, params, u_, region_, state, np.asarray(active))
        x = np.where(np.asarray(rooted)[..., None], np.asarray(root.y), np.asarray(minimum.y))
    # Who left the region, worked out on the host (NumPy), for the same reason.
    bounds = np.asarray(region_)
    left = ~np.all((x >= bounds[..., 0, :]) & (x <= bounds[..., 1, :]), axis=-1)
    return x, left


def _measure_point(system: System, params: Any, x: jax.Array, u: jax.Array) -> tuple[jax.Array, ...]:
    """q at x, the length of the Newton step on q and of the Newton correction on r (see `measure`)."""
    fn = residual(system, params, u)
    r, jac, _, dx = linearize(fn, x)
    # The Newton step on q, H⁻¹∇q with H = ∇²q positive definite: the distance to the minimum of q the
    # quadratic model predicts, ~0 at a minimum (slow point or fixed point), inf where H is not positive
    # definite (a saddle of q). Scale-free: a saturated gate that makes F(s) − s small everywhere scales
    # ∇q and H alike, so it does not make every point look like a minimum, as a small ‖∇q‖ would.
    hess = jax.hessian(lambda y: half_squared_norm(fn, y))(x) + after(dx)
    to_min = cholesky_solve(hess, jac.T @ r)
    min_step = jnp.where(jnp.all(jnp.isfinite(to_min)), norm(to_min), jnp.inf)
    step = jnp.where(jnp.all(jnp.isfinite(dx)), norm(dx), jnp.inf)
    step = jnp.where(jnp.all(r == 0), 0.0, step)  # an exact root, even where J − I is singular
    return 0.5 * jnp.sum(r * r), min_step, step


@program(static_argnames=("system",))
def _measure(system: System, params: Any, u: jax.Array, x: jax.Array) -> tuple:
    return over_points(functools.partial(_measure_point, system))(params, x, u)


def measure(
    system: System, params: Any, inputs: jax.Array, points: jax.Array
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How close every row of `points [n, K, S]` (under `inputs [n, K, I]`) is to a fixed or slow point,
    as host arrays `[n, K]`: q; the length of the Newton step on q, ‖(∇²q)⁻¹∇q‖ (the distance to the
    minimum of q its quadratic model predicts; ~0 at every minimum, inf where ∇²q is not positive
    definite); and the length of the Newton correction on r, ‖J_r⁻¹ r‖ (the distance to a root the
    linearization predicts; inf where J − I is singular, 0 at an exact root)."""
    out = _measure(work(*points.shape), system, params, inputs, points)
    return tuple(np.asarray(a) for a in out)


@functools.partial(jax.jit, static_argnames=("system",))
def _speeds(system: System, params: Any, points: jax.Array, inputs: jax.Array) -> jax.Array:
    def one(params: Any, x: jax.Array, u: jax.Array) -> jax.Array:
        return half_squared_norm(residual(system, params, u), x)

    return over_points(one)(params, points, inputs)


def speeds_squared(system: System, params: Any, points: jax.Array, inputs: jax.Array) -> jax.Array:
    """q at every row of `points [n, P, S]` under `inputs [n, P, I]` -> `[n, P]` (one compiled call)."""
    return _speeds(system, params, points, inputs)


@functools.partial(jax.jit, static_argnames=("system", "solver"))
def _descend(
    system: System, solver: Adam, params: Any, inputs: jax.Array, x0: jax.Array, tol: jax.Array
) -> jax.Array:
    def one(params: Any, x0: jax.Array, u: jax.Array) -> jax.Array:
        fn = residual(system, params, u)
        return iterate(solver, fn, solver.init(fn, x0, tol=tol)).y

    return over_points(one)(params, x0, inputs)


def adam(
    system: System, params: Any, inputs: jax.Array, x0: jax.Array, *, steps: int, learning_rate: float, tol: float,
) -> jax.Array:
    """`solvers.Adam` on q from every initial state `x0 [n, K, S]` under `inputs [n, K, I]` -> states
    `[n, K, S]`: the descent of FixedPointFinder (Golub & Sussillo 2018), kept as an alternative phase 1."""
    if steps == 0:
        return x0
    solver = Adam(float(learning_rate), int(steps))
    return _descend(system, solver, params, inputs, x0, jnp.asarray(tol, x0.dtype))
