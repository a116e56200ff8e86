"""A tiny trained run (2 architectures × 2 seeds), once as trained and once with every analysis table
filled with plausible rows, shared by the report tests."""

from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pytest

from dynascope import pipeline, store
from dynascope.pipeline import SweepConfig
from dynascope.store import (
    DistanceRows,
    EmbeddingRows,
    EnergyRows,
    FixedPointRows,
    NetworkRows,
    SkeletonRows,
    SummaryRows,
)
from dynascope.train import TrainOptions

TINY = SweepConfig(
    task="flipflop", archs=("vanilla", "gru"), n_hidden=(8,), n_networks=2, steps=30,
    task_options={"n_bits": 2, "n_time": 16},
    train=TrainOptions(batch_size=8, learning_rate=1e-2, checkpoint_every=30, eval_batch=16),
)
METRICS = ("cca", "topology")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """Path of a run folder holding only training data (networks, losses, weights)."""
    path = tmp_path_factory.mktemp("report") / "trained"
    pipeline.run_sweep(TINY, path)
    return path


@pytest.fixture(scope="session")
def full_run(trained_run, tmp_path_factory):
    """Path of a copy of the trained run with fixed_points, skeletons, energy, distances, embedding and summary
    filled."""
    path = tmp_path_factory.mktemp("report") / "full"
    shutil.copytree(trained_run, path)
    run = store.open(path)
    fill_analysis(run)
    return path


def fixed_point_rows(network: str, group: str, n_state: int, n_inputs: int) -> FixedPointRows:
    """Plausible flip-flop fixed points: 4 stable corners, a saddle at the origin (index 1), two index-1
    saddles on the axes, one index-2 point, one slow point and one outside the reachable region."""
    points = []

    def add(state, index, status="converged", outside=False):
        eig = np.full(n_state, 0.5, complex)
        eig[:index] = 1.3
        eig[index:index + 2] = 0.6 + 0.3j, 0.6 - 0.3j
        points.append(FixedPointRows(
            network=[network], group=[group], input_index=[0], input=[[0.0] * n_inputs],
            state=[[float(v) for v in state]], q=[1e-14 if status == "converged" else 1e-5], status=[status],
            n_unstable=[index], is_stable=[index == 0], outside_reachable=[outside],
            eig_real=[eig.real.tolist()], eig_imag=[eig.imag.tolist()]))

    e = np.eye(n_state)
    for a, b in itertools.product((-0.7, 0.7), repeat=2):
        add(a * e[0] + b * e[1], 0)
    add(np.zeros(n_state), 1)
    add(0.7 * e[0], 1)
    add(0.7 * e[1], 1)
    add(0.3 * (e[0] + e[1]), 2)
    add(0.5 * e[2], 0, status="slow")
    add(5.0 * e[3], 1, outside=True)
    return FixedPointRows.concat(points)


def signature() -> str:
    edges = [[1, 0]] * 6 + [[2, 1]] * 2 + [[1, "unbounded"]]
    return json.dumps({"n_fixed_points": 8, "counts": {"0": 4, "1": 3, "2": 1}, "terminals": {"unbounded": 1},
                       "edges": edges, "wl_hash": "abc123"})


def energy_rows(nets: NetworkRows, group: str) -> EnergyRows:
    """Plausible energy rows of a group's rate networks (16 steps per trial): a dense step of each architecture,
    scores from the networks table."""
    mine = [i for i, g in enumerate(nets.group) if g == group]
    per_step = {"vanilla": 96.0, "gru": 288.0}
    return EnergyRows(
        network=[nets.network[i] for i in mine], group=[group] * len(mine), arch=[nets.arch[i] for i in mine],
        spiking=[False] * len(mine), n_trials=[64] * len(mine),
        operations_per_trial=[16 * per_step[nets.arch[i]] for i in mine],
        operations_per_step=[per_step[nets.arch[i]] for i in mine], mean_rate_hz=[None] * len(mine),
        score=[nets.metric[i] for i in mine])


def fill_analysis(run) -> None:
    """Write every analysis table of `run` through the store's writer, as `dynascope analyze` and
    `dynascope compare` would."""
    nets = run.read(NetworkRows, order_by=("network",))
    for group in sorted(set(nets.group)):
        mine = [(n, h) for n, g, h in zip(nets.network, nets.group, nets.n_hidden) if g == group]
        run.write(group, FixedPointRows.concat(fixed_point_rows(n, group, h, 2) for n, h in mine))
        run.write(group, SkeletonRows(
            network=[n for n, _ in mine], group=[group] * len(mine), input_index=[0] * len(mine),
            n_stable=[4] * len(mine), n_saddles=[4] * len(mine), index_counts=['{"0": 4, "1": 3, "2": 1}'] * len(mine),
            n_slow=[1] * len(mine), n_outside=[1] * len(mine), n_cycles=[0] * len(mine),
            wl_hash=["abc123"] * len(mine), signature=[signature()] * len(mine)))
        run.write(group, energy_rows(nets, group))
    ids = list(nets.network)
    arch = dict(zip(nets.network, nets.arch))
    rng = np.random.default_rng(0)
    for metric in METRICS:
        pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]]
        d = [0.1 + 0.8 * (arch[a] != arch[b]) + 0.05 * rng.random() for a, b in pairs]
        run.write(metric, DistanceRows(metric=[metric] * len(pairs), a=[p[0] for p in pairs],
                                       b=[p[1] for p in pairs], distance=d))
        xy = rng.normal(size=(len(ids), 2))
        run.write(metric, EmbeddingRows(metric=[metric] * len(ids), network=ids, x=xy[:, 0], y=xy[:, 1],
                                        cluster=[int(arch[n] == "gru") for n in ids]))
        quantity = ["within-architecture mean distance"] * 2 + ["between / within"]
        archs, values = ["vanilla", "gru", "all"], [0.12, 0.13, 7.2]
        if metric == "topology":
            quantity += ["share with the modal topology"] * 3
            archs, values = archs * 2, values + [1.0, 0.5, 0.75]
        run.write(metric, SummaryRows(metric=[metric] * len(quantity), quantity=quantity, arch=archs, value=values))


@pytest.fixture(scope="session")
def full_report(full_run):
    """Path of the report of `full_run`, written once."""
    from dynascope.report import write_report

    return write_report(full_run)
