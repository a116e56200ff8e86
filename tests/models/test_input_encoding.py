"""Input as spikes (`input_encoding='delta'`) of the spiking models: the encoder is a delta modulator (a NumPy
reference and the closed form of a step), its spikes reach the synaptic currents through W_in, its events are
counted by the energy proxy (NumPy), a network trains with it, and what cannot take it refuses it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import models, tasks
from dynascope.compare import synaptic_operations
from dynascope.errors import ConfigError
from dynascope.interop import to_nir
from dynascope.train import TrainOptions, check_rule, train_population


def delta_lif(n_inputs: int = 2, n_hidden: int = 4, theta: float = 0.1, **options: object) -> models.Model:
    return models.get("lif", n_inputs=n_inputs, n_hidden=n_hidden, n_outputs=1, input_encoding="delta",
                      input_threshold=theta, **options)


def numpy_delta_modulator(x: np.ndarray, theta: float) -> np.ndarray:
    """Spikes `[T, 2I]` (up, then down) of the textbook delta modulator in float32: a spike when the input has
    moved a threshold past the reference, which then moves one threshold toward it."""
    x = x.astype(np.float32)
    theta = np.float32(theta)
    ref = np.zeros(x.shape[1], np.float32)
    out = np.zeros((x.shape[0], 2 * x.shape[1]), np.float32)
    for t, xt in enumerate(x):
        up, down = xt - ref >= theta, ref - xt >= theta
        out[t] = np.concatenate([up, down])
        ref = ref + theta * (up.astype(np.float32) - down.astype(np.float32))
    return out


def test_the_encoder_is_a_delta_modulator() -> None:
    model = delta_lif(n_inputs=2, theta=0.15)
    params = model.init(jax.random.key(0))
    assert params["W_in"].shape == (4, 4) and model.n_state == 5 * 4 + 3 * 2
    t = np.arange(300)
    rng = np.random.default_rng(0)
    x = np.stack([np.sin(t / 20.0), 0.5 * np.cos(t / 7.0) + 0.05 * rng.normal(size=300)], axis=1).astype(np.float32)
    states, _ = jax.jit(model.run)(params, jnp.asarray(x)[None])
    ours = np.asarray(model.input_spikes(states))[0]
    expected = numpy_delta_modulator(x, 0.15)
    assert expected.sum() > 50
    np.testing.assert_array_equal(ours, expected)


def test_a_jump_is_sent_one_threshold_per_step_through_w_in() -> None:
    """x jumps from 0 to 0.25 (θ_in = 0.1): the up neuron fires at steps 0 and 1 and then never (⌊0.25/0.1⌋ = 2),
    and each of its spikes adds column 0 of W_in to the synaptic currents."""
    model = delta_lif(n_inputs=1, n_hidden=3, theta=0.1)
    params = dict(model.init(jax.random.key(1)), W_rec=jnp.zeros((3, 3)), b=jnp.zeros(3))
    x = jnp.full((1, 6, 1), 0.25)
    states, _ = jax.jit(model.run)(params, x)
    u = np.asarray(model.input_spikes(states))[0]
    np.testing.assert_array_equal(u[:, 0], [1, 1, 0, 0, 0, 0])
    assert u[:, 1].sum() == 0
    currents = np.asarray(model.neurons(states).i)[0]
    np.testing.assert_allclose(currents[0], np.asarray(params["W_in"])[:, 0], rtol=1e-6)
    a_s = np.exp(-model.dt / model.tau_syn)
    np.testing.assert_allclose(currents[1], (1 + a_s) * np.asarray(params["W_in"])[:, 0], rtol=1e-5)


def test_the_energy_proxy_counts_the_encoder_spikes_through_w_in() -> None:
    model = delta_lif(n_inputs=2, n_hidden=6, theta=0.2, gain=3.0)
    params = model.init(jax.random.key(2))
    params = dict(params, W_in=params["W_in"].at[:3, 1].set(0.0), b=jnp.full(6, 0.9))
    x = jnp.asarray(np.random.default_rng(1).normal(size=(3, 40, 2)), jnp.float32)
    states, _ = jax.jit(model.run)(params, x)
    z = np.asarray(model.spikes(states))
    u = np.asarray(model.input_spikes(states))
    fan_rec = np.count_nonzero(np.asarray(model.effective_weights(params)), axis=0) + 1  # + the single readout
    fan_in = np.count_nonzero(np.asarray(params["W_in"]), axis=0)
    expected = (z * fan_rec).sum(axis=(1, 2)) + (u * fan_in).sum(axis=(1, 2))
    assert u.sum() > 20 and fan_in[1] == 3
    np.testing.assert_allclose(np.asarray(synaptic_operations(model, params, states)), expected)


def test_a_network_with_spiking_input_trains(key: jax.Array) -> None:
    task = tasks.get("flipflop", n_bits=2, n_time=24)
    model = models.get("lif", n_inputs=2, n_hidden=16, n_outputs=2, input_encoding="delta", input_threshold=0.5)
    pop = train_population(task, model, 1, 120, key, batch_size=16, learning_rate=1e-2, checkpoint_every=120)
    first, last = pop.loss_history[0, :10].mean(), pop.loss_history[0, -10:].mean()
    # The flip-flop's pulses reach it only as the order of up and down spikes: 120 steps lower the loss by a
    # fifth at least (a current-driven network does better; this checks that gradients flow through W_in).
    assert not pop.diverged.any() and last < 0.8 * first, pop.loss_history[0, ::20]


def test_what_cannot_take_input_spikes_refuses_them() -> None:
    model = delta_lif(reset="zero")
    with pytest.raises(ConfigError, match="input_encoding='delta'"):
        to_nir(model, model.init(jax.random.key(0)))
    with pytest.raises(ConfigError, match="takes the input as a current"):
        check_rule(tasks.get("flipflop", n_bits=2), model, TrainOptions(rule="eprop"))
    with pytest.raises(ConfigError, match="input_encoding='delta' is not supported"):
        models.get("modular_lif", n_inputs=2, n_hidden=4, n_outputs=1, input_encoding="delta")
    with pytest.raises(ConfigError, match="input_encoding"):
        models.get("lif", n_inputs=2, n_hidden=4, n_outputs=1, input_encoding="poisson")
