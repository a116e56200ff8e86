"""An ablation of the no-op mechanism trains two identical arms (same weights, same scores, factor 1), writes
its rows, resumes after an interruption to the same result, and refuses a folder of another config."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dynascope import store
from dynascope.errors import ConfigError, RunFolderError
from dynascope.pipeline import AblationConfig, Arm, Mechanism, ablation_summary, mechanisms, run_ablation
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
    np.testing.assert_array_equal(summary.scores["none"]["with"], summary.scores["none"]["without"])
    assert summary.scores["none"]["with"].shape == (2, 3)


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


# -- several mechanisms in one ablation ------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class HalfGain(Mechanism):
    """A rate-network mechanism for the tests: initial recurrent weights at half their scale, so the arms differ
    while the arm without it is TINY's model (whose compiled programs the tests share)."""

    name = "test_gain"
    archs = ("vanilla",)

    def split(self, arch, options):
        return Arm(arch, {**options, "gain": 0.5}), Arm(arch, dict(options))


@pytest.fixture(scope="module", autouse=True)
def half_gain():
    # registered for this module's tests only: other modules list every registered mechanism
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(mechanisms._MECHANISMS._entries, "test_gain", HalfGain)
        yield


#: Two mechanisms whose arms 'without' are the same model (TINY's), so they share one group per size.
MULTI = dataclasses.replace(TINY, mechanism=("none", "test_gain"))


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    trained: list[str] = []
    run = run_ablation(MULTI, tmp_path_factory.mktemp("multi") / "run", on_group=lambda g, pop: trained.append(g))
    return run, trained


def test_several_mechanisms_share_one_base_trained_once(multi):
    run, trained = multi
    groups = ["vanilla.none-4", "vanilla.test_gain-4", "vanilla.no_none+test_gain-4",
              "vanilla.none-8", "vanilla.test_gain-8", "vanilla.no_none+test_gain-8"]
    assert [g for g, *_ in MULTI.groups()] == groups and trained == groups and sorted(run.groups()) == sorted(groups)
    assert run.read(AblationRows, shard="vanilla.no_none+test_gain-8").mechanism == ["none+test_gain"]
    assert MULTI.group("without", 4, "none") == MULTI.group("without", 4, "test_gain") == "vanilla.no_none+test_gain-4"
    # a finished group is never retrained
    again: list[str] = []
    run_ablation(MULTI, run.path, resume=True, on_group=lambda g, pop: again.append(g))
    assert again == []
    assert AblationConfig.from_dict(run.config) == MULTI and run.config["ablation"]["mechanism"] == ["none", "test_gain"]


def test_each_mechanism_of_several_matches_its_own_ablation(multi, ablated, tmp_path):
    run, _ = multi
    summary = ablation_summary(run)
    # the no-op's arm 'with' and the shared base are the same networks: a factor of exactly 1
    for n in MULTI.sizes:
        wa, wb = run.read_weights(f"vanilla.none-{n}")[0], run.read_weights(f"vanilla.no_none+test_gain-{n}")[0]
        assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
        ref = ablated.read_weights(f"vanilla.none-{n}")[0]  # and the single-mechanism ablation's
        assert all(np.array_equal(wa[k], ref[k]) for k in wa)
    np.testing.assert_array_equal(summary.scores["none"]["with"], summary.scores["none"]["without"])
    none = summary.factors["none"]
    assert none is not None and none.relation == "=" and none.factor == 1.0
    # test_gain's arms are those of an ablation of test_gain alone (same keys per size and seed)
    alone = run_ablation(dataclasses.replace(MULTI, mechanism="test_gain"), tmp_path / "alone")
    for n in MULTI.sizes:
        for mine, theirs in ((f"vanilla.test_gain-{n}", f"vanilla.test_gain-{n}"),
                             (f"vanilla.no_none+test_gain-{n}", f"vanilla.no_test_gain-{n}")):
            w, ref = run.read_weights(mine)[0], alone.read_weights(theirs)[0]
            assert w.keys() == ref.keys() and all(np.array_equal(w[k], ref[k]) for k in w)
        w_with = run.read_weights(f"vanilla.test_gain-{n}")[0]
        assert not all(np.array_equal(w_with[k], wa[k]) for k in wa)  # the mechanism did change the networks
    single = ablation_summary(alone)
    np.testing.assert_array_equal(summary.scores["test_gain"]["with"], single.scores["test_gain"]["with"])
    assert summary.factors["test_gain"] is not None and str(summary.factors["test_gain"]) == str(single.factor)
    assert [r["group"] for r in summary.rows_of("test_gain").records()] == [
        "vanilla.test_gain-4", "vanilla.no_none+test_gain-4", "vanilla.test_gain-8", "vanilla.no_none+test_gain-8"]
    with pytest.raises(ConfigError, match="several mechanisms"):
        summary.factor


