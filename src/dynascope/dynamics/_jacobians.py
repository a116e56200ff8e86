"""Jacobians of the analysed function (the map, or the flow of a continuous model) at many points of many
networks, in one compiled call per bucketed shape."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope._compile import program, work
from dynascope.dynamics._precision import cast, float_dtype, x64_scope
from dynascope.dynamics._scheduler import bucket, chunk_networks, map_chunks, pad_rows
from dynascope.dynamics._system import System


def _jacobians_one(system: System, with_inputs: bool, params: Any, states: jax.Array, inputs: jax.Array):
    f = system.analysed()

    def value_and_value(p: Any, s: jax.Array, u: jax.Array) -> tuple[jax.Array, jax.Array]:
        out = f(p, s, u)
        return out, out

    jac, value = jax.vmap(jax.jacfwd(value_and_value, argnums=1, has_aux=True), in_axes=(None, 0, 0))(
        params, states, inputs
    )
    # the residual F(s) − s that the stability tolerance needs comes with the Jacobian at no extra pass
    residual = system.alpha * value if system.continuous else value - states
    if not with_inputs:
        return jac, None, residual
    jac_in = jax.vmap(jax.jacfwd(f, argnums=2), in_axes=(None, 0, 0))(params, states, inputs)
    return jac, jac_in, residual


@program(static_argnames=("system", "with_inputs"))
def _jacobians(
    system: System,
    params: Any,
    states: jax.Array,
    inputs: jax.Array,
    *,
    with_inputs: bool,
):
    return jax.vmap(functools.partial(_jacobians_one, system, with_inputs))(params, states, inputs)


def jacobians(
    system: System,
    params: Any,
    states: np.ndarray,
    inputs: np.ndarray,
    *,
    float64: bool,
    with_inputs: bool = False,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Jacobians of the analysed function (map F, or flow f) at `states [n, P, S]` under `inputs [n, P, I]`
    of n networks (params with the leading network axis n).

    Returns host arrays `[n, P, S, S]`, with `with_inputs` the input Jacobians `[n, P, S, I]` (else
    None), and the residuals F(s) − s `[n, P, S]` of the map that runs (for a flow alpha·f(s)).
    The point axis is padded to a power of two for the compiled call, so few shapes are ever compiled.
    With `float64`, params and points are cast to float64 inside a `jax.enable_x64` scope.
    """
    p = states.shape[1]
    size = bucket(p)
    states_p, inputs_p = pad_rows(states, size, 1), pad_rows(inputs, size, 1)
    with x64_scope(float64):
        dtype = np.float64 if float64 else float_dtype(params, states)

        def run(prm: Any, s: np.ndarray, u: np.ndarray) -> tuple:
            jac, jac_in, res = _jacobians(
                work(*s.shape), system, cast(prm, dtype), jnp.asarray(s, dtype), jnp.asarray(u, dtype),
                with_inputs=with_inputs,
            )
            return np.asarray(jac), None if jac_in is None else np.asarray(jac_in), np.asarray(res)

        n_state, n_in = states.shape[-1], inputs.shape[-1]
        chunk = chunk_networks(size * n_state * (n_state + (n_in if with_inputs else 0)), n_networks=states.shape[0])
        jac, jac_in, res = map_chunks(run, params, (states_p, inputs_p), chunk)
    return jac[:, :p], None if jac_in is None else jac_in[:, :p], res[:, :p]
