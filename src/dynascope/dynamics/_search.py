"""Compiled, batched search for minima of q(s) = ½‖F(s) − s‖²: damped Newton (or Adam) on many points.

Every function here works on a batch of K points at once (and, with `population=True`, on a stack of
n networks via vmap), inside one jit; each point stops moving on its own criterion while the others go on.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax

from dynascope.dynamics._system import System

# Levenberg damping, relative to the curvature scale ‖H‖_F/√S: start, the value a rejected step jumps to at
# least, and the ceiling past which no step can lower q any more (a minimum to working precision). The
# floor is 100·eps of the dtype, below which H + λ adds nothing and float32 Cholesky fails on J_rᵀJ_r.
_LAM_START, _LAM_REJECT, _LAM_MAX = 1e-3, 1e-2, 1e6


def _q(system: System, params: Any, x: jax.Array, u: jax.Array) -> jax.Array:
    r = system.residual(params, x, u)
    return 0.5 * jnp.sum(r * r)


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


def _newton_point(
    system: System,
    steps: jax.Array,
    tol: jax.Array,
    params: Any,
    x0: jax.Array,
    u: jax.Array,
) -> tuple[jax.Array, ...]:
    q = functools.partial(_q, system, params)
    grad, hess = jax.grad(q), jax.hessian(q)
    eps = jnp.finfo(x0.dtype).eps
    eye = jnp.eye(x0.shape[0], dtype=x0.dtype)

    def cond(carry: tuple) -> jax.Array:
        i, x, qx, lam = carry
        # q ≤ (4·eps·(1 + ‖x‖))²/2 is zero to working precision: nothing left to gain.
        floor = 8.0 * eps * eps * (1.0 + jnp.sum(x * x))
        return (i < steps) & (lam < _LAM_MAX) & (qx > floor) & (qx >= tol)

    def body(carry: tuple) -> tuple:
        i, x, qx, lam = carry
        g, h = grad(x, u), hess(x, u)
        # RMS eigenvalue size of H: positive even where H is indefinite, so λ·scale can always restore
        # positive definiteness (at λ ≥ √S at the latest) and the step tends to a short gradient step.
        scale = jnp.maximum(jnp.sqrt(jnp.sum(h * h) / x.shape[0]), eps)
        # A failed Cholesky (H + λ not positive definite) gives NaN: the step is rejected, λ grows.
        chol = jnp.linalg.cholesky(h + (lam * scale) * eye)
        delta = -jax.scipy.linalg.cho_solve((chol, True), g)
        x_new = x + delta
        q_new = q(x_new, u)
        ok = jnp.all(jnp.isfinite(x_new)) & jnp.isfinite(q_new) & (q_new < qx)
        lam = jnp.where(ok, jnp.maximum(lam / 10.0, 100.0 * eps), jnp.maximum(lam * 10.0, _LAM_REJECT))
        return i + 1, jnp.where(ok, x_new, x), jnp.where(ok, q_new, qx), lam

    lam0 = jnp.asarray(_LAM_START, x0.dtype)
    init = (jnp.asarray(0, jnp.int32), x0, q(x0, u), lam0)
    _, x, qx, _ = jax.lax.while_loop(cond, body, init)
    # ‖∇‖r‖‖ = ‖J_rᵀ r‖/‖r‖, the rate at which the speed changes per unit of state: ~0 at any
    # minimum of q.
    speed = jnp.sqrt(2.0 * qx)
    g = grad(x, u)
    slope = jnp.where(speed > 0, jnp.sqrt(jnp.sum(g * g)) / jnp.where(speed > 0, speed, 1.0), 0.0)
    return x, qx, slope


def newton(
    system: System, params: Any, inputs: jax.Array, x0: jax.Array, *, steps: int, tol: float, population: bool
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Damped Newton (Levenberg–Marquardt) on q with its exact Hessian, from every row of `x0 [(n,) K, S]`.

    Solves (H + λ·‖H‖_F/√S·I) δ = −∇q with H = ∇²q = J_rᵀJ_r + Σ r_i ∇²r_i, accepting a step only
    if q falls; λ shrinks tenfold on success and grows on failure. A point stops after `steps` iterations, once
q < `tol`, or when no step lowers q any more. At a fixed point H = J_rᵀJ_r (Gauss–Newton)
    and convergence is quadratic; because H includes the residual curvature, slow points (minima of q
    with q > 0) also converge quadratically. Returns states `[(n,) K, S]`, q `[(n,) K]` and the slope
    ‖∇‖F(s) − s‖‖ `[(n,) K]`, ~0 at every minimum of q.
    References: Levenberg 1944; Marquardt 1963; Sussillo & Barak 2013.
    """
    # steps and tol are traced, so both phases and every budget share one compiled program per dtype.
    steps_, tol_ = jnp.asarray(steps, jnp.int32), jnp.asarray(tol, x0.dtype)
    return _newton(system, params, inputs, x0, steps_, tol_, population=population)


@functools.partial(jax.jit, static_argnames=("system", "population"))
def _newton(
    system: System,
    params: Any,
    inputs: jax.Array,
    x0: jax.Array,
    steps: jax.Array,
    tol: jax.Array,
    *,
    population: bool,
) -> tuple[jax.Array, ...]:
    point = functools.partial(_newton_point, system, steps, tol)
    batch = jax.vmap(point, in_axes=(None, 0, 0))
    return jax.vmap(batch)(params, x0, inputs) if population else batch(params, x0, inputs)


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
