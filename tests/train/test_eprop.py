"""e-prop (Bellec et al. 2020) as a learning rule: exact without recurrence (against jax.grad and a NumPy loop
written here from the paper's equations), correlated with BPTT with it, trains a tiny task, memory flat in
the trial length, refusals."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import models, tasks
from dynascope.errors import ConfigError
from dynascope.tasks import Trials
from dynascope.train import TrainOptions, eprop_value_and_grad, masked_mse, supports_eprop, train_population

TASK = tasks.get("flipflop", n_bits=2, n_time=10)  # I = 2 inputs, O = 2 outputs, T = 10


def lif(arch: str = "lif", hidden: int = 3, **options):
    return models.get(arch, n_inputs=TASK.n_inputs, n_hidden=hidden, n_outputs=TASK.n_outputs, **options)


def batch(key: jax.Array, size: int = 2, n_time: int = 10) -> Trials:
    """Random inputs strong enough to make the neurons fire, random targets, a mask with holes."""
    k_in, k_tgt, k_mask = jax.random.split(key, 3)
    inputs = jax.random.normal(k_in, (size, n_time, TASK.n_inputs)) + 1.0
    targets = jax.random.normal(k_tgt, (size, n_time, TASK.n_outputs))
    mask = jax.random.bernoulli(k_mask, 0.7, targets.shape).astype(jnp.float32)
    return Trials(inputs, targets, mask)


def bptt_value_and_grad(model, l2_activity: float = 0.0):
    """The trainer's BPTT loss, written here: masked MSE of the model's outputs (plus the activity penalty)."""
    def loss(params, trials):
        states, outputs = model.run(params, trials.inputs)
        return masked_mse(outputs, trials) + l2_activity * jnp.mean(model.activity(states) ** 2)

    return jax.jit(jax.value_and_grad(loss))


def relative(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-30))


def cosine(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# -- a NumPy reference, written from Bellec et al. 2020 and the neuron's equations (Spiking's docstring) -------
def numpy_eprop(params: dict, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray, *, tau_mem=20.0,
                tau_syn=5.0, tau_out=20.0, theta=1.0, dt=1.0, s=10.0) -> tuple[float, dict]:
    """Loss and e-prop gradients of a current-based LIF network (subtract reset, no refractoriness, fast-sigmoid
    surrogate of sharpness s), one synapse at a time, in float64. The eligibility vector of synapse (j, i)
    is (ε_v, ε_I): the derivative of neuron j's (v, I) with respect to w_ji through j's own dynamics only."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    w_in, w_rec, b, w_out, b_out = p["W_in"], p["W_rec"], p["b"], p["W_out"], p["b_out"]
    n_batch, n_time, n_in = inputs.shape
    h = b.shape[0]
    a_m, a_s, a_o = math.exp(-dt / tau_mem), math.exp(-dt / tau_syn), math.exp(-dt / tau_out)
    # the PSP of a unit current after one step: τ_s (e^(−dt/τ_s) − e^(−dt/τ_m)) / (τ_s − τ_m)
    kappa = tau_syn * (math.exp(-dt / tau_syn) - math.exp(-dt / tau_mem)) / (tau_syn - tau_mem)
    norm = max(mask.sum(), 1.0)
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    loss = 0.0
    n_spikes = 0
    for n in range(n_batch):
        v, cur, u = np.zeros(h), np.zeros(h), np.zeros(h)
        # eligibility vectors and filtered traces: [post, pre] for W_in and W_rec, [post] for b
        ev_in, ei_in, eu_in = np.zeros((h, n_in)), np.zeros((h, n_in)), np.zeros((h, n_in))
        ev_rec, ei_rec, eu_rec = np.zeros((h, h)), np.zeros((h, h)), np.zeros((h, h))
        ev_b, ei_b, eu_b = np.zeros(h), np.zeros(h), np.zeros(h)
        for t in range(n_time):
            x = inputs[n, t]
            v_pre = a_m * v + (1 - a_m) * (w_in @ x + b) + kappa * cur
            z = (v_pre >= theta).astype(float)
            psi = 1.0 / (1.0 + s * np.abs(v_pre - theta)) ** 2
            for j in range(h):
                for i in range(n_in):
                    dv = a_m * ev_in[j, i] + kappa * ei_in[j, i] + (1 - a_m) * x[i]
                    ei_in[j, i] = a_s * ei_in[j, i] + w_rec[j, j] * psi[j] * dv
                    ev_in[j, i] = dv  # the reset v -= θ z carries no gradient
                    eu_in[j, i] = a_o * eu_in[j, i] + psi[j] * dv
                for i in range(h):
                    dv = a_m * ev_rec[j, i] + kappa * ei_rec[j, i]
                    ei_rec[j, i] = a_s * ei_rec[j, i] + w_rec[j, j] * psi[j] * dv + z[i]
                    ev_rec[j, i] = dv
                    eu_rec[j, i] = a_o * eu_rec[j, i] + psi[j] * dv
                dv = a_m * ev_b[j] + kappa * ei_b[j] + (1 - a_m)
                ei_b[j] = a_s * ei_b[j] + w_rec[j, j] * psi[j] * dv
                ev_b[j] = dv
                eu_b[j] = a_o * eu_b[j] + psi[j] * dv
            cur = a_s * cur + w_rec @ z
            v = v_pre - theta * z
            u = a_o * u + z
            n_spikes += int(z.sum())
            y = w_out @ u + b_out
            loss += float((mask[n, t] * (y - targets[n, t]) ** 2).sum()) / norm
            dy = 2 * mask[n, t] * (y - targets[n, t]) / norm
            signal = w_out.T @ dy  # learning signal L_j = Σ_k W_out,kj dE/dy_k
            grads["W_in"] += signal[:, None] * eu_in
            grads["W_rec"] += signal[:, None] * eu_rec
            grads["b"] += signal * eu_b
            grads["W_out"] += np.outer(dy, u)
            grads["b_out"] += dy
    assert 0 < n_spikes < n_batch * n_time * h, "the reference must see both spikes and silence"
    return loss, grads


