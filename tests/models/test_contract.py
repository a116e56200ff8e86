"""The Model contract, checked for every registered model (a newly registered model is tested automatically)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import models
from dynascope.errors import ShapeError

SIZES = {"n_inputs": 2, "n_hidden": 6, "n_outputs": 3}
B, T = 4, 5
# Every registered model with its defaults, plus option settings that change the parameter set.
CASES: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in models.names()] + [
    ("lowrank", {"rank": 2, "bulk_gain": 0.8}),
    ("ctrnn", {"activation": "relu", "weight_init": "identity"}),
]


@dataclasses.dataclass
class Built:
    """A model with its compiled functions (compiled once per case: compile time dominates these tests)."""

    model: models.Model
    step: Any
    run: Any
    population: models.Params
    params: models.Params
    inputs: jax.Array
    states: jax.Array
    outputs: jax.Array


@pytest.fixture(scope="module", params=CASES, ids=lambda c: c[0] + "".join(f"-{k}={v}" for k, v in c[1].items()))
def built(request: pytest.FixtureRequest) -> Built:
    name, options = request.param
    model = models.get(name, **SIZES, **options)
    step, run = jax.jit(model.step), jax.jit(model.run)
    # Keys 0, 0, 1: one compiled, vmapped init checks jit, vmap and same-key reproducibility at once.
    keys = jax.random.split(jax.random.key(0), 2)[jnp.array([0, 0, 1])]
    population = jax.jit(jax.vmap(model.init))(keys)
    params = {k: v[0] for k, v in population.items()}
    inputs = jax.random.normal(jax.random.key(1), (B, T, SIZES["n_inputs"]))
    states, outputs = run(params, inputs)
    return Built(model, step, run, population, params, inputs, states, outputs)


def test_init_is_float32_finite_and_matches_its_own_shapes(built: Built) -> None:
    m, p = built.model, built.params
    assert isinstance(p, dict) and p
    for k, v in p.items():
        assert v.dtype == jnp.float32, k
        assert bool(jnp.all(jnp.isfinite(v))), k
    m.check_params(p)
    assert p["h0"].shape == (m.n_state,)
    assert p["b_out"].shape == (m.n_outputs,)
    assert p["W_out"].shape == (m.n_outputs, m.activity(p["h0"]).shape[-1])
    assert m.initial_state(p).shape == (m.n_state,)
    assert set(m.weight_names(p)) <= set(p) and "W_out" in m.weight_names(p)


def test_same_key_same_params_other_key_other_params(built: Built) -> None:
    pop = {k: np.asarray(v) for k, v in built.population.items()}
    for k, v in pop.items():
        assert v.shape == (3,) + built.params[k].shape, k
        np.testing.assert_array_equal(v[1], v[0])
    assert any(not np.array_equal(v[2], v[0]) for v in pop.values())


def test_step_under_jit(built: Built) -> None:
    m, p = built.model, built.params
    s = m.initial_state(p)
    nxt = built.step(p, s, built.inputs[0, 0])
    assert nxt.shape == (m.n_state,) and nxt.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(nxt)))
    assert not np.allclose(np.asarray(nxt), np.asarray(s))


def test_run_is_the_iterated_step_and_its_readout(built: Built) -> None:
    m, p = built.model, built.params
    assert built.states.shape == (B, T, m.n_state) and built.states.dtype == jnp.float32
    assert built.outputs.shape == (B, T, m.n_outputs) and built.outputs.dtype == jnp.float32
    for b in range(B):
        s = m.initial_state(p)
        for t in range(T):
            s = built.step(p, s, built.inputs[b, t])
            np.testing.assert_allclose(np.asarray(built.states[b, t]), np.asarray(s), rtol=1e-5, atol=1e-6)
    readout = jax.jit(m.readout)(p, built.states)
    np.testing.assert_allclose(np.asarray(built.outputs), np.asarray(readout), rtol=1e-5, atol=1e-6)
    assert m.activity(built.states).shape == (B, T, p["W_out"].shape[1])


def test_run_from_given_initial_states(built: Built) -> None:
    m, p = built.model, built.params
    s0 = jax.random.uniform(jax.random.key(2), (B, m.n_state), minval=-0.5, maxval=0.5)
    states, _ = built.run(p, built.inputs, initial_states=s0)
    for b in range(B):
        first = built.step(p, s0[b], built.inputs[b, 0])
        np.testing.assert_allclose(np.asarray(states[b, 0]), np.asarray(first), rtol=1e-5, atol=1e-6)


def test_gradient_through_run_is_finite_and_reaches_the_recurrence(built: Built) -> None:
    m = built.model

    def loss(params: models.Params) -> jax.Array:
        states, outputs = m.run(params, built.inputs)
        return jnp.mean(outputs**2) + jnp.mean(m.activity(states) ** 2)

    grads = jax.jit(jax.grad(loss))(built.params)
    assert set(grads) == set(built.params)
    for k, g in grads.items():
        assert g.shape == built.params[k].shape and bool(jnp.all(jnp.isfinite(g))), k
    assert float(jnp.abs(grads["W_out"]).max()) > 0
    recurrent = [k for k in m.weight_names(built.params) if k != "W_out"]
    assert any(float(jnp.abs(grads[k]).max()) > 0 for k in recurrent), recurrent


def test_population_runs_under_vmap(built: Built) -> None:
    m, pop = built.model, built.population
    states, outputs = jax.jit(jax.vmap(m.run, in_axes=(0, None)))(pop, built.inputs)
    assert states.shape == (3, B, T, m.n_state) and outputs.shape == (3, B, T, m.n_outputs)
    _, out2 = built.run({k: v[2] for k, v in pop.items()}, built.inputs)
    np.testing.assert_allclose(np.asarray(outputs[2]), np.asarray(out2), rtol=1e-4, atol=1e-5)


def test_flow_is_the_step_increment_per_alpha(built: Built) -> None:
    m, p = built.model, built.params
    s = jax.random.uniform(jax.random.key(4), (m.n_state,), minval=-0.8, maxval=0.8)
    x = built.inputs[0, 0]
    f = jax.jit(m.flow)(p, s, x)
    np.testing.assert_allclose(
        np.asarray(f), np.asarray((built.step(p, s, x) - s) / m.alpha), rtol=1e-4, atol=1e-4
    )
    if m.continuous:
        # A flow is a property of the ODE, not of its discretisation.
        other = dataclasses.replace(m, alpha=0.5)
        f2, s2 = jax.jit(lambda p, s, x: (other.flow(p, s, x), other.step(p, s, x)))(p, s, x)
        np.testing.assert_allclose(np.asarray(f2), np.asarray(f), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(np.asarray(s2), np.asarray(s + 0.5 * f), rtol=1e-5, atol=1e-6)
    else:
        assert m.alpha == 1.0


def test_check_params_rejects_wrong_shapes_and_names(built: Built) -> None:
    m, p = built.model, built.params
    bad = dict(p, W_out=jnp.zeros((m.n_outputs + 1, p["W_out"].shape[1])))
    with pytest.raises(ShapeError, match=r"parameter 'W_out' must have shape \(3, \d+\), got \(4, \d+\)"):
        m.check_params(bad)
    missing = {k: v for k, v in p.items() if k != "h0"}
    with pytest.raises(ShapeError, match="parameters must be named"):
        m.check_params(missing)


def test_options_rebuild_the_same_model(built: Built) -> None:
    m = built.model
    assert models.get(m.name, **SIZES, **m.options()) == m


def test_traced_noise_std_runs_under_jit() -> None:
    m = models.get("vanilla", **SIZES)
    p = m.init(jax.random.key(0))
    inputs = jnp.zeros((2, 3, SIZES["n_inputs"]))
    noisy = jax.jit(lambda std: m.run(p, inputs, noise_key=jax.random.key(5), noise_std=std)[0])
    quiet = np.asarray(m.run(p, inputs)[0])
    np.testing.assert_allclose(np.asarray(noisy(0.0)), quiet, atol=1e-7)
    assert not np.allclose(np.asarray(noisy(0.1)), quiet)
