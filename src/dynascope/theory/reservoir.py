"""Reservoirs: a fixed random rate network read out linearly — by ridge regression, or by FORCE learning.

The reservoir (an echo-state network) has fixed random weights and a leaky tanh rate state h `[n_hidden]`:

    h_{t+1} = (1 − a) h_t + a tanh(W_rec h_t + W_in x_t + W_fb z_t + b),      z_t = W_out h_t + b_out,

with leak a ∈ (0, 1] (a = dt/τ of the continuous rate network τ ḣ = −h + tanh(·)), W_rec scaled to a chosen
spectral radius (below ~1 the state forgets its past: the echo-state property), W_in to an input scale and
W_fb (output feedback, used by FORCE) to a feedback scale. Only the readout (W_out, b_out) is learned:

- `ridge_readout`: the closed-form ridge regression of targets on states, the readout of Jaeger's echo-state
  network (no feedback).
- `force`: FORCE learning (Sussillo & Abbott 2009): the readout is updated at every step by recursive least
  squares while its output is fed back into the reservoir, so the error is kept small from the first step
  and the feedback loop itself learns to generate the target (a sinusoid with no input at all). One RLS
  step is `rls_step`. `force_on_task` makes it a training method on a dynascope task: the reservoir, driven
  by the task's inputs with its output fed back, learns its readout over trials in sequence. One RLS
  step: with P ≈ (Σ r rᵀ + I/α)⁻¹ the running inverse correlation of the states,
  k = P r, c = 1/(1 + rᵀ k), P ← P − c k kᵀ, w ← w − c e k, e = wᵀ r − f the error before the update.

`compare_with_trained` drives a reservoir with a dynascope task's inputs, fits its readout, trains a network
of the same size end to end with `dynascope.train.train_population`, and compares the two on the same trials:
task loss, the dimensionality of their trajectories (participation ratio of the states' covariance
spectrum) and linear CKA between the two state sets (Sussillo's "pebble in a pond" reservoir against a
network shaped by training). `fixed_point_structure` then finds both systems' fixed points at a few constant
inputs with `dynascope.dynamics.find_fixed_points`: the reservoir as it runs after training, its readout fed
back through W_fb (`ClosedLoop`; with W_fb = 0, as for the ridge readout, that is the driven reservoir
itself), and the trained network; it counts the points by index (number of unstable modes) and reports the
slowest mode of the stable ones.

References: Jaeger 2001 (the echo-state network, GMD Report 148); Maass, Natschläger & Markram 2002
(liquid state machines, Neural Comput. 14:2531); Sussillo & Abbott 2009, "Generating coherent patterns of
activity from chaotic neural networks" (Neuron 63:544); Gao et al. 2017 (participation ratio, bioRxiv
214262); Kornblith et al. 2019 (CKA, ICML).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.errors import ConfigError, ShapeError
from dynascope.theory._checks import nonnegative, positive, positive_int, prng_key

__all__ = [
    "ClosedLoop",
    "FixedPointStructure",
    "ForceRun",
    "ForceTaskRun",
    "ReservoirComparison",
    "closed_loop_fixed_points",
    "compare_with_trained",
    "counts_by_index",
    "fixed_point_structure",
    "force",
    "force_on_task",
    "init_reservoir",
    "participation_ratio",
    "ridge_readout",
    "rls_step",
    "run_reservoir",
]

Params = dict[str, jax.Array]


def init_reservoir(
    n_inputs: int,
    n_hidden: int,
    n_outputs: int,
    *,
    key: jax.Array,
    spectral_radius: float = 0.9,
    input_scale: float = 1.0,
    feedback_scale: float = 0.0,
    connectivity: float = 1.0,
) -> Params:
    """Random reservoir weights: W_rec `[H, H]` (sparse with density `connectivity`, rescaled so its largest
    |eigenvalue| is `spectral_radius`), W_in `[H, I]` uniform in ±input_scale, W_fb `[H, O]` uniform in
    ±feedback_scale, b `[H]` zero; the readout W_out `[O, H]`, b_out `[O]` starts at zero.

    Args:
        n_inputs, n_hidden, n_outputs: sizes (n_inputs may be 0 for an autonomous generator).
        key: JAX PRNG key.
        spectral_radius: ρ ≥ 0 of W_rec (g in Sussillo & Abbott; > 1 gives chaotic spontaneous activity).
        input_scale, feedback_scale: ≥ 0.
        connectivity: fraction of non-zero recurrent weights, in (0, 1].

    Reference: Jaeger 2001; Sussillo & Abbott 2009.
    """
    n_in = int(n_inputs)
    if n_in < 0:
        raise ConfigError(f"n_inputs must be an integer >= 0, got {n_inputs!r}.")
    h = positive_int("n_hidden", n_hidden)
    o = positive_int("n_outputs", n_outputs)
    rho = nonnegative("spectral_radius", spectral_radius)
    density = positive("connectivity", connectivity)
    if density > 1.0:
        raise ConfigError(f"connectivity must lie in (0, 1], got {connectivity!r}.")
    k_rec, k_mask, k_in, k_fb = jax.random.split(prng_key(key), 4)
    mask = (jax.random.uniform(k_mask, (h, h)) < density).astype(jnp.float32)
    w = jax.random.normal(k_rec, (h, h), jnp.float32) * mask
    # the exact spectral radius (host eigenvalues), not the circular-law estimate, so ρ means what it says
    radius = float(np.abs(np.linalg.eigvals(np.asarray(w, np.float64))).max())
    w = w * jnp.float32(rho / radius if radius > 0 else 0.0)
    uniform = functools.partial(jax.random.uniform, minval=-1.0, maxval=1.0, dtype=jnp.float32)
    return {
        "W_rec": w,
        "W_in": jnp.float32(nonnegative("input_scale", input_scale)) * uniform(k_in, (h, n_in)),
        "W_fb": jnp.float32(nonnegative("feedback_scale", feedback_scale)) * uniform(k_fb, (h, o)),
        "b": jnp.zeros((h,), jnp.float32),
        "W_out": jnp.zeros((o, h), jnp.float32),
        "b_out": jnp.zeros((o,), jnp.float32),
    }


def _step(params: Params, h: jax.Array, x: jax.Array, z: jax.Array, leak: float) -> jax.Array:
    drive = params["W_rec"] @ h + params["W_in"] @ x + params["W_fb"] @ z + params["b"]
    return (1.0 - leak) * h + leak * jnp.tanh(drive)


@functools.partial(jax.jit, static_argnames=("leak",))
def _run(params: Params, inputs: jax.Array, h0: jax.Array, leak: float) -> jax.Array:
    zero = jnp.zeros(params["W_fb"].shape[1], jnp.float32)

    def trial(x_seq: jax.Array) -> jax.Array:
        def body(h: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
            h = _step(params, h, x, zero, leak)
            return h, h

        return jax.lax.scan(body, h0, x_seq)[1]

    return jax.vmap(trial)(inputs)


def run_reservoir(params: Params, inputs: Any, *, leak: float = 1.0, initial_state: Any = None) -> jax.Array:
    """States `[B, T, H]` of the reservoir driven by `inputs` `[B, T, I]` without output feedback (the state
    after each input step), from `initial_state` `[H]` (default zero)."""
    x = jnp.asarray(inputs, jnp.float32)
    h = params["W_rec"].shape[0]
    if x.ndim != 3 or x.shape[2] != params["W_in"].shape[1]:
        raise ShapeError(f"inputs must be [B, T, {params['W_in'].shape[1]}], got shape {x.shape}.")
    a = positive("leak", leak)
    if a > 1.0:
        raise ConfigError(f"leak must lie in (0, 1], got {leak!r}.")
    h0 = jnp.zeros((h,), jnp.float32) if initial_state is None else jnp.asarray(initial_state, jnp.float32)
    return _run(params, x, h0, a)


def ridge_readout(states: Any, targets: Any, alpha: float, *, fit_intercept: bool = True,
                  weights: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge regression of `targets` on `states`: minimises Σ_n m_n ‖y_n − W s_n − b‖² + α ‖W‖².

    Args:
        states: `[..., H]` (any leading axes, flattened into samples). targets: `[..., O]`, same leading axes.
        alpha: ridge penalty α ≥ 0 (the intercept is not penalised, as in scikit-learn's `Ridge`).
        fit_intercept: fit b (states and targets are centred on their weighted means) or fix b = 0.
        weights: optional per-sample weights `[...]` ≥ 0 (e.g. a task's mask; default 1).

    Returns:
        (W_out `[O, H]`, b_out `[O]`) as float64 NumPy arrays, solved in float64.

    Reference: Hoerl & Kennard 1970 (Technometrics 12:55); Jaeger 2001.
    """
    s = np.asarray(states, np.float64)
    y = np.asarray(targets, np.float64)
    if s.ndim < 1 or y.shape[:-1] != s.shape[:-1]:
        raise ShapeError(f"states [..., H] and targets [..., O] must share leading axes, got {s.shape} and {y.shape}.")
    s, y = s.reshape(-1, s.shape[-1]), y.reshape(-1, y.shape[-1])
    m = np.ones(s.shape[0]) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    if m.shape[0] != s.shape[0] or np.any(m < 0):
        raise ShapeError(f"weights must be [...] >= 0 matching states' leading axes, got shape {np.shape(weights)}.")
    a = nonnegative("alpha", alpha)
    if fit_intercept:
        s_mean = m @ s / m.sum()
        y_mean = m @ y / m.sum()
    else:
        s_mean, y_mean = np.zeros(s.shape[1]), np.zeros(y.shape[1])
    sc, yc = s - s_mean, y - y_mean
    gram = (sc * m[:, None]).T @ sc + a * np.eye(s.shape[1])
    w = np.linalg.solve(gram, (sc * m[:, None]).T @ yc).T  # [O, H]
    return w, y_mean - w @ s_mean


