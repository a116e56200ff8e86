"""A run folder holding one blown-up network, written by the real sweep: four ReLU rate networks on the
2-bit flip-flop, the last trained with a learning rate of 1e4 so that it blows up at once: its frozen
params send the states of a 32-step trial to NaN. Shared by the analysis, report and CLI tests of what happens downstream of it."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np

from dynascope import pipeline, store
from dynascope.pipeline import SweepConfig
from dynascope.train import Population, TrainOptions

CONFIG = SweepConfig(
    task="flipflop",
    archs=("ctrnn",),
    n_hidden=(5,),
    n_networks=4,
    steps=20,
    task_options={"n_bits": 2, "n_time": 32},
    model_options={"ctrnn": {"activation": "relu"}},
    train=TrainOptions(batch_size=8, learning_rate=(1e-2, 1e-2, 1e-2, 1e4), checkpoint_every=20, eval_batch=16),
)
GROUP = "ctrnn-5"
HEALTHY = ("ctrnn-5/s000", "ctrnn-5/s001", "ctrnn-5/s002")
BLOWN_UP = "ctrnn-5/s003"


def blown_up_run(path: Path) -> Path:
    """Train CONFIG into `path` and return it; the last network is flagged diverged, none is trained."""
    run = pipeline.run_sweep(CONFIG, path)
    flags = {n: (t, d) for n, t, d in run.sql("select network, trained, diverged from networks").fetchall()}
    assert flags == {**{n: (False, False) for n in HEALTHY}, BLOWN_UP: (False, True)}, flags
    return path


def restanded_copy(source: Path, path: Path, *, trained: tuple[str, ...] = (), diverged: tuple[str, ...] = ()) -> Path:
    """A copy of the run at `source` whose networks are flagged `trained` / `diverged` as given (all others
    neither), rewritten with `save_population`, the real writer: with diverged=() a blown-up network is
    flagged healthy, as older dynascopes did for finite exploded losses; with trained=... it stands in for
    longer training."""
    shutil.copytree(source, path)
    run = store.open(path)
    group = pipeline.load_group(run, GROUP)
    nets = run.read(store.NetworkRows, shard=GROUP).columns()
    stored = run.read(store.LossRows, shard=GROUP)
    losses = dict(zip(stored.network, stored.loss))
    ids = nets["network"]
    fields = dict(
        task=group.task, model=group.model, params=group.params,
        seeds=np.asarray(nets["seed"], np.int64), learning_rates=np.asarray(nets["learning_rate"], np.float32),
        loss_history=np.asarray([losses[n] for n in ids], np.float32),
        final_loss=np.asarray(nets["final_loss"], np.float32), metric=np.asarray(nets["metric"], np.float32),
        trained=np.isin(ids, trained), diverged=np.isin(ids, diverged),
        stopped_at=np.asarray(nets["stopped_at"], np.int32), seconds=float(nets["train_seconds"][0]),
        options=CONFIG.train,
        # The fixture's run keeps no parameter snapshots (snapshot_every = 0).
        snapshot_steps=np.zeros(0, np.int64), snapshots=None,
    )
    assert {f.name for f in dataclasses.fields(Population)} == set(fields)
    assert list(ids) == [pipeline.network_id(GROUP, s) for s in range(CONFIG.n_networks)]
    pipeline.save_population(run, GROUP, Population(**fields))
    return path
