"""Recordings load into the condition averages NumPy computes by hand (arrays, .npz, NWB spike times
binned as np.histogram bins them), bad inputs are refused with a clear message, and the result goes
straight into the compare metrics."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from dynascope.compare import cca_distance
from dynascope.errors import ConfigError, DataError, ShapeError
from dynascope.interop import Binning, Recordings, load_recordings, read_nwb

LABELS = np.array(["right", "left", "right", "catch", "left", "left", "right"])


def by_hand(data: np.ndarray, labels: np.ndarray, conditions) -> np.ndarray:
    return np.stack([data[labels == c].mean(axis=0) for c in conditions])


@pytest.fixture
def trials() -> np.ndarray:
    """Spike counts [trials=7, time=5, units=3]."""
    return np.random.default_rng(0).poisson(3.0, size=(7, 5, 3))


def test_arrays_are_averaged_per_sorted_condition(trials: np.ndarray) -> None:
    rec = load_recordings(trials, LABELS)
    assert isinstance(rec, Recordings)
    assert rec.conditions == ("catch", "left", "right")
    assert rec.trajectories.dtype == np.float32 and rec.trajectories.shape == (3, 5, 3)
    np.testing.assert_allclose(rec.trajectories, by_hand(trials, LABELS, ["catch", "left", "right"]), rtol=1e-6)
    np.testing.assert_array_equal(rec.n_trials_per_condition, [1, 3, 3])
    np.testing.assert_array_equal(rec.time, np.arange(5.0))
    np.testing.assert_array_equal(rec.unit_ids, [0, 1, 2])
    assert not rec.trajectories.flags.writeable


def test_named_conditions_keep_their_order_and_select_reorders(trials: np.ndarray) -> None:
    rec = load_recordings(trials, LABELS, conditions=["right", "left"], time=0.02 * np.arange(5))
    assert rec.conditions == ("right", "left")
    np.testing.assert_allclose(rec.trajectories, by_hand(trials, LABELS, ["right", "left"]), rtol=1e-6)
    flipped = rec.select(["left", "right"])
    np.testing.assert_array_equal(flipped.trajectories, rec.trajectories[::-1])
    np.testing.assert_array_equal(flipped.n_trials_per_condition, [3, 3])
    with pytest.raises(DataError, match=r"conditions \['up'\] are not in these recordings"):
        rec.select(["up"])


def test_already_averaged_arrays_pass_through(trials: np.ndarray) -> None:
    rec = load_recordings(trials[:2].astype(np.float64) / 7, conditions=["a", "b"])
    assert rec.conditions == ("a", "b")
    np.testing.assert_allclose(rec.trajectories, trials[:2] / 7, rtol=1e-6)
    np.testing.assert_array_equal(rec.n_trials_per_condition, [1, 1])


def test_npz_round_trip(tmp_path, trials: np.ndarray) -> None:
    path = tmp_path / "session.npz"
    np.savez(path, data=trials, labels=LABELS, time=0.01 * np.arange(5), unit_ids=np.array([4, 8, 9]))
    rec = load_recordings(path)
    np.testing.assert_allclose(rec.trajectories, by_hand(trials, LABELS, ["catch", "left", "right"]), rtol=1e-6)
    np.testing.assert_allclose(rec.time, 0.01 * np.arange(5))
    np.testing.assert_array_equal(rec.unit_ids, [4, 8, 9])
    assert rec.source == str(path)


def test_npz_with_object_arrays_is_refused_not_unpickled(tmp_path, trials: np.ndarray) -> None:
    path = tmp_path / "pickled.npz"
    np.savez(path, data=trials, labels=np.array(list(LABELS), dtype=object))
    with pytest.raises(DataError, match="without pickle"):
        load_recordings(path)
    np.savez(tmp_path / "nodata.npz", counts=trials)
    with pytest.raises(DataError, match=r"no array named 'data' \(it holds \['counts'\]\)"):
        load_recordings(tmp_path / "nodata.npz")


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda x: (x[0], None, {}), ShapeError, r"non-empty array \[trials, time, units\].*got shape \(5, 3\)"),
        (lambda x: (x, LABELS[:5], {}), ShapeError, r"one condition label per trial, shape \[7\], got shape \(5,\)"),
        (lambda x: (x, LABELS, {"conditions": ["left", "up"]}), DataError, r"condition 'up' has no trials"),
        (lambda x: (np.where(x == x.max(), np.nan, x), LABELS, {}), DataError, r"non-finite values \(NaN or inf\)"),
        (lambda x: (x, LABELS, {"time": np.arange(4)}), ShapeError, r"time must have shape \[5\]"),
        (lambda x: (x[:2], None, {"conditions": ["a"]}), ShapeError, r"name the 2 rows"),
        (lambda x: (x.astype(str), LABELS, {}), ShapeError, r"real numbers .* got dtype <U"),
    ],
    ids=["ndim", "label-length", "empty-condition", "nan", "time-length", "condition-count", "dtype"],
)
def test_bad_arrays_are_refused(trials: np.ndarray, make, error, match) -> None:
    data, labels, options = make(trials)
    with pytest.raises(error, match=match):
        load_recordings(data, labels, **options)


def test_bad_paths_are_refused(tmp_path) -> None:
    with pytest.raises(DataError, match=r"does not exist .*check the path"):
        load_recordings(tmp_path / "missing.nwb")
    (tmp_path / "x.mat").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"labels= is for arrays"):
        load_recordings(tmp_path / "x.mat", LABELS)
    with pytest.raises(DataError, match=r"suffix '.mat' is not .npz or .nwb"):
        load_recordings(tmp_path / "x.mat")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"bin_width": 0.0}, "bin_width must be a positive"),
        ({"window": (0.2, 0.1)}, "stop > start"),
        ({"bin_width": 0.03, "window": (0.0, 0.1)}, "not a whole number of bins"),
        ({"smooth_sigma": -1.0}, "smooth_sigma must be"),
    ],
)
def test_bad_binning_is_refused(options, match) -> None:
    with pytest.raises(ConfigError, match=match):
        Binning(**options)


def test_recordings_compare_like_a_model(trials: np.ndarray) -> None:
    rec = load_recordings(trials, LABELS)
    assert float(cca_distance(rec.trajectories, rec.trajectories)) == pytest.approx(0.0, abs=1e-5)
    # A "model" whose 5 units are an invertible linear map of the 3 recorded ones: CCA distance 0 too.
    model = rec.trajectories @ np.random.default_rng(1).normal(size=(3, 5)).astype(np.float32)
    assert float(cca_distance(model, rec.trajectories)) == pytest.approx(0.0, abs=1e-4)


# ---- NWB ------------------------------------------------------------------------------------------

NWB_CONDITIONS = ["left", "right", "left", "right", "left", "right"]
STIM_ON = np.array([0.31, 1.27, 2.33, 3.29, 4.41, 5.35])
UNIT_IDS = [10, 11, 12]
WINDOW, BIN = (-0.1, 0.3), 0.05


@pytest.fixture
def nwb_file(tmp_path):
    """An NWB file with 3 units of known spike times, 6 trials of 2 conditions and a linear TimeSeries."""
    pynwb = pytest.importorskip("pynwb")
    rng = np.random.default_rng(2)
    nwb = pynwb.NWBFile(session_description="test", identifier="rec",
                        session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    nwb.add_trial_column(name="direction", description="condition of the trial")
    nwb.add_trial_column(name="stimulus_on", description="stimulus onset (s)")
    for k, (c, on) in enumerate(zip(NWB_CONDITIONS, STIM_ON)):
        nwb.add_trial(start_time=float(k), stop_time=k + 0.9, direction=c, stimulus_on=float(on))
    spikes = [np.sort(rng.uniform(0.0, 6.0, size=n)) for n in (60, 120, 30)]
    for uid, s in zip(UNIT_IDS, spikes):
        nwb.add_unit(spike_times=s, id=uid)
    t = np.arange(7000) / 1000.0
    nwb.add_acquisition(pynwb.TimeSeries(name="lfp", data=np.stack([t, -2 * t], axis=1), unit="V", rate=1000.0))
    path = tmp_path / "session.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path, spikes


def histogram_counts(spikes) -> np.ndarray:
    """Spike counts [trials, time, units] from np.histogram over each trial's window."""
    edges = np.linspace(WINDOW[0], WINDOW[1], 9)
    return np.stack([np.stack([np.histogram(s, bins=on + edges)[0] for s in spikes], axis=-1) for on in STIM_ON])


