"""The typer application; every DynascopeError becomes one red line and exit code 2, an interrupt (Ctrl-C,
SIGTERM) one line and exit code 130 or 143."""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import sys
import threading
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from dynascope._cache import use_compilation_cache
from dynascope.errors import ConfigError, DynascopeError, RunFolderError

#: The signal that interrupted the command, recorded by `_on_signal` (which `main` installs); None if none.
_signal_received: int | None = None


def _on_signal(signum: int, frame: Any) -> None:
    # SIGINT as Python's own handler does, and SIGTERM (`kill PID`, a scheduler's stop) the same way: a
    # KeyboardInterrupt, so every `finally` runs (atomic writes clean up, the writer lock is released) and
    # the last checkpoint stays. Recording the signal gives the exit code and lets `_Group` recognise an
    # interrupt that a library turned into another error or that Python dropped (`_unraisable`).
    global _signal_received
    _signal_received = signum
    while frame is not None:
        if frame.f_code is _unraisable.__code__:  # an exception raised there would be dropped as well
            _deliver_again(signum)
            return
        frame = frame.f_back
    raise KeyboardInterrupt


def _deliver_again(signum: int) -> None:
    # interrupt_main trips the signal as if it had arrived again; the main thread handles it at its next
    # opportunity, after the callback that dropped it has returned.
    timer = threading.Timer(0.05, _thread.interrupt_main, (signum,))
    timer.daemon = True
    timer.start()


#: The sys.unraisablehook that `_catch_interrupts` replaced.
_previous_hook: Callable[[Any], Any] = sys.unraisablehook


def _unraisable(info: Any) -> None:
    """sys.unraisablehook while a command runs: delivers a dropped interrupt again, passes anything else on.

    Python drops an exception raised in a gc callback or a __del__ ("Exception ignored in ..."), and
    JAX runs a gc callback on every collection, so a signal handled during one was lost and the command
    ran on (jax-ml/jax#18246). It is delivered again, until it lands outside such a callback.
    """
    # Also an interrupt raised by a handler someone else installed (importing brian2 installs one), which
    # never went through `_on_signal`.
    if isinstance(info.exc_value, KeyboardInterrupt):
        _deliver_again(signal.SIGINT if _signal_received is None else _signal_received)
    else:
        _previous_hook(info)


def _catch_interrupts() -> Callable[[], None]:
    """Route SIGINT and SIGTERM to `_on_signal` (unless ignored, as in a shell's background job, or taken
    by someone else) and install `_unraisable`; return the function that undoes it."""
    global _signal_received, _previous_hook
    _signal_received = None
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s, handler in saved.items():
        if handler is signal.default_int_handler or handler == signal.SIG_DFL:
            signal.signal(s, _on_signal)
    _previous_hook, sys.unraisablehook = sys.unraisablehook, _unraisable

    def restore() -> None:
        global _signal_received
        for s, handler in saved.items():
            signal.signal(s, handler)
        sys.unraisablehook = _previous_hook
        _signal_received = None

    return restore


def _interrupted(command: str | None) -> int:
    """Say that `command` was interrupted (one line on stderr) and return its exit code: 128 + the signal,
    so 130 for Ctrl-C (SIGINT, also a KeyboardInterrupt raised in-process) and 143 for SIGTERM."""
    from dynascope.cli._display import err_console

    # Only train, ablate and specialize take --resume; analyze, compare, report and demo pick up where they
    # stopped by themselves.
    resumable = ("train", "ablate", "specialize")
    again = "rerun the same command with --resume" if command in resumable else "rerun the same command"
    err_console.print(f"[yellow]interrupted[/]: finished work is saved; {again} to continue.", highlight=False)
    return 128 + int(_signal_received or signal.SIGINT)


class _Group(TyperGroup):
    """The command group, which reports an interrupted command itself.

    typer >= 0.29 turns a KeyboardInterrupt into `Exit(130)` before `main` can see it, and without
    standalone mode `app()` *returns* that code rather than raising it, so `main`'s handler was never
    reached and an interrupted `dynascope train` exited 0 without a word (older typer raised Abort
    instead). Catching it here, inside typer, works the same under every typer version, in `main` and
    under `CliRunner`. An error raised after a signal arrived is its consequence and reported as the
    interrupt (Ctrl-C while jaxlib loads surfaces as an ImportError).
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as err:
            raise typer.Exit(_interrupted(ctx.invoked_subcommand)) from err
        except Exception as err:
            if _signal_received is None:
                raise
            raise typer.Exit(_interrupted(ctx.invoked_subcommand)) from err


app = typer.Typer(
    cls=_Group,
    add_completion=False,
    no_args_is_help=True,
    help="Train populations of recurrent networks on neuroscience tasks and open them up.",
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    from dynascope import __version__

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    # The versions a bug report needs; read from the installed metadata, so printing them imports no JAX.
    typer.echo(f"dynascope {__version__} (jax {installed('jax')}, jaxlib {installed('jaxlib')}, "
               f"Python {sys.version.split()[0]})")
    raise typer.Exit()


@app.callback()
def _options(
    show_version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Train populations of recurrent networks on neuroscience tasks and open them up."""