@pytest.mark.parametrize("recurrent", [False, True], ids=["W_rec=0", "recurrent"])
def test_eprop_matches_a_numpy_loop(recurrent, key):
    model = lif()
    k_init, k_data = jax.random.split(key)
    params = model.init(k_init)
    if not recurrent:
        params["W_rec"] = jnp.zeros_like(params["W_rec"])
    trials = batch(k_data)
    loss, grads = jax.jit(eprop_value_and_grad(TASK, model, TrainOptions(rule="eprop")))(params, trials, key)
    ref_loss, ref = numpy_eprop(params, *(np.asarray(a, np.float64) for a in trials))
    assert float(loss) == pytest.approx(ref_loss, rel=1e-5)
    for name in ("W_in", "W_rec", "b", "W_out", "b_out"):
        assert relative(ref[name], grads[name]) < 1e-4, name
    assert not np.asarray(grads["h0"]).any()  # e-prop leaves the initial state alone


@pytest.mark.parametrize(("arch", "options"), [
    ("lif", {}),
    ("lif", dict(reset="zero", refractory=2.0, tau_spread=0.3, surrogate="arctan")),
    ("alif", {}),
    ("alif", dict(reset="zero", adaptive_fraction=1.0)),
])
def test_without_recurrence_eprop_is_the_bptt_gradient(arch, options, key):
    """With W_rec = 0 there is no credit to assign through other neurons: e-prop is exact."""
    model = lif(arch, 5, **options)
    k_init, k_data = jax.random.split(key)
    params = model.init(k_init)
    params = dict(params, W_rec=jnp.zeros_like(params["W_rec"]), W_in=3.0 * params["W_in"])
    trials = batch(k_data, 3, 16)
    opts = TrainOptions(rule="eprop", l2_activity=0.1)
    loss, grads = jax.jit(eprop_value_and_grad(TASK, model, opts))(params, trials, key)
    ref_loss, ref = bptt_value_and_grad(model, 0.1)(params, trials)
    assert float(loss) == pytest.approx(float(ref_loss), rel=1e-5)
    for name in ("W_in", "b", "W_rec", "W_out", "b_out"):
        assert np.abs(np.asarray(ref[name])).max() > 0, name  # a gradient to compare
        assert relative(ref[name], grads[name]) < 1e-5, name


def test_state_noise_is_drawn_as_the_trainer_draws_it(key):
    model = lif(hidden=4)
    params = dict(model.init(key), W_rec=jnp.zeros((4, 4)))
    trials = batch(jax.random.fold_in(key, 1))
    noise_key = jax.random.fold_in(key, 2)

    def loss(p):
        _, outputs = model.run(p, trials.inputs, noise_key=noise_key, noise_std=0.1)
        return masked_mse(outputs, trials)

    ref_loss, ref = jax.value_and_grad(loss)(params)
    value, grads = eprop_value_and_grad(TASK, model, TrainOptions(rule="eprop", state_noise=0.1))(
        params, trials, noise_key)
    assert float(value) == pytest.approx(float(ref_loss), rel=1e-5)
    assert relative(ref["W_in"], grads["W_in"]) < 1e-5