def rls_step(p: jax.Array, w: jax.Array, r: jax.Array, target: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One recursive-least-squares update of a linear readout z = w r (Sussillo & Abbott 2009, eq. 4–5).

    Args:
        p: P `[H, H]`, the running inverse correlation of the states (start at I/α).
        w: readout `[O, H]`. r: the current state `[H]`. target: f `[O]`.

    Returns:
        (P', w', e) with k = P r, c = 1/(1 + rᵀ k), P' = P − c k kᵀ, e = w r − f (the error before the
        update), w' = w − c e kᵀ.
    """
    k = p @ r
    c = 1.0 / (1.0 + r @ k)
    e = w @ r - target
    return p - c * jnp.outer(k, k), w - c * jnp.outer(e, k), e


@dataclasses.dataclass(frozen=True)
class ForceRun:
    """A FORCE run: `train_steps` with RLS on, then `test_steps` with the readout frozen.

    outputs `[train_steps + test_steps, O]`: z at every step (fed back into the reservoir).
    targets `[train_steps + test_steps, O]`. train_error `[train_steps, O]`: e before each update.
    test_rmse: root mean squared z − f over the test steps. W_out `[O, H]`: the learned readout.
    """

    outputs: np.ndarray
    targets: np.ndarray
    train_error: np.ndarray
    test_rmse: float
    W_out: np.ndarray


@functools.partial(jax.jit, static_argnames=("leak", "train_steps", "update_every"))
def _force(params: Params, h0: jax.Array, targets: jax.Array, alpha: jax.Array, *, leak: float, train_steps: int,
           update_every: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    n_hidden = h0.shape[0]
    x = jnp.zeros(params["W_in"].shape[1], jnp.float32)

    def body(carry: tuple[Any, ...], inp: tuple[jax.Array, jax.Array]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        h, w, p = carry
        t, f = inp
        r = h  # the state is already a rate (the tanh is inside _step)
        z = w @ r
        learn = (t < train_steps) & (t % update_every == 0)
        p_new, w_new, e = rls_step(p, w, r, f)
        p, w = jnp.where(learn, p_new, p), jnp.where(learn, w_new, w)
        z_fed = w @ r  # the updated readout's output is what the reservoir hears (FORCE keeps e small)
        h = _step(params, h, x, z_fed, leak)
        return (h, w, p), (z, e)

    n = targets.shape[0]
    carry = (h0, jnp.zeros_like(params["W_out"]), jnp.eye(n_hidden, dtype=jnp.float32) / alpha)
    (_, w, _), (z, e) = jax.lax.scan(body, carry, (jnp.arange(n), targets))
    return z, e, w


def force(
    params: Params,
    targets: Any,
    *,
    train_steps: int,
    key: jax.Array,
    alpha: float = 1.0,
    leak: float = 0.1,
    update_every: int = 1,
) -> ForceRun:
    """FORCE learning of an autonomous output: the reservoir (with feedback W_fb, no input) learns to produce
    `targets` `[T, O]`; RLS runs on the first `train_steps` steps (every `update_every`-th), then the readout
    is frozen and the network runs on its own for the rest.

    Args:
        params: from `init_reservoir` (use feedback_scale > 0, e.g. 1, and spectral_radius ~1.2–1.5).
        targets: f `[T, O]`, T > train_steps.
        train_steps: steps with learning on, ≥ 1.
        key: JAX PRNG key for the initial state (uniform in ±0.5).
        alpha: RLS regulariser α > 0 (P starts at I/α; Sussillo & Abbott's learning rate).
        leak: a = dt/τ in (0, 1].
        update_every: steps between RLS updates, ≥ 1.

    Returns:
        A `ForceRun`.

    Reference: Sussillo & Abbott 2009, "Generating coherent patterns of activity from chaotic neural
    networks" (Neuron 63:544).
    """
    f = jnp.asarray(targets, jnp.float32)
    if f.ndim != 2 or f.shape[1] != params["W_out"].shape[0]:
        raise ShapeError(f"targets must be [T, {params['W_out'].shape[0]}], got shape {tuple(f.shape)}.")
    steps = positive_int("train_steps", train_steps)
    if steps >= f.shape[0]:
        raise ConfigError(f"train_steps must be below the targets' length {f.shape[0]} to leave a test, got {steps}.")
    a = positive("leak", leak)
    if a > 1.0:
        raise ConfigError(f"leak must lie in (0, 1], got {leak!r}.")
    h0 = jax.random.uniform(prng_key(key), (params["W_rec"].shape[0],), jnp.float32, -0.5, 0.5)
    z, e, w = _force(params, h0, f, jnp.float32(positive("alpha", alpha)), leak=a, train_steps=steps,
                     update_every=positive_int("update_every", update_every))
    z, e = np.asarray(z, np.float64), np.asarray(e, np.float64)
    test = z[steps:] - np.asarray(f, np.float64)[steps:]
    return ForceRun(outputs=z, targets=np.asarray(f, np.float64), train_error=e[:steps],
                    test_rmse=float(np.sqrt(np.mean(test**2))), W_out=np.asarray(w, np.float64))


@dataclasses.dataclass(frozen=True)
class ForceTaskRun:
    """FORCE learning on a task's trials: RLS on the first trials, then the readout frozen on new ones.

    loss: `task.loss` on the test trials (the frozen readout, its output fed back). metric: mean `task.metric`.
    outputs, targets, mask `[n_test_trials, T, O]`: the test trials, for figures.
    train_error `[n_train_trials, T, O]`: e = z − f before each update (0 where the mask is 0).
    W_out `[O, H]`: the learned readout. params: the reservoir's weights (NumPy), W_out included.
    inputs `[n_test_trials, T, I]`, initial_states `[n_test_trials, H]`: what drove the test trials.
    task: the task's name.
    """

    loss: float
    metric: float
    outputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    train_error: np.ndarray
    W_out: np.ndarray
    params: dict[str, np.ndarray]
    inputs: np.ndarray
    initial_states: np.ndarray
    task: str


@functools.partial(jax.jit, static_argnames=("leak", "n_train"))
def _force_trials(params: Params, h0: jax.Array, inputs: jax.Array, targets: jax.Array, mask: jax.Array,
                  alpha: jax.Array, *, leak: float, n_train: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    n_hidden = h0.shape[1]

    def trial(carry: tuple[jax.Array, jax.Array], item: tuple[jax.Array, ...]) -> tuple[Any, Any]:
        w, p = carry
        index, h_start, x_seq, f_seq, m_seq = item

        def step(inner: tuple[jax.Array, ...], xs: tuple[jax.Array, ...]) -> tuple[Any, Any]:
            h, w, p = inner
            x, f, m = xs
            z = w @ h
            p_new, w_new, e = rls_step(p, w, h, f)
            # learn on training trials where an output is scored; a free output's target is no teacher
            learn = (index < n_train) & (m.max() > 0)
            p, w = jnp.where(learn, p_new, p), jnp.where(learn, w_new, w)
            h = _step(params, h, x, w @ h, leak)  # the reservoir hears the (updated) output, as in `force`
            return (h, w, p), (z, e * m)

        (_, w, p), (z, e) = jax.lax.scan(step, (h_start, w, p), (x_seq, f_seq, m_seq))
        return (w, p), (z, e)

    carry = (jnp.zeros_like(params["W_out"]), jnp.eye(n_hidden, dtype=jnp.float32) / alpha)
    items = (jnp.arange(inputs.shape[0]), h0, inputs, targets, mask)
    (w, _), (z, e) = jax.lax.scan(trial, carry, items)
    return z, e, w


def force_on_task(
    task: Any,
    *,
    key: jax.Array,
    n_hidden: int = 200,
    n_train_trials: int = 100,
    n_test_trials: int = 32,
    spectral_radius: float = 1.2,
    input_scale: float = 1.0,
    feedback_scale: float = 1.0,
    alpha: float = 1.0,
    leak: float = 0.5,
    initial_state_scale: float = 0.0,
) -> ForceTaskRun:
    """FORCE learning (Sussillo & Abbott 2009) as a training method on a dynascope task: a reservoir driven
    by the task's inputs, its output fed back, learns its readout by recursive least squares over
    `n_train_trials` trials in sequence (the state starts each trial afresh; the readout and P carry over),
    updating at every step where the task scores an output; then, frozen, it is scored on `n_test_trials` new
    trials with `task.loss` and `task.metric`.

    Args:
        task: a dynascope Task (`dynascope.tasks.get(name, ...)`).
        key: JAX PRNG key (reservoir, trials, initial states).
        n_hidden: reservoir units.
        n_train_trials, n_test_trials: trials with learning on, and with the readout frozen.
        spectral_radius, input_scale, feedback_scale: the reservoir (`init_reservoir`).
        alpha: RLS regulariser α > 0 (P starts at I/α).
        leak: a = dt/τ in (0, 1] (per task step).
        initial_state_scale: each trial's state starts uniform in ±scale; 0 (default) starts every trial at
            the zero state, as a trained network's does, so one condition always drives the same trajectory
            (random starts of a chaotic reservoir leave errors the frozen readout cannot undo).

    Returns:
        A `ForceTaskRun`.

    Reference: Sussillo & Abbott 2009, "Generating coherent patterns of activity from chaotic neural
    networks" (Neuron 63:544).
    """
    from dynascope.tasks import Task

    if not isinstance(task, Task):
        raise ConfigError(f"task must be a dynascope Task (from dynascope.tasks.get), got {type(task).__name__}.")
    n_train = positive_int("n_train_trials", n_train_trials)
    n_test = positive_int("n_test_trials", n_test_trials)
    a = positive("leak", leak)
    if a > 1.0:
        raise ConfigError(f"leak must lie in (0, 1], got {leak!r}.")
    k_res, k_train, k_test, k_state = jax.random.split(prng_key(key), 4)
    params = init_reservoir(task.n_inputs, n_hidden, task.n_outputs, key=k_res, spectral_radius=spectral_radius,
                            input_scale=input_scale, feedback_scale=feedback_scale)
    train, test = task.sample(k_train, n_train), task.sample(k_test, n_test)
    trials = jax.tree_util.tree_map(lambda u, v: jnp.concatenate([u, v]), train, test)
    scale = nonnegative("initial_state_scale", initial_state_scale)
    h0 = scale * jax.random.uniform(k_state, (n_train + n_test, params["W_rec"].shape[0]), jnp.float32, -1.0, 1.0)
    z, e, w = _force_trials(params, h0, trials.inputs, trials.targets, trials.mask,
                            jnp.float32(positive("alpha", alpha)), leak=a, n_train=n_train)
    out = z[n_train:]
    return ForceTaskRun(
        loss=float(task.loss(out, test)), metric=float(jnp.mean(task.metric(out, test))),
        outputs=np.asarray(out, np.float64), targets=np.asarray(test.targets, np.float64),
        mask=np.asarray(test.mask, np.float64), train_error=np.asarray(e[:n_train], np.float64),
        W_out=np.asarray(w, np.float64),
        params={name: np.asarray(v, np.float64) for name, v in (params | {"W_out": w}).items()},
        inputs=np.asarray(test.inputs, np.float64), initial_states=np.asarray(h0[n_train:], np.float64),
        task=task.name,
    )


def participation_ratio(states: Any) -> float:
    """Dimensionality (Σλ)² / Σλ² of states `[..., H]` from the eigenvalues λ of their covariance over samples.

    Reference: Gao et al. 2017, "A theory of multineuronal dimensionality, dynamics and measurement".
    """
    s = np.asarray(states, np.float64)
    s = s.reshape(-1, s.shape[-1])
    lam = np.clip(np.linalg.eigvalsh(np.cov(s, rowvar=False).reshape(s.shape[1], s.shape[1])), 0.0, None)
    return float(lam.sum() ** 2 / np.sum(lam**2)) if lam.sum() > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class ReservoirComparison:
    """A reservoir with a ridge readout against a network of the same size trained end to end, on the same
    evaluation trials of one task.

    loss_reservoir, loss_trained: `task.loss` on the evaluation trials. metric_reservoir, metric_trained: mean
        `task.metric` (1 is perfect).
    pr_reservoir, pr_trained: participation ratio of each one's states over trials and time.
    cka: linear CKA similarity between the two state sets (`dynascope.compare.cka_similarity`), in [0, 1].
    reservoir_states, trained_states `[B, T, H]`; reservoir_outputs, trained_outputs, targets, mask
        `[B, T, O]`: the evaluation trials, for figures.
    task, arch, n_hidden: what was compared.
    reservoir_params: the reservoir's weights (NumPy), its fitted readout W_out, b_out included; leak: its leak.
    network: the trained network as (model, params of one network).
    """

    loss_reservoir: float
    loss_trained: float
    metric_reservoir: float
    metric_trained: float
    pr_reservoir: float
    pr_trained: float
    cka: float
    reservoir_states: np.ndarray
    trained_states: np.ndarray
    reservoir_outputs: np.ndarray
    trained_outputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    task: str
    arch: str
    n_hidden: int
    reservoir_params: dict[str, np.ndarray]
    leak: float
    network: tuple[Any, Any]


def compare_with_trained(
    task: Any,
    *,
    key: jax.Array,
    n_hidden: int = 64,
    arch: str = "vanilla",
    train_steps: int = 300,
    learning_rate: float = 1e-2,
    batch_size: int = 32,
    n_trials: int = 64,
    spectral_radius: float = 0.9,
    input_scale: float = 1.0,
    leak: float = 1.0,
    alpha: float = 1e-3,
    network: tuple[Any, Any] | None = None,
) -> ReservoirComparison:
    """Fit a reservoir's ridge readout and train a network end to end on `task`, then compare them.

    The reservoir's readout is fit on `n_trials` fresh trials (a time step counts where any output is scored
    by the task's mask); the trained network is `models.get(arch, ...)` trained by
    `dynascope.train.train_population` (Adam, `train_steps` steps). Both are evaluated on the same other
    `n_trials` trials.

    Args:
        task: a dynascope Task (`dynascope.tasks.get(name, ...)`).
        key: JAX PRNG key (reservoir weights, training, fit and evaluation trials).
        n_hidden: units of both networks.
        arch: the trained network's architecture (a registered model).
        train_steps, learning_rate, batch_size: the end-to-end training.
        n_trials: trials for the readout fit and, separately, for the evaluation.
        spectral_radius, input_scale, leak: the reservoir (`init_reservoir`, `run_reservoir`).
        alpha: the readout's ridge penalty.
        network: an already trained network to compare with instead, as (model, params of one network); then
            arch, train_steps, learning_rate and batch_size are unused.

    Returns:
        A `ReservoirComparison`.

    Reference: Jaeger 2001; Sussillo 2014, "Neural circuits as computational dynamical systems" (Curr. Opin.
    Neurobiol. 25:156).
    """
    from dynascope import models
    from dynascope.compare import cka_similarity
    from dynascope.tasks import Task
    from dynascope.train import train_population

    if not isinstance(task, Task):
        raise ConfigError(f"task must be a dynascope Task (from dynascope.tasks.get), got {type(task).__name__}.")
    n_hidden = positive_int("n_hidden", n_hidden)
    n_trials = positive_int("n_trials", n_trials)
    k_res, k_train, k_fit, k_eval = jax.random.split(prng_key(key), 4)
    params = init_reservoir(task.n_inputs, n_hidden, task.n_outputs, key=k_res, spectral_radius=spectral_radius,
                            input_scale=input_scale)
    fit = task.sample(k_fit, n_trials)
    scored = np.asarray(fit.mask).max(axis=-1)
    w_out, b_out = ridge_readout(run_reservoir(params, fit.inputs, leak=leak), fit.targets, alpha, weights=scored)
    trials = task.sample(k_eval, n_trials)
    res_states = np.asarray(run_reservoir(params, trials.inputs, leak=leak), np.float64)
    res_out = res_states @ w_out.T + b_out

    if network is None:
        model = models.get(arch, n_inputs=task.n_inputs, n_hidden=n_hidden, n_outputs=task.n_outputs)
        pop = train_population(task, model, 1, positive_int("train_steps", train_steps), k_train,
                               learning_rate=positive("learning_rate", learning_rate),
                               batch_size=positive_int("batch_size", batch_size), eval_batch=n_trials)
        net = jax.tree_util.tree_map(lambda a: a[0], pop.params)
    else:
        model, net = network
        if not isinstance(model, models.Model) or (model.n_inputs, model.n_outputs) != (task.n_inputs,
                                                                                          task.n_outputs):
            raise ConfigError(
                f"network must be (model, params) with a dynascope Model of {task.n_inputs} inputs and "
                f"{task.n_outputs} outputs (task {task.name!r}), got {network[0]!r}."
            )
        arch = model.name
    states, outputs = model.run(net, trials.inputs)
    out32 = jnp.asarray(res_out, jnp.float32)
    return ReservoirComparison(
        loss_reservoir=float(task.loss(out32, trials)), loss_trained=float(task.loss(outputs, trials)),
        metric_reservoir=float(jnp.mean(task.metric(out32, trials))),
        metric_trained=float(jnp.mean(task.metric(outputs, trials))),
        pr_reservoir=participation_ratio(res_states), pr_trained=participation_ratio(np.asarray(states)),
        cka=float(cka_similarity(res_states.reshape(-1, n_hidden).astype(np.float32),
                                 np.asarray(states, np.float32).reshape(-1, states.shape[-1]))),
        reservoir_states=res_states, trained_states=np.asarray(states, np.float64), reservoir_outputs=res_out,
        trained_outputs=np.asarray(outputs, np.float64), targets=np.asarray(trials.targets, np.float64),
        mask=np.asarray(trials.mask, np.float64), task=task.name, arch=arch, n_hidden=n_hidden,
        reservoir_params={name: np.asarray(v, np.float64) for name, v in params.items()}
        | {"W_out": w_out, "b_out": b_out}, leak=float(leak), network=(model, net),
    )


# -- fixed points ------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ClosedLoop:
    """The reservoir as it runs with its readout in place: a step `(params, h [H], x [I]) -> h [H]` with the
    output z = W_out h + b_out fed back through W_fb (the loop FORCE trains and an echo-state network with
    feedback runs). Frozen, so jit keys its compiled programs on the leak alone. As a dynamical system it is
    a map for leak 1 and the Euler step h + a·f(h) of the flow f(h) = −h + tanh(·) below 1."""

    leak: float

    def __call__(self, params: Params, h: jax.Array, x: jax.Array) -> jax.Array:
        return _step(params, h, x, params["W_out"] @ h + params["b_out"], self.leak)


def closed_loop_fixed_points(params: Any, inputs: Any, *, key: jax.Array, leak: float = 1.0,
                             n_initial_states: int = 32, visited: Any = None, **options: Any) -> list[Any]:
    """Fixed points of the reservoir with its readout fed back (`ClosedLoop`), one search per constant input.

    Args:
        params: reservoir weights with a readout (`init_reservoir`, then W_out `[O, H]` and b_out `[O]`).
        inputs: constant inputs `[C, I]`.
        key: JAX PRNG key for the initial states.
        leak: a in (0, 1].
        n_initial_states: seeds per input: visited states (`visited` `[..., H]`) plus small noise, or, without
            them, uniform in ±1 (the range of tanh).
        options: keywords of `dynascope.dynamics.FixedPointOptions`.

    Returns:
        A list of C `dynascope.dynamics.FixedPoints` (eigenvalues of the flow's Jacobian for leak < 1, of the
        map's for leak 1).

    Reference: Sussillo & Barak 2013, "Opening the black box" (Neural Comput. 25:626).
    """
    from dynascope.dynamics import find_fixed_points, sample_initial_states

    a = positive("leak", leak)
    if a > 1.0:
        raise ConfigError(f"leak must lie in (0, 1], got {leak!r}.")
    p = {name: jnp.asarray(v, jnp.float32) for name, v in params.items()}
    if "b_out" not in p:
        p["b_out"] = jnp.zeros(p["W_out"].shape[0], jnp.float32)
    u = np.asarray(inputs, np.float32)
    if u.ndim != 2 or u.shape[1] != p["W_in"].shape[1]:
        raise ShapeError(f"inputs must be constant inputs [C, {p['W_in'].shape[1]}], got shape {u.shape}.")
    k = positive_int("n_initial_states", n_initial_states)
    h = p["W_rec"].shape[0]
    if visited is None:
        seeds = jax.random.uniform(prng_key(key), (k, h), jnp.float32, -1.0, 1.0)
    else:
        seeds = sample_initial_states(jnp.asarray(visited, jnp.float32), k, key=prng_key(key), noise_std=0.05)
    kind = {"continuous": True, "alpha": a} if a < 1.0 else {}
    # One search per input (the same seeds and the same compiled program for all of them).
    return [find_fixed_points(ClosedLoop(a), p, x, seeds, **kind, **options) for x in u]


@dataclasses.dataclass(frozen=True)
class FixedPointStructure:
    """Fixed points of a reservoir (closed loop) and of a trained network at the same constant inputs.

    inputs `[C, I]`. reservoir, trained: lists of C `dynascope.dynamics.FixedPoints`.
    by_index_reservoir, by_index_trained: per input, {number of unstable modes: how many converged points}.
    slowest_reservoir, slowest_trained `[C]`: the slowest mode's time constant in steps, −1/ln|μ| with μ the
        per-step multiplier nearest the unit circle among the stable points (NaN where none is stable).
    """

    inputs: np.ndarray
    reservoir: list[Any]
    trained: list[Any]
    by_index_reservoir: list[dict[int, int]]
    by_index_trained: list[dict[int, int]]
    slowest_reservoir: np.ndarray
    slowest_trained: np.ndarray


def counts_by_index(points: Any) -> dict[int, int]:
    """{number of unstable modes: how many converged points have it} of one `dynascope.dynamics.FixedPoints`."""
    from dynascope.dynamics import Status

    index = points.n_unstable[points.status == Status.CONVERGED]
    return {int(i): int(np.sum(index == i)) for i in np.unique(index)}


def _slowest(points: Any) -> float:
    """Time constant in steps of the slowest mode of the stable points: multipliers μ = 1 + alpha·λ of the
    Euler step for flows, λ itself for maps."""
    from dynascope.dynamics import Status

    keep = (points.status == Status.CONVERGED) & points.is_stable
    if not keep.any():
        return float("nan")
    lam = points.eigvals[keep]
    mu = np.abs(1.0 + points.alpha * lam) if points.continuous else np.abs(lam)
    return float(-1.0 / np.log(np.clip(mu.max(), 1e-300, 1.0 - 1e-15)))


def fixed_point_structure(comparison: ReservoirComparison, inputs: Any, *, key: jax.Array,
                          n_initial_states: int = 32, **options: Any) -> FixedPointStructure:
    """Fixed points of the two systems of `compare_with_trained` at constant `inputs` `[C, I]`: the reservoir
    with its readout fed back (`closed_loop_fixed_points`) and the trained network (`find_fixed_points` on
    its model), both seeded from the states each visited on the evaluation trials, plus small noise.

    Reference: Sussillo & Barak 2013 (Neural Comput. 25:626); Sussillo 2014 (Curr. Opin. Neurobiol. 25:156).
    """
    from dynascope.dynamics import find_fixed_points, sample_initial_states

    u = np.asarray(inputs, np.float32)
    k_res, k_net = jax.random.split(prng_key(key))
    res = closed_loop_fixed_points(comparison.reservoir_params, u, key=k_res, leak=comparison.leak,
                                   n_initial_states=n_initial_states, visited=comparison.reservoir_states, **options)
    model, net = comparison.network
    seeds = sample_initial_states(jnp.asarray(comparison.trained_states, jnp.float32),
                                  positive_int("n_initial_states", n_initial_states), key=k_net, noise_std=0.05)
    trained = [find_fixed_points(model, net, x, seeds, **options) for x in u]
    return FixedPointStructure(
        inputs=u, reservoir=res, trained=trained, by_index_reservoir=[counts_by_index(f) for f in res],
        by_index_trained=[counts_by_index(f) for f in trained], slowest_reservoir=np.array([_slowest(f) for f in res]),
        slowest_trained=np.array([_slowest(f) for f in trained]),
    )
