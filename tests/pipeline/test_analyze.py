"""analyze_run (the engine of `dynascope analyze`): catalog rows checked against NumPy on the stored weights."""

from __future__ import annotations

import dataclasses
import json
import shutil
import types
import warnings

import numpy as np
import pytest

from dynascope import pipeline, store
from dynascope.errors import ConfigError, RunFolderError
from dynascope.pipeline import SweepConfig
from dynascope.train import TrainOptions

# Context-dependent integration has one analysis input per context: two rows of `analysis_inputs()`.
CONFIG = SweepConfig(
    task="cdi",
    archs=("vanilla",),
    n_hidden=(5,),
    n_networks=2,
    steps=20,
    task_options={"fixation_ms": 20.0, "stimulus_ms": 50.0, "n_time": 10},
    train=TrainOptions(batch_size=8, learning_rate=1e-2, checkpoint_every=20, eval_batch=8),
)
OPTIONS = pipeline.AnalysisOptions(n_trials=8, n_initial_states=32, skeleton_steps=200)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    run = pipeline.run_sweep(CONFIG, tmp_path_factory.mktemp("runs") / "r")
    calls = []
    done = pipeline.analyze_run(run, OPTIONS, progress=lambda *a: calls.append(a))
    return run, done, calls


def test_every_group_is_analysed_once_and_resumes(analysed):
    run, done, calls = analysed
    assert done == ["vanilla-5"]
    assert calls == [("vanilla-5", 0, 2), ("vanilla-5", 2, 2)]
    assert pipeline.analyze_run(run, OPTIONS) == []  # already analysed: skipped
    assert pipeline.analyze_run(run, OPTIONS, force=True) == ["vanilla-5"]


def test_fixed_point_rows_are_fixed_points_of_the_stored_weights(analysed):
    run, _, _ = analysed
    group = pipeline.load_group(run, "vanilla-5")
    inputs = np.asarray(group.task.analysis_inputs(), np.float64)
    assert inputs.shape == (2, 4)
    rows = run.sql(
        "select network, input_index, input, state, q, status, n_unstable, is_stable, eig_real, eig_imag "
        "from fixed_points order by network, input_index"
    ).fetchall()
    seen = {(r[0], r[1]) for r in rows}
    assert seen == {(net, k) for net in group.networks for k in (0, 1)}  # every network under both contexts
    n_checked = 0
    for net, k, u, s, q, status, n_unstable, is_stable, re, im in rows:
        np.testing.assert_allclose(u, inputs[k], atol=1e-7)
        if status != "converged":
            continue
        p = {name: np.asarray(v, np.float64) for name, v in group.network(group.networks.index(net)).items()}
        s, u = np.asarray(s), np.asarray(u)
        nxt = np.tanh(p["W_rec"] @ s + p["W_in"] @ u + p["b"])  # the vanilla step, by NumPy
        assert np.max(np.abs(nxt - s)) < 1e-9 and q < 1e-12
        eig = np.asarray(re) + 1j * np.asarray(im)
        ref = np.linalg.eigvals((1.0 - nxt**2)[:, None] * p["W_rec"])
        np.testing.assert_allclose(np.sort_complex(eig), np.sort_complex(ref), atol=1e-8)
        assert n_unstable == np.sum(np.abs(ref) > 1.0) and is_stable == bool(np.all(np.abs(ref) < 1.0))
        n_checked += 1
    assert n_checked >= 4  # at least one converged point per network and context


def test_a_group_searched_in_chunks_gives_the_same_rows(analysed, monkeypatch):
    # A memory budget of one byte leaves room for one network per compiled call of the fixed-point search (the
    # smallest piece of work): the group's two networks are searched one after the other, and every row equals
    # the row the unchunked analysis stored in the run.
    from dynascope.dynamics import _finder

    run, _, _ = analysed
    group = pipeline.load_group(run, "vanilla-5")
    calls = []
    real = _finder.map_chunks

    def spy(fn, params, arrays, chunk):
        calls.append((arrays[0].shape[0], chunk))
        return real(fn, params, arrays, chunk)

    monkeypatch.setattr(_finder, "map_chunks", spy)
    fps, sks = pipeline.analyze_group(group, dataclasses.replace(OPTIONS, memory_budget=1))
    assert calls and set(calls) == {(2, 1)}  # two networks, one per compiled call
    for got, stored in ((fps, run.read(store.FixedPointRows, shard="vanilla-5")),
                        (sks, run.read(store.SkeletonRows, shard="vanilla-5"))):
        assert len(got) == len(stored) > 0
        for name in got.columns():
            a, b = getattr(got, name), getattr(stored, name)
            if name in ("input", "state", "q", "eig_real", "eig_imag"):
                np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-9, atol=1e-12,
                                           err_msg=name)
            else:
                assert list(a) == list(b), name


