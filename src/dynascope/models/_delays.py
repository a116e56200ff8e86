"""Per-connection recurrent synaptic delays of the spiking models, relaxed so that gradients reach them.

A spike emitted by neuron k at step t reaches neuron j's synaptic current d_jk steps later (d_jk = 0: in the
same step, the behaviour without delays). The network keeps the spikes of the last D = `max_delay` steps in a
history buffer inside its flat state; the recurrent input of step t is

    r_j(t) = Σ_k W_jk Σ_m K(m − d_jk) z_k(t − m),   m = 0 … D,   K(u) = max(0, 1 − |u|),

the spike history read through a triangular kernel of half-width one step centred on the delay. For an integer
d the kernel picks exactly z_k(t − d); for d = n + f (0 < f < 1) it is the linear interpolation
(1 − f)·z_k(t − n) + f·z_k(t − n − 1) between the two neighbouring integer delays, so ∂r_j/∂d_jk =
W_jk (z_k(t − n − 1) − z_k(t − n)) is defined almost everywhere and gradients reach the delays. Only the two
neighbouring slots are gathered, so the cost is O(H²) per step whatever D.

Bounds: the step uses clip(d, 0, D) (the stored parameter is in steps and may be set to exact integers); a
delay pushed past a bound acts as that bound and gets no gradient there. This is the linear (triangular)
kernel limit of Hammouamri et al.'s dilated convolutions with learnable spacings, which place a Gaussian of
shrinking width at each delay and clamp the positions to their range.

Reference: Hammouamri, Khalfaoui-Hassani & Masquelier 2023, "Learning delays in spiking neural networks using
dilated convolutions with learnable spacings", ICLR 2024 (arXiv:2306.17670).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def delayed_input(
    weights: jax.Array, delays: jax.Array, z: jax.Array, history: jax.Array, pre: jax.Array | None = None
) -> jax.Array:
    """The recurrent input r `[H]` of a step: spikes of this step `z [H]` and of the D steps before it
    (`history [D·H]`, most recent first) sent through `weights [H, H]` (post × pre) with `delays [H, H]`
    (steps, already inside [0, D]), each read by linear interpolation between its two neighbouring integer
    delays. With sparse storage (`models._sparse`), `weights` and `delays` are `[H, K]` and `pre [H, K]`
    (int32) names the presynaptic neuron of each."""
    h = z.shape[-1]
    d_max = history.shape[-1] // h
    past = jnp.concatenate((z[None, :], history.reshape(d_max, h)))  # [D + 1, H]: slot m holds z(t − m)
    lower = jnp.floor(jax.lax.stop_gradient(delays))
    frac = delays - lower  # carries the gradient of the delay
    near = lower.astype(jnp.int32)
    far = jnp.minimum(near + 1, d_max)  # at d = D, frac = 0 and the far slot is never weighted
    pre = jnp.arange(h)[None, :] if pre is None else pre
    arriving = (1.0 - frac) * past[near, pre] + frac * past[far, pre]  # [H, H]
    return jnp.sum(weights * arriving, axis=-1)


def shifted(history: jax.Array, z: jax.Array) -> jax.Array:
    """The history buffer `[D·H]` of the next step: this step's spikes `z [H]` first, the oldest dropped."""
    return jnp.concatenate((z, history[: history.shape[-1] - z.shape[-1]]))


def draw_delays(key: jax.Array, shape: tuple[int, int], max_delay: int, start: float | None) -> jax.Array:
    """Initial delays of the given `shape` (`[H, H]`, or `[H, K]` with sparse storage) in steps: every one
    equal to `start`, or (None) whole numbers drawn uniformly from {0, …, `max_delay`}, so the untrained
    network is an exact network with integer delays."""
    if start is not None:
        return jnp.full(shape, float(start))
    return jax.random.randint(key, shape, 0, max_delay + 1).astype(jnp.float32)
