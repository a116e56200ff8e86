"""Sweeps sharded across the workers and nodes of a Ray cluster (`pip install 'dynascope[scale]'`).

`run_sweep_ray` trains a sweep as Ray tasks, each a range of one group's networks (a `Shard`), and leaves
the run folder a single-process `pipeline.run_sweep` leaves. Ray is imported only when a sweep runs.
"""

from dynascope.scale._ray import CRASH_ENV, ShardCounts, ShardProgress, require_ray, run_sweep_ray
from dynascope.scale._shards import SHARDS, Shard, cut_shards, finished_shards, merge_group, train_shard

__all__ = [
    "CRASH_ENV",
    "SHARDS",
    "Shard",
    "ShardCounts",
    "ShardProgress",
    "cut_shards",
    "finished_shards",
    "merge_group",
    "require_ray",
    "run_sweep_ray",
    "train_shard",
]
