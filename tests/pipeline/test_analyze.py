"""analyze_run (the engine of `dynascope analyze`): catalog rows checked against NumPy on the stored weights."""

from __future__ import annotations

import json
import shutil
import types
import warnings

import numpy as np
import pytest

from dynascope import pipeline, store
from dynascope.errors import ConfigError
from dynascope.pipeline import SweepConfig
from dynascope.train import TrainOptions

# Context-dependent integration has one analysis input per context: two rows of `analysis_inputs()`.
CONFIG = SweepConfig(
    task="cdi",
    archs=("vanilla",),
    hidden=(5,),
    seeds=2,
    steps=20,
    task_options={"fixation_ms": 20.0, "stimulus_ms": 50.0, "n_time": 10},
    train=TrainOptions(batch_size=8, learning_rate=1e-2, checkpoint_every=20, eval_batch=8),
)
OPTIONS = pipeline.AnalysisOptions(n_trials=8, n_seeds=32, skeleton_steps=200)


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
        nxt = np.tanh(p["W"] @ s + p["U"] @ u + p["b"])  # the vanilla step, by NumPy
        assert np.max(np.abs(nxt - s)) < 1e-9 and q < 1e-12
        eig = np.asarray(re) + 1j * np.asarray(im)
        ref = np.linalg.eigvals((1.0 - nxt**2)[:, None] * p["W"])
        np.testing.assert_allclose(np.sort_complex(eig), np.sort_complex(ref), atol=1e-8)
        assert n_unstable == np.sum(np.abs(ref) > 1.0) and is_stable == bool(np.all(np.abs(ref) < 1.0))
        n_checked += 1
    assert n_checked >= 4  # at least one converged point per network and context


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
    real = analyze_module.skeleton_population

    def caught(*args, **kwargs):
        out = real(*args, **kwargs)
        graphs.extend(out)
        return out

    monkeypatch.setattr(analyze_module, "skeleton_population", caught)
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

SMALL = pipeline.AnalysisOptions(n_trials=8, n_seeds=16, skeleton_steps=100)


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
        assert np.max(np.abs(-s + p["W"] @ np.maximum(s, 0) + p["U"] @ np.asarray(u) + p["b"])) < 1e-6
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
        (dict(n_seeds=-3), r"n_seeds must be a positive integer, got -3"),
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