def test_the_report_shows_each_mechanism_of_several(multi):
    import re

    from dynascope.report import render_report

    page = render_report(multi[0], max_networks=1, n_trials=1)
    start = page.index('<section id="ablation"')
    text = page[start:page.index("</section>", start)]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", text.split("<tbody>")[1])]
    assert [r[0] for r in rows[:3]] == ["with none", "with test_gain", "without none+test_gain"] and len(rows) == 6
    assert "<strong>none</strong> — arms" in text and "<strong>test_gain</strong> — arms" in text
    assert "Size-equivalence factor: <strong>1 [1, 1]</strong>" in text
    assert text.count("Size-equivalence factor: <strong>") == 2 and text.count("<figure>") == 2


def test_static_figures_include_each_mechanisms_score_against_size(multi, tmp_path):
    from dynascope.report import write_figures

    names = {p.name for p in write_figures(multi[0], tmp_path, formats=("png",), max_networks=1)}
    assert {"ablation_score_vs_size_none.png", "ablation_score_vs_size_test_gain.png"} <= names


def test_spiking_mechanisms_whose_arms_without_build_the_same_model_share_it():
    shared = AblationConfig(arch="lif", mechanism=("none", "hetero_tau"), model_options={"tau_spread": 0.0}, sizes=(4, 8))
    assert [g for g, side, *_ in shared.groups() if side == "without"] == ["lif.no_none+hetero_tau-4",
                                                                          "lif.no_none+hetero_tau-8"]
    # lif's defaults are homogeneous τ and no Dale's law, so those two arms without are plain lif; the rate
    # network of `spiking` is another model; alif's default has adaptive neurons, so adaptation's arm differs
    some = AblationConfig(arch="lif", mechanism=("hetero_tau", "dale", "spiking"), sizes=(4, 8))
    assert [g for g, side, a, n in some.groups() if side == "without" and n == 4] == [
        "lif.no_hetero_tau+dale-4", "ctrnn.no_spiking-4"]
    apart = AblationConfig(arch="alif", mechanism=("adaptation", "hetero_tau", "dale"), sizes=(4, 8))
    assert [g for g, side, a, n in apart.groups() if side == "without" and n == 8] == [
        "alif.no_adaptation-8", "alif.no_hetero_tau+dale-8"]
    assert apart.served("alif.no_hetero_tau+dale-8") == ("hetero_tau", "dale")
    assert apart.served("alif.adaptation-4") == ("adaptation",)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gain": 1.0}, "mechanism option 'gain' does not say which of the mechanisms none, test_gain"),
        ({"dale.e_fraction": 0.5}, "names mechanism 'dale', which is not one of this ablation's mechanisms"),
        ({"test_gain.gain": 1.0}, "gain"),
    ],
)
def test_a_mechanism_option_for_no_named_mechanism_is_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(MULTI, mechanism_options=options).validate()


def test_mechanism_options_go_to_the_mechanism_they_name():
    both = AblationConfig(arch="lif", mechanism=("hetero_tau", "none"), mechanism_options={"hetero_tau.spread": 1.5})
    assert both.arms("hetero_tau")["with"].options["tau_spread"] == 1.5
    one = dataclasses.replace(both, mechanism="hetero_tau")
    assert one.arms()["with"] == both.arms("hetero_tau")["with"]
    assert dataclasses.replace(one, mechanism_options={"spread": 1.5}).arms() == one.arms()
    with pytest.raises(ConfigError, match="lists a mechanism twice"):
        dataclasses.replace(MULTI, mechanism=("none", "none")).validate()
