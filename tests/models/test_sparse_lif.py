"""Sparse storage of the spiking models' recurrent weights (`sparse=True`): the graph is a uniformly random
fixed-in-degree graph (SciPy's chi-square test), the recurrent input is the hand-computed sum over each neuron's
stored inputs (NumPy), gradients are those of the same network stored dense, the memory the backward pass keeps
per step does not grow with the in-degree, training changes the weights but never the graph, NIR round trips
reproduce the spikes, and options that cannot go together are refused. The spikes against Brian2 are checked in
test_spiking_brian2.py."""

from __future__ import annotations

import itertools
from pathlib import Path

import jax
import jax.numpy as jnp
import nir
import numpy as np
import pytest
import scipy.stats

from dynascope import models, tasks
from dynascope.errors import ConfigError
from dynascope.interop import from_nir, to_nir
from dynascope.train import train_population
from dynascope.train.memory import estimate_training_memory, step_residuals


def sparse_lif(n_hidden: int = 40, connectivity: float = 0.2, **options: object) -> models.Model:
    return models.get("lif", n_inputs=2, n_hidden=n_hidden, n_outputs=2, connectivity=connectivity, sparse=True,
                      **options)


def test_each_neuron_has_k_distinct_inputs_drawn_uniformly() -> None:
    model = sparse_lif(n_hidden=50, connectivity=0.2)
    assert model.fan_in == 10
    pre = np.asarray(jax.vmap(model.init)(jax.random.split(jax.random.key(0), 200))["pre_rec"])  # [200, 50, 10]
    assert pre.shape == (200, 50, 10)
    assert np.array_equal(pre, np.round(pre)) and pre.min() >= 0 and pre.max() <= 49
    assert np.all(np.diff(pre, axis=-1) > 0)  # increasing, hence distinct
    # Every neuron is an input of a given neuron with probability K/H: counts over 200 networks × 50 neurons.
    counts = np.bincount(pre.astype(int).ravel(), minlength=50)
    assert scipy.stats.chisquare(counts).pvalue > 1e-3
    # ... and independently of which neuron receives it: the self-connection probability is K/H as well.
    self_links = (pre == np.arange(50)[None, :, None]).any(-1).mean()
    assert abs(self_links - 0.2) < 0.02
    # Networks drawn from different keys have different graphs.
    assert not np.array_equal(pre[0], pre[1])


def test_every_set_of_inputs_is_equally_likely() -> None:
    """H = 5, K = 2: each of the C(5, 2) = 10 possible input sets of a neuron is drawn with probability 1/10
    (chi-square over 1000 networks × 5 neurons), as a uniformly random fixed-in-degree graph requires."""
    model = sparse_lif(n_hidden=5, connectivity=0.4)
    pre = np.asarray(jax.vmap(model.init)(jax.random.split(jax.random.key(1), 1000))["pre_rec"]).astype(int)
    sets = {pair: n for n, pair in enumerate(itertools.combinations(range(5), 2))}
    counts = np.bincount([sets[tuple(row)] for row in pre.reshape(-1, 2)], minlength=10)
    assert counts.sum() == 5000
    assert scipy.stats.chisquare(counts).pvalue > 1e-3, counts


