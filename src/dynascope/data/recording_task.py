"""A recording served as a task: each trial's inputs in, the held-in neurons' spike counts out, scored by their
Poisson likelihood, so the population trainer fits networks to recorded activity the way it trains them on tasks.

The split into held-in / held-out neurons and training / held-out trials is drawn once from a key and kept
(`Split`); the task holds only the training trials of the held-in neurons, so nothing held out can leak into
training. Held-out neurons are predicted afterwards from the network's states (co-smoothing; Pei et al. 2021,
"Neural Latents Benchmark '21"; Versteeg et al. 2023, "Computation-through-Dynamics Benchmark").
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from dynascope._registry import option
from dynascope.data._base import host_generator
from dynascope.data.recording import TrialRecording
from dynascope.errors import ConfigError, DataError, ShapeError
from dynascope.tasks import Task, Trials, register

#: Log-rates (log expected spikes per bin) are clipped to ±this before exp: e^20 spikes in one bin is already
#: far past any neuron, and the clip keeps exp finite for an untrained or diverging network.
LOG_RATE_MAX = 20.0


def poisson_nll(log_rates: jax.Array, counts: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean Poisson negative log-likelihood over the scored entries, without the constant log(y!).

    The mean of exp(η) − y·η over entries with mask = 1 (η clipped to ±LOG_RATE_MAX).

    Args:
        log_rates: η, log expected counts per bin.
        counts: y, spike counts per bin, the shape of `log_rates`.
        mask: 1 for the entries scored, 0 elsewhere, the same shape.

    Returns:
        Scalar array.
    """
    eta = jnp.clip(log_rates, -LOG_RATE_MAX, LOG_RATE_MAX)
    return (mask * (jnp.exp(eta) - counts * eta)).sum() / jnp.maximum(mask.sum(), 1.0)


@dataclasses.dataclass(frozen=True)
class Split:
    """Which neurons and trials a fit sees. Index arrays (sorted, int64) into the recording's neurons and trials:
    `held_in [N_in]` (the network's outputs), `held_out [N_out]` (predicted from its states), `train_trials`
    (fitted on) and `test_trials` (scored on)."""

    held_in: np.ndarray
    held_out: np.ndarray
    train_trials: np.ndarray
    test_trials: np.ndarray


def _fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigError(f"{name} must be a fraction in (0, 1), got {value!r}; e.g. 0.25.")
    return float(value)


def make_split(
    n_trials: int, n_neurons: int, *, key: jax.Array, held_out_neurons: float = 0.25, held_out_trials: float = 0.2
) -> Split:
    """A random `Split` of a recording's neurons and trials drawn from `key`.

    round(fraction × count) neurons and trials are held out, at least one of each on both sides (and at
    least two training trials).

    Args:
        n_trials: trials in the recording (≥ 3: two to fit on, one to score).
        n_neurons: neurons in the recording (≥ 2).
        key: JAX PRNG key (keyword-only) for the permutations.
        held_out_neurons: fraction of neurons held out, in (0, 1).
        held_out_trials: fraction of trials held out, in (0, 1).

    Returns:
        `Split` of sorted int64 index arrays.

    Raises:
        ConfigError: a fraction outside (0, 1); DataError: a recording too small to split.
    """
    f_neurons = _fraction("held_out_neurons", held_out_neurons)
    f_trials = _fraction("held_out_trials", held_out_trials)
    if n_neurons < 2:
        raise DataError(f"counts: the recording has {n_neurons} neuron(s); co-smoothing needs at least 2 "
                        "(held-in neurons to fit the network, held-out neurons to score it). Record more neurons.")
    if n_trials < 3:
        raise DataError(f"counts: the recording has {n_trials} trial(s); a fit needs at least 3 (2 to train on, "
                        "1 held out to score). Record more trials.")
    n_out = min(max(round(f_neurons * n_neurons), 1), n_neurons - 1)
    n_test = min(max(round(f_trials * n_trials), 1), n_trials - 2)
    rng = host_generator(key)
    neurons = rng.permutation(n_neurons)
    trials = rng.permutation(n_trials)
    return Split(held_in=np.sort(neurons[n_out:]), held_out=np.sort(neurons[:n_out]),
                 train_trials=np.sort(trials[n_test:]), test_trials=np.sort(trials[:n_test]))


