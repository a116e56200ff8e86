"""Synthetic recordings as real NWB files (pynwb, imported only here and only when used): spike times in the
Units table, the trials table with its condition columns, and the ground truth — latents, inputs, rates, the
skeleton, the embedding — in a processing module, so that all of it reads back.

Layout: `units` (spike_times; `loading [d]` and `offset` of each neuron's embedding), `trials` (start_time,
stop_time, condition and the system's condition columns), processing module `ground_truth` (its description
a JSON record of the system, its options and the observation settings) holding TimeSeries `latents`, `rates`
and `inputs` (one sample per bin, stamped at the bin centre) and DynamicTables `fixed_points` (state,
n_unstable, n_marginal), `limit_cycles` (period; only when there is one) and `latent_axes` (the embedding's
standardisation: mean, scale). Read the spikes with `dynascope.interop.load_recordings(path,
condition_column="condition", binning=Binning(bin_width=dt, window=(0, n_time * dt), rates=False))`, the
latents with `timeseries="ground_truth/latents"`, and everything with `read_synthetic`.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from dynascope.data._base import Skeleton
from dynascope.data.observation import Embedding
from dynascope.data.synthetic import SyntheticRecording
from dynascope.errors import ConfigError, DataError

#: The processing module that holds the ground truth.
MODULE = "ground_truth"
#: Version of the layout above, stored with the file.
FORMAT = 1
#: Every file gets this session start, so the same recording writes the same content.
SESSION_START = datetime(2000, 1, 1, tzinfo=timezone.utc)


def import_pynwb() -> Any:
    """pynwb, or ConfigError saying how to install it."""
    try:
        import pynwb
    except ImportError as err:
        raise ConfigError("writing NWB files needs pynwb, which is not installed; install it with "
                          "pip install 'dynascope[nwb]'.") from err
    return pynwb


def check_destination(
    path: str | os.PathLike[str], *, overwrite: bool, name: str = "path", overwrite_flag: str = "overwrite=True"
) -> Path:
    """`path` as a Path if an NWB file may be written there; else ConfigError naming the argument `name`,
    saying why and what to do (`overwrite_flag`: how the caller asks to overwrite)."""
    path = Path(path)
    if path.suffix.lower() != ".nwb":
        raise ConfigError(f"{name} must be a file name ending in .nwb, got {str(path)!r}; e.g. rec.nwb.")
    if path.is_dir():
        raise ConfigError(f"{name} {str(path)!r} is a folder; give a file name such as {str(path / 'rec.nwb')!r}.")
    if path.exists() and not overwrite:
        raise ConfigError(f"{name} {str(path)!r} already exists; choose another file name or pass "
                          f"{overwrite_flag} to replace it.")
    return path


def write_nwb(recording: SyntheticRecording, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write `recording` to the NWB file `path` and return the path.

    The file is written under a temporary name and renamed into place, so an interrupted write leaves no
    partial file.

    Args:
        recording: the `SyntheticRecording` to write.
        path: destination file, ending in .nwb.
        overwrite: replace an existing file (otherwise it is refused).

    Returns:
        The path written.

    Raises:
        ConfigError: pynwb not installed, `path` not ending in .nwb, a folder, or an existing file
        without `overwrite`.

    Reference: Rübel et al. 2022, eLife (NWB).
    """
    from dynascope.store import write_atomic

    pynwb = import_pynwb()
    path = check_destination(path, overwrite=overwrite)
    nwb = _build(pynwb, recording)

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            # The temporary name ends in .tmp (so no reader takes it for a finished file); pynwb warns about that.
            warnings.filterwarnings("ignore", message=r"The file path provided: .* does not end in '\.nwb'")
            with pynwb.NWBHDF5IO(str(tmp), "w") as io:
                io.write(nwb)

    write_atomic(path, write)
    return path


def _record(recording: SyntheticRecording) -> dict[str, Any]:
    e = recording.embedding
    return {"format": FORMAT, "system": recording.system, "options": recording.options, "dt": recording.bin_width,
            "n_time": recording.n_time, "baseline_hz": e.baseline_hz, "link": e.link}


