"""Failures of analyze, report and compare on a run folder: bad options, a read-only folder, a destination
inside a file, an interrupted command. Each is one line (exit code 2 from the command, a DynascopeError in
process) raised before any work, and the same command rerun afterwards works."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
from typer.testing import CliRunner

from dynascope import pipeline, store
from dynascope.pipeline import analyze as analyze_module
from dynascope.cli import app
from dynascope.errors import ConfigError, RunFolderError
from tests.cli.test_cli import TINY

runner = CliRunner()
SMALL = pipeline.AnalysisOptions(n_trials=8, n_initial_states=16, skeleton_steps=100)


def dynascope(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynascope", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def one_line(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    return lines[0]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A tiny trained run whose every group is analysed."""
    path = tmp_path_factory.mktemp("cli") / "run"
    out = runner.invoke(app, ["train", *TINY, "--out", str(path)], terminal_width=200)
    assert out.exit_code == 0, out.output
    pipeline.analyze_run(store.open(path), SMALL)
    return path


@pytest.fixture
def run_copy(analysed, tmp_path):
    path = tmp_path / "run"
    shutil.copytree(analysed, path)
    return path


def test_analyze_checks_its_options_before_looking_at_what_is_done(run_copy):
    # Every group is analysed already: a bad --n-initial-states used to pass silently as "nothing to do".
    line = one_line(dynascope("analyze", str(run_copy), "--n-initial-states", "-3"))
    assert "--n-initial-states must be a positive integer, got -3" in line


def _refuse_writes(monkeypatch):
    """What the kernel answers on a read-only mount, injected where the store probes for write access (the
    tests run as root, which ignores permission bits)."""

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)


def test_a_read_only_run_folder_fails_analyze_report_and_compare_before_any_work(run_copy, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(analyze_module, "analyze_group", lambda *a, **k: calls.append(a))
    from dynascope.report import html

    monkeypatch.setattr(html, "render_report", lambda *a, **k: calls.append(a))
    _refuse_writes(monkeypatch)
    for args in (["analyze", str(run_copy), "--force"], ["report", str(run_copy)],
                 ["report", str(run_copy), "--out", str(tmp_path / "elsewhere.html"), "--static"],
                 ["compare", str(run_copy), "--metric", "cca"]):
        out = runner.invoke(app, args)
        assert isinstance(out.exception, RunFolderError), (args, out.output)
        assert "is not writable: read-only file system (EROFS)" in str(out.exception) and "\n" not in str(out.exception)
    assert calls == []  # refused before computing a group or rendering a page


def test_a_shared_read_only_run_can_be_reported_elsewhere(run_copy, monkeypatch, tmp_path):
    real = tempfile.mkstemp

    def read_only_run(*args, dir=None, **kwargs):  # the run folder is on a read-only disk, tmp_path is not
        if str(dir).startswith(str(run_copy)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", read_only_run)
    out = runner.invoke(app, ["report", str(run_copy), "--networks", "1"])
    assert isinstance(out.exception, RunFolderError) and "is not writable" in str(out.exception)
    out = runner.invoke(app, ["report", str(run_copy), "--out", str(tmp_path / "page.html"), "--networks", "1"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "page.html").is_file() and not (run_copy / "report.html").exists()


def _mount(where, options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True).returncode == 0


def test_on_a_real_read_only_disk_analyze_fails_at_once_and_succeeds_once_writable(analysed, tmp_path):
    where = tmp_path / "disk"
    if not _mount(where, "size=8m"):
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN); the injected-EROFS test covers this")
    try:
        shutil.copytree(analysed, where / "run")
        subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True, capture_output=True)
        res = dynascope("analyze", str(where / "run"), "--force", "--n-initial-states", "8")
        line = one_line(res)
        assert f"{where / 'run'} is not writable: read-only file system (EROFS)" in line
        assert "fixed points + skeletons" not in res.stdout  # no progress bar: nothing was computed
        subprocess.run(["mount", "-o", "remount,rw", str(where)], check=True, capture_output=True)
        res = dynascope("analyze", str(where / "run"), "--force", "--n-initial-states", "8")
        assert res.returncode == 0, res.stderr  # the same command, rerun, works
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_report_out_inside_a_file_is_refused_and_a_missing_folder_is_created(run_copy, tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("mine")
    line = one_line(dynascope("report", str(run_copy), "--out", str(tmp_path / "notes.txt" / "page.html")))
    assert f"{tmp_path / 'notes.txt' / 'page.html'}" in line or f"{tmp_path / 'notes.txt'}" in line
    assert "is a file, not a folder; choose a folder that is not inside a file" in line
    assert (tmp_path / "notes.txt").read_text() == "mine"
    out = runner.invoke(app, ["report", str(run_copy), "--out", str(tmp_path / "new" / "deeper" / "page.html"),
                              "--networks", "1"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "new" / "deeper" / "page.html").is_file()
    (tmp_path / "reports").mkdir()
    out = runner.invoke(app, ["report", str(run_copy), "--out", str(tmp_path / "reports"), "--networks", "1"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "reports" / "report.html").is_file()  # a folder gets report.html inside


def test_an_interrupted_analyze_leaves_a_folder_the_same_command_finishes(run_copy, monkeypatch):
    real = analyze_module.analyze_group

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(analyze_module, "analyze_group", interrupted)
    out = runner.invoke(app, ["analyze", str(run_copy), "--force", "--n-initial-states", "8"])
    assert out.exit_code != 0
    monkeypatch.setattr(analyze_module, "analyze_group", real)
    out = runner.invoke(app, ["analyze", str(run_copy), "--force", "--n-initial-states", "8"], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "vanilla-6/s000" in out.output


def test_analyze_says_which_networks_it_skipped(tmp_path):
    from tests.train.blown_up import BLOWN_UP, blown_up_run

    path = blown_up_run(tmp_path / "blown_up")
    out = runner.invoke(app, ["analyze", str(path), "--n-initial-states", "8"], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert (f"skipped 1 network (no fixed points searched): {BLOWN_UP} (diverged in training: its loss went "
            "non-finite or exploded).") in " ".join(out.output.split())


def test_bad_analysis_options_are_config_errors_in_process(run_copy):
    out = runner.invoke(app, ["analyze", str(run_copy), "--n-initial-states", "0"])
    assert isinstance(out.exception, ConfigError) and "--n-initial-states must be a positive integer, got 0" in str(out.exception)