def trial_inputs(inputs: Any, labels: Any, n_trials: int, n_time: int) -> np.ndarray:
    """The network's inputs `[trials, T, I]` float32: the recording's own task inputs when it has any; else a
    one-hot of each trial's condition in its first bin (a cue, after which the network runs on its own, so its
    zero-input dynamics are what generates the trial); else (no labels either) one channel of zeros."""
    if inputs is not None and np.shape(inputs)[-1] > 0:
        x = np.asarray(inputs, np.float32)
        if x.shape[:2] != (n_trials, n_time):
            raise ShapeError(f"inputs must be [trials, time, channels] = [{n_trials}, {n_time}, ·] like counts, "
                             f"got shape {x.shape}.")
        if not np.isfinite(x).all():
            raise DataError("inputs hold non-finite values; fill or drop those trials.")
        return x
    if labels is None:
        return np.zeros((n_trials, n_time, 1), np.float32)
    lab = np.asarray(labels)
    if lab.shape != (n_trials,):
        raise ShapeError(f"labels must hold one condition per trial, shape [{n_trials}], got {lab.shape}.")
    _, index = np.unique(lab, return_inverse=True)
    cue = np.zeros((n_trials, n_time, int(index.max()) + 1), np.float32)
    cue[np.arange(n_trials), 0, index] = 1.0
    return cue


def _arrays(counts: np.ndarray, inputs: Any) -> dict[str, Any]:
    """The task's arrays and their digest: counts `[trials, T, N_in]` (smallest exact unsigned type), inputs
    float32, each neuron's mean count `null_rates`, `n_time`."""
    silent = np.flatnonzero(counts.sum(axis=(0, 1)) == 0)
    if silent.size:
        raise DataError(f"counts: neuron(s) {silent.tolist()[:10]} never fire on the training trials, so their "
                        "likelihood has no finite null; drop those neurons (or record longer).")
    stored = _smallest_uint(counts)
    inputs = np.ascontiguousarray(inputs, np.float32)
    h = hashlib.sha256()
    for a in (stored, inputs):
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    null = counts.astype(np.float64).mean(axis=(0, 1)).astype(np.float32)
    return {"n_time": int(counts.shape[1]), "digest": h.hexdigest()[:32], "inputs": inputs, "counts": stored,
            "null_rates": null}


def _smallest_uint(counts: np.ndarray) -> np.ndarray:
    # The counts are baked into every compiled training program as a constant: the narrowest exact dtype
    # keeps that constant (and compile time) small; they are cast to float32 after the batch is gathered.
    if not np.issubdtype(counts.dtype, np.number) or (counts < 0).any() or (counts != np.round(counts)).any():
        raise DataError("counts must be non-negative whole numbers of spikes per bin; bin spike times into counts.")
    for dtype in (np.uint8, np.uint16, np.uint32):
        if counts.max(initial=0) <= np.iinfo(dtype).max:
            return counts.astype(dtype)
    raise DataError(f"counts: a bin holds {counts.max()} spikes; bin the spikes more finely.")


