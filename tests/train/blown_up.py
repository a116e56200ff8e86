"""A run folder holding one blown-up network, written by the real sweep: three ReLU rate networks on the
2-bit flip-flop, the third trained with a learning rate of 1e4 so that its loss and states go non-finite
within a few steps. Shared by the analysis, report and CLI tests of what happens downstream of it."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np

from dynascope import store
from dynascope.store import SweepConfig
from dynascope.train import TrainOptions

CONFIG = SweepConfig(
    task="flipflop",
    archs=("ctrnn",),
    hidden=(5,),
    seeds=3,
    steps=20,
    task_options={"n_bits": 2, "n_time": 16},
    model_options={"ctrnn": {"activation": "relu"}},
    train=TrainOptions(batch_size=8, learning_rate=(1e-2, 1e-2, 1e4), checkpoint_every=20, eval_batch=16),
)
GROUP = "ctrnn-5"
HEALTHY = ("ctrnn-5/s000", "ctrnn-5/s001")
BLOWN_UP = "ctrnn-5/s002"


def blown_up_run(path: Path) -> Path:
    """Train CONFIG into `path` and return it; the third network is flagged diverged."""
    run = store.run_sweep(CONFIG, path)
    flags = dict(run.sql("select network, diverged from networks").fetchall())
    assert flags == {HEALTHY[0]: False, HEALTHY[1]: False, BLOWN_UP: True}, flags
    return path


def unflagged_copy(source: Path, path: Path) -> Path:
    """A copy of the blown-up run as a dynascope without the divergence rule wrote it: the same weights and
    losses, every network flagged healthy (rewritten with `save_population`, the real writer)."""
    shutil.copytree(source, path)
    run = store.open(path)
    group = run.load_group(GROUP)
    nets = run.read_table("networks").to_pydict()
    losses = run.read_table("losses").to_pydict()
    pop_fields = dict(
        task=group.task, model=group.model, params=group.params,
        seeds=np.asarray(nets["seed"], np.int64), learning_rates=np.asarray(nets["learning_rate"], np.float32),
        loss_history=np.asarray(losses["loss"], np.float32), final_loss=np.asarray(nets["final_loss"], np.float32),
        metric=np.asarray(nets["metric"], np.float32), trained=np.zeros(3, bool), diverged=np.zeros(3, bool),
        stopped_at=np.asarray(nets["stopped_at"], np.int32), seconds=float(nets["train_seconds"][0]),
        options=CONFIG.train,
    )
    from dynascope.train import Population

    assert {f.name for f in dataclasses.fields(Population)} == set(pop_fields)
    store.save_population(run, GROUP, Population(**pop_fields))
    return path
