"""The sweep the Ray backend's tests shard: shared by the tests that need no cluster and by the cluster cases,
which run in a pytest process of their own (see test_ray_backend.py)."""

from __future__ import annotations

from dynascope.pipeline import SweepConfig
from dynascope.train import TrainOptions

# Two chunks of 10 steps: a checkpoint lies between them, where the fault drill kills its worker; parameter
# snapshots at steps 0, 10 and 20, so the merge of snapshots is checked too.
CONFIG = SweepConfig(
    task="flipflop",
    archs=("vanilla",),
    n_hidden=(4,),
    n_networks=4,
    steps=20,
    task_options={"n_bits": 2, "n_time": 10},
    # What `dynascope train --batch 8 --lr 0.01 --checkpoint-every 10 --snapshot-every 10` builds, so the
    # command's test reuses the workers' compiled programs.
    train=TrainOptions(batch_size=8, learning_rate=0.01, checkpoint_every=10, snapshot_every=10),
)
GROUP = "vanilla-4"
