"""A run folder: config.toml, Parquet catalog queried with DuckDB, safetensors weights.

Opening a run folder never executes code: no pickle anywhere; every shard is checked against its schema.
"""

from __future__ import annotations

import contextlib
import json
import platform
import tomllib
from pathlib import Path
from typing import Any, Iterator

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tomli_w
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from dynascope.errors import DynascopeError, RunFolderError
from dynascope.store._files import check_writable, is_temp, storage_error, temp_path, write_atomic
from dynascope.store._lock import HOLDER, OWN_FILES, is_held_here, writer_lock
from dynascope.store._manifest import MANIFEST, Manifest
from dynascope.store.schema import TABLES

CONFIG = "config.toml"

__all__ = ["CONFIG", "RunFolder", "check_writable", "open", "versions"]


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


def _recovery(run: Path, table: str, stem: str) -> str:
    """How to rewrite a damaged shard of `table` named `stem`: which command writes it again."""
    train = (f"rerun the training command with --resume (`dynascope train ... --out {run} --resume`): it "
             f"retrains the damaged group {stem!r} and rewrites its files")
    done_marker = {"fixed_points": "skeletons", "distances": "summary", "embedding": "summary"}
    command = {"fixed_points": "analyze", "skeletons": "analyze", "distances": "compare", "embedding": "compare",
               "summary": "compare"}
    if table in ("networks", "losses", "weights"):
        return train
    if table not in command:
        return "delete it and rerun the command that wrote it"
    also = f" and {run / 'catalog' / done_marker[table] / f'{stem}.parquet'}" if table in done_marker else ""
    return f"delete it{also}, then rerun `dynascope {command[table]} {run}`"


