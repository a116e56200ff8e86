"""A run folder: config.toml, Parquet catalog queried with DuckDB, safetensors weights.

Opening a run folder never executes code: no pickle anywhere; every shard is checked against its schema.
"""

from __future__ import annotations

import json
import os
import platform
import tomllib
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tomli_w
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from dynascope.errors import RunFolderError
from dynascope.store.schema import TABLES

CONFIG = "config.toml"


def versions() -> dict[str, str]:
    """Versions of dynascope, jax, numpy and Python, and the JAX backend, recorded in every run folder."""
    import jax

    import dynascope

    return {
        "dynascope": dynascope.__version__,
        "jax": jax.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "backend": jax.default_backend(),
    }


def _atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


class RunFolder:
    """Handle on one run folder. Build with `create` or `open`; query with `sql`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._con: duckdb.DuckDBPyConnection | None = None

    # -- creation and config ---------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, config: dict[str, Any]) -> "RunFolder":
        """Make a new run folder holding `config` (a TOML-able dict) and the current versions."""
        path = Path(path)
        if (path / CONFIG).exists():
            raise RunFolderError(f"{path} already holds a run; choose another folder or resume it.")
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"{path} is a file, not a folder; choose a new folder for the run (e.g. runs/NAME).")
        if path.is_dir() and any(path.iterdir()):
            raise RunFolderError(
                f"{path} already holds other files and is not a dynascope run folder (no {CONFIG}); a run is "
                "written into a folder of its own: choose a new or empty folder (e.g. runs/NAME)."
            )
        run = cls(path)
        doc = dict(config)
        doc["versions"] = versions()
        _atomic(path / CONFIG, lambda p: p.write_text(tomli_w.dumps(doc)))
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunFolder":
        """Open an existing run folder; RunFolderError if it is missing or has no readable config."""
        path = Path(path)
        if not path.is_dir():
            raise RunFolderError(f"run folder {path} does not exist; train one first with `dynascope train --out {path}`.")
        if not (path / CONFIG).is_file():
            raise RunFolderError(f"{path} is not a dynascope run folder (no {CONFIG}); point at the folder `dynascope train --out` wrote.")
        run = cls(path)
        run.config  # parse now so a corrupt config fails at open
        return run

    @property
    def config(self) -> dict[str, Any]:
        """The parsed config.toml."""
        try:
            return tomllib.loads((self.path / CONFIG).read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise RunFolderError(f"{self.path / CONFIG} is not valid TOML ({err}).") from err

    # -- catalog ---------------------------------------------------------------------------------
    def write_table(self, table: str, shard: str, data: dict[str, Any] | pa.Table) -> Path:
        """Write one shard of catalog `table` (columns as a dict or an Arrow table), atomically.

        Writing a shard with an existing name replaces it, so re-running a step never duplicates rows.
        """
        schema = TABLES[table]
        t = data if isinstance(data, pa.Table) else pa.Table.from_pydict(data, schema=schema)
        t = t.select(schema.names).cast(schema)
        path = self.path / "catalog" / table / f"{shard}.parquet"
        _atomic(path, lambda p: pq.write_table(t, p))
        self._con = None  # views change
        return path

    def shards(self, table: str) -> list[Path]:
        """The shard files of `table`, sorted."""
        return sorted((self.path / "catalog" / table).glob("*.parquet"))

    def read_table(self, table: str) -> pa.Table:
        """All shards of `table` concatenated, each checked against the schema."""
        parts = [self._read_shard(table, p) for p in self.shards(table)]
        return pa.concat_tables(parts) if parts else TABLES[table].empty_table()

    def _read_shard(self, table: str, path: Path) -> pa.Table:
        try:
            t = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as err:
            raise RunFolderError(f"catalog shard {path} is corrupt ({err}); delete it and re-run the step that wrote it.") from err
        if not t.schema.equals(TABLES[table], check_metadata=False):
            raise RunFolderError(
                f"catalog shard {path} does not have the {table!r} schema of this dynascope version "
                f"(got columns {t.schema.names}); it is foreign or from another version — remove it or re-run."
            )
        return t

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """Run a DuckDB query over the catalog; each table (networks, losses, fixed_points, skeletons) is a view.

        The result is a DuckDB relation: `.fetchall()`, `.arrow()`, `.df()` (with pandas) or `.show()`.
        """
        if self._con is None:
            con = duckdb.connect()
            for table in TABLES:
                arrow = self.read_table(table)  # validates every shard
                con.register(table, arrow)
            self._con = con
        try:
            return self._con.sql(query)
        except duckdb.Error as err:
            raise RunFolderError(f"query failed: {err}. Tables: {', '.join(TABLES)}.") from err

    # -- weights ---------------------------------------------------------------------------------
    def write_weights(self, group: str, params: dict[str, np.ndarray], metadata: dict[str, Any]) -> Path:
        """Save a group's stacked params (`[n, ...]` each) as safetensors with JSON `metadata`."""
        flat = {k: np.ascontiguousarray(np.asarray(v)) for k, v in params.items()}
        meta = {"dynascope": json.dumps(metadata, sort_keys=True)}
        path = self.path / "weights" / f"{group}.safetensors"
        _atomic(path, lambda p: save_file(flat, str(p), metadata=meta))
        return path

    def read_weights(self, group: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Load a group's stacked params and metadata; RunFolderError if missing or unreadable."""
        path = self.path / "weights" / f"{group}.safetensors"
        if not path.is_file():
            raise RunFolderError(f"{path} does not exist; the group {group!r} has not finished training (resume the run).")
        try:
            from safetensors import safe_open

            with safe_open(str(path), "numpy") as f:
                meta = f.metadata() or {}
            params = load_file(str(path))
            metadata = json.loads(meta["dynascope"])
        except (SafetensorError, KeyError, json.JSONDecodeError, OSError) as err:
            raise RunFolderError(f"weights file {path} is corrupt or foreign ({err}); re-run training for {group!r}.") from err
        return params, metadata

    def load_group(self, group: str) -> Any:
        """The group's task, model and stacked params (a `StoredGroup`), checked against the model."""
        from dynascope.store.sweep import load_group

        return load_group(self, group)

    def groups(self) -> list[str]:
        """Names of the groups whose weights are stored."""
        return sorted(p.stem for p in (self.path / "weights").glob("*.safetensors"))


def open(path: str | Path) -> RunFolder:  # noqa: A001  (the contract: dynascope.store.open)
    """Open the run folder at `path` (see `RunFolder.open`)."""
    return RunFolder.open(path)