def test_recurrent_input_is_the_sum_over_the_stored_inputs() -> None:
    """The neurons of a chosen set fire in one step; the synaptic currents then hold
    Σ_k W_rec[j, k] z[pre_rec[j, k]] (NumPy), with Dale's signs by the presynaptic neuron's type."""
    model = sparse_lif(n_hidden=30, connectivity=0.3, dale=True, e_fraction=0.6)
    params = dict(model.init(jax.random.key(1)), W_in=jnp.zeros((30, 2)))
    z = (np.random.default_rng(0).random(30) < 0.4).astype(np.float32)
    v = np.where(z > 0, 1.5, 0.0).astype(np.float32)  # above threshold exactly where z = 1
    state = jnp.concatenate([jnp.asarray(v), jnp.zeros(4 * 30)])
    after = model.neurons(jax.jit(model.step)(params, state, jnp.zeros(2)))
    np.testing.assert_array_equal(np.asarray(after.spikes), z)

    w, pre = np.asarray(params["W_rec"], np.float64), np.asarray(params["pre_rec"]).astype(int)
    signed = np.abs(w) * np.where(pre < 18, 1.0, -1.0)  # 18 = 0.6 · 30 excitatory neurons
    expected = np.array([sum(signed[j, k] * z[pre[j, k]] for k in range(9)) for j in range(30)])
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(np.asarray(after.i), expected, rtol=1e-5, atol=1e-6)


def test_gradients_equal_those_of_the_same_network_stored_dense(key: jax.Array) -> None:
    sparse = sparse_lif(n_hidden=24, connectivity=0.25, gain=3.0)
    dense = models.get("lif", n_inputs=2, n_hidden=24, n_outputs=2, gain=3.0)
    params = sparse.init(key)
    params = dict(params, b=jnp.full(24, 0.8))
    pre = np.asarray(params["pre_rec"]).astype(int)
    rows = np.arange(24)[:, None]
    inputs = jax.random.normal(jax.random.key(3), (4, 30, 2))

    def loss(model: models.Model, p: dict) -> jax.Array:
        return jnp.sum(model.run(p, inputs)[1] ** 2)

    g_sparse = jax.grad(lambda p: loss(sparse, p))(params)
    w_dense = jnp.zeros((24, 24)).at[rows, pre].set(params["W_rec"])
    dense_params = {k: v for k, v in params.items() if k != "pre_rec"} | {"W_rec": w_dense}
    g_dense = jax.grad(lambda p: loss(dense, p))(dense_params)
    assert float(jnp.abs(g_dense["W_rec"]).max()) > 0

    def close(actual: jax.Array, desired: jax.Array) -> None:
        # float32 sums in another order: equal to a few units of rounding of the largest entry.
        desired = np.asarray(desired)
        np.testing.assert_allclose(np.asarray(actual), desired, rtol=1e-4, atol=1e-5 * np.abs(desired).max())

    close(g_sparse["W_rec"], np.asarray(g_dense["W_rec"])[rows, pre])
    for name in ("W_in", "b", "W_out", "h0"):
        close(g_sparse[name], g_dense[name])
    assert float(jnp.abs(g_sparse["pre_rec"]).max()) == 0  # the graph receives no gradient


def test_memory_per_step_does_not_grow_with_the_in_degree() -> None:
    """What backpropagation keeps per step and trial is the same at K = 4 and K = 32 (spikes kept as bytes,
    the gathered inputs recomputed), and no more than the dense network's; the parameters scale with H·K."""
    few, many = sparse_lif(n_hidden=64, connectivity=4 / 64), sparse_lif(n_hidden=64, connectivity=0.5)
    dense = models.get("lif", n_inputs=2, n_hidden=64, n_outputs=2)
    assert (few.fan_in, many.fan_in) == (4, 32)
    assert step_residuals(few) == step_residuals(many) <= step_residuals(dense)
    est = {m.fan_in if m.sparse else 64: estimate_training_memory(m, 1, batch_size=8, n_time=20, n_outputs=2,
                                                                  steps=10) for m in (few, many, dense)}
    assert est[4].activations == est[32].activations
    # W_rec and pre_rec: 2·H·K numbers against the dense H², the rest (W_in, b, readout, h0) the same.
    assert est[32].n_params - est[4].n_params == 2 * 64 * (32 - 4)
    assert est[64].n_params - est[32].n_params == 64 * 64 - 2 * 64 * 32