def test_skeleton_rows_summarise_the_fixed_point_rows(analysed):
    run, _, _ = analysed
    sk = run.sql(
        "select network, input_index, n_stable, n_saddles, index_counts, signature from skeletons"
    ).fetchall()
    assert len(sk) == 4
    for net, k, n_stable, n_saddles, counts, sig in sk:
        n_index = dict(run.sql(
            f"select n_unstable, count(*) from fixed_points where network = '{net}' and input_index = {k} "
            "and status = 'converged' group by n_unstable"
        ).fetchall())
        assert n_stable == n_index.get(0, 0) and n_saddles == sum(v for i, v in n_index.items() if i > 0)
        assert json.loads(counts) == {str(i): v for i, v in sorted(n_index.items())}
        assert json.loads(sig)["n_fixed_points"] == sum(n_index.values())


def test_the_stored_wl_hash_is_the_hash_compare_uses(analysed, tmp_path, monkeypatch):
    # The graphs analyze_run builds, caught on their way to the catalog, hashed by compare and by networkx
    # itself on a copy labelled here (index, or 'terminal:<name>'; edge weights ignored).
    import networkx as nx

    from dynascope import compare
    from dynascope.pipeline import analyze as analyze_module

    run, _, _ = analysed
    shutil.copytree(run.path, tmp_path / "r")
    copy = store.open(tmp_path / "r")
    graphs = []
    real = analyze_module.skeleton

    def caught(*args, **kwargs):
        out = real(*args, **kwargs)
        graphs.extend(out)
        return out

    monkeypatch.setattr(analyze_module, "skeleton", caught)
    pipeline.analyze_run(copy, OPTIONS, force=True)
    stored = copy.read(store.SkeletonRows, shard="vanilla-5")
    assert len(graphs) == len(stored) == 4
    for graph, hashed, sig in zip(graphs, stored.wl_hash, stored.signature):
        assert hashed == compare.wl_hash(graph) == json.loads(sig)["wl_hash"]
        by_hand = nx.DiGraph()
        by_hand.add_nodes_from((n, {"l": f"terminal:{n}" if d.get("terminal") else str(d["index"])})
                               for n, d in graph.nodes(data=True))
        by_hand.add_edges_from(graph.edges())
        with warnings.catch_warnings():  # networkx >= 3.5 notes that directed hashes changed in 3.5
            warnings.filterwarnings("ignore", message="The hashes produced for directed graphs changed")
            assert hashed == nx.weisfeiler_lehman_graph_hash(by_hand, node_attr="l", iterations=3)
    for a in range(len(graphs)):
        for b in range(len(graphs)):
            same = compare.topology_distance(graphs[a], graphs[b], kind="wl") == 0.0
            assert same == (stored.wl_hash[a] == stored.wl_hash[b])


# -- a run holding a blown-up network ------------------------------------------------------------------
from tests.train.blown_up import BLOWN_UP, GROUP, HEALTHY, blown_up_run, restanded_copy  # noqa: E402

SMALL = pipeline.AnalysisOptions(n_trials=8, n_initial_states=16, skeleton_steps=100)


@pytest.fixture(scope="module")
def blown_up(tmp_path_factory):
    """A trained run holding the blown-up network; tests analyse copies of it."""
    return blown_up_run(tmp_path_factory.mktemp("runs") / "blown_up")


def _check_rows_are_fixed_points(run) -> int:
    """Every converged row is a zero of the ReLU rate network's flow −x + W relu(x) + U u + b, by NumPy."""
    group = pipeline.load_group(run, GROUP)
    n = 0
    for net, u, s, status in run.sql("select network, input, state, status from fixed_points").fetchall():
        if status != "converged":
            continue
        p = {k: np.asarray(v, np.float64) for k, v in group.network(group.networks.index(net)).items()}
        s = np.asarray(s)
        assert np.max(np.abs(-s + p["W_rec"] @ np.maximum(s, 0) + p["W_in"] @ np.asarray(u) + p["b"])) < 1e-6
        n += 1
    return n


