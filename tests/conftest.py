"""Strict test setup: warnings are errors (pyproject), strict dtype promotion, CPU, an explicit key fixture.

float64 is switched on only inside the tests that check fixed-point accuracy, with `jax.enable_x64(True)`.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# `dynascope` commands run by the tests (subprocesses) keep no compilation cache in the user's home. (A
# cache shared by the whole session was measured slower: with a size limit, JAX's cache rescans every
# entry on each write; without one, two processes could read each other's half-written entries.)
os.environ.setdefault("DYNASCOPE_CACHE_DIR", "off")
# The suite's networks are tiny, so its time is XLA compiling thousands of small programs, not running them:
# with LLVM's optimisation passes at level 0 it takes about half as long (benchmarks/RESULTS.md, "The test
# suite"), and the workers' `dynascope` subprocesses inherit the setting. Nothing is relaxed: floating
# point keeps IEEE semantics at every level (fast math is off). Users' programs keep XLA's default level.
# DYNASCOPE_TEST_XLA_OPT=default runs the suite at the default level.
if os.environ.get("DYNASCOPE_TEST_XLA_OPT", "0") != "default":
    os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", ""), "--xla_backend_optimization_level=0"]).strip()

import signal  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")

# The CLI's rich consoles take their width from COLUMNS when they are made, at the first import of
# `dynascope.cli`. Under the test runner there is no terminal, and a folded table splits the names, paths and
# messages the CLI tests look for (`dynascope runs` puts a run's whole path and its damage on one row), so the
# consoles are made here as wide as a user would ask for with COLUMNS; the variable is then put back, so the
# runner's own output and the `dynascope` subprocesses keep their usual width.
_columns = os.environ.get("COLUMNS")
os.environ["COLUMNS"] = "2000"
import dynascope.cli  # noqa: E402,F401
if _columns is None:
    del os.environ["COLUMNS"]
else:
    os.environ["COLUMNS"] = _columns


@pytest.fixture
def key() -> jax.Array:
    """A fixed PRNG key, so every test is deterministic."""
    return jax.random.key(0)


#: Memory mappings of the worker past which its compiled programs are dropped (see `_release_compiled_programs`).
MAX_MAPPINGS = 20_000


def _mappings() -> int | None:
    """How many memory mappings this process holds (Linux), or None where that cannot be read."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return None


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop every compiled program after a test module once the worker holds many memory mappings. Each XLA
    CPU executable holds a few mappings until it is freed, and a worker that kept all of a suite's thousands
    of programs crossed the kernel's limit of 65 530 (vm.max_map_count) and died with a segmentation fault
    inside a later compilation. Below MAX_MAPPINGS the programs stay, so the modules that train or analyse
    the same tiny networks share them instead of compiling them again."""
    yield
    count = _mappings()
    if count is None or count > MAX_MAPPINGS:
        jax.clear_caches()


@pytest.fixture
def dynascope_main(monkeypatch) -> Callable[..., int]:
    """`dynascope_main(*args) -> exit code`: the `dynascope` console script (`dynascope.cli.main`, the entry
    point in pyproject's [project.scripts]) run in-process on `args`, as the shell would run it. `main` ends
    the process with `sys.exit` and, once the command is over, ignores SIGINT/SIGTERM; here the exit is
    caught and the test process gets its signal handlers back."""
    from dynascope.cli import main

    def call(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["dynascope", *args])
        handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            main()
        except SystemExit as done:
            return 0 if done.code is None else done.code if isinstance(done.code, int) else 1
        finally:
            for s, handler in handlers.items():
                signal.signal(s, handler)
        raise AssertionError("dynascope.cli.main returned instead of exiting")

    return call
