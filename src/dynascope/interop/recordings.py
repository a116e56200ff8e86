"""Read neural population recordings into condition-averaged trajectories `[conditions, time, units]`.

Sources: NumPy arrays (trials or already-averaged), `.npz` files (read with `allow_pickle=False`, so
data never executes code) and NWB files through pynwb (imported only when an NWB file is read): the
Units table's spike times are binned around each trial's alignment time and averaged per condition of
the trials table. `Recordings.trajectories` goes straight into every `dynascope.compare` metric, the
same way a model's states `[conditions, time, units]` do. Conditions are sorted unless the caller
names them (`conditions=`), so put model trials in the same order (or use `Recordings.select`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dynascope.errors import ConfigError, DataError, ShapeError


@dataclass(frozen=True)
class Recordings:
    """Condition-averaged recordings (read-only arrays).

    `trajectories [C, T, N]` float32 mean per condition (spike counts per bin, rates in Hz, or the
    recorded values); `conditions` the C labels in row order; `time [T]` bin centres in seconds (relative
    to the alignment event; bin indices for arrays given without times); `unit_ids [N]`;
    `n_trials_per_condition [C]` int (1 for data given already averaged); `source` where it came from.
    """

    trajectories: np.ndarray
    conditions: tuple[Any, ...]
    time: np.ndarray
    unit_ids: np.ndarray
    n_trials_per_condition: np.ndarray
    source: str

    def select(self, conditions: Sequence[Any]) -> Recordings:
        """The same recordings with only `conditions`, in that order (to match a model's trial order)."""
        missing = [c for c in conditions if c not in self.conditions]
        if missing:
            raise DataError(
                f"conditions {missing!r} are not in these recordings ({self.source}); it holds "
                f"{list(self.conditions)!r}. Pick from those."
            )
        rows = [self.conditions.index(c) for c in conditions]
        return replace(
            self,
            trajectories=_frozen(self.trajectories[rows]),
            conditions=tuple(conditions),
            n_trials_per_condition=_frozen(self.n_trials_per_condition[rows]),
        )


@dataclass(frozen=True)
class Binning:
    """How spikes are binned around each trial's alignment time.

    `bin_width` seconds; `window` (start, stop) seconds relative to the alignment, a whole number of
    bins long; `rates` divides counts by `bin_width` (Hz); `smooth_sigma` seconds, the standard deviation
    of a Gaussian kernel along time (0: none; scipy's `gaussian_filter1d`, mode 'reflect').
    """

    bin_width: float = 0.01
    window: tuple[float, float] = (0.0, 1.0)
    rates: bool = True
    smooth_sigma: float = 0.0

    def __post_init__(self) -> None:
        w, (a, b), s = self.bin_width, self.window, self.smooth_sigma
        if not (np.isfinite(w) and w > 0):
            raise ConfigError(f"bin_width must be a positive number of seconds, got {w!r}.")
        if not (np.isfinite(a) and np.isfinite(b) and b > a):
            raise ConfigError(f"window must be (start, stop) seconds with stop > start, got {self.window!r}.")
        n = (b - a) / w
        if abs(n - round(n)) > 1e-6:
            raise ConfigError(
                f"window {self.window!r} is not a whole number of bins of bin_width={w} ({n:.4g} bins); "
                f"make the window a multiple of bin_width, e.g. bin_width={(b - a) / max(round(n), 1):.6g}."
            )
        if not (np.isfinite(s) and s >= 0):
            raise ConfigError(f"smooth_sigma must be seconds >= 0 (0: no smoothing), got {s!r}.")

    @property
    def n_bins(self) -> int:
        return round((self.window[1] - self.window[0]) / self.bin_width)

    def centres(self) -> np.ndarray:
        """Bin centres `[T]` in seconds relative to the alignment."""
        return self.window[0] + self.bin_width * (np.arange(self.n_bins) + 0.5)


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a)
    a.setflags(write=False)
    return a


def _scalar(x: Any) -> Any:
    """A label as a plain Python value (NumPy scalars unwrapped, bytes decoded)."""
    x = x.item() if isinstance(x, np.generic) else x
    return x.decode() if isinstance(x, bytes) else x