def parse_list(flag: str, text: str, kind: type = str) -> tuple[Any, ...]:
    """Split a comma-separated flag value ('gru,lstm' or '32,64') into a tuple of `kind`."""
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise ConfigError(f"{flag} is empty; give a comma-separated list, e.g. {flag} gru,lstm.")
    try:
        return tuple(kind(s) for s in items)
    except ValueError as err:
        raise ConfigError(f"{flag} must be a comma-separated list of {kind.__name__}s, got {text!r}.") from err


def renamed_flag(new_flag: str, new: Any, old_flag: str, old: Any, default: Any) -> Any:
    """The value of an option whose flag was renamed, still accepting the old spelling for one release.

    `new`/`old` are None when not given. The old flag prints one deprecation line on stderr; giving both is a
    ConfigError (which one was meant is not ours to guess)."""
    if old is None:
        return default if new is None else new
    if new is not None:
        raise ConfigError(f"{old_flag} is the old name of {new_flag}; give only {new_flag}.")
    from dynascope.cli._display import err_console

    err_console.print(f"[yellow]deprecated[/]: {old_flag} is now {new_flag}; the old name goes in the next release.",
                      highlight=False)
    return old


def check_resume(out: Path | str, resume: bool) -> None:
    """Refuse --resume on a folder that holds no run (RunFolderError): there is nothing to continue there.

    Without this check the pipeline's `prepare_run` creates the run, so a mistyped --out silently started a
    new run instead of continuing the interrupted one. The Python API keeps that "create or continue" meaning
    of `resume=True` (the demo relies on it); only the flag, which promises a continuation, is refused.

    Args:
        out: the run folder (--out): a path, or a URL as `store.run_location` gives it.
        resume: whether --resume was given.
    """
    from dynascope.store import CONFIG, holds_run, is_url

    if not resume or holds_run(out):
        return
    if is_url(out):
        where = "holds no run written to a URL (no pushed.json)"
    else:
        where = "does not exist" if not Path(out).exists() else f"holds no run (no {CONFIG})"
    raise RunFolderError(f"{out} {where}, so there is nothing to resume; drop --resume to start a new run there, "
                         "or give the folder of the interrupted run as --out.")


