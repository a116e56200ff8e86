"""Synthetic recordings: spike counts follow the Poisson (or Bernoulli) law of the rates that generated them,
spike times lie in their bins, and the NWB file opens with pynwb and reads back through
`interop.load_recordings` with the same spike counts, latents and ground truth."""

from __future__ import annotations

import sys

import jax
import numpy as np
import pytest

from dynascope import data
from dynascope.errors import ConfigError, DataError
from dynascope.interop import Binning, load_recordings

pynwb = pytest.importorskip("pynwb")


def test_poisson_counts_have_the_mean_and_variance_of_their_rates(key):
    rates = np.broadcast_to(np.array([5.0, 20.0, 80.0]), (20000, 3))  # spikes per second
    dt = 0.01
    counts = data.spike_counts(rates, dt, key=key)
    lam = rates[0] * dt
    n = len(counts)
    # Within 5 standard errors: of a Poisson mean, sqrt(lam / n); of its sample variance, sqrt((lam + 2 lam^2) / n).
    np.testing.assert_array_less(np.abs(counts.mean(0) - lam), 5 * np.sqrt(lam / n))
    np.testing.assert_array_less(np.abs(counts.var(0, ddof=1) - lam), 5 * np.sqrt((lam + 2 * lam**2) / n))
    again = data.spike_counts(rates, dt, key=key)
    np.testing.assert_array_equal(again, counts)  # same key, same spikes
    p = 1 - np.exp(-lam)  # Bernoulli: the chance of at least one Poisson spike in the bin
    spikes = data.spike_counts(rates, dt, key=key, spiking="bernoulli")
    assert set(np.unique(spikes)) <= {0, 1}
    np.testing.assert_array_less(np.abs(spikes.mean(0) - p), 5 * np.sqrt(p * (1 - p) / n))


@pytest.fixture(scope="module")
def recording() -> data.SyntheticRecording:
    system = data.get_system("flipflop", n_bits=2, n_time=30, switch=False, noise=0.05)
    return data.synthesize(system, key=jax.random.key(3), n_trials=48, n_neurons=16, baseline_hz=20.0)


def test_a_recording_counts_spikes_at_its_rates_and_places_them_in_their_bins(recording):
    rec = recording
    assert rec.counts.shape == rec.rates.shape == (48, 30, 16) and rec.latents.shape == (48, 30, 2)
    lam = rec.rates.astype(np.float64) * rec.bin_width
    # Summed over all bins, counts minus their means is within 5 standard deviations (Poisson: var = mean),
    # and the dispersion index sum((n - lam)^2) / sum(lam) is 1 within 5 of its standard errors.
    assert abs(rec.counts.sum() - lam.sum()) < 5 * np.sqrt(lam.sum())
    dispersion = ((rec.counts - lam) ** 2).sum() / lam.sum()
    assert abs(dispersion - 1) < 5 * np.sqrt((lam + 2 * lam**2).sum()) / lam.sum()
    starts = rec.trials["start_time"]
    np.testing.assert_allclose(rec.trials["stop_time"] - starts, 30 * rec.bin_width)
    edges = (starts[:, None] + rec.bin_width * np.arange(31)[None, :]).reshape(-1)
    for n, times in enumerate(rec.spike_times):
        assert np.all(np.diff(times) >= 0)
        hist = np.histogram(times, bins=np.concatenate([edges, [np.inf]]))[0]
        per_trial = hist.reshape(48, 31)[:, :30]  # the 31st edge of a trial opens the gap to the next one
        np.testing.assert_array_equal(per_trial, rec.counts[..., n])
    assert sum(len(t) for t in rec.spike_times) == rec.counts.sum()
    assert np.unique(rec.labels, return_counts=True)[1].tolist() == [12] * 4


