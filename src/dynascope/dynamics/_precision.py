"""Working precision of an analysis: the dtype it computes in, casting to it, the float64 scope, and the
q below which a residual is zero to rounding."""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Iterator

import jax
import numpy as np

from dynascope._compile import once


def _dtype_of(leaf: Any) -> np.dtype:
    return np.dtype(leaf.dtype) if isinstance(leaf, (np.ndarray, np.generic, jax.Array)) else np.asarray(leaf).dtype


def is_floating(leaf: Any) -> bool:
    """Whether a pytree leaf (array, NumPy or Python scalar) holds floating-point numbers."""
    return bool(np.issubdtype(_dtype_of(leaf), np.floating))


def float_dtype(params: Any, fallback: Any) -> np.dtype:
    """The floating dtype of the first floating leaf of `params`, else of `fallback`, else float32, as JAX
    will compute in it (float64 only inside an x64 scope)."""
    found = np.dtype(np.float32)
    for leaf in jax.tree.leaves(params) + [fallback]:
        dtype = _dtype_of(leaf)
        if np.issubdtype(dtype, np.floating):
            found = dtype
            break
    # float64 arrays are float32 to JAX unless x64 is on: compute in what JAX will actually use.
    return np.dtype(jax.dtypes.canonicalize_dtype(found))


def cast(tree: Any, dtype: Any) -> Any:
    """Every floating leaf of `tree` as a jax array of `dtype` (other leaves unchanged).

    Host leaves are converted by NumPy and device leaves by one compiled program for the whole tree: an
    eager `jnp.asarray(leaf, dtype)` per leaf compiled one program per leaf shape (6 for a GRU), which a
    first analysis paid for in seconds."""
    dtype = np.dtype(dtype)
    leaves, treedef = jax.tree.flatten(tree)
    on_device = []
    for i, leaf in enumerate(leaves):
        if not is_floating(leaf):
            continue
        if isinstance(leaf, jax.Array):
            if leaf.dtype != dtype:
                on_device.append(i)
        else:
            leaves[i] = jax.device_put(np.asarray(leaf, dtype))
    if on_device:
        for i, leaf in zip(on_device, _convert([leaves[i] for i in on_device], dtype)):
            leaves[i] = leaf
    return jax.tree.unflatten(treedef, leaves)


@functools.partial(once, static_argnums=1)
def _convert(leaves: list[jax.Array], dtype: np.dtype) -> list[jax.Array]:
    return [leaf.astype(dtype) for leaf in leaves]


def zero_floor(states: Any) -> Any:
    """The q below which a residual at `states [..., S]` is zero to working precision, `[...]`:
    (4·eps·(1 + ‖s‖))²/2 in the dtype of `states` (NumPy or JAX arrays alike)."""
    eps = np.finfo(states.dtype).eps
    return 8.0 * eps * eps * (1.0 + (states * states).sum(axis=-1))


@contextlib.contextmanager
def x64_scope(on: bool) -> Iterator[None]:
    """float64 analysis when `on`, else a no-op (so a caller's own x64 setting is left alone).

    Inside, `jax.enable_x64(True)` and standard dtype promotion: a model trained in float32 may build
    float32 constants in its step (masks, signs); promoting them to float64 is exactly what a float64
    analysis of that model means, and strict promotion would refuse it.
    """
    if not on:
        yield
        return
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        yield
