"""The persistent cache of JAX's compiled programs, on by default for the Python API and the command.

dynascope runs the same programs every time (one network size, one task's shapes), and compiling them is
most of a first small analysis; with the cache, a second process loads them instead. $DYNASCOPE_CACHE_DIR
moves it ('off' turns it off). This module imports no JAX: `import dynascope` stays cheap.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Mapping

__all__ = ["compilation_cache_dir", "use_compilation_cache"]

_OFF = ("", "off", "none", "0", "false", "no")


def compilation_cache_dir(environ: Mapping[str, str]) -> Path | None:
    """Where JAX's compiled programs are kept between runs.

    $DYNASCOPE_CACHE_DIR ('off' for nowhere), else $XDG_CACHE_HOME/dynascope/jax, else
    ~/.cache/dynascope/jax.

    Args:
        environ: the environment variables to read (e.g. `os.environ`).

    Returns:
        The folder, or None when the cache is off.
    """
    chosen = environ.get("DYNASCOPE_CACHE_DIR")
    if chosen is not None:
        return None if chosen.strip().lower() in _OFF else Path(chosen).expanduser()
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dynascope" / "jax"


def use_compilation_cache(*, override: bool) -> Path | None:
    """Turn the cache on (unless $DYNASCOPE_CACHE_DIR says off); return its folder, or None.

    Library use (`override=False`) leaves a cache the user configured alone: before JAX is imported it only
    sets defaults of JAX's own environment variables (which JAX reads when it loads), after that it sets
    JAX's config only where no cache folder is set. The command (`override=True`) owns its process and
    sets it regardless. Every program is cached, not only those that took JAX's default 1 s to compile:
    an analysis is many small programs.
    """
    path = compilation_cache_dir(os.environ)
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
        usable = os.access(path, os.W_OK | os.X_OK)
    except OSError:
        usable = False
    if not usable:
        # Said once, here; JAX would otherwise warn on every program it fails to read or write.
        warnings.warn(
            f"dynascope: the compilation cache folder {str(path)!r} cannot be created or written, so compiled "
            "programs are not kept between runs; set DYNASCOPE_CACHE_DIR to a writable folder, or to 'off'.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    if "jax" not in sys.modules and not override:
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(path))
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        return Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
    import jax

    if override or not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return Path(jax.config.jax_compilation_cache_dir)
