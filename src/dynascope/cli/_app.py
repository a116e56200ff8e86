"""The typer application; every DynascopeError becomes one red line and exit code 2."""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import typer

from dynascope.errors import ConfigError, DynascopeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Train populations of recurrent networks on neuroscience tasks and open them up.",
    pretty_exceptions_enable=False,
)


def parse_list(flag: str, text: str, kind: type = str) -> tuple[Any, ...]:
    """Split a comma-separated flag value ('gru,lstm' or '32,64') into a tuple of `kind`."""
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise ConfigError(f"{flag} is empty; give a comma-separated list, e.g. {flag} gru,lstm.")
    try:
        return tuple(kind(s) for s in items)
    except ValueError as err:
        raise ConfigError(f"{flag} must be a comma-separated list of {kind.__name__}s, got {text!r}.") from err


def parse_options(flag: str, pairs: list[str]) -> dict[str, Any]:
    """Parse repeated KEY=VALUE flags; VALUE is read as TOML (3, 0.5, true, "text", [1, 2]) or else as text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"{flag} takes KEY=VALUE, got {pair!r} (e.g. {flag} n_bits=3).")
        k, v = pair.split("=", 1)
        try:
            out[k.strip()] = tomllib.loads(f"v = {v}")["v"]
        except tomllib.TOMLDecodeError:
            out[k.strip()] = v
    return out


def compilation_cache_dir(environ: Mapping[str, str]) -> Path | None:
    """Where the `dynascope` command keeps JAX's compiled programs between runs: $DYNASCOPE_CACHE_DIR
    ('off' for nowhere), else $XDG_CACHE_HOME/dynascope/jax, else ~/.cache/dynascope/jax."""
    chosen = environ.get("DYNASCOPE_CACHE_DIR")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "none", "0") else Path(chosen).expanduser()
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dynascope" / "jax"


def _enable_compilation_cache() -> None:
    # The commands run the same programs every time (train, analyze, compare on one run's shapes), and
    # compiling them is most of a small run's time: a persistent cache turns the 10–40 s of a cold
    # `analyze` into a few on the second run. Only the command sets this: library users own their config.
    path = compilation_cache_dir(os.environ)
    if path is None:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def main() -> None:
    """Entry point of the `dynascope` command."""
    from rich.markup import escape

    from dynascope.cli._display import err_console

    try:
        _enable_compilation_cache()
        app(standalone_mode=False, prog_name="dynascope")
    except DynascopeError as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: finished work is saved; rerun the same command with --resume to continue.")
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as err:
        # Usage errors (unknown option or command, a value of the wrong type) are click exceptions, which
        # print themselves and carry exit code 2. typer >= 0.29 vendors click privately, older typer uses
        # the click package, so recognise them by that interface rather than by class.
        if callable(getattr(err, "show", None)) and isinstance(getattr(err, "exit_code", None), int):
            err.show()
            sys.exit(err.exit_code)
        raise


from dynascope.cli import analysis, commands, compare, demo, report  # noqa: E402,F401  (registers the commands)
