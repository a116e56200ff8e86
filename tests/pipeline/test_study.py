"""The population study of a run folder: every metric's distances, embedding and summary land in the
catalog, agree with a NumPy CCA written here and with the summary recomputed by hand, and resume."""

from __future__ import annotations

import dataclasses
import json
import shutil

import jax
import numpy as np
import pytest
from typer.testing import CliRunner

from dynascope import pipeline, store
from dynascope.cli import app
from dynascope.compare import dmd_operator, eigenvalue_wasserstein, metric_names, topology_class
from dynascope.pipeline import StudyOptions, study
from dynascope.errors import ConfigError, UnknownNameError
from dynascope.pipeline import SweepConfig
from dynascope.store import NetworkRows, SkeletonRows
from dynascope.train import TrainOptions

TINY = SweepConfig(
    task="flipflop", archs=("vanilla", "gru"), n_hidden=(5,), n_networks=3, steps=20,
    task_options={"n_bits": 2, "n_time": 12},
    train=TrainOptions(batch_size=8, learning_rate=1e-2, checkpoint_every=20, eval_batch=8),
)
DSA_FIT = {"n_delays": 2, "rank": 4}
FAST = StudyOptions(n_trials=6, trained_only=False, metric_options={"dsa": DSA_FIT, "dsa_wasserstein": DSA_FIT})
CUBE = {"counts": {"0": 4, "1": 4, "2": 1}, "edges": [[1, 0]] * 8 + [[2, 1]] * 4, "wl_hash": "cube"}
OTHER = {"counts": {"0": 2, "1": 1}, "edges": [[1, 0]] * 2, "wl_hash": "pair"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("study") / "run"
    pipeline.run_sweep(TINY, path)
    return path


@pytest.fixture
def run(trained, tmp_path):
    path = tmp_path / "run"
    shutil.copytree(trained, path)
    return store.open(path)


def _numpy_cca_distance(x: np.ndarray, y: np.ndarray) -> float:
    """1 − mean canonical correlation from orthonormal bases of the centred samples (Björck & Golub 1973)."""
    def basis(z):
        z = z.reshape(-1, z.shape[-1]).astype(np.float64)
        z = z - z.mean(axis=0)
        u, s, _ = np.linalg.svd(z, full_matrices=False)
        return u[:, s > 1e-6 * s[0]]

    qx, qy = basis(x), basis(y)
    rho = np.linalg.svd(qx.T @ qy, compute_uv=False)
    return 1.0 - rho[: min(qx.shape[1], qy.shape[1])].mean()


def _matrix(run, metric: str, ids: list[str]) -> np.ndarray:
    pos = {n: i for i, n in enumerate(ids)}
    d = np.zeros((len(ids), len(ids)))
    for a, b, v in run.sql(f"select a, b, distance from distances where metric = '{metric}'").fetchall():
        d[pos[a], pos[b]] = d[pos[b], pos[a]] = v
    return d


def test_every_metric_lands_in_the_catalog_and_cca_matches_numpy(run):
    result = study(run, FAST)
    assert set(result.results) == set(metric_names()) - {"topology"}
    assert "dynascope analyze" in result.skipped["topology"]
    ids = [n for (n,) in run.sql("select network from networks order by network").fetchall()]
    n = len(ids)
    for metric in result.results:
        (count,) = run.sql(f"select count(*) from distances where metric = '{metric}'").fetchall()[0]
        assert count == n * (n - 1) // 2
        (emb,) = run.sql(f"select count(*) from embedding where metric = '{metric}'").fetchall()[0]
        assert emb == n
    # The same trials for every network: CCA from NumPy.
    trials = None
    states = {}
    for name in run.groups():
        g = pipeline.load_group(run, name)
        if trials is None:
            trials = g.task.sample(jax.random.key(FAST.seed), FAST.n_trials).inputs
        for i, net in enumerate(g.networks):
            s, _ = g.model.run(g.network(i), trials)
            states[net] = np.asarray(g.model.activity(s))
    d = _matrix(run, "cca", ids)
    for i in range(n):
        for j in range(i + 1, n):
            assert d[i, j] == pytest.approx(_numpy_cca_distance(states[ids[i]], states[ids[j]]), abs=2e-3)
    np.testing.assert_allclose(result.results["cca"].distances, d, atol=1e-6)
    # The eigenvalue variant of DSA: optimal matching of the spectra of each network's DMD operator.
    rank = min(DSA_FIT["rank"], DSA_FIT["n_delays"] * min(s.shape[-1] for s in states.values()))
    ops = {n: dmd_operator(s, n_delays=DSA_FIT["n_delays"], rank=rank) for n, s in states.items()}
    d = _matrix(run, "dsa_wasserstein", ids)
    assert d[np.triu_indices(n, 1)].min() > 0.0
    for i, j in ((0, 1), (0, n - 1), (2, 4)):
        assert d[i, j] == pytest.approx(eigenvalue_wasserstein(ops[ids[i]], ops[ids[j]]), abs=1e-4)


def test_summary_is_the_distance_matrix_read_by_hand(run):
    study(run, StudyOptions(metrics=("procrustes",), n_trials=6, trained_only=False))
    ids = [n for (n,) in run.sql("select network from networks order by network").fetchall()]
    arch = dict(run.sql("select network, arch from networks").fetchall())
    d = _matrix(run, "procrustes", ids)
    hits = []
    for i in range(len(ids)):
        others = [j for j in range(len(ids)) if j != i]
        closest = min(d[i, j] for j in others)
        hits.append(np.mean([arch[ids[j]] == arch[ids[i]] for j in others if d[i, j] == closest]))
    summary = {(q, a): v for q, a, v in run.sql(
        "select quantity, arch, value from summary where metric = 'procrustes'").fetchall()}
    assert summary[("nearest-neighbour architecture accuracy", "all")] == pytest.approx(np.mean(hits))
    within = [d[i, j] for i in range(len(ids)) for j in range(i + 1, len(ids)) if arch[ids[i]] == arch[ids[j]]]
    between = [d[i, j] for i in range(len(ids)) for j in range(i + 1, len(ids)) if arch[ids[i]] != arch[ids[j]]]
    assert summary[("mean distance within architecture", "all")] == pytest.approx(np.mean(within))
    assert summary[("between / within", "all")] == pytest.approx(np.mean(between) / np.mean(within))
    assert summary[("chance accuracy", "all")] == pytest.approx(0.5)


def test_between_within_when_every_within_distance_is_zero():
    from dynascope.pipeline.study import summarise

    archs = ["gru", "gru", "lstm", "lstm"]
    one_solution = summarise(np.zeros((4, 4)), archs, np.zeros(4, int))
    assert one_solution[("between / within", "all")] == 1.0  # nothing separated
    by_arch = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]], float)
    assert summarise(by_arch, archs, np.array([0, 0, 1, 1]))[("between / within", "all")] == np.inf