def _build(pynwb: Any, rec: SyntheticRecording) -> Any:
    from hdmf.backends.hdf5 import H5DataIO
    from hdmf.common import DynamicTable, VectorData

    record = _record(rec)
    text = json.dumps(record, sort_keys=True, default=list)
    digest = hashlib.sha256(text.encode() + rec.counts.tobytes()).hexdigest()[:16]
    nwb = pynwb.NWBFile(session_description=f"dynascope synthetic recording of the {rec.system!r} system",
                        identifier=f"dynascope-{rec.system}-{digest}", session_start_time=SESSION_START)
    columns = [c for c in rec.trials if c not in ("start_time", "stop_time")]
    for c in columns:
        nwb.add_trial_column(name=c, description=f"condition column {c!r} of the trial")
    for i in range(rec.n_trials):
        nwb.add_trial(**{c: _plain(rec.trials[c][i]) for c in ("start_time", "stop_time", *columns)})
    nwb.units = _units(pynwb, rec)
    module = nwb.create_processing_module(name=MODULE, description=text)
    centres = (rec.trials["start_time"][:, None] + rec.bin_width * (np.arange(rec.n_time) + 0.5)).reshape(-1)
    # gzip with HDF5's byte shuffle: float series compress to about half, which keeps the shipped recordings small
    def packed(x: np.ndarray) -> Any:
        return H5DataIO(x, compression="gzip", compression_opts=9, shuffle=True)

    latents = pynwb.TimeSeries(name="latents", data=packed(_flat(rec.latents)), timestamps=packed(centres), unit="a.u.",
                               description="the ground-truth latent state of each bin (at the bin's end)")
    module.add(latents)
    module.add(pynwb.TimeSeries(name="rates", data=packed(_flat(rec.rates)),
                                timestamps=latents, unit="Hz",
                                description="each neuron's firing rate in each bin, from which spikes were drawn"))
    if rec.inputs.shape[-1]:
        module.add(pynwb.TimeSeries(name="inputs", data=packed(_flat(rec.inputs)), timestamps=latents, unit="a.u.",
                                    description="the input to the system held during each bin"))
    sk = rec.skeleton
    module.add(DynamicTable(name="fixed_points", description="fixed points of the flow under zero input", columns=[
        VectorData(name="state", description="the fixed point", data=np.asarray(sk.fixed_points, np.float64)),
        VectorData(name="n_unstable", description="eigenvalues with positive real part",
                   data=np.asarray(sk.n_unstable, np.int64)),
        VectorData(name="n_marginal", description="eigenvalues with zero real part",
                   data=np.asarray(sk.n_marginal, np.int64))]))
    if sk.period is not None:
        module.add(DynamicTable(name="limit_cycles", description="limit cycles of the flow", columns=[
            VectorData(name="period", description="period in seconds", data=np.array([sk.period]))]))
    e = rec.embedding
    module.add(DynamicTable(name="latent_axes", description="standardisation of each latent before the embedding",
                            columns=[VectorData(name="mean", description="mean over trials and bins", data=e.mean),
                                     VectorData(name="scale", description="std over trials and bins", data=e.scale)]))
    return nwb


def _units(pynwb: Any, rec: SyntheticRecording) -> Any:
    """The Units table built from whole arrays: spike times as one flat column and its index. Adding units
    one by one (`add_unit`) makes hdmf convert every spike time as a Python object (its cost is in
    benchmarks/RESULTS.md §12)."""
    from hdmf.backends.hdf5 import H5DataIO
    from hdmf.common import ElementIdentifiers, VectorData, VectorIndex

    flat = np.concatenate([np.asarray(t, np.float64) for t in rec.spike_times])
    times = VectorData(name="spike_times", description="the times of the neuron's spikes, in seconds",
                       data=H5DataIO(flat, compression="gzip", compression_opts=9, shuffle=True))
    ends = np.cumsum([len(t) for t in rec.spike_times]).astype(np.uint64)
    e = rec.embedding
    columns = [times, VectorIndex(name="spike_times_index", data=ends, target=times),
               VectorData(name="loading", description="the neuron's embedding weights, one per latent dimension",
                          data=np.ascontiguousarray(e.weights.T)),
               VectorData(name="offset", description="the neuron's embedding offset (its drive at the latent mean)",
                          data=np.asarray(e.offsets, np.float64))]
    ids = ElementIdentifiers(name="id", data=np.arange(rec.n_neurons))
    return pynwb.misc.Units(name="units", description="simulated neurons", id=ids, columns=columns)


