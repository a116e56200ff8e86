"""A run folder's path: a URL (s3://, gs://, even as a Path that collapsed it to s3:/) is never made into a local
folder called 's3:'; one whose file system package is missing is refused by name before anything is created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dynascope import pipeline, store
from dynascope.errors import RunFolderError
from dynascope.pipeline import SweepConfig

CONFIG = SweepConfig(task="flipflop", archs=("vanilla",), n_hidden=(4,), n_networks=1, steps=1,
                     task_options={"n_bits": 1, "n_time": 8})


def _installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


@pytest.mark.parametrize("url", ["s3://bucket/runs/ff", "gs://bucket/ff", Path("s3://bucket/ff")])
def test_a_url_whose_file_system_is_not_installed_is_refused_and_nothing_is_created(url, tmp_path, monkeypatch):
    # URLs are run folders (tests/store/test_remote_runs.py); one whose fsspec file system package is missing
    # is refused naming the package, before anything is created.
    package = "s3fs" if str(url).startswith("s3") else "gcsfs"
    if _installed(package):
        pytest.skip(f"{package} is installed here")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNASCOPE_STAGING_DIR", str(tmp_path / "staging"))
    with pytest.raises(RunFolderError, match=rf"run folder .*://bucket/.*: .*install .*{package}"):
        store.RunFolder.create(url, CONFIG.to_dict())
    with pytest.raises(RunFolderError, match=package):
        store.open(url)
    with pytest.raises(RunFolderError, match=package):
        pipeline.prepare_run(CONFIG, url)
    assert list(tmp_path.iterdir()) == []  # no 's3:' folder made here, and no working copy either
    with pytest.raises(RunFolderError, match=r"is a URL, which this step takes only as a path"):
        store.run_path(url)  # the steps that need a local path (the Ray backend) still refuse it


def test_paths_that_only_look_like_urls_are_paths(tmp_path):
    # A colon later in the name, or a one-letter 'scheme' (a drive letter's shape), is an ordinary path.
    for name in ("run:2", "C:/x"):
        assert store.run_path(tmp_path / name) == tmp_path / name
    assert store.run_path("runs/ff") == Path("runs/ff")
    assert store.run_path("~/runs/ff") == Path.home() / "runs" / "ff"  # as the shell would have expanded it


def test_a_relative_folder_whose_first_part_has_a_colon_is_refused_and_its_absolute_path_works(tmp_path, monkeypatch):
    # 'a:b/catalog/...' is a URL of scheme 'a' to the Parquet and DuckDB readers: refused before anything is
    # written, with the absolute path that works.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunFolderError, match=r"run folder 'a:b' starts with 'a:b'.*absolute path '.*/a:b'"):
        pipeline.prepare_run(CONFIG, "a:b")
    assert list(tmp_path.iterdir()) == []
    run = pipeline.run_sweep(CONFIG, tmp_path / "a:b")
    assert store.open(tmp_path / "a:b").groups() == ["vanilla-4"] and len(run.read(store.NetworkRows).network) == 1


def test_an_empty_folder_name_is_refused_not_taken_for_the_current_folder(tmp_path, monkeypatch, dynascope_main,
                                                                         capsys):
    monkeypatch.chdir(tmp_path)
    for empty in ("", "  "):
        with pytest.raises(RunFolderError, match=r"run folder is empty; give a folder name"):
            pipeline.prepare_run(CONFIG, empty)
    assert dynascope_main("train", "--n-hidden", "4", "--n-networks", "1", "--steps", "1", "--out", "") == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: run folder is empty; give a folder name (e.g. --out runs/my-run)."]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(_installed("s3fs"), reason="s3fs is installed here, so s3:// URLs are accepted")
def test_the_command_says_so_in_one_line(tmp_path):
    res = subprocess.run([sys.executable, "-m", "dynascope", "train", "--task", "flipflop", "--arch", "vanilla",
                          "--n-hidden", "4", "--n-networks", "1", "--steps", "1", "--out", "s3://bucket/ff"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         env={**os.environ, "COLUMNS": "300", "DYNASCOPE_STAGING_DIR": str(tmp_path / "staging")})
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "pip install s3fs" in lines[0], res.stderr
    assert list(tmp_path.iterdir()) == []
