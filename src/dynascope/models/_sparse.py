"""Recurrent weights stored sparse: each neuron keeps the weights of its K presynaptic partners only.

A dense recurrent matrix costs H² numbers per copy (parameters, gradients, two Adam moments), which caps a
trainable network near the tens of thousands of neurons: 100 000 neurons need 40 GB per copy. With a fixed
in-degree K, neuron j's inputs are the weights `w [H, K]` (row j: the weights of its K inputs) and the
presynaptic neurons they come from, `pre [H, K]` (row j: K distinct neurons in increasing order), so a copy
costs H·K numbers; the recurrent input of a step is

    r_j = Σ_k w_jk z_pre(j,k),

a gather of the spikes followed by a row sum, H·K multiply-adds instead of H².

The backward pass must not keep the gathered spikes z_pre `[H, K]` of every step and trial (that is the N²·T
memory sparse storage exists to avoid): `sparse_input` keeps the spikes as bytes `[H]` and gathers them again
when the weight gradient is formed.

The partners are a fixed random graph drawn per network (`draw_partners`): every neuron gets exactly K inputs
chosen uniformly among all H neurons (itself included) without repetition, the fixed-in-degree counterpart of
the Bernoulli mask a dense network with `connectivity` p < 1 uses (same mean in-degree p·H, zero variance).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

#: Partners are drawn for as many neurons at a time as keep their membership table (neurons × H booleans)
#: within this many bytes, so that drawing the graph of a 100 000-neuron network never holds an H × H array.
_DRAW_BYTES = 1 << 26

#: Partner indices are stored as float32 parameters (the trainer, the run store and vmap handle one dtype);
#: float32 holds every integer up to 2²⁴ exactly.
MAX_NEURONS = 1 << 24


def draw_partners(key: jax.Array, n_hidden: int, fan_in: int) -> jax.Array:
    """The presynaptic partners `[H, K]` of each of `n_hidden` neurons: `fan_in` distinct neurons per row,
    a uniformly random K-subset of {0, …, H − 1}, in increasing order, as float32 (exact integers).

    Floyd's algorithm (Bentley & Floyd 1987, "A sample of brilliance", Commun. ACM 30(9)) draws each subset
    in K steps: for j = H − K, …, H − 1, draw t uniformly from {0, …, j} and take t, or j if t was already
    taken; every K-subset comes out with probability 1/C(H, K). It costs O(H·K) work in all (not the H² of
    ranking H random numbers per neuron), with a table of taken neurons for a block of rows at a time.

    Args:
        key: PRNG key of the graph.
        n_hidden: number of neurons H.
        fan_in: inputs per neuron K, 1 ≤ K ≤ H.
    """
    h, k = n_hidden, fan_in
    rows = max(1, min(h, _DRAW_BYTES // h))
    n_blocks = math.ceil(h / rows)
    index = jnp.arange(rows)

    def block(block_key: jax.Array) -> jax.Array:
        def draw(step: jax.Array, carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
            taken, chosen = carry
            j = h - k + step
            t = jax.random.randint(jax.random.fold_in(block_key, step), (rows,), 0, j + 1)
            pick = jnp.where(taken[index, t], j, t)
            return taken.at[index, pick].set(True), chosen.at[:, step].set(pick)

        start = (jnp.zeros((rows, h), bool), jnp.zeros((rows, k), jnp.int32))
        return jnp.sort(jax.lax.fori_loop(0, k, draw, start)[1], axis=1)

    partners = jax.lax.map(block, jax.random.split(key, n_blocks)).reshape(n_blocks * rows, k)[:h]
    return partners.astype(jnp.float32)


def partner_index(pre: jax.Array) -> jax.Array:
    """The partners `pre [H, K]` (float-coded) as int32 indices, with no gradient."""
    return jax.lax.stop_gradient(pre).astype(jnp.int32)


@jax.custom_jvp
def sparse_input(w: jax.Array, pre: jax.Array, z: jax.Array) -> jax.Array:
    """The recurrent input r `[H]`, r_j = Σ_k w_jk z_pre(j,k), of spikes `z [H]` (each exactly 0 or 1) through
    the sparse weights `w [H, K]` from the partners `pre [H, K]` (int32).

    Its derivative with respect to `w` gathers the spikes again from an int8 copy of `z`, so reverse-mode
    differentiation keeps one byte per neuron and step (not the K gathered spikes of each neuron).

    Args:
        w: the weights of each neuron's inputs `[H, K]`.
        pre: the presynaptic neuron of each input `[H, K]` (int32).
        z: the spikes of the step `[H]`, 0.0 or 1.0 (the weight derivative reads other values rounded
            toward zero to integers).
    """
    return jnp.sum(w * z[pre], axis=-1)


@jax.checkpoint
def _weight_tangent(dw: jax.Array, pre: jax.Array, bits: jax.Array) -> jax.Array:
    # Under jax.checkpoint the gather is recomputed when the gradient is formed: what is kept per step is the
    # checkpoint's input `bits` [H] (int8), not the gathered [H, K] spikes.
    return jnp.sum(dw * bits[pre].astype(dw.dtype), axis=-1)


def _sparse_input_jvp(primals: tuple[jax.Array, ...], tangents: tuple[Any, ...]) -> tuple[jax.Array, jax.Array]:
    (w, pre, z), (dw, _, dz) = primals, tangents
    out = jnp.sum(w * z[pre], axis=-1)
    dout = jnp.zeros_like(out)
    if not isinstance(dz, SymbolicZero):
        dout = dout + jnp.sum(w * dz[pre], axis=-1)
    if not isinstance(dw, SymbolicZero):
        dout = dout + _weight_tangent(dw, pre, z.astype(jnp.int8))
    return out, dout


sparse_input.defjvp(_sparse_input_jvp, symbolic_zeros=True)


def dense_weights(w: jax.Array, pre: jax.Array) -> jax.Array:
    """The dense matrix `[H, H]` (post × pre) of the sparse weights `w [H, K]` from partners `pre [H, K]`
    (float-coded or int): entry (j, pre_jk) is w_jk, every other entry 0. Gradients reach `w`.

    Args:
        w: the weights of each neuron's inputs `[H, K]`.
        pre: the presynaptic neuron of each input `[H, K]`.
    """
    h = w.shape[0]
    rows = jnp.arange(h)[:, None]
    return jnp.zeros((h, h), w.dtype).at[rows, partner_index(pre)].add(w)
