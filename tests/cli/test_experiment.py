"""`dynascope experiment`: one tiny experiment end to end (files written, the theory column equal to the
closed-form sigmoid written out here, the simulation on it), and bad input refused with one line, exit 2."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dynascope.cli import app


def test_deeplinear_experiment_writes_figures_numbers_and_report(tmp_path):
    out = CliRunner().invoke(app, ["experiment", "deeplinear", "--out", str(tmp_path / "e"), "--steps", "400",
                                   "--n-networks", "1"], terminal_width=200)
    assert out.exit_code == 0, out.stdout
    assert "max |simulation − theory|" in out.stdout and "wrote 6 files" in out.stdout
    files = {p.name for p in (tmp_path / "e").iterdir()}
    assert files == {"deeplinear_modes.png", "deeplinear_twin.png", "deeplinear_depth_scan.png", "numbers.csv",
                     "numbers.parquet", "report.html"}
    page = (tmp_path / "e" / "report.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 3 and "<script src=" not in page
    # The Parquet table holds the very rows of the CSV, typed (read back with pandas, not our writer).
    table = pd.read_parquet(tmp_path / "e" / "numbers.parquet")
    assert list(table.columns) == ["series", "x", "simulated", "theory"] and table["x"].dtype == np.float64
    csv_table = pd.read_csv(tmp_path / "e" / "numbers.csv")
    pd.testing.assert_frame_equal(table, csv_table, check_exact=True)
    # Depth scan: the slope of log(time) against log(a0) at N_l = 5 is −(N_l − 3) = −2 (Saxe et al. 2014), fitted
    # here from the written numbers; the orthogonal start (a0 = 1) at N_l = 3 takes depth × time
    # = 2 · ln(u_f (s − 1) / (s − u_f)) / (2s), s = 3, u_f = 0.9 s, the one-hidden-layer closed form.
    deep = table[table["series"] == "time to learn, N_l=5"]
    assert np.polyfit(np.log(deep["x"]), np.log(deep["simulated"]), 1)[0] == pytest.approx(-2.0, abs=0.1)
    ortho = table[table["series"] == "depth x time to learn, a0=1"].set_index("x")
    assert ortho.loc[3.0, "theory"] == pytest.approx(np.log(2.7 * 2.0 / 0.3) / 3.0, rel=1e-8)
    assert ortho.loc[3.0, "simulated"] == pytest.approx(ortho.loc[3.0, "theory"], rel=0.03)
    # Depth-independent from a0 = 1: it falls with depth towards its D → ∞ limit ∫_1^{u_f} du / (u² (s − u))
    # = (1 − 1/u_f)/s + ln(u_f)/s² + ln((s − 1)/(s − u_f))/s² ≈ 0.531 and never grows; from a0 = 0.3 it grows
    # over 10-fold between N_l = 3 and 7.
    limit = (1 - 1 / 2.7) / 3 + np.log(2.7) / 9 + np.log(2.0 / 0.3) / 9
    assert np.all(np.diff(ortho["theory"]) < 0) and ortho["theory"].min() > limit
    np.testing.assert_allclose(ortho["simulated"], ortho["theory"], rtol=0.03)
    small = table[table["series"] == "depth x time to learn, a0=0.3"]["simulated"].to_numpy()
    assert small[-1] > 10 * small[0]
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
def test_bad_input_is_one_line_with_exit_code_2(args, message, tmp_path, dynascope_main, capsys):
    assert dynascope_main("experiment", *args, "--out", str(tmp_path / "x")) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "x").exists()
