"""Run-level work on a run folder: the population study (train sweeps and analysis join it next)."""

from dynascope.pipeline.study import METRICS, MetricResult, Study, StudyOptions, study

__all__ = ["METRICS", "MetricResult", "Study", "StudyOptions", "study"]
