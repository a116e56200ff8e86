"""Memory-efficient BPTT: checkpointing through time (`TrainOptions.checkpoint_steps`, `train.run_checkpointed`)
gives plain BPTT's gradient and training in memory that grows as T/K + K; spiking models keep their spikes as
bytes in the backward pass with the gradient of a LIF network written here with a plain `w @ z`."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import models, tasks
from dynascope.errors import ConfigError
from dynascope.train import TrainOptions, run_checkpointed, train_population
from dynascope.train.memory import estimate_training_memory

TASK = tasks.get("flipflop", n_bits=2, n_time=12)


def net(arch: str, hidden: int = 6, **options):
    return models.get(arch, n_inputs=2, n_hidden=hidden, n_outputs=2, **options)


def data(key: jax.Array, n_time: int, size: int = 3):
    k_in, k_tgt = jax.random.split(key)
    return jax.random.normal(k_in, (size, n_time, 2)) + 1.0, jax.random.normal(k_tgt, (size, n_time, 2))


def relative(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-30))


def losses(model, inputs, targets, k: int, noise_key=None, l2_activity: float = 0.0):
    """(plain, checkpointed) losses of the params: MSE plus an activity penalty, with optional state noise."""
    def plain(params):
        states, outputs = model.run(params, inputs, noise_key=noise_key, noise_std=0.3 if noise_key is not None else 0.0)
        return jnp.mean((outputs - targets) ** 2) + l2_activity * jnp.mean(model.activity(states) ** 2)

    def checkpointed(params):
        outputs, act = run_checkpointed(model, params, inputs, checkpoint_steps=k, noise_key=noise_key,
                                        noise_std=0.3 if noise_key is not None else 0.0)
        return jnp.mean((outputs - targets) ** 2) + l2_activity * act

    return plain, checkpointed


# T = 23: K = 5 leaves a shorter last chunk, K = 40 is one chunk longer than the trial.
@pytest.mark.parametrize(("arch", "k"), [("lif", 5), ("gru", 5), ("alif", 1), ("gru", 40)])
def test_checkpointed_gradient_equals_plain_bptt(arch, k, key):
    model = net(arch)
    params = model.init(key)
    inputs, targets = data(jax.random.fold_in(key, 1), 23)
    plain, checkpointed = losses(model, inputs, targets, k, noise_key=jax.random.fold_in(key, 2), l2_activity=0.1)
    (v0, g0), (v1, g1) = (jax.jit(jax.value_and_grad(f))(params) for f in (plain, checkpointed))
    assert abs(float(v0) - float(v1)) <= 1e-6 * abs(float(v0))
    for name in g0:
        assert relative(g0[name], g1[name]) < 1e-5, name
    assert any(float(jnp.abs(g).max()) > 0 for g in g0.values())


def test_a_trained_population_is_the_same(key):
    model = net("gru", 8)
    common = dict(batch_size=8, learning_rate=1e-2, checkpoint_every=15)
    plain = train_population(TASK, model, 2, 15, key, **common)
    checkpointed = train_population(TASK, model, 2, 15, key, checkpoint_steps=5, **common)
    np.testing.assert_allclose(checkpointed.loss_history, plain.loss_history, rtol=1e-5)
    for name in plain.params:
        np.testing.assert_allclose(checkpointed.params[name], plain.params[name], rtol=1e-4, atol=1e-6)
    assert checkpointed.options.checkpoint_steps == 5


def _temp_bytes(fn, params) -> int | None:
    stats = jax.jit(jax.grad(fn)).lower(params).compile().memory_analysis()
    return None if stats is None else stats.temp_size_in_bytes


def test_memory_grows_as_t_over_k_plus_k(key):
    model = net("lif", 32)
    params = model.init(key)
    temps = {}
    for n_time in (100, 400):
        inputs, targets = data(key, n_time, 4)
        k = int(math.sqrt(n_time))
        plain, checkpointed = losses(model, inputs, targets, k)
        temps[n_time] = (_temp_bytes(plain, params), _temp_bytes(checkpointed, params))
    if temps[100][0] is None:
        pytest.skip("no memory analysis on this backend")
    (plain_100, ck_100), (plain_400, ck_400) = temps[100], temps[400]
    assert plain_400 > 3.5 * plain_100  # plain BPTT: linear in T
    assert ck_400 < 2.5 * ck_100  # K = √T: T/K + K = 2√T, twice as much for 4× the steps
    assert ck_400 < plain_400 / 8
    # The pre-compile estimate follows: within a factor 2 of XLA's temporaries at each length.
    for n_time, (_, ck) in temps.items():
        est = estimate_training_memory(model, 1, batch_size=4, n_time=n_time, n_outputs=2, steps=1,
                                       checkpoint_steps=int(math.sqrt(n_time))).activations
        assert 0.5 * ck < est < 2 * ck, (n_time, est, ck)


# -- spikes as bytes ------------------------------------------------------------------------------------------
def reference_lif(params, inputs, *, tau_mem=20.0, tau_syn=5.0, tau_out=20.0, theta=1.0):
    """Outputs `[B, T, O]` of a default `lif` (subtract reset, no refractoriness, dt = 1), written from its
    equations with the recurrent input as a plain float product `W_rec @ z`."""
    h = params["b"].shape[0]
    a_m, a_s, a_o = math.exp(-1 / tau_mem), math.exp(-1 / tau_syn), math.exp(-1 / tau_out)
    kappa = tau_syn * (math.exp(-1 / tau_syn) - math.exp(-1 / tau_mem)) / (tau_syn - tau_mem)
    h0 = params["h0"]
    v, i, u = (jnp.broadcast_to(h0[k * h : (k + 1) * h], (inputs.shape[0], h)) for k in (0, 1, 4))

    def body(carry, x):
        v, i, u = carry
        v = a_m * v + (1 - a_m) * (x @ params["W_in"].T + params["b"]) + kappa * i
        z = models.spike(v - theta)
        i = a_s * i + z @ params["W_rec"].T
        v = v - theta * jax.lax.stop_gradient(z)
        u = a_o * u + z
        return (v, i, u), u @ params["W_out"].T + params["b_out"]

    _, outputs = jax.lax.scan(body, (v, i, u), jnp.swapaxes(inputs, 0, 1))
    return jnp.swapaxes(outputs, 0, 1)


def test_lif_keeps_spikes_as_bytes_with_the_same_gradient(key):
    model = net("lif", 8)
    params = model.init(key)
    params["W_rec"] = params["W_rec"] * 3.0  # recurrent spikes matter
    inputs, targets = data(jax.random.fold_in(key, 1), 20)
    ours = jax.jit(jax.value_and_grad(lambda p: jnp.mean((model.run(p, inputs)[1] - targets) ** 2)))(params)
    ref = jax.jit(jax.value_and_grad(lambda p: jnp.mean((reference_lif(p, inputs) - targets) ** 2)))(params)
    assert float(jnp.sum(model.spikes(model.run(params, inputs)[0]))) > 20
    assert relative(ref[1]["W_rec"], 0 * ref[1]["W_rec"]) > 0  # recurrent weights get a gradient
    # Equal to float rounding (the reference computes the PSP factor κ and the products in another order).
    assert relative(ref[0], ours[0]) < 1e-6
    for name in ("W_in", "W_rec", "b", "W_out", "b_out"):
        assert relative(ref[1][name], ours[1][name]) < 1e-4, name
    # What the backward pass of a step keeps: the spikes as an int8 array, the refractory mask as booleans.
    step = jax.vmap(model.step, in_axes=(None, 0, 0))
    state = jnp.zeros((3, model.n_state))
    kept = {leaf.dtype for leaf in jax.tree_util.tree_leaves(jax.eval_shape(
        lambda p, s: jax.vjp(lambda p, s: step(p, s, inputs[:, 0]), p, s)[1], params, state)) if leaf.shape == (3, 8)}
    assert jnp.dtype(jnp.int8) in kept and jnp.dtype(bool) in kept
    # Forward-mode derivatives (the dynamics module's Jacobians) still work and equal the reverse ones.
    x0 = inputs[0, 0]
    s0 = jax.random.normal(key, (model.n_state,))
    fwd = jax.jit(jax.jacfwd(lambda s: model.step(params, s, x0)))(s0)
    rev = jax.jit(jax.jacrev(lambda s: model.step(params, s, x0)))(s0)
    np.testing.assert_allclose(fwd, rev, rtol=1e-6, atol=1e-7)


def test_spike_input_differentiates_exactly_as_a_float_product(key):
    k_w, k_z, k_c = jax.random.split(key, 3)
    w = jax.random.normal(k_w, (7, 7))
    z = jax.random.bernoulli(k_z, 0.4, (5, 7)).astype(jnp.float32)
    ct = jax.random.normal(k_c, (5, 7))
    ours = jax.vjp(jax.vmap(models.spike_input, in_axes=(None, 0)), w, z)
    plain = jax.vjp(jax.vmap(jnp.matmul, in_axes=(None, 0)), w, z)
    assert jnp.array_equal(ours[0], plain[0])
    for a, b in zip(ours[1](ct), plain[1](ct)):
        assert jnp.array_equal(a, b)
    # forward mode too, in either argument
    dw, dz = jax.random.normal(k_c, (7, 7)), jax.random.normal(k_w, (7,))
    np.testing.assert_array_equal(jax.jvp(models.spike_input, (w, z[0]), (dw, dz))[1], w @ dz + dw @ z[0])


# -- options ---------------------------------------------------------------------------------------------------
def test_bad_checkpoint_steps_are_refused(key):
    for bad in (-1, 2.5, True):
        with pytest.raises(ConfigError, match=rf"--checkpoint-steps \(checkpoint_steps\) must be an integer ≥ 0.*got {bad!r}"):
            TrainOptions(checkpoint_steps=bad).validate(1)
    with pytest.raises(ConfigError, match=r"--checkpoint-steps 5 \(checkpoint_steps=5\) checkpoints backpropagation.*--rule eprop \(rule='eprop'\)"):
        train_population(TASK, net("lif"), 1, 1, key, rule="eprop", checkpoint_steps=5)


def test_checkpoint_steps_round_trips_and_old_options_read_as_off():
    opts = TrainOptions(checkpoint_steps=7)
    assert TrainOptions.from_dict(opts.to_dict()) == opts
    old = {k: v for k, v in TrainOptions().to_dict().items() if k != "checkpoint_steps"}
    assert TrainOptions.from_dict(old).checkpoint_steps == 0


def test_the_memory_refusal_suggests_checkpointing(key):
    task = tasks.get("flipflop", n_bits=2, n_time=400)
    model = net("lif", 64)
    with pytest.raises(ConfigError, match=r"--checkpoint-steps.*e\.g\. 20"):
        train_population(task, model, 1, 1, key, batch_size=16, memory_budget="2MB")
    est = [estimate_training_memory(model, 1, batch_size=16, n_time=400, n_outputs=2, steps=1, checkpoint_steps=k)
           for k in (0, 20)]
    assert est[1].activations < est[0].activations / 8


def test_a_network_whose_activity_count_passes_two_to_the_31_traces() -> None:
    """batch × T × H = 16 × 500 × 2¹⁹ > 2³¹: the activity mean's divisor is no int32 operand (traced
    abstractly; nothing is allocated)."""
    model = models.get("lif", n_inputs=2, n_hidden=1 << 19, n_outputs=1, connectivity=1e-4, sparse=True)
    params = jax.eval_shape(model.init, jax.random.key(0))
    inputs = jax.ShapeDtypeStruct((16, 500, 2), jnp.float32)
    outputs, activity = jax.eval_shape(lambda p, x: run_checkpointed(model, p, x, checkpoint_steps=25), params, inputs)
    assert outputs.shape == (16, 500, 1) and activity.shape == ()
