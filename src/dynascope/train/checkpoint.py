"""Save and restore a population's training state (safetensors + JSON, written atomically)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from dynascope.errors import RunFolderError, errno_of, storage_cause

STATE_FILE = "state.safetensors"
META_FILE = "meta.json"

_RESUME = "then call again with the same arguments: training resumes from the last checkpoint"
#: How to fix a failed checkpoint write, by errno.
_FIXES = {
    errno.ENOSPC: f"free space on that disk, {_RESUME}",
    errno.EDQUOT: f"free space (the disk quota is full), {_RESUME}",
    errno.EACCES: f"make the folder writable (chmod u+w) or give another checkpoint_dir, {_RESUME}",
    errno.EPERM: f"make the folder writable (chmod u+w) or give another checkpoint_dir, {_RESUME}",
    errno.EROFS: f"the disk is read-only: remount it read-write or give a checkpoint_dir on another disk, {_RESUME}",
    errno.ENOTDIR: "a part of the path is a file, not a folder: give a checkpoint_dir that is not inside a file",
    errno.EEXIST: "a part of the path is a file, not a folder: give a checkpoint_dir that is not inside a file",
}


def _flatten(tree: Any) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def write_error(path: Path, err: BaseException) -> RunFolderError:
    """The one-line error for a checkpoint file `path` that could not be written: the file, the cause
    (from the OSError, or the errno in a SafetensorError's text) and how to fix it."""
    fix = _FIXES.get(errno_of(err) or 0, f"fix the cause, {_RESUME}")
    return RunFolderError(f"cannot write checkpoint {path}: {storage_cause(err)}; {fix}.")


def _atomic_write(path: Path, write: Any) -> None:
    """Write `path` through a temp file renamed into place; a failed write leaves the old file (the last
    checkpoint) intact, no temp file behind, and raises RunFolderError (see `write_error`)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except (OSError, SafetensorError) as err:
        raise write_error(path, err) from err
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # the folder went read-only: the stale temp file is overwritten by the next save


def save(directory: Path, state: Any, meta: dict[str, Any]) -> None:
    """Write `state` (any pytree of arrays) and `meta` (JSON-able) to `directory`, each file atomically.

    Callers keep the step counter inside `state`, so the atomic rename of the state file is the single
    commit point; `meta` holds only what does not change between saves (the config fingerprint).
    """
    flat = _flatten(state)
    _atomic_write(directory / STATE_FILE, lambda p: save_file(flat, str(p)))
    _atomic_write(directory / META_FILE, lambda p: p.write_text(json.dumps(meta, indent=1, sort_keys=True)))


def load(directory: Path, template: Any) -> tuple[Any, dict[str, Any]] | None:
    """Restore a state saved by `save` into the structure of `template`; None if there is no checkpoint.

    Raises RunFolderError when the checkpoint's arrays do not match the template's names, shapes or dtypes.
    """
    state_path, meta_path = directory / STATE_FILE, directory / META_FILE
    if not state_path.exists() or not meta_path.exists():
        return None
    try:
        flat = load_file(str(state_path))
        meta = json.loads(meta_path.read_text())
    except (SafetensorError, OSError, ValueError) as err:  # truncated, foreign or unreadable (JSON errors are ValueErrors)
        raise RunFolderError(
            f"checkpoint in {directory} cannot be read ({err}); delete that folder to restart the group."
        ) from err
    paths, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = []
    for path, ref in paths:
        name = jax.tree_util.keystr(path)
        ref = np.asarray(ref)
        if name not in flat:
            raise RunFolderError(f"checkpoint in {directory} lacks {name}; it was written by a different config.")
        arr = flat[name]
        if arr.shape != ref.shape or arr.dtype != ref.dtype:
            raise RunFolderError(
                f"checkpoint in {directory}: {name} has shape {arr.shape} {arr.dtype}, expected "
                f"{ref.shape} {ref.dtype}; it was written by a different config."
            )
        leaves.append(arr)
    return jax.tree_util.tree_unflatten(treedef, leaves), meta