def parse_options(flag: str, pairs: list[str]) -> dict[str, Any]:
    """Parse repeated KEY=VALUE flags; VALUE is read as TOML (3, 0.5, true, "text", [1, 2]) or else as text, and
    True/False as booleans."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"{flag} takes KEY=VALUE, got {pair!r} (e.g. {flag} n_bits=3).")
        k, v = pair.split("=", 1)
        if v.strip() in ("True", "False"):  # Python's spelling of TOML's true/false
            out[k.strip()] = v.strip() == "True"
            continue
        try:
            out[k.strip()] = tomllib.loads(f"v = {v}")["v"]
        except tomllib.TOMLDecodeError:
            out[k.strip()] = v
    return out


def options_per_arch(archs: tuple[str, ...] | list[str], pairs: list[str]) -> dict[str, dict[str, Any]]:
    """Repeated `--model-opt` flags as each architecture's options: KEY=VALUE for every architecture,
    ARCH.KEY=VALUE for that one only (it wins over KEY=VALUE for it, whatever the order); architectures
    without options are left out.

    Args:
        archs: the `--arch` list.
        pairs: the `--model-opt` values as typed.
    """
    per_arch: dict[str, dict[str, Any]] = {a: {} for a in archs}
    scoped: list[tuple[str, str, Any]] = []
    for key, value in parse_options("--model-opt", pairs).items():
        arch, dot, name = key.partition(".")
        if not dot:
            for options in per_arch.values():
                options[key] = value
        elif arch not in per_arch:
            raise ConfigError(f"--model-opt {key}={value!r} names architecture {arch!r}, which is not in --arch "
                              f"({', '.join(archs)}); use ARCH.KEY=VALUE with one of them, or KEY=VALUE for all.")
        else:
            scoped.append((arch, name, value))
    for arch, name, value in scoped:
        per_arch[arch][name] = value
    return {a: o for a, o in per_arch.items() if o}


def _enable_compilation_cache() -> None:
    # The command owns its process: the cache is on unless $DYNASCOPE_CACHE_DIR says off (dynascope._cache).
    use_compilation_cache(override=True)


def main() -> None:
    """Entry point of the `dynascope` command.

    Exit codes: 0 done, 2 bad input (one red line), 130 interrupted by Ctrl-C (SIGINT) and 143 by SIGTERM
    (one "interrupted" line; finished work and the last training checkpoint are kept, so rerunning with
    --resume continues). It ends the process.
    """
    restore = _catch_interrupts()
    try:
        code = _run()
    except BaseException:
        restore()
        raise
    # The command is over and the process only exits from here on: a signal now would just turn the exit
    # (JAX's exit handlers take a moment) into a traceback or a kill, so it is ignored.
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    if _signal_received is not None:
        # Interrupted, with every `finally` of the command run. Leave without finalizing the interpreter:
        # a compilation that the interrupt cut short goes on in one of XLA's threads, and finalization
        # frees the devices under it (a segfault, exit code -11, after an interrupted `analyze`).
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    sys.exit(code)


def _process_local_urls(args: list[str]) -> list[str]:
    """The memory:// locations among a command's arguments. A memory:// file system lives in one Python
    process, and a `dynascope` command is a process of its own: what it writes there is gone when it ends."""
    values = (arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg for arg in args)
    return [v for v in values if v.lower().startswith("memory:/")]


def _run() -> int:
    from rich.markup import escape

    from dynascope.cli._display import err_console

    command = sys.argv[1] if len(sys.argv) > 1 else None  # for an interrupt before typer has parsed it
    try:
        _enable_compilation_cache()
        # Without standalone mode app() returns, rather than raises, the code of a typer.Exit: --help's 0,
        # an interrupted command's 130 or 143.
        code = app(standalone_mode=False, prog_name="dynascope")
    except DynascopeError as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)
        return 2
    except KeyboardInterrupt:  # outside a command (one inside is reported by _Group)
        return _interrupted(command)
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:  # click's own handling of Ctrl-C while it parses the arguments
        return _interrupted(command)
    except Exception as err:
        if _signal_received is not None:  # a consequence of the interrupt (see _Group)
            return _interrupted(command)
        # Usage errors (unknown option or command, a value of the wrong type, a missing argument) are click
        # exceptions carrying exit code 2. typer >= 0.29 vendors click privately, older typer uses the click
        # package, so recognise them by that interface rather than by class.
        if callable(getattr(err, "show", None)) and isinstance(getattr(err, "exit_code", None), int):
            if type(err).__name__ == "NoArgsIsHelpError" or not callable(getattr(err, "format_message", None)):
                err.show()  # a bare `dynascope`: the help text is the answer, not an error
            else:
                err_console.print(f"[bold red]error:[/] {escape(usage_line(err, command))}", highlight=False)
            return err.exit_code
        raise
    code = code if isinstance(code, int) else 0
    for url in _process_local_urls(sys.argv[2:]) if code == 0 else ():
        err_console.print(
            f"[bold yellow]note:[/] {escape(url)} is memory:// storage, which lives only as long as this process: "
            "what this command wrote there is gone when it ends. Use a folder, a file:// URL or shared storage "
            "(s3://, gs://) to keep a run; memory:// is for use from Python.", highlight=False)
    return code



def usage_line(err: Any, command: str | None = None) -> str:
    """One line for a click usage error: what was wrong (the bad flag, click's "did you mean" suggestion when
    it has one) and the command's --help, instead of click's usage block and blank line.

    Args:
        err: a click `UsageError` (or a subclass: `NoSuchOption`, `BadParameter`, `MissingParameter`, ...).
        command: the command's name as typed (the first argument), for an error that carries no click
            context (a flag missing its value), or None.
    """
    ctx = getattr(err, "ctx", None)
    if ctx is not None:
        where = ctx.command_path
    else:
        where = "dynascope" if not command or command.startswith("-") else f"dynascope {command}"
    if type(err).__name__ == "NoSuchOption" and getattr(err, "message", None):
        # click's own wording lists close flags sorted ("(Possible options: --l2, --lr)"); keep its
        # closest-first order and ask, as its "No such command 'x'. Did you mean 'y'?" does.
        close = list(dict.fromkeys(getattr(err, "possibilities", None) or ()))
        message = err.message + (f". Did you mean {' or '.join(close)}?" if close else "")
    else:
        message = err.format_message()
    message = " ".join(str(message).split()).rstrip(".")
    return f"{message} See `{where} --help`." if message.endswith("?") else f"{message}; see `{where} --help`."
