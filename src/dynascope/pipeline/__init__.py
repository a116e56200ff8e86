"""Run-level work on a run folder: train a sweep or an ablation, analyse every network, study the population,
score it against a benchmark recording, map where modules specialise.

Each step reads and writes the run folder through the store's declared tables (`dynascope.store`); the
compute layers it calls (`train`, `dynamics`, `compare`) never see a run folder.
"""

from dynascope.pipeline.ablation import AblationConfig, AblationSummary, ablation_summary, run_ablation
from dynascope.pipeline.analyze import DIVERGED, NON_FINITE, AnalysisOptions, analyze_group, analyze_run
from dynascope.pipeline.config import SweepConfig, open_run, written_by
from dynascope.pipeline.populations import (
    StoredGroup,
    group_damage,
    load_group,
    load_snapshots,
    network_id,
    save_population,
)
from dynascope.pipeline.over_training import Emergence, analyze_over_training, emergence
from dynascope._registry import option  # a field with a declared constraint, for new mechanisms
from dynascope.pipeline.mechanisms import Arm, Mechanism, get_mechanism, mechanism_names, register_mechanism
from dynascope.pipeline.study import MAX_ABS_STATE, MetricResult, Study, StudyOptions, study
from dynascope.pipeline.benchmarks import Benchmark, benchmark_names, get_benchmark, register_benchmark
from dynascope.pipeline.score import Leaderboard, ScoreOptions, score
from dynascope.pipeline.fitted import fitted_groups, score_fitted
from dynascope.pipeline.specialization import (
    SpecializationConfig,
    SpecializationSummary,
    run_specialization,
    specialization_summary,
)
from dynascope.pipeline.sweep import group_key, prepare_run, run_sweep, train_groups

__all__ = [
    "Emergence",
    "analyze_over_training",
    "emergence",
    "load_snapshots",
    "Benchmark",
    "Leaderboard",
    "ScoreOptions",
    "benchmark_names",
    "get_benchmark",
    "register_benchmark",
    "score",
    "fitted_groups",
    "score_fitted",
    "AblationConfig",
    "AblationSummary",
    "Arm",
    "Mechanism",
    "ablation_summary",
    "get_mechanism",
    "mechanism_names",
    "option",
    "register_mechanism",
    "run_ablation",
    "SpecializationConfig",
    "SpecializationSummary",
    "run_specialization",
    "specialization_summary",
    "train_groups",
    "DIVERGED",
    "MAX_ABS_STATE",
    "NON_FINITE",
    "AnalysisOptions",
    "MetricResult",
    "StoredGroup",
    "Study",
    "StudyOptions",
    "SweepConfig",
    "analyze_group",
    "analyze_run",
    "group_damage",
    "group_key",
    "load_group",
    "network_id",
    "open_run",
    "prepare_run",
    "run_sweep",
    "save_population",
    "study",
    "written_by",
]
