"""Run folders at an fsspec URL (memory://, file://): train, analyze, report, show, runs and score work on them
from a local working copy; the remote holds the run's files and a `pushed.json` marker; a push cut off before
its marker leaves the previous state readable and --resume completes only what is missing; bad URLs are one
line, and recovery commands name the URL.

One trained and analysed memory:// run (`shared`) serves every test that only reads it."""

from __future__ import annotations

import hashlib
import json
import signal
import sys

import fsspec
import numpy as np
import pytest

from dynascope import pipeline, store
from dynascope.errors import RunFolderError
from dynascope.pipeline import SweepConfig
from dynascope.train import TrainOptions

# Two groups (two sizes), so that an interrupted run can hold one finished group and miss the other.
FLAGS = ["--task", "flipflop", "--arch", "vanilla", "--n-hidden", "3,4", "--steps", "5", "--n-networks", "2",
         "--batch", "16", "--task-opt", "n_bits=2", "--task-opt", "n_time=12"]
CONFIG = SweepConfig(task="flipflop", archs=("vanilla",), n_hidden=(3, 4), n_networks=2, steps=5, seed=0,
                     task_options={"n_bits": 2, "n_time": 12}, train=TrainOptions(batch_size=16))
GROUPS = ["vanilla-3", "vanilla-4"]
#: Network columns that must be equal run to run (train_seconds is wall time).
SAME = ["network", "group", "index", "arch", "n_hidden", "seed", "learning_rate", "task", "steps", "final_loss",
        "metric", "trained", "diverged", "stopped_at"]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The same sweep written to a local path: the reference every URL run must equal."""
    return pipeline.run_sweep(CONFIG, tmp_path_factory.mktemp("local") / "run")


def _main(monkeypatch, *args: str) -> int:
    """The `dynascope` console script in-process (as conftest's `dynascope_main`, for module fixtures)."""
    from dynascope.cli import main

    monkeypatch.setattr(sys, "argv", ["dynascope", *args])
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        main()
    except SystemExit as done:
        return int(done.code or 0)
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    return 0


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A run trained to a memory:// URL, then analysed from another working copy (as on another machine);
    tests only read it. Yields its URL."""
    bucket = f"bucket-shared-{tmp_path_factory.getbasetemp().name}"
    url = f"memory://{bucket}/run"
    staging = tmp_path_factory.mktemp("shared-staging")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DYNASCOPE_STAGING_DIR", str(staging / "1"))
        assert _main(mp, "train", *FLAGS, "--out", url) == 0
        mp.setenv("DYNASCOPE_STAGING_DIR", str(staging / "2"))
        assert _main(mp, "analyze", url, "--n-initial-states", "4") == 0
    yield url
    fsspec.filesystem("memory").rm(f"/{bucket}", recursive=True)


@pytest.fixture
def staging(tmp_path, monkeypatch):
    """A fresh folder for working copies; `staging.fresh()` moves to another one, as a second machine would
    start with no working copy."""

    class Staging:
        n = 0

        def fresh(self):
            self.n += 1
            monkeypatch.setenv("DYNASCOPE_STAGING_DIR", str(tmp_path / f"staging{self.n}"))

    s = Staging()
    s.fresh()
    return s


@pytest.fixture
def memory_url(tmp_path):
    """A memory:// URL of this test's own (the memory file system is one per process), removed afterwards."""
    url = f"memory://bucket-{tmp_path.name}/run"
    yield url
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/bucket-{tmp_path.name}"):
        fs.rm(f"/bucket-{tmp_path.name}", recursive=True)


def networks(run) -> dict[str, dict]:
    """The network table, network by network, without the wall-time column."""
    rows = run.read(store.NetworkRows)
    return {net: {c: getattr(rows, c)[i] for c in SAME} for i, net in enumerate(rows.network)}


def assert_same_run(run, reference) -> None:
    assert run.groups() == reference.groups() == GROUPS
    assert networks(run) == networks(reference)
    for group in GROUPS:
        mine, theirs = run.read_weights(group)[0], reference.read_weights(group)[0]
        assert mine.keys() == theirs.keys()
        for k in mine:
            np.testing.assert_array_equal(mine[k], theirs[k])


def one_line(capsys) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_train_analyze_report_show_a_memory_url(shared, staging, local_run, dynascope_main, capsys):
    fs, root = fsspec.core.url_to_fs(shared)
    assert {"config.toml", "manifest.json", "pushed.json"} <= {p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)}
    for group in GROUPS:
        assert fs.exists(f"{root}/weights/{group}.safetensors")
        assert fs.exists(f"{root}/catalog/networks/{group}.parquet")
        assert fs.exists(f"{root}/catalog/skeletons/{group}.parquet")  # analysed from another working copy
    # The marker lists every file with the digest of its uploaded content.
    marker = json.loads(fs.cat_file(f"{root}/pushed.json"))["files"]
    assert f"weights/{GROUPS[0]}.safetensors" in marker
    digest = hashlib.sha256(fs.cat_file(f"{root}/catalog/networks/{GROUPS[1]}.parquet")).hexdigest()
    assert marker[f"catalog/networks/{GROUPS[1]}.parquet"]["sha256"] == digest

    staging.fresh()
    assert dynascope_main("show", shared) == 0
    out = capsys.readouterr().out
    assert "sweep.task" in out and shared in out.replace("\n", "")  # the title names the URL (it may wrap)

    staging.fresh()  # as on another machine: everything comes from the URL
    run = pipeline.open_run(shared)
    assert run.location == shared and run.remote is not None
    assert_same_run(run, local_run)
    assert len(run.read(store.SkeletonRows).network) == 4  # analysed, as pulled from the URL
    assert run.verify() == {}


