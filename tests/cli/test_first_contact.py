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


def _row(out: str, first: str) -> str:
    """The table row (one line: the consoles are wide under the tests) whose first cell is `first`."""
    [line] = [ln for ln in out.splitlines() if ln.startswith(f"│ {first} ")]
    return line


def test_the_task_listing_shows_sub_tasks_score_and_criterion(dynascope_main, capsys):
    from dynascope import tasks

    assert dynascope_main("tasks") == 0
    out = capsys.readouterr().out
    for name in tasks.names():  # every task's criterion, as the trainer applies it (population.trained)
        assert f"≥ {tasks.get(name).criterion:g}" in _row(out, name)
    row = _row(out, "sign_match")
    assert "sign A, sign B" in row and "whose output has the sign of s_A·s_B" in row and "`[B]`" not in row
    assert "Fraction of scored steps and bits whose output has the sign of the target" in _row(out, "flipflop")
    assert "≥ 0.95" in _row(out, "flipflop") and "≥ 0.85" in _row(out, "cdi")
    assert "1 − relative error of the produced Go time" in _row(out, "rsg") and "(see" not in _row(out, "rsg")
    assert "1 − masked mean squared error / variance of the targets" in _row(out, "sinewave")  # the default score
    assert "Poisson deviance explained" in _row(out, "recording")


def test_one_task_shows_its_sub_tasks_score_and_criterion(dynascope_main, capsys):
    assert dynascope_main("tasks", "sign_match") == 0
    out = capsys.readouterr().out
    assert "sign A, sign B" in _row(out, "sub-tasks") and "2 (stream A, stream B)" in _row(out, "inputs")
    assert "Fraction of response-epoch steps whose output has the sign of s_A·s_B" in _row(out, "score")
    assert "a network whose mean score reaches 0.9 (the task's criterion)" in _row(out, "trained")
    assert "stimulus_ms" in out  # the options table follows
    assert dynascope_main("tasks", "flipflop") == 0
    out = capsys.readouterr().out
    assert "–" in _row(out, "sub-tasks") and "reaches 0.95" in _row(out, "trained")


