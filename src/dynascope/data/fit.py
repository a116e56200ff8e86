"""Networks fitted to a recording: a population of rate networks trained on the recording's held-in neurons
(`RecordingTask`, Poisson likelihood, through `train_population`: many seeds in one compiled program), then
scored CtDB-style on what it did not see (`score_fit`). The fitted `Population` is an ordinary one, so
`dynamics.find_fixed_points`, `dynamics.skeleton` and `compare` run on it unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope import models
from dynascope.data.fit_metrics import (
    bits_per_spike,
    fit_poisson_readout,
    linear_r2,
    r2,
    fixed_point_census,
    index_count_distance,
)
from dynascope.data.recording_task import LOG_RATE_MAX, RecordingTask, Split, make_split, trial_inputs
from dynascope.data.recording import TrialRecording
from dynascope.data.synthetic import SyntheticRecording
from dynascope.errors import ConfigError, DataError, ShapeError
from dynascope.models import Model
from dynascope.train import Population, train_population


@dataclasses.dataclass(frozen=True)
class Fit:
    """A population fitted to one recording: `population` (its `task` is the `RecordingTask`), the `split` of
    neurons and trials, `inputs [trials, T, I]` the network inputs of every trial (training and held out),
    `bin_width` seconds per bin."""

    population: Population
    split: Split
    inputs: np.ndarray
    bin_width: float

    @property
    def task(self) -> RecordingTask:
        return self.population.task  # type: ignore[return-value]

    @property
    def model(self) -> Model:
        return self.population.model


def _check_recording(recording: Any) -> tuple[np.ndarray, float]:
    """(counts, bin width) of a `TrialRecording`, each checked."""
    if not isinstance(recording, TrialRecording):
        raise ConfigError(f"recording must be a TrialRecording (data.read_trials of an NWB file, or data.synthesize), "
                          f"got {type(recording).__name__}.")
    width = recording.bin_width
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise ConfigError(f"recording.bin_width must be the bin width in seconds (> 0), got {width!r}.")
    return _check_counts(recording.counts), float(width)


def _check_counts(counts: Any) -> np.ndarray:
    y = np.asarray(counts)
    if y.ndim != 3 or 0 in y.shape:
        raise ShapeError(f"counts must be spike counts [trials, time, neurons], got shape {y.shape}.")
    if not np.issubdtype(y.dtype, np.number) or not np.isfinite(y).all() or (y < 0).any() or (y != np.round(y)).any():
        raise DataError("counts must be finite non-negative whole numbers of spikes per bin; bin spike times "
                        "into counts first (e.g. with data.read_synthetic or interop.Binning(rates=False)).")
    return y.astype(np.int64)


def fit_recording(
    recording: TrialRecording,
    *,
    key: jax.Array,
    model: str | Model = "gru",
    n_hidden: int = 16,
    n_networks: int = 1,
    steps: int = 500,
    held_out_neurons: float = 0.25,
    held_out_trials: float = 0.2,
    model_options: dict[str, Any] | None = None,
    **train_options: Any,
) -> Fit:
    """Fit `n_networks` networks to `recording`, all in one compiled program.

    The networks' outputs are the held-in neurons' log expected counts per bin (a Poisson loss); the
    split is drawn from `key`, and the networks see only the held-in neurons of the training trials.
    The recording's `inputs [trials, T, I]` drive the networks (when it has none, a one-hot cue of each
    trial's condition label in its first bin). Score the result with `score_fit`.

    Args:
        recording: a `TrialRecording` (`counts [trials, T, N]` spikes per bin, `bin_width` seconds per
            bin): one read from an NWB file by `read_trials`, or a `SyntheticRecording`.
        key: JAX PRNG key (keyword-only), split between the neuron/trial split and training.
        model: a zoo model name, built with `n_hidden` units and `model_options`, or a `Model`.
        n_hidden: hidden units of a zoo model (ignored for a `Model`).
        n_networks: networks trained together.
        steps: Adam steps.
        held_out_neurons: fraction of neurons held out, in (0, 1).
        held_out_trials: fraction of trials held out, in (0, 1).
        model_options: extra keyword options of the zoo model, or None.
        **train_options: `TrainOptions` fields (batch_size, learning_rate, ...).

    Returns:
        `Fit` (the trained population, the split, every trial's inputs, `dt`).

    Raises:
        ShapeError/DataError: `counts` not whole non-negative spike counts `[trials, T, N]`, or too few
        neurons/trials to split; ConfigError: not a `TrialRecording`, a bad `bin_width`, fraction, model or
        training option.

    Reference: Versteeg, Sedler, McCart & Pandarinath 2023 (CtDB); Pei et al. 2021 (co-smoothing).
    """
    counts, bin_width = _check_recording(recording)
    n_trials, n_time, n_neurons = counts.shape
    k_split, k_train = jax.random.split(key)
    split = make_split(n_trials, n_neurons, key=k_split, held_out_neurons=held_out_neurons,
                       held_out_trials=held_out_trials)
    inputs = trial_inputs(recording.inputs, recording.labels, n_trials, n_time)
    task = _task(counts, inputs, split, bin_width)
    if isinstance(model, str):
        net = models.get(model, n_inputs=task.n_inputs, n_hidden=n_hidden, n_outputs=task.n_outputs,
                         **(model_options or {}))
    elif isinstance(model, Model):
        net = model
    else:
        raise ConfigError(f"model must be a zoo model name (see dynascope.models.names()) or a Model, got "
                          f"{type(model).__name__}.")
    population = train_population(task, net, n_networks, steps, k_train, **train_options)
    return Fit(population, split, inputs, bin_width)


def _task(counts: np.ndarray, inputs: np.ndarray, split: Split, bin_width: float) -> RecordingTask:
    rows = split.train_trials
    return RecordingTask.from_arrays(counts[rows][..., split.held_in], inputs[rows], dt=bin_width, split=split)


@functools.lru_cache(maxsize=16)
def _runner(model: Model) -> Any:
    # One compiled program per model (models are frozen and hashable), so scoring several fits of one
    # architecture — or a fit and its untrained start — compiles the simulation once.
    return jax.jit(jax.vmap(model.run, in_axes=(0, None)))


@dataclasses.dataclass(frozen=True)
class FitScores:
    """CtDB-style scores of each network of a fit, arrays `[n_networks]` (NaN / -1 for a diverged network).

    `co_bps`: bits per spike of the held-out neurons on the held-out trials, their rates read out of the
    network's states by a Poisson regression fitted on the training trials; `co_bps_true`: the same for the
    rates that generated the spikes (the best a fit can expect; None without ground truth). `rate_r2`: R² of
    every neuron's predicted rate against its true rate on the held-out trials. `latent_r2`: R² of the
    ground-truth latents linearly decoded from the states (map fitted on training trials, scored on held-out
    ones). `n_stable`: stable fixed points of the network under zero input within its visited region;
    `n_stable_true` the ground truth's count (None without a skeleton or when not counted); `skeleton_match`
    whether they agree. `index_counts`: per network {index: count} of its fixed points in that region (empty
    when not searched), `index_counts_true` the ground truth's (None without one); `skeleton_distance [n]` how
    far apart they are, Σ_index |Δcount| / total in [0, 1] (`fit_metrics.index_count_distance`; NaN without
    a ground truth). `train_metric`: the task metric (deviance explained on training trials).
    """

    co_bps: np.ndarray
    co_bps_true: float | None
    rate_r2: np.ndarray
    latent_r2: np.ndarray
    n_stable: np.ndarray
    n_stable_true: int | None
    skeleton_match: np.ndarray
    train_metric: np.ndarray
    index_counts: list[dict[int, int]] = dataclasses.field(default_factory=list)
    index_counts_true: dict[int, int] | None = None
    skeleton_distance: np.ndarray | None = None


def score_fit(
    fit: Fit,
    recording: TrialRecording,
    *,
    key: jax.Array,
    alpha: float = 1e-3,
    n_initial_states: int = 256,
    count_stable_points: bool = True,
) -> FitScores:
    """Score every network of `fit` on the `recording` it was fitted to (refused if the training data differ).

    The held-out neurons' readout is a Poisson regression (`fit_poisson_readout`, L2 `alpha`) on the
    training trials' states; fixed points are searched from `n_initial_states` visited states per network.
    Rate R², latent R² and the skeleton need the recording's ground truth (a `SyntheticRecording`'s
    `rates`, `latents`, `skeleton`); without it those entries are NaN / None.

    Args:
        fit: the result of `fit_recording`.
        recording: the recording it was fitted to.
        key: JAX PRNG key (keyword-only) for the fixed-point search's initial states.
        alpha: L2 penalty of the held-out readout.
        n_initial_states: initial states of the fixed-point search per network.
        count_stable_points: False skips the search (the slowest part) and leaves `n_stable` at -1.

    Returns:
        `FitScores`, arrays `[n_networks]` (NaN / -1 for a diverged network).

    Raises:
        ShapeError/DataError: `recording.counts` is not valid spike counts; DataError: the recording's
        training counts are not those the fit was trained on.

    Reference: Versteeg, Sedler, McCart & Pandarinath 2023 (CtDB); Pei et al. 2021 (co-bps).
    """
    pop = fit.population
    return score_networks(fit.task, pop.model, pop.params, recording, key=key, diverged=pop.diverged,
                          train_metric=pop.metric, alpha=alpha, n_initial_states=n_initial_states,
                          count_stable_points=count_stable_points)


def score_networks(
    task: RecordingTask,
    model: Model,
    params: Any,
    recording: TrialRecording,
    *,
    key: jax.Array,
    diverged: Any = None,
    train_metric: Any = None,
    alpha: float = 1e-3,
    n_initial_states: int = 256,
    count_stable_points: bool = True,
) -> FitScores:
    """Score networks fitted to `recording` through `task` (a `RecordingTask` that knows its `Split`: one built
    by `fit_recording`, or the registered `recording` task of a run folder), as `score_fit` does.

    Args:
        task: the `RecordingTask` the networks were trained on.
        model: their `Model`.
        params: their parameters, leaves stacked on a leading network axis `[n, ...]`.
        recording: the recording the task was made from (its training data must hash to `task.digest`).
        key: JAX PRNG key (keyword-only) for the fixed-point search's initial states.
        diverged: `[n]` bool, networks flagged as diverged in training (scored NaN / -1), or None.
        train_metric: `[n]` the task metric at the end of training, or None (NaN).
        alpha: L2 penalty of the held-out readout.
        n_initial_states: initial states of the fixed-point search per network.
        count_stable_points: False skips the search and leaves `n_stable` at -1.

    Returns:
        `FitScores`, arrays `[n]`.

    Raises:
        ConfigError: a task without a split; ShapeError/DataError: `recording.counts` is not valid spike counts;
        DataError: the recording's training data are not those the task holds.
    """
    counts, bin_width = _check_recording(recording)
    split = getattr(task, "split", None)
    if not isinstance(task, RecordingTask) or split is None:
        raise ConfigError("task must be the RecordingTask the networks were fitted on, with its Split "
                          "(fit_recording's, or the 'recording' task of a run folder).")
    inputs = trial_inputs(recording.inputs, recording.labels, *counts.shape[:2])
    if (max(split.train_trials.max(), split.test_trials.max()) >= counts.shape[0]
            or max(split.held_in.max(), split.held_out.max()) >= counts.shape[2]
            or _task(counts, inputs, split, bin_width).digest != task.digest):
        raise DataError("recording is not the one these networks were fitted to (its training trials' counts "
                        "differ); score a fit against its own recording.")
    n = int(jax.tree.leaves(params)[0].shape[0])
    diverged = np.zeros(n, bool) if diverged is None else np.asarray(diverged, bool)
    train_metric = np.full(n, np.nan) if train_metric is None else np.asarray(train_metric, np.float64)
    states, outputs = _runner(model)(params, jnp.asarray(inputs))
    states, outputs = np.asarray(states, np.float64), np.asarray(outputs, np.float64)
    train, test, out = split.train_trials, split.test_trials, split.held_out
    y_train, y_test = counts[train][..., out], counts[test][..., out]
    null = y_train.mean(axis=(0, 1))
    truth = recording if isinstance(recording, SyntheticRecording) else None
    rates = None if truth is None else truth.rates
    latents = None if truth is None else truth.latents
    skeleton = None if truth is None else truth.skeleton
    co, rate_r2, latent_r2 = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    n_stable = np.full(n, -1, np.int64)
    census: list[dict[int, int]] = [{} for _ in range(n)]
    zero = jnp.zeros(model.n_inputs, jnp.float32)
    for i in range(n):
        if diverged[i] or not np.isfinite(states[i]).all():
            continue
        s_train, s_test = states[i, train], states[i, test]
        weights, bias = fit_poisson_readout(s_train.reshape(-1, s_train.shape[-1]), y_train.reshape(-1, len(out)),
                                            alpha=alpha)
        held_out_expected = np.exp(np.clip(s_test @ weights + bias, -LOG_RATE_MAX, LOG_RATE_MAX))
        co[i] = bits_per_spike(y_test, held_out_expected, null)
        if rates is not None:
            predicted = np.empty(np.shape(rates[test]))
            predicted[..., split.held_in] = np.exp(np.clip(outputs[i, test], -LOG_RATE_MAX, LOG_RATE_MAX)) / bin_width
            predicted[..., out] = held_out_expected / bin_width
            rate_r2[i] = r2(predicted, rates[test])
        if latents is not None:
            latent_r2[i] = linear_r2(s_train, latents[train], s_test, latents[test])
    usable = np.flatnonzero(~diverged & np.isfinite(states).all(axis=tuple(range(1, states.ndim))))
    if count_stable_points and usable.size:  # with or without a ground truth to compare the census with
        # one search over every usable network at once (a population), not one per network
        stable, found = fixed_point_census(model, jax.tree.map(lambda a: a[usable], params), zero, states[usable],
                                           key=key, n_initial_states=n_initial_states)
        n_stable[usable] = stable
        for i, c in zip(usable, found):
            census[i] = c
    co_true = None if rates is None else bits_per_spike(y_test, np.asarray(rates)[test][..., out] * bin_width, null)
    n_true = None if skeleton is None or not count_stable_points else int(np.asarray(skeleton.is_stable).sum())
    counts_true = None
    distance = np.full(n, np.nan)
    if n_true is not None:
        values, counts_of = np.unique(np.asarray(skeleton.n_unstable), return_counts=True)
        counts_true = {int(v): int(c) for v, c in zip(values, counts_of)}
        for i in np.flatnonzero(n_stable >= 0):
            distance[i] = index_count_distance(census[i], counts_true)
    return FitScores(co_bps=co, co_bps_true=co_true, rate_r2=rate_r2, latent_r2=latent_r2, n_stable=n_stable,
                     n_stable_true=n_true, skeleton_match=(n_stable == n_true) if n_true is not None else
                     np.zeros(n, bool), train_metric=train_metric, index_counts=census,
                     index_counts_true=counts_true, skeleton_distance=distance)