def test_with_recurrence_eprop_is_correlated_with_bptt_but_not_equal(key):
    model = lif(hidden=8, gain=3.0)
    k_init, k_data = jax.random.split(key)
    params = model.init(k_init)
    trials = batch(k_data, 4, 20)
    _, grads = jax.jit(eprop_value_and_grad(TASK, model, TrainOptions(rule="eprop")))(params, trials, key)
    _, ref = bptt_value_and_grad(model)(params, trials)
    for name in ("W_in", "W_rec", "b"):
        assert cosine(ref[name], grads[name]) > 0.5, name
    # the recurrent credit e-prop drops is there to drop
    assert relative(ref["W_rec"], grads["W_rec"]) > 1e-3
    assert relative(ref["W_out"], grads["W_out"]) < 1e-5  # the readout's gradient is exact


def test_eprop_trains_a_one_bit_flipflop(key):
    task = tasks.get("flipflop", n_bits=1, n_time=24)
    model = models.get("lif", n_inputs=task.n_inputs, n_hidden=16, n_outputs=task.n_outputs)
    pop = train_population(task, model, 1, 150, key, batch_size=16, learning_rate=1e-2, checkpoint_every=150,
                           rule="eprop")
    first, last = pop.loss_history[0, :10].mean(), pop.loss_history[0, -10:].mean()
    assert last < 0.5 * first, (first, last)
    assert pop.options.rule == "eprop" and not pop.diverged.any()


def _temp_bytes(fn, *args) -> int | None:
    stats = jax.jit(fn).lower(*args).compile().memory_analysis()
    return None if stats is None else stats.temp_size_in_bytes


def _scans(jaxpr, length: int) -> list:
    """Every scan of `length` steps in `jaxpr`, nested ones (inside jit, vjp, cond) included."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "scan" and eqn.params["length"] == length:
            found.append(eqn)
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    found += _scans(inner, length)
    return found


def _stacked_over_time(fn, args, length: int) -> list:
    """What the scans over the trial stack over time: their outputs beyond the carry."""
    scans = _scans(jax.make_jaxpr(fn)(*args).jaxpr, length)
    assert scans, "no scan over the trial found"
    return [v for eqn in scans for v in eqn.outvars[eqn.params["num_carry"]:]]


def test_eprop_memory_does_not_grow_with_the_trial_length(key):
    model = lif(hidden=8)
    params = model.init(key)
    fn = eprop_value_and_grad(TASK, model, TrainOptions(rule="eprop"))
    short, long = batch(key, 4, 25), batch(key, 4, 100)
    assert _stacked_over_time(fn, (params, long, key), 100) == []
    assert _stacked_over_time(bptt_value_and_grad(model), (params, long), 100) != []  # BPTT keeps the trial
    eprop = [_temp_bytes(fn, params, t, key) for t in (short, long)]
    if eprop[0] is None:  # no memory analysis on this backend: the jaxpr check above stands alone
        return
    assert eprop[1] == eprop[0]
    bptt = [_temp_bytes(bptt_value_and_grad(model), params, t) for t in (short, long)]
    assert bptt[1] > 2 * bptt[0]  # the same measurement sees BPTT's memory grow


def test_bad_rules_and_combinations_are_refused(key):
    with pytest.raises(ConfigError, match=r"--rule \(rule\) must be one of 'bptt', 'eprop'.*got 'foo'"):
        TrainOptions(rule="foo").validate(1)
    gru = lif("gru", 4)
    assert not supports_eprop(gru) and supports_eprop(lif()) and supports_eprop(lif("alif"))
    with pytest.raises(ConfigError, match=r"--rule eprop \(rule='eprop'\) trains the spiking models lif and alif.*got 'gru'.*--rule bptt"):
        train_population(TASK, gru, 1, 1, key, rule="eprop")
    with pytest.raises(ConfigError, match="learn_tau=True"):
        train_population(TASK, lif(learn_tau=True), 1, 1, key, rule="eprop")
    with pytest.raises(ConfigError, match="max_delay=2"):
        train_population(TASK, lif(max_delay=2), 1, 1, key, rule="eprop")
    with pytest.raises(ConfigError, match="got 'gru'"):
        eprop_value_and_grad(TASK, gru, TrainOptions())


def test_rule_round_trips_and_old_options_read_as_bptt():
    opts = TrainOptions(rule="eprop")
    assert TrainOptions.from_dict(opts.to_dict()) == opts
    old = {k: v for k, v in TrainOptions().to_dict().items() if k != "rule"}  # a run folder from before `rule`
    assert TrainOptions.from_dict(old).rule == "bptt"