def _check_data(data: Any, name: str) -> np.ndarray:
    x = np.asarray(data)
    if x.ndim != 3 or 0 in x.shape:
        raise ShapeError(
            f"{name} must be a non-empty array [trials, time, units] (or already averaged [conditions, "
            f"time, units]), got shape {x.shape}; add a units axis with x[..., None] if there is one unit."
        )
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or np.iscomplexobj(x):
        raise ShapeError(f"{name} must hold real numbers (counts or rates), got dtype {x.dtype}.")
    x = x.astype(np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{name} holds {int(bad.sum())} non-finite values (NaN or inf), first at index {first}; "
            "drop or fill those trials/bins before loading."
        )
    return x


def _average(
    x: np.ndarray, labels: Any, conditions: Sequence[Any] | None, source: str
) -> tuple[np.ndarray, tuple[Any, ...], np.ndarray]:
    """Mean of trials `x [trials, T, N]` per condition -> (`[C, T, N]`, labels, trial counts `[C]`)."""
    lab = [_scalar(v) for v in np.asarray(labels, dtype=object).reshape(-1)]
    if np.ndim(labels) != 1 or len(lab) != x.shape[0]:
        raise ShapeError(
            f"labels must be one condition label per trial, shape [{x.shape[0]}], got shape "
            f"{np.shape(labels)}; pass labels[i] = condition of trial data[i]."
        )
    if conditions is None:
        try:
            conditions = sorted(set(lab))
        except TypeError as err:
            raise DataError(f"condition labels of mixed types cannot be sorted ({source}): {err}; "
                            "make them all strings or all numbers, or pass conditions=[...].") from err
    arr = np.asarray(lab, dtype=object)
    means, counts = [], []
    for c in conditions:
        mask = arr == _scalar(c)
        if not mask.any():
            raise DataError(
                f"condition {c!r} has no trials in {source}; the labels hold {sorted(set(map(str, lab)))}. "
                "Remove it from conditions= or check the label column."
            )
        means.append(x[mask].mean(axis=0))
        counts.append(int(mask.sum()))
    return np.stack(means), tuple(_scalar(c) for c in conditions), np.asarray(counts)


def recordings_from_arrays(
    data: Any,
    labels: Any = None,
    *,
    conditions: Sequence[Any] | None = None,
    time: Any = None,
    unit_ids: Any = None,
    source: str = "array",
) -> Recordings:
    """Condition-averaged `Recordings` from single trials and their labels, or from averaged data.

    Args:
        data: single trials `[trials, time, units]` with `labels`, or already averaged
            `[conditions, time, units]` without.
        labels: condition label per trial `[trials]`; trials are averaged per condition. None: `data`
            is already averaged.
        conditions: with `labels`, the conditions kept, in that order (None: every label, sorted);
            without, the names of `data`'s rows (None: 0..C-1).
        time: bin centres in seconds `[T]` (None: bin indices).
        unit_ids: unit identifiers `[N]` (None: 0..N-1).
        source: where the data came from, kept in `Recordings.source` and error messages.

    Returns:
        `Recordings` (float32 trajectories `[C, T, N]`, read-only arrays).

    Raises:
        ShapeError: `data` not `[trials, time, units]` of real numbers, `labels`/`conditions`/`time`/
        `unit_ids` of the wrong length; DataError: non-finite data, unsortable labels, or a condition
        with no trial.
    """
    x = _check_data(data, "data")
    if labels is not None:
        traj, names, counts = _average(x, labels, conditions, source)
    else:
        names = tuple(range(x.shape[0])) if conditions is None else tuple(_scalar(c) for c in conditions)
        if len(names) != x.shape[0]:
            raise ShapeError(f"conditions must name the {x.shape[0]} rows of already-averaged data, got "
                             f"{len(names)} names; pass labels= if data holds single trials.")
        traj, counts = x, np.ones(x.shape[0], dtype=np.int64)
    t = np.arange(x.shape[1], dtype=np.float64) if time is None else np.asarray(time, dtype=np.float64)
    ids = np.arange(x.shape[2]) if unit_ids is None else np.asarray(unit_ids)
    for name, arr, n in (("time", t, x.shape[1]), ("unit_ids", ids, x.shape[2])):
        if arr.shape != (n,):
            raise ShapeError(f"{name} must have shape [{n}] to match data {x.shape}, got {arr.shape}.")
    return Recordings(_frozen(traj.astype(np.float32)), names, _frozen(t), _frozen(ids),
                      _frozen(counts), source)


