"""Backpropagation through time in memory that grows as T/K + K instead of T: checkpointing through time.

Plain BPTT (`jax.grad` through `Model.run`) keeps, for every one of a trial's T steps, the values the backward
pass of that step needs (its residuals) and the state itself (`run` returns every state). With
`TrainOptions.checkpoint_steps` K > 0 the trainer runs the trial instead as one scan over ⌈T/K⌉ chunks, each
an inner scan of K steps wrapped in `jax.checkpoint`: the forward pass keeps only the state at the start of
each chunk (and the outputs the loss reads), and the backward pass recomputes one chunk's K steps at a time
from its starting state before sending the gradient back through them. Memory then grows as
⌈T/K⌉·S + K·(residuals + S) numbers per trial instead of T·(residuals + S), for one more forward pass
of compute; K ≈ √(T·residuals/S) balances the two terms. The gradient is the same function of the
parameters as plain BPTT's (the same operations, recomputed), equal to float rounding.

No state is stacked over time: the loss needs only the outputs `[B, T, O]` and, for `l2_activity`, the mean
squared activity, which the scan accumulates as it goes.

References: Griewank 1992, "Achieving logarithmic growth of temporal and spatial complexity in reverse
automatic differentiation", Optim. Methods Softw. (checkpointing); Chen, Xu, Zhang & Guestrin 2016, "Training
deep nets with sublinear memory cost" (the √T schedule).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from dynascope.models import Model, Params

__all__ = ["run_checkpointed"]


def run_checkpointed(
    model: Model,
    params: Params,
    inputs: jax.Array,
    *,
    checkpoint_steps: int,
    noise_key: jax.Array | None = None,
    noise_std: Any = 0.0,
) -> tuple[jax.Array, jax.Array]:
    """Run a batch as `Model.run` does, keeping only the outputs, with the time scan cut into rematerialised
    chunks of `checkpoint_steps` steps (see the module docstring).

    Args:
        model: any `Model`.
        params: its parameters (unstacked: one network).
        inputs: `[B, T, I]`.
        checkpoint_steps: K ≥ 1, steps per chunk whose states the backward pass recomputes (T need not be a
            multiple of K: the last T mod K steps form one shorter chunk).
        noise_key: as in `Model.run`: a key for Gaussian state noise after every step (None: none).
        noise_std: its standard deviation (scaled by sqrt(alpha), as `Model.run` scales it).

    Returns:
        (outputs `[B, T, O]`, the mean over batch, time and units of `model.activity(state)²`): the outputs
        `Model.run` returns, and what the trainer's `l2_activity` penalty reads from its states.
    """
    batch, n_time = inputs.shape[:2]
    s0 = jnp.broadcast_to(model.initial_state(params), (batch, model.n_state))
    step = jax.vmap(model.step, in_axes=(None, 0, 0))
    xs = jnp.swapaxes(inputs, 0, 1)
    # The same noise draws as `Model.run`: one key per step, split from `noise_key`, a normal draw of the
    # state's shape after each step.
    noisy = noise_key is not None and not (isinstance(noise_std, (int, float)) and noise_std == 0.0)
    keys = jax.random.split(noise_key, n_time) if noisy else None
    scale = noise_std * jnp.sqrt(model.alpha) if noisy else 0.0

    def chunk(p: Params, carry: tuple[jax.Array, jax.Array], seq: Any) -> tuple[Any, jax.Array]:
        def body(c: tuple[jax.Array, jax.Array], xk: Any) -> tuple[Any, jax.Array]:
            s, sq = c
            x, k = xk
            s = step(p, s, x)
            if noisy:
                s = s + scale * jax.random.normal(k, s.shape, s.dtype)
            return (s, sq + jnp.sum(model.activity(s) ** 2)), model.readout(p, s)

        return jax.lax.scan(body, carry, seq)

    remat = jax.checkpoint(chunk, prevent_cse=False)
    k = min(int(checkpoint_steps), n_time)
    n_full, rest = divmod(n_time, k)

    def split(a: jax.Array | None, lo: int, hi: int, shape: tuple[int, ...]) -> jax.Array | None:
        return None if a is None else a[lo:hi].reshape(*shape, *a.shape[1:])

    carry = (s0, jnp.zeros((), s0.dtype))
    full = (split(xs, 0, n_full * k, (n_full, k)), split(keys, 0, n_full * k, (n_full, k)))
    carry, outs = jax.lax.scan(lambda c, seq: remat(params, c, seq), carry, full)
    outs = outs.reshape(n_full * k, *outs.shape[2:])
    if rest:
        carry, tail = remat(params, carry, (xs[n_full * k :], None if keys is None else keys[n_full * k :]))
        outs = jnp.concatenate((outs, tail))
    n_units = jax.eval_shape(model.activity, s0).shape[-1]
    # A Python float: the count passes 2³¹ for large networks, which JAX cannot read as an int32 operand.
    return jnp.swapaxes(outs, 0, 1), carry[1] / float(batch * n_time * n_units)
