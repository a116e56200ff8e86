"""The smallest sweep the store tests train: one 4-unit vanilla group of 2 networks on a 1-bit flip-flop."""

from __future__ import annotations

from dynascope.pipeline import SweepConfig
from dynascope.train import TrainOptions

TINY = SweepConfig(
    task="flipflop",
    archs=("vanilla",),
    n_hidden=(4,),
    n_networks=2,
    steps=20,
    task_options={"n_bits": 1, "n_time": 8},
    train=TrainOptions(batch_size=4, learning_rate=1e-2, checkpoint_every=10, eval_batch=8),
)
