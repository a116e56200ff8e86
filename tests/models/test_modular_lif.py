"""The two-module LIF network: its masks, what each input stream reaches, that it is lif where the masks are
full, its energy count, its NIR round trip and the options it refuses."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import nir
import numpy as np
import pytest

from dynascope import models
from dynascope.compare import modularity, synaptic_operations
from dynascope.errors import ConfigError
from dynascope.interop import from_nir, to_nir

SIZES = dict(n_inputs=2, n_hidden=8, n_outputs=1)


def test_masks_give_exact_between_links_and_the_rate_model_s_modularity(key):
    model = models.get("modular_lif", **SIZES, inter_fraction=0.25)
    params = model.init(key)
    labels = model.modules
    np.testing.assert_array_equal(labels, [0] * 4 + [1] * 4)
    mask = np.asarray(params["M_rec"])
    same = labels[:, None] == labels[None, :]
    assert mask[same].all() and mask[~same].sum() == round(0.25 * 32)
    np.testing.assert_array_equal(np.asarray(model.effective_weights(params))[mask == 0], 0.0)
    # Two equal modules with every within link and a fraction p between: Q = 1/(1 + p) − 1/2 up to how the
    # random draw splits the between links (see tests/models/test_modular.py).
    np.testing.assert_allclose(float(modularity(mask, labels)), 1 / 1.25 - 0.5, atol=0.02)
    np.testing.assert_array_equal(np.asarray(params["M_in"]), [[1, 0]] * 4 + [[0, 1]] * 4)


def test_disconnected_modules_each_spike_only_for_their_own_stream(key):
    model = models.get("modular_lif", **SIZES, inter_fraction=0.0)
    params = model.init(key)
    inputs = 2.0 * jnp.abs(jax.random.normal(key, (4, 30, 2)))
    run = jax.jit(model.run)
    base, _ = run(params, inputs)
    a, b = model.modules == 0, model.modules == 1
    assert np.asarray(model.spikes(base)).sum() > 0
    for channel, untouched, touched in ((0, b, a), (1, a, b)):
        moved, _ = run(params, inputs.at[:, :, channel].add(3.0))
        # Every state variable (v, I, refractoriness, spikes, trace) of the other module is untouched.
        for block in range(model.n_state // model.n_hidden):
            cut = slice(block * model.n_hidden, (block + 1) * model.n_hidden)
            np.testing.assert_array_equal(np.asarray(moved[..., cut])[..., untouched], np.asarray(base[..., cut])[..., untouched])
        assert not np.array_equal(np.asarray(model.spikes(moved))[..., touched], np.asarray(model.spikes(base))[..., touched])


def test_with_every_link_it_is_the_lif_network_of_its_effective_weights(key):
    """inter_fraction = 1 keeps every recurrent link; a lif network given the same effective matrices spikes
    the same (the modular model adds masks, not dynamics)."""
    modular = models.get("modular_lif", **SIZES, inter_fraction=1.0, tau_spread=0.3)
    params = modular.init(key)
    plain = models.get("lif", **SIZES, tau_spread=0.3)
    as_lif = {k: v for k, v in params.items() if not k.startswith("M_")}
    as_lif["W_in"] = modular.effective_inputs(params)
    inputs = 2.0 * jax.random.normal(key, (3, 40, 2))
    s0, y0 = modular.run(params, inputs)
    s1, y1 = plain.run(as_lif, inputs)
    assert np.asarray(modular.spikes(s0)).sum() > 0
    np.testing.assert_array_equal(np.asarray(modular.spikes(s0)), np.asarray(plain.spikes(s1)))
    np.testing.assert_allclose(np.asarray(y0), np.asarray(y1), rtol=1e-6, atol=1e-6)


def test_training_cannot_change_the_masks(key):
    model = models.get("modular_lif", **SIZES, inter_fraction=0.5)
    params = model.init(key)
    grads = jax.grad(lambda p: jnp.sum(model.run(p, jnp.ones((2, 10, 2)))[1] ** 2))(params)
    assert not np.any(np.asarray(grads["M_rec"])) and not np.any(np.asarray(grads["M_in"]))
    names = model.weight_names(params)
    assert "W_rec" in names and "W_in" in names and not any(n.startswith("M_") for n in names)


def test_synaptic_operations_count_only_the_links_that_exist(key):
    """Hand count: each spike of neuron j costs its existing outgoing recurrent links plus the readout's
    (1 output), and every step costs one multiply-accumulate per input weight the mask keeps (one channel
    per neuron: 8)."""
    model = models.get("modular_lif", **SIZES, inter_fraction=0.0, threshold=0.3)
    params = model.init(key)
    states, _ = model.run(params, jnp.ones((2, 25, 2)))
    raster = np.asarray(model.spikes(states))
    assert raster.sum() > 0
    w = np.asarray(model.effective_weights(params))
    fan_out = (w != 0).sum(axis=0) + (np.asarray(params["W_out"]) != 0).sum(axis=0)
    by_hand = (raster * fan_out).sum(axis=(1, 2)) + 25 * 8
    np.testing.assert_allclose(np.asarray(synaptic_operations(model, params, states)), by_hand)


def test_nir_round_trip_spikes_exactly(key, tmp_path):
    model = models.get("modular_lif", **SIZES, inter_fraction=0.25, reset="zero")
    params = model.init(key)
    nir.write(tmp_path / "m.nir", to_nir(model, params))
    back, back_params = from_nir(nir.read(tmp_path / "m.nir"))
    inputs = 2.0 * jnp.abs(jax.random.normal(key, (3, 40, 2)))
    z0 = np.asarray(model.spikes(model.run(params, inputs)[0]))
    z1 = np.asarray(back.spikes(back.run(back_params, inputs)[0]))
    assert back.name == "lif" and z0.sum() > 0
    np.testing.assert_array_equal(z1, z0)


def test_bad_options_are_refused_with_the_fix():
    with pytest.raises(ConfigError, match=r"inputs_a=3 exceeds n_inputs=2"):
        models.get("modular_lif", **SIZES, inputs_a=3)
    with pytest.raises(ConfigError, match=r"n_hidden >= 2"):
        models.get("modular_lif", n_inputs=2, n_hidden=1, n_outputs=1)
    with pytest.raises(ConfigError, match=r"connectivity=0.5 is not supported.*inter_fraction"):
        models.get("modular_lif", **SIZES, connectivity=0.5)
    with pytest.raises(ConfigError, match=r"dale=True is not supported"):
        models.get("modular_lif", **SIZES, dale=True)
    with pytest.raises(ConfigError, match=r"inter_fraction"):
        models.get("modular_lif", **SIZES, inter_fraction=-0.1)
