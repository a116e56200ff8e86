"""An ablation of the no-op mechanism trains two identical arms (same weights, same scores, factor 1), writes
its rows, resumes after an interruption to the same result, and refuses a folder of another config."""

from __future__ import annotations

import numpy as np
import pytest

from dynascope import store
from dynascope.errors import RunFolderError
from dynascope.pipeline import AblationConfig, ablation_summary, run_ablation
from dynascope.store import AblationRows, EnergyRows, NetworkRows
from dynascope.train import TrainOptions

#: Tiny: one 50-step program per size; tests/cli/test_ablate.py runs the same flags, so the programs are shared.
TINY = AblationConfig(task="flipflop", arch="vanilla", mechanism="none", sizes=(4, 8), n_networks=3, steps=50,
                      task_options={"n_bits": 1, "n_time": 8},
                      train=TrainOptions(batch_size=4, learning_rate=0.01, checkpoint_every=50))


@pytest.fixture(scope="module")
def ablated(tmp_path_factory):
    return run_ablation(TINY, tmp_path_factory.mktemp("ablation") / "run")


def test_the_no_op_mechanism_gives_identical_arms_and_a_factor_of_one(ablated):
    groups = [g for g, *_ in TINY.groups()]
    assert groups == ["vanilla.none-4", "vanilla.no_none-4", "vanilla.none-8", "vanilla.no_none-8"]
    assert sorted(ablated.groups()) == sorted(groups)
    for n in TINY.sizes:
        a, b = TINY.group("with", n), TINY.group("without", n)
        # same key, same seeds: the same initial weights and data, hence bit-identical trained weights
        wa, wb = ablated.read_weights(a)[0], ablated.read_weights(b)[0]
        assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
        assert ablated.read(NetworkRows, shard=a).metric == ablated.read(NetworkRows, shard=b).metric
        ra, rb = ablated.read(AblationRows, shard=a), ablated.read(AblationRows, shard=b)
        assert (ra.arm, rb.arm) == (["with"], ["without"]) and ra.n_hidden == [n] and ra.n_networks == [3]
        for col in ("score_mean", "score_low", "score_high", "operations_per_trial"):
            assert getattr(ra, col) == getattr(rb, col)
        # the score's interval brackets the mean of the networks table's scores
        metric = np.mean(ablated.read(NetworkRows, shard=a).metric)
        assert ra.score_mean[0] == pytest.approx(metric) and ra.score_low[0] <= ra.score_mean[0] <= ra.score_high[0]
        # a rate network's operations: its nonzero weights (W, U, W_out) per step, n_time steps
        energy = ablated.read(EnergyRows, shard=a)
        assert ra.operations_per_trial[0] == pytest.approx(np.mean(energy.operations_per_trial))
        assert ra.operations_per_trial[0] <= 8 * (n * n + 2 * n + n)
    summary = ablation_summary(ablated)
    assert summary.factor is not None and summary.factor.relation == "="
    assert summary.factor.factor == 1.0 and summary.factor.ci_low <= 1.0 <= summary.factor.ci_high
    np.testing.assert_array_equal(summary.scores["with"], summary.scores["without"])
    assert summary.scores["with"].shape == (2, 3)


def test_the_config_records_the_arms_and_reads_back(ablated):
    cfg = ablated.config
    assert cfg["ablation"]["mechanism"] == "none"
    assert cfg["ablation"]["arms"] == {"with": {"arch": "vanilla", "model_options": {}},
                                       "without": {"arch": "vanilla", "model_options": {}}}
    assert cfg["sweep"]["archs"] == ["vanilla"] and cfg["sweep"]["n_hidden"] == [4, 8]
    assert AblationConfig.from_dict(cfg) == TINY


def test_an_interrupted_ablation_resumes_to_the_same_result(ablated, tmp_path):
    out = tmp_path / "run"

    def stop(group, pop):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_ablation(TINY, out, on_group=stop)
    partial = store.open(out)
    assert partial.groups() == ["vanilla.none-4"] and partial.shards(AblationRows) == []
    with pytest.raises(RunFolderError, match="already holds a run; pass --resume"):
        run_ablation(TINY, out)
    run = run_ablation(TINY, out, resume=True)
    assert sorted(run.groups()) == sorted(ablated.groups())
    for g in run.groups():
        w, ref = run.read_weights(g)[0], ablated.read_weights(g)[0]
        assert all(np.array_equal(w[k], ref[k]) for k in w)
        assert run.read(AblationRows, shard=g).score_mean == ablated.read(AblationRows, shard=g).score_mean
    assert str(ablation_summary(run).factor) == str(ablation_summary(ablated).factor)


def test_a_damaged_group_of_an_ablation_names_ablate_as_its_repair(ablated, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(ablated.path, copy)
    path = copy / "weights" / "vanilla.none-4.safetensors"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(RunFolderError, match=r"dynascope ablate \.\.\. --out .* --resume"):
        store.open(copy).read_weights("vanilla.none-4")


def test_resuming_with_another_config_or_mechanism_is_refused(ablated):
    import dataclasses

    with pytest.raises(RunFolderError, match="was created with a different config"):
        run_ablation(dataclasses.replace(TINY, sizes=(4, 16)), ablated.path, resume=True)
    with pytest.raises(RunFolderError, match="was created with a different config"):
        run_ablation(dataclasses.replace(TINY, mechanism_options={}, seed=1), ablated.path, resume=True)


def test_the_report_section_shows_the_arms_and_the_factor(ablated):
    import re

    from dynascope.report import render_report

    page = render_report(ablated, max_networks=1, n_trials=1)
    start = page.index('<section id="ablation"')
    text = page[start:page.index("</section>", start)]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", text.split("<tbody>")[1])]
    assert [r[:3] for r in rows] == [["with", "vanilla", "4"], ["without", "vanilla", "4"],
                                     ["with", "vanilla", "8"], ["without", "vanilla", "8"]]
    assert text.count("<figure>") == 1  # no learned time constants to draw
    assert "Size-equivalence factor: <strong>1 [1, 1]</strong>" in text
