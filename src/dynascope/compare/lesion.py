"""Lesions: run a network with a set of its units silenced, and how much each lesion costs a linear readout."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.errors import ShapeError


def silence_mask(model: Any, silenced: jax.Array | np.ndarray) -> jax.Array:
    """The 0/1 mask `[S]` that zeroes every state variable of the silenced units.

    The flat state of every model in the zoo is a whole number of `[H]` blocks (rate nets: 1; LSTM: h and c;
    LIF: v, I, refractory counter, spikes, trace; ALIF: + adaptation), unit j's variables at j, H + j, ...,
    so the mask is `1 − silenced` tiled over the blocks.

    Args:
        model: the model; uses `model.n_hidden` (H) and `model.n_state` (S).
        silenced: one flag per unit `[H]`, nonzero for a silenced unit.

    Returns:
        `[S]` float32 mask.

    Raises:
        ShapeError: `silenced` is not `[H]`, or S is not a multiple of H.
    """
    silenced = jnp.asarray(silenced)
    h, s = model.n_hidden, model.n_state
    if silenced.shape != (h,):
        raise ShapeError(f"silenced must hold one flag per unit, shape ({h},), got shape {tuple(silenced.shape)}.")
    if s % h:
        raise ShapeError(
            f"{model.name}: its state of {s} numbers is not a whole number of blocks of n_hidden={h}, so which "
            "state variables belong to a unit is not defined; lesions need a model whose state is [H] blocks."
        )
    return jnp.tile(1.0 - silenced.astype(jnp.float32), s // h)


def run_silenced(
    model: Any, params: dict[str, jax.Array], inputs: jax.Array, silenced: jax.Array | np.ndarray
) -> tuple[jax.Array, jax.Array]:
    """Run a batch with units silenced: (states `[B, T, S]`, outputs `[B, T, O]`), like `model.run`.

    Every state variable of a silenced unit is held at 0 (initial state and after every step), so it sends
    nothing to the rest of the network or to the readout: a rate unit's activity φ(0) is 0 for tanh and relu
    (softplus units keep φ(0) = ln 2, a constant that carries no information), a GRU/LSTM unit's h is 0, a LIF
    neuron rests and never fires.

    Args:
        model: a model of the zoo (its state made of `[H]` blocks, see `silence_mask`).
        params: the network's parameters.
        inputs: `[B, T, I]`.
        silenced: `[H]` bool, True for the units to silence.
    """
    keep = silence_mask(model, silenced)
    keep = keep.astype(model.initial_state(params).dtype)
    s0 = jnp.broadcast_to(model.initial_state(params) * keep, (inputs.shape[0], model.n_state))
    step = jax.vmap(model.step, in_axes=(None, 0, 0))

    def body(s: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        s = step(params, s, x) * keep
        return s, s

    _, states = jax.lax.scan(body, s0, jnp.swapaxes(inputs, 0, 1))
    states = jnp.swapaxes(states, 0, 1)
    return states, model.readout(params, states)
