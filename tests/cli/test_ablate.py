"""`dynascope ablate`: end to end on a tiny case (the arms' table and the factor), and bad input refused with
one line and exit code 2 before any folder is made."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dynascope.cli import app

#: The flags of tests/pipeline/test_ablation.py's TINY config, so the two share compiled programs.
TINY = ["--task", "flipflop", "--task-opt", "n_bits=1", "--task-opt", "n_time=8", "--arch", "vanilla",
        "--mechanism", "none", "--sizes", "4,8", "--n-networks", "3", "--steps", "50", "--batch", "4", "--lr", "0.01",
        "--checkpoint-every", "50"]


def test_ablate_prints_the_arms_and_the_factor_and_resumes(tmp_path):
    out = CliRunner().invoke(app, ["ablate", *TINY, "--out", str(tmp_path / "r")], terminal_width=200)
    assert out.exit_code == 0, out.stdout
    lines = out.stdout.splitlines()
    assert sum(ln.startswith("│ with ") for ln in lines) == 2 and sum(ln.startswith("│ without ") for ln in lines) == 2
    assert "size-equivalence factor" in out.stdout and out.stdout.rstrip().endswith("1 [1, 1]")
    again = CliRunner().invoke(app, ["ablate", *TINY, "--out", str(tmp_path / "r"), "--resume"], terminal_width=200)
    assert again.exit_code == 0 and "done earlier" in again.stdout
    # `show` counts the ablation's own groups (arms × sizes), not those of its [sweep] view
    shown = CliRunner().invoke(app, ["show", str(tmp_path / "r")], terminal_width=200)
    assert shown.exit_code == 0 and "incomplete" not in shown.stdout and "vanilla.no_none-8/s002" in shown.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arch", "ctrnn", "--mechanism", "hetero_tau"],
         "mechanism 'hetero_tau' does not apply to architecture 'ctrnn': it applies to lif, alif"),
        (["--mechanism", "hetro_tau"], "unknown mechanism 'hetro_tau'. Did you mean 'hetero_tau'?"),
        (["--mechanism", "none,dale"], "--mechanism takes one mechanism per ablation, got 'none,dale'"),
        (["--mechanism", "none", "--sizes", "16,8"], "sizes must be at least two distinct sizes in increasing order, "
                                                     "got [16, 8]"),
        (["--mechanism", "none", "--n-networks", "1"], "n_networks must be at least 2 for a confidence interval over seeds"),
        (["--mechanism", "hetero_tau", "--mechanism-opt", "spread=-1"], "option spread"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(args, message, tmp_path, dynascope_main, capsys):
    assert dynascope_main("ablate", *args, "--out", str(tmp_path / "x")) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "x").exists()
