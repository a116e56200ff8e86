"""The checksum manifest of a run folder: the SHA-256 of every catalog shard and weights file it wrote.

`manifest.json` maps each file's path (relative to the run folder, POSIX) to `{"sha256", "size"}`. A write
is recorded in two steps around the rename that commits it: first the new digest is recorded next to the
old one (`"previous"`), then, once the file is in place, the old one is dropped. A process killed at any
point thus leaves a file that matches its entry. Files with no entry (run folders written before the
manifest existed, or files added by hand) are read unverified; the schema and shape checks still apply.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dynascope.errors import RunFolderError
from dynascope.store._files import write_atomic

MANIFEST = "manifest.json"
FORMAT = 1


def sha256(path: Path) -> str:
    """Hex SHA-256 of the file at `path`."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _stat_key(path: Path) -> tuple[int, ...]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns


class Manifest:
    """Reads, records and verifies the checksums of one run folder's files.

    Verified files are remembered by (size, mtime) for the life of this object, so repeated queries do not
    hash an unchanged file again.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / MANIFEST
        self._verified: dict[str, tuple[int, ...]] = {}
        self._cache: tuple[tuple[int, ...], dict[str, dict]] | None = None

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.folder).as_posix()

    def entries(self, *, cached: bool = True) -> dict[str, dict]:
        """The recorded files; {} when the folder has no manifest. RunFolderError if it is malformed."""
        try:
            key = _stat_key(self.path)
        except FileNotFoundError:
            return {}
        if cached and self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        try:
            doc = json.loads(self.path.read_text())
            files = doc["files"]
            ok = isinstance(files, dict) and all(
                isinstance(e, dict) and isinstance(e.get("sha256"), str) and isinstance(e.get("size"), int)
                for e in files.values()
            )
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
            raise self._malformed(f"{type(err).__name__}: {err}") from err
        if not ok:
            raise self._malformed("an entry lacks its sha256 or size")
        self._cache = (key, files)
        return files

    def _malformed(self, why: str) -> RunFolderError:
        return RunFolderError(
            f"{self.path} is corrupt ({why}); delete it to read the run's files unverified (it is rewritten, "
            "for the files written from then on, by the next command that writes the run)."
        )

    def _save(self, files: dict[str, dict]) -> None:
        text = json.dumps({"format": FORMAT, "files": files}, indent=1, sort_keys=True)
        write_atomic(self.path, lambda p: p.write_text(text))

    def stage(self, path: Path, tmp: Path) -> None:
        """Record `tmp`, about to be renamed to `path`, as `path`'s new content (the old one still accepted)."""
        files = dict(self.entries())
        rel = self._rel(path)
        old = files.get(rel)
        entry = {"sha256": sha256(tmp), "size": tmp.stat().st_size}
        if old is not None and path.exists():
            entry["previous"] = old["sha256"]
        files[rel] = entry
        self._save(files)

    def settle(self, path: Path) -> None:
        """After the rename: `path`'s new content is the only one accepted."""
        files = dict(self.entries())
        rel = self._rel(path)
        entry = {k: v for k, v in files[rel].items() if k != "previous"}
        files[rel] = entry
        self._save(files)
        self._verified[rel] = _stat_key(path)

    def verify(self, path: Path, recovery: str) -> None:
        """Raise RunFolderError naming `path` and `recovery` if its content does not match its entry."""
        rel = self._rel(path)
        key = _stat_key(path)
        if self._verified.get(rel) == key:
            return
        entry = self.entries().get(rel)
        if entry is None:
            return  # unverified: written before the manifest existed, or added by hand
        digest = sha256(path)
        if digest not in {entry["sha256"], entry.get("previous")}:
            entry = self.entries(cached=False).get(rel) or entry  # another process may have just rewritten it
        if digest not in {entry["sha256"], entry.get("previous")}:
            raise RunFolderError(
                f"{path} is corrupt: its content does not match the SHA-256 recorded in {MANIFEST} when it was "
                f"written ({entry['size']} bytes then, {key[0]} now); {recovery}."
            )
        self._verified[rel] = key

    def forget(self, path: Path) -> None:
        """Drop the cached verification of `path` (its content is about to change)."""
        self._verified.pop(self._rel(path), None)
