"""Save and restore a population's training state (safetensors + JSON, written atomically)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
from safetensors.numpy import load_file, save_file

from dynascope.errors import RunFolderError

STATE_FILE = "state.safetensors"
META_FILE = "meta.json"


def _flatten(tree: Any) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save(directory: Path, state: Any, meta: dict[str, Any]) -> None:
    """Write `state` (any pytree of arrays) and `meta` (JSON-able) to `directory`, each file atomically.

    Callers keep the step counter inside `state`, so the atomic rename of the state file is the single
    commit point; `meta` holds only what does not change between saves (the config fingerprint).
    """
    directory.mkdir(parents=True, exist_ok=True)
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
    except Exception as err:  # a truncated or foreign file: say which and how to recover
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