def test_report_of_a_url_run_is_uploaded(shared, staging, dynascope_main, capsys, tmp_path):
    # On a copy of the shared run, which the other tests read unchanged.
    fs, root = fsspec.core.url_to_fs(shared)
    url = f"memory://bucket-{tmp_path.name}/run"
    fs.copy(root, f"/bucket-{tmp_path.name}/run", recursive=True)
    try:
        assert dynascope_main("report", url) == 0
        assert f"uploaded to {url}" in capsys.readouterr().out.replace("\n", "")
        assert fs.exists(f"/bucket-{tmp_path.name}/run/report.html")
        # A damaged file at the URL: the recovery command names the URL, not this machine's working copy.
        fs.rm_file(f"/bucket-{tmp_path.name}/run/catalog/skeletons/{GROUPS[0]}.parquet")
        staging.fresh()
        assert dynascope_main("show", url) == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        recovery = line.split("(recorded in manifest.json); ", 1)[1]  # the damaged file is named in the working copy
        assert f"delete {url}/catalog/skeletons/{GROUPS[0]}.parquet, then rerun `dynascope analyze {url}`" in recovery
        assert str(store.Remote(url).path) not in recovery, line
    finally:
        fs.rm(f"/bucket-{tmp_path.name}", recursive=True)


def test_runs_lists_the_runs_under_a_url(shared, staging, dynascope_main, capsys):
    parent = shared.rsplit("/", 1)[0]
    assert dynascope_main("runs", parent) == 0
    out = capsys.readouterr().out
    assert f"runs in {parent}" in out and shared in out and "flipflop" in out and "vanilla" in out
    row = next(ln for ln in out.splitlines() if shared in ln)
    assert " 4 " in row and "ok" in row  # 4 networks, complete
    assert dynascope_main("runs", f"{parent}-missing") == 2
    assert f"{parent}-missing holds no folders" in one_line(capsys)


def test_score_takes_a_url(shared, staging, dynascope_main, capsys):
    # RUN is text: a typer Path would collapse memory:// to memory:/. A run not fitted to a recording is
    # refused naming the URL, after it was pulled and opened.
    assert dynascope_main("score", shared) == 2
    assert f"{shared} has no network fitted to a recording" in one_line(capsys)


def test_a_file_url_lands_in_its_folder(tmp_path, staging, local_run, dynascope_main):
    folder = tmp_path / "shared" / "run"
    url = f"file://{folder}"
    assert dynascope_main("train", *FLAGS, "--out", url) == 0
    assert (folder / "config.toml").is_file() and (folder / "pushed.json").is_file()
    assert sorted(p.name for p in (folder / "weights").iterdir()) == [f"{g}.safetensors" for g in GROUPS]
    assert_same_run(store.open(folder), local_run)  # the folder is a run folder, readable by its path
    staging.fresh()
    assert_same_run(pipeline.open_run(url), local_run)
    # Resuming a finished run trains nothing and changes no file.
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    staging.fresh()
    assert dynascope_main("train", *FLAGS, "--out", url, "--resume") == 0
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} == before