def test_topology_from_stored_skeletons_and_the_modal_share(run):
    nets = run.sql('select network, "group", arch from networks order by network').fetchall()
    for group in run.groups():
        rows = [(n, a) for n, g, a in nets if g == group]
        # Every gru network has the cube; the first vanilla network has another skeleton.
        sigs = [CUBE if (a == "gru" or k > 0) else OTHER for k, (n, a) in enumerate(rows)]
        run.write(group, SkeletonRows(
            network=[n for n, _ in rows], group=[group] * len(rows), input_index=[0] * len(rows),
            n_stable=[0] * len(rows), n_saddles=[0] * len(rows), index_counts=["{}"] * len(rows),
            n_slow=[0] * len(rows), n_outside=[0] * len(rows), n_cycles=[0] * len(rows),
            wl_hash=[s["wl_hash"] for s in sigs], signature=[json.dumps(s) for s in sigs]))
    result = study(run, StudyOptions(metrics=("topology",), trained_only=False))
    topo = result.results["topology"]
    n_other = sum(c != topology_class(CUBE) for c in topo.classes)
    assert n_other == 1
    summary = {(q, a): v for q, a, v in run.sql(
        "select quantity, arch, value from summary where metric = 'topology'").fetchall()}
    assert summary[("share with the modal topology", "gru")] == 1.0
    assert summary[("share with the modal topology", "vanilla")] == pytest.approx(2 / 3)
    assert summary[("share with the modal topology", "all")] == pytest.approx(5 / 6)
    assert summary[("distinct topologies", "all")] == 2.0
    # Ties split evenly: the odd vanilla network has all 5 others nearest (2 vanilla), the other vanilla
    # networks 1 vanilla among 4 cube networks at distance 0, each gru network 2 gru among 4.
    expected = (2 / 5 + 2 * (1 / 4) + 3 * (2 / 4)) / 6
    assert summary[("nearest-neighbour architecture accuracy", "all")] == pytest.approx(expected)
    d = topo.distances
    same = np.array([[a == b for b in topo.classes] for a in topo.classes])
    assert np.all(d[same] == 0.0) and np.all(d[~same] > 0.0)


