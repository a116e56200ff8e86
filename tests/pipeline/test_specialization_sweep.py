"""A modularity sweep (`dynascope specialize`): matched groups across between-module fractions, the three
measures in the catalog at every snapshot, the summary's map and agreement, resume, the report section, the
command line, and bad input refused before any folder is made."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from typer.testing import CliRunner

from dynascope.cli import app
from dynascope.compare import specialization_measures
from dynascope import store
from dynascope.errors import ConfigError, RunFolderError
from dynascope.pipeline import (
    SpecializationConfig,
    load_group,
    load_snapshots,
    run_specialization,
    specialization_summary,
)
from dynascope.pipeline.specialization import measure_group
from dynascope.report import render_report, write_figures
from dynascope.store import SpecializationRows
from dynascope.train import TrainOptions

#: Two fractions (disconnected, fully connected) at one size, 3 networks, measured at steps 0, 15 and 30.
TINY = SpecializationConfig(archs=("modular",), inter_fractions=(0.0, 1.0), sizes=(6,), n_networks=3, steps=30,
                            n_trials=64, train=TrainOptions(batch_size=16, learning_rate=1e-2, checkpoint_every=30,
                                                            snapshot_every=15))
#: The same sweep through the command line (same programs, compiled once per worker).
FLAGS = ["--arch", "modular", "--inter", "0,1", "--sizes", "6", "--n-networks", "3", "--steps", "30", "--batch", "16",
         "--trials", "64", "--checkpoint-every", "30", "--snapshot-every", "15"]


#: Shards of the `specialization` table the sweep had written when it was interrupted (see `swept`).
PARTIAL: list[str] = []


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The TINY sweep, interrupted while its last group was being measured, then resumed."""
    out = tmp_path_factory.mktemp("spec") / "run"
    last = TINY.groups()[-1][0]

    def stop(group, done, n):
        if group == last and done == n:  # measured, not yet written
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_specialization(TINY, out, on_measure=stop)
    PARTIAL[:] = sorted(p.stem for p in store.open(out).shards(SpecializationRows))
    return run_specialization(TINY, out, resume=True)


def test_every_network_step_measure_module_and_subtask_has_a_row(swept):
    rows = swept.read(SpecializationRows)
    assert sorted(set(rows.group)) == ["modular.inter0-6", "modular.inter1-6"]
    assert sorted(set(rows.step)) == [0, 15, 30]
    assert len(rows) == 2 * 3 * 3 * 3 * 2 * 2  # groups × networks × steps × measures × modules × sub-tasks
    assert set(rows.measure) == {"decodability", "lesion", "correlation"} and set(rows.subtask) == {"sign A", "sign B"}
    assert all(0.0 <= s <= 1.0 for s in rows.score)


def test_the_stored_modularity_is_networkx_s_and_the_closed_form(swept):
    """Two equal modules, all within links and a fraction p between: directed Q (Leicht & Newman, networkx's
    for a DiGraph) = 1/(1 + p) − 1/2."""
    rows = swept.read(SpecializationRows)
    for group, p in (("modular.inter0-6", 0.0), ("modular.inter1-6", 1.0)):
        stored = load_group(swept, group)
        mask = np.asarray(stored.network(0)["M_rec"])
        labels = stored.model.modules
        graph = nx.from_numpy_array(mask.T, create_using=nx.DiGraph)  # edge pre -> post
        q_nx = nx.algorithms.community.modularity(graph, [set(np.flatnonzero(labels == m)) for m in (0, 1)])
        q = {v for g, v in zip(rows.group, rows.modularity) if g == group}
        assert len(q) == 1
        np.testing.assert_allclose(q.pop(), q_nx, atol=1e-9)
        np.testing.assert_allclose(q_nx, 1 / (1 + p) - 0.5, atol=1e-9)


