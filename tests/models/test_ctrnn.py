"""Continuous-time rate networks (ctrnn, lowrank) against hand-written NumPy Euler steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import models

I, N, O = 3, 7, 2
NP_ACTIVATIONS = {
    "tanh": np.tanh,
    "relu": lambda v: np.maximum(v, 0.0),
    "softplus": lambda v: np.logaddexp(0.0, v),
}


def _normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (scale * rng.normal(size=shape)).astype(np.float32)


@pytest.mark.parametrize("activation", ["tanh", "relu", "softplus"])
def test_ctrnn_step_is_a_numpy_euler_step(activation: str) -> None:
    alpha = 0.2
    model = models.get("ctrnn", n_inputs=I, n_hidden=N, n_outputs=O, alpha=alpha, activation=activation)
    rng = np.random.default_rng(0)
    p = {
        "W_rec": _normal(rng, N, N, scale=1.5 / np.sqrt(N)),
        "W_in": _normal(rng, N, I),
        "b": _normal(rng, N, scale=0.3),
        "W_out": _normal(rng, O, N),
        "b_out": _normal(rng, O),
        "h0": _normal(rng, N),
    }
    model.check_params(p)
    x, u = _normal(rng, N), _normal(rng, I)
    phi = NP_ACTIVATIONS[activation]
    expected = x + alpha * (-x + p["W_rec"] @ phi(x) + p["W_in"] @ u + p["b"])
    params = {k: jnp.asarray(v) for k, v in p.items()}
    got = jax.jit(model.step)(params, jnp.asarray(x), jnp.asarray(u))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)
    # What is read out is the rate, not the current.
    np.testing.assert_allclose(
        np.asarray(model.readout(params, jnp.asarray(x))), p["W_out"] @ phi(x) + p["b_out"], rtol=1e-5, atol=1e-5
    )


def test_ctrnn_default_init_has_the_documented_gain() -> None:
    n = 300
    model = models.get("ctrnn", n_inputs=I, n_hidden=n, n_outputs=O)
    w = np.asarray(jax.jit(model.init)(jax.random.key(0))["W_rec"])
    # Entries N(0, g²/N) with g = 1.1: the std of N² samples is within 2 % of g/√N.
    assert model.gain == 1.1
    assert abs(w.std() * np.sqrt(n) - 1.1) < 0.02 * 1.1


def _lowrank_params(rng: np.random.Generator, rank: int, bulk: bool) -> dict[str, np.ndarray]:
    p = {
        "m": _normal(rng, N, rank),
        "n": _normal(rng, N, rank),
        "W_in": _normal(rng, N, I),
        "W_out": _normal(rng, O, N),
        "b_out": _normal(rng, O),
        "h0": _normal(rng, N),
    }
    if bulk:
        p["chi"] = _normal(rng, N, N)
    return p


@pytest.mark.parametrize("rank,bulk_gain", [(1, 0.0), (2, 0.8)])
def test_lowrank_connectivity_and_step(rank: int, bulk_gain: float) -> None:
    alpha = 0.3
    model = models.get(
        "lowrank", n_inputs=I, n_hidden=N, n_outputs=O, rank=rank, bulk_gain=bulk_gain, alpha=alpha
    )
    rng = np.random.default_rng(rank)
    p = _lowrank_params(rng, rank, bulk_gain > 0)
    model.check_params(p)
    j = p["m"] @ p["n"].T / N
    if bulk_gain > 0:
        j = j + bulk_gain * p["chi"] / np.sqrt(N)
    params = {k: jnp.asarray(v) for k, v in p.items()}
    np.testing.assert_allclose(np.asarray(model.effective_weights(params)), j, rtol=1e-5, atol=1e-6)
    if bulk_gain == 0:
        assert np.linalg.matrix_rank(np.asarray(model.effective_weights(params))) == rank

    x, u = _normal(rng, N), _normal(rng, I)
    expected = x + alpha * (-x + j @ np.tanh(x) + p["W_in"] @ u)
    got = jax.jit(model.step)(params, jnp.asarray(x), jnp.asarray(u))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("train_bulk", [False, True])
def test_lowrank_bulk_is_frozen_unless_asked(train_bulk: bool) -> None:
    model = models.get("lowrank", n_inputs=I, n_hidden=N, n_outputs=O, bulk_gain=1.0, train_bulk=train_bulk)
    p = {k: jnp.asarray(v) for k, v in _lowrank_params(np.random.default_rng(5), 1, True).items()}
    inputs = jnp.asarray(_normal(np.random.default_rng(6), 2, 4, I))

    def loss(params: models.Params) -> jax.Array:
        return jnp.sum(model.run(params, inputs)[1] ** 2)

    grads = jax.jit(jax.grad(loss))(p)
    chi_grad = float(jnp.abs(grads["chi"]).max())
    assert float(jnp.abs(grads["m"]).max()) > 0
    if train_bulk:
        assert chi_grad > 0 and "chi" in model.weight_names(p)
    else:
        assert chi_grad == 0.0 and "chi" not in model.weight_names(p)
        assert {"m", "n", "W_in", "W_out"} <= set(model.weight_names(p))