def read_npz(path: str | os.PathLike[str], **options: Any) -> Recordings:
    """`Recordings` from an `.npz` holding `data` and optionally `labels`, `conditions`, `time`, `unit_ids`.

    Read with `allow_pickle=False`.

    Args:
        path: the `.npz` file.
        **options: keyword options of `recordings_from_arrays`, replacing the file's entries.

    Returns:
        `Recordings` (`source` is the path).

    Raises:
        DataError: the file cannot be read without pickle or has no `data` array; ShapeError/DataError:
        as `recordings_from_arrays`.
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (ValueError, OSError) as err:
        raise DataError(f"cannot read {path} as a NumPy .npz without pickle: {err}. Save plain numeric or "
                        "string arrays with np.savez (no object arrays).") from err
    if "data" not in arrays:
        raise DataError(f"{path} has no array named 'data' (it holds {sorted(arrays)}); save the trials "
                        "[trials, time, units] as np.savez(path, data=..., labels=...).")
    known = {k: v for k, v in arrays.items() if k in ("labels", "conditions", "time", "unit_ids")}
    if "conditions" in known:
        known["conditions"] = list(known["conditions"])
    return recordings_from_arrays(arrays["data"], **{**known, "source": str(path), **options})


def _import_pynwb() -> Any:
    try:
        import pynwb
    except ImportError as err:
        raise ConfigError("reading NWB files needs pynwb, which is not installed; install it with "
                          "pip install 'dynascope[nwb]' (or pip install pynwb).") from err
    return pynwb


def _column(table: Any, name: str, what: str, path: str) -> Any:
    """Column `name` of an NWB table, read into memory (a list where it is ragged, e.g. spike times)."""
    if table is None or name not in table.colnames:
        have = [] if table is None else list(table.colnames)
        raise DataError(f"{path} has no {what} column {name!r}; its columns are {have}. Pass one of those.")
    return table[name][:]


def _timeseries(nwb: Any, name: str, path: str) -> tuple[np.ndarray, np.ndarray]:
    """Values `[samples, N]` and sample times `[samples]` of an acquisition or 'module/name' TimeSeries."""
    module, _, leaf = name.rpartition("/")
    group = nwb.processing[module].data_interfaces if module in nwb.processing else {}
    group = nwb.acquisition if not module else group
    if leaf not in group:
        raise DataError(f"{path} has no TimeSeries {name!r}; acquisition holds {sorted(nwb.acquisition)}, "
                        f"processing modules {sorted(nwb.processing)}. Name it as 'name' or 'module/name'.")
    ts = group[leaf]
    values = np.asarray(ts.data[:], dtype=np.float64)
    values = values[:, None] if values.ndim == 1 else values.reshape(len(values), -1)
    t = (np.asarray(ts.timestamps[:], dtype=np.float64) if ts.timestamps is not None
         else ts.starting_time + np.arange(len(values)) / ts.rate)
    return values, t


def read_nwb(
    path: str | os.PathLike[str],
    condition_column: str,
    *,
    align_to: str = "start_time",
    binning: Binning = Binning(),
    conditions: Sequence[Any] | None = None,
    timeseries: str | None = None,
) -> Recordings:
    """Condition-averaged `Recordings` from an NWB file's Units spike times and trials table.

    For each trial, spikes of every unit are counted in bins `[left, right)` of `binning.bin_width`
    over `binning.window` relative to the trial's `align_to` time; counts become rates (Hz) if
    `binning.rates`, are averaged over the trials of each value of `condition_column`, and smoothed along
    time if `binning.smooth_sigma > 0`. With `timeseries` its values `[samples, units]` are instead
    linearly interpolated at the bin centres (not divided by the bin width).

    Args:
        path: the `.nwb` file.
        condition_column: the trials column whose values are the conditions.
        align_to: the trials column of alignment times in seconds (e.g. 'stimulus_on').
        binning: bins, window, rates and smoothing (`Binning`).
        conditions: the conditions kept, in that order (None: every label, sorted).
        timeseries: an acquisition name, or 'module/name' in processing, to read instead of spike
            times (None: the Units table's spike times).

    Returns:
        `Recordings` with `time` the bin centres relative to `align_to`.

    Raises:
        ConfigError: pynwb is not installed; DataError: an unreadable file, a missing column or
        TimeSeries, no units, non-finite alignment times, or a window outside the TimeSeries' samples.

    Reference: Rübel et al. 2022, eLife (NWB).
    """
    pynwb = _import_pynwb()
    path = str(path)
    try:
        with pynwb.NWBHDF5IO(path, "r") as io:
            nwb = io.read()
            labels = np.asarray(_column(nwb.trials, condition_column, "trials", path), dtype=object)
            align = np.asarray(_column(nwb.trials, align_to, "trials", path), dtype=np.float64)
            if timeseries is not None:
                values, sample_t = _timeseries(nwb, timeseries, path)
                unit_ids = np.arange(values.shape[1])
            else:
                spikes = _column(nwb.units, "spike_times", "units", path)
                if len(spikes) == 0:
                    raise DataError(f"{path} has no units with spike times; add a Units table or pass "
                                    "timeseries='name' to read a processed array.")
                spikes = [np.sort(np.asarray(s, dtype=np.float64)) for s in spikes]
                unit_ids = np.asarray(nwb.units.id[:])
    except OSError as err:
        raise DataError(f"cannot read {path} as an NWB (HDF5) file: {err}.") from err
    if not np.isfinite(align).all():
        raise DataError(f"trials column {align_to!r} of {path} holds non-finite times at trials "
                        f"{np.flatnonzero(~np.isfinite(align)).tolist()}; fill or drop those trials.")
    w, centres = binning.bin_width, binning.centres()
    if timeseries is not None:
        targets = align[:, None] + centres[None, :]
        if targets.min() < sample_t.min() or targets.max() > sample_t.max():
            raise DataError(f"window {binning.window} around {align_to!r} reaches outside the samples of "
                            f"{timeseries!r} ({sample_t.min():.4g}-{sample_t.max():.4g} s); narrow the window.")
        x = np.stack([np.stack([np.interp(tt, sample_t, v) for v in values.T], axis=-1) for tt in targets])
    else:
        edges = align[:, None] + binning.window[0] + w * np.arange(binning.n_bins + 1)[None, :]
        x = np.stack([np.diff(np.searchsorted(s, edges, side="left"), axis=1) for s in spikes], axis=-1)
        x = x / w if binning.rates else x
    if binning.smooth_sigma > 0:  # per trial; the same as smoothing the averages, since both are linear
        from scipy.ndimage import gaussian_filter1d

        x = gaussian_filter1d(x.astype(np.float64), binning.smooth_sigma / w, axis=1)
    return recordings_from_arrays(x, labels, conditions=conditions, time=centres, unit_ids=unit_ids, source=path)


def load_recordings(source: Any, labels: Any = None, **options: Any) -> Recordings:
    """Condition-averaged `Recordings` `[conditions, time, units]` from an array, an `.npz` or an `.nwb` file.

    Hand `.trajectories` to any `dynascope.compare` metric, e.g. `cca_distance(model_states, rec.trajectories)`.

    Args:
        source: an array (to `recordings_from_arrays(source, labels, **options)`), or a path to an
            `.npz` (to `read_npz`) or an `.nwb` file (to `read_nwb(source, **options)`).
        labels: condition label per trial `[trials]`, for arrays only (an .npz stores its own, an NWB
            file reads them with `condition_column=`).
        **options: keyword options of the reader chosen.

    Returns:
        `Recordings`.

    Raises:
        DataError: a path that is not a file, of another suffix, or unreadable; ConfigError: `labels`
        given with a file; ShapeError/DataError: as the reader chosen.
    """
    if not isinstance(source, (str, os.PathLike)):
        return recordings_from_arrays(source, labels, **options)
    path = Path(source)
    if not path.is_file():
        raise DataError(f"recordings file {str(path)!r} does not exist (or is not a file); check the path.")
    if labels is not None:
        raise ConfigError("labels= is for arrays; an .npz stores them as 'labels', an NWB file reads them "
                          "from its trials table with condition_column='...'.")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return read_npz(path, **options)
    if suffix == ".nwb":
        return read_nwb(path, **options)
    raise DataError(f"cannot read recordings from {str(path)!r}: suffix {suffix!r} is not .npz or .nwb; "
                    "load the arrays yourself and pass them to load_recordings(data, labels).")