def test_groups_of_a_size_start_from_the_same_weights_before_their_masks(swept):
    """modular's init scales W_rec's row i by 1/√(fan-in i); undoing that, step 0 of both fractions is one draw."""
    first = {}
    for group in ("modular.inter0-6", "modular.inter1-6"):
        steps, at = load_snapshots(swept, group)
        assert steps[0] == 0
        p = at[0].network(1)
        first[group] = np.asarray(p["W_rec"]) * np.sqrt(np.asarray(p["M_rec"]).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(first["modular.inter0-6"], first["modular.inter1-6"], rtol=1e-6)


def test_rows_are_the_measures_of_the_stored_weights(swept):
    """The last snapshot's rows equal `compare.specialization_measures` recomputed from the trained weights."""
    import jax

    stored = load_group(swept, "modular.inter1-6")
    key = jax.random.fold_in(jax.random.key(TINY.seed), 0x5EC)
    trials = stored.task.sample(key, TINY.n_trials)
    got = specialization_measures(stored.model, stored.network(2), trials.inputs, stored.task.latents(key, TINY.n_trials),
                                  stored.model.modules, key=jax.random.fold_in(jax.random.key(TINY.seed), 0x5ED))
    rows = swept.read(SpecializationRows, shard="modular.inter1-6")
    for measure, scores in zip(("decodability", "lesion", "correlation"), got):
        for module in (0, 1):
            for k, sub in enumerate(("sign A", "sign B")):
                [stored_score] = [s for n, st, m, mo, su, s in zip(rows.network, rows.step, rows.measure, rows.module,
                                                                   rows.subtask, rows.score)
                                  if n == stored.networks[2] and st == 30 and m == measure and mo == module and su == sub]
                np.testing.assert_allclose(stored_score, scores[module, k], atol=1e-9)


def test_summary_maps_disconnected_modules_as_specialised(swept):
    s = specialization_summary(swept)
    assert len(s.networks) == 6 and list(s.steps) == [0, 15, 30]
    cells = {(c["inter_fraction"], c["n_hidden"]): c for c in s.map}
    assert set(cells) == {(0.0, 6), (1.0, 6)}
    for n in (6,):
        # Disconnected modules, each fed one stream: by construction neither module can know the other sign.
        assert cells[(0.0, n)]["decodability"] > 0.8 and cells[(0.0, n)]["lesion"] > 0.8
        assert cells[(0.0, n)]["modularity"] == pytest.approx(0.5)
        for m in ("decodability", "lesion", "correlation"):
            assert cells[(0.0, n)][f"{m}_low"] <= cells[(0.0, n)][m] <= cells[(0.0, n)][f"{m}_high"]
    for m in ("decodability", "lesion", "correlation"):
        np.testing.assert_array_equal(s.index[m], s.over_training[m][:, -1])
    assert s.agreement is not None and s.agreement.shape == (3, 3)
    np.testing.assert_allclose(np.diag(s.agreement), 1.0)


def test_an_interrupted_sweep_resumes_by_measuring_only_what_is_missing(swept):
    groups = [g for g, *_ in TINY.groups()]
    assert PARTIAL == sorted(groups[:-1])  # every group trained, the last one's rows not yet written
    assert sorted(p.stem for p in swept.shards(SpecializationRows)) == sorted(groups)
    again = measure_group(swept, TINY, groups[-1], "modular", 1.0)
    assert again == swept.read(SpecializationRows, shard=groups[-1])  # deterministic: the same rows measured again
    with pytest.raises(RunFolderError, match="already holds a run; pass --resume"):
        run_specialization(TINY, swept.path)


def test_the_report_has_the_section_and_its_figures(swept, tmp_path):
    page = render_report(swept, max_networks=1, n_trials=2)
    assert '<section id="specialization"' in page and '<a href="#specialization">Specialization</a>' in page
    assert "Rank agreement of the measures across the 6 networks" in page
    names = {p.stem for p in write_figures(swept, tmp_path / "figs", formats=("png",), max_networks=1)}
    assert {"specialization_map", "specialization_over_training"} <= names


def test_the_command_prints_the_maps_and_the_agreement(tmp_path):
    out = CliRunner().invoke(app, ["specialize", *FLAGS, "--out", str(tmp_path / "r")], terminal_width=220)
    assert out.exit_code == 0, out.stdout
    for title in ("task score on sign_match", "specialization by decodability", "specialization by lesion damage",
                  "specialization by latent correlation", "rank agreement of the measures across 6 networks"):
        assert title in out.stdout
    assert "inter 0 (Q 0.50)" in out.stdout and "inter 1 (Q 0.00)" in out.stdout
    assert "all networks after 30 steps" in out.stdout and "/3 trained)" in out.stdout
    shown = CliRunner().invoke(app, ["show", str(tmp_path / "r")], terminal_width=220)
    assert shown.exit_code == 0 and "incomplete" not in shown.stdout and "specialization.inter_fractions" in shown.stdout


@pytest.mark.parametrize("args, message", [
    (["--task", "flipflop"], "task 'flipflop' has no sub-tasks whose latent variables the specialization measures read"),
    (["--arch", "gru"], "architecture 'gru' is not a two-module network"),
    (["--inter", "0.5,0.1"], "--inter (inter_fractions) must be distinct, increasing and within [0, 1], got [0.5, 0.1]"),
    (["--inter", "0,1.5"], "--inter (inter_fractions) must be distinct, increasing and within [0, 1]"),
    (["--model-opt", "inter_fraction=0.2"], "--model-opt inter_fraction (model_options of modular) sets inter_fraction, "
                                            "which the sweep sets per group; give the fractions with --inter"),
    (["--trials", "4"], "--trials (n_trials) must be at least 8"),
    (["--n-networks", "1"], "--n-networks (n_networks) must be at least 2 for an interval over networks"),
])
def test_bad_input_is_one_line_with_exit_code_2(args, message, tmp_path, dynascope_main, capsys):
    code = dynascope_main("specialize", "--steps", "5", *args, "--out", str(tmp_path / "r"))
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_the_config_names_the_architectures_and_tasks_that_fit():
    with pytest.raises(ConfigError, match=r"use one that has: .*sign_match"):
        SpecializationConfig(task="flipflop").validate()
    with pytest.raises(ConfigError, match=r"use one of .*modular, modular_lif"):
        SpecializationConfig(archs=("lif",)).validate()


def test_another_command_cannot_resume_the_sweep_s_folder(swept, dynascope_main, capsys):
    code = dynascope_main("train", "--task", "sign_match", "--arch", "modular", "--n-hidden", "6", "--steps", "5",
                          "--out", str(swept.path), "--resume")
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "holds a run written by `dynascope specialize`, which `dynascope train` cannot continue" in err