def test_a_diverged_network_is_skipped_with_a_note_and_the_others_are_analysed(blown_up, tmp_path):
    shutil.copytree(blown_up, tmp_path / "run")
    run = store.open(tmp_path / "run")
    skipped = []
    assert pipeline.analyze_run(run, SMALL, on_skip=lambda net, why: skipped.append((net, why))) == [GROUP]
    assert skipped == [(BLOWN_UP, pipeline.DIVERGED)]
    assert {r[0] for r in run.sql("select network from skeletons").fetchall()} == set(HEALTHY)
    assert {r[0] for r in run.sql("select network from fixed_points").fetchall()} == set(HEALTHY)
    assert _check_rows_are_fixed_points(run) >= 3


def test_a_network_with_non_finite_states_is_skipped_even_when_not_flagged(blown_up, tmp_path):
    # As in a run folder written before the divergence rule: the blown-up network is flagged healthy, and
    # its NaN states used to stop the whole analysis ("noise_std ... got nan").
    run = store.open(restanded_copy(blown_up, tmp_path / "old"))
    assert not any(d for (d,) in run.sql("select diverged from networks").fetchall())
    skipped = []
    assert pipeline.analyze_run(run, SMALL, on_skip=lambda net, why: skipped.append((net, why))) == [GROUP]
    assert skipped == [(BLOWN_UP, pipeline.NON_FINITE)]
    assert {r[0] for r in run.sql("select network from skeletons").fetchall()} == set(HEALTHY)
    assert _check_rows_are_fixed_points(run) >= 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(n_initial_states=-3), r"n_initial_states must be a positive integer, got -3"),
        (dict(n_trials=0), r"n_trials must be a positive integer, got 0"),
        (dict(saddle_seeds_per_pair=-1), r"saddle_seeds_per_pair must be an integer ≥ 0"),
        (dict(seed_noise=float("nan")), r"seed_noise must be a number ≥ 0 .*got nan"),
        (dict(skeleton_max_steps=0), r"skeleton_max_steps must be a positive integer, got 0"),
    ],
)
def test_bad_options_are_refused_before_looking_at_what_is_done(analysed, options, message):
    run, _, _ = analysed  # every group is analysed already: bad options must not pass as "nothing to do"
    with pytest.raises(ConfigError, match=message):
        pipeline.analyze_run(run, pipeline.AnalysisOptions(**options))


def test_skeleton_rows_count_stable_nodes_not_index_zero():
    # A node with no growing mode but a marginal one (a slow point) has index 0 and is not stable.
    import networkx as nx

    from dynascope.pipeline.analyze import _skeleton_rows

    g = nx.DiGraph()
    g.add_node(0, index=0, stable=True, label="0", terminal=False)
    g.add_node(1, index=0, stable=False, label="0", terminal=False)
    g.add_node(2, index=1, stable=False, label="1", terminal=False)
    fp = types.SimpleNamespace(status=np.zeros(3, np.int8), outside_reachable=np.zeros(3, bool))  # what rows read
    rows = _skeleton_rows("g", ("g/s000",), 0, [fp], [g])
    assert rows.n_stable == [1] and rows.n_saddles == [1]


# -- energy: synaptic operations and firing rates ------------------------------------------------------
def test_stored_operations_are_compare_energy_counts_on_the_analysis_trials(analysed):
    import jax

    from dynascope.compare import synaptic_operations

    run, _, _ = analysed
    group = pipeline.load_group(run, "vanilla-5")
    rows = run.read(store.EnergyRows, order_by=("network",))
    nets = run.read(store.NetworkRows, order_by=("network",))
    assert rows.network == list(group.networks) == nets.network
    trials = jax.jit(group.task.sample, static_argnums=1)(jax.random.fold_in(jax.random.key(OPTIONS.seed), 0),
                                                          OPTIONS.n_trials)
    run_one = jax.jit(group.model.run)
    for i, net in enumerate(rows.network):
        params = group.network(i)
        states, _ = run_one(params, trials.inputs)
        direct = float(np.mean(np.asarray(synaptic_operations(group.model, params, states))))
        # and by NumPy: a dense vanilla step multiplies by every nonzero weight of W, U and W_out once
        nonzeros = sum(int(np.count_nonzero(np.asarray(params[k]))) for k in ("W_rec", "W_in", "W_out"))
        assert rows.operations_per_trial[i] == pytest.approx(direct) == CONFIG.task_options["n_time"] * nonzeros
        assert rows.operations_per_step[i] == pytest.approx(nonzeros)
    assert rows.score == nets.metric and rows.arch == ["vanilla"] * 2 and rows.n_trials == [OPTIONS.n_trials] * 2
    assert rows.spiking == [False, False] and rows.mean_rate_hz == [None, None]  # rate models: no rate


