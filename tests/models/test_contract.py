"""The Model contract, checked for every registered model (a newly registered model is tested automatically).

Compile time dominates on CPU, so each case compiles two programs — the vmapped `init` and one probe that
evaluates every contract function under `jit` — and the tests below check the probe's results.
"""

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
]
OTHER_ALPHA = 0.5


@dataclasses.dataclass
class Built:
    model: models.Model
    population: dict[str, np.ndarray]  # init of keys (0, 0, 1), vmapped
    params: models.Params  # member 0
    inputs: np.ndarray  # [B, T, I]
    s0: np.ndarray  # [B, S] initial states for `run(initial_states=)`
    probe: dict[str, Any]  # results of every contract function, computed under jit


def _probe(
    model: models.Model, params: models.Params, population: models.Params, inputs: jax.Array, s0: jax.Array
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["states"], out["outputs"] = model.run(params, inputs)
    # The run spelled out as an iterated step, and the readout of its states.
    s = jnp.broadcast_to(model.initial_state(params), (B, model.n_state))
    manual = []
    for t in range(T):
        s = jax.vmap(model.step, in_axes=(None, 0, 0))(params, s, inputs[:, t])
        manual.append(s)
    out["manual_states"] = jnp.stack(manual, axis=1)
    out["readout"] = model.readout(params, out["states"])
    out["activity"] = model.activity(out["states"])
    out["step"] = model.step(params, model.initial_state(params), inputs[0, 0])
    out["from_s0"], _ = model.run(params, inputs, initial_states=s0)
    out["first_from_s0"] = jax.vmap(model.step, in_axes=(None, 0, 0))(params, s0, inputs[:, 0])

    def loss(p: models.Params) -> jax.Array:
        states, outputs = model.run(p, inputs)
        return jnp.mean(outputs**2) + jnp.mean(model.activity(states) ** 2)

    out["grads"] = jax.grad(loss)(params)
    out["pop_states"], out["pop_outputs"] = jax.vmap(model.run, in_axes=(0, None))(population, inputs)
    x = inputs[0, 0]
    out["flow"] = jax.vmap(model.flow, in_axes=(None, 0, None))(params, s0, x)
    out["flow_step"] = jax.vmap(model.step, in_axes=(None, 0, None))(params, s0, x)
    if model.continuous:
        other = dataclasses.replace(model, alpha=OTHER_ALPHA)
        out["other_flow"] = jax.vmap(other.flow, in_axes=(None, 0, None))(params, s0, x)
        out["other_step"] = jax.vmap(other.step, in_axes=(None, 0, None))(params, s0, x)
    return out


@pytest.fixture(scope="module", params=CASES, ids=lambda c: c[0] + "".join(f"-{k}={v}" for k, v in c[1].items()))
def built(request: pytest.FixtureRequest) -> Built:
    name, options = request.param
    model = models.get(name, **SIZES, **options)
    # Keys 0, 0, 1: one compiled, vmapped init checks jit, vmap and same-key reproducibility at once.
    keys = jax.random.split(jax.random.key(0), 2)[jnp.array([0, 0, 1])]
    population = jax.jit(jax.vmap(model.init))(keys)
    params = {k: v[0] for k, v in population.items()}
    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(B, T, model.n_inputs)).astype(np.float32)
    s0 = rng.uniform(-0.8, 0.8, size=(B, model.n_state)).astype(np.float32)
    probe = jax.jit(lambda *a: _probe(model, *a))(params, population, jnp.asarray(inputs), jnp.asarray(s0))
    probe = jax.tree_util.tree_map(np.asarray, probe)
    return Built(model, {k: np.asarray(v) for k, v in population.items()}, params, inputs, s0, probe)


def test_init_is_float32_finite_and_matches_its_own_shapes(built: Built) -> None:
    m, p = built.model, built.params
    assert isinstance(p, dict) and p
    for k, v in p.items():
        assert v.dtype == jnp.float32, k
        assert bool(jnp.all(jnp.isfinite(v))), k
    m.check_params(p)
    assert p["h0"].shape == (m.n_state,)
    assert p["b_out"].shape == (m.n_outputs,)
    assert p["W_out"].shape == (m.n_outputs, built.probe["activity"].shape[-1])
    assert m.initial_state(p).shape == (m.n_state,)
    assert set(m.weight_names(p)) <= set(p) and "W_out" in m.weight_names(p)


def test_same_key_same_params_other_key_other_params(built: Built) -> None:
    for k, v in built.population.items():
        assert v.shape == (3,) + built.params[k].shape, k
        np.testing.assert_array_equal(v[1], v[0])
    assert any(not np.array_equal(v[2], v[0]) for v in built.population.values())


def test_step_under_jit(built: Built) -> None:
    m, nxt = built.model, built.probe["step"]
    assert nxt.shape == (m.n_state,) and nxt.dtype == np.float32
    assert np.all(np.isfinite(nxt))
    assert not np.allclose(nxt, np.asarray(m.initial_state(built.params)))


