"""Run folders: catalog round trip, resume of an interrupted sweep, refusal of corrupt/foreign/mismatched folders."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dynascope import pipeline, store
from dynascope.errors import ConfigError, RunFolderError
from dynascope.pipeline import SweepConfig
from dynascope.train import TrainOptions

CONFIG = SweepConfig(
    task="flipflop",
    archs=("vanilla",),
    n_hidden=(8, 6),
    n_networks=2,
    steps=40,
    task_options={"n_bits": 2, "n_time": 16},
    train=TrainOptions(batch_size=8, learning_rate=1e-2, checkpoint_every=20, eval_batch=16),
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return pipeline.run_sweep(CONFIG, tmp_path_factory.mktemp("runs") / "r")


def test_catalog_holds_one_row_per_network(run):
    rows = run.sql("select network, arch, n_hidden, seed, trained, diverged from networks order by network").fetchall()
    assert [r[0] for r in rows] == ["vanilla-6/s000", "vanilla-6/s001", "vanilla-8/s000", "vanilla-8/s001"]
    assert {r[2] for r in rows} == {6, 8}
    n_loss = run.sql("select count(*), min(len(loss)) from losses").fetchall()[0]
    assert n_loss == (4, 40)


def test_config_and_versions_are_recorded(run):
    cfg = run.config
    assert cfg["sweep"]["archs"] == ["vanilla"] and cfg["train"]["batch_size"] == 8
    assert set(cfg["versions"]) >= {"dynascope", "jax", "python", "numpy"}
    assert SweepConfig.from_dict(cfg) == CONFIG


def test_weights_round_trip_and_reproduce_the_catalog(run):
    group = pipeline.load_group(run, "vanilla-8")
    assert group.networks == ("vanilla-8/s000", "vanilla-8/s001")
    trials = group.task.sample(__import__("jax").random.key(1), 4)
    _, out = group.model.run(group.network(0), trials.inputs)
    assert out.shape == (4, 16, 2) and np.all(np.isfinite(out))


def test_run_folder_holds_no_pickles(run):
    allowed = {".toml", ".parquet", ".safetensors", ".json"}
    files = [p for p in run.path.rglob("*") if p.is_file() and p.name != ".dynascope.lock"]  # the lock is empty
    assert files and all(p.suffix in allowed for p in files), files
    assert (run.path / ".dynascope.lock").stat().st_size == 0 if (run.path / ".dynascope.lock").exists() else True


def test_interrupted_sweep_resumes_and_skips_finished_groups(tmp_path, run):
    class Stop(Exception):
        pass

    def stop_in_second_group(group, step, losses):
        if group == "vanilla-6" and step == 20:
            raise Stop

    out = tmp_path / "r"
    with pytest.raises(Stop):
        pipeline.run_sweep(CONFIG, out, progress=stop_in_second_group)
    first = (out / "weights" / "vanilla-8.safetensors").stat().st_mtime_ns
    assert (out / "checkpoints" / "vanilla-6").is_dir()
    resumed = pipeline.run_sweep(CONFIG, out, resume=True)
    assert (out / "weights" / "vanilla-8.safetensors").stat().st_mtime_ns == first
    a = pipeline.load_group(run, "vanilla-6").params
    b = pipeline.load_group(resumed, "vanilla-6").params
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]))
    assert not (out / "checkpoints" / "vanilla-6").exists()


def test_existing_folder_needs_resume(run):
    with pytest.raises(RunFolderError, match="pass --resume to continue it"):
        pipeline.run_sweep(CONFIG, run.path)


def test_resume_with_a_different_config_is_refused(run):
    other = dataclasses.replace(CONFIG, steps=41)
    with pytest.raises(RunFolderError, match="created with a different config"):
        pipeline.run_sweep(other, run.path, resume=True)


def test_missing_and_non_run_folders(tmp_path):
    with pytest.raises(RunFolderError, match="does not exist; train one first"):
        store.open(tmp_path / "nope")
    with pytest.raises(RunFolderError, match="is not a dynascope run folder"):
        store.open(tmp_path)


def test_corrupt_shard_is_refused(run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run.path, copy)
    shard = copy / "catalog" / "networks" / "vanilla-8.parquet"
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(RunFolderError, match="is corrupt"):
        store.open(copy).sql("select * from networks")


def test_foreign_shard_is_refused(run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run.path, copy)
    pq.write_table(pa.table({"network": ["x"], "evil": [1]}), copy / "catalog" / "networks" / "zz.parquet")
    with pytest.raises(RunFolderError, match="does not have the 'networks' schema"):
        store.open(copy).sql("select * from networks")


def test_weights_with_wrong_shapes_are_refused(run, tmp_path):
    import shutil

    from safetensors.numpy import load_file, save_file
    from safetensors import safe_open

    copy = tmp_path / "copy"
    shutil.copytree(run.path, copy)
    (copy / "manifest.json").unlink()  # as written before checksums existed: the shape checks still hold
    path = copy / "weights" / "vanilla-8.safetensors"
    with safe_open(str(path), "numpy") as f:
        meta = f.metadata()
    params = load_file(str(path))
    params["W_rec"] = np.zeros((2, 8, 7), np.float32)
    save_file(params, str(path), metadata=meta)
    with pytest.raises(RunFolderError, match="do not fit model vanilla"):
        pipeline.load_group(store.open(copy), "vanilla-8")
    path.write_bytes(b"not safetensors")
    with pytest.raises(RunFolderError, match="corrupt or foreign"):
        pipeline.load_group(store.open(copy), "vanilla-8")


def test_bad_sweep_configs_fail_before_training(tmp_path):
    with pytest.raises(ConfigError, match="give at least one architecture"):
        pipeline.run_sweep(dataclasses.replace(CONFIG, archs=()), tmp_path / "a")
    with pytest.raises(ConfigError, match=r"--n-hidden \(n_hidden\) must be a positive integer"):
        pipeline.run_sweep(dataclasses.replace(CONFIG, n_hidden=(0,)), tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_weights_of_another_dtype_are_refused(run, tmp_path):
    import shutil

    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    copy = tmp_path / "copy"
    shutil.copytree(run.path, copy)
    (copy / "manifest.json").unlink()  # as written before checksums existed: the shape checks still hold
    path = copy / "weights" / "vanilla-8.safetensors"
    with safe_open(str(path), "numpy") as f:
        meta = f.metadata()
    params = load_file(str(path))
    params["W_rec"] = params["W_rec"].astype(np.float64)
    save_file(params, str(path), metadata=meta)
    with pytest.raises(RunFolderError, match=r"W_rec has shape \(2, 8, 8\) float64, expected \[2, \.\.\.\] float32"):
        pipeline.load_group(store.open(copy), "vanilla-8")


def test_a_crash_while_writing_leaves_no_half_written_shard(tmp_path, monkeypatch):
    from dynascope.store import run as run_module

    folder = store.RunFolder.create(tmp_path / "r", CONFIG.to_dict())
    row = {"network": ["a"], "loss": [np.zeros(3, np.float32)]}
    folder.write("first", store.LossRows(**row))

    class Crash(Exception):
        pass

    def half_then_crash(table, where, **kwargs):
        with open(where, "wb") as f:
            f.write(b"PAR1 half a shard")
        raise Crash

    monkeypatch.setattr(run_module.pq, "write_table", half_then_crash)
    monkeypatch.setattr(run_module, "save_file", lambda tensors, where, metadata=None: half_then_crash(None, where))
    with pytest.raises(Crash):
        folder.write("second", store.LossRows(network=["b"], loss=[np.ones(3, np.float32)]))
    with pytest.raises(Crash):
        folder.write_weights("g", {"W": np.zeros((1, 2, 2), np.float32)}, {})
    monkeypatch.undo()
    # The half-written temp files are removed, and never taken for a shard or a group's weights.
    assert list(folder.path.rglob("*.tmp")) == []
    assert [p.name for p in folder.shards(store.LossRows)] == ["first.parquet"]
    assert folder.groups() == []
    assert store.open(folder.path).sql("select network from losses").fetchall() == [("a",)]


def test_a_run_is_never_written_into_a_file_or_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match=r"notes.txt is a file, not a folder; choose a new folder"):
        pipeline.run_sweep(CONFIG, tmp_path / "notes.txt")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "recording.csv").write_text("1,2")
    with pytest.raises(RunFolderError, match=r"already holds other files and is not a dynascope run folder"):
        pipeline.run_sweep(CONFIG, tmp_path / "data", resume=True)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["recording.csv"]  # untouched
    (tmp_path / "empty").mkdir()
    assert store.RunFolder.create(tmp_path / "empty", {"sweep": {}}).config["sweep"] == {}  # an empty folder is fine
