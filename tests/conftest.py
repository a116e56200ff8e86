"""Strict test setup: warnings are errors (pyproject), strict dtype promotion, CPU, an explicit key fixture.

float64 is switched on only inside the tests that check fixed-point accuracy, with `jax.enable_x64(True)`.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# `dynascope` commands run by the tests (subprocesses) keep no compilation cache in the user's home.
os.environ.setdefault("DYNASCOPE_CACHE_DIR", "off")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture
def key() -> jax.Array:
    """A fixed PRNG key, so every test is deterministic."""
    return jax.random.key(0)