def test_run_is_the_iterated_step_and_its_readout(built: Built) -> None:
    m, pr = built.model, built.probe
    assert pr["states"].shape == (B, T, m.n_state) and pr["states"].dtype == np.float32
    assert pr["outputs"].shape == (B, T, m.n_outputs) and pr["outputs"].dtype == np.float32
    assert np.all(np.isfinite(pr["outputs"]))
    np.testing.assert_allclose(pr["states"], pr["manual_states"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pr["outputs"], pr["readout"], rtol=1e-5, atol=1e-6)
    assert pr["activity"].shape == (B, T, built.params["W_out"].shape[1])


def test_run_from_given_initial_states(built: Built) -> None:
    pr = built.probe
    np.testing.assert_allclose(pr["from_s0"][:, 0], pr["first_from_s0"], rtol=1e-5, atol=1e-6)
    assert not np.allclose(pr["from_s0"], pr["states"])


def test_gradient_through_run_is_finite_and_reaches_the_recurrence(built: Built) -> None:
    m, grads = built.model, built.probe["grads"]
    assert set(grads) == set(built.params)
    for k, g in grads.items():
        assert g.shape == built.params[k].shape and np.all(np.isfinite(g)), k
    assert np.abs(grads["W_out"]).max() > 0
    recurrent = [k for k in m.weight_names(built.params) if k != "W_out"]
    assert any(np.abs(grads[k]).max() > 0 for k in recurrent), recurrent


def test_population_runs_under_vmap(built: Built) -> None:
    m, pr = built.model, built.probe
    assert pr["pop_states"].shape == (3, B, T, m.n_state)
    assert pr["pop_outputs"].shape == (3, B, T, m.n_outputs)
    np.testing.assert_allclose(pr["pop_outputs"][0], pr["outputs"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pr["pop_outputs"][1], pr["outputs"], rtol=1e-4, atol=1e-5)
    assert not np.allclose(pr["pop_outputs"][2], pr["outputs"])


def test_flow_is_the_step_increment_per_alpha(built: Built) -> None:
    m, pr = built.model, built.probe
    np.testing.assert_allclose(pr["flow"], (pr["flow_step"] - built.s0) / m.alpha, rtol=1e-4, atol=1e-4)
    if m.continuous:
        # A flow is a property of the ODE, not of its discretisation.
        np.testing.assert_allclose(pr["other_flow"], pr["flow"], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(pr["other_step"], built.s0 + OTHER_ALPHA * pr["flow"], rtol=1e-5, atol=1e-6)
    else:
        assert m.alpha == 1.0


def test_step_flow_and_readout_keep_float64(built: Built) -> None:
    """Fixed points are refined in float64: every function must follow the params' dtype (strict promotion)."""
    m = built.model
    with jax.enable_x64(True):
        p64 = {k: jnp.asarray(np.asarray(v), jnp.float64) for k, v in built.params.items()}
        s = jnp.asarray(built.s0[0], jnp.float64)
        x = jnp.asarray(built.inputs[0, 0], jnp.float64)
        nxt, f, y = jax.jit(lambda p, s, x: (m.step(p, s, x), m.flow(p, s, x), m.readout(p, s)))(p64, s, x)
        assert nxt.dtype == f.dtype == y.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(nxt), built.probe["flow_step"][0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(f), built.probe["flow"][0], rtol=1e-4, atol=1e-4)


def test_check_params_rejects_wrong_shapes_and_names(built: Built) -> None:
    m, p = built.model, built.params
    bad = dict(p, W_out=jnp.zeros((m.n_outputs + 1, p["W_out"].shape[1])))
    with pytest.raises(ShapeError, match=r"parameter 'W_out' must have shape \(3, \d+\), got \(4, \d+\)"):
        m.check_params(bad)
    missing = {k: v for k, v in p.items() if k != "h0"}
    with pytest.raises(ShapeError, match="parameters must be named"):
        m.check_params(missing)


def test_required_params_are_declared_and_earlier_names_are_upgraded(built: Built) -> None:
    m, p = built.model, built.params
    assert set(m.required_params) <= set(p)
    assert not set(m.renamed_params.values()) - set(p)  # every rename leads to a name init makes
    old = {next((a for a, b in m.renamed_params.items() if b == k), k): v for k, v in p.items()}
    assert m.upgrade_params(old).keys() == p.keys()
    m.check_params(m.upgrade_params(old))
    if m.renamed_params:
        with pytest.raises(ShapeError, match=r"names of an earlier release: model.upgrade_params"):
            m.check_params(old)


def test_the_non_gated_rate_models_share_one_naming_convention() -> None:
    for name in ("vanilla", "ctrnn", "dale", "lif", "alif", "modular"):
        p = jax.eval_shape(models.get(name, **SIZES).init, jax.random.key(0))
        assert {"W_out", "b_out", "h0", "b"} <= set(p), name
        assert any(k.startswith("W_rec") for k in p) and any(k.startswith("W_in") for k in p), name


def test_options_rebuild_the_same_model(built: Built) -> None:
    m = built.model
    assert models.get(m.name, **SIZES, **m.options()) == m


def test_traced_noise_std_runs_under_jit() -> None:
    m = models.get("vanilla", **SIZES)
    p = {k: jnp.full(v.shape, 0.1, v.dtype) for k, v in jax.eval_shape(m.init, jax.random.key(0)).items()}
    inputs = jnp.zeros((2, 3, SIZES["n_inputs"]))

    @jax.jit
    def both(std: jax.Array) -> tuple[jax.Array, jax.Array]:
        return m.run(p, inputs)[0], m.run(p, inputs, noise_key=jax.random.key(5), noise_std=std)[0]

    quiet, silent = both(jnp.float32(0.0))
    np.testing.assert_allclose(np.asarray(silent), np.asarray(quiet), atol=1e-7)
    _, noisy = both(jnp.float32(0.1))
    assert not np.allclose(np.asarray(noisy), np.asarray(quiet))