def test_a_finished_metric_is_kept_unless_forced(run):
    opts = StudyOptions(metrics=("cka",), n_trials=6, trained_only=False)
    assert set(study(run, opts).results) == {"cka"}
    before = run.shards(store.SummaryRows)[0].stat().st_mtime_ns
    assert study(run, opts).results == {}
    assert run.shards(store.SummaryRows)[0].stat().st_mtime_ns == before
    assert set(study(run, opts, force=True).results) == {"cka"}


def test_bad_options_and_empty_populations_name_the_fix(run):
    with pytest.raises(UnknownNameError, match="unknown metric 'ccaa'. Did you mean 'cca'"):
        study(run, StudyOptions(metrics=("ccaa",)))
    with pytest.raises(ConfigError, match="n_trials must be a positive integer, got 0"):
        study(run, StudyOptions(n_trials=0))
    with pytest.raises(ConfigError, match=r"the run has 0 trained networks; .*--all.*trained_only=False"):
        study(run, StudyOptions(metrics=("cca",)))  # 20 steps train nothing to criterion


def test_compare_command(run):
    runner = CliRunner()
    out = runner.invoke(app, ["compare", str(run.path), "--all", "--metric", "cca,topology", "--trials", "6"],
                        terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "universality and individuality" in out.output and "cca" in out.output
    assert "skipped" in out.output  # no skeletons yet
    out = runner.invoke(app, ["compare", str(run.path), "--metric", "ccaa"])
    assert isinstance(out.exception, UnknownNameError)


# -- networks that cannot be compared: diverged in training, or non-finite / exploded states ----------
def _store_nan_weights(run, *networks: str) -> None:
    """Rewrite the stored weights of `networks` as NaN (through the store's writer), as a blown-up network
    saved by an older dynascope would have them."""
    for group in run.groups():
        ids = pipeline.load_group(run, group).networks
        rows = [i for i, net in enumerate(ids) if net in networks]
        if rows:
            params, meta = run.read_weights(group)
            params = {k: v.copy() for k, v in params.items()}
            for v in params.values():
                v[rows] = np.nan
            run.write_weights(group, params, meta)


def _flag_diverged(run, network: str) -> None:
    group = network.split("/")[0]
    rows = run.read(NetworkRows, shard=group)
    run.write(group, dataclasses.replace(rows, diverged=[n == network for n in rows.network]))


def test_diverged_nan_and_exploded_networks_are_skipped_with_the_reason_and_never_scored(run, monkeypatch):
    import importlib

    study_module = importlib.import_module("dynascope.pipeline.study")  # the package exports study() by that name

    ids = [n for (n,) in run.sql("select network from networks order by network").fetchall()]
    diverged, nan, exploded = ids[0], ids[3], ids[4]
    _flag_diverged(run, diverged)
    real = study_module.trajectories

    def with_an_explosion(r, nets, n_trials, seed):
        states = real(r, nets, n_trials, seed)
        return [s * 1e7 if net[0] == exploded else s for net, s in zip(nets, states)]

    monkeypatch.setattr(study_module, "trajectories", with_an_explosion)
    _store_nan_weights(run, nan)
    result = study(run, StudyOptions(metrics=("cca", "svcca", "dsa_wasserstein"), n_trials=6, trained_only=False))
    assert set(result.skipped_networks) == {diverged, nan, exploded}
    assert "diverged" in result.skipped_networks[diverged]
    assert "not finite" in result.skipped_networks[nan]
    assert "beyond 1e+06" in result.skipped_networks[exploded]
    kept = [n for n in ids if n not in result.skipped_networks]
    for metric, r in result.results.items():
        assert list(r.networks) == kept
        assert np.isfinite(r.distances).all()
        # The catalog holds only the kept networks: none was scored or placed in the embedding.
        (n_pairs,) = run.sql(f"select count(*) from distances where metric = '{metric}'").fetchall()[0]
        assert n_pairs == len(kept) * (len(kept) - 1) // 2
        placed = {n for (n,) in run.sql(f"select network from embedding where metric = '{metric}'").fetchall()}
        assert placed == set(kept)
    # The kept networks' CCA distances are those of NumPy on their own states.
    g = pipeline.load_group(run, run.groups()[0])
    trials = g.task.sample(jax.random.key(0), 6).inputs
    states = {}
    for name in run.groups():
        grp = pipeline.load_group(run, name)
        for i, net in enumerate(grp.networks):
            states[net] = np.asarray(grp.model.activity(grp.model.run(grp.network(i), trials)[0]))
    d = result.results["cca"].distances
    assert d[0, 1] == pytest.approx(_numpy_cca_distance(states[kept[0]], states[kept[1]]), abs=2e-3)


def test_the_state_check_by_hand():
    from dynascope.pipeline.study import MAX_ABS_STATE, unusable

    ok = np.zeros((2, 3, 4), np.float32)
    assert unusable(ok) is None
    assert unusable(ok + MAX_ABS_STATE) is None  # at the bound, not beyond
    for bad in (np.nan, np.inf, -np.inf):
        x = ok.copy()
        x[1, 2, 3] = bad
        assert "not finite" in unusable(x)
    x = ok.copy()
    x[0, 0, 0] = -2 * MAX_ABS_STATE
    assert "reach |x| = 2e+06" in unusable(x)


def test_too_few_networks_left_names_the_skipped_ones(run):
    ids = [n for (n,) in run.sql("select network from networks order by network").fetchall()]
    group = ids[0].split("/")[0]
    rows = run.read(NetworkRows, shard=group)
    run.write(group, dataclasses.replace(rows, diverged=[True] * len(rows)))
    others = [n for n in ids if not n.startswith(group + "/")]
    _store_nan_weights(run, *others[:2])
    with pytest.raises(ConfigError, match=r"the run has 1 networks after leaving out 5 \(.*diverged in training.*not finite"):
        study(run, StudyOptions(metrics=("cca",), n_trials=6, trained_only=False))


def test_compare_all_skips_a_diverged_network_with_a_note(run):
    ids = [n for (n,) in run.sql("select network from networks order by network").fetchall()]
    _flag_diverged(run, ids[1])
    out = CliRunner().invoke(app, ["compare", str(run.path), "--all", "--metric", "cca,dsa_wasserstein",
                                   "--trials", "6"], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert f"skipped {ids[1]}: diverged in training" in out.output
    placed = {n for (n,) in run.sql("select network from embedding where metric = 'cca'").fetchall()}
    assert placed == set(ids) - {ids[1]}
