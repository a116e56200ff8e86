"""analyze_run (the engine of `dynascope analyze`): catalog rows checked against NumPy on the stored weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dynascope import dynamics, store
from dynascope.store import SweepConfig
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
OPTIONS = dynamics.AnalysisOptions(n_trials=8, n_seeds=32, skeleton_steps=200)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    run = store.run_sweep(CONFIG, tmp_path_factory.mktemp("runs") / "r")
    calls = []
    done = dynamics.analyze_run(run, OPTIONS, progress=lambda *a: calls.append(a))
    return run, done, calls


def test_every_group_is_analysed_once_and_resumes(analysed):
    run, done, calls = analysed
    assert done == ["vanilla-5"]
    assert calls == [("vanilla-5", 0, 2), ("vanilla-5", 2, 2)]
    assert dynamics.analyze_run(run, OPTIONS) == []  # already analysed: skipped
    assert dynamics.analyze_run(run, OPTIONS, force=True) == ["vanilla-5"]


def test_fixed_point_rows_are_fixed_points_of_the_stored_weights(analysed):
    run, _, _ = analysed
    group = store.load_group(run, "vanilla-5")
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
