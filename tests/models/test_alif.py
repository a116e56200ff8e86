"""The `alif` model (adaptive threshold, Bellec et al. 2018) against a NumPy simulation written from the paper's
equations, spike-frequency adaptation, its reduction to `lif`, option errors, and training."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import models, tasks
from dynascope.errors import DynascopeError
from dynascope.train import train_population

H, I = 6, 2


def alif(n_hidden: int = H, **options: object) -> models.Model:
    return models.get("alif", n_inputs=I, n_hidden=n_hidden, n_outputs=1, **options)


def numpy_alif(p: dict, inputs: np.ndarray, *, dt, tau_m, tau_s, tau_a, theta, beta, n_adaptive, n_ref, reset):
    """Spikes `[T, H]` of an ALIF network in float64: the linear ODEs τ_m v' = −v + I + W_in x + b,
    τ_s I' = −I solved exactly over each step, then the threshold θ + β_j a_j (Bellec et al. 2018),
    the recurrent jump I += W_rec z, the reset, a ← ρ a + (1 − ρ) z."""
    h = p["W_rec"].shape[0]
    am, as_, rho = math.exp(-dt / tau_m), math.exp(-dt / tau_s), math.exp(-dt / tau_a)
    coupling = tau_s * (as_ - am) / (tau_s - tau_m)  # ∫ of the synaptic current's effect on v over one step
    b_j = np.where(np.arange(h) < n_adaptive, beta, 0.0)
    v, cur, a, held = np.zeros(h), np.zeros(h), np.zeros(h), np.zeros(h, int)
    out = []
    for x in inputs:
        drive = p["W_in"] @ x + p["b"]
        free = held == 0
        v = np.where(free, am * v + (1 - am) * drive + coupling * cur, v)
        cur = as_ * cur
        thr = theta + b_j * a
        z = ((v >= thr) & free).astype(float)
        cur = cur + p["W_rec"] @ z
        v = v - thr * z if reset == "subtract" else v * (1 - z)
        held = np.where(z > 0, n_ref, np.maximum(held - 1, 0))
        a = rho * a + (1 - rho) * z
        out.append(z)
    return np.array(out)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_alif_network_spikes_like_a_numpy_simulation_of_the_equations(reset: str) -> None:
    opts = dict(dt=1.0, tau_mem=15.0, tau_syn=4.0, tau_adapt=60.0, threshold=1.0, beta=3.0, refractory=2.0)
    model = alif(reset=reset, adaptive_fraction=0.5, **opts)
    rng = np.random.default_rng(0)
    p64 = {k: np.asarray(v, np.float64) for k, v in model.init(jax.random.key(3)).items()}
    p64["b"] = rng.uniform(0.8, 1.6, H)  # every neuron driven near or past rheobase
    inputs = rng.normal(size=(300, I))
    with jax.enable_x64(True):
        states, _ = jax.jit(model.run)({k: jnp.asarray(v) for k, v in p64.items()}, jnp.asarray(inputs)[None])
        got = np.asarray(model.spikes(states))[0]
    want = numpy_alif(p64, inputs, dt=1.0, tau_m=15.0, tau_s=4.0, tau_a=60.0, theta=1.0, beta=3.0, n_adaptive=3,
                      n_ref=2, reset=reset)
    assert want.sum() > 100  # an active network
    np.testing.assert_array_equal(got, want)


def test_an_adaptive_neuron_slows_down_and_a_plain_one_does_not() -> None:
    model = alif(n_hidden=2, adaptive_fraction=0.5, reset="zero", beta=5.0, tau_adapt=100.0)
    p = model.init(jax.random.key(0))
    p = dict(p, W_in=jnp.zeros((2, I)), W_rec=jnp.zeros((2, 2)), b=jnp.full(2, 2.0))
    states, _ = model.run(p, jnp.zeros((1, 600, I)))
    z = np.asarray(model.spikes(states))[0]
    adaptive, plain = (np.diff(np.flatnonzero(z[:, j])) for j in (0, 1))
    assert np.all(np.diff(adaptive) >= 0) and adaptive[-1] > adaptive[0] + 2  # spike-frequency adaptation
    np.testing.assert_array_equal(plain, plain[0])  # no adaptation: a constant period
    assert plain[0] == math.ceil(20.0 * math.log(2.0 / (2.0 - 1.0)))  # the f–I period of lif


def test_without_adaptive_neurons_alif_is_lif() -> None:
    opts = dict(n_inputs=I, n_hidden=H, n_outputs=1, refractory=1.0, reset="subtract")
    a, l = models.get("alif", adaptive_fraction=0.0, **opts), models.get("lif", **opts)
    p = l.init(jax.random.key(1))
    inputs = jnp.asarray(np.random.default_rng(1).normal(size=(2, 80, I)), jnp.float32)
    sa, ya = a.run(dict(p, h0=jnp.zeros(a.n_state)), inputs)  # h0 has alif's extra adaptation block
    sl, yl = l.run(p, inputs)
    assert float(l.spikes(sl).sum()) > 20
    np.testing.assert_array_equal(np.asarray(a.spikes(sa)), np.asarray(l.spikes(sl)))
    np.testing.assert_allclose(np.asarray(ya), np.asarray(yl), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"tau_adapt": -10.0}, r"option tau_adapt .*must be a number > 0, got -10\.0"),
        ({"beta": -1.0}, r"option beta .*must be a number >= 0, got -1\.0"),
        ({"adaptive_fraction": 1.5}, r"option adaptive_fraction .*in \[0, 1\], got 1\.5"),
        ({"surrogate": "sigmoid"}, r"option surrogate \(derivative used for the spike in training\) must be one of 'fast_sigmoid', 'arctan', 'triangle', got 'sigmoid'"),
        ({"tau_mem": -1.0}, r"option tau_mem .*must be a number > 0, got -1\.0"),
    ],
)
def test_bad_options_name_the_option_and_the_value(options: dict, pattern: str) -> None:
    with pytest.raises(DynascopeError, match=pattern):
        alif(**options)


@pytest.mark.slow
def test_surrogate_gradient_training_solves_a_tiny_delayed_match(key: jax.Array) -> None:
    task = tasks.get("delayed_match", n_stimuli=2, fixation_ms=40, sample_ms=60, delay_ms=100, test_ms=60, n_time=16)
    model = models.get("alif", n_inputs=task.n_inputs, n_hidden=16, n_outputs=1)
    pop = train_population(task, model, 2, 200, key, batch_size=16, learning_rate=1e-2, checkpoint_every=200)
    first, last = pop.loss_history[:, :10].mean(axis=1), pop.loss_history[:, -10:].mean(axis=1)
    assert np.all(last < 0.5 * first)
    assert np.all(pop.metric > 0.9), pop.metric
