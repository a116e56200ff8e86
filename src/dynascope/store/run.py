"""A run folder: config.toml, a Parquet catalog of the tables declared in `schema`, safetensors weights.

Opening a run folder never executes code: no pickle anywhere; every shard is checked against its schema.
What the config means (the sweep it describes) is the pipeline's to check; the store only keeps it.
"""

from __future__ import annotations

import contextlib
import json
import platform
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import tomli_w
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from dynascope.errors import ConfigError, DynascopeError, RunFolderError
from dynascope.store._files import check_writable, is_temp, storage_error, temp_path, write_atomic
from dynascope.store._lock import HOLDER, OWN_FILES, busy, is_held_here, writer_lock
from dynascope.store._manifest import MANIFEST, Manifest
from dynascope.store.remote import Remote, is_url
from dynascope.store.schema import TABLES, Rows

CONFIG = "config.toml"

__all__ = ["CONFIG", "RunFolder", "check_writable", "holds_run", "open", "run_location", "versions"]

R = TypeVar("R", bound=Rows)


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


def _trained_by_ablate(run: Path) -> bool:
    """Whether `dynascope ablate` made the run (its config has an [ablation] section): a damaged group is
    retrained by that command, not by `train`. False when the config cannot be read."""
    try:
        return "ablation" in tomllib.loads((run / CONFIG).read_text())
    except (OSError, ValueError):
        return False


def _recovery(run: "RunFolder", table: str, stem: str) -> str:
    """How to rewrite a damaged shard of `table` named `stem`: which command writes it again, naming the run
    as the user does (its URL for a run at a URL: the working copy is only this machine's copy)."""
    where = run.location
    trainer = "dynascope ablate" if _trained_by_ablate(run.path) else "dynascope train"
    train = (f"rerun the training command with --resume (`{trainer} ... --out {where} --resume`): it "
             f"retrains the damaged group {stem!r} and rewrites its files")
    done_marker = {"fixed_points": "skeletons", "distances": "summary", "embedding": "summary"}
    # energy has no done marker: `analyze` rewrites a group's missing energy shard without redoing the rest
    command = {"fixed_points": "analyze", "skeletons": "analyze", "energy": "analyze", "distances": "compare",
               "embedding": "compare", "summary": "compare", "training_skeletons": "analyze"}
    if table in ("networks", "losses", "weights", "snapshots"):
        return train
    # At a URL the file is deleted there: a pull would bring back the working copy's file.
    it = f"{where}/catalog/{table}/{stem}.parquet" if run.remote is not None else "it"
    if table not in command:
        return f"delete {it} and rerun the command that wrote it"
    marker = f"catalog/{done_marker[table]}/{stem}.parquet" if table in done_marker else ""
    also = (f" and {where}/{marker}" if run.remote is not None else f" and {run.path / marker}") if marker else ""
    flag = " --over-training" if table == "training_skeletons" else ""
    return f"delete {it}{also}, then rerun `dynascope {command[table]} {where}{flag}`"


