"""Checks of the arguments of the dynamics functions at their boundary: the step against the arrays passed,
finiteness, the model's own parameter check, and the population axis. Each raises a DynascopeError naming
the argument, the value received and the fix."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from dynascope.dynamics._precision import float_dtype, is_floating, x64_scope
from dynascope.dynamics._system import System
from dynascope.errors import ConfigError, ShapeError


def check_params(model: Any, params: Any) -> None:
    """The model's own check of its parameters (`Model.check_params`), where it has one."""
    check = getattr(model, "check_params", None)
    if callable(check):
        check(params)


def check_step(
    system: System,
    params: Any,
    n_state: int,
    n_inputs: int,
    names: tuple[str, str] = ("initial_states", "inputs"),
    dtype: Any = None,
) -> None:
    """Raise ShapeError unless step(params, state [S], x [I]) returns a state `[S]` (checked abstractly).

    `names` are the caller's arguments that hold the states and the inputs, with their expected shapes,
    for the message; sizes the model declares (`System.n_state`, `n_inputs`) are checked first. With
    `dtype`, params, state and input are given in that floating dtype (inside an x64 scope for float64)
    and the step must return its state in it too, as a compiled loop needs."""
    for name, got, want in (("state", n_state, system.n_state), ("input", n_inputs, system.n_inputs)):
        if want is not None and got != want:
            raise ShapeError(
                f"the {system.name!r} model has {name} size {want}, but the arrays passed have {name} "
                f"size {got}; pass {names[0]} with state size {system.n_state} and {names[1]} with input "
                f"size {system.n_inputs}."
            )
    want = np.dtype(dtype) if dtype is not None else float_dtype(params, np.zeros(0, np.float32))
    prm = params if dtype is None else jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(np.shape(a), want) if is_floating(a) else a, params
    )
    state = jax.ShapeDtypeStruct((n_state,), want)
    x = jax.ShapeDtypeStruct((n_inputs,), want)
    try:
        with x64_scope(dtype is not None and want == np.float64):
            out = jax.eval_shape(system.step, prm, state, x)
    except Exception as err:  # re-raised with the shapes that were tried; never swallowed
        raise ShapeError(
            f"step(params, state [{n_state}], x [{n_inputs}]) failed: {err}. "
            f"Check that {names[0]} (state size {n_state} here) and {names[1]} (input size {n_inputs} here) have "
            "the sizes this step function expects."
        ) from err
    if getattr(out, "shape", None) != (n_state,):
        raise ShapeError(
            f"step(params, state [{n_state}], x [{n_inputs}]) must return a state of shape ({n_state},), "
            f"got {getattr(out, 'shape', type(out).__name__)}: the next state, of the size of {names[0]}."
        )
    if dtype is not None and np.dtype(out.dtype) != want:
        raise ShapeError(
            f"step(params, state [{n_state}] {want}, x [{n_inputs}]) returned its state as {np.dtype(out.dtype)}; "
            f"it must keep the dtype it is given ({want}, in which this analysis runs): do not cast inside the step."
        )


def check_finite(name: str, value: Any, hint: str = "") -> None:
    """Raise ConfigError naming `name` (for a pytree, `name` plus the leaf's path), how many values are
    NaN or ±inf, and the first of them with its index, when a floating leaf of `value` is not finite."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(value):
        a = np.asarray(leaf)
        if not np.issubdtype(a.dtype, np.inexact):
            continue
        bad = ~np.isfinite(a)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            where = name + jax.tree_util.keystr(path)
            at = f" at index {first}" if first else ""
            value = complex(a[first]) if np.iscomplexobj(a) else float(a[first])
            raise ConfigError(
                f"{where} holds {int(bad.sum())} non-finite value(s) (the first, {value}{at}); "
                f"expected finite numbers.{' ' + hint if hint else ''}"
            )


def population_size(stacked_params: Any) -> int:
    """The number of networks n, the leading axis every leaf of `stacked_params` shares (ShapeError if not)."""
    sizes = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in jax.tree.leaves(stacked_params)}
    if len(sizes) != 1 or None in sizes:
        raise ShapeError(
            "stacked_params must hold arrays that all have the same leading network axis n, "
            f"got leading sizes {sorted(map(str, sizes))}; stack per-network params with jax.tree.map(jnp.stack, ...)."
        )
    return int(sizes.pop())
