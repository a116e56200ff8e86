"""Pipeline steps sharded across the workers and nodes of a Ray cluster (`pip install 'dynascope[scale]'`).

`run_sweep_ray` trains a sweep as Ray tasks, each a range of one group's networks (a `Shard`);
`analyze_run_ray` analyses a run the same way; `study_ray` computes each metric's distance matrix in blocks
of pairs. Each leaves the run folder as its single-process step (`pipeline.run_sweep`, `analyze_run`,
`study`) leaves it. Ray is imported only when one of them runs.
"""

from dynascope.scale._analyze import analysis_stage, analyze_run_ray, analyze_shard, finished_analysis, merge_analysis
from dynascope.scale._compare import compare_stage, finished_blocks, pair_block, study_ray
from dynascope.scale._ray import CRASH_ENV, ShardCounts, ShardProgress, require_ray, run_sweep_ray
from dynascope.scale._shards import SHARDS, Shard, cut_shards, finished_shards, merge_group, train_shard

__all__ = [
    "CRASH_ENV",
    "SHARDS",
    "Shard",
    "ShardCounts",
    "ShardProgress",
    "analysis_stage",
    "analyze_run_ray",
    "analyze_shard",
    "compare_stage",
    "cut_shards",
    "finished_analysis",
    "finished_blocks",
    "finished_shards",
    "merge_analysis",
    "merge_group",
    "pair_block",
    "require_ray",
    "run_sweep_ray",
    "study_ray",
    "train_shard",
]
