"""The `recording` task: a fit to an NWB recording is an ordinary sweep in a run folder. The task is in the
registry whatever was imported first (an entry point), rebuilds from its stored options, keeps only the
training trials of the held-in neurons, and refuses a file whose data changed since the fit. The shipped
recording is what its recipe makes."""

from __future__ import annotations

import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from dynascope import data, pipeline, store, tasks
from dynascope.errors import ConfigError, DataError, RunFolderError
from dynascope.train import TrainOptions

pytest.importorskip("pynwb")


def test_the_recording_task_is_registered_before_dynascope_data_is_imported():
    code = ("import sys; from dynascope import tasks; assert 'dynascope.data' not in sys.modules; "
            "print(tasks.names()); print(tasks.get('recording').n_outputs)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert "'recording'" in out[0] and out[1] == "30"  # 40 neurons, a quarter held out


def test_the_task_holds_the_training_trials_of_the_held_in_neurons_only():
    task = tasks.get("recording", held_out_neurons=0.25, held_out_trials=0.25, split_seed=3)
    rec = data.read_trials(data.shipped_recording("flipflop3"))
    split = task.split
    assert sorted([*split.held_in, *split.held_out]) == list(range(rec.n_neurons))
    assert sorted([*split.train_trials, *split.test_trials]) == list(range(rec.n_trials))
    np.testing.assert_array_equal(task.counts, rec.counts[split.train_trials][..., split.held_in])
    np.testing.assert_array_equal(task.inputs, rec.inputs[split.train_trials])
    assert task.n_time == rec.n_time and task.dt == pytest.approx(rec.bin_width * 1000)  # milliseconds
    # the same split as fitting the recording in memory with the same key
    same = data.make_split(rec.n_trials, rec.n_neurons, key=jax.random.key(3), held_out_neurons=0.25,
                           held_out_trials=0.25)
    np.testing.assert_array_equal(same.held_out, split.held_out)
    again = tasks.get("recording", **task.options())
    assert again == task and hash(again) == hash(task) and task.options()["digest"] == task.digest


def test_a_fit_in_a_run_folder_reloads_and_a_changed_recording_is_refused(tmp_path):
    path = tmp_path / "rec.nwb"
    shutil.copy(data.shipped_recording("flipflop3"), path)
    config = pipeline.SweepConfig(task="recording", archs=("gru",), n_hidden=(4,), n_networks=2, steps=3,
                                  task_options={"recording": str(path)}, train=TrainOptions(batch_size=4))
    pipeline.run_sweep(config, tmp_path / "run")
    run = store.open(tmp_path / "run")
    group = pipeline.load_group(run, "gru-4")
    assert group.task.recording == str(path.resolve()) and group.task == config.build_task()
    assert group.model.n_outputs == 30 and len(group.networks) == 2
    other = data.synthesize("flipflop", key=jax.random.key(9), n_trials=192, n_neurons=40)
    data.write_nwb(other, path, overwrite=True)
    with pytest.raises(DataError, match=r"no longer holds the data this task was fitted to"):
        pipeline.load_group(run, "gru-4")
    path.unlink()  # the config is fine; what it points at is gone, and the message says so
    with pytest.raises(RunFolderError, match=r"the data this run's task reads cannot be used: recording file .* "
                                             r"does not exist"):
        pipeline.open_run(tmp_path / "run")


def test_bad_recording_options_are_refused_by_name():
    with pytest.raises(ConfigError, match=r"option recording must be an \.nwb file or a shipped recording"):
        tasks.get("recording", recording="data.csv")
    with pytest.raises(ConfigError, match=r"option recording is empty"):
        tasks.get("recording", recording="")
    with pytest.raises(DataError, match=r"does not exist"):
        tasks.get("recording", recording="/nowhere/rec.nwb")
    with pytest.raises(ConfigError, match=r"option held_out_neurons .*must be a number in \(0, 1\)"):
        tasks.get("recording", held_out_neurons=1.5)


def test_the_shipped_recording_is_what_its_recipe_makes(tmp_path):
    assert data.shipped_names() == ["flipflop3"]
    shipped = data.read_synthetic(data.shipped_recording("flipflop3"))
    made = data.read_synthetic(data.write_shipped("flipflop3", tmp_path / "again.nwb"))
    np.testing.assert_allclose(made.rates, shipped.rates, rtol=1e-5)
    # a count could differ only where a rate differs in its last bits; on one JAX none does
    assert np.mean(made.counts == shipped.counts) > 0.999
    np.testing.assert_array_equal(made.labels, shipped.labels)
    assert len(set(shipped.labels)) == 64 and shipped.skeleton.is_stable.sum() == 8
    assert repr(shipped).startswith("SyntheticRecording(192 trials × 100 bins × 40 neurons, bin_width=0.01 s, 64 "
                                    "conditions") and len(repr(shipped)) < 300