class RunFolder:
    """Handle on one run folder. Build with `create` or `open`; query with `sql`; write inside `writing()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._con: duckdb.DuckDBPyConnection | None = None
        self._manifest = Manifest(path)

    # -- creation and config ---------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, config: dict[str, Any]) -> "RunFolder":
        """Make a new run folder holding `config` (a TOML-able dict, already validated) and the current versions.

        The folder may exist if it is empty; our own leftovers (a temp file of a killed process, a lock
        file) do not count as content.
        """
        path = Path(path)
        if (path / CONFIG).exists():
            raise RunFolderError(f"{path} already holds a run; choose another folder or resume it.")
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"{path} is a file, not a folder; choose a new folder for the run (e.g. runs/NAME).")
        _check_empty(path)
        check_writable(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise storage_error(path, err) from err
        run = cls(path)
        doc = dict(config)
        doc["versions"] = versions()
        with run.writing():
            if (path / CONFIG).exists():  # another process created it since the check above
                raise RunFolderError(f"{path} already holds a run; choose another folder or resume it.")
            _check_empty(path)
            for name in (CONFIG, MANIFEST, HOLDER):  # a killed process's temp files of ours
                with contextlib.suppress(OSError):
                    temp_path(path / name).unlink(missing_ok=True)
            write_atomic(path / CONFIG, lambda p: p.write_text(tomli_w.dumps(doc)))
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunFolder":
        """Open an existing run folder; RunFolderError if it is missing, or its config is unreadable or invalid."""
        path = Path(path)
        if not path.is_dir():
            raise RunFolderError(f"run folder {path} does not exist; train one first with `dynascope train --out {path}`.")
        if not (path / CONFIG).is_file():
            raise RunFolderError(f"{path} is not a dynascope run folder (no {CONFIG}); point at the folder `dynascope train --out` wrote.")
        run = cls(path)
        _validate_config(path / CONFIG, run.config)  # a corrupt or nonsensical config fails at open
        run._manifest.entries()  # and so does a mangled manifest
        return run

    @property
    def config(self) -> dict[str, Any]:
        """The parsed config.toml."""
        try:
            return tomllib.loads((self.path / CONFIG).read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise RunFolderError(f"{self.path / CONFIG} is not valid TOML ({err}).") from err
        except OSError as err:
            raise RunFolderError(f"{self.path / CONFIG} cannot be read ({err.strerror or err}); check its permissions.") from err

    def verify(self) -> dict[str, str]:
        """Check every catalog shard (checksum, schema) and weights file (checksum, readable); returns
        {path: the error it raises} for the damaged ones, empty when every file passes."""
        problems: dict[str, str] = {}
        for table in TABLES:
            for shard in self.shards(table):
                try:
                    self._read_shard(table, shard)
                except RunFolderError as err:
                    problems[str(shard)] = str(err)
        for group in self.groups():
            try:
                self.read_weights(group)
            except RunFolderError as err:
                problems[str(self.path / "weights" / f"{group}.safetensors")] = str(err)
        # A file the manifest records that is gone (deleted, moved) is damage too: without this check a run
        # with its weights removed looked complete wherever only the catalog was read.
        for rel in self._manifest.entries():
            path = self.path / rel
            if not path.exists():
                parts = Path(rel).parts
                table, stem = (parts[1], path.stem) if parts[0] == "catalog" else ("weights", path.stem)
                problems[str(path)] = f"{path} is missing (recorded in {MANIFEST}); {_recovery(self.path, table, stem)}."
        return problems

    def check_intact(self) -> None:
        """RunFolderError naming every damaged or missing file (see `verify`), before a command relies on them."""
        damaged = self.verify()
        if damaged:
            listing = "; ".join(damaged.values()) if len(damaged) == 1 else (
                f"{len(damaged)} damaged files ({', '.join(Path(f).name for f in damaged)}); the first: "
                f"{next(iter(damaged.values()))}")
            raise RunFolderError(listing)

    # -- writing ---------------------------------------------------------------------------------
    def check_writable(self) -> None:
        """RunFolderError ("... is not writable ...") unless files can be created in the folder and in each of
        its catalog, weights and checkpoint folders; `writing()` calls it before taking the lock."""
        check_writable(self.path)
        for sub in (self.path / "catalog", self.path / "weights", self.path / "checkpoints"):
            if sub.is_dir():
                for folder in (sub, *sorted(p for p in sub.iterdir() if p.is_dir())):
                    check_writable(folder)

    @contextlib.contextmanager
    def writing(self, command: str | None = None) -> Iterator[None]:
        """Check the folder is writable, then hold its writer lock for a block: `with run.writing(): ...`.

        Wrap a whole writing command (train, analyze, compare, report) in it, before its minutes of work:
        a read-only or full folder fails at once (`check_writable`), and a second process that tries to
        write the folder meanwhile gets a RunFolderError naming this one (pid, host, `command` — by
        default this process's command line). Reentrant; every write takes it for its own duration too.
        """
        if not is_held_here(self.path):
            self.check_writable()
        with writer_lock(self.path, command):
            yield

    def _write(self, path: Path, write: Any) -> None:
        """Write `path` atomically under the lock, recording its checksum in the manifest."""
        with self.writing():
            self._manifest.forget(path)
            write_atomic(path, write, staged=lambda tmp: self._manifest.stage(path, tmp))
            self._manifest.settle(path)

    # -- catalog ---------------------------------------------------------------------------------
    def write_table(self, table: str, shard: str, data: dict[str, Any] | pa.Table) -> Path:
        """Write one shard of catalog `table` (columns as a dict or an Arrow table), atomically.

        Writing a shard with an existing name replaces it, so re-running a step never duplicates rows.
        """
        schema = TABLES[table]
        t = data if isinstance(data, pa.Table) else pa.Table.from_pydict(data, schema=schema)
        t = t.select(schema.names).cast(schema)
        path = self.path / "catalog" / table / f"{shard}.parquet"
        self._write(path, lambda p: pq.write_table(t, p))
        self._con = None  # views change
        return path

    def shards(self, table: str) -> list[Path]:
        """The shard files of `table`, sorted."""
        return sorted((self.path / "catalog" / table).glob("*.parquet"))

    def read_shard(self, table: str, shard: str) -> pa.Table:
        """One shard of `table`, checked against its checksum and the schema; RunFolderError if missing."""
        path = self.path / "catalog" / table / f"{shard}.parquet"
        if not path.is_file():
            raise RunFolderError(f"catalog shard {path} does not exist; {_recovery(self.path, table, shard)}.")
        return self._read_shard(table, path)

    def read_table(self, table: str) -> pa.Table:
        """All shards of `table` concatenated, each checked against the schema."""
        parts = [self._read_shard(table, p) for p in self.shards(table)]
        return pa.concat_tables(parts) if parts else TABLES[table].empty_table()

    def _read_shard(self, table: str, path: Path) -> pa.Table:
        self._manifest.verify(path, _recovery(self.path, table, path.stem))
        try:
            t = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as err:
            raise RunFolderError(f"catalog shard {path} is corrupt ({err}); {_recovery(self.path, table, path.stem)}.") from err
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
        self._write(path, lambda p: save_file(flat, str(p), metadata=meta))
        return path

    def read_weights(self, group: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Load a group's stacked params and metadata; RunFolderError if missing or unreadable."""
        path = self.path / "weights" / f"{group}.safetensors"
        if not path.is_file():
            raise RunFolderError(f"{path} does not exist; the group {group!r} has not finished training (resume the run).")
        self._manifest.verify(path, _recovery(self.path, "weights", group))
        try:
            from safetensors import safe_open

            with safe_open(str(path), "numpy") as f:
                meta = f.metadata() or {}
            params = load_file(str(path))
            metadata = json.loads(meta["dynascope"])
        except (SafetensorError, KeyError, json.JSONDecodeError, OSError) as err:
            raise RunFolderError(
                f"weights file {path} is corrupt or foreign ({err}); {_recovery(self.path, 'weights', group)}."
            ) from err
        return params, metadata

    def load_group(self, group: str) -> Any:
        """The group's task, model and stacked params (a `StoredGroup`), checked against the model."""
        from dynascope.store.sweep import load_group

        return load_group(self, group)

    def groups(self) -> list[str]:
        """Names of the groups whose weights are stored."""
        return sorted(p.stem for p in (self.path / "weights").glob("*.safetensors"))


def _check_empty(path: Path) -> None:
    """RunFolderError if folder `path` holds anything but our own temp and lock files."""
    if not path.is_dir():
        return
    if any(not (is_temp(p.name) or p.name in OWN_FILES) for p in path.iterdir()):
        raise RunFolderError(
            f"{path} already holds other files and is not a dynascope run folder (no {CONFIG}); a run is "
            "written into a folder of its own: choose a new or empty folder (e.g. runs/NAME)."
        )


def _validate_config(path: Path, config: dict[str, Any]) -> None:
    """RunFolderError naming the key and value if the [sweep] config of a run is not one `train` accepts."""
    if "sweep" not in config:
        raise RunFolderError(f"{path} has no [sweep] section; it was not written by `dynascope train`.")
    from dynascope.store.sweep import SweepConfig

    try:
        parsed = SweepConfig.from_dict(config)
    except RunFolderError as err:  # names the key and the value, and the fix
        raise RunFolderError(f"{path} holds an invalid config: {str(err).removeprefix(f'{CONFIG}: ')}") from err
    try:
        parsed.validate()
    except DynascopeError as err:
        raise RunFolderError(
            f"{path} holds an invalid config: {err} Correct that value in {path.name}, or retrain into a new folder."
        ) from err


def open(path: str | Path) -> RunFolder:  # noqa: A001  (the contract: dynascope.store.open)
    """Open the run folder at `path` (see `RunFolder.open`)."""
    return RunFolder.open(path)