def _plain(x: Any) -> Any:
    x = x.item() if isinstance(x, np.generic) else x
    return str(x) if isinstance(x, str) else x


def _flat(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32).reshape(-1, x.shape[-1])


def read_synthetic(path: str | os.PathLike[str]) -> SyntheticRecording:
    """The `SyntheticRecording` that `write_nwb` stored in `path`: spike counts rebinned from the Units
    table's spike times, the trials table, and the ground truth from the `ground_truth` module."""
    pynwb = import_pynwb()
    path = str(path)
    if not Path(path).is_file():
        raise DataError(f"recording file {path!r} does not exist (or is not a file); check the path.")
    try:
        with pynwb.NWBHDF5IO(path, "r") as io:
            nwb = io.read()
            if MODULE not in nwb.processing:
                raise DataError(f"{path} has no processing module {MODULE!r} (it holds {sorted(nwb.processing)}); "
                                "only files written by dynascope.data.write_nwb carry a ground truth.")
            module = nwb.processing[MODULE]
            record = json.loads(module.description)
            if record.get("format") != FORMAT:
                raise DataError(f"{path} has ground-truth format {record.get('format')!r}; this dynascope reads "
                                f"format {FORMAT}. Write the file again with this version.")
            n_time, dt = int(record["n_time"]), float(record["dt"])
            table = nwb.trials.to_dataframe()
            trials = {c: np.asarray(table[c].to_numpy()) for c in table.columns}
            n_trials = len(table)
            units = nwb.units
            spikes = tuple(np.asarray(s, np.float64) for s in units["spike_times"][:])
            weights = np.stack([np.asarray(w, np.float64) for w in units["loading"][:]], axis=1)
            offsets = np.asarray(units["offset"][:], np.float64)
            series = module.data_interfaces

            def trials_of(name: str) -> np.ndarray:
                return np.asarray(series[name].data[:]).reshape(n_trials, n_time, -1)

            latents, rates = trials_of("latents"), trials_of("rates")
            inputs = trials_of("inputs") if "inputs" in series else np.zeros((n_trials, n_time, 0), np.float32)
            fp = series["fixed_points"]
            cycles = series["limit_cycles"] if "limit_cycles" in series else None
            skeleton = Skeleton(np.asarray(fp["state"][:], np.float64), np.asarray(fp["n_unstable"][:]),
                                np.asarray(fp["n_marginal"][:]),
                                None if cycles is None else float(cycles["period"][0]))
            axes = series["latent_axes"]
            embedding = Embedding(weights, offsets, np.asarray(axes["mean"][:], np.float64),
                                  np.asarray(axes["scale"][:], np.float64), float(record["baseline_hz"]),
                                  str(record["link"]))
    except OSError as err:
        raise DataError(f"cannot read {path} as an NWB (HDF5) file: {err}.") from err
    except KeyError as err:
        raise DataError(f"{path} lacks {err} in its ground truth; it was not written by this dynascope's "
                        "write_nwb (or was edited). Write it again.") from err
    edges = trials["start_time"][:, None] + dt * np.arange(n_time + 1)[None, :]
    counts = np.stack([np.diff(np.searchsorted(s, edges, side="left"), axis=1) for s in spikes], axis=-1)
    return SyntheticRecording(
        counts=counts.astype(np.int32), labels=np.asarray([str(c) for c in trials["condition"]]), inputs=inputs,
        bin_width=dt, source=path, system=str(record["system"]), options=dict(record["options"]), latents=latents,
        rates=rates, spike_times=spikes, trials=trials, skeleton=skeleton, embedding=embedding)