def test_runs_names_the_kind_of_each_run(tmp_path, dynascope_main, capsys):
    """Folders as each command creates them before training (config.toml, no group yet): `runs` says which command
    wrote each, and so which one continues it."""
    from dynascope.pipeline import AblationConfig, SpecializationConfig, SweepConfig, prepare_run, written_by
    from dynascope.train import TrainOptions

    tiny = TrainOptions(batch_size=4)
    configs = {
        "t": SweepConfig(task="flipflop", archs=("vanilla",), n_hidden=(4,), n_networks=2, steps=5, train=tiny),
        "a": AblationConfig(task="flipflop", arch="lif", mechanism="none", sizes=(4, 8), n_networks=2, steps=5,
                            train=tiny),
        "s": SpecializationConfig(archs=("modular",), inter_fractions=(0.0, 1.0), sizes=(4,), n_networks=2, steps=5,
                                  n_trials=8, train=tiny),
    }
    for name, config in configs.items():
        prepare_run(config, tmp_path / name)
    toml = tmp_path / "a" / "config.toml"
    toml.write_text(toml.read_text().replace("n_networks = 2", "n_networks = -7", 1))
    assert dynascope_main("runs", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "┃ kind " in out
    assert _row(out, str(tmp_path / "t")).split("│")[2].strip() == "train"
    assert _row(out, str(tmp_path / "s")).split("│")[2].strip() == "specialize"
    assert "rerun the specialize command with --resume" in _row(out, str(tmp_path / "s"))
    damaged = _row(out, str(tmp_path / "a"))  # a config that no longer opens still says who wrote it
    assert damaged.split("│")[2].strip() == "ablate" and "damaged" in damaged
    assert [written_by(c.to_dict()) for c in configs.values()] == ["train", "ablate", "specialize"]


def test_resume_by_another_command_names_the_one_that_wrote_the_folder(tmp_path, dynascope_main, capsys):
    from dynascope.pipeline import AblationConfig, prepare_run
    from dynascope.train import TrainOptions

    prepare_run(AblationConfig(task="flipflop", arch="lif", mechanism="none", sizes=(4, 8), n_networks=2, steps=5,
                               train=TrainOptions(batch_size=4)), tmp_path / "a")
    assert dynascope_main("train", *SMALL["train"], "--out", str(tmp_path / "a"), "--resume") == 2
    assert "holds a run written by `dynascope ablate`, which `dynascope train` cannot continue" in _one_line(capsys)


@pytest.mark.parametrize(("command", "args", "message"), [
    ("specialize", ["--inter", "0,2"], "--inter (inter_fractions) must be distinct, increasing and within [0, 1], "
                                       "got [0.0, 2.0]; e.g. --inter 0,0.1,0.3,1."),
    ("specialize", ["--trials", "4"], "--trials (n_trials) must be at least 8"),
    ("train", ["--arch", "gru", "--rule", "eprop"], "--rule eprop (rule='eprop') trains the spiking models lif and "
                                                     "alif (and models built on them), got 'gru'; use --arch lif or alif "
                                                     "with --rule eprop, or --rule bptt (rule='bptt') for 'gru'."),
    ("train", ["--batch", "0"], "--batch (batch_size) must be a positive integer, got 0."),
    ("train", ["--noise", "-1"], "--noise (state_noise) must be a finite number ≥ 0, got -1.0."),
    ("ablate", ["--lr", "0"], "--lr (learning_rate) must be positive, got 0.0."),
    ("ablate", ["--rule", "eprop", "--checkpoint-steps", "5"],
     "--checkpoint-steps 5 (checkpoint_steps=5) checkpoints backpropagation through time, but --rule eprop"),
])
def test_refusals_name_the_flag_and_the_python_name(command, args, message, tmp_path, dynascope_main, capsys):
    out = tmp_path / "r"
    assert dynascope_main(command, *SMALL[command], *args, "--out", str(out)) == 2
    assert message in _one_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize("arch", ["modular", "modular_lif"])
def test_inputs_a_that_leaves_module_b_without_input_is_refused(arch, tmp_path, dynascope_main, capsys):
    """sign_match has 2 input channels: inputs_a=2 would give both to module A and train B on nothing."""
    out = tmp_path / "r"
    small = [a if a != "modular" else arch for a in SMALL["specialize"]]
    assert dynascope_main("specialize", *small, "--model-opt", "inputs_a=2", "--out", str(out)) == 2
    line = _one_line(capsys)
    assert f"{arch}: inputs_a=2 gives all 2 input channels to module A, which leaves module B no input" in line
    assert "pass at most 1 (e.g. --model-opt inputs_a=1)" in line and not out.exists()
    # inputs_a=1 (one stream per module, the default here) is accepted.
    from dynascope import models

    assert models.get(arch, n_inputs=2, n_hidden=4, n_outputs=1, inputs_a=1).inputs_a == 1
    models.get(arch, n_inputs=1, n_hidden=4, n_outputs=1, inputs_a=1)  # one channel: it can only drive A


def test_a_network_that_cannot_be_measured_is_named_not_dropped(tmp_path, dynascope_main, capsys):
    """A network whose activity is not finite (its input weights set to NaN after training) gets a 'skipped' row,
    the summary names it, and `specialize` prints it in one line instead of counting one network fewer."""
    import numpy as np

    from dynascope import store
    from dynascope.pipeline import SpecializationConfig, specialization_summary
    from dynascope.pipeline.specialization import measure_group
    from dynascope.store import SpecializationRows

    out = tmp_path / "r"
    flags = [*SMALL["specialize"][:3], "1", *SMALL["specialize"][4:], "--snapshot-every", "0"]  # one fraction
    assert dynascope_main("specialize", *flags, "--out", str(out)) == 0
    assert "not measured" not in capsys.readouterr().out
    run = store.open(out)
    group = "modular.inter1-4"
    params, meta = run.read_weights(group)
    params["W_in"][1] = np.nan  # network s001: NaN input weights make its activity NaN from the first step
    with run.writing():
        run.write_weights(group, params, meta)
    config = SpecializationConfig.from_dict(run.config)
    rows = measure_group(run, config, group, "modular", 1.0)
    flagged = [(n, s, mo, su, sc) for n, s, m, mo, su, sc in zip(rows.network, rows.step, rows.measure, rows.module,
                                                                  rows.subtask, rows.score) if m == "skipped"]
    assert flagged == [(f"{group}/s001", 5, -1, "", None)]
    assert f"{group}/s001" not in {n for n, m in zip(rows.network, rows.measure) if m != "skipped"}
    [shard] = run.shards(SpecializationRows)
    shard.unlink()  # measured again by the resumed command
    assert dynascope_main("specialize", *flags, "--out", str(out), "--resume") == 0
    said = capsys.readouterr().out
    lines = [ln for ln in said.splitlines() if "not measured" in ln]
    assert len(lines) == 1 and "1 network(s) diverged in training or had activity that is not finite" in lines[0]
    assert lines[0].endswith(f"{group}/s001 (step 5)")
    summary = specialization_summary(run)
    assert summary.skipped == [(f"{group}/s001", 5)] and summary.networks == [f"{group}/s000"]
    assert summary.map[0]["networks"] == 1


def test_model_options_can_be_given_to_one_architecture(tmp_path, dynascope_main, capsys):
    """`--model-opt ARCH.KEY=VALUE` reaches that architecture only (a sparse lif beside a dense one is what a
    reviewer could not ask for), wins over KEY=VALUE for it, and names a missing architecture in one line."""
    import tomllib

    out = tmp_path / "run"
    assert dynascope_main("train", "--task", "flipflop", "--arch", "lif,alif", "--n-hidden", "4", "--steps", "2",
                          "--n-networks", "1", "--model-opt", "lif.sparse=true", "--model-opt", "connectivity=0.5",
                          "--model-opt", "alif.connectivity=0.75", "--out", str(out)) == 0
    options = tomllib.loads((out / "config.toml").read_text())["model_options"]
    assert options == {"lif": {"sparse": True, "connectivity": 0.5}, "alif": {"connectivity": 0.75}}
    capsys.readouterr()
    assert dynascope_main("train", "--task", "flipflop", "--arch", "lif", "--model-opt", "gru.gain=2",
                          "--out", str(tmp_path / "other")) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "names architecture 'gru', which is not in --arch (lif)" in err[0]
    assert not (tmp_path / "other").exists()
