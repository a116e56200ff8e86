"""The Ray backend (`dynascope.scale`) on a local two-CPU Ray cluster: a sharded sweep against the single-process
sweep of the same config, network by network (also to a file:// URL); a worker killed mid-shard; a driver that died after some
shards; the train command on Ray.

Not collected by the suite's own run (the name lacks `test_`): test_ray_backend.py runs this file in a
pytest process of its own, so Ray's driver never lives in a worker that goes on to compile other tests'
programs (a JAX compile in such a worker crashed with a segmentation fault)."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from dynascope import pipeline, scale, store
from dynascope.errors import ConfigError, RunFolderError
from dynascope.scale import Shard
from dynascope.store import (
    DistanceRows,
    EmbeddingRows,
    EnergyRows,
    FixedPointRows,
    LossRows,
    NetworkRows,
    SkeletonRows,
    SummaryRows,
)
from tests.pipeline.ray_sweep import CONFIG, GROUP

ray = pytest.importorskip("ray")

# Ray starts its processes with fork + exec from this JAX process; JAX warns about any fork, but exec
# replaces the child at once, so nothing multithreaded runs forked.
pytestmark = pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # The workers share a compilation cache (the tests' own process keeps none): a worker started after
    # another compiled the shard's program loads it instead of compiling it again.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DYNASCOPE_CACHE_DIR", str(tmp_path_factory.mktemp("jax-cache")))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> store.RunFolder:
    """The single-process sweep of CONFIG: the reference every sharded run is checked against."""
    return pipeline.run_sweep(CONFIG, tmp_path_factory.mktemp("single") / "run")


def assert_same_run(run: store.RunFolder, reference: store.RunFolder) -> None:
    """Same files, the same networks exactly once each, the same weights and catalog. Floats agree to
    rounding, not bit for bit: XLA on the CPU sums a vmapped batch of 2 networks in another order than one
    of 4 (measured: parameters differ by at most ~3e-7 after 20 steps, ~1 ulp per step)."""
    run.check_intact()
    def files(r: store.RunFolder) -> list[str]:
        return sorted(str(p.relative_to(r.path)) for p in r.path.rglob("*") if not p.name.startswith("."))

    assert files(run) == files(reference)
    assert not (run.path / scale.SHARDS).exists()
    nets, ref = run.read(NetworkRows, order_by=("index",)), reference.read(NetworkRows, order_by=("index",))
    assert nets.network == ref.network and len(set(nets.network)) == CONFIG.n_networks
    for column in ("group", "index", "arch", "n_hidden", "seed", "learning_rate", "task", "steps", "trained",
                   "diverged", "stopped_at"):
        assert getattr(nets, column) == getattr(ref, column), column
    np.testing.assert_allclose(nets.final_loss, ref.final_loss, rtol=1e-5)
    np.testing.assert_allclose(nets.metric, ref.metric, atol=1e-6)
    losses, ref_losses = run.read(LossRows), reference.read(LossRows)
    assert losses.network == ref_losses.network
    np.testing.assert_allclose(np.asarray(losses.loss), np.asarray(ref_losses.loss), rtol=1e-5)
    got, want = pipeline.load_group(run, GROUP), pipeline.load_group(reference, GROUP)
    assert got.networks == want.networks
    for name, value in want.params.items():
        np.testing.assert_allclose(got.params[name], value, rtol=1e-4, atol=1e-6, err_msg=name)
    (got_steps, got_snaps), (want_steps, want_snaps) = run.read_snapshots(GROUP), reference.read_snapshots(GROUP)
    assert got_steps.tolist() == want_steps.tolist() == [0, 10, 20]
    for name, value in want_snaps.items():  # [step, network, ...]
        np.testing.assert_allclose(got_snaps[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


def test_a_rerun_after_the_driver_died_trains_only_the_missing_shards(cluster, single, tmp_path, monkeypatch):
    path = tmp_path / "run"
    # A first run in which one of the two shards dies and is not retried: the driver stops with the shard
    # named, the other shard committed, the group not merged; a killed driver leaves the same, plus the
    # temp folder of an attempt that never committed.
    monkeypatch.setenv(scale.CRASH_ENV, f"{GROUP}[2:4]")
    failed = rf"1 of 2 shards failed after 0 retries \({re.escape(GROUP)}\[2:4\]: .*--resume"
    with pytest.raises(RunFolderError, match=failed):
        scale.run_sweep_ray(CONFIG, path, shard_size=2, max_retries=0)
    monkeypatch.delenv(scale.CRASH_ENV)
    assert scale.finished_shards(path, GROUP)[0] == [Shard(GROUP, 0, 2)] and store.open(path).groups() == []
    (path / scale.SHARDS / GROUP / ".0000002-0000004.dead.tmp" / "weights").mkdir(parents=True)
    first = (path / scale.SHARDS / GROUP / Shard(GROUP, 0, 2).name).stat().st_ino
    merged: list[dict[str, int]] = []
    merge = scale._shards.merge_group

    def spy(run, group, n, shards):  # the shard folders the group is merged from, by inode
        merged.append({str(s): scale._shards.shard_path(run.path, s).stat().st_ino for s in shards})
        merge(run, group, n, shards)

    monkeypatch.setattr(scale._shards, "merge_group", spy)
    seen: list[scale.ShardCounts] = []
    run = scale.run_sweep_ray(CONFIG, path, resume=True, shard_size=2, progress=seen.append)
    assert seen[-1] == scale.ShardCounts(total=2, earlier=1, done=2)
    assert len(merged) == 1 and set(merged[0]) == {f"{GROUP}[0:2]", f"{GROUP}[2:4]"}
    assert merged[0][f"{GROUP}[0:2]"] == first  # the finished shard was not trained or written again
    assert_same_run(run, single)
    # Once the group is whole, running again trains nothing and changes nothing.
    before = {p: p.stat().st_mtime_ns for p in path.rglob("*.parquet")}
    scale.run_sweep_ray(CONFIG, path, resume=True, shard_size=2)
    assert {p: p.stat().st_mtime_ns for p in path.rglob("*.parquet")} == before


def test_a_sharded_sweep_equals_the_single_process_sweep(cluster, single, tmp_path):
    seen: list[scale.ShardCounts] = []
    run = scale.run_sweep_ray(CONFIG, tmp_path / "run", shard_size=2, progress=seen.append)
    assert_same_run(run, single)
    assert seen[-1] == scale.ShardCounts(total=2, done=2)


def test_a_sharded_sweep_to_a_url_equals_the_single_process_sweep(cluster, single, tmp_path, monkeypatch):
    # The driver's working copy lies in a staging folder of its own; the workers (started with the cluster)
    # build their shards in theirs and reach the driver only through the URL.
    monkeypatch.setenv("DYNASCOPE_STAGING_DIR", str(tmp_path / "staging"))
    folder = tmp_path / "shared" / "run"
    url = f"file://{folder}"
    seen: list[scale.ShardCounts] = []
    run = scale.run_sweep_ray(CONFIG, url, shard_size=2, progress=seen.append)
    assert run.location == url and seen[-1] == scale.ShardCounts(total=2, done=2)
    assert_same_run(run, single)
    assert (folder / "pushed.json").is_file() and not (folder / scale.SHARDS).exists()  # merged shards are gone
    monkeypatch.setenv("DYNASCOPE_STAGING_DIR", str(tmp_path / "elsewhere"))  # as on another machine
    assert_same_run(pipeline.open_run(url), single)
    # A rerun trains nothing and changes no file at the URL.
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    scale.run_sweep_ray(CONFIG, url, resume=True, shard_size=2, progress=seen.append)
    assert seen[-1] == scale.ShardCounts(total=0)
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} == before


def test_a_worker_killed_mid_shard_is_retried_and_nothing_is_duplicated(cluster, single, tmp_path, monkeypatch):
    monkeypatch.setenv(scale.CRASH_ENV, f"{GROUP}[2:4]")  # its first attempt exits hard after 10 of 20 steps
    seen: list[scale.ShardCounts] = []
    run = scale.run_sweep_ray(CONFIG, tmp_path / "run", shard_size=2, progress=seen.append)
    assert seen[-1] == scale.ShardCounts(total=2, done=2, retried=1)
    assert_same_run(run, single)


def test_a_shard_the_cluster_cannot_hold_is_refused_before_the_run_folder(cluster, tmp_path):
    with pytest.raises(ConfigError, match=r"--gpus-per-shard: each shard asks for 1 GPUs but the Ray cluster has 0"):
        scale.run_sweep_ray(CONFIG, tmp_path / "run", num_gpus=1.0)
    assert not (tmp_path / "run").exists()


def test_the_train_command_runs_on_ray_with_one_progress_row(cluster, single, tmp_path):
    from typer.testing import CliRunner

    from dynascope.cli import app

    flags = ["--task", "flipflop", "--task-opt", "n_bits=2", "--task-opt", "n_time=10", "--arch", "vanilla",
             "--n-hidden", "4", "--n-networks", "4", "--steps", "20", "--batch", "8", "--lr", "0.01",
             "--checkpoint-every", "10", "--snapshot-every", "10", "--out", str(tmp_path / "run")]
    out = CliRunner().invoke(app, ["train", *flags, "--backend", "ray", "--shard-size", "2"], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "shards" in out.stdout and "2/2" in out.stdout and "vanilla-4/s003" in out.stdout
    assert_same_run(store.open(tmp_path / "run"), single)



# -- analyze and compare on Ray -------------------------------------------------------------------------
ANALYSIS = pipeline.AnalysisOptions(n_trials=8, n_initial_states=16, saddle_seeds_per_pair=0, skeleton_steps=50)
STUDY = pipeline.StudyOptions(metrics=("cka", "topology"), n_trials=6, trained_only=False)


def copy_run(run: store.RunFolder, path) -> store.RunFolder:
    shutil.copytree(run.path, path)
    return store.open(path)


@pytest.fixture(scope="module")
def analysed(single, tmp_path_factory) -> store.RunFolder:
    """The single-process analysis of the CONFIG run: the reference for the sharded analyses."""
    run = copy_run(single, tmp_path_factory.mktemp("analysed") / "run")
    pipeline.analyze_run(run, ANALYSIS)
    return run


def assert_same_analysis(run: store.RunFolder, reference: store.RunFolder) -> None:
    """The same rows in the same order: counts, statuses and graphs exactly, floats to rounding (a batch of
    2 networks is summed in another order than one of 4)."""
    assert not (run.path / scale.SHARDS).exists()
    for rows, exact, close in (
        (FixedPointRows, ("network", "group", "input_index", "status", "n_unstable", "is_stable",
                          "outside_reachable"), ("q", "state", "eig_real", "eig_imag")),
        (SkeletonRows, ("network", "group", "input_index", "n_stable", "n_saddles", "index_counts", "n_slow",
                        "n_outside", "n_cycles", "wl_hash"), ()),
        (EnergyRows, ("network", "group", "arch", "spiking", "n_trials"), ("operations_per_trial", "score")),
    ):
        got, want = run.read(rows), reference.read(rows)
        assert [p.name for p in run.shards(rows)] == [p.name for p in reference.shards(rows)]
        assert len(got.network) == len(want.network) > 0, rows.TABLE
        for column in exact:
            assert getattr(got, column) == getattr(want, column), (rows.TABLE, column)
        for column in close:
            np.testing.assert_allclose(np.asarray(getattr(got, column), float),
                                       np.asarray(getattr(want, column), float), rtol=1e-4, atol=1e-6,
                                       err_msg=f"{rows.TABLE}.{column}")


def test_a_sharded_analysis_equals_the_single_process_analysis(cluster, single, analysed, tmp_path):
    run = copy_run(single, tmp_path / "run")
    seen: list[scale.ShardCounts] = []
    assert scale.analyze_run_ray(run, ANALYSIS, shard_size=2, progress=seen.append) == [GROUP]
    assert seen[-1] == scale.ShardCounts(total=2, done=2)
    assert_same_analysis(run, analysed)
    # Analysed groups are never redone.
    before = {p: p.stat().st_mtime_ns for p in run.path.rglob("*.parquet")}
    assert scale.analyze_run_ray(run, ANALYSIS, shard_size=2) == []
    assert {p: p.stat().st_mtime_ns for p in run.path.rglob("*.parquet")} == before


def test_an_analysis_worker_killed_mid_shard_is_retried_and_a_dead_driver_redoes_only_the_rest(
        cluster, single, analysed, tmp_path, monkeypatch):
    run = copy_run(single, tmp_path / "run")
    monkeypatch.setenv(scale.CRASH_ENV, f"{GROUP}[2:4]")  # its first attempt exits hard before its commit
    # Without retries the driver stops naming the shard; the other shard stays committed, nothing is merged.
    with pytest.raises(RunFolderError, match=rf"1 of 2 shards failed after 0 retries \({re.escape(GROUP)}\[2:4\]"):
        scale.analyze_run_ray(run, ANALYSIS, shard_size=2, max_retries=0)
    assert scale.finished_analysis(run.path, GROUP, ANALYSIS) == [Shard(GROUP, 0, 2)]
    assert run.shards(SkeletonRows) == []
    kept = scale._shards.shard_path(run.path, Shard(GROUP, 0, 2), scale.analysis_stage(ANALYSIS)).stat().st_ino
    analysed_shards: list[Shard] = []
    original = scale._analyze.merge_analysis

    def spy(folder, group, shards, options):
        analysed_shards.extend(shards)
        assert scale._shards.shard_path(folder.path, Shard(GROUP, 0, 2), scale.analysis_stage(options)).stat().st_ino == kept
        original(folder, group, shards, options)

    monkeypatch.setattr(scale._analyze, "merge_analysis", spy)
    # The rerun analyses only networks 2-3. The drill kills attempt number 1, whose marker the failed call
    # left: without it, this call's first attempt dies too, and Ray retries it.
    (run.path / scale.SHARDS / "analyze" / scale.analysis_stage(ANALYSIS).split("/")[1] / GROUP /
     f".{Shard(GROUP, 2, 4).name}.attempt-1").unlink()
    seen: list[scale.ShardCounts] = []
    assert scale.analyze_run_ray(run, ANALYSIS, shard_size=2, progress=seen.append) == [GROUP]
    assert seen[-1] == scale.ShardCounts(total=2, earlier=1, done=2, retried=1)
    assert sorted(analysed_shards) == [Shard(GROUP, 0, 2), Shard(GROUP, 2, 4)]
    assert_same_analysis(run, analysed)


def test_a_sharded_compare_equals_the_single_process_study(cluster, analysed, tmp_path):
    reference = copy_run(analysed, tmp_path / "reference")
    want = pipeline.study(reference, STUDY)
    run = copy_run(analysed, tmp_path / "run")
    pairs: list[tuple[str, int, int]] = []
    got = scale.study_ray(run, STUDY, shard_size=4, progress=lambda *a: pairs.append(a))
    assert sorted(got.results) == sorted(want.results) == ["cka", "topology"]
    assert ("cka", 6, 6) in pairs and ("topology", 6, 6) in pairs  # 6 pairs in blocks of 4 and 2
    assert not (run.path / scale.SHARDS).exists()
    for metric, r in want.results.items():
        np.testing.assert_allclose(got.results[metric].distances, r.distances, rtol=1e-5, atol=1e-7)
    d, ref = run.read(DistanceRows, order_by=("metric", "a", "b")), reference.read(DistanceRows, order_by=("metric", "a", "b"))
    assert (d.metric, d.a, d.b) == (ref.metric, ref.a, ref.b)
    np.testing.assert_allclose(np.asarray(d.distance, float), np.asarray(ref.distance, float), rtol=1e-5, atol=1e-7)
    s, ref_s = run.read(SummaryRows, order_by=("metric", "quantity", "arch")), reference.read(SummaryRows, order_by=("metric", "quantity", "arch"))
    assert (s.metric, s.quantity, s.arch) == (ref_s.metric, ref_s.quantity, ref_s.arch)
    np.testing.assert_allclose(s.value, ref_s.value, rtol=1e-5, atol=1e-7)
    assert run.read(EmbeddingRows).cluster == reference.read(EmbeddingRows).cluster
