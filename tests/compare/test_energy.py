"""Synaptic operations and firing rates against hand counts on tiny networks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import models
from dynascope.compare.energy import fan_out, firing_rate, mean_firing_rate, spike_operations, synaptic_operations
from dynascope.errors import ShapeError

# Three neurons; W_REC[i, j] is the synapse from j to i. Neuron 0 reaches 1, neuron 1 reaches 0 and 2,
# neuron 2 reaches nobody: recurrent fan-out (1, 2, 0). The readout reads neurons 0 and 2: fan-out (1, 0, 1).
W_REC = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [0.0, -3.0, 0.0]], np.float32)
W_OUT = np.array([[0.5, 0.0, -0.5]], np.float32)
# Neuron 0 fires at steps 0 and 2, neuron 1 at step 1, neuron 2 at steps 1, 2 and 3.
RASTER = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 1], [0, 0, 1]], np.float32)


def test_hand_counted_raster():
    np.testing.assert_array_equal(np.asarray(fan_out(W_REC, W_OUT)), [2, 2, 1])
    # recurrent: 2 spikes × 1 + 1 × 2 + 3 × 0 = 4; readout: 2 × 1 + 1 × 0 + 3 × 1 = 5.
    assert float(spike_operations(RASTER, W_REC)) == 4
    assert float(spike_operations(RASTER, W_REC, W_OUT)) == 9
    np.testing.assert_array_equal(np.asarray(spike_operations(np.stack([RASTER, 0 * RASTER]), W_REC)), [4, 0])
    # 6 spikes from 3 neurons over 4 steps of 2 ms: 6 / (3 × 8 ms) = 250 Hz.
    np.testing.assert_allclose(float(firing_rate(RASTER, 2.0)), 250.0)


def test_a_lif_network_counts_its_own_spikes_times_hand_fan_out(key):
    model = models.get("lif", n_inputs=2, n_hidden=3, n_outputs=1, threshold=0.5)
    params = dict(model.init(key), W_rec=jnp.asarray(W_REC), W_out=jnp.asarray(W_OUT),
                  W_in=jnp.array([[2.0, 0.0], [0.0, 1.5], [1.0, 1.0]]))  # 4 nonzero input weights
    inputs = jnp.ones((2, 30, 2)) * jnp.array([1.0, 0.6])[None, None, :]
    states, _ = model.run(params, inputs)
    raster = np.asarray(model.spikes(states))
    assert raster.sum() > 0  # the drive makes them fire
    by_hand = [sum(raster[b, t, j] * (2, 2, 1)[j] for t in range(30) for j in range(3)) + 30 * 4 for b in range(2)]
    np.testing.assert_allclose(np.asarray(synaptic_operations(model, params, states)), by_hand)
    np.testing.assert_allclose(np.asarray(mean_firing_rate(model, states)), raster.mean(axis=(1, 2)) * 1000 / model.dt)


def test_a_rate_network_counts_multiply_accumulates_of_its_masked_matrices(key):
    """Two disconnected modules of 2 units: 2·2² recurrent links, one input channel per unit (4), a readout
    of 4 units to 1 output (4): 16 multiply-accumulates per step."""
    model = models.get("modular", n_inputs=2, n_hidden=4, n_outputs=1, inter_fraction=0.0)
    params = model.init(key)
    states = jnp.zeros((3, 7, model.n_state))  # a dense step costs the same whatever the activity
    np.testing.assert_array_equal(np.asarray(synaptic_operations(model, params, states)), [16 * 7] * 3)
    with pytest.raises(ShapeError, match="modular is a rate model: it has no spikes"):
        mean_firing_rate(model, states)
    with pytest.raises(ShapeError, match=r"states must be \[trials, time, 4\], got shape \(7, 4\)"):
        synaptic_operations(model, params, states[0])