def test_training_changes_the_weights_but_never_the_graph(key: jax.Array) -> None:
    task = tasks.get("flipflop", n_bits=2, n_time=24)
    model = sparse_lif(n_hidden=16, connectivity=0.5, dale=True)
    pop = train_population(task, model, 2, 120, key, batch_size=16, learning_rate=1e-2, checkpoint_every=120)
    assert not pop.diverged.any()
    first, last = pop.loss_history[:, :10].mean(axis=1), pop.loss_history[:, -10:].mean(axis=1)
    assert np.all(last < 0.6 * first), pop.loss_history[:, ::20]
    init = jax.vmap(model.init)(jax.vmap(lambda k: jax.random.split(k)[0])(
        jnp.stack([jax.random.fold_in(key, s) for s in range(2)])))
    for n in range(2):
        before, after = jax.tree.map(lambda a: a[n], init), pop.network(n)
        np.testing.assert_array_equal(np.asarray(after["pre_rec"]), np.asarray(before["pre_rec"]))
        assert after["W_rec"].shape == (16, 8)
        assert np.abs(np.asarray(after["W_rec"]) - np.asarray(before["W_rec"])).max() > 1e-3
        w = np.asarray(model.effective_weights(after))
        assert np.all(w[:, : model.n_exc] >= 0) and np.all(w[:, model.n_exc :] <= 0)  # Dale's law held
        assert np.count_nonzero(w) <= 16 * 8


def test_sparse_network_round_trips_through_nir_with_the_same_spikes(tmp_path: Path) -> None:
    model = sparse_lif(n_hidden=20, connectivity=0.3, reset="zero", gain=3.0)
    params = model.init(jax.random.key(2))
    params = dict(params, b=jnp.full(20, 0.9), h0=params["h0"].at[:20].set(jnp.linspace(0, 0.9, 20)))
    nir.write(tmp_path / "sparse.nir", to_nir(model, params))
    back, back_params = from_nir(nir.read(tmp_path / "sparse.nir"))
    assert back.name == "lif"
    inputs = jax.random.normal(jax.random.key(4), (3, 80, 2))
    z0 = np.asarray(model.spikes(jax.jit(model.run)(params, inputs)[0]))
    z1 = np.asarray(back.spikes(jax.jit(back.run)(back_params, inputs)[0]))
    assert z0.sum() > 50
    np.testing.assert_array_equal(z1, z0)


def test_sparse_delays_are_per_stored_input() -> None:
    model = sparse_lif(n_hidden=20, connectivity=0.25, max_delay=3, learn_delays=True)
    params = model.init(jax.random.key(5))
    assert params["delays"].shape == params["W_rec"].shape == (20, 5)
    assert "delays" not in model.weight_names(params) and "pre_rec" not in model.weight_names(params)
    # A delayed spike arrives that many steps later: neuron j's only input fires at step 0 with delay 2.
    params = dict(params, W_rec=jnp.zeros((20, 5)).at[0, 0].set(1.0), delays=jnp.full((20, 5), 2.0),
                  W_in=jnp.zeros((20, 2)))
    source = int(params["pre_rec"][0, 0])
    state = jnp.zeros(model.n_state).at[source].set(1.5)  # the source fires in the first step
    currents, step = [], jax.jit(model.step)
    for _ in range(4):
        state = step(params, state, jnp.zeros(2))
        currents.append(float(model.neurons(state).i[0]))
    assert currents[0] == currents[1] == 0.0 and currents[2] == pytest.approx(1.0)


@pytest.mark.parametrize("options, pattern", [
    (dict(connectivity=1.0), "connectivity below 1"),
    (dict(n_hidden=1, connectivity=0.5), None),
])
def test_sparse_options_that_cannot_go_together_are_refused(options: dict, pattern: str | None) -> None:
    if pattern is None:  # one neuron with one input: the smallest sparse network is legal
        assert sparse_lif(**options).fan_in == 1
        return
    with pytest.raises(ConfigError, match=pattern):
        sparse_lif(**options)
