"""The leaderboard's fit metrics, `fit_r2` and `fit_bps`: how well a readout of a network's activity, fitted on
some trials of a recording, predicts the trials it was not fitted on (`pipeline.score` writes them beside the
geometry and dynamics metrics, in the same rows and the same agreement).

What is read out. A network's condition-averaged activity on its own first k principal axes (k as for the other
metrics: by default the recording's reliable dimensions), each axis standardised over conditions × bins — not
all its units: the readout then has k + 1 parameters per target whatever the network's size, fitted from the
C × T condition-bins, so a large network is neither penalised nor helped by having more units to overfit with,
and every network is read at the resolution the recording supports. A network has no trial-to-trial noise, so
its condition average is its prediction for every trial of the condition; it is averaged over the inputs of all
the trials (the experiment's design, not its responses), which leaks nothing of the held-out responses.

Split. The trials of every condition are shuffled and cut into a training and a held-out half of floor(n_c / 2)
each (an odd trial out is left out), seeded by `ScoreOptions.seed` alone (scoring other metrics too changes
nothing here).

fit_r2. A ridge map with intercept (penalty `FIT_ALPHA` on the standardised predictors) from the predictors to
the training half's condition averages in the recording's projected space (the `project` of the other metrics);
scored as R² pooled over the projected dimensions, 1 − SSE/SST, against the held-out half's condition averages
(`held_out_r2`). Ceiling (`r2_ceiling`): the R² of a noise-free perfect model, which predicts the true condition
means μ. With halves A = μ + ε_A and B = μ + ε_B, the noises independent and zero-mean, and both halves averaging
the same number of trials of each condition, E‖ε_A‖² = E‖ε_B‖² = s; the perfect model's error on B is ‖ε_B‖²
(expected s), and E‖A − B‖² = 2s, so ŝ = ‖A − B‖² / 2 is unbiased and the ceiling is 1 − ŝ / SST_B.

fit_bps. A Poisson regression per recorded neuron (log link, L2 penalty `FIT_ALPHA`, `data.fit_metrics.
poisson_regression`) from the predictors to the training half's spike counts summed per condition and bin (the
exposure: the condition's training trials; a condition-locked prediction makes this the same fit as one on
every training trial), scored as bits per spike of the held-out trials against each neuron's mean training rate
(`data.bits_per_spike`, pooled over neurons; a neuron silent on the training trials has no null rate and is left
out). Ceiling (`bps_ceiling`): the same readout with the recording's own training-half condition averages (their
log, the readout's link), on their own first k principal axes, as the predictors — what the recording's own
low-dimensional trajectories, measured on the training trials alone, predict about the held-out ones (the
split-half ceiling of the other metrics, in this metric), extrapolated to predictors without trial noise, which
a network's are. On simulated recordings it matches the bits per spike of the true rates on the held-out trials
to a few per cent where there are enough neurons, trials and spikes, and falls below them where there are not
(the bias measured in tests/pipeline/test_readout.py and benchmarks/RESULTS.md §14): there the normalised
fit_bps of a good network errs high.

Intervals. Each of `n_bootstrap` replicates draws a fresh split and resamples the trials of each half with
replacement within each condition (resampling before splitting would put copies of one trial on both sides),
refits every readout and divides by that replicate's ceiling; as for the other metrics the spread is centred on
the estimate. fit_bps refits each network's readout by one Newton step from its fit on the estimate's split and
expands the held-out log-likelihood to second order around it (`one_step_bps`: a one-step bootstrap, a few matrix
products for all replicates at once); the ceiling's readout, whose predictors change, is refitted in full.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.data.fit_metrics import PoissonFit, poisson_regression
from dynascope.errors import ShapeError

#: L2 penalty of both readouts, on predictors standardised to unit variance (small: it only keeps degenerate
#: fits — a constant axis, a neuron silent in some conditions — finite).
FIT_ALPHA = 1e-3
#: Most Newton steps of a Poisson readout (it stops earlier once converged).
COLD_STEPS = 20


@dataclasses.dataclass(frozen=True)
class Halves:
    """One split of a recording's trials: `train_rows`, `test_rows` (trial indices, with repeats in a bootstrap
    resample), spike counts summed per condition and bin `train_sum`, `test_sum [C, T, N]` and the trials summed
    per condition `train_n`, `test_n [C]`; `quarter_sum [C, T, N]`, `quarter_n [C]`: the same over the first
    half of each condition's training trials (`bps_ceiling` extrapolates from it)."""

    train_rows: np.ndarray
    test_rows: np.ndarray
    train_sum: np.ndarray
    test_sum: np.ndarray
    train_n: np.ndarray
    test_n: np.ndarray
    quarter_sum: np.ndarray
    quarter_n: np.ndarray

    @property
    def train_mean(self) -> np.ndarray:
        """The training half's condition averages `[C, T, N]`."""
        return self.train_sum / self.train_n[:, None, None]

    @property
    def test_mean(self) -> np.ndarray:
        """The held-out half's condition averages `[C, T, N]`."""
        return self.test_sum / self.test_n[:, None, None]


