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

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture
def key() -> jax.Array:
    """A fixed PRNG key, so every test is deterministic."""
    return jax.random.key(0)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop every compiled program after each test module. Each XLA CPU executable holds a few memory
    mappings until it is freed, and a worker that kept all of a suite's thousands of programs crossed the
    kernel's limit of 65 530 mappings (vm.max_map_count) and died with a segmentation fault inside a later
    compilation. Modules rarely share programs, so little is compiled twice."""
    yield
    jax.clear_caches()
