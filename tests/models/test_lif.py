"""The `lif` model against closed forms: the f–I curve with refractoriness, the exact solution of the neuron's
linear ODEs (SciPy's matrix exponential), the surrogate derivatives, the gamma distribution of heterogeneous
time constants (SciPy); and training: surrogate gradients lower the loss, learned time constants stay in bounds,
fixed masks and Dale's signs survive training, bad options are refused by name and value."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.stats

from dynascope import models, tasks
from dynascope.errors import ConfigError, DynascopeError
from dynascope.models import spike
from dynascope.train import train_population


def lif(n_hidden: int = 1, n_inputs: int = 1, n_outputs: int = 1, **options: object) -> models.Model:
    return models.get("lif", n_inputs=n_inputs, n_hidden=n_hidden, n_outputs=n_outputs, **options)


def single_neuron_params(model: models.Model) -> dict[str, jax.Array]:
    """One neuron, no recurrence, the input injected with weight 1."""
    p = model.init(jax.random.key(0))
    return dict(p, W_in=jnp.ones((1, 1)), W_rec=jnp.zeros((1, 1)), b=jnp.zeros(1))


def spike_steps(model: models.Model, params: dict, inputs: np.ndarray) -> np.ndarray:
    """Indices of the steps at which neuron 0 fires, for inputs `[T, I]`."""
    states, _ = jax.jit(model.run)(params, jnp.asarray(inputs, jnp.float32)[None])
    return np.flatnonzero(np.asarray(model.spikes(states))[0, :, 0])


# -- the f–I curve -----------------------------------------------------------------------------------
@pytest.mark.parametrize("current", [1.2, 1.5, 3.0])
@pytest.mark.parametrize("n_ref", [0, 2, 5])
def test_single_neuron_fires_at_the_analytic_f_i_rate(current: float, n_ref: int) -> None:
    """A neuron driven by a constant current I > θ, reset to 0 and held there for t_ref, fires periodically.

    Continuous time: v(t) = I (1 − e^(−t/τ)) from the end of the refractory period reaches θ after
    τ ln(I / (I − θ)), so the period is T = t_ref + τ ln(I / (I − θ)).
    Discrete model: the input enters the membrane directly (the synaptic current of a neuron without
    recurrent input stays at its steady state 0), so each free step is exactly v ← α v + (1 − α) I with
    α = e^(−dt/τ): after k free steps from 0, v_k = I (1 − α^k), the continuous solution on the grid. The
    neuron fires at the first k* with v_k ≥ θ, k* = ⌈τ ln(I/(I − θ))/dt⌉, after being held for n_ref steps:
    the period is n_ref + k* steps, and T ≤ (n_ref + k*)·dt < T + dt (the spike lands on the first grid
    time at or after the continuous crossing: within one step per period).
    """
    dt, tau, theta = 0.5, 20.0, 1.0
    model = lif(dt=dt, tau_mem=tau, threshold=theta, reset="zero", refractory=n_ref * dt)
    assert model.n_refractory == n_ref
    steps = spike_steps(model, single_neuron_params(model), np.full((600, 1), current))
    periods = np.diff(steps)
    assert len(periods) >= 5

    crossing = tau * math.log(current / (current - theta))  # ms from the end of the refractory period
    k_star = math.ceil(crossing / dt)
    assert k_star - crossing / dt > 1e-3  # no tie on the grid: float32 cannot flip the comparison
    assert steps[0] == k_star - 1  # from rest, the first spike ends the k*-th step
    np.testing.assert_array_equal(periods, n_ref + k_star)
    period_ms = n_ref * dt + crossing
    assert period_ms <= periods[0] * dt < period_ms + dt
    rate_hz = 1000.0 / (periods.mean() * dt)
    assert rate_hz == pytest.approx(1000.0 / period_ms, rel=dt / period_ms)


def test_no_spikes_below_rheobase_and_refractory_rounded_to_steps() -> None:
    model = lif(dt=1.0, reset="zero", refractory=2.5)
    assert model.n_refractory == 3  # half a step rounds up
    assert lif(dt=0.1, refractory=0.3).n_refractory == 3 and lif(dt=1.0, refractory=0.4).n_refractory == 0
    assert spike_steps(model, single_neuron_params(model), np.full((400, 1), 0.99)).size == 0


def test_refractory_neuron_is_held_and_cannot_fire() -> None:
    """After a spike, v stays at its reset value and the neuron stays silent for exactly n_ref steps."""
    model = lif(dt=1.0, tau_mem=10.0, reset="subtract", refractory=3.0)
    p = single_neuron_params(model)
    states, _ = model.run(p, jnp.full((1, 40, 1), 50.0))  # strong drive: fires whenever it is free
    n = model.neurons(np.asarray(states)[0, :, :])
    steps = np.flatnonzero(n.spikes[:, 0])
    np.testing.assert_array_equal(np.diff(steps), 4)  # one free step reaches threshold, then 3 held
    s = steps[0]
    np.testing.assert_array_equal(n.refractory[s : s + 4, 0], [3, 2, 1, 0])
    np.testing.assert_array_equal(n.v[s : s + 4, 0], n.v[s, 0])  # held at v − θ through the period
    alpha = math.exp(-1.0 / 10.0)
    v_pre = 50.0 * (1 - alpha)  # from rest, one step
    np.testing.assert_allclose(n.v[0, 0], v_pre - 1.0, rtol=1e-6)  # reset by subtracting θ


# -- exact integration -------------------------------------------------------------------------------
def test_one_step_is_the_matrix_exponential_of_the_linear_odes() -> None:
    """Sub-threshold, one step of the model equals SciPy's expm of the linear system
    d/dt (v, I, I_ext) = [[−1/τ_m, 1/τ_m, 1/τ_m], [0, −1/τ_s, 0], [0, 0, 0]] (v, I, I_ext) over dt,
    for per-neuron time constants, one neuron having τ_s = τ_m (the degenerate case)."""
    h, i, dt = 4, 3, 0.7
    model = lif(n_hidden=h, n_inputs=i, dt=dt, threshold=1e3, learn_tau=True, tau_min=1.0, tau_max=100.0)
    p = model.init(jax.random.key(1))
    tau_m = np.array([20.0, 7.0, 3.0, 12.0])
    tau_s = np.array([5.0, 7.0, 30.0, 11.9999])

    def raw(tau):
        frac = (tau - 1.0) / 99.0
        return jnp.asarray(np.log(frac) - np.log1p(-frac), jnp.float32)

    rng = np.random.default_rng(0)
    w_in, b = rng.normal(size=(h, i)).astype(np.float32), rng.normal(size=h).astype(np.float32)
    p = dict(p, tau_mem_raw=raw(tau_m), tau_syn_raw=raw(tau_s), W_in=jnp.asarray(w_in), b=jnp.asarray(b))
    np.testing.assert_allclose(np.asarray(model.time_constants(p)[0]), tau_m, rtol=1e-5)
    v, cur, x = rng.normal(size=h), rng.normal(size=h), rng.normal(size=i)
    state = np.zeros(model.n_state, np.float32)
    state[:h], state[h : 2 * h] = v, cur
    nxt = model.neurons(np.asarray(model.step(p, jnp.asarray(state), jnp.asarray(x, jnp.float32))))

    assert not np.any(nxt.spikes)
    drive = w_in.astype(np.float64) @ x + b
    tau_m64, tau_s64 = (np.asarray(t, np.float64) for t in model.time_constants(p))
    for j in range(h):
        a = np.array([[-1 / tau_m64[j], 1 / tau_m64[j], 1 / tau_m64[j]], [0, -1 / tau_s64[j], 0], [0, 0, 0]])
        want = scipy.linalg.expm(a * dt) @ np.array([v[j], cur[j], drive[j]])
        np.testing.assert_allclose(nxt.v[j], want[0], rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(nxt.i[j], want[1], rtol=2e-5, atol=2e-6)


# -- surrogates --------------------------------------------------------------------------------------
SURROGATE_REFERENCE = {  # the papers' pseudo-derivatives, written out in NumPy
    "fast_sigmoid": lambda x, s: 1.0 / (1.0 + s * np.abs(x)) ** 2,
    "arctan": lambda x, s: s / 2 / (1.0 + (np.pi / 2 * s * x) ** 2),
    "triangle": lambda x, s: np.maximum(0.0, 1.0 - s * np.abs(x)),
}


@pytest.mark.parametrize("name", sorted(SURROGATE_REFERENCE))
@pytest.mark.parametrize("scale", [None, 3.0])
def test_spike_is_a_heaviside_whose_gradient_is_the_surrogate(name: str, scale: float | None) -> None:
    x = jnp.asarray([-2.0, -0.3, -1e-3, 0.0, 1e-3, 0.3, 2.0], jnp.float32)
    np.testing.assert_array_equal(np.asarray(spike(x, name, scale)), [0, 0, 0, 1, 1, 1, 1])
    grad = jax.vmap(jax.grad(lambda v: spike(v, name, scale)))(x)
    s = {"fast_sigmoid": 10.0, "arctan": 2.0, "triangle": 1.0}[name] if scale is None else scale
    np.testing.assert_allclose(np.asarray(grad), SURROGATE_REFERENCE[name](np.asarray(x, np.float64), s), rtol=1e-6)
    if scale is None:
        assert float(jax.grad(lambda v: spike(v, name))(0.0)) == pytest.approx(1.0)


def test_unknown_surrogate_is_refused_with_the_names() -> None:
    with pytest.raises(ConfigError, match=r"'fast_sigmoid', 'arctan', 'triangle', got 'relu'"):
        spike(jnp.zeros(2), "relu")
    with pytest.raises(ConfigError, match=r"option surrogate \(derivative used for the spike in training\) must be one of 'fast_sigmoid', 'arctan', 'triangle', got 'relu'"):
        lif(surrogate="relu")


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"tau_mem": -5.0}, r"option tau_mem .*must be a number > 0, got -5\.0"),
        ({"tau_syn": 0}, r"option tau_syn .*must be a number > 0, got 0"),
        ({"refractory": -1.0}, r"option refractory .*must be a number >= 0, got -1\.0"),
        ({"dt": -0.1}, r"option dt .*must be a number > 0, got -0\.1"),
        ({"reset": "hold"}, r"option reset \(after a spike: v − threshold, or v = 0\) must be one of 'subtract', 'zero', got 'hold'"),
        ({"surrogate_scale": -2.0}, r"option surrogate_scale .*> 0 or None, got -2\.0"),
        ({"connectivity": 0.0}, r"option connectivity .*in \(0, 1\], got 0\.0"),
        ({"tau_spread": -0.2}, r"option tau_spread .*>= 0, got -0\.2"),
        ({"learn_tau": True, "tau_mem": 500.0}, r"tau_mem=500\.0 must lie strictly between tau_min=1\.0 and tau_max=200\.0"),
        ({"tau_min": 50.0, "tau_max": 10.0}, r"tau_min=50\.0 must be below tau_max=10\.0"),
        ({"dale": True, "e_fraction": 0.99}, r"dale with e_fraction=0\.99 and n_hidden=4 gives 4 excitatory and 0 inhibitory"),
    ],
)
def test_bad_options_name_the_option_and_the_value(options: dict, pattern: str) -> None:
    with pytest.raises(DynascopeError, match=pattern):
        lif(n_hidden=4, **options)


# -- heterogeneous and learned time constants, masks, Dale ---------------------------------------------
def test_heterogeneous_time_constants_follow_the_documented_gamma_distribution() -> None:
    cv = 0.4
    model = lif(n_hidden=1000, tau_spread=cv, tau_mem=20.0, tau_syn=5.0, tau_min=0.1, tau_max=1000.0)
    tau_m, tau_s = (np.asarray(t, np.float64) for t in model.time_constants(model.init(jax.random.key(2))))
    shape = 1 / cv**2
    for tau, mean in ((tau_m, 20.0), (tau_s, 5.0)):
        assert scipy.stats.kstest(tau, scipy.stats.gamma(shape, scale=mean / shape).cdf).pvalue > 1e-3
    assert np.all((tau_m > 0.1) & (tau_m < 1000.0))


TASK = tasks.get("flipflop", n_bits=2, n_time=24)
FAST = dict(batch_size=16, learning_rate=1e-2, checkpoint_every=100)


def _improves(pop, head: int = 10) -> np.ndarray:
    first = pop.loss_history[:, :head].mean(axis=1)
    last = pop.loss_history[:, -head:].mean(axis=1)
    return last / first


@pytest.mark.slow
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "arctan", "triangle"])
def test_surrogate_gradient_training_lowers_the_flipflop_loss(surrogate: str, key: jax.Array) -> None:
    model = models.get("lif", n_inputs=2, n_hidden=16, n_outputs=2, surrogate=surrogate)
    pop = train_population(TASK, model, 1, 200, key, **FAST)
    assert not pop.diverged.any()
    assert np.all(_improves(pop) < 0.6), pop.loss_history[:, ::20]
    assert np.all(pop.metric > 0.8), pop.metric


@pytest.mark.slow
def test_surrogate_gradient_training_solves_a_tiny_delayed_match(key: jax.Array) -> None:
    task = tasks.get("delayed_match", n_stimuli=2, fixation_ms=40, sample_ms=60, delay_ms=100, test_ms=60, n_time=16)
    model = models.get("lif", n_inputs=task.n_inputs, n_hidden=16, n_outputs=1)
    pop = train_population(task, model, 2, 200, key, batch_size=16, learning_rate=1e-2, checkpoint_every=200)
    assert np.all(_improves(pop) < 0.5)
    assert np.all(pop.metric > 0.9), pop.metric


@pytest.mark.slow
def test_learned_time_constants_change_and_stay_in_bounds_while_masks_and_signs_hold(key: jax.Array) -> None:
    bounds = dict(tau_min=2.0, tau_max=40.0)
    model = models.get(
        "lif", n_inputs=2, n_hidden=20, n_outputs=2, learn_tau=True, tau_spread=0.5, connectivity=0.4, dale=True,
        **bounds,
    )
    # A large learning rate pushes some raw parameters far out: the reparametrisation must keep τ inside.
    pop = train_population(TASK, model, 2, 60, key, **{**FAST, "learning_rate": 0.2})
    init = jax.vmap(model.init)(jax.vmap(lambda k: jax.random.split(k)[0])(
        jnp.stack([jax.random.fold_in(key, s) for s in range(2)])))
    for n in range(2):
        before, after = jax.tree.map(lambda a: a[n], init), pop.network(n)
        for t0, t1 in zip(model.time_constants(before), model.time_constants(after)):
            t0, t1 = np.asarray(t0), np.asarray(t1)
            assert np.max(np.abs(t1 - t0)) > 0.1  # learned
            assert np.all((t1 >= 2.0) & (t1 <= 40.0))
        np.testing.assert_array_equal(np.asarray(after["M_rec"]), np.asarray(before["M_rec"]))  # fixed mask
        w = np.asarray(model.effective_weights(after))
        assert np.all(w[np.asarray(after["M_rec"]) == 0] == 0)
        assert np.all(w[:, : model.n_exc] >= 0) and np.all(w[:, model.n_exc :] <= 0)  # Dale's law
    mask = np.asarray(pop.params["M_rec"])
    assert 0.3 < mask.mean() < 0.5


def test_fixed_heterogeneous_time_constants_do_not_train(key: jax.Array) -> None:
    model = models.get("lif", n_inputs=2, n_hidden=8, n_outputs=2, tau_spread=0.3)
    params = model.init(key)
    grads = jax.jit(jax.grad(lambda p: jnp.sum(model.run(p, jnp.ones((2, 6, 2)))[1] ** 2)))(params)
    assert np.all(np.asarray(grads["tau_mem_raw"]) == 0) and np.all(np.asarray(grads["tau_syn_raw"]) == 0)
    assert np.abs(np.asarray(grads["W_in"])).max() > 0
    learned = models.get("lif", n_inputs=2, n_hidden=8, n_outputs=2, tau_spread=0.3, learn_tau=True)
    g = jax.jit(jax.grad(lambda p: jnp.sum(learned.run(p, jnp.ones((2, 6, 2)))[1] ** 2)))(params)
    assert np.abs(np.asarray(g["tau_mem_raw"])).max() > 0