def test_nwb_round_trip_through_pynwb_and_load_recordings(recording, tmp_path):
    rec = recording
    path = data.write_nwb(rec, tmp_path / "rec.nwb")
    with pynwb.NWBHDF5IO(str(path), "r") as io:  # pynwb itself reads it
        nwb = io.read()
        assert len(nwb.units) == 16 and len(nwb.trials) == 48
        np.testing.assert_array_equal(nwb.units["spike_times"][3], rec.spike_times[3])
        assert list(nwb.trials["condition"][:]) == list(rec.labels)
        assert "ground_truth" in nwb.processing
    binning = Binning(bin_width=rec.bin_width, window=(0.0, rec.n_time * rec.bin_width), rates=False)
    loaded = load_recordings(path, condition_column="condition", binning=binning)
    conditions = sorted(set(rec.labels))
    assert loaded.conditions == tuple(conditions)
    sums = np.stack([rec.counts[rec.labels == c].sum(0) for c in conditions])
    # The reader averages per condition; times the trial count it gives back the integer spike counts.
    np.testing.assert_array_equal(np.rint(loaded.trajectories * loaded.n_trials_per_condition[:, None, None]), sums)
    latents = load_recordings(path, condition_column="condition", binning=binning, timeseries="ground_truth/latents")
    means = np.stack([rec.latents[rec.labels == c].mean(0) for c in conditions])
    np.testing.assert_allclose(latents.trajectories, means, atol=1e-5)
    back = data.read_synthetic(path)
    np.testing.assert_array_equal(back.counts, rec.counts)
    np.testing.assert_array_equal(back.latents, rec.latents)
    np.testing.assert_array_equal(back.rates, rec.rates)
    np.testing.assert_array_equal(back.inputs, rec.inputs)
    np.testing.assert_array_equal(back.skeleton.fixed_points, rec.skeleton.fixed_points)
    np.testing.assert_array_equal(back.skeleton.n_unstable, rec.skeleton.n_unstable)
    assert back.skeleton.period is None and back.system == "flipflop" and back.options["n_bits"] == 2
    np.testing.assert_allclose(back.embedding.rates(back.latents), rec.rates, rtol=1e-5)
    assert list(back.trials["start_pattern"]) == list(rec.trials["start_pattern"])


def test_an_existing_file_is_kept_and_an_interrupted_write_leaves_nothing(recording, tmp_path, monkeypatch):
    path = tmp_path / "rec.nwb"
    path.write_bytes(b"keep me")
    with pytest.raises(ConfigError, match=r"path '.*rec.nwb' already exists; .* pass overwrite=True"):
        data.write_nwb(recording, path)
    with pytest.raises(ConfigError, match=r"path must be a file name ending in .nwb, got '.*rec.h5'"):
        data.write_nwb(recording, tmp_path / "rec.h5")

    def interrupted(self, container):
        raise KeyboardInterrupt

    monkeypatch.setattr(pynwb.NWBHDF5IO, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.write_nwb(recording, path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.nwb"] and path.read_bytes() == b"keep me"
    with pytest.raises(KeyboardInterrupt):
        data.write_nwb(recording, tmp_path / "new.nwb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.nwb"]


def test_without_pynwb_the_error_says_how_to_install_it(recording, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynwb", None)  # `import pynwb` raises ImportError
    with pytest.raises(ConfigError, match=r"needs pynwb, which is not installed; install it with pip install 'dynascope\[nwb\]'"):
        data.write_nwb(recording, tmp_path / "rec.nwb")
    assert not list(tmp_path.iterdir())


def test_bad_arguments_are_refused_naming_them(key, tmp_path):
    with pytest.raises(ConfigError, match="n_neurons must be a positive integer, got 0"):
        data.synthesize("integrator", key=key, n_trials=4, n_neurons=0)
    with pytest.raises(ConfigError, match="spiking must be one of 'poisson', 'bernoulli', got 'gauss'"):
        data.synthesize("integrator", key=key, n_trials=4, n_neurons=3, spiking="gauss")
    with pytest.raises(ConfigError, match=r"option baseline_hz must be a number > 0 .*got nan"):
        data.synthesize("integrator", key=key, n_trials=4, n_neurons=3, baseline_hz=float("nan"))
    (tmp_path / "plain.nwb").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="cannot read .*plain.nwb as an NWB"):
        data.read_synthetic(tmp_path / "plain.nwb")
