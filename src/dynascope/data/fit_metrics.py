"""How well a network fitted to a recording reproduces it, in the metrics of the Computation-through-Dynamics
Benchmark: co-smoothing bits per spike on held-out neurons, rate R², latent-state R², and whether the fitted
network's fixed points match the ground truth's (Versteeg, Sedler, McCart & Pandarinath 2023; bits per spike
from Pei et al. 2021, "Neural Latents Benchmark '21"). Plain NumPy / scikit-learn functions on arrays; counts
and expected counts are per bin, rates per second.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import gammaln, xlogy

from dynascope.dynamics import find_fixed_points, sample_initial_states


def poisson_log_likelihood(counts: Any, expected: Any) -> float:
    """Total Poisson log-likelihood Σ y log(mu) − mu − log(y!) of counts y under expected counts mu.

    Args:
        counts: spike counts y per bin, any shape.
        expected: expected counts mu per bin, the shape of `counts` or broadcastable to it (mu > 0
            wherever y > 0).

    Returns:
        A Python float.
    """
    y = np.asarray(counts, np.float64)
    mu = np.broadcast_to(np.asarray(expected, np.float64), y.shape)
    return float((xlogy(y, mu) - mu - gammaln(y + 1.0)).sum())


def bits_per_spike(counts: Any, expected: Any, null_expected: Any) -> float:
    """Bits per spike of predicted counts against each neuron's mean rate: (LL_model − LL_null) / (n_spikes ln 2).

    0 for the null itself, > 0 when the model predicts the counts better than each neuron's mean rate.
    Scored on held-out neurons of held-out trials, this is co-smoothing bits/spike (co-bps).

    Args:
        counts: observed spike counts `[..., N]`.
        expected: predicted expected counts per bin `[..., N]` (> 0 where a count is > 0).
        null_expected: each neuron's mean count per bin on the training trials `[N]`.

    Returns:
        A Python float; NaN when `counts` holds no spike.

    Reference: Pei et al. 2021 (Neural Latents Benchmark).
    """
    y = np.asarray(counts, np.float64)
    n_spikes = y.sum()
    if n_spikes == 0:
        return float("nan")  # no spike to explain: bits per spike is undefined
    gain = poisson_log_likelihood(y, expected) - poisson_log_likelihood(y, null_expected)
    return gain / (n_spikes * math.log(2.0))


def fit_poisson_readout(states: Any, counts: Any, *, alpha: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """A Poisson regression of each neuron's counts on the states, with expected counts exp(states @ weights + bias).

    Fitted neuron by neuron with scikit-learn's `PoissonRegressor` (Newton-Cholesky, L2 penalty `alpha`
    on the weights of the standardised states).

    Args:
        states: `[n, S]` regressors (rows: bins of the training trials).
        counts: `[n, N]` spike counts per bin.
        alpha: L2 penalty on the standardised weights.

    Returns:
        (`weights [S, N]`, `bias [N]`), float64, in the units of the unstandardised states.
    """
    from sklearn.linear_model import PoissonRegressor

    x = np.asarray(states, np.float64)
    y = np.asarray(counts, np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)  # a unit that never moves carries nothing; keep it finite
    z = (x - mean) / scale
    weights = np.zeros((x.shape[1], y.shape[1]))
    bias = np.zeros(y.shape[1])
    for n in range(y.shape[1]):
        reg = PoissonRegressor(alpha=alpha, solver="newton-cholesky", max_iter=300).fit(z, y[:, n])
        weights[:, n] = reg.coef_ / scale
        bias[n] = reg.intercept_ - (reg.coef_ / scale) @ mean
    return weights, bias


def r2(predicted: Any, target: Any) -> float:
    """R² of predictions against targets, per column over all leading axes, averaged over columns.

    scikit-learn's `r2_score` with a uniform average; columns of `target` that do not vary are left out.

    Args:
        predicted: `[..., D]`.
        target: `[..., D]`, the shape of `predicted`.

    Returns:
        A Python float.
    """
    from sklearn.metrics import r2_score

    p = np.asarray(predicted, np.float64).reshape(-1, np.shape(predicted)[-1])
    t = np.asarray(target, np.float64).reshape(-1, np.shape(target)[-1])
    varies = t.std(axis=0) > 0
    return float(r2_score(t[:, varies], p[:, varies]))


def linear_r2(states_train: Any, target_train: Any, states_test: Any, target_test: Any) -> float:
    """R² on held-out rows of a least-squares linear map (with intercept) from states to targets.

    The map is fitted on the training rows with scikit-learn's `LinearRegression`: how much of a latent
    the states hold linearly, judged on data the map was not fitted to. Leading axes are flattened.

    Args:
        states_train: states `[..., S]` the map is fitted on.
        target_train: targets `[..., D]` matching `states_train`.
        states_test: states `[..., S]` it is scored on.
        target_test: targets `[..., D]` matching `states_test`.

    Returns:
        R² averaged over target columns (as `r2`), a Python float.
    """
    from sklearn.linear_model import LinearRegression

    s = np.shape(states_train)[-1]
    d = np.shape(target_train)[-1]
    reg = LinearRegression().fit(np.asarray(states_train, np.float64).reshape(-1, s),
                                 np.asarray(target_train, np.float64).reshape(-1, d))
    predicted = reg.predict(np.asarray(states_test, np.float64).reshape(-1, s))
    return r2(predicted, np.asarray(target_test).reshape(-1, d))


def stable_point_counts(
    model: Any, params: Any, inputs: Any, states: Any, *, key: jax.Array, n_initial_states: int = 256, seed_noise: float = 0.05
) -> np.ndarray:
    """How many stable fixed points each of n networks (`params` stacked on a leading network axis) has under
    the constant `inputs [I]` inside the region its visited `states [n, ..., S]` span: converged, every mode
    decaying, not outside the reachable region -> `[n]`. Seeds: per network, `n_initial_states` of its visited states
    plus Gaussian noise of `seed_noise` x their std (as `pipeline.analyze` seeds); one search for all."""
    return fixed_point_census(model, params, inputs, states, key=key, n_initial_states=n_initial_states,
                              seed_noise=seed_noise)[0]


def fixed_point_census(
    model: Any, params: Any, inputs: Any, states: Any, *, key: jax.Array, n_initial_states: int = 256,
    seed_noise: float = 0.05,
) -> tuple[np.ndarray, list[dict[int, int]]]:
    """Each network's stable fixed points and its fixed points by index, from one search as
    `stable_point_counts` makes it.

    Args:
        model: the networks' model (or a bare step function).
        params: their parameters, leaves stacked on a leading network axis.
        inputs: the constant input `[I]`.
        states: each network's visited states `[n, ..., S]` (seeds, and the region a point must lie in).
        key: JAX PRNG key (keyword-only) for the seeds.
        n_initial_states: seeds per network.
        seed_noise: Gaussian noise on the seeds, times the states' std.

    Returns:
        (`n_stable [n]`, per network {index: count} of the converged fixed points inside the visited region,
        the index being the number of unstable directions).
    """
    states = np.asarray(states)
    seeds = np.stack([  # per network, from its own visited states (as `pipeline.analyze` seeds)
        np.asarray(sample_initial_states(s, n_initial_states, key=jax.random.fold_in(key, i),
                                         noise_std=seed_noise * (float(np.std(s)) or 1.0)))
        for i, s in enumerate(states)
    ])
    found = find_fixed_points(model, params, inputs, seeds, reachable_states=states)  # one search for all
    stable = np.array([int((f.is_stable & f.converged & ~f.outside_reachable).sum()) for f in found])
    census = []
    for f in found:
        keep = np.asarray(f.converged & ~f.outside_reachable)
        values, counts = np.unique(np.asarray(f.n_unstable)[keep], return_counts=True)
        census.append({int(v): int(c) for v, c in zip(values, counts)})
    return stable, census


def index_count_distance(a: dict[int, int], b: dict[int, int]) -> float:
    """How far apart two skeletons' fixed points by index are: Σ_index |a − b| / (Σa + Σb), in [0, 1] (0: the
    same number of points of every index) — `compare.topology_distance(kind='counts')` on graphs of those
    points alone (the connections are not compared).

    Args:
        a: {index: count} of one skeleton.
        b: {index: count} of the other.

    Returns:
        A Python float.
    """
    from dynascope.compare import topology_distance

    def graph(counts: dict[int, int]) -> Any:
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from((f"{i}/{k}", {"index": int(i)}) for i, c in counts.items() for k in range(c))
        return g

    return float(topology_distance(graph(a), graph(b), kind="counts"))


#: Newton decrement (gradient · step, in the objective's units: nats per unit of exposure) below which a Poisson
#: regression stops: float32 resolves the objective to about 1e-7 of itself.
STOP_DECREMENT = 1e-9


@dataclasses.dataclass(frozen=True)
class PoissonFit:
    """A batch of Poisson regressions: `weights [B, P, N]`, `bias [B, N]` (expected count per unit of exposure
    exp(x @ weights + bias)), `converged [B, N]` (Newton decrement below 1e-6 at the last step), float32."""

    weights: np.ndarray
    bias: np.ndarray
    converged: np.ndarray


def poisson_regression(
    x: Any,
    counts: Any,
    exposure: Any,
    *,
    alpha: float = 1e-3,
    n_steps: int = 20,
    init: PoissonFit | None = None,
    chunk: int = 64,
) -> PoissonFit:
    """B × N Poisson regressions (log link, L2 penalty) at once: every neuron's counts on each batch's regressors.

    Minimises, for batch b and neuron n, (1/Σ exposure) Σ_s [exposure_s exp(η_s) − counts_sn η_s] + α/2 ‖w‖², with
    η = x_b @ w + bias — scikit-learn's `PoissonRegressor` objective with sample weights `exposure` and targets
    `counts / exposure`, so rows may be sums over repeated trials (a row per condition and bin, its exposure the
    number of trials summed). Newton's method on the [P+1, P+1] normal equations of every neuron, all batches and
    neurons in one compiled program per chunk of `chunk` batches; each step is shortened so that no η moves by more
    than 2 (far from the optimum a full step can overshoot exp). At most `n_steps` steps from `init` (else weights 0
    and each neuron's log mean rate), fewer once every decrement is below `STOP_DECREMENT`.

    Args:
        x: regressors `[B, S, P]` (B batches, e.g. networks; S rows; P regressors).
        counts: summed counts `[S, N]` per row and neuron, shared by every batch, or `[B, S, N]`, one per batch.
        exposure: `[S]` units of exposure (trials) each row sums, > 0.
        alpha: L2 penalty on the weights (not the bias), ≥ 0.
        n_steps: Newton steps, ≥ 1.
        init: a `PoissonFit` of the same shapes to start from, or None.
        chunk: batches per compiled call.

    Returns:
        `PoissonFit` (`weights [B, P, N]`, `bias [B, N]`, `converged [B, N]`).

    Reference: McCullagh & Nelder 1989 (Generalized Linear Models, iteratively reweighted least squares).
    """
    x = np.asarray(x, np.float32)
    y = jnp.asarray(counts, jnp.float32)
    e = jnp.asarray(exposure, jnp.float32)
    n_batch, _, n_reg = x.shape
    each = y.ndim == 3  # counts of their own for every batch
    if init is None:
        rate = np.asarray(counts, np.float64).sum(-2) / float(np.sum(exposure))
        bias0 = np.broadcast_to(np.log(np.maximum(rate, 1e-12)), (n_batch, y.shape[-1]))
        theta0 = np.concatenate([np.zeros((n_batch, n_reg, y.shape[-1])), bias0[:, None, :]], axis=1)
    else:
        theta0 = np.concatenate([init.weights, init.bias[:, None, :]], axis=1)
    theta0 = theta0.astype(np.float32)
    size = max(1, min(int(chunk), n_batch))
    fit = _newton(int(n_steps), each)
    outs = []
    for start in range(0, n_batch, size):
        stop = min(start + size, n_batch)
        idx = np.arange(start, start + size).clip(max=n_batch - 1)  # the same shapes every call: one compilation
        theta, decrement = fit(jnp.asarray(x[idx]), y[idx] if each else y, e, theta0[idx], jnp.float32(alpha))
        outs.append((np.asarray(theta)[: stop - start], np.asarray(decrement)[: stop - start]))
    theta = np.concatenate([t for t, _ in outs])
    decrement = np.concatenate([d for _, d in outs])
    return PoissonFit(theta[:, :-1], theta[:, -1], decrement < 1e-6)


@functools.cache
def _newton(n_steps: int, each: bool) -> Any:
    """The compiled Newton iteration for at most `n_steps` steps (made once per step count), over batches that
    share their counts or (`each`) have their own."""

    def one(x: jax.Array, y: jax.Array, e: jax.Array, theta: jax.Array, alpha: jax.Array
            ) -> tuple[jax.Array, jax.Array]:
        x1 = jnp.concatenate([x, jnp.ones((x.shape[0], 1), x.dtype)], axis=1)  # [S, P+1]
        p1 = x1.shape[1]
        outer = (x1[:, :, None] * x1[:, None, :]).reshape(x1.shape[0], p1 * p1)  # [S, (P+1)²]
        total = e.sum()
        penalty = jnp.concatenate([jnp.ones(p1 - 1, x.dtype), jnp.zeros(1, x.dtype)]) * alpha  # not the bias

        def step(state: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array, jax.Array]:
            i, theta, _ = state
            eta = x1 @ theta  # [S, N]
            w = e[:, None] * jnp.exp(eta)
            grad = x1.T @ (w - y) / total + penalty[:, None] * theta  # [P+1, N]
            # Each neuron's Hessian Σ_s w_sn x_s x_sᵀ, all neurons as one matrix product.
            hess = (w.T @ outer).reshape(-1, p1, p1) / total + jnp.diag(penalty)  # [N, P+1, P+1]
            delta = jnp.linalg.solve(hess, grad.T[:, :, None])[:, :, 0].T  # [P+1, N]
            moved = jnp.abs(x1 @ delta).max(axis=0)
            theta = theta - delta * jnp.minimum(1.0, 2.0 / jnp.maximum(moved, 1e-30))
            return i + 1, theta, (grad * delta).sum(axis=0)

        def going(state: tuple[jax.Array, jax.Array, jax.Array]) -> jax.Array:
            # Stop at n_steps, or once every neuron's Newton decrement is below what float32 resolves.
            return (state[0] < n_steps) & (state[2].max() > STOP_DECREMENT)

        start = (jnp.int32(0), theta, jnp.full(theta.shape[1], jnp.inf, theta.dtype))
        _, theta, decrement = jax.lax.while_loop(going, step, start)
        return theta, decrement

    return jax.jit(jax.vmap(one, in_axes=(0, 0 if each else None, None, 0, None)))
