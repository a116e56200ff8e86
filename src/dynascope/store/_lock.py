"""One writer per run folder: an OS file lock (filelock) held for a whole writing command, and a sidecar file
naming the holder (pid, host, command, start time) so a refused second writer can say who holds it.

The lock is released by the operating system when its holder dies (kill -9 included), so a crash never
leaves a folder locked; the sidecar of a dead holder is ignored because its lock is free.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from dynascope.errors import RunFolderError
from dynascope.store._files import storage_error, write_atomic

LOCK = ".dynascope.lock"
HOLDER = ".dynascope.lock.json"
#: Files of ours that do not make a folder "hold other files".
OWN_FILES = frozenset({LOCK, HOLDER})

# Locks this process holds: folder -> (pid that took it, lock, depth). Reentrant within a process; a forked
# child does not inherit the holding (its pid differs).
_HELD: dict[str, tuple[int, FileLock, int]] = {}


def _command() -> str:
    argv = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else ["python"]
    return shlex.join(argv)


def holder(folder: Path) -> str:
    """Who holds the lock of `folder`, in words, from its sidecar file (best effort)."""
    try:
        info = json.loads((folder / HOLDER).read_text())
        return f"pid {int(info['pid'])} on host {info['host']} running `{info['command']}` since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (it has not recorded its pid yet)"


def is_held_here(folder: Path) -> bool:
    """Whether this process holds the writer lock of `folder`."""
    entry = _HELD.get(str(folder.resolve()))
    return entry is not None and entry[0] == os.getpid()


@contextlib.contextmanager
def writer_lock(folder: Path, command: str | None = None) -> Iterator[None]:
    """Hold the writer lock of `folder` (which must exist) for the block; reentrant in one process.

    Raises RunFolderError at once, naming the holder, if another process holds it.
    """
    key = str(folder.resolve())
    entry = _HELD.get(key)
    if entry is not None and entry[0] == os.getpid():
        _HELD[key] = (entry[0], entry[1], entry[2] + 1)
        try:
            yield
        finally:
            pid, lock, depth = _HELD[key]
            _HELD[key] = (pid, lock, depth - 1)
        return
    lock = FileLock(folder / LOCK, timeout=0, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise RunFolderError(
            f"{folder} is being written by {holder(folder)}; only one command may write a run folder at a "
            "time: wait for it to finish (or stop it), then rerun."
        ) from None
    except OSError as err:
        raise storage_error(folder / LOCK, err) from err
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command or _command(),
                "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        write_atomic(folder / HOLDER, lambda p: p.write_text(json.dumps(info)))
        _HELD[key] = (os.getpid(), lock, 1)
        yield
    finally:
        _HELD.pop(key, None)
        with contextlib.suppress(OSError):
            (folder / HOLDER).unlink(missing_ok=True)
        lock.release()


def busy(folder: Path) -> str | None:
    """Who is writing `folder` now (as `holder` says it), or None when no other process holds its lock."""
    if not (folder / LOCK).exists() or is_held_here(folder):
        return None
    lock = FileLock(folder / LOCK, timeout=0, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        return holder(folder)
    except OSError:
        return None
    lock.release()
    return None
