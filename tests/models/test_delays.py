"""Learned recurrent delays of `lif`/`alif` (`models._delays`): integer delays against a NumPy simulation with
spike-history buffers written from the equations, no delays = the network without the option, gradients that
reach the delays, training that moves them within their bounds, and the options and exports that are refused."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import models, tasks
from dynascope.errors import ConfigError, DynascopeError
from dynascope.interop.nir import to_nir
from dynascope.pipeline import get_mechanism
from dynascope.train import train_population

H, I, D = 6, 2, 3


def spiking(arch: str = "lif", n_hidden: int = H, **options: object) -> models.Model:
    return models.get(arch, n_inputs=I, n_hidden=n_hidden, n_outputs=1, **options)


def numpy_delayed(p: dict, inputs: np.ndarray, delays: np.ndarray, *, dt, tau_m, tau_s, theta, n_ref, beta=0.0,
                  tau_a=1.0, n_adaptive=0):
    """Spikes `[T, H]` of a (A)LIF network with integer per-connection delays, in float64: exact integration of
    τ_m v' = −v + I + W_in x + b, τ_s I' = −I over each step, threshold θ + β a, then the synaptic jump
    I_j += Σ_k W_jk z_k(t − d_jk) read from a ring of the last max(d) + 1 spike vectors, reset by subtraction,
    refractory hold, a ← ρ a + (1 − ρ) z."""
    h = p["W_rec"].shape[0]
    am, as_, rho = math.exp(-dt / tau_m), math.exp(-dt / tau_s), math.exp(-dt / tau_a)
    coupling = tau_s * (as_ - am) / (tau_s - tau_m)
    b_j = np.where(np.arange(h) < n_adaptive, beta, 0.0)
    v, cur, a, held = np.zeros(h), np.zeros(h), np.zeros(h), np.zeros(h, int)
    ring = [np.zeros(h) for _ in range(int(delays.max()) + 1)]  # ring[m]: the spikes of m steps ago
    out = []
    for x in inputs:
        free = held == 0
        v = np.where(free, am * v + (1 - am) * (p["W_in"] @ x + p["b"]) + coupling * cur, v)
        thr = theta + b_j * a
        z = ((v >= thr) & free).astype(float)
        ring = [z] + ring[:-1]
        arriving = np.array([[ring[delays[j, k]][k] for k in range(h)] for j in range(h)])
        cur = as_ * cur + np.sum(p["W_rec"] * arriving, axis=1)
        v = v - thr * z
        held = np.where(z > 0, n_ref, np.maximum(held - 1, 0))
        a = rho * a + (1 - rho) * z
        out.append(z)
    return np.array(out)


@pytest.mark.parametrize("arch", ["lif", "alif"])
def test_integer_delays_spike_like_a_numpy_simulation_with_spike_buffers(arch: str) -> None:
    opts = dict(dt=1.0, tau_mem=15.0, tau_syn=4.0, threshold=1.0, refractory=2.0, max_delay=D, gain=2.0)
    extra = dict(tau_adapt=50.0, beta=2.0, adaptive_fraction=0.5) if arch == "alif" else {}
    model = spiking(arch, **opts, **extra)
    rng = np.random.default_rng(1)
    p64 = {k: np.asarray(v, np.float64) for k, v in model.init(jax.random.key(4)).items()}
    p64["b"] = rng.uniform(0.9, 1.8, H)  # most neurons past rheobase
    delays = p64["delays"].astype(int)
    assert set(np.unique(delays)) == set(range(D + 1))  # drawn whole, every delay present
    inputs = rng.normal(size=(200, I))
    with jax.enable_x64(True):
        states, _ = jax.jit(model.run)({k: jnp.asarray(v) for k, v in p64.items()}, jnp.asarray(inputs)[None])
        got = np.asarray(model.spikes(states))[0]
        history = np.asarray(model.history(states))[0]
    adapt = dict(beta=2.0, tau_a=50.0, n_adaptive=3) if arch == "alif" else {}
    want = numpy_delayed(p64, inputs, delays, dt=1.0, tau_m=15.0, tau_s=4.0, theta=1.0, n_ref=2, **adapt)
    assert 60 < want.sum() < want.size - 60  # an active network, not a saturated one
    np.testing.assert_array_equal(got, want)
    undelayed = numpy_delayed(p64, inputs, 0 * delays, dt=1.0, tau_m=15.0, tau_s=4.0, theta=1.0, n_ref=2, **adapt)
    assert np.any(undelayed != want)  # the delays matter to these spikes
    # The state's layout: (5 + extra + D)·H numbers, the history holding the spikes of the last D steps.
    assert states.shape[-1] == model.n_state == (5 + (arch == "alif") + D) * H
    for m in range(D):
        np.testing.assert_array_equal(history[D:, m * H : (m + 1) * H], got[D - m : len(got) - m])


def test_without_delays_the_network_is_the_one_without_the_option(key: jax.Array) -> None:
    """max_delay=0 (the default) adds no parameter, no state and no computation; max_delay > 0 with every
    delay 0 sends each spike in its own step, as the network without delays does, from the same weights."""
    plain = spiking()
    assert plain.max_delay == 0 and plain.history(jnp.zeros(plain.n_state)) is None
    assert plain.n_state == 5 * H and "delays" not in plain.init(key)
    zero = spiking(max_delay=D, delay_init=0.0)
    p0, pz = plain.init(key), zero.init(key)
    for k in p0:
        if k != "h0":
            np.testing.assert_array_equal(np.asarray(p0[k]), np.asarray(pz[k]))
    p0 = dict(p0, b=jnp.linspace(0.8, 1.5, H))
    pz = dict(pz, b=p0["b"])
    x = jax.random.normal(jax.random.key(5), (2, 120, I))
    s0, y0 = jax.jit(plain.run)(p0, x)
    sz, yz = jax.jit(zero.run)(pz, x)
    z0 = np.asarray(plain.spikes(s0))
    assert z0.sum() > 50
    np.testing.assert_array_equal(np.asarray(zero.spikes(sz)), z0)
    np.testing.assert_allclose(np.asarray(yz), np.asarray(y0), rtol=1e-5, atol=1e-5)


def test_the_gradient_is_the_slope_of_the_interpolation() -> None:
    """A single connection 1 → 0 of delay d = n + f: neuron 0's current after neuron 1's one spike at step 0 is
    (1 − f)·w at step n and α_s(1 − f)·w + f·w at step n + 1, so its derivatives with respect to d are −w and
    w − α_s·w: finite, non-zero, and those of the linear interpolation. The spikes in flight at the start (h0's
    history blocks) get no gradient, and fixed delays pass none back to their parameter."""
    model = models.get("lif", n_inputs=1, n_hidden=2, n_outputs=1, max_delay=3, learn_delays=True, reset="zero")
    params = model.init(jax.random.key(0))
    w = 0.7
    params = dict(params, W_rec=jnp.array([[0.0, w], [0.0, 0.0]]), W_in=jnp.zeros((2, 1)), b=jnp.zeros(2),
                  delays=jnp.full((2, 2), 1.25))
    h0 = params["h0"].at[1].set(5.0)  # neuron 1 starts above threshold: it fires at step 0, once
    params["h0"] = h0
    alpha_s = math.exp(-model.dt / model.tau_syn)

    def currents(p):
        states, _ = model.run(p, jnp.zeros((1, 4, 1)))
        i = model.neurons(states).i[0, :, 0]
        return i, i

    jac, i = jax.jit(jax.jacrev(currents, has_aux=True))(params)
    di = jac["delays"][:, 0, 1]
    assert np.all(np.isfinite(np.asarray(jac["delays"])))
    assert np.all(np.asarray(jac["h0"][:, 5 * 2 :]) == 0)  # h0's spike history: [T, 3·2] zeros
    np.testing.assert_allclose(float(i[1]), 0.75 * w, rtol=1e-6)
    np.testing.assert_allclose(float(i[2]), alpha_s * 0.75 * w + 0.25 * w, rtol=1e-6)
    np.testing.assert_allclose(float(di[1]), -w, rtol=1e-6)
    np.testing.assert_allclose(float(di[2]), w - alpha_s * w, rtol=1e-5)
    # Fixed delays: the step reads them through `delays`, which passes no gradient back to the parameter.
    fixed = models.get("lif", n_inputs=1, n_hidden=2, n_outputs=1, max_delay=3)
    assert np.all(np.asarray(jax.grad(lambda p: jnp.sum(fixed.delays(p) * p["W_rec"]))(params)["delays"]) == 0)


def test_training_moves_the_delays_and_keeps_them_in_bounds(key: jax.Array) -> None:
    task = tasks.get("flipflop", n_bits=1, n_time=12)
    model = models.get("lif", n_inputs=1, n_hidden=6, n_outputs=1, max_delay=2, learn_delays=True)
    # A large learning rate pushes some delays past the bounds, where the step must still see them inside.
    pop = train_population(task, model, 1, 8, key, batch_size=4, learning_rate=0.5, checkpoint_every=8, eval_batch=4)
    before = model.init(jax.random.split(jax.random.fold_in(key, 0))[0])
    after = pop.network(0)
    d0, d1 = np.asarray(before["delays"]), np.asarray(model.delays(after))
    assert np.all(d0 == np.round(d0)) and np.max(np.abs(d1 - d0)) > 0.1
    assert np.all((d1 >= 0) & (d1 <= 2))
    assert np.all(np.isfinite(pop.loss_history))


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"max_delay": -1}, r"max_delay"),
        ({"max_delay": 1.5}, r"max_delay"),
        ({"max_delay": 2, "delay_init": 3.0}, r"delay_init=3\.0 is above max_delay=2"),
        ({"max_delay": 2, "delay_init": -1.0}, r"delay_init"),
        ({"learn_delays": True}, r"need max_delay > 0"),
    ],
)
def test_bad_delay_options_name_the_option(options: dict, pattern: str) -> None:
    with pytest.raises(DynascopeError, match=pattern):
        spiking(**options)


def test_nir_refuses_a_network_with_delays() -> None:
    model = spiking(reset="zero", max_delay=2)
    with pytest.raises(ConfigError, match=r"recurrent delays \(max_delay=2\).*Delay node delays a whole channel"):
        to_nir(model, model.init(jax.random.key(0)))


def test_the_delays_mechanism_switches_delays_on_and_off() -> None:
    with_, without = get_mechanism("delays", max_delay=4).arms("alif", {"tau_out": 10.0, "delay_init": 1.0})
    assert with_.options == {"tau_out": 10.0, "delay_init": 1.0, "max_delay": 4, "learn_delays": True}
    assert without.options == {"tau_out": 10.0, "max_delay": 0}
    for arm in (with_, without):
        models.get(arm.arch, n_inputs=1, n_hidden=3, n_outputs=1, **arm.options)
