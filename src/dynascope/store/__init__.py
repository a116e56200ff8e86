"""Run folders: config.toml, a Parquet catalog queried with DuckDB, safetensors weights, a SHA-256 manifest
verified on read, and a writer lock (`RunFolder.writing()`) so one command writes a folder at a time."""

from dynascope.store._files import write_atomic
from dynascope.store.run import RunFolder, check_writable, open, versions
from dynascope.store.schema import TABLES
from dynascope.store.sweep import (
    StoredGroup,
    SweepConfig,
    group_damage,
    group_key,
    load_group,
    network_id,
    run_sweep,
    save_population,
)

__all__ = [
    "RunFolder",
    "StoredGroup",
    "SweepConfig",
    "TABLES",
    "check_writable",
    "group_damage",
    "group_key",
    "load_group",
    "network_id",
    "open",
    "run_sweep",
    "save_population",
    "versions",
    "write_atomic",
]
