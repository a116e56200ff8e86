"""`dynascope train --snapshot-every` then `dynascope analyze --over-training`: the table of when each network's
final structure appeared; a run without snapshots is one line, exit 2."""

from __future__ import annotations

from typer.testing import CliRunner

from dynascope.cli import app
from dynascope.errors import ConfigError

runner = CliRunner()
TINY = ["--task", "flipflop", "--task-opt", "n_bits=1", "--task-opt", "n_time=12", "--arch", "vanilla",
        "--n-hidden", "4", "--n-networks", "2", "--steps", "20", "--batch", "4", "--lr", "0.02",
        "--checkpoint-every", "10"]


def test_snapshots_then_the_analysis_over_training(tmp_path):
    out = runner.invoke(app, ["train", *TINY, "--snapshot-every", "10", "--out", str(tmp_path / "r")])
    assert out.exit_code == 0, out.output
    assert sorted(p.name for p in (tmp_path / "r" / "snapshots").iterdir()) == ["vanilla-4.safetensors"]
    out = runner.invoke(app, ["analyze", str(tmp_path / "r"), "--over-training", "--n-initial-states", "8"])
    assert out.exit_code == 0, out.output
    assert "when the final structure appeared" in out.output and "count settled at step" in out.output
    assert "vanilla-4/s001" in out.output


def test_over_training_without_snapshots_says_how_to_keep_them(tmp_path):
    assert runner.invoke(app, ["train", *TINY, "--steps", "2", "--out", str(tmp_path / "r")]).exit_code == 0
    out = runner.invoke(app, ["analyze", str(tmp_path / "r"), "--over-training"])
    assert isinstance(out.exception, ConfigError) and "--snapshot-every" in str(out.exception)
