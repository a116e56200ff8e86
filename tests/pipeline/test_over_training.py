"""The skeleton over training: snapshots stored with a group, analysed like the trained weights, and when each
network's final structure appeared."""

from __future__ import annotations

import numpy as np
import pytest

from dynascope import pipeline, store
from dynascope.errors import ConfigError, RunFolderError
from dynascope.pipeline import AnalysisOptions, SweepConfig
from dynascope.store import SkeletonRows, TrainingSkeletonRows
from dynascope.train import TrainOptions

CONFIG = SweepConfig(task="flipflop", archs=("vanilla",), n_hidden=(5,), n_networks=2, steps=60,
                     task_options={"n_bits": 1, "n_time": 16},
                     train=TrainOptions(batch_size=8, learning_rate=0.02, checkpoint_every=30, snapshot_every=30))
SMALL = AnalysisOptions(n_trials=8, n_initial_states=16, skeleton_steps=100)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return pipeline.run_sweep(CONFIG, tmp_path_factory.mktemp("over") / "run")


def test_the_last_snapshot_is_analysed_exactly_as_the_trained_weights(run):
    assert pipeline.analyze_over_training(run, SMALL) == ["vanilla-5"]
    over = run.read(TrainingSkeletonRows, order_by=("network", "step"))
    assert sorted(set(over.step)) == [0, 30, 60] and len(over.network) == 2 * 3
    pipeline.analyze_run(run, SMALL)
    final = run.read(SkeletonRows, order_by=("network",))
    last = run.read(TrainingSkeletonRows, where={"step": 60}, order_by=("network",))
    assert last.network == final.network
    assert last.n_stable == final.n_stable and last.wl_hash == final.wl_hash and last.index_counts == final.index_counts
    # Done groups are not redone; --force redoes them.
    assert pipeline.analyze_over_training(run, SMALL) == []
    assert pipeline.analyze_over_training(run, SMALL, force=True) == ["vanilla-5"]


def test_a_damaged_snapshot_file_is_named_with_the_command_that_rewrites_it(run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run.path, copy)
    path = copy / "snapshots" / "vanilla-5.safetensors"
    path.write_bytes(path.read_bytes()[:-7])
    folder = store.open(copy)
    assert pipeline.group_damage(folder, "vanilla-5") is not None
    with pytest.raises(RunFolderError, match=r"vanilla-5\.safetensors.*--resume"):
        folder.check_intact()
    path.unlink()
    with pytest.raises(RunFolderError, match=r"snapshots/vanilla-5\.safetensors is missing"):
        folder.check_intact()


def test_a_run_without_snapshots_says_how_to_keep_them(tmp_path):
    import dataclasses

    plain = pipeline.run_sweep(dataclasses.replace(CONFIG, steps=2, train=TrainOptions(batch_size=4)), tmp_path / "r")
    with pytest.raises(ConfigError, match="--snapshot-every"):
        pipeline.analyze_over_training(plain, SMALL)


def test_emergence_reads_when_the_final_structure_appeared(tmp_path):
    # Hand-written rows with known answers: network a reaches 2 stable points at step 20, loses one at 30 and
    # has 2 again from 40 on (its skeleton settles at 50); network b never changes.
    folder = store.RunFolder.create(tmp_path / "r", CONFIG.to_dict())
    steps = [0, 10, 20, 30, 40, 50]
    a_stable, a_hash = [1, 1, 2, 1, 2, 2], ["x", "x", "y", "x", "z", "y"]
    folder.write("g", TrainingSkeletonRows(
        network=["g/a"] * 6 + ["g/b"] * 6, group=["g"] * 12, step=steps * 2, input_index=[0] * 12,
        n_stable=a_stable + [3] * 6, n_saddles=[0] * 12, index_counts=["{}"] * 12, n_slow=[0] * 12,
        wl_hash=a_hash + ["w"] * 6,
    ))
    e = pipeline.emergence(folder)
    assert e.network.tolist() == ["g/a", "g/b"]
    assert e.final_stable.tolist() == [2, 3]
    assert e.stable_from.tolist() == [40, 0]
    assert e.skeleton_from.tolist() == [50, 0]
    assert e.first_stable_steps[0] == {1: 0, 2: 20}
