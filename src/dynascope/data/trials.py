"""A recording kept trial by trial: spike counts per bin of every trial, its condition label and the input the
subject received, read from any NWB file with a Units table and a trials table.

`interop.load_recordings` averages trials per condition as it reads; scoring networks against a recording needs
the single trials (a split-half noise ceiling, bootstrap intervals over trials) and the inputs that drive the
networks, so this reader keeps both. Every way a file can fall short is a `DataError` naming the field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from dynascope.data.nwb import MODULE, import_pynwb
from dynascope.data.recording import TrialRecording
from dynascope.errors import ConfigError, DataError


def _bins_from_record(nwb: Any, path: str) -> tuple[float, int]:
    """(bin width, bins per trial) from the record `write_nwb` leaves in the ground-truth module."""
    if MODULE not in nwb.processing:
        raise DataError(f"{path}: bin_width and n_bins were not given and the file has no {MODULE!r} module to "
                        "read them from; pass bin_width= (seconds) and n_bins= (bins per trial).")
    record = json.loads(nwb.processing[MODULE].description)
    return float(record["dt"]), int(record["n_time"])


def read_trials(
    path: str | os.PathLike[str],
    *,
    condition_column: str = "condition",
    inputs: str | None = f"{MODULE}/inputs",
    bin_width: float | None = None,
    n_bins: int | None = None,
) -> TrialRecording:
    """Single trials of the NWB file `path`: each unit's spikes counted in `n_bins` bins of `bin_width` seconds
    from each trial's `start_time`, labelled by the trials column `condition_column`, with the input
    TimeSeries `inputs` ('name' in acquisition or 'module/name' in processing; None: none) sampled once per bin
    (the sample nearest each bin centre). Without `bin_width`/`n_bins` they come from a file `write_nwb`
    made.

    Args:
        path: the NWB file (a Units table with spike times, a trials table with start_time).
        condition_column: the trials column that labels each trial's condition.
        inputs: the input TimeSeries, or None for a recording without inputs.
        bin_width: seconds per bin (> 0), or None to read it from a file `write_nwb` made.
        n_bins: bins per trial (> 0), or None to read it from a file `write_nwb` made.

    Returns:
        `TrialRecording` (counts float64, labels, inputs or None, bin width, source = `path`).

    Raises:
        DataError: a field that is missing, empty, non-finite or misaligned (named); ConfigError: a bad
        `bin_width` or `n_bins`.
    """
    pynwb = import_pynwb()
    path = str(path)
    if not Path(path).is_file():
        raise DataError(f"recording file {path!r} does not exist (or is not a file); check the path.")
    for name, value in (("bin_width", bin_width), ("n_bins", n_bins)):
        if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool)
                                      and np.isfinite(value) and value > 0):
            raise ConfigError(f"{name} must be a positive number, got {value!r}.")
    try:
        with pynwb.NWBHDF5IO(path, "r") as io:
            nwb = io.read()
            if nwb.trials is None or len(nwb.trials) == 0:
                raise DataError(f"{path} has no trials table (nwb.trials); scoring needs one row per trial with "
                                f"start_time and a {condition_column!r} column.")
            columns = list(nwb.trials.colnames)
            if condition_column not in columns:
                raise DataError(f"{path}: the trials table has no column {condition_column!r} (condition_column); "
                                f"its columns are {columns}.")
            labels = np.asarray([str(v.decode() if isinstance(v, bytes) else v)
                                 for v in nwb.trials[condition_column][:]])
            starts = np.asarray(nwb.trials["start_time"][:], np.float64)
            if nwb.units is None or len(nwb.units) == 0:
                raise DataError(f"{path} has no units (nwb.units.spike_times); add a Units table with spike times.")
            spikes = [np.sort(np.asarray(s, np.float64)) for s in nwb.units["spike_times"][:]]
            if bin_width is None or n_bins is None:
                width, count = _bins_from_record(nwb, path)
                bin_width = width if bin_width is None else bin_width
                n_bins = count if n_bins is None else n_bins
            sampled = None
            if inputs is not None:
                sampled = _sample_inputs(nwb, inputs, starts, float(bin_width), int(n_bins), path)
    except OSError as err:
        raise DataError(f"cannot read {path} as an NWB (HDF5) file: {err}.") from err
    if not np.isfinite(starts).all():
        raise DataError(f"{path}: trials column 'start_time' holds non-finite times at trials "
                        f"{np.flatnonzero(~np.isfinite(starts)).tolist()[:10]}; fill or drop those trials.")
    for unit, s in enumerate(spikes):
        if not np.isfinite(s).all():
            raise DataError(f"{path}: units column 'spike_times' of unit {unit} holds non-finite times; drop them.")
    silent = [u for u, s in enumerate(spikes) if s.size == 0]
    if silent:
        raise DataError(f"{path}: units {silent[:10]} have no spike_times; drop units that never fire.")
    edges = starts[:, None] + float(bin_width) * np.arange(int(n_bins) + 1)[None, :]
    counts = np.stack([np.diff(np.searchsorted(s, edges, side="left"), axis=1) for s in spikes], axis=-1)
    return TrialRecording(counts=counts.astype(np.float64), labels=labels, inputs=sampled, bin_width=float(bin_width),
                          source=path)


def _sample_inputs(nwb: Any, name: str, starts: np.ndarray, width: float, n_bins: int, path: str) -> np.ndarray:
    """Values of TimeSeries `name` at every bin centre of every trial `[trials, n_bins, I]` (nearest sample)."""
    module, _, leaf = name.rpartition("/")
    group = nwb.acquisition if not module else (
        nwb.processing[module].data_interfaces if module in nwb.processing else {})
    if leaf not in group:
        raise DataError(f"{path} has no input TimeSeries {name!r} (inputs); the networks need the input of every "
                        "trial to be run on the recorded conditions. Store it as an acquisition TimeSeries and "
                        "name it with inputs='name'.")
    ts = group[leaf]
    values = np.asarray(ts.data[:], np.float32)
    values = values[:, None] if values.ndim == 1 else values.reshape(len(values), -1)
    t = (np.asarray(ts.timestamps[:], np.float64) if ts.timestamps is not None
         else ts.starting_time + np.arange(len(values)) / ts.rate)
    centres = starts[:, None] + width * (np.arange(n_bins) + 0.5)[None, :]
    idx = np.clip(np.searchsorted(t, centres), 1, len(t) - 1)
    idx = np.where(np.abs(t[idx - 1] - centres) <= np.abs(t[idx] - centres), idx - 1, idx)
    if np.abs(t[idx] - centres).max() > width / 2:
        raise DataError(f"{path}: input TimeSeries {name!r} (inputs) has no sample within half a bin of some bin "
                        "centres; its samples do not cover the trials (unaligned trials).")
    return values[idx]
