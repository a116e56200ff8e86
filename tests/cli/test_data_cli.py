"""`dynascope data synth`: writes an NWB file that reads back; bad input is one line with exit code 2 and
writes nothing; an existing file is kept unless --force."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from dynascope.cli import app

pytest.importorskip("pynwb")
runner = CliRunner()
SMALL = ["--system", "flipflop", "--system-opt", "n_bits=2", "--system-opt", "n_time=30", "--system-opt", "switch=false",
         "--neurons", "16", "--trials", "48"]


def run_cli(dynascope_main, capsys, *args: str) -> tuple[int, list[str]]:
    """The `dynascope` command in-process, as `main` runs it: (exit code, non-empty lines of stderr)."""
    code = dynascope_main(*args)
    return code, [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def test_synth_writes_a_recording_that_reads_back(tmp_path):
    from dynascope import data

    out = tmp_path / "rec.nwb"
    res = runner.invoke(app, ["data", "synth", *SMALL, "--out", str(out), "--seed", "2"], terminal_width=200)
    assert res.exit_code == 0, res.stdout
    assert "48 trials of 4 conditions, 16 neurons" in res.stdout and "9 fixed points (4 stable)" in res.stdout
    rec = data.read_synthetic(out)
    assert rec.counts.shape == (48, 30, 16) and rec.system == "flipflop" and rec.options["switch"] is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.nwb"]
    res = runner.invoke(app, ["data", "synth", *SMALL, "--out", str(out), "--seed", "5", "--force"], terminal_width=200)
    assert res.exit_code == 0, res.stdout
    assert not np.array_equal(data.read_synthetic(out).counts, rec.counts)  # replaced by the new seed's spikes
    listing = runner.invoke(app, ["data", "systems"], terminal_width=200)
    assert listing.exit_code == 0 and all(n in listing.stdout for n in data.system_names())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "rec.txt"], "--out must be a file name ending in .nwb, got 'rec.txt'"),
        (["--out", "here.nwb", "--system", "flipflp"], "unknown system 'flipflp'. Did you mean 'flipflop'?"),
        (["--out", "here.nwb", "--neurons", "0"], "--neurons must be a positive integer, got 0"),
        (["--out", "here.nwb", "--system-opt", "n_bits=0"], "system 'flipflop': option n_bits must be an integer > 0"),
        (["--out", "here.nwb", "--system-opt", "pulse_steps=1"], "too short to flip a bit"),
        (["--out", "here.nwb", "--link", "relu"], "link must be one of 'softplus', 'exp', got 'relu'"),
        (["--out", "taken.nwb"], "--out 'taken.nwb' already exists; choose another file name or pass --force"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2_and_writes_nothing(args, message, tmp_path, monkeypatch, capsys,
                                                                   dynascope_main):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken.nwb").write_bytes(b"keep")
    code, lines = run_cli(dynascope_main, capsys, "data", "synth", "--trials", "4", *args)
    assert code == 2
    assert len(lines) == 1 and message in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.nwb"]
    assert (tmp_path / "taken.nwb").read_bytes() == b"keep"