class RunFolder:
    """Handle on one run folder. Build with `create` or `open`; `read` and `write` catalog rows (the tables of
    `schema`) and weights; hold `writing()` around a command that writes.

    A run at a URL (`s3://...`, see `store.remote`) is worked on in its local working copy `path`, which
    `open` and `create` pull and `writing()` pushes when the command ends (`publish` after each unit).
    """

    def __init__(self, path: Path, remote: Remote | None = None) -> None:
        self.path = path
        #: The URL's `Remote` for a run at a URL, else None.
        self.remote = remote
        self._tables: dict[str, tuple[tuple, pa.Table]] = {}
        self._manifest = Manifest(path)

    @property
    def location(self) -> str:
        """Where the run lives, as the user named it: its URL, or its local path."""
        return self.remote.url if self.remote is not None else str(self.path)

    # -- creation and config ---------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, config: dict[str, Any]) -> "RunFolder":
        """Make a new run folder holding `config` (a TOML-able dict, already validated) and the current versions.

        The folder may exist if it is empty; our own leftovers (a temp file of a killed process, a lock
        file) do not count as content. A URL (`s3://bucket/run`) is created in its local working copy and
        pushed: the URL must not hold a run yet.
        """
        remote = None
        if is_url(path):
            remote = Remote(path)
            if remote.holds_run():
                raise RunFolderError(f"{remote.url} already holds a run; choose another URL or resume it.")
            _pull(remote)  # empties a working copy left by an earlier run at this URL
            path = remote.path
        path = run_path(path)
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
        run = cls(path, remote)
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
        """Open an existing run folder; RunFolderError if it is missing, or its config or manifest is unreadable.

        What the config says is not checked here: `dynascope.pipeline.open_run` checks the sweep it describes.
        A URL is pulled into its local working copy first (unless this process is writing it already).
        """
        if is_url(path):
            remote = Remote(path)
            _pull(remote)
            if not (remote.path / CONFIG).is_file():
                volatile = (" memory:// storage lives in one process only: a run that another process (an earlier "
                            "dynascope command) wrote there is gone." if remote.url.lower().startswith("memory:")
                            else "")
                raise RunFolderError(
                    f"{remote.url} holds no dynascope run (no {remote.url}/pushed.json, which a run written to a "
                    f"URL has); check the URL, or train one first with `dynascope train --out {remote.url}` (a "
                    f"folder written by path is opened by its path).{volatile}"
                )
            run = cls(remote.path, remote)
            _ = run.config
            run._manifest.entries()
            return run
        path = run_path(path)
        if not path.is_dir():
            raise RunFolderError(f"run folder {path} does not exist; train one first with `dynascope train --out {path}`.")
        if not (path / CONFIG).is_file():
            raise RunFolderError(f"{path} is not a dynascope run folder (no {CONFIG}); point at the folder `dynascope train --out` wrote.")
        run = cls(path)
        _ = run.config  # a config that is not TOML fails at open
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
        for table, rows in TABLES.items():
            for shard in self.shards(rows):
                try:
                    self._read_shard(table, shard)
                except RunFolderError as err:
                    problems[str(shard)] = str(err)
        for group in self.groups():
            try:
                self.read_weights(group)
            except RunFolderError as err:
                problems[str(self.path / "weights" / f"{group}.safetensors")] = str(err)
        for group in self.snapshot_groups():
            try:
                self.read_snapshots(group)
            except RunFolderError as err:
                problems[str(self._snapshot_path(group))] = str(err)
        # A file the manifest records that is gone (deleted, moved) is damage too: without this check a run
        # with its weights removed looked complete wherever only the catalog was read.
        for rel in self._manifest.entries():
            path = self.path / rel
            if not path.exists():
                parts = Path(rel).parts
                table, stem = (parts[1], path.stem) if parts[0] == "catalog" else (parts[0], path.stem)
                problems[str(path)] = f"{path} is missing (recorded in {MANIFEST}); {_recovery(self, table, stem)}."
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
        its catalog, weights, snapshot and checkpoint folders; `writing()` calls it before taking the lock."""
        check_writable(self.path)
        for sub in (self.path / "catalog", self.path / "weights", self.path / "snapshots", self.path / "checkpoints"):
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
        A run at a URL is pushed when the outermost block ends, also when it ends by an error (what was
        finished is kept; a failing push then does not hide the error).
        """
        outermost = not is_held_here(self.path)
        if outermost:
            self.check_writable()
        with writer_lock(self.path, command):
            if not outermost or self.remote is None:
                yield
                return
            try:
                yield
            except BaseException:
                with contextlib.suppress(DynascopeError):
                    self.remote.push()
                raise
            self.remote.push()

    def publish(self) -> None:
        """Upload the finished work of a run at a URL (`store.remote`), under the writer lock the caller
        holds; nothing for a local run. Called after each unit of work is committed (a trained group, an
        analysed group), so an interrupted command loses at most the unit it was on."""
        if self.remote is None:
            return
        if is_held_here(self.path):
            self.remote.push()
        else:
            with self.writing():
                pass  # the outermost block pushes when it ends

    def _write(self, path: Path, write: Any) -> None:
        """Write `path` atomically under the lock, recording its checksum in the manifest."""
        with self.writing():
            self._manifest.forget(path)
            write_atomic(path, write, staged=lambda tmp: self._manifest.stage(path, tmp))
            self._manifest.settle(path)

    # -- catalog ---------------------------------------------------------------------------------
    def write(self, shard: str, rows: Rows) -> Path:
        """Write `rows` as shard `shard` of their table (e.g. a group's `NetworkRows`), atomically.

        Writing a shard with an existing name replaces it, so re-running a step never duplicates rows.
        """
        data = rows.to_arrow()
        path = self.path / "catalog" / rows.TABLE / f"{shard}.parquet"
        self._write(path, lambda p: pq.write_table(data, p))
        return path

    def shards(self, rows: type[Rows]) -> list[Path]:
        """The shard files of the table of `rows` (e.g. `SkeletonRows`), sorted; their stems are the shard names."""
        return sorted((self.path / "catalog" / rows.TABLE).glob("*.parquet"))

    def read(
        self,
        rows: type[R],
        *,
        shard: str | None = None,
        where: Mapping[str, Any] | None = None,
        order_by: Sequence[str] = (),
    ) -> R:
        """Rows of the table of `rows` (e.g. `read(NetworkRows)`), every shard checked against its checksum and
        the schema; only shard `shard` if given (RunFolderError if it does not exist).

        `where` keeps the rows whose columns equal the given values ({column: value}, or {column: [values]}
        for any of several); `order_by` sorts by columns, ascending. A table nobody has written is empty.
        """
        return rows.from_arrow(self._select(rows, shard, where, order_by))

    def count(self, rows: type[Rows], *, where: Mapping[str, Any] | None = None) -> int:
        """How many rows `read(rows, where=where)` would return, without converting them."""
        return self._select(rows, None, where, ()).num_rows

    def distinct(self, rows: type[Rows], column: str, *, where: Mapping[str, Any] | None = None) -> list[Any]:
        """The distinct values of `column` in the table of `rows` (where `where` holds), sorted."""
        if column not in rows.SCHEMA.names:
            raise ConfigError(f"column: {column!r} is not a column of the {rows.TABLE!r} table; its columns are "
                              f"{', '.join(rows.SCHEMA.names)}.")
        return sorted(pc.unique(self._select(rows, None, where, ()).column(column)).to_pylist())

    def _select(
        self, rows: type[Rows], shard: str | None, where: Mapping[str, Any] | None, order_by: Sequence[str]
    ) -> pa.Table:
        for argument, names in (("where", list(where or {})), ("order_by", list(order_by))):
            unknown = [name for name in names if name not in rows.SCHEMA.names]
            if unknown:
                raise ConfigError(f"{argument}: {unknown[0]!r} is not a column of the {rows.TABLE!r} table; its "
                                  f"columns are {', '.join(rows.SCHEMA.names)}.")
        if shard is None:
            data = self._table(rows.TABLE)
        else:
            path = self.path / "catalog" / rows.TABLE / f"{shard}.parquet"
            if not path.is_file():
                raise RunFolderError(f"catalog shard {path} does not exist; {_recovery(self, rows.TABLE, shard)}.")
            data = self._read_shard(rows.TABLE, path)
        for name, value in (where or {}).items():
            many = isinstance(value, (list, tuple, set, frozenset))
            values = pa.array(list(value) if many else [value], type=rows.SCHEMA.field(name).type)
            data = data.filter(pc.is_in(data.column(name), value_set=values))
        if order_by:
            data = data.sort_by([(name, "ascending") for name in order_by])
        return data

    def _table(self, table: str) -> pa.Table:
        """All shards of `table` concatenated, each checked; cached until a shard changes (size, time, inode)."""
        shards = sorted((self.path / "catalog" / table).glob("*.parquet"))
        key = tuple((p.name, *_stat(p)) for p in shards)
        cached = self._tables.get(table)
        if cached is not None and cached[0] == key:
            return cached[1]
        parts = [self._read_shard(table, p) for p in shards]
        data = pa.concat_tables(parts) if parts else TABLES[table].SCHEMA.empty_table()
        self._tables[table] = (key, data)
        return data

    def _read_shard(self, table: str, path: Path) -> pa.Table:
        self._manifest.verify(path, _recovery(self, table, path.stem))
        try:
            t = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as err:
            raise RunFolderError(f"catalog shard {path} is corrupt ({err}); {_recovery(self, table, path.stem)}.") from err
        if not t.schema.equals(TABLES[table].SCHEMA, check_metadata=False):
            raise RunFolderError(
                f"catalog shard {path} does not have the {table!r} schema of this dynascope version "
                f"(got columns {t.schema.names}); it is foreign or from another version — remove it or re-run."
            )
        return t

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """Run a DuckDB query over the catalog, for exploring a run by hand; each table is a view.

        The result is a DuckDB relation: `.fetchall()`, `.arrow()`, `.df()` (with pandas) or `.show()`.
        dynascope's own code reads through `read` instead, so no column name is spelled outside the schema.
        """
        con = duckdb.connect()
        for table in TABLES:
            con.register(table, self._table(table))  # validates every shard
        try:
            return con.sql(query)
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
        self._manifest.verify(path, _recovery(self, "weights", group))
        try:
            from safetensors import safe_open

            with safe_open(str(path), "numpy") as f:
                meta = f.metadata() or {}
            params = load_file(str(path))
            metadata = json.loads(meta["dynascope"])
        except (SafetensorError, KeyError, json.JSONDecodeError, OSError) as err:
            raise RunFolderError(
                f"weights file {path} is corrupt or foreign ({err}); {_recovery(self, 'weights', group)}."
            ) from err
        return params, metadata

    def groups(self) -> list[str]:
        """Names of the groups whose weights are stored."""
        return sorted(p.stem for p in (self.path / "weights").glob("*.safetensors"))

    # -- parameter snapshots over training -------------------------------------------------------
    def _snapshot_path(self, group: str) -> Path:
        return self.path / "snapshots" / f"{group}.safetensors"

    def write_snapshots(self, group: str, steps: Sequence[int], params: dict[str, np.ndarray]) -> Path:
        """Save a group's params at the training steps `steps` (`[m, n, ...]` each: step, network, ...)."""
        flat = {k: np.ascontiguousarray(np.asarray(v)) for k, v in params.items()}
        meta = {"dynascope": json.dumps({"steps": [int(t) for t in steps]})}
        path = self._snapshot_path(group)
        self._write(path, lambda p: save_file(flat, str(p), metadata=meta))
        return path

    def read_snapshots(self, group: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """A group's snapshot steps `[m]` and params `[m, n, ...]`; RunFolderError if it kept none or the file
        is damaged."""
        path = self._snapshot_path(group)
        if not path.is_file():
            if self.expects_snapshots(group):
                raise RunFolderError(f"{path} is missing (recorded in {MANIFEST}); "
                                     f"{_recovery(self, 'snapshots', group)}.")
            raise RunFolderError(f"group {group!r} of {self.location} kept no parameter snapshots; train with "
                                 "--snapshot-every N (TrainOptions.snapshot_every) to keep them.")
        self._manifest.verify(path, _recovery(self, "snapshots", group))
        try:
            from safetensors import safe_open

            with safe_open(str(path), "numpy") as f:
                meta = f.metadata() or {}
            params = load_file(str(path))
            steps = np.asarray(json.loads(meta["dynascope"])["steps"], np.int64)
        except (SafetensorError, KeyError, TypeError, json.JSONDecodeError, OSError) as err:
            raise RunFolderError(
                f"snapshots file {path} is corrupt or foreign ({err}); {_recovery(self, 'snapshots', group)}."
            ) from err
        if any(v.shape[:1] != steps.shape for v in params.values()):
            raise RunFolderError(f"snapshots file {path} holds arrays whose first axis is not its {len(steps)} "
                                 f"steps; {_recovery(self, 'snapshots', group)}.")
        return steps, params

    def expects_snapshots(self, group: str) -> bool:
        """Whether the manifest records a snapshots file of `group` (written by training, whether or not it is
        still there)."""
        return f"snapshots/{group}.safetensors" in self._manifest.entries()

    def snapshot_groups(self) -> list[str]:
        """Names of the groups whose parameter snapshots are stored."""
        return sorted(p.stem for p in (self.path / "snapshots").glob("*.safetensors"))


def _stat(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino


def _check_empty(path: Path) -> None:
    """RunFolderError if folder `path` holds anything but our own temp and lock files."""
    if not path.is_dir():
        return
    if any(not (is_temp(p.name) or p.name in OWN_FILES) for p in path.iterdir()):
        raise RunFolderError(
            f"{path} already holds other files and is not a dynascope run folder (no {CONFIG}); a run is "
            "written into a folder of its own: choose a new or empty folder (e.g. runs/NAME)."
        )


#: `scheme:/` or `scheme://` at the start of a path: a URL (an fsspec-style `s3://bucket/run`), or one that
#: a Path has already collapsed to `s3:/bucket/run`. Two letters at least, so a drive letter is not one.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")


def run_path(path: str | Path) -> Path:
    """`path` as the local path of a run folder; RunFolderError for a URL or an empty path.

    A run folder is read and written with local file operations (atomic renames, file locks, DuckDB over
    Parquet), so this is a path: on one machine, or on a file system every node of a cluster mounts. A URL
    is refused here rather than created as a local folder named after its scheme; `RunFolder.open` and
    `create` take URLs (`run_location`), working on a local copy (`store.remote`).
    """
    text = str(path)
    if not text.strip():  # Path('') is '.', the folder the command runs in: never what an empty --out meant
        raise RunFolderError("run folder is empty; give a folder name (e.g. --out runs/my-run).")
    if _URL.match(text):
        raise RunFolderError(
            f"run folder {text!r} is a URL, which this step takes only as a path: use a local folder, or the "
            "cluster's shared file system (mount an object store with s3fs or gcsfuse and pass the mounted path)."
        )
    # '~' as the shell would have expanded it (a quoted '~/runs' otherwise became a folder named '~' here,
    # while DuckDB expanded it for its reads).
    local = Path(path).expanduser()
    if not local.is_absolute() and local.parts and ":" in local.parts[0]:
        # Parquet's and DuckDB's readers take 'a:b/catalog/...' for a URL of scheme 'a'.
        raise RunFolderError(
            f"run folder {text!r} starts with {local.parts[0]!r}, which the catalog's Parquet and DuckDB readers "
            f"take for a URL scheme; choose a name without ':' there, or give the absolute path {str(local.absolute())!r}."
        )
    return local


def run_location(location: str | Path) -> str | Path:
    """`location` as a run folder's URL (a str, its scheme and file system checked) or local path (as
    `run_path`); RunFolderError for an unknown scheme, a missing file-system package or an empty path.

    Args:
        location: a path, or a URL that fsspec knows (`s3://bucket/run`, `file:///data/run`, ...).
    """
    if is_url(location):
        return Remote(location).url
    return run_path(location)


def holds_run(location: str | Path) -> bool:
    """Whether the run folder at `location` (a path or a URL) holds a run.

    Args:
        location: a path, or a URL that fsspec knows.
    """
    if is_url(location):
        return Remote(location).holds_run()
    return (run_path(location) / CONFIG).is_file()


def _pull(remote: Remote) -> None:
    """Pull `remote` into its working copy, under the copy's writer lock; not while a command writes the copy:
    one in this process holds newer work than the URL, one in another process pushes when it is done."""
    remote.path.mkdir(parents=True, exist_ok=True)
    if is_held_here(remote.path) or busy(remote.path) is not None:
        return
    with writer_lock(remote.path, f"dynascope (pulling {remote.url})"):
        remote.pull()


def open(path: str | Path) -> RunFolder:  # noqa: A001  (the contract: dynascope.store.open)
    """Open the run folder at `path` (see `RunFolder.open`)."""
    return RunFolder.open(path)
