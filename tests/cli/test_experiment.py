"""`dynascope experiment`: one tiny experiment end to end (files written, the theory column equal to the
closed-form sigmoid written out here, the simulation on it), and bad input refused with one line, exit 2."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from dynascope.cli import app
from dynascope.cli._app import _run


def test_deeplinear_experiment_writes_figures_numbers_and_report(tmp_path, monkeypatch):
    from dynascope.cli._display import console

    monkeypatch.setattr(console, "width", 200)
    out = CliRunner().invoke(app, ["experiment", "deeplinear", "--out", str(tmp_path / "e"), "--steps", "400",
                                   "--n-networks", "1"], terminal_width=200)
    assert out.exit_code == 0, out.stdout
    assert "max |simulation − theory|" in out.stdout and "wrote 4 files" in out.stdout
    files = {p.name for p in (tmp_path / "e").iterdir()}
    assert files == {"deeplinear_modes.png", "deeplinear_twin.png", "numbers.csv", "report.html"}
    page = (tmp_path / "e" / "report.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 2 and "<script src=" not in page
    with open(tmp_path / "e" / "numbers.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["series"] == "mode s=3"]
    t = np.array([float(r["x"]) for r in rows])
    sim, theory = (np.array([float(r[c]) for r in rows]) for c in ("simulated", "theory"))
    # u(t) = s e^{2st} / (e^{2st} − 1 + s/u0), s = 3, u0 = a0² = 0.05², over the 8 time units the command runs
    growth = np.exp(2 * 3.0 * t)
    np.testing.assert_allclose(theory, 3.0 * growth / (growth - 1 + 3.0 / 0.05**2), rtol=1e-9)
    assert t[-1] == pytest.approx(8.0) and sim[-1] == pytest.approx(3.0, abs=1e-3)
    # 400 steps (η = 0.02): gradient descent lags the flow by O(η s) per unit time; 0.15 of s = 3 at most
    assert np.max(np.abs(sim - theory)) < 0.15


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["overtraining"], "unknown experiment 'overtraining'; choose one of deeplinear, semantic"),
        (["deeplinear", "--steps", "-5"], "--steps"),
        (["replay", "--n-networks", "0"], "--n-networks"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["dynascope", "experiment", *args, "--out", str(tmp_path / "x")])
    assert _run() == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "x").exists()
