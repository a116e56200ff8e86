"""Damaged run folders on the command line: `runs` lists them as damaged instead of aborting, `show`,
`analyze` and `report` refuse an invalid config naming the key and value, and `train --resume` retrains a
group whose weights were damaged instead of calling it done."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
import tomli_w
from safetensors.numpy import load_file
from typer.testing import CliRunner

from dynascope.cli import app
from dynascope.errors import RunFolderError

runner = CliRunner()
TINY = ["--task", "flipflop", "--task-opt", "n_bits=1", "--task-opt", "n_time=8", "--arch", "vanilla",
        "--n-hidden", "4", "--n-networks", "2", "--steps", "20", "--batch", "4", "--lr", "0.01", "--checkpoint-every", "10"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "good"
    res = runner.invoke(app, ["train", *TINY, "--out", str(out)])
    assert res.exit_code == 0, res.stdout
    return out


def _copy(trained, where):
    shutil.copytree(trained, where)
    return where


def _flip_weights(run):
    path = run / "weights" / "vanilla-4.safetensors"
    row = load_file(str(path))["W_rec"][0, 0]
    data = path.read_bytes()
    assert data.count(row.tobytes()) == 1
    path.write_bytes(data.replace(row.tobytes(), (row + 1).tobytes()))


def _bad_config(run, key, value):
    doc = tomllib.loads((run / "config.toml").read_text())
    doc["sweep"][key] = value
    (run / "config.toml").write_text(tomli_w.dumps(doc))


def test_runs_lists_damaged_runs_and_every_other_one(trained, tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    _copy(trained, root / "a-good")
    _flip_weights(_copy(trained, root / "b-flipped"))  # weights are checked too, not only the catalog
    shard = _copy(trained, root / "c-shard") / "catalog" / "networks" / "vanilla-4.parquet"
    shard.write_bytes(shard.read_bytes()[:-10])
    _bad_config(_copy(trained, root / "d-config"), "task", "nosuchtask")
    res = runner.invoke(app, ["runs", str(root)])
    assert res.exit_code == 0, res.stdout
    lines = {ln.split("│")[1].strip(): ln for ln in res.stdout.splitlines() if "│" in ln and str(root) in ln}
    assert sorted(lines) == [str(root / n) for n in ("a-good", "b-flipped", "c-shard", "d-config")]
    assert " ok " in lines[str(root / "a-good")] and "flipflop" in lines[str(root / "a-good")]
    assert "damaged:" in lines[str(root / "c-shard")] and "vanilla-4.parquet is corrupt" in lines[str(root / "c-shard")]
    assert "damaged:" in lines[str(root / "d-config")] and "unknown task 'nosuchtask'" in lines[str(root / "d-config")]
    assert "damaged:" in lines[str(root / "b-flipped")] and "vanilla-4.safetensors" in lines[str(root / "b-flipped")]


def test_runs_and_show_name_missing_files_and_interrupted_training(trained, tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    (_copy(trained, root / "a-missing") / "weights" / "vanilla-4.safetensors").unlink()
    cut = _copy(trained, root / "b-cut")  # as a run killed before its first group finished looks
    for sub in ("weights", "catalog"):
        shutil.rmtree(cut / sub)
    (cut / "manifest.json").unlink()
    res = runner.invoke(app, ["runs", str(root)])
    assert res.exit_code == 0, res.stdout
    lines = {ln.split("│")[1].strip(): ln for ln in res.stdout.splitlines() if "│" in ln and str(root) in ln}
    assert "damaged:" in lines[str(root / "a-missing")] and "vanilla-4.safetensors is missing" in lines[str(root / "a-missing")]
    assert "incomplete: 0 of 1 groups trained (missing vanilla-4); rerun the train command with --resume" in lines[str(root / "b-cut")]
    res = runner.invoke(app, ["show", str(cut)])
    assert res.exit_code == 0 and "incomplete: 0 of 1 groups trained" in res.stdout
    assert "task_options.n_bits" in res.stdout  # the options a run was trained with are shown


@pytest.mark.parametrize("command", [["analyze"], ["compare", "--all"], ["report"]])
def test_commands_refuse_damaged_weights_before_any_work(trained, tmp_path, command):
    # Without --force nothing needs recomputing, which hid the damage (exit 0 with cached tables).
    run = _copy(trained, tmp_path / "r")
    _flip_weights(run)
    before = sorted(p.name for p in (run / "catalog").iterdir())
    res = runner.invoke(app, [command[0], str(run), *command[1:]])
    assert res.exit_code != 0 and isinstance(res.exception, RunFolderError)
    assert "vanilla-4.safetensors" in str(res.exception) and "--resume" in str(res.exception)
    assert sorted(p.name for p in (run / "catalog").iterdir()) == before  # nothing was written


def test_show_lists_damaged_files_and_exits_2(trained, tmp_path):
    run = _copy(trained, tmp_path / "r")
    _flip_weights(run)
    res = subprocess.run([sys.executable, "-m", "dynascope", "show", str(run)], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "COLUMNS": "2000"})
    assert res.returncode == 2 and "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "1 damaged file(s) in" in lines[0], res.stderr
    assert "vanilla-4.safetensors is corrupt" in lines[0] and "--resume" in lines[0]
    assert "damaged files in" in res.stdout


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("task", "nosuchtask", "unknown task 'nosuchtask'"),
     ("n_networks", -7, "--n-networks (n_networks) must be a positive integer, got -7"),
     ("n_hidden", ["big", 8], "sweep.n_hidden = ['big', 8] is not a list of integers")],
)
@pytest.mark.parametrize("command", [["show"], ["analyze"], ["report"]])
def test_show_analyze_and_report_refuse_an_invalid_config(trained, tmp_path, key, value, message, command):
    run = _copy(trained, tmp_path / "r")
    _bad_config(run, key, value)
    res = runner.invoke(app, [*command, str(run)])
    assert isinstance(res.exception, RunFolderError), res.stdout
    assert message in str(res.exception) and "invalid config" in str(res.exception)
    assert not (run / "report.html").exists() and not (run / "catalog" / "skeletons").exists()


def test_train_resume_retrains_a_group_with_damaged_weights(trained, tmp_path):
    run = _copy(trained, tmp_path / "r")
    good = (run / "weights" / "vanilla-4.safetensors").read_bytes()
    _flip_weights(run)
    res = runner.invoke(app, ["train", *TINY, "--out", str(run), "--resume"])
    assert res.exit_code == 0, res.stdout
    assert "done earlier" not in res.stdout and re.search(r"\d/2 trained", res.stdout)  # status after training
    assert (run / "weights" / "vanilla-4.safetensors").read_bytes() == good
    again = runner.invoke(app, ["train", *TINY, "--out", str(run), "--resume"])
    assert again.exit_code == 0 and "done earlier" in again.stdout
