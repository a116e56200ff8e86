"""Errors a user can cause. Every message says what was wrong, what was expected and how to fix it."""

from __future__ import annotations

import errno
import os
import re


class DynascopeError(ValueError):
    """Base class of every error a user can cause; the CLI prints its message and exits with code 2."""


class UnknownNameError(DynascopeError):
    """A task, model, metric or optimizer name that is not registered."""


class ConfigError(DynascopeError):
    """An option with a value outside its allowed range or of the wrong kind."""


class ShapeError(DynascopeError):
    """An array whose shape or dtype does not match what the function expects."""


class RunFolderError(DynascopeError):
    """A run folder that is missing, corrupt, foreign, or from a different config."""


class DataError(DynascopeError):
    """Recorded data (arrays, .npz or NWB files) that is missing, malformed, non-finite or inconsistent."""


def unknown_name(kind: str, name: str, known: list[str]) -> UnknownNameError:
    """Build the error for an unregistered `name` of `kind`, listing the registered ones and a close match."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return UnknownNameError(
        f"unknown {kind} {name!r}.{hint} Registered {kind}s: {', '.join(sorted(known))}."
    )


def check_positive_int(name: str, value: object) -> int:
    """Return `value` as an int if it is a positive integer, else raise ConfigError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
        hasattr(value, "__index__")
    ):
        raise ConfigError(f"{name} must be a positive integer, got {value!r} ({type(value).__name__}).")
    value = int(value)  # type: ignore[arg-type]
    if value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value}.")
    return value


# safetensors reports I/O failures as text only: "... No space left on device (os error 28)".
_ERRNO_IN_TEXT = re.compile(r"(?:os error|errno)\s*(\d+)", re.IGNORECASE)


def errno_of(err: BaseException) -> int | None:
    """The errno of a failed write: an OSError's own, or the one a SafetensorError spells in its text."""
    if isinstance(err, OSError) and err.errno:
        return err.errno
    found = _ERRNO_IN_TEXT.search(str(err))
    return int(found.group(1)) if found else None


def storage_cause(err: BaseException) -> str:
    """A failed write's cause in words: 'no space left on device (ENOSPC)', or the error's own text."""
    code = errno_of(err)
    if code is not None:
        return f"{os.strerror(code).lower()} ({errno.errorcode.get(code, code)})"
    return " ".join(str(err).split()) or type(err).__name__