@register("recording")
@dataclasses.dataclass(frozen=True, eq=True)
class RecordingTask(Task):
    """Fit networks to a recording (an NWB file or a shipped one): predict its held-in neurons' spike counts.

    Inputs `[B,T,I]` are trials' task inputs, targets `[B,T,N_in]` their held-in neurons' spike counts per bin,
    and the network's outputs are log expected counts per bin.

    Registered as the task `recording`, so a fit is an ordinary sweep stored in a run folder
    (`dynascope train --task recording --task-opt recording=rec.nwb`) that `analyze`, `compare`, `score` and
    the report read like any other. Its options name the NWB file (or a shipped recording), how to bin it and
    how to split it; the task reads the file (`read_trials`), draws the `Split` from `split_seed`, and keeps
    only the training trials of the held-in neurons. `digest` (filled in when the task is built) is the hash of
    that training data: a run folder's task is rebuilt with it, so a recording that changed since the fit is
    refused instead of silently fitted against.

    Trials are drawn (with replacement) from the training trials only. `loss` is the Poisson negative
    log-likelihood without log(y!) (`poisson_nll`); `metric` per trial is the deviance explained against the
    null that fires each neuron at its mean training rate, 1 - D(model) / D(null) with the Poisson deviance
    D = 2 sum[y log(y / mu) - (y - mu)], clipped to [0, 1] (0: no better than the null; 1: every bin's count
    predicted exactly — unreachable with Poisson noise, so a good fit scores well below 1). A network counts
    as trained (`criterion`) once it beats the null by 1 % of its deviance. The likelihood, the split into
    held-in and held-out neurons and the co-smoothing that scores it are those of the Neural Latents Benchmark
    (Pei et al. 2021) and the Computation-through-Dynamics Benchmark (Versteeg et al. 2023).

    Frozen and hashable: equality and hash go by the options and the `digest` of the arrays (the trainer
    caches compiled programs by task), not by the arrays. `RecordingTask.from_arrays` builds one from arrays
    in memory (`recording` is then empty and the task cannot be rebuilt from its options).

    Arrays (not options): inputs `[trials, T, I]` float32 and counts `[trials, T, N_in]` (smallest unsigned
    integer type) of the training trials; null_rates `[N_in]` each neuron's mean count per bin over them;
    `split` the `Split` (None for `from_arrays`). `n_time` and `dt` (milliseconds per bin) come from the data.
    """

    name: ClassVar[str] = "recording"
    criterion: ClassVar[float] = 0.01

    n_time: int = dataclasses.field(default=0, init=False)
    dt: float = dataclasses.field(default=0.0, init=False)
    recording: str = option("flipflop3", doc="an NWB file (units with spike times, a trials table) or the name "
                                             "of a shipped recording")
    condition_column: str = option("condition", doc="the trials column that labels conditions")
    input_series: str = option("ground_truth/inputs", doc="the TimeSeries of each trial's input ('name' in "
                               "acquisition, 'module/name' in processing); '': none, a one-hot cue of the "
                               "condition in the first bin")
    bin_width: float | None = option(None, gt=0, doc="seconds per bin; None: from a file dynascope wrote")
    n_bins: int | None = option(None, gt=0, doc="bins per trial from start_time; None: from a file dynascope "
                                "wrote")
    held_out_neurons: float = option(0.25, gt=0, lt=1, doc="fraction of neurons held out (co-smoothing)")
    held_out_trials: float = option(0.2, gt=0, lt=1, doc="fraction of trials held out")
    split_seed: int = option(0, ge=0, doc="seed of the neuron and trial split")
    digest: str = option("", doc="hash of the training data; given, the recording must still hash to it")
    inputs: np.ndarray = dataclasses.field(default=None, init=False, compare=False, repr=False)  # type: ignore[assignment]
    counts: np.ndarray = dataclasses.field(default=None, init=False, compare=False, repr=False)  # type: ignore[assignment]
    null_rates: np.ndarray = dataclasses.field(default=None, init=False, compare=False, repr=False)  # type: ignore[assignment]
    split: Split | None = dataclasses.field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.recording:
            return  # from_arrays fills the arrays in
        from dynascope.data.shipped import SHIPPED, shipped_recording
        from dynascope.data.trials import read_trials

        path = str(shipped_recording(self.recording)) if self.recording in SHIPPED else self._file()
        rec = read_trials(path, condition_column=self.condition_column, inputs=self.input_series or None,
                          bin_width=self.bin_width, n_bins=self.n_bins)
        split = make_split(rec.n_trials, rec.n_neurons, key=jax.random.key(self.split_seed),
                           held_out_neurons=self.held_out_neurons, held_out_trials=self.held_out_trials)
        inputs = trial_inputs(rec.inputs, rec.labels, rec.n_trials, rec.n_time)
        rows = split.train_trials
        arrays = _arrays(rec.counts[rows][..., split.held_in], inputs[rows])
        if self.digest and arrays["digest"] != self.digest:
            raise DataError(f"task 'recording': {path} no longer holds the data this task was fitted to (its training "
                            f"data hash {arrays['digest']}, not {self.digest}); the file changed. Restore it, or fit "
                            "again into a new run folder.")
        for field, value in {**arrays, "dt": rec.bin_width * 1000.0, "split": split}.items():
            object.__setattr__(self, field, value)
        if self.recording not in SHIPPED:
            object.__setattr__(self, "recording", path)  # absolute: the run folder rebuilds it from anywhere

    @property
    def file(self) -> Path | None:
        """The NWB file the task reads (None for a task made `from_arrays`)."""
        if not self.recording:
            return None
        from dynascope.data.shipped import SHIPPED, shipped_recording

        return shipped_recording(self.recording) if self.recording in SHIPPED else Path(self.recording)

    def read_recording(self) -> TrialRecording:
        """The whole recording the task was made from (every trial and neuron, for scoring what the fit did not
        see): a `SyntheticRecording` with its ground truth when the file carries one and the task reads it as it
        was written, else what `read_trials` reads with the task's options.

        Returns:
            `TrialRecording`.

        Raises:
            ConfigError: a task made `from_arrays` (no file); DataError: as `read_trials`.
        """
        from dynascope.data.nwb import read_synthetic
        from dynascope.data.trials import read_trials

        if self.file is None:
            raise ConfigError("this RecordingTask was made from arrays; it has no recording file to read.")
        defaults = {f.name: f.default for f in dataclasses.fields(self) if f.init}
        as_written = all(getattr(self, k) == defaults[k] for k in ("condition_column", "input_series", "bin_width",
                                                                    "n_bins"))
        if as_written:
            try:
                return read_synthetic(self.file)
            except DataError:
                pass  # a recording without dynascope's ground truth: read as any NWB file
        return read_trials(self.file, condition_column=self.condition_column, inputs=self.input_series or None,
                           bin_width=self.bin_width, n_bins=self.n_bins)

    def _file(self) -> str:
        path = Path(self.recording).expanduser()
        if path.suffix.lower() != ".nwb":
            from dynascope.data.shipped import shipped_names

            raise ConfigError(f"task 'recording': option recording must be an .nwb file or a shipped recording "
                              f"({', '.join(shipped_names())}), got {self.recording!r}.")
        return str(path.resolve())

    @classmethod
    def from_arrays(cls, counts: np.ndarray, inputs: np.ndarray, *, dt: float, split: Split | None = None
                    ) -> RecordingTask:
        """The task of training-trial `counts [trials, T, N_in]` (spikes per bin) under `inputs [trials, T, I]`,
        bins of `dt` seconds, drawn from a recording by `split` (kept for scoring; None: not known). Every
        neuron must fire at least once (its null rate would be 0 otherwise)."""
        arrays = _arrays(np.asarray(counts), inputs)
        task = cls(recording="", digest=arrays["digest"])
        for field, value in {**arrays, "dt": float(dt) * 1000.0, "split": split}.items():
            object.__setattr__(task, field, value)
        return task

    def validate(self) -> None:
        if self.counts is None:
            raise ConfigError("task 'recording': option recording is empty; name an .nwb file or a shipped "
                              "recording (e.g. recording='flipflop3').")

    @property
    def n_inputs(self) -> int:
        return int(self.inputs.shape[-1])

    @property
    def n_outputs(self) -> int:
        return int(self.counts.shape[-1])

    @property
    def n_trials(self) -> int:
        """How many training trials the task draws from."""
        return int(self.counts.shape[0])

    def sample(self, key: jax.Array, batch_size: int) -> Trials:
        rows = jax.random.randint(key, (batch_size,), 0, self.n_trials)
        inputs = jnp.asarray(self.inputs)[rows]
        targets = jnp.asarray(self.counts)[rows].astype(jnp.float32)
        return Trials(inputs, targets, jnp.ones_like(targets))

    def analysis_inputs(self) -> jax.Array:
        # Zero input: the recording's own inputs are pulses (or a first-bin cue), so its dynamics between them.
        return jnp.zeros((1, self.n_inputs), jnp.float32)

    def predicted_targets(self, outputs: jax.Array) -> jax.Array:
        # expected spike counts per bin
        return jnp.exp(jnp.clip(outputs, -LOG_RATE_MAX, LOG_RATE_MAX))

    def outputs_for(self, targets: jax.Array) -> jax.Array:
        # log counts; a count of 0 (or below) maps to the smallest log-rate the loss sees
        return jnp.log(jnp.maximum(targets, jnp.exp(-LOG_RATE_MAX)))

    def loss(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        return poisson_nll(outputs, trials.targets, trials.mask)

    def metric(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        """Poisson deviance explained against the null (each neuron at its mean training rate),
        1 − D(model) / D(null) clipped to [0, 1], per trial `[B]`."""
        y, m = trials.targets, trials.mask
        mu = jnp.exp(jnp.clip(outputs, -LOG_RATE_MAX, LOG_RATE_MAX))
        mu0 = jnp.broadcast_to(jnp.asarray(self.null_rates), y.shape)

        def deviance(rate: jax.Array) -> jax.Array:
            unit = 2.0 * (jax.scipy.special.xlogy(y, y) - jax.scipy.special.xlogy(y, rate) - (y - rate))
            return (m * unit).sum(axis=(1, 2))

        null = deviance(mu0)
        return jnp.clip(1.0 - deviance(mu) / jnp.maximum(null, 1e-12), 0.0, 1.0)

    def options(self) -> dict[str, Any]:
        """The options that rebuild it with `tasks.get('recording', **options)` (with the digest of its
        training data); for a task made `from_arrays`, which no option rebuilds, its sizes and digest."""
        if self.recording:
            return super().options()
        return {"n_time": self.n_time, "dt": self.dt, "digest": self.digest,
                "n_trials": self.n_trials, "n_inputs": self.n_inputs, "n_outputs": self.n_outputs}