def test_a_run_analysed_before_energy_counts_gets_them_alone(analysed, tmp_path, monkeypatch):
    from dynascope.pipeline import analyze as analyze_module

    run, _, _ = analysed
    shutil.copytree(run.path, tmp_path / "old")
    old = store.open(tmp_path / "old")
    expected = old.read(store.EnergyRows)
    manifest = old.path / "manifest.json"
    doc = json.loads(manifest.read_text())
    for shard in old.shards(store.EnergyRows):  # as a dynascope without the energy table left the folder
        del doc["files"][shard.relative_to(old.path).as_posix()]
        shard.unlink()
    manifest.write_text(json.dumps(doc))
    old = store.open(old.path)
    assert len(old.read(store.EnergyRows)) == 0 and old.verify() == {}
    monkeypatch.setattr(analyze_module, "analyze_group", lambda *a, **k: pytest.fail("fixed points searched again"))
    assert pipeline.analyze_run(old, OPTIONS) == []  # nothing re-analysed ...
    assert old.read(store.EnergyRows) == expected  # ... but the counts filled in
    shard = old.shards(store.EnergyRows)[0]
    shard.write_bytes(shard.read_bytes()[:-8] + b"damaged!")
    with pytest.raises(RunFolderError, match=f"delete it, then rerun `dynascope analyze {old.path}`"):
        store.open(old.path).read(store.EnergyRows)  # ... which is what writes the shard again


def test_a_spiking_group_counts_its_spikes_on_the_analysis_trials():
    import jax

    from dynascope import models, tasks
    from dynascope.compare import mean_firing_rate, synaptic_operations
    from dynascope.pipeline.analyze import energy_rows, simulate_group

    task = tasks.get("flipflop", n_bits=2, n_time=20)
    model = models.get("lif", n_inputs=2, n_hidden=6, n_outputs=2, threshold=0.2)
    # Weights made here (model.init takes seconds to compile): sparse recurrent matrices so fan-outs differ,
    # a bias current that makes some neurons fire and input weights that make the firing depend on the trial.
    rng = np.random.default_rng(0)
    w_rec = rng.normal(size=(3, 6, 6)) * (rng.random((3, 6, 6)) < 0.4)
    params = {"W_in": rng.normal(scale=2.0, size=(3, 6, 2)), "W_rec": w_rec, "b": np.tile(np.linspace(0, 1, 6), (3, 1)),
              "W_out": rng.normal(size=(3, 2, 6)), "b_out": np.zeros((3, 2)), "h0": np.zeros((3, model.n_state))}
    params = {k: jax.numpy.asarray(v, jax.numpy.float32) for k, v in params.items()}
    group = pipeline.StoredGroup("lif-6", task, model, params, ("lif-6/s000", "lif-6/s001", "lif-6/s002"))
    options = pipeline.AnalysisOptions(n_trials=4, seed=3)
    sim = simulate_group(group, options, exclude={"lif-6/s001": pipeline.DIVERGED})
    rows = energy_rows(group, sim, {"lif-6/s000": 0.5, "lif-6/s002": float("nan")})
    assert rows.network == ["lif-6/s000", "lif-6/s002"] and rows.spiking == [True, True]
    assert rows.score == [0.5, None]  # a score that is not finite is stored as null
    trials = jax.jit(task.sample, static_argnums=1)(jax.random.fold_in(jax.random.key(3), 0), 4)
    run = jax.jit(model.run)
    for row, i in zip(rows.records(), (0, 2)):
        states, _ = run(group.network(i), trials.inputs)
        ops = np.asarray(synaptic_operations(model, group.network(i), states))
        assert np.asarray(model.spikes(states)).sum() > 0 and np.ptp(ops) > 0  # spikes differ between trials
        assert row["operations_per_trial"] == pytest.approx(ops.mean(), rel=1e-6)
        assert row["operations_per_step"] == pytest.approx(ops.mean() / 20, rel=1e-6)
        assert row["mean_rate_hz"] == pytest.approx(float(np.mean(mean_firing_rate(model, states))), rel=1e-6)
