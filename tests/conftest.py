"""Strict test setup: warnings are errors (pyproject), strict dtype promotion, CPU, an explicit key fixture.

float64 is switched on only inside the tests that check fixed-point accuracy, with `jax.enable_x64(True)`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# One compilation cache for the whole test session, in a temporary folder (never the user's home): the
# test workers and the `dynascope` commands the tests run as subprocesses load a program another process
# already compiled instead of compiling it again. The controlling process makes the folder before the
# xdist workers start, and they inherit it. A size limit turns on JAX's file lock around every read and
# write, so two workers never see half of each other's entries. DYNASCOPE_TEST_CACHE=off compiles
# everything in every process, as a user's first run does.
if "DYNASCOPE_CACHE_DIR" not in os.environ:
    if os.environ.get("DYNASCOPE_TEST_CACHE") == "off":
        os.environ["DYNASCOPE_CACHE_DIR"] = "off"
    else:
        _session_cache = tempfile.mkdtemp(prefix="dynascope-test-jax-cache-")
        os.environ["DYNASCOPE_CACHE_DIR"] = _session_cache
        os.environ["JAX_COMPILATION_CACHE_MAX_SIZE"] = str(8 << 30)
        atexit.register(shutil.rmtree, _session_cache, ignore_errors=True)

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture
def key() -> jax.Array:
    """A fixed PRNG key, so every test is deterministic."""
    return jax.random.key(0)
