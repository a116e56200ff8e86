"""Run folders at an fsspec URL (s3://, gs://, file://, memory://, ...): a local working copy, pulled before a
command and pushed after each unit of finished work.

Every command works on a local working copy of the run (DuckDB, safetensors, file locks and atomic renames
all need local files): `<staging>/<hash of the URL>/run`. `pull` fills it from the remote before the command,
`push` uploads what changed after each unit of finished work (a trained group, an analysed group) and at
the end of the command.

Object stores have no atomic rename, so a push is committed by a marker: the changed files are uploaded
first, then `pushed.json`, which lists every file of the push with its SHA-256 and size. A reader trusts
only the marker: `pull` takes the files it lists and checks each one's digest, ignoring anything else. A
push interrupted before its marker thus leaves the remote as the previous push left it (plus files no one
reads), and the rerun redoes the unfinished work. The marker covers the whole folder, so it needs no
knowledge of which files make up a unit: the local run folder already commits each unit atomically (a
group's catalog shard is written last, see `pipeline.save_population`), and every push copies such a
committed state.

fsspec and the package of a URL's file system (s3fs, gcsfs, ...) are imported only when a URL is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

from dynascope.errors import RunFolderError

__all__ = ["PUSHED", "Remote", "is_url", "staging_dir"]

#: The marker that commits a push: every file of the run at that push, with its SHA-256 and size.
PUSHED = "pushed.json"
FORMAT = 1

#: `scheme:/` or `scheme://` at the start: a URL, or one a Path has collapsed (`s3:/bucket/run`). Two letters
#: at least, so that a Windows drive letter is not one.
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/")

#: Local files that are never uploaded nor replaced by a pull: the writer lock and its sidecar (one per
#: machine), our temp files, and training checkpoints (unfinished work, kept for a resume on this machine).
_LOCAL_ONLY = (".dynascope.lock", ".dynascope.lock.json")
_CHECKPOINTS = "checkpoints"
#: The Ray backend's shards (`dynascope.scale`): each travels as a folder of its own with its own marker
#: (`<url>/shards/.../<start>-<stop>/pushed.json`), never as part of the run's push or pull.
_SHARDS = "shards"


def is_url(location: str | Path) -> bool:
    """Whether `location` is a URL (`scheme://...`) rather than a local path.

    Args:
        location: a run folder's path or URL.
    """
    return bool(_URL.match(str(location)))


def as_url(location: str | Path) -> str:
    """`location` as a URL, undoing Path's collapse of '//' (`memory:/b/run` -> `memory://b/run`, `file:/tmp/r`
    -> `file:///tmp/r`), without a trailing '/'."""
    text = str(location)
    scheme = _URL.match(text).group(1)  # type: ignore[union-attr]
    rest = text[len(scheme) + 1:]
    if not rest.startswith("//"):
        rest = "//" + (rest if scheme == "file" else rest.lstrip("/"))
    return (f"{scheme}:{rest}".rstrip("/")) or text


def staging_dir(environ: Mapping[str, str]) -> Path:
    """Where the working copies of URL runs live: $DYNASCOPE_STAGING_DIR, else `runs/` beside the
    compilation cache ($DYNASCOPE_CACHE_DIR's parent, ~/.cache/dynascope), else (cache off) the system temp
    folder.

    Args:
        environ: the environment variables to read (e.g. `os.environ`).
    """
    from dynascope._cache import compilation_cache_dir

    chosen = environ.get("DYNASCOPE_STAGING_DIR", "").strip()
    if chosen:
        return Path(chosen).expanduser()
    cache = compilation_cache_dir(environ)
    if cache is None:
        return Path(tempfile.gettempdir()) / f"dynascope-runs-{os.getuid() if hasattr(os, 'getuid') else 0}"
    return cache.parent / "runs"


def _cause(err: BaseException) -> str:
    """An error's first line, with its class: file-system packages raise many kinds, some over many lines."""
    text = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _is_local_only(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return (rel.split("/", 1)[0] in (_CHECKPOINTS, _SHARDS) or name in _LOCAL_ONLY
            or (name.startswith(".") and name.endswith(".tmp")))


class Remote:
    """One run folder at a URL and its local working copy `path`; `pull` and `push` keep them in step.

    Args:
        url: the run folder's URL, e.g. `s3://bucket/runs/ff` (a Path-collapsed `s3:/bucket/runs/ff` too).
        path: the local working copy; None: `<staging_dir>/<hash of the URL>/run`. (A shard of the Ray
            backend is pushed from the folder a worker built it in.)
        what: what the URL names, for error messages ("folder of runs" where `dynascope runs` lists one).
    """

    def __init__(self, url: str | Path, path: Path | None = None, *, what: str = "run folder") -> None:
        self.url = as_url(url)
        self.fs, self.root = _filesystem(self.url, what)
        if path is None:
            base = staging_dir(os.environ) / hashlib.sha256(self.url.encode()).hexdigest()[:16]
            self.path = base / "run"  # the working copy: an ordinary run folder
            self._seen = base / PUSHED  # the marker of the last pull or push, with the local files' stat
        else:
            self.path = Path(path)
            self._seen = self.path.with_name(f".{self.path.name}.{PUSHED}")

    def __repr__(self) -> str:
        return f"Remote({self.url!r})"

    # -- the remote side ---------------------------------------------------------------------------------
    def _remote(self, rel: str) -> str:
        return f"{self.root.rstrip('/')}/{rel}"

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        """`fn(*args)` on the file system; a failure is a RunFolderError naming the URL and what to do."""
        try:
            return fn(*args)
        except RunFolderError:
            raise
        except Exception as err:  # noqa: BLE001  (s3fs, gcsfs, ... each raise their own classes)
            raise RunFolderError(
                f"cannot {what} {self.url}: {_cause(err)}; check that the location exists and is reachable "
                "from this machine (network, credentials), then rerun the same command; finished work is kept."
            ) from err

    def marker(self) -> dict[str, dict] | None:
        """The files of the last committed push ({relative path: {"sha256", "size"}}), or None when the URL
        holds no run written through a URL."""
        target = self._remote(PUSHED)
        if not self._call("read", self.fs.exists, target):
            return None
        raw = self._call("read", self.fs.cat_file, target)
        try:
            files = json.loads(raw)["files"]
            ok = isinstance(files, dict) and all(
                isinstance(e, dict) and isinstance(e.get("sha256"), str) for e in files.values())
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise RunFolderError(f"{self.url}/{PUSHED} is corrupt; push the run again from a machine that has "
                                 "it, or delete the URL's files and train again.")
        return files

    def holds_run(self) -> bool:
        """Whether the URL holds a run (a committed push)."""
        return self.marker() is not None

    def child(self, rel: str, path: Path | None = None) -> "Remote":
        """The folder `rel` under this URL as a `Remote` of its own (a Ray shard: `shards/<group>/<range>`),
        its working copy at `path` (None: under the staging folder).

        Args:
            rel: the folder's path relative to this URL ('/'-separated).
            path: the child's local working copy, or None.
        """
        return Remote(f"{self.url}/{rel.strip('/')}", path)

    def folders(self, rel: str) -> list[str]:
        """The names of the folders directly under `rel` at the URL, sorted ([] when there is none).

        Args:
            rel: a folder's path relative to this URL ('/'-separated; '' for the URL itself).
        """
        target = self._remote(rel.strip("/")) if rel.strip("/") else self.root
        if not self._call("read", self.fs.isdir, target):
            return []
        entries = self._call("read", self.fs.ls, target, True)
        return sorted(e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e.get("type") == "directory")

    def remove(self, rel: str) -> None:
        """Delete `rel` and everything under it at the URL, and the folders that leaves empty, best effort
        (spent shards: a leftover is never read, since no marker of the run lists it).

        Args:
            rel: a path relative to this URL ('/'-separated).
        """
        rel = rel.strip("/")
        with contextlib.suppress(Exception):  # noqa: BLE001  (a file system's own error classes)
            self.fs.rm(self._remote(rel), recursive=True)
            while "/" in rel:  # folders left empty (a file system with real folders keeps them)
                rel = rel.rsplit("/", 1)[0]
                if self.fs.ls(self._remote(rel), detail=False):
                    break
                self.fs.rmdir(self._remote(rel))

    # -- the local side ----------------------------------------------------------------------------------
    def drop_working_copy(self) -> None:
        """Delete the local working copy and the record of its last pull or push (the URL is untouched)."""
        shutil.rmtree(self.path, ignore_errors=True)
        self._seen.unlink(missing_ok=True)

    def _local_files(self) -> dict[str, Path]:
        if not self.path.is_dir():
            return {}
        files = {}
        for p in sorted(self.path.rglob("*")):
            rel = p.relative_to(self.path).as_posix()
            if p.is_file() and not _is_local_only(rel):
                files[rel] = p
        return files

    def _load_seen(self) -> dict[str, Any]:
        try:
            seen = json.loads(self._seen.read_text())
            return seen if isinstance(seen, dict) and isinstance(seen.get("stat"), dict) else {}
        except (OSError, ValueError):
            return {}

    def _digests(self, files: dict[str, Path]) -> tuple[dict[str, dict], dict[str, list[int]]]:
        """{rel: {"sha256", "size"}} of the local files, and their stat, reusing the digests of the last
        pull or push for files whose size, time and inode have not changed."""
        seen = self._load_seen()
        old_stat, old_files = seen.get("stat", {}), seen.get("files", {})
        digests, stats = {}, {}
        for rel, p in files.items():
            st = p.stat()
            key = [st.st_size, st.st_mtime_ns, st.st_ino]
            entry = old_files.get(rel)
            if old_stat.get(rel) == key and entry is not None:
                digests[rel] = entry
            else:
                digests[rel] = {"sha256": _sha256(p), "size": st.st_size}
            stats[rel] = key
        return digests, stats

    def _save_seen(self, files: dict[str, dict], stats: dict[str, list[int]]) -> None:
        from dynascope.store._files import write_atomic

        doc = json.dumps({"format": FORMAT, "url": self.url, "files": files, "stat": stats}, sort_keys=True)
        write_atomic(self._seen, lambda p: p.write_text(doc))

    # -- pull and push -----------------------------------------------------------------------------------
    def pull(self) -> dict[str, dict] | None:
        """Make the working copy what the remote's last committed push holds; return its files, or None (and
        an empty working copy) when the URL holds no run.

        Files whose digest already matches are not downloaded; a downloaded file whose digest does not match
        the marker (rewritten by a push that did not commit) is left out; local files the marker does not
        list are removed, except checkpoints of the same run (same config.toml), which a resume continues.
        """
        files = self.marker()
        wanted = files or {}
        self.path.mkdir(parents=True, exist_ok=True)
        local = self._local_files()
        digests, _ = self._digests(local)
        same_run = "config.toml" in wanted and digests.get("config.toml", {}).get("sha256") == wanted["config.toml"]["sha256"]
        for rel, entry in wanted.items():
            if digests.get(rel, {}).get("sha256") == entry["sha256"]:
                continue
            dest = self.path / rel
            tmp = dest.with_name(f".{dest.name}.tmp")
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                try:
                    self.fs.get_file(self._remote(rel), str(tmp))
                except FileNotFoundError:  # removed by hand: the run's manifest names it as missing
                    pass
                except Exception as err:  # noqa: BLE001
                    self._call("download from", _raise, err)
                if tmp.is_file() and _sha256(tmp) == entry["sha256"]:
                    os.replace(tmp, dest)
                else:  # not the committed content: a later push was cut off while uploading it
                    dest.unlink(missing_ok=True)
            finally:
                tmp.unlink(missing_ok=True)
        for rel, p in local.items():
            if rel not in wanted:
                p.unlink(missing_ok=True)
        if not same_run:
            shutil.rmtree(self.path / _CHECKPOINTS, ignore_errors=True)
            shutil.rmtree(self.path / _SHARDS, ignore_errors=True)
        _remove_empty_folders(self.path)
        self._save_seen(*self._digests(self._local_files()))
        return files

    def push(self) -> None:
        """Upload the working copy's new and changed files, then the marker that commits them; remove remote
        files that the working copy no longer has (after the marker, so a reader never misses one)."""
        committed = self.marker() or {}
        digests, stats = self._digests(self._local_files())
        changed = [rel for rel, entry in digests.items() if committed.get(rel, {}).get("sha256") != entry["sha256"]]
        if not changed and set(committed) == set(digests):
            self._save_seen(digests, stats)
            return
        for rel in changed:
            self._upload(rel)
        self._commit(digests)
        for rel in set(committed) - set(digests):
            with contextlib.suppress(Exception):  # best effort: the marker no longer lists it, so no one reads it
                self.fs.rm_file(self._remote(rel))
        self._save_seen(digests, stats)

    def _commit(self, files: dict[str, dict]) -> None:
        """Write the marker listing `files`: under a temp name, then moved into place, so that no reader sees
        half of it (an object store's move is a copy, which is atomic per object)."""
        doc = json.dumps({"format": FORMAT, "files": files}, indent=1, sort_keys=True).encode()
        self._call("write to", self.fs.pipe_file, self._remote(f".{PUSHED}.tmp"), doc)
        self._call("write to", self.fs.mv, self._remote(f".{PUSHED}.tmp"), self._remote(PUSHED))

    def _upload(self, rel: str) -> None:
        """Upload one file of the working copy to its place at the URL."""
        target = self._remote(rel)
        self._call("write to", self.fs.makedirs, target.rsplit("/", 1)[0], True)
        self._call("write to", self.fs.put_file, str(self.path / rel), target)


def _raise(err: BaseException) -> None:
    raise err


def _remove_empty_folders(root: Path) -> None:
    for p in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            p.rmdir()


def _filesystem(url: str, what: str = "run folder") -> tuple[Any, str]:
    """The fsspec file system of `url` and the path on it; RunFolderError for an unknown scheme or a missing
    file-system package, its message calling the URL `what`."""
    scheme = url.split(":", 1)[0]
    try:
        import fsspec
        from fsspec.core import url_to_fs
    except ImportError as err:  # a dependency of dynascope; only a broken install lacks it
        raise RunFolderError(f"{what} {url} is a URL, which needs fsspec: pip install fsspec.") from err
    rest = url.split("://", 1)[1] if "://" in url else ""
    if scheme.lower() == "file" and rest and not rest.startswith("/"):
        # file://host/path names a host; fsspec would read it as the relative path host/path instead.
        raise RunFolderError(
            f"{what} {url}: a file:// URL takes an absolute path, file:///{rest} (three slashes); for a folder "
            f"relative to this one give its path, {rest}."
        )
    if scheme not in fsspec.available_protocols():
        raise RunFolderError(
            f"{what} {url}: unknown URL scheme {scheme!r}; give a local folder, or a URL that fsspec knows "
            "(s3://, gs://, az://, file://, memory://, ...)."
        )
    try:
        return url_to_fs(url)
    except ImportError as err:
        package = _PACKAGES.get(scheme)
        if package is None:  # fsspec's own message names what is missing
            raise RunFolderError(f"{what} {url}: {_cause(err).split(': ', 1)[-1]} (the file system of "
                                 f"{scheme}:// URLs); install it, then rerun.") from err
        raise RunFolderError(f"{what} {url}: {scheme}:// URLs need the package {package}, which is not "
                             f"installed; pip install {package}, then rerun.") from err
    except Exception as err:  # noqa: BLE001  (each file system validates its URL its own way)
        raise RunFolderError(f"{what} {url} cannot be used: {_cause(err)}; check the URL, or give a local "
                             "folder.") from err


#: The package to install for a scheme whose file system is not part of fsspec.
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
             "adl": "adlfs", "http": "aiohttp requests", "https": "aiohttp requests", "hf": "huggingface_hub",
             "sftp": "paramiko", "ssh": "paramiko"}
