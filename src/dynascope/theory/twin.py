"""A deep linear network and its tanh twin, trained side by side from the same initial weights.

Both networks have the shape of `deeplinear.simulate`'s (`depth` weight matrices, hidden layers of
`n_hidden` units) and start from the very same weights (`deeplinear.INITS`). The linear one computes
W_depth ⋯ W_1 x; the twin applies tanh after every hidden layer, h_l = tanh(W_l h_{l−1}), and reads out
linearly, ŷ = W_depth h_{depth−1}. Both are trained by full-batch gradient descent on the same explicit data
(inputs X `[P, n_in]`, targets Y `[P, n_out]`), on the loss ½ (1/P) Σ_p ‖y_p − ŷ_p‖² — the normalisation of
`deeplinear`, so the linear network's run equals `deeplinear.simulate` with Σ_xx = XᵀX/P, Σ_yx = YᵀX/P.

Why they agree first: tanh(z) = z − z³/3 + …, so while every hidden pre-activation is small the twin's
outputs differ from the linear network's by a relative amount of order z² (tanh'(0) = 1). From small initial
weights both sit on the same plateau and rise together; once the weights carry large targets, the hidden
units saturate and the trajectories split off. `split` measures where (the first record at which the
relative difference of the outputs on the training inputs exceeds a threshold) and how far (its maximum).

Reference: Saxe, McClelland & Ganguli 2014 (ICLR), figure 3 (a linear network and its tanh twin learning
from small initial weights).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.errors import DataError, ShapeError
from dynascope.theory._checks import choice, positive, positive_int, prng_key, record_interval
from dynascope.theory.deeplinear import INITS, _initial_weights

__all__ = ["Split", "TwinRun", "split", "twin"]


@dataclasses.dataclass(frozen=True)
class Split:
    """Where and how far two trajectories part (one value per network).

    index `[n]` int: the first record whose relative difference exceeds `threshold` (−1: never).
    time `[n]`: that record's time (NaN: never). max_difference `[n]`: the largest relative difference.
    threshold: the threshold used.
    """

    index: np.ndarray
    time: np.ndarray
    max_difference: np.ndarray
    threshold: float


@dataclasses.dataclass(frozen=True)
class TwinRun:
    """The linear network and its tanh twin over training, R records at steps 0, record_every, …, steps.

    steps `[R]` int; time `[R]` = η·steps (the gradient-flow time of `deeplinear`, τ = 1).
    linear_outputs, tanh_outputs `[n_networks, R, P, n_out]`: each network's outputs on the training inputs.
    linear_loss, tanh_loss `[n_networks, R]`: ½ mean ‖y − ŷ‖² (not the excess loss).
    difference `[n_networks, R]`: ‖tanh_outputs − linear_outputs‖ / max(‖linear_outputs‖, ‖Y‖·1e-3) (norms
        over examples and outputs; the floor keeps the ratio finite at the start, when the outputs are ~0).
    split: `split(time, difference, threshold)` at the threshold given to `twin`.
    depth, init, init_scale, learning_rate: the settings.
    """

    steps: np.ndarray
    time: np.ndarray
    linear_outputs: np.ndarray
    tanh_outputs: np.ndarray
    linear_loss: np.ndarray
    tanh_loss: np.ndarray
    difference: np.ndarray
    split: Split
    depth: int
    init: str
    init_scale: float
    learning_rate: float


def _forward(weights: tuple[jax.Array, ...], x: jax.Array, tanh: bool) -> jax.Array:
    h = x.T  # [n_in, P]
    for w in weights[:-1]:
        h = jnp.tanh(w @ h) if tanh else w @ h
    return (weights[-1] @ h).T  # [P, n_out]


@functools.partial(jax.jit, static_argnames=("sizes", "init", "n_records", "record_every"))
def _train_pair(
    x: jax.Array, y: jax.Array, u_k: jax.Array, v_k: jax.Array, a0: jax.Array, eta: jax.Array, keys: jax.Array,
    *, sizes: tuple[int, ...], init: str, n_records: int, record_every: int,
) -> dict[str, jax.Array]:
    def loss(weights: tuple[jax.Array, ...], tanh: bool) -> jax.Array:
        return 0.5 * jnp.mean(jnp.sum((y - _forward(weights, x, tanh)) ** 2, axis=1))

    def train(weights: tuple[jax.Array, ...], tanh: bool) -> tuple[jax.Array, jax.Array]:
        grad = jax.grad(functools.partial(loss, tanh=tanh))

        def gd(_: int, ws: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
            return tuple(w - eta * g for w, g in zip(ws, grad(ws)))

        def block(ws: tuple[jax.Array, ...], _: None) -> tuple[tuple[jax.Array, ...], tuple[jax.Array, jax.Array]]:
            ws = jax.lax.fori_loop(0, record_every, gd, ws)
            return ws, (_forward(ws, x, tanh), loss(ws, tanh))

        _, (outs, losses) = jax.lax.scan(block, weights, None, length=n_records - 1)
        return (jnp.concatenate([_forward(weights, x, tanh)[None], outs]),
                jnp.concatenate([loss(weights, tanh)[None], losses]))

    def one(key: jax.Array) -> dict[str, jax.Array]:
        weights = _initial_weights(key, a0, u_k, v_k, sizes, init)  # the same draw for both networks
        lin_out, lin_loss = train(weights, False)
        tanh_out, tanh_loss = train(weights, True)
        return {"lin_out": lin_out, "lin_loss": lin_loss, "tanh_out": tanh_out, "tanh_loss": tanh_loss}

    return jax.vmap(one)(keys)


def split(time: Any, difference: Any, threshold: float) -> Split:
    """Where relative differences `[n, R]` recorded at `time` `[R]` first exceed `threshold`, and their maximum.

    Args:
        time: record times `[R]`.
        difference: relative differences `[n, R]` (or `[R]` for one network), ≥ 0.
        threshold: the relative difference that counts as split, > 0.

    Returns:
        A `Split` with one entry per network.
    """
    thr = positive("threshold", threshold)
    t = np.asarray(time, dtype=np.float64)
    d = np.atleast_2d(np.asarray(difference, dtype=np.float64))
    if t.ndim != 1 or d.shape[-1] != t.shape[0]:
        raise ShapeError(f"difference must be [n, R] with R = {t.shape[0]} records (time's length), got {d.shape}.")
    above = d > thr
    index = np.where(above.any(axis=1), above.argmax(axis=1), -1)
    return Split(index=index, time=np.where(index >= 0, t[np.maximum(index, 0)], np.nan),
                 max_difference=d.max(axis=1), threshold=thr)


def twin(
    inputs: Any,
    targets: Any,
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
    threshold: float = 0.05,
) -> TwinRun:
    """Train `n_networks` deep linear networks and their tanh twins from the same initial weights.

    Args:
        inputs: X `[P, n_in]`, the training inputs (whitened when XᵀX/P = I, as the linear theory assumes:
            e.g. one-hot items scaled by sqrt(P)).
        targets: Y `[P, n_out]`.
        depth: weight matrices, ≥ 2 (a tanh twin needs a hidden layer).
        n_hidden, init_scale, learning_rate, steps, key, init, n_networks, record_every: as in
            `deeplinear.simulate` (the balanced init aligns with the singular vectors of Σ_yx = YᵀX/P, and one
            key gives the same initial weights as `deeplinear.simulate` with that key).
        threshold: relative output difference at which the two count as split (`split`).

    Returns:
        A `TwinRun`; shapes in its docstring.

    Reference: Saxe, McClelland & Ganguli 2014 (ICLR).
    """
    x = np.asarray(inputs, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ShapeError(f"inputs [P, n_in] and targets [P, n_out] must share P > 0 rows, got {x.shape} and {y.shape}.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise DataError("inputs and targets must be finite; remove NaN or inf entries.")
    depth = positive_int("depth", depth, minimum=2)
    n_hidden = positive_int("n_hidden", n_hidden)
    a0 = positive("init_scale", init_scale)
    eta = positive("learning_rate", learning_rate)
    steps = positive_int("steps", steps)
    n_networks = positive_int("n_networks", n_networks)
    init = choice("init", init, INITS)
    every = record_interval(steps, record_every)
    thr = positive("threshold", threshold)
    key = prng_key(key)

    p, n_in = x.shape
    sizes = (n_in, *([n_hidden] * (depth - 1)), y.shape[1])
    u, _, vt = np.linalg.svd(y.T @ x / p, full_matrices=False)
    k = min(sizes)
    n_records = steps // every + 1
    out = _train_pair(
        jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), jnp.asarray(u[:, :k], jnp.float32),
        jnp.asarray(vt.T[:, :k], jnp.float32), jnp.float32(a0), jnp.float32(eta), jax.random.split(key, n_networks),
        sizes=sizes, init=init, n_records=n_records, record_every=every,
    )
    out = {name: np.asarray(v, dtype=np.float64) for name, v in out.items()}
    gap = np.sqrt(np.sum((out["tanh_out"] - out["lin_out"]) ** 2, axis=(2, 3)))
    scale = np.maximum(np.sqrt(np.sum(out["lin_out"] ** 2, axis=(2, 3))), 1e-3 * np.linalg.norm(y))
    difference = gap / scale
    record_steps = np.arange(n_records) * every
    time = record_steps * eta
    return TwinRun(
        steps=record_steps, time=time, linear_outputs=out["lin_out"], tanh_outputs=out["tanh_out"],
        linear_loss=out["lin_loss"], tanh_loss=out["tanh_loss"], difference=difference,
        split=split(time, difference, thr), depth=depth, init=init, init_scale=a0, learning_rate=eta,
    )
