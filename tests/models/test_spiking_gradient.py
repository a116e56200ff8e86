"""The gradient of a spiking network's trial (`Spiking.run`, whose backward pass forms the recurrent matrix's
gradient in one product after the time loop) against JAX's differentiation of the same loop written out here
step by step: equal to float rounding for every parameter, for lif (with Dale's law, a mask and learned time
constants), alif and modular_lif, one network and a vmapped population."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import models


def written_out(model: models.Model, params: dict, inputs: jax.Array) -> jax.Array:
    """Outputs `[B, T, O]` of the textbook loop: the vmapped step scanned over time from the initial state."""
    start = jnp.broadcast_to(model.initial_state(params), (inputs.shape[0], model.n_state))
    step = jax.vmap(model.step, in_axes=(None, 0, 0))
    _, states = jax.lax.scan(lambda s, x: (step(params, s, x),) * 2, start, jnp.swapaxes(inputs, 0, 1))
    return model.readout(params, jnp.swapaxes(states, 0, 1))


@pytest.mark.parametrize("name, options", [
    ("lif", dict(dale=True, connectivity=0.5, tau_spread=0.3, learn_tau=True)),
    ("alif", dict(reset="zero")),
    ("modular_lif", dict(inter_fraction=0.3)),
])
def test_the_gradient_is_that_of_the_loop_written_out(name: str, options: dict) -> None:
    model = models.get(name, n_inputs=2, n_hidden=12, n_outputs=2, gain=3.0, **options)
    keys = jax.random.split(jax.random.key(0), 2)
    params = jax.vmap(model.init)(keys)
    params = dict(params, b=jnp.full((2, 12), 0.8))
    inputs = jax.random.normal(jax.random.key(1), (3, 40, 2))
    targets = jax.random.normal(jax.random.key(2), (3, 40, 2))

    def ours(p: dict) -> jax.Array:
        return jnp.mean((model.run(p, inputs)[1] - targets) ** 2)

    def reference(p: dict) -> jax.Array:
        return jnp.mean((written_out(model, p, inputs) - targets) ** 2)

    spikes = model.spikes(jax.vmap(model.run, in_axes=(0, None))(params, inputs)[0])
    assert 0.02 < float(spikes.mean()) < 0.9  # the recurrent spikes carry gradient
    got = jax.jit(jax.vmap(jax.value_and_grad(ours)))(params)
    want = jax.jit(jax.vmap(jax.value_and_grad(reference)))(params)
    np.testing.assert_array_equal(np.asarray(got[0]), np.asarray(want[0]))
    for k in want[1]:
        w = np.asarray(want[1][k])
        np.testing.assert_allclose(np.asarray(got[1][k]), w, rtol=1e-5, atol=1e-6 * max(np.abs(w).max(), 1e-12),
                                   err_msg=k)
    assert np.abs(np.asarray(want[1]["W_rec"])).max() > 0
