"""The initial weight scale trades learning speed for generalization in a deep linear student.

A deep linear student ŷ = W_depth ⋯ W_1 x (the networks of `deeplinear`, "small_random" initialisation of
per-layer scale a0, so the initial end-to-end map w(0) has E‖w(0)‖² = a0^{2·depth}) learns the noisy linear
teacher of `generalization` (N inputs, P = αN examples, teacher variance r², label noise σ²) by full-batch
gradient descent. Two things change with a0:

- speed: from small weights the network first sits on a plateau (the saddle at zero, as long as
  ln(1/a0) for one hidden layer, `modes.time_to_learn`); large weights start off the plateau and fit the
  training set at once;
- generalization: the gradient of the first layer lies in the span of the training inputs, so with fewer
  examples than inputs (α < 1) the part of W_1 orthogonal to them never moves — the frozen subspace of
  Advani, Saxe & Sompolinsky 2020. The final map's part outside that span is W_depth⋯W_2 (trained) times
  W_1's frozen part (initial), and it adds to the test error. Where it equals the initial map's own part —
  the shallow student (depth 1, σ0² = a0², exactly; no plateau, its error relaxes at rates that a0 does not
  change), a0 → 0 (it vanishes),
  or later layers that hardly move (the lazy limit of large a0 and width) — the converged student is the
  min-norm student started at w(0), with test error σ² + (r² + σ0²)(1 − α) + σ² α/(1 − α), σ0² = a0^{2·depth}
  (`generalization.min_norm_test_error(..., init_variance=σ0²)`). In between, the later layers change while
  learning and rescale the frozen part, and the simulation departs from that line: there it is a reference,
  not a prediction.

`init_scale_scan` measures both against a0 on fresh teachers and data sets: the time for the training loss
to fall to a fraction of the zero map's, and the test error after training, beside that theory.

Reference: Advani, Saxe & Sompolinsky 2020, "High-dimensional dynamics of generalization error in neural
networks" (Neural Networks 132:428–446): the frozen subspace and the initial weight scale; Saxe, McClelland &
Ganguli 2014 (ICLR) for the plateau.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.errors import ConfigError
from dynascope.theory._checks import nonnegative, positive, positive_int, prng_key, record_interval
from dynascope.theory.deeplinear import _train
from dynascope.theory.generalization import min_norm_test_error
from dynascope.theory.modes import crossing_time

__all__ = ["InitScaleScan", "init_scale_scan"]


@dataclasses.dataclass(frozen=True)
class InitScaleScan:
    """Speed and generalization of deep linear students against their per-layer initial scale a0.

    init_scales `[A]`.
    time_to_learn `[A, n_data, n_networks]`: first time (η·steps) the training loss falls to `fraction` of the
        zero map's (NaN: not within the steps run).
    test_error `[A, n_data, n_networks]`: ‖w − w*‖² + σ² after the last step (exact over fresh inputs).
    train_error `[A, n_data, n_networks]`: (1/P)‖y − X w‖² after the last step.
    frozen `[A, n_data, n_networks]`: ‖(I − Π) w(0)‖², the initial map's part outside the training inputs'
        span (Π the projection on it); its mean is a0^{2·depth}(1 − P/N) for α < 1.
    theory `[A]`: `min_norm_test_error(α, σ², r², a0^{2·depth}, n_inputs=N)`, the min-norm student from w(0)
        (module docstring: exact at depth 1, and for deeper students in the lazy and the a0 → 0 limits).
    maps `[A, n_data, n_networks, N]`: the final end-to-end maps; initial_maps: the same at step 0.
    teachers `[n_data, N]`, inputs `[n_data, P, N]`, labels `[n_data, P]`: the data, for checks.
    diverged `[A, n_data, n_networks]` bool: the loss became non-finite (lower the learning rate).
    alpha, depth, noise_variance, teacher_variance, learning_rate, steps, fraction: the settings.
    """

    init_scales: np.ndarray
    time_to_learn: np.ndarray
    test_error: np.ndarray
    train_error: np.ndarray
    frozen: np.ndarray
    theory: np.ndarray
    maps: np.ndarray
    initial_maps: np.ndarray
    teachers: np.ndarray
    inputs: np.ndarray
    labels: np.ndarray
    diverged: np.ndarray
    alpha: float
    depth: int
    noise_variance: float
    teacher_variance: float
    learning_rate: float
    steps: int
    fraction: float


@functools.partial(jax.jit, static_argnames=("sizes", "n_records", "record_every"))
def _students(
    sigma_xx: jax.Array, sigma_yx: jax.Array, constant: jax.Array, u_r: jax.Array, v_r: jax.Array, a0: jax.Array,
    learning_rate: jax.Array, keys: jax.Array, *, sizes: tuple[int, ...], n_records: int, record_every: int,
) -> dict[str, jax.Array]:
    """The `deeplinear` trainer over a batch of (correlations, scale, network keys `[n_networks]`) items
    `[B, ...]`; compiled once per sizes and records."""

    def one(xx: jax.Array, yx: jax.Array, c: jax.Array, u: jax.Array, v: jax.Array, a: jax.Array,
            k: jax.Array) -> Any:
        return _train(xx, yx, c, u, v, a, learning_rate, k, sizes=sizes, init="small_random",
                      n_records=n_records, record_every=record_every, record_weights=False)["history"]

    return jax.vmap(one)(sigma_xx, sigma_yx, constant, u_r, v_r, a0, keys)


def init_scale_scan(
    n_inputs: int,
    n_examples: int,
    init_scales: Any,
    *,
    noise_variance: float,
    learning_rate: float,
    steps: int,
    key: jax.Array,
    depth: int = 2,
    n_hidden: int | None = None,
    teacher_variance: float = 1.0,
    n_data: int = 8,
    n_networks: int = 2,
    fraction: float = 0.1,
    record_every: int | None = None,
) -> InitScaleScan:
    """Train deep linear students from several initial scales on fresh teacher–student data sets.

    Every scale sees the same `n_data` teachers and data sets and the same initial weight draws (`n_networks`
    per data set, rescaled), so the differences between scales are the scale's. All scales × data sets ×
    networks run in one compiled program (the `deeplinear` trainer, vmapped).

    Args:
        n_inputs: N, the input dimension (parameters of the end-to-end map).
        n_examples: P training examples per data set (α = P/N; the frozen subspace exists for P < N).
        init_scales: per-layer initial scales a0 `[A]`, > 0 ("small_random" initialisation).
        noise_variance: label noise σ² ≥ 0. teacher_variance: r² ≥ 0.
        learning_rate: η > 0; it must be stable for the largest scale (the curvature grows as a0^{2(depth−1)}).
        steps: gradient-descent steps.
        key: JAX PRNG key (teachers, inputs, noise, initial weights).
        depth: number of weight matrices ≥ 1 (1: the shallow student, without plateau, whose converged test
            error is the theory's exactly; ≥ 2: a plateau from small weights).
        n_hidden: width of the hidden layers (default N).
        n_data: independent teachers and data sets. n_networks: initial weight draws per data set.
        fraction: the training loss counts as learned at `fraction` of the zero map's, in (0, 1).
        record_every: steps between records (divides `steps`; default at most 500 records).

    Returns:
        An `InitScaleScan`.

    Reference: Advani, Saxe & Sompolinsky 2020 (Neural Networks).
    """
    n = positive_int("n_inputs", n_inputs)
    p = positive_int("n_examples", n_examples)
    scales = np.atleast_1d(np.asarray(init_scales, dtype=np.float64))
    scales = np.array([positive("init_scales", a) for a in scales])
    noise = nonnegative("noise_variance", noise_variance)
    teacher = nonnegative("teacher_variance", teacher_variance)
    eta = positive("learning_rate", learning_rate)
    steps = positive_int("steps", steps)
    depth = positive_int("depth", depth)
    hidden = n if n_hidden is None else positive_int("n_hidden", n_hidden)
    n_data = positive_int("n_data", n_data)
    n_networks = positive_int("n_networks", n_networks)
    frac = positive("fraction", fraction)
    if frac >= 1.0:
        raise ConfigError(f"fraction must lie in (0, 1), got fraction={fraction!r}; e.g. 0.1.")
    every = record_interval(steps, record_every)
    k_teacher, k_x, k_noise, k_init = jax.random.split(prng_key(key), 4)

    # The data, drawn with JAX and handed to the trainer as correlations (host float64 for the constants).
    w_star = np.sqrt(teacher / n) * np.asarray(jax.random.normal(k_teacher, (n_data, n)), np.float64)
    x = np.asarray(jax.random.normal(k_x, (n_data, p, n)), np.float64)
    y = np.einsum("dpn,dn->dp", x, w_star) + np.sqrt(noise) * np.asarray(jax.random.normal(k_noise, (n_data, p)),
                                                                       np.float64)
    sigma_xx = np.einsum("dpi,dpj->dij", x, x) / p
    sigma_yx = np.einsum("dp,dpn->dn", y, x)[:, None, :] / p
    pinv_xx = np.linalg.pinv(sigma_xx, hermitian=True)
    # The trainer's loss is ½ wΣ_xxwᵀ − w·Σ_yx + c with c = ½ Σ_yx Σ_xx⁺ Σ_yxᵀ: the excess of ½·MSE over the
    # least-squares floor; c is also the zero map's excess loss, the yardstick of "learned".
    constant = 0.5 * np.einsum("doi,dij,doj->d", sigma_yx, pinv_xx, sigma_yx)
    # Unit vectors for the trainer's mode projections (unused here: one output, no balanced start).
    u_r = np.ones((n_data, 1, 1))
    v_r = sigma_yx[:, 0, :, None] / np.maximum(np.linalg.norm(sigma_yx[:, 0], axis=-1), 1e-30)[:, None, None]

    sizes = (n, *([hidden] * (depth - 1)), 1)
    n_records = steps // every + 1
    # One flat batch of (scale, data set) pairs: the data repeated per scale, each scale repeated per data set.
    a_count = scales.shape[0]
    flat = [np.broadcast_to(v[None], (a_count, *v.shape)).reshape(a_count * n_data, *v.shape[1:])
            for v in (sigma_xx, sigma_yx, constant, u_r, v_r)]
    # Initial weights: their own draws per data set and network, the same draws (rescaled) for every scale.
    keys = jax.random.split(k_init, (n_data, n_networks))
    history = _students(
        *(jnp.asarray(v, jnp.float32) for v in flat), jnp.asarray(np.repeat(scales, n_data), jnp.float32),
        jnp.float32(eta), jnp.tile(keys, (a_count, 1)), sizes=sizes, n_records=n_records, record_every=every,
    )
    history = {name: np.asarray(history[name], np.float64).reshape(a_count, n_data, *history[name].shape[1:])
               for name in ("map", "loss")}
    maps = history["map"][..., 0, :]  # [A, n_data, n_networks, R, N]
    loss = history["loss"]  # [A, n_data, n_networks, R]
    time = np.arange(n_records) * every * eta
    learned = crossing_time(time, -loss, -frac * constant[None, :, None])
    final = maps[..., -1, :]
    test = np.sum((final - w_star[None, :, None, :]) ** 2, axis=-1) + noise
    train = np.mean((y[None, :, None, :] - np.einsum("adkn,dpn->adkp", final, x)) ** 2, axis=-1)
    projection = np.einsum("dnp,dpm->dnm", np.linalg.pinv(x), x)  # Π = X⁺X, [n_data, N, N]
    initial = maps[..., 0, :]
    frozen = np.sum((initial - np.einsum("adkn,dnm->adkm", initial, projection)) ** 2, axis=-1)
    # σ0² = a0^{2·depth}: each layer multiplies the variance by a0² (fan-in normalised), E‖w(0)‖² = a0^{2·depth}.
    theory = np.array([float(min_norm_test_error(p / n, noise, teacher, a ** (2 * depth), n_inputs=n)) for a in scales])
    return InitScaleScan(
        init_scales=scales, time_to_learn=learned, test_error=test, train_error=train, frozen=frozen,
        theory=theory, maps=final, initial_maps=initial, teachers=w_star, inputs=x, labels=y,
        diverged=~np.all(np.isfinite(loss), axis=-1), alpha=p / n, depth=depth, noise_variance=noise,
        teacher_variance=teacher, learning_rate=eta, steps=steps, fraction=frac,
    )
