"""`dynascope ablate`: end to end on a tiny case (the arms' table and the factor), and bad input refused with
one line and exit code 2 before any folder is made."""

from __future__ import annotations

import dataclasses

import pytest
from typer.testing import CliRunner

from dynascope.cli import app
from dynascope.pipeline import Arm, Mechanism, mechanisms

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
    assert "ablation.arms.with" in shown.stdout and "ablation.arms.without" in shown.stdout  # one mechanism's arms


@dataclasses.dataclass(frozen=True)
class HalfGain(Mechanism):
    """A rate-network mechanism (initial recurrent weights at half scale) whose arm without is TINY's model."""

    name = "test_gain"
    archs = ("vanilla",)

    def split(self, arch, options):
        return Arm(arch, {**options, "gain": 0.5}), Arm(arch, dict(options))


def test_ablate_prints_one_block_per_mechanism(tmp_path, monkeypatch):
    monkeypatch.setitem(mechanisms._MECHANISMS._entries, "test_gain", HalfGain)
    args = [a if a != "none" else "none,test_gain" for a in TINY]
    out = CliRunner().invoke(app, ["ablate", *args, "--out", str(tmp_path / "r")], terminal_width=200)
    assert out.exit_code == 0, out.stdout
    factors = [ln for ln in out.stdout.splitlines() if ln.startswith("size-equivalence factor")]
    assert len(factors) == 2 and "without none needs" in factors[0] and factors[0].endswith("1 [1, 1]")
    assert "without test_gain needs" in factors[1]
    # A factor that is a bound ('> 2', '< 0.5') is said to be one on the next line, and only then.
    lines = out.stdout.splitlines()
    for i, ln in enumerate(lines):
        if ln.startswith("size-equivalence factor"):
            bound = ln.rsplit(": ", 1)[1][0] in "<>"
            after = lines[i + 1] if i + 1 < len(lines) else ""
            assert after.startswith("  a bound, not a measurement") == bound, lines[i:i + 2]
    # each block: the mechanism's arm with and the shared arm without, at both sizes
    assert sum(ln.startswith("│ with ") for ln in out.stdout.splitlines()) == 4
    assert sum(ln.startswith("│ without ") for ln in out.stdout.splitlines()) == 4
    # `show` lists every mechanism's arms with their options, not only the first arm's model options
    shown = CliRunner().invoke(app, ["show", str(tmp_path / "r")], terminal_width=200).stdout
    arms = [ln.split("│")[1].strip() for ln in shown.splitlines() if "ablation.arms." in ln]
    assert arms == [f"ablation.arms.{m}.{side}" for m in ("none", "test_gain") for side in ("with", "without")]
    assert "model_options.vanilla" not in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arch", "ctrnn", "--mechanism", "hetero_tau"],
         "mechanism 'hetero_tau' does not apply to architecture 'ctrnn': it applies to lif, alif"),
        (["--mechanism", "hetro_tau"], "unknown mechanism 'hetro_tau'. Did you mean 'hetero_tau'?"),
        (["--mechanism", "none,dale", "--mechanism-opt", "e_fraction=0.5"],
         "mechanism option 'e_fraction' does not say which of the mechanisms none, dale"),
        (["--mechanism", "none,dale", "--mechanism-opt", "hetero_tau.spread=1"],
         "names mechanism 'hetero_tau', which is not one of this ablation's mechanisms (none, dale)"),
        (["--mechanism", "none,dale", "--mechanism-opt", "dale.spread=1"], "spread"),
        (["--mechanism", "dale,none,dale"], "mechanism lists a mechanism twice"),
        (["--mechanism", "none", "--sizes", "16,8"], "--sizes must be at least two distinct sizes in increasing order, "
                                                     "got [16, 8]"),
        (["--mechanism", "none", "--n-networks", "1"], "--n-networks (n_networks) must be at least 2 for a confidence interval over seeds"),
        (["--mechanism", "hetero_tau", "--mechanism-opt", "spread=-1"], "option spread"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(args, message, tmp_path, dynascope_main, capsys):
    assert dynascope_main("ablate", *args, "--out", str(tmp_path / "x")) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "x").exists()


def test_the_help_lists_every_registered_mechanism():
    from dynascope.cli.ablation import MECHANISMS
    from dynascope.pipeline import mechanism_names

    assert sorted(MECHANISMS.split(", ")) == sorted(n for n in mechanism_names() if not n.startswith("test_"))
