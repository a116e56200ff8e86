"""Run folders: config.toml, a Parquet catalog whose tables are declared once (`schema`), safetensors
weights, a SHA-256 manifest verified on read, and a writer lock (`RunFolder.writing()`) so one command
writes a folder at a time; a run folder at an fsspec URL is worked on in a local copy (`remote`). The store
keeps what it is given: it imports no task, model or trainer."""

from dynascope.store._files import write_atomic
from dynascope.store._lock import busy
from dynascope.store.remote import Remote, is_url
from dynascope.store.run import CONFIG, RunFolder, check_writable, holds_run, open, run_location, run_path, versions
from dynascope.store.schema import (
    TABLES,
    AblationRows,
    DistanceRows,
    EmbeddingRows,
    EnergyRows,
    FitScoreRows,
    FixedPointRows,
    LossRows,
    NetworkRows,
    Rows,
    SkeletonRows,
    SpecializationRows,
    TrainingSkeletonRows,
    SummaryRows,
)

__all__ = [
    "AblationRows",
    "CONFIG",
    "DistanceRows",
    "EmbeddingRows",
    "EnergyRows",
    "FitScoreRows",
    "FixedPointRows",
    "LossRows",
    "NetworkRows",
    "Remote",
    "RunFolder",
    "Rows",
    "SkeletonRows",
    "SpecializationRows",
    "TrainingSkeletonRows",
    "SummaryRows",
    "TABLES",
    "busy",
    "check_writable",
    "holds_run",
    "is_url",
    "open",
    "run_location",
    "run_path",
    "versions",
    "write_atomic",
]
