"""Writing files into a run folder: atomically, with the umask's permissions, and with every storage failure
(disk full, read-only, a path under a file) turned into one RunFolderError that names the file, the cause
and the fix, leaving no temp file behind."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Callable

from safetensors import SafetensorError

from dynascope.errors import RunFolderError, errno_of, storage_cause

#: Our own temp files are ".<name>.tmp"; they never count as content of a folder.
TMP_SUFFIX = ".tmp"

_KEPT = "rerun the same command; finished work is kept"
_FIXES = {
    errno.ENOSPC: f"free space and {_KEPT}",
    errno.EDQUOT: f"free space (you are over your disk quota) and {_KEPT}",
    errno.EACCES: f"make the folder writable (chmod u+w) or choose another folder, then {_KEPT}",
    errno.EPERM: f"make the folder writable (chmod u+w) or choose another folder, then {_KEPT}",
    errno.EROFS: f"the disk is mounted read-only: remount it read-write or choose a folder on another disk, then {_KEPT}",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose a folder that is not inside a file (e.g. runs/NAME)",
    errno.EEXIST: "a part of the path is a file, not a folder: choose a folder that is not inside a file (e.g. runs/NAME)",
}


def is_temp(name: str) -> bool:
    """Whether `name` is one of our temp files ('.<name>.tmp'), left behind only by a killed process."""
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def temp_path(path: Path) -> Path:
    """The temp name `path` is written under before it is renamed into place."""
    return path.with_name(f".{path.name}{TMP_SUFFIX}")


def storage_error(path: Path, err: BaseException) -> RunFolderError:
    """The one-line error for a failed write of `path`: the file, the cause and how to fix it."""
    fix = _FIXES.get(errno_of(err) or 0, f"fix the cause and {_KEPT}")
    return RunFolderError(f"cannot write {path}: {storage_cause(err)}; {fix}.")


def file_mode() -> int:
    """The permissions a new file gets under this process's umask (0o644 under the usual 022)."""
    try:
        with open("/proc/self/status") as f:  # reads the umask without changing it (Linux)
            umask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0)
        os.umask(umask)
    return 0o666 & ~umask


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # the folder went read-only under us; the temp name is ignored by every reader anyway


def write_atomic(path: Path, write: Callable[[Path], None], staged: Callable[[Path], None] | None = None) -> None:
    """Write `path` by calling `write(tmp)` on its temp name, then renaming it into place.

    The file gets the umask's permissions (safetensors alone writes 0600). No temp file is left behind
    by any exception.

    Args:
        path: the destination file; its folder is created if missing.
        write: writes the content to the temp path it is given.
        staged: runs on the temp path between the write and the rename (the checksum manifest records
            the new file there), or None.

    Raises:
        RunFolderError: a failure of the disk (OSError, SafetensorError), naming `path`.
    """
    tmp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.chmod(tmp, file_mode())
        if staged is not None:
            staged(tmp)
        os.replace(tmp, path)
    except (OSError, SafetensorError) as err:
        raise storage_error(path, err) from err
    finally:
        if tmp.exists():
            _remove(tmp)


def _nearest_existing(path: Path) -> Path:
    p = path
    while not (p.exists() or p.is_symlink()) and p.parent != p:
        p = p.parent
    return p


def check_writable(path: str | Path) -> None:
    """Raise RunFolderError unless files can be written in folder `path`, or, while it does not exist yet,
    in its nearest existing parent (where it would be created).

    Tested by creating and removing a temp file, not by permission bits (root ignores those, and a
    read-only disk does not show in them).
    """
    path = Path(path)
    target = _nearest_existing(path)
    if not target.is_dir():
        raise RunFolderError(
            f"{path} cannot be created: {target} is a file, not a folder; choose a folder that is not inside "
            "a file (e.g. runs/NAME)."
        )
    try:
        fd, name = tempfile.mkstemp(prefix=".dynascope-write-check-", suffix=TMP_SUFFIX, dir=target)
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        fix = _FIXES.get(errno_of(err) or 0, "make it writable or choose another folder")
        raise RunFolderError(f"{target} is not writable: {storage_cause(err)}; {fix}.") from err
