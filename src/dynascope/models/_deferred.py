"""Backpropagation through a spiking network's trial with the recurrent weight gradient taken after the loop.

Reverse-mode differentiation of the time loop as written forms, at every step t, the recurrent matrix's share
of the gradient, the outer product (∂L/∂I_t) z_tᵀ summed over the batch, and adds it into an H × H
accumulator: two passes over an H × H array per step, which for large H cost as much as the step's own
matrix products (benchmarks/RESULTS.md §16b). Here the loop runs with the recurrent matrix held constant and a
zero "probe" e_t added to the synaptic current where the recurrent input W z_t enters; the backward loop
then returns ∂L/∂e_t = ∂L/∂(W z_t) for every step, and the matrix's gradient is one product over all steps
and trials after it,

    ∂L/∂W = Σ_t Σ_b (∂L/∂e_tb) z_tbᵀ,

taken back to the parameters through `effective_weights` (Dale's signs, the mask). It is the same gradient,
summed in another order (equal to float rounding).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp


def _scan(model: Any, params: Any, inputs: jax.Array, start: jax.Array, probes: jax.Array | None) -> jax.Array:
    """States `[B, T, S]` of `model` from `start [B, S]` under `inputs [B, T, I]`, with (when `probes [T, B, H]`
    are given) the recurrent matrix held constant and probe t added to step t's synaptic currents."""
    xs = jnp.swapaxes(inputs, 0, 1)
    if probes is None:
        step = jax.vmap(model.step, in_axes=(None, 0, 0))
        seq: Any = (xs,)
    else:
        params = {**params, "W_rec": jax.lax.stop_gradient(params["W_rec"])}
        step = jax.vmap(model.step, in_axes=(None, 0, 0, 0))
        seq = (xs, probes)

    def body(state: jax.Array, x: tuple[jax.Array, ...]) -> tuple[jax.Array, jax.Array]:
        state = step(params, state, *x)
        return state, state

    _, states = jax.lax.scan(body, start, seq)
    return jnp.swapaxes(states, 0, 1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def run_deferred(model: Any, params: Any, inputs: jax.Array, start: jax.Array) -> jax.Array:
    """The states `[B, T, S]` of `model` (a dense `lif`/`alif` without delays) run from `start [B, S]` under
    `inputs [B, T, I]`, whose reverse-mode derivative forms the recurrent matrix's gradient after the time
    loop (see the module docstring).

    Args:
        model: the spiking model; its `step` takes a fourth argument, the probe `[H]` added to the currents.
        params: one network's parameters.
        inputs: the trials' inputs `[B, T, I]`.
        start: the initial states `[B, S]`.
    """
    return _scan(model, params, inputs, start, None)


def _forward(model: Any, params: Any, inputs: jax.Array, start: jax.Array) -> tuple[jax.Array, Any]:
    probes = jnp.zeros((inputs.shape[1], inputs.shape[0], model.n_hidden), start.dtype)
    states, backward = jax.vjp(functools.partial(_scan, model), params, inputs, start, probes)
    return states, (backward, states, params)


def _backward(model: Any, saved: Any, cotangent: jax.Array) -> tuple[Any, jax.Array, jax.Array]:
    backward, states, params = saved
    g_params, g_inputs, g_start, g_probes = backward(cotangent)
    spikes = model.spikes(states)  # [B, T, H]: the spikes of step t, those the recurrent input of step t carries
    g_weights = jnp.einsum("tbh,btk->hk", g_probes, spikes.astype(g_probes.dtype))
    (g_from_weights,) = jax.vjp(model.effective_weights, params)[1](g_weights)
    return jax.tree.map(jnp.add, g_params, g_from_weights), g_inputs, g_start


run_deferred.defvjp(_forward, _backward)