@dataclasses.dataclass(frozen=True)
class FitMetricScores:
    """One fit metric for every network: `raw [n]` and `ceiling` on the estimate's split, `replicates [R, n]`
    the normalised score of each bootstrap replicate (its raw over its own ceiling)."""

    raw: np.ndarray
    ceiling: float
    replicates: np.ndarray


def split_halves(counts: Any, labels: Any, conditions: tuple[str, ...], rows: Any, *, rng: np.random.Generator,
                 resample: bool = False) -> Halves:
    """A random split of the trials `rows` of every condition into a training and a held-out half.

    Args:
        counts: spike counts `[trials, T, N]`.
        labels: the condition of each trial `[trials]`.
        conditions: the C conditions, in the order of the sums.
        rows: the trials to split (each condition among them with at least 2).
        rng: NumPy generator of the shuffles (and resamples).
        resample: also resample each half with replacement within each condition (a bootstrap replicate).

    Returns:
        `Halves` of floor(n_c / 2) trials of each condition on each side.
    """
    counts, labels, rows = np.asarray(counts), np.asarray(labels), np.asarray(rows)
    train, test = [], []
    for c in conditions:
        mine = rng.permutation(rows[labels[rows] == c])
        half = len(mine) // 2
        a, b = mine[:half], mine[half: 2 * half]
        if resample:
            a, b = rng.choice(a, size=half), rng.choice(b, size=half)
        train.append(a)
        test.append(b)
    n = np.array([len(a) for a in train], np.float64)
    quarters = [a[: len(a) // 2] for a in train]
    return Halves(np.concatenate(train), np.concatenate(test), np.stack([counts[a].sum(0) for a in train]),
                  np.stack([counts[b].sum(0) for b in test]), n, n.copy(),
                  np.stack([counts[q].sum(0) for q in quarters]), np.array([len(q) for q in quarters], np.float64))


def standardised(predictors: Any) -> np.ndarray:
    """Condition-averaged activity `[n, C, T, k]` as regressors `[n, C·T, k]`, each column of each network centred
    and scaled to unit variance over conditions × bins (a column that does not vary is left at 0).

    Args:
        predictors: `[n, C, T, k]` (networks, conditions, bins, principal axes).

    Returns:
        float64 `[n, C·T, k]`.
    """
    x = np.asarray(predictors, np.float64)
    x = x.reshape(x.shape[0], -1, x.shape[-1])
    x = x - x.mean(axis=1, keepdims=True)
    scale = x.std(axis=1, keepdims=True)
    return x / np.where(scale > 1e-12 * (1 + np.abs(x).max()), scale, np.inf)


def r2_ceiling(train_mean: Any, test_mean: Any) -> float:
    """The held-out R² of a noise-free perfect model, estimated from two halves: 1 − ‖A − B‖² / (2 SST_B).

    See the module docstring for the derivation (ŝ = ‖A − B‖² / 2 is an unbiased estimate of the held-out half's
    noise energy when both halves average as many trials of each condition).

    Args:
        train_mean: the training half's condition averages A `[..., D]`.
        test_mean: the held-out half's condition averages B `[..., D]`, the shape of `train_mean`.

    Returns:
        A Python float (NaN when B does not vary).
    """
    a = np.asarray(train_mean, np.float64).reshape(-1, np.shape(train_mean)[-1])
    b = np.asarray(test_mean, np.float64).reshape(-1, np.shape(test_mean)[-1])
    sst = float(((b - b.mean(axis=0)) ** 2).sum())
    return 1.0 - float(((a - b) ** 2).sum()) / (2.0 * sst) if sst > 0 else float("nan")


def held_out_r2(regressors: Any, train_mean: Any, test_mean: Any, *, alpha: float = FIT_ALPHA) -> np.ndarray:
    """R² on the held-out half of a ridge map (with intercept) fitted on the training half, for every network.

    Minimises (1/S)‖A − X W − b‖² + alpha ‖W‖² per network; R² = 1 − SSE / SST pooled over the D columns of B.
    Computed from [k+1, k+1] and [k+1, D] products only, so no [n, S, D] prediction is ever made.

    Args:
        regressors: `[n, S, k]` (`standardised` activity; S = conditions × bins).
        train_mean: targets A `[S, D]` (the training half's condition averages, projected).
        test_mean: targets B `[S, D]` (the held-out half's).
        alpha: ridge penalty on the weights (not the intercept).

    Returns:
        float64 `[n]`.
    """
    x = np.asarray(regressors, np.float64)
    x1 = np.concatenate([x, np.ones((*x.shape[:2], 1))], axis=2)  # [n, S, k+1]
    a = np.asarray(train_mean, np.float64).reshape(x.shape[1], -1)
    b = np.asarray(test_mean, np.float64).reshape(x.shape[1], -1)
    s = x.shape[1]
    penalty = np.diag(np.r_[np.full(x.shape[2], alpha), 0.0])
    gram = np.swapaxes(x1, 1, 2) @ x1 / s  # [n, k+1, k+1]
    xa = np.swapaxes(x1, 1, 2) @ a / s  # [n, k+1, D]
    xb = np.swapaxes(x1, 1, 2) @ b / s
    w = np.linalg.solve(gram + penalty, xa)
    # ‖B − XW‖² = ‖B‖² − 2⟨W, XᵀB⟩ + ⟨W, XᵀX W⟩ (both inner products scaled by S as gram and xb are).
    sse = (b * b).sum() - s * (2 * (w * xb).sum(axis=(1, 2)) - (w * (gram @ w)).sum(axis=(1, 2)))
    sst = ((b - b.mean(axis=0)) ** 2).sum()
    return 1.0 - sse / sst if sst > 0 else np.full(x.shape[0], np.nan)


def held_out_bps(regressors: Any, halves: Halves, *, alpha: float = FIT_ALPHA, init: PoissonFit | None = None,
                 n_steps: int = COLD_STEPS, chunk: int = 64) -> tuple[np.ndarray, PoissonFit]:
    """Bits per spike on the held-out half of a Poisson readout of every neuron fitted on the training half.

    Args:
        regressors: `[n, C·T, k]` (`standardised` activity), rows in the order of `halves`' [C, T] sums.
        halves: the split (`split_halves`).
        alpha: L2 penalty of the readout.
        init: a previous fit to start from (a bootstrap refit), or None.
        n_steps: Newton steps.
        chunk: networks per compiled call.

    Returns:
        (bits per spike `[n]`, pooled over the neurons that spiked on the training trials; the `PoissonFit`).
    """
    n_cells = halves.train_sum.shape[0] * halves.train_sum.shape[1]
    train = halves.train_sum.reshape(n_cells, -1)
    exposure = np.repeat(halves.train_n, halves.train_sum.shape[1])
    active = train.sum(0) > 0
    if init is not None:
        # A neuron silent where `init` was fitted has a bias near −∞ there: start it afresh (weights 0, its rate).
        stale = init.bias < -25.0
        rate = np.log(np.maximum(train.sum(0), 1e-12) / exposure.sum())
        init = PoissonFit(np.where(stale[:, None, :], 0.0, init.weights).astype(np.float32),
                          np.where(stale, rate, init.bias).astype(np.float32), init.converged)
    fit = poisson_regression(regressors, train, exposure, alpha=alpha, n_steps=n_steps, init=init, chunk=chunk)
    null = np.where(active, train.sum(0), 1.0) / exposure.sum()  # each neuron's mean count per training trial bin
    test = np.where(active, halves.test_sum.reshape(n_cells, -1), 0.0)
    test_exposure = np.repeat(halves.test_n, halves.test_sum.shape[1])
    gain = _held_out_gain(regressors, fit, test, test_exposure, null, active, chunk)
    spikes = test.sum()
    return (gain / (spikes * math.log(2.0)) if spikes > 0 else np.full(len(gain), np.nan)), fit


def _held_out_gain(x: np.ndarray, fit: PoissonFit, test: np.ndarray, exposure: np.ndarray, null: np.ndarray,
                   active: np.ndarray, chunk: int) -> np.ndarray:
    """Σ over held-out cells and neurons of LL(readout) − LL(null) (the log y! terms cancel) `[n]`, in chunks;
    `test [S, N]`, `null`, `active [N]` shared by every network, or `[n, S, N]`, `[n, N]` one per network."""
    size = max(1, min(chunk, len(x)))
    each = np.ndim(test) == 3
    test, null, active = (np.asarray(a, np.float32) for a in (test, null, active))
    out = []
    for start in range(0, len(x), size):
        idx = np.arange(start, start + size).clip(max=len(x) - 1)  # the last chunk repeats a network: one compile
        mine = [jnp.asarray(a[idx] if each else a) for a in (test, null, active)]
        g = _GAIN[each](jnp.asarray(x[idx], jnp.float32), jnp.asarray(fit.weights[idx]), jnp.asarray(fit.bias[idx]),
                        mine[0], jnp.asarray(exposure, jnp.float32), mine[1], mine[2])
        out.append(np.asarray(g, np.float64)[: min(size, len(x) - start)])
    return np.concatenate(out)


def _gain(x: jax.Array, weights: jax.Array, bias: jax.Array, test: jax.Array, exposure: jax.Array,
          null: jax.Array, active: jax.Array) -> jax.Array:
    eta = x @ weights + bias  # [S, N] log expected count per trial bin
    model = test * eta - exposure[:, None] * jnp.exp(eta)
    base = test * jnp.log(null) - exposure[:, None] * null
    return ((model - base) * active).sum()


#: `_gain` over networks that share the held-out data (False) or have their own (True).
_GAIN = {each: jax.jit(jax.vmap(_gain, in_axes=(0, 0, 0, *((0, None, 0, 0) if each else (None,) * 4))))
         for each in (False, True)}


def one_step_bps(regressors: Any, fit: PoissonFit, counts: Any, labels: Any, conditions: tuple[str, ...],
                 estimate: Halves, replicates: list[Halves], *, alpha: float = FIT_ALPHA, chunk: int = 64
                 ) -> np.ndarray:
    """Held-out bits per spike of every network's readout refitted on each bootstrap replicate, by one Newton step
    from `fit` (its fit on `estimate`) and the held-out log-likelihood expanded to second order around it.

    A replicate changes only which trials are summed, with what multiplicity (the exposure of each condition is the
    same for every split), so the step −H⁻¹ g is linear in the replicate's training counts and the expansion of the
    held-out log-likelihood needs only their products with the predictors. Those are made once per trial, [k+1, N]
    each, and every replicate is then a weighted sum of trials: no refit and no exp per replicate (the one-step
    bootstrap, accurate to second order in the replicate's perturbation). Neurons silent on the estimate's
    training trials are left out of every replicate.

    Args:
        regressors: `[n, C·T, k]` (`standardised` activity).
        fit: the readouts fitted on `estimate` (`held_out_bps`).
        counts: the recording's spike counts `[trials, T, N]`.
        labels: the condition of each trial `[trials]`.
        conditions: the C conditions, in the order of the regressors' rows.
        estimate: the split `fit` was fitted on.
        replicates: the bootstrap splits (`split_halves(..., resample=True)`).
        alpha: L2 penalty of the readout.
        chunk: networks per compiled call.

    Returns:
        float64 `[len(replicates), n]`.
    """
    x = np.asarray(regressors, np.float32)
    n_time = estimate.train_sum.shape[1]
    exposure = np.repeat(estimate.train_n, n_time).astype(np.float32)
    if any(not np.array_equal(h.train_n, estimate.train_n) or not np.array_equal(h.test_n, estimate.train_n)
           for h in replicates):
        raise ShapeError("one_step_bps: every split must hold as many trials of each condition on each side, as "
                         "split_halves makes them.")
    used = np.unique(np.concatenate([np.r_[h.train_rows, h.test_rows] for h in replicates]))
    where = {c: i for i, c in enumerate(conditions)}
    cond = np.array([where[c] for c in np.asarray(labels)[used]], np.int32)
    position = np.full(np.shape(counts)[0], -1)
    position[used] = np.arange(len(used))
    train_w = np.stack([np.bincount(position[h.train_rows], minlength=len(used)) for h in replicates]).astype(np.float32)
    test_w = np.stack([np.bincount(position[h.test_rows], minlength=len(used)) for h in replicates]).astype(np.float32)
    trials = jnp.asarray(np.asarray(counts)[used], jnp.float32)  # [I, T, N]
    ll = np.zeros((len(replicates), len(x), trials.shape[-1]))
    size = max(1, min(chunk, len(x)))
    for start in range(0, len(x), size):
        idx = np.arange(start, start + size).clip(max=len(x) - 1)  # the last chunk repeats a network: one compile
        keep = min(size, len(x) - start)
        got = _one_step(jnp.asarray(x[idx]), jnp.asarray(fit.weights[idx]), jnp.asarray(fit.bias[idx]), trials,
                        jnp.asarray(cond), jnp.asarray(train_w), jnp.asarray(test_w), jnp.asarray(exposure),
                        jnp.float32(alpha))
        ll[:, start: start + keep] = np.asarray(got, np.float64)[:, :keep]
    n_cells = estimate.train_sum.shape[0] * n_time
    fitted = estimate.train_sum.reshape(n_cells, -1).sum(0) > 0
    train_total = np.stack([h.train_sum.reshape(n_cells, -1).sum(0) for h in replicates])  # [R, N]
    test_total = np.stack([h.test_sum.reshape(n_cells, -1).sum(0) for h in replicates])
    active = fitted & (train_total > 0)
    null = np.where(active, train_total, 1.0) / exposure.sum(dtype=np.float64)
    null_ll = test_total * np.log(null) - exposure.sum(dtype=np.float64) * null  # [R, N]
    gain = np.where(active[:, None, :], ll - null_ll[:, None, :], 0.0).sum(-1)  # NaN of a silent neuron dropped
    spikes = np.where(active, test_total, 0.0).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return gain / (spikes[:, None] * math.log(2.0))


@jax.jit
def _one_step(x: jax.Array, weights: jax.Array, bias: jax.Array, trials: jax.Array, cond: jax.Array,
              train_w: jax.Array, test_w: jax.Array, exposure: jax.Array, alpha: jax.Array) -> jax.Array:
    """`[R, B, N]` second-order held-out log-likelihood (less the log y! terms) after one Newton step, for B
    networks `x [B, C·T, P]` and R replicates given as trial multiplicities `train_w`, `test_w [R, I]`."""
    n_batch, n_cells, _ = x.shape
    n_time = trials.shape[1]
    x1 = jnp.concatenate([x, jnp.ones((n_batch, n_cells, 1), x.dtype)], axis=2)  # [B, S, P1]
    p1 = x1.shape[2]
    theta = jnp.concatenate([weights, bias[:, None, :]], axis=1)  # [B, P1, N]
    penalty = jnp.concatenate([jnp.ones(p1 - 1, x.dtype), jnp.zeros(1, x.dtype)]) * alpha
    w = exposure[None, :, None] * jnp.exp(jnp.einsum("bsp,bpn->bsn", x1, theta))  # a half's expected counts
    total = exposure.sum()
    outer = (x1[..., :, None] * x1[..., None, :]).reshape(n_batch, n_cells, p1 * p1)
    curvature = jnp.einsum("bsn,bsq->bnq", w, outer).reshape(n_batch, -1, p1, p1)  # Σ w x xᵀ [B, N, P1, P1]
    hess = curvature / total + jnp.diag(penalty)
    x_w = jnp.einsum("bsp,bsn->bpn", x1, w)
    # Each trial's counts against its condition's predictors, Σ_t y_itn x_ctp: [B, I, P1, N].
    per_trial = jnp.einsum("itn,bitp->bipn", trials, x1.reshape(n_batch, -1, n_time, p1)[:, cond])
    x_train = jnp.einsum("ri,bipn->rbpn", train_w, per_trial)
    x_test = jnp.einsum("ri,bipn->rbpn", test_w, per_trial)
    grad = (x_w[None] - x_train) / total + (penalty[:, None] * theta)[None]  # [R, B, P1, N]
    step = -jnp.linalg.solve(hess[None], jnp.moveaxis(grad, 2, 3)[..., None])[..., 0]  # [R, B, N, P1]
    at_fit = (x_test * theta[None]).sum(2) - w.sum(1)[None]  # Σ y η − Σ μ on the held-out half, at the fit
    slope = (step * jnp.moveaxis(x_test - x_w[None], 2, 3)).sum(-1)
    bend = jnp.einsum("rbnp,bnpq,rbnq->rbn", step, curvature, step)
    return at_fit + slope - 0.5 * bend


def bps_ceiling(halves: Halves, k: int, *, alpha: float = FIT_ALPHA) -> float:
    """fit_bps with the recording's own training trials as the predictor, extrapolated to noise-free predictors.

    The predictor: the first k principal axes of the log of the training half's condition averages (half a trial's
    count added, Anscombe 1948, so that a bin without spikes stays finite) — the log because the readout's link is:
    where log rates are linear in a k-dimensional latent these axes estimate it (the rates' own principal axes
    bend away from it where rates are strongly modulated). Averages of m trials are noisy predictors, which costs
    the readout a part of its held-out bits that falls as 1/m to first order, c(m) ≈ c∞ − β/m; a network's
    predictors have no such noise. So the readout is scored twice, its predictors made from all m₁ training trials
    of each condition and from the first m₂ ≈ m₁/2 of them (each time fitted on all of the training half), and
    c∞ = (m₁ c(m₁) − m₂ c(m₂)) / (m₁ − m₂) (Richardson 1911). Where a condition has a single training trial
    there is nothing to extrapolate from and c(m₁) is returned.

    Args:
        halves: the split (`split_halves`).
        k: principal axes read out (as the networks' predictors).
        alpha: L2 penalty of the readout.

    Returns:
        Bits per spike on the held-out half, a Python float (`bps_ceilings` makes many at once).
    """
    return float(bps_ceilings([halves], k, alpha=alpha)[0])


def bps_ceilings(splits: list[Halves], k: int, *, alpha: float = FIT_ALPHA, chunk: int = 64) -> np.ndarray:
    """`bps_ceiling` of every split, all readouts in the same compiled calls.

    Args:
        splits: the splits (`split_halves`), each with the same trials per condition.
        k: principal axes read out.
        alpha: L2 penalty of the readouts.
        chunk: readouts per compiled call.

    Returns:
        float64 `[len(splits)]`.
    """
    # A few splits at a time: each holds [C·T, N] arrays of counts twice over.
    per_call = max(1, min(len(splits), chunk // 2))
    return np.concatenate([_ceilings(splits[i: i + per_call], k, alpha, chunk)
                           for i in range(0, len(splits), per_call)])


def _ceilings(splits: list[Halves], k: int, alpha: float, chunk: int) -> np.ndarray:
    first = splits[0]
    extrapolate = first.quarter_n.min() >= 1  # a condition with one training trial: nothing to extrapolate from
    copies = 2 if extrapolate else 1
    sources = [pair for h in splits for pair in [(h.train_sum, h.train_n), (h.quarter_sum, h.quarter_n)][:copies]]
    logs = np.stack([np.log((total + 0.5) / n[:, None, None]) for total, n in sources])
    own = _principal_axes(jnp.asarray(logs.reshape(len(logs), -1, logs.shape[-1]), jnp.float32), k)
    x = standardised(np.asarray(own, np.float64)[:, :, None, :])  # [B, C·T, 1, k] -> [B, C·T, k]
    n_cells = first.train_sum.shape[0] * first.train_sum.shape[1]
    train = np.stack([h.train_sum.reshape(n_cells, -1) for h in splits for _ in range(copies)])  # [B, S, N]
    test = np.stack([h.test_sum.reshape(n_cells, -1) for h in splits for _ in range(copies)])
    exposure = np.repeat(first.train_n, first.train_sum.shape[1])
    fit = poisson_regression(x, train, exposure, alpha=alpha, chunk=chunk)
    active = train.sum(1) > 0
    null = np.where(active, train.sum(1), 1.0) / exposure.sum()
    test = np.where(active[:, None, :], test, 0.0)
    gain = _held_out_gain(x, fit, test, exposure, null, active, chunk)
    with np.errstate(invalid="ignore", divide="ignore"):
        bps = (gain / (test.sum(axis=(1, 2)) * math.log(2.0))).reshape(len(splits), copies)
    if not extrapolate:
        return bps[:, 0]
    m1, m2 = first.train_n.sum(), first.quarter_n.sum()
    return (m1 * bps[:, 0] - m2 * bps[:, 1]) / (m1 - m2)


@functools.partial(jax.jit, static_argnums=1)
def _principal_axes(x: jax.Array, k: int) -> jax.Array:
    """`x [B, S, N]` on each one's own first k principal axes `[B, S, k]` (eigenvectors of the [N, N] scatter: in
    the compiled program, not NumPy's LAPACK, whose threads were measured 50× slower on a busy 2-core machine)."""
    x = x - x.mean(axis=1, keepdims=True)
    _, vectors = jnp.linalg.eigh(jnp.einsum("bsn,bsm->bnm", x, x))  # ascending eigenvalues
    return jnp.einsum("bsn,bnk->bsk", x, vectors[:, :, ::-1][:, :, :k])


def score_fit_metric(metric: str, predictors: Any, counts: Any, labels: Any, conditions: tuple[str, ...], rows: Any,
              project: Callable[[np.ndarray], np.ndarray], *, n_bootstrap: int, seed: int, alpha: float = FIT_ALPHA,
              chunk: int = 64, progress: Callable[[int], None] | None = None) -> FitMetricScores:
    """Score every network under the fit metric `metric` ('fit_r2' or 'fit_bps'): the estimate on one seeded
    split, and `n_bootstrap` replicates (a fresh split, each half resampled within conditions).

    Args:
        metric: 'fit_r2' or 'fit_bps'.
        predictors: the networks' condition-averaged activity on their principal axes `[n, C, T, k]`.
        counts: the recording's spike counts `[trials, T, N]`.
        labels: the condition of each trial `[trials]`.
        conditions: the C conditions, in the order of `predictors`.
        rows: the trials scored.
        project: the recording's projection `[C, T, N] -> [C, T, D]` (fit_r2's target space).
        n_bootstrap: bootstrap replicates (≥ 1).
        seed: of the splits and resamples.
        alpha: L2 penalty of the readouts.
        chunk: networks per compiled call (fit_bps).
        progress: called with the number of replicates done, or None.

    Returns:
        `FitMetricScores` (`raw [n]`, `ceiling`, `replicates [n_bootstrap, n]`).
    """
    rng = np.random.default_rng([seed, 14])  # its own stream: the same splits whichever other metrics are scored
    x = standardised(predictors)
    k = x.shape[-1]

    def split(resample: bool) -> Halves:
        return split_halves(counts, labels, conditions, rows, rng=rng, resample=resample)

    def r2(h: Halves) -> tuple[np.ndarray, float]:
        a, b = project(h.train_mean), project(h.test_mean)
        return held_out_r2(x, a, b, alpha=alpha), r2_ceiling(a, b)

    estimate = split(False)
    resampled = [split(True) for _ in range(n_bootstrap)]
    chunk = _networks_per_call(chunk, estimate)
    if metric == "fit_r2":
        raw, ceiling = r2(estimate)
        values, ceilings = zip(*(r2(h) for h in resampled))
    else:
        raw, fit = held_out_bps(x, estimate, alpha=alpha, chunk=chunk)
        ceiling = bps_ceiling(estimate, k, alpha=alpha)
        values = one_step_bps(x, fit, counts, labels, conditions, estimate, resampled, alpha=alpha, chunk=chunk)
        ceilings = bps_ceilings(resampled, k, alpha=alpha, chunk=chunk)
    replicates = np.stack([v / c if c > 0 else np.full(len(v), np.nan) for v, c in zip(values, ceilings)])
    if progress is not None:
        progress(n_bootstrap)
    return FitMetricScores(raw, ceiling, replicates)


def _networks_per_call(chunk: int, halves: Halves) -> int:
    """At most `chunk` networks per compiled call, and few enough that its [networks, C·T, N] arrays stay near
    128 MB each (a fit_bps call holds a few of them)."""
    cells = halves.train_sum.size
    return max(1, min(int(chunk), (1 << 25) // max(1, cells)))