def test_nwb_spikes_are_binned_like_np_histogram(nwb_file) -> None:
    path, spikes = nwb_file
    rec = load_recordings(path, condition_column="direction", align_to="stimulus_on",
                          binning=Binning(bin_width=BIN, window=WINDOW, rates=False))
    expected = by_hand(histogram_counts(spikes), np.array(NWB_CONDITIONS), ["left", "right"])
    assert expected.sum() > 10  # the windows do hold spikes
    assert rec.conditions == ("left", "right")
    np.testing.assert_allclose(rec.trajectories, expected, rtol=1e-6)
    np.testing.assert_allclose(rec.time, np.arange(-0.075, 0.3, 0.05))
    np.testing.assert_array_equal(rec.unit_ids, UNIT_IDS)
    np.testing.assert_array_equal(rec.n_trials_per_condition, [3, 3])


def test_nwb_rates_and_smoothing(nwb_file) -> None:
    path, spikes = nwb_file
    rec = read_nwb(path, "direction", align_to="stimulus_on",
                   binning=Binning(bin_width=BIN, window=WINDOW, rates=True, smooth_sigma=0.02))
    rates = by_hand(histogram_counts(spikes), np.array(NWB_CONDITIONS), ["left", "right"]) / BIN
    np.testing.assert_allclose(rec.trajectories, gaussian_filter1d(rates, 0.02 / BIN, axis=1), rtol=1e-5)


