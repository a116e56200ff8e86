"""The benchmark of the shipped recording, `flipflop3@1`: registered, its conditions those of the file (8 end
patterns of 24 trials), and `dynascope score RUN --benchmark flipflop3@1` scores networks that take the
flip-flop's 3 inputs; --recordings and --benchmark together, or an unknown benchmark, are one line, exit 2."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from dynascope import data, models, pipeline, store, tasks
from dynascope.pipeline import SweepConfig
from dynascope.store.schema import ScoreRows
from dynascope.train import Population, TrainOptions

pytest.importorskip("pynwb")


def test_the_shipped_benchmark_reads_its_recording():
    bench = pipeline.get_benchmark("flipflop3@1")
    assert "flipflop3@1" in pipeline.benchmark_names() and bench.recording == data.shipped_recording("flipflop3")
    rec = data.read_trials(bench.recording, condition_column=bench.condition_column)
    labels, counts = np.unique(rec.labels, return_counts=True)
    assert len(labels) == 8 and set(counts) == {24} and rec.inputs.shape[-1] == 3


def test_the_cli_scores_a_run_against_it(tmp_path, dynascope_main, capsys):
    config = SweepConfig(task="flipflop", archs=("gru",), n_hidden=(4,), n_networks=2, steps=1,
                         task_options={"n_bits": 3}, train=TrainOptions(batch_size=4))
    run = pipeline.prepare_run(config, tmp_path / "run")
    model = models.get("gru", n_inputs=3, n_hidden=4, n_outputs=3)
    params = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 2))
    n = 2  # initial weights: scoring does not care how the networks were made
    pipeline.save_population(run, "gru-4", Population(
        task=tasks.get("flipflop", n_bits=3), model=model, params=params, seeds=np.arange(n),
        learning_rates=np.full(n, 1e-3), loss_history=np.zeros((n, 1), np.float32), final_loss=np.ones(n),
        metric=np.zeros(n), trained=np.zeros(n, bool), diverged=np.zeros(n, bool), stopped_at=np.ones(n, np.int64),
        seconds=0.0, options=config.train))
    assert dynascope_main("score", str(tmp_path / "run"), "--benchmark", "flipflop3@1", "--metrics", "cca,fit_r2",
                          "--bootstrap", "4", "--all") == 0
    out = capsys.readouterr().out
    assert "flipflop3@1" in out and "8 conditions" in out
    scores = store.open(tmp_path / "run").read(ScoreRows, shard="flipflop3@1")
    assert sorted(set(scores.metric)) == ["cca", "fit_r2"] and set(scores.network) >= {"gru-4/s000", "gru-4/s001"}
    capsys.readouterr()
    # without --all, untrained networks are left out, and with none left the message says why and what to do
    assert dynascope_main("score", str(tmp_path / "run"), "--benchmark", "flipflop3@1", "--bootstrap", "4") == 2
    err = capsys.readouterr().err
    assert "2 did not reach the task's criterion" in err and "--all" in err
    assert dynascope_main("score", str(tmp_path / "run"), "--metrics", "cca") == 2  # no recording to score against
    assert "--metrics applies to scoring against --recordings" in capsys.readouterr().err
    assert dynascope_main("score", str(tmp_path / "run"), "--benchmark", "flipflop3@1", "--recordings",
                          "x.nwb") == 2
    assert dynascope_main("score", str(tmp_path / "run"), "--benchmark", "flipflop9@1") == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 2 and "not both" in err[0] and "flipflop3@1" in err[1]


def test_metrics_without_a_ranking_are_not_said_to_disagree():
    from dynascope.pipeline.score import agreement_statements
    from dynascope.store.schema import ScoreAgreementRows

    one = ScoreRows(benchmark=["b", "b"], version=["1", "1"], metric=["cca", "rsa"], level=["network"] * 2,
                    network=["n/s000"] * 2, group=["n"] * 2, arch=["gru"] * 2, raw=[0.5, 0.5], ceiling=[1.0, 1.0],
                    normalised=[0.5, 0.5], low=[0.4, 0.4], high=[0.6, 0.6], rank=[1, 1])
    agree = ScoreAgreementRows(benchmark=["b"], metric_a=["cca"], metric_b=["rsa"], kendall_tau=[None],
                               p_value=[None], disagree=[True])
    (line,) = agreement_statements(one, agree)
    assert "disagree" not in line and "no ranking to compare" in line


def test_options_read_python_booleans_and_a_recording_file_is_stored_absolute(tmp_path, monkeypatch, dynascope_main):
    from dynascope.cli.commands import recording_path

    # 'False' as Python writes it (TOML's is 'false'): one pulse per trial, so no 'start>end' conditions
    assert dynascope_main("data", "synth", "--system", "flipflop", "--neurons", "4", "--trials", "4",
                          "--system-opt", "switch=False", "--out", str(tmp_path / "one.nwb")) == 0
    assert not any(">" in c for c in data.read_trials(tmp_path / "one.nwb").labels)
    monkeypatch.chdir(tmp_path)
    assert recording_path({"recording": "rec.nwb"}) == {"recording": str(tmp_path / "rec.nwb")}
    assert recording_path({"recording": "flipflop3"}) == {"recording": "flipflop3"}  # a shipped name stays
