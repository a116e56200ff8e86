"""What a network's activity costs: synaptic operations per trial and mean firing rate.

An event-driven (spiking) network pays one synaptic operation for each spike at each of the synapses it
reaches (its fan-out: the nonzero entries of its column in every outgoing matrix); a rate network, and any
dense analog input, pays one multiply-accumulate per nonzero weight per step. These are the counts that let a
user plot accuracy against operations for rate and spiking solutions of one task.

Reference: Merolla et al. 2014, "A million spiking-neuron integrated circuit with a scalable communication
network and interface", Science (synaptic operations, SOPs, as the cost unit of event-driven hardware).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.errors import ShapeError


def fan_out(*outgoing: jax.Array | np.ndarray) -> jax.Array:
    """Number of synapses each presynaptic unit reaches, `[n_pre]` (int): nonzero entries of its column,
    summed over the matrices `outgoing`, each `[n_post, n_pre]` (`weights[i, j]` from j to i)."""
    if not outgoing:
        raise ShapeError("fan_out needs at least one outgoing weight matrix [n_post, n_pre].")
    n_pre = {np.shape(w)[-1] for w in outgoing}
    if len(n_pre) != 1 or any(np.ndim(w) != 2 for w in outgoing):
        raise ShapeError(f"outgoing matrices must be [n_post, n_pre] with one n_pre, got shapes {[np.shape(w) for w in outgoing]}.")
    return sum(jnp.count_nonzero(jnp.asarray(w), axis=0) for w in outgoing)  # type: ignore[return-value]


def spike_operations(spikes: jax.Array | np.ndarray, *outgoing: jax.Array | np.ndarray) -> jax.Array:
    """Synaptic operations of each trial `[B]`: Σ_t Σ_j z_tj · fan_out_j.

    Args:
        spikes: `[B, T, H]` 0/1 spike raster (`[T, H]` for one trial gives a scalar).
        outgoing: the matrices the spikes travel through, each `[n_post, H]` (recurrent, readout, ...).
    """
    z = jnp.asarray(spikes)
    fo = fan_out(*outgoing)
    if z.shape[-1] != fo.shape[0]:
        raise ShapeError(f"spikes has {z.shape[-1]} neurons on its last axis, the outgoing matrices {fo.shape[0]}.")
    return jnp.sum(z.astype(jnp.float32) * fo.astype(jnp.float32), axis=(-2, -1))


def macs_per_step(*matrices: jax.Array | np.ndarray) -> int:
    """Multiply-accumulates of one dense step through `matrices`: the number of their nonzero entries."""
    return int(sum(int(jnp.count_nonzero(jnp.asarray(w))) for w in matrices))


def firing_rate(spikes: jax.Array | np.ndarray, dt: float) -> jax.Array:
    """Mean firing rate of each trial in Hz (spikes per neuron per second) of a spike raster.

    Args:
        spikes: spike raster `[B, T, H]` (0/1 or counts per step).
        dt: step length in milliseconds.

    Returns:
        `[B]` float32 rates in Hz.
    """
    z = jnp.asarray(spikes).astype(jnp.float32)
    return jnp.mean(z, axis=(-2, -1)) * (1000.0 / dt)


def connection_matrices(model: Any, params: dict[str, jax.Array]) -> list[jax.Array]:
    """The weight matrices a dense step of a rate model multiplies by, each with its fixed mask applied: every
    matrix of `model.weight_names(params)`, times `params["M_<x>"]` when `W_<x>` has one (`M_rec`, `M_in`)."""
    out = []
    for name in model.weight_names(params):
        w = params[name]
        mask = "M_" + name.split("_", 1)[1] if name.startswith("W_") else None
        out.append(w * params[mask] if mask in params else w)
    return out


def synaptic_operations(model: Any, params: dict[str, jax.Array], states: jax.Array) -> jax.Array:
    """Synaptic operations of each trial of a run.

    - Spiking models (`model.spiking`): spikes × fan-out through the recurrent matrix the step uses
      (`model.effective_weights`, masks and Dale's signs applied) and the readout `W_out`, plus the analog
      input, a dense multiply-accumulate per nonzero entry of `W_in` per step (with a delta encoder,
      `input_encoding`='delta': the encoder's spikes × their fan-out through `W_in` instead).
    - Rate models: multiply-accumulates per step (`macs_per_step` of `connection_matrices`: every weight
      matrix, masks applied) times the number of steps T; the same for every trial.

    Counted with array operations, so a population's counts trace as one `jit(vmap(...))` program.

    Args:
        model: the network's model (rate or spiking).
        params: the network's parameters (one network, no leading network axis).
        states: the run's states `[B, T, S]` with S = `model.n_state`.

    Returns:
        `[B]` float32 operation counts.

    Raises:
        ShapeError: `states` is not `[B, T, model.n_state]`.

    Reference: Merolla et al. 2014 (synaptic operations as the cost unit of event-driven hardware).
    """
    states = jnp.asarray(states)
    if states.ndim != 3 or states.shape[-1] != model.n_state:
        raise ShapeError(f"states must be [trials, time, {model.n_state}], got shape {tuple(states.shape)}.")
    n_time = states.shape[1]
    # Counted with array operations (not `macs_per_step`, a host integer) so that the count traces: a
    # population's counts are one jit(vmap(...)) program.
    if getattr(model, "spiking", False):
        events = spike_operations(model.spikes(states), model.effective_weights(params), params["W_out"])
        encoded = model.input_spikes(states) if hasattr(model, "input_spikes") else None
        if encoded is not None:  # input as spikes of an encoder: events through W_in as well
            return events + spike_operations(encoded, model.effective_inputs(params))
        return events + n_time * _nonzeros(model.effective_inputs(params))
    per_step = _nonzeros(*connection_matrices(model, params))
    return jnp.full(states.shape[0], n_time * per_step, jnp.float32)


def _nonzeros(*matrices: jax.Array) -> jax.Array:
    """Nonzero entries of `matrices`, all together, as a float32 scalar (exact up to 2**24)."""
    return sum(jnp.count_nonzero(w).astype(jnp.float32) for w in matrices)  # type: ignore[return-value]


def mean_firing_rate(model: Any, states: jax.Array) -> jax.Array:
    """Mean firing rate in Hz of each trial of a spiking model's run.

    Args:
        model: a spiking model (`model.spiking`); its `spikes(states)` are counted with `model.dt` ms per
            step.
        states: the run's states `[B, T, S]`.

    Returns:
        `[B]` float32 rates in Hz.

    Raises:
        ShapeError: `model` is a rate model (it has no spikes).
    """
    if not getattr(model, "spiking", False):
        raise ShapeError(f"{model.name} is a rate model: it has no spikes to count; use a spiking model (lif, alif).")
    return firing_rate(model.spikes(jnp.asarray(states)), model.dt)