def test_nwb_timeseries_is_sampled_at_bin_centres(nwb_file) -> None:
    path, _ = nwb_file
    rec = read_nwb(path, "direction", align_to="stimulus_on", timeseries="lfp",
                   binning=Binning(bin_width=BIN, window=WINDOW))
    t = STIM_ON[:, None] + np.arange(-0.075, 0.3, 0.05)[None, :]  # the signals are t and -2t
    expected = by_hand(np.stack([t, -2 * t], axis=-1), np.array(NWB_CONDITIONS), ["left", "right"])
    np.testing.assert_allclose(rec.trajectories, expected, rtol=1e-5)
    with pytest.raises(DataError, match=r"no TimeSeries 'spikes/lfp'.*acquisition holds \['lfp'\]"):
        read_nwb(path, "direction", timeseries="spikes/lfp")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"condition_column": "contrast"}, r"no trials column 'contrast'; its columns are \['start_time', "),
        ({"condition_column": "direction", "align_to": "go_cue"}, r"no trials column 'go_cue'"),
        ({"condition_column": "direction", "conditions": ["up"]}, r"condition 'up' has no trials"),
    ],
)
def test_nwb_missing_columns_are_refused(nwb_file, options, match) -> None:
    with pytest.raises(DataError, match=match):
        load_recordings(nwb_file[0], **options)


def test_nwb_without_pynwb_says_how_to_install(nwb_file, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pynwb", None)  # makes `import pynwb` raise ImportError
    with pytest.raises(ConfigError, match=r"pip install 'dynascope\[nwb\]'"):
        load_recordings(nwb_file[0], condition_column="direction")


def test_nwb_unreadable_or_without_units_is_refused(tmp_path) -> None:
    pynwb = pytest.importorskip("pynwb")
    (tmp_path / "corrupt.nwb").write_bytes(b"not an HDF5 file")
    with pytest.raises(DataError, match=r"cannot read .*corrupt.nwb as an NWB \(HDF5\) file"):
        load_recordings(tmp_path / "corrupt.nwb", condition_column="direction")
    nwb = pynwb.NWBFile(session_description="test", identifier="nounits",
                        session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    nwb.add_trial_column(name="direction", description="condition of the trial")
    nwb.add_trial(start_time=0.0, stop_time=1.0, direction="left")
    with pynwb.NWBHDF5IO(str(tmp_path / "nounits.nwb"), "w") as io:
        io.write(nwb)
    with pytest.raises(DataError, match=r"no units column 'spike_times'; its columns are \[\]"):
        load_recordings(tmp_path / "nounits.nwb", condition_column="direction")
