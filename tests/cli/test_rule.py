"""`--rule eprop` on the command line: refused in one line (exit 2) for a model e-prop cannot train."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("args", "message"), [
    (["train", "--arch", "gru", "--rule", "eprop"], "--rule eprop (rule='eprop') trains the spiking models lif and alif"),
    (["ablate", "--arch", "gru", "--mechanism", "none", "--rule", "eprop"], "got 'gru'"),
    (["train", "--arch", "lif", "--rule", "backprop"], "--rule (rule) must be one of 'bptt', 'eprop'"),
])
def test_a_rule_the_model_cannot_use_is_one_line_with_exit_code_2(args, message, tmp_path, dynascope_main, capsys):
    assert dynascope_main(*args, "--steps", "1", "--out", str(tmp_path / "x")) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0], err
    assert not (tmp_path / "x").exists()