def test_a_push_cut_off_before_its_marker_is_redone_by_resume(memory_url, staging, local_run, dynascope_main,
                                                              capsys, monkeypatch):
    memory = type(fsspec.filesystem("memory"))
    pipe_file = memory.pipe_file
    markers = []

    def cut_off(self, path, value, *args, **kwargs):
        # The marker is written last (under a temp name, then moved into place). The config's and the first
        # group's pushes commit; in the second group's, its files are uploaded, then the connection drops
        # before the marker.
        if path.endswith("pushed.json.tmp"):
            if len(markers) == 2:
                raise ConnectionResetError("connection reset by peer")
            markers.append(path)
        return pipe_file(self, path, value, *args, **kwargs)

    monkeypatch.setattr(memory, "pipe_file", cut_off)
    assert dynascope_main("train", *FLAGS, "--out", memory_url) == 2
    line = one_line(capsys)
    assert f"cannot write to {memory_url}: ConnectionResetError: connection reset by peer" in line
    assert "rerun the same command" in line
    fs, root = fsspec.core.url_to_fs(memory_url)
    assert fs.exists(f"{root}/weights/{GROUPS[1]}.safetensors")  # uploaded, but no marker lists it
    monkeypatch.setattr(memory, "pipe_file", pipe_file)

    staging.fresh()  # the rerun on another machine: only what the marker commits is there
    run = pipeline.open_run(memory_url)
    assert run.groups() == GROUPS[:1]
    first = run.read(store.NetworkRows)
    assert set(first.group) == {GROUPS[0]}
    assert run.verify() == {}

    staging.fresh()
    assert dynascope_main("train", *FLAGS, "--out", memory_url, "--resume") == 0
    staging.fresh()
    run = pipeline.open_run(memory_url)
    assert_same_run(run, local_run)
    again = run.read(store.NetworkRows)
    # The first group was not trained again: its wall time is the one recorded before the interruption.
    assert [s for s, g in zip(again.train_seconds, again.group) if g == GROUPS[0]] == list(first.train_seconds)


def test_bad_urls_are_refused_in_one_line(tmp_path, staging, memory_url, dynascope_main, capsys, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert dynascope_main("train", *FLAGS, "--out", "foo://bucket/run") == 2
    assert "unknown URL scheme 'foo'" in one_line(capsys)
    assert dynascope_main("analyze", "foo://bucket/run") == 2
    assert "unknown URL scheme 'foo'" in one_line(capsys)
    assert dynascope_main("runs", "foo://bucket/runs") == 2  # a folder of runs, not a run folder
    assert one_line(capsys).startswith("error: folder of runs foo://bucket/runs: unknown URL scheme 'foo'")
    assert dynascope_main("show", memory_url) == 2
    line = one_line(capsys)
    assert f"{memory_url} holds no dynascope run" in line and "dynascope train --out" in line
    assert dynascope_main("train", *FLAGS, "--out", memory_url, "--resume") == 2
    assert "holds no run written to a URL" in one_line(capsys)
    blocker = cwd / "a-file"
    blocker.write_text("not a folder")
    assert dynascope_main("train", *FLAGS, "--out", f"file://{blocker}/run") == 2
    assert f"cannot write to file://{blocker}/run" in one_line(capsys)
    assert list(cwd.iterdir()) == [blocker]  # nothing made in the folder the command ran in
    assert dynascope_main("train", *FLAGS, "--out", "file://relative/run") == 2
    assert "takes an absolute path, file:///relative/run (three slashes)" in one_line(capsys)
    assert list(cwd.iterdir()) == [blocker]
    import importlib.util

    if importlib.util.find_spec("s3fs") is None:
        assert dynascope_main("report", "s3://bucket/run") == 2
        assert "pip install s3fs" in one_line(capsys)
    with pytest.raises(RunFolderError, match=r"is a URL, which this step takes only as a path"):
        store.run_path(memory_url)


def test_memory_storage_is_said_to_end_with_the_process(dynascope_main, memory_url, staging, capsys):
    """A dynascope command is a process of its own: after writing to memory:// it says the run ends with it, and
    a command that finds no run at a memory:// URL says why that is likely."""
    assert dynascope_main("train", *FLAGS, "--n-hidden", "3", "--out", memory_url) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"note: {memory_url} is memory:// storage" in err and "gone when it ends" in err
    assert dynascope_main("show", memory_url + "-other") == 2
    assert "memory:// storage lives in one process only" in one_line(capsys)
