"""Populations of deep linear networks trained by full-batch gradient descent, next to their exact theory.

A deep linear network maps x to W x with W = W_depth ⋯ W_2 W_1 (`depth` weight matrices, N_l = depth + 1
layers of units). It is trained on the loss of a linear regression that is fully described by two
correlation matrices, Σ_xx = E[x xᵀ] `[n_in, n_in]` and Σ_yx = E[y xᵀ] `[n_out, n_in]`:

    L(W) = ½ E‖y − W x‖² − L* = ½ tr(W Σ_xx Wᵀ) − tr(W Σ_yxᵀ) + ½ tr(Σ_yx Σ_xx⁺ Σ_yxᵀ),

the excess over the best linear map (so L ≥ 0, and L = 0 at the optimum), whose gradient is the exact
full-batch gradient — no sampling noise. `simulate` takes `steps` of gradient descent with learning rate η
on every layer (its own loop, not the task-based population trainer: the data are two matrices, not
trials), for `n_networks` networks at once (vmap over their initial weights), and records the end-to-end
map, its projections on the singular modes of Σ_yx (the quantities `modes.mode_strength` predicts) and the
loss. With whitened inputs and the "balanced" initialisation those projections follow the theory exactly
in the gradient-flow limit; `time` = η·step is the flow's time with τ = 1 (`dynascope.theory.modes`).

`depth_scan` measures the time to learn one mode against depth and initial scale, the simulation beside
the theory (power law a0^{−(N_l − 3)} for small balanced weights).

Reference: Saxe, McClelland & Ganguli 2014, "Exact solutions to the nonlinear dynamics of learning in deep
linear neural networks" (ICLR).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.errors import ConfigError
from dynascope.theory._checks import choice, correlation_pair, positive, positive_int, prng_key, record_interval
from dynascope.theory.modes import crossing_time, mode_strength, time_to_learn

__all__ = [
    "INITS",
    "DeepLinearRun",
    "DepthScan",
    "depth_scan",
    "mode_strength",
    "scaling_exponent",
    "simulate",
    "time_to_learn",
]

#: Initialisations of the weights, each at a per-layer scale a0 (`init_scale`):
#: "balanced": Saxe et al.'s decoupled initial condition — W_1 = a0 R_1 V_kᵀ, W_l = a0 R_l R_{l−1}ᵀ,
#:     W_depth = a0 U_k R_{depth−1}ᵀ with random orthonormal hidden bases R_l `[n_hidden, k]` and the top
#:     k = min(n_in, n_out, n_hidden) singular vectors U_k, V_k of Σ_yx. The layers are balanced
#:     (W_{l+1}ᵀ W_{l+1} = W_l W_lᵀ) and aligned with the task, so every mode starts at u0 = a0^depth and
#:     follows `mode_strength` exactly (under whitened inputs); modes beyond k start (and stay) at 0.
#: "small_random": independent Gaussian entries of variance a0²/fan_in (a layer's gain is about a0); the
#:     modes start at random, unaligned strengths of order a0^depth and align during the plateau.
#: "orthogonal": each layer a0 times an independent random (semi-)orthogonal matrix (a0 = 1: every
#:     layer an isometry, Saxe et al.'s orthogonal initialisation).
INITS = ("balanced", "small_random", "orthogonal")


@dataclasses.dataclass(frozen=True)
class DeepLinearRun:
    """What `simulate` recorded, as NumPy arrays (R records at steps 0, record_every, …, steps).

    steps `[R]` int: the gradient-descent steps at which each record was taken.
    time `[R]`: η·steps, the gradient-flow time in units of τ (compare with `mode_strength(time, s, u0,
        tau=1.0, depth)`).
    maps `[n_networks, R, n_out, n_in]`: the end-to-end map W = W_depth ⋯ W_1.
    modes `[n_networks, R, r]`: u_αᵀ W v_α for the r = min(n_in, n_out) singular modes of Σ_yx, strongest
        first (the mode strengths of the theory).
    singular_values `[r]`: s_α, the singular values of Σ_yx, descending.
    mode_vectors: (U `[n_out, r]`, V `[n_in, r]`), the singular vectors the modes are projected on.
    loss `[n_networks, R]`: the excess loss L(W) ≥ 0 (module docstring).
    weights: per layer, the final weights `[n_networks, fan_out, fan_in]`, W_1 first.
    weight_history: per layer `[n_networks, R, fan_out, fan_in]` if `record_weights=True`, else None.
    diverged `[n_networks]` bool: the loss became non-finite (lower the learning rate).
    depth, learning_rate, init, init_scale: the settings that produced the run.
    """

    steps: np.ndarray
    time: np.ndarray
    maps: np.ndarray
    modes: np.ndarray
    singular_values: np.ndarray
    mode_vectors: tuple[np.ndarray, np.ndarray]
    loss: np.ndarray
    weights: tuple[np.ndarray, ...]
    weight_history: tuple[np.ndarray, ...] | None
    diverged: np.ndarray
    depth: int
    learning_rate: float
    init: str
    init_scale: float


def _semi_orthogonal(key: jax.Array, rows: int, cols: int) -> jax.Array:
    """A random `[rows, cols]` matrix with orthonormal columns (rows ≥ cols) or rows (rows < cols)."""
    tall = max(rows, cols), min(rows, cols)
    q, r = jnp.linalg.qr(jax.random.normal(key, tall, dtype=jnp.float32))
    q = q * jnp.sign(jnp.diagonal(r))  # Haar-distributed, not biased by QR's sign convention
    return q if rows >= cols else q.T


def _initial_weights(
    key: jax.Array, a0: jax.Array, u_k: jax.Array, v_k: jax.Array, sizes: tuple[int, ...], init: str
) -> tuple[jax.Array, ...]:
    depth = len(sizes) - 1
    keys = jax.random.split(key, depth)
    if init == "small_random":
        return tuple(
            a0 / jnp.sqrt(jnp.float32(sizes[i])) * jax.random.normal(keys[i], (sizes[i + 1], sizes[i]), jnp.float32)
            for i in range(depth)
        )
    if init == "orthogonal":
        return tuple(a0 * _semi_orthogonal(keys[i], sizes[i + 1], sizes[i]) for i in range(depth))
    # balanced and aligned: a chain of orthonormal hidden bases joining V_k to U_k
    bases = [v_k] + [_semi_orthogonal(keys[i], sizes[i + 1], v_k.shape[1]) for i in range(depth - 1)] + [u_k]
    return tuple(a0 * bases[i + 1] @ bases[i].T for i in range(depth))


def _end_to_end(weights: tuple[jax.Array, ...]) -> jax.Array:
    return functools.reduce(lambda acc, w: w @ acc, weights[1:], weights[0])


@functools.partial(
    jax.jit, static_argnames=("sizes", "init", "n_records", "record_every", "record_weights")
)
def _train(
    sigma_xx: jax.Array,
    sigma_yx: jax.Array,
    best_loss: jax.Array,
    u_r: jax.Array,
    v_r: jax.Array,
    a0: jax.Array,
    learning_rate: jax.Array,
    keys: jax.Array,
    *,
    sizes: tuple[int, ...],
    init: str,
    n_records: int,
    record_every: int,
    record_weights: bool,
) -> dict[str, Any]:
    k = min(sizes)
    u_k, v_k = u_r[:, :k], v_r[:, :k]

    def loss(weights: tuple[jax.Array, ...]) -> jax.Array:
        w = _end_to_end(weights)
        return 0.5 * jnp.sum((w @ sigma_xx) * w) - jnp.sum(w * sigma_yx) + best_loss

    def record(weights: tuple[jax.Array, ...]) -> dict[str, Any]:
        w = _end_to_end(weights)
        out = {"map": w, "modes": jnp.sum(u_r * (w @ v_r), axis=0), "loss": loss(weights)}
        if record_weights:
            out["weights"] = weights
        return out

    grad = jax.grad(loss)

    def one_network(key: jax.Array) -> dict[str, Any]:
        weights = _initial_weights(key, a0, u_k, v_k, sizes, init)

        def gd_step(_: int, ws: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
            return tuple(w - learning_rate * g for w, g in zip(ws, grad(ws)))

        def block(ws: tuple[jax.Array, ...], _: None) -> tuple[tuple[jax.Array, ...], dict[str, Any]]:
            ws = jax.lax.fori_loop(0, record_every, gd_step, ws)
            return ws, record(ws)

        final, history = jax.lax.scan(block, weights, None, length=n_records - 1)
        first = record(weights)
        history = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, history)
        return {"history": history, "final": final}

    return jax.vmap(one_network)(keys)


def simulate(
    sigma_xx: Any,
    sigma_yx: Any,
    *,
    depth: int,
    n_hidden: int,
    init_scale: float,
    learning_rate: float,
    steps: int,
    key: jax.Array,
    init: str = "balanced",
    n_networks: int = 1,
    record_every: int | None = None,
    record_weights: bool = False,
) -> DeepLinearRun:
    """Train `n_networks` deep linear networks by full-batch gradient descent on the map (Σ_xx, Σ_yx).

    Args:
        sigma_xx: input correlation E[x xᵀ] `[n_in, n_in]`, symmetric positive semi-definite (the identity
            for whitened inputs, which the theory assumes).
        sigma_yx: input–output correlation E[y xᵀ] `[n_out, n_in]`.
        depth: number of weight matrices (N_l − 1); 1 is the shallow network without hidden layer.
        n_hidden: width of every hidden layer (unused for depth 1).
        init_scale: per-layer initial scale a0 > 0 (see `INITS`).
        learning_rate: η > 0; the flow time constant is τ = 1/η steps.
        steps: gradient-descent steps.
        key: JAX PRNG key for the initial weights (one split per network).
        init: one of `INITS`.
        n_networks: how many networks (independent initial weights), trained in one vmapped program.
        record_every: steps between records, a divisor of `steps` (default: the smallest divisor giving at
            most 500 records).
        record_weights: also keep every layer's weights at each record (`weight_history`).

    Returns:
        A `DeepLinearRun`; shapes in its docstring.

    Raises:
        ConfigError / ShapeError / DataError naming the argument for bad settings or correlations.

    Reference: Saxe, McClelland & Ganguli 2014 (ICLR).
    """
    xx, yx = correlation_pair(sigma_xx, sigma_yx)
    depth = positive_int("depth", depth)
    n_hidden = positive_int("n_hidden", n_hidden)
    a0 = positive("init_scale", init_scale)
    eta = positive("learning_rate", learning_rate)
    steps = positive_int("steps", steps)
    n_networks = positive_int("n_networks", n_networks)
    init = choice("init", init, INITS)
    every = record_interval(steps, record_every)
    key = prng_key(key)

    n_out, n_in = yx.shape
    sizes = (n_in, *([n_hidden] * (depth - 1)), n_out)
    u, s, vt = np.linalg.svd(yx, full_matrices=False)  # host float64: the modes the theory speaks of
    best = 0.5 * float(np.trace(yx @ np.linalg.pinv(xx, hermitian=True) @ yx.T))
    n_records = steps // every + 1
    out = _train(
        jnp.asarray(xx, jnp.float32), jnp.asarray(yx, jnp.float32), jnp.float32(best),
        jnp.asarray(u, jnp.float32), jnp.asarray(vt.T, jnp.float32), jnp.float32(a0), jnp.float32(eta),
        jax.random.split(key, n_networks),
        sizes=sizes, init=init, n_records=n_records, record_every=every, record_weights=record_weights,
    )
    history = jax.tree_util.tree_map(np.asarray, out["history"])
    loss = history["loss"]
    record_steps = np.arange(n_records) * every
    return DeepLinearRun(
        steps=record_steps,
        time=record_steps * eta,
        maps=history["map"],
        modes=history["modes"],
        singular_values=s,
        mode_vectors=(u, vt.T),
        loss=loss,
        weights=tuple(np.asarray(w) for w in out["final"]),
        weight_history=history["weights"] if record_weights else None,
        diverged=~np.all(np.isfinite(loss), axis=1),
        depth=depth,
        learning_rate=eta,
        init=init,
        init_scale=a0,
    )


@dataclasses.dataclass(frozen=True)
class DepthScan:
    """Time to learn one mode (strength s) against depth and per-layer initial scale, in units of τ.

    depths `[D]`, init_scales `[A]`.
    simulated `[D, A, n_networks]`: first time the simulated mode reaches `fraction`·s (NaN: not within the
        steps run).
    theory `[D, A]`: `time_to_learn(s, a0**depth, 1.0, depth, fraction=fraction)`, the prediction for the
        balanced initialisation (for other initialisations a reference line, not a prediction).
    s, fraction, learning_rate, init: the settings.
    """

    depths: np.ndarray
    init_scales: np.ndarray
    simulated: np.ndarray
    theory: np.ndarray
    s: float
    fraction: float
    learning_rate: float
    init: str


def depth_scan(
    depths: Any,
    init_scales: Any,
    *,
    learning_rate: float,
    steps: int,
    key: jax.Array,
    s: float = 1.0,
    n_hidden: int = 2,
    init: str = "balanced",
    n_networks: int = 1,
    fraction: float = 0.5,
    record_every: int | None = None,
) -> DepthScan:
    """Simulated and predicted time to learn a single mode of strength `s` over depths × initial scales.

    The task is the one-mode map Σ_xx = [[1]], Σ_yx = [[s]] (n_in = n_out = 1), so the network's only mode is
    its scalar end-to-end map. Each depth compiles once; the initial scales reuse the program.

    Args:
        depths: numbers of weight matrices `[D]`, each ≥ 2 (N_l = depth + 1).
        init_scales: per-layer initial scales a0 `[A]`, > 0.
        learning_rate, steps, key, n_hidden, init, n_networks, record_every: as in `simulate` (one key for the
            whole scan: each depth uses its own split).
        s: the mode's singular value.
        fraction: the mode counts as learned at fraction·s.

    Returns:
        A `DepthScan`. Fit the power law with `scaling_exponent(scan.init_scales, scan.simulated[d])`.

    Reference: Saxe, McClelland & Ganguli 2014 (ICLR), section 3 (learning speed against depth).
    """
    depth_list = [positive_int("depths", d, minimum=2) for d in np.atleast_1d(np.asarray(depths)).tolist()]
    scales = [positive("init_scales", a) for a in np.atleast_1d(np.asarray(init_scales, dtype=np.float64))]
    s = positive("s", s)
    sim = np.full((len(depth_list), len(scales), positive_int("n_networks", n_networks)), np.nan)
    theory = np.empty((len(depth_list), len(scales)))
    for i, (depth, depth_key) in enumerate(zip(depth_list, jax.random.split(key, len(depth_list)))):
        for j, a0 in enumerate(scales):
            run = simulate(
                [[1.0]], [[s]], depth=depth, n_hidden=n_hidden, init_scale=a0, learning_rate=learning_rate,
                steps=steps, key=depth_key, init=init, n_networks=n_networks, record_every=record_every,
            )
            # A network whose mode started negative (random inits) learns s from below through 0: use |u|.
            sim[i, j] = crossing_time(run.time, np.abs(run.modes[:, :, 0]), fraction * s)
            theory[i, j] = time_to_learn(s, a0**depth, 1.0, depth, fraction=fraction)
    return DepthScan(
        depths=np.asarray(depth_list), init_scales=np.asarray(scales), simulated=sim, theory=theory, s=s,
        fraction=float(fraction), learning_rate=float(learning_rate), init=init,
    )


def scaling_exponent(init_scales: Any, times: Any) -> float:
    """Least-squares slope of log(time) against log(init_scale): the power p in time ∝ a0^p.

    Args:
        init_scales: `[A]` initial scales.
        times: `[A]` or `[A, n_networks]` times to learn (NaN entries are left out; networks are averaged
            in log space).

    Returns:
        The fitted exponent; small balanced weights give about −(depth − 2) = −(N_l − 3).
    """
    a = np.asarray(init_scales, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    logs = np.log(np.where(np.isfinite(t) & (t > 0), t, np.nan)).reshape(a.shape[0], -1)
    counts = np.isfinite(logs).sum(axis=1)
    # Geometric mean over networks, written out so an all-NaN scale is left out without a warning.
    log_t = np.where(counts > 0, np.nansum(logs, axis=1) / np.maximum(counts, 1), np.nan)
    keep = np.isfinite(log_t) & (a > 0)
    if keep.sum() < 2:
        raise ConfigError(
            f"scaling_exponent needs at least 2 finite times to fit a slope, got {int(keep.sum())}; run more "
            "steps so the mode is learned at more initial scales."
        )
    return float(np.polyfit(np.log(a[keep]), log_t[keep], 1)[0])
