"""A new user's first contact with the command line (issue 11): every refusal is one line with exit code 2 that
says what to do, and the listings say what a task scores and what kind of run a folder holds."""

from __future__ import annotations

import pytest

#: The smallest run of each command that takes --resume (the refusals below happen before any training).
SMALL = {
    "train": ["--task", "flipflop", "--task-opt", "n_bits=1", "--task-opt", "n_time=8", "--arch", "vanilla",
              "--n-hidden", "4", "--n-networks", "2", "--steps", "5", "--batch", "4"],
    "ablate": ["--task", "flipflop", "--task-opt", "n_bits=1", "--task-opt", "n_time=8", "--arch", "lif",
               "--mechanism", "none", "--sizes", "4,8", "--n-networks", "2", "--steps", "5", "--batch", "4"],
    "specialize": ["--arch", "modular", "--inter", "0,1", "--sizes", "4", "--n-networks", "2", "--steps", "5",
                   "--batch", "4", "--trials", "8"],
}


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("command", sorted(SMALL))
def test_resume_of_a_folder_that_does_not_exist_is_refused(command, tmp_path, dynascope_main, capsys):
    out = tmp_path / "typo"
    assert dynascope_main(command, *SMALL[command], "--out", str(out), "--resume") == 2
    line = _one_line(capsys)
    assert f"{out} does not exist, so there is nothing to resume; drop --resume to start a new run there" in line
    assert not out.exists()  # no run was started in its place


def test_resume_of_a_folder_without_a_run_is_refused(tmp_path, dynascope_main, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    assert dynascope_main("train", *SMALL["train"], "--out", str(out), "--resume") == 2
    assert f"{out} holds no run (no config.toml), so there is nothing to resume; drop --resume" in _one_line(capsys)
    assert list(out.iterdir()) == []
