"""UGRNN against its equations written out in NumPy, and the documented weight initialisations by their
defining properties (orthogonal: W Wᵀ = g² I; identity: g I; normal: entries of std g/√N)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import models

I, H, O = 3, 6, 2


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def test_ugrnn_step_is_collins_et_al_update_gate_cell() -> None:
    model = models.get("ugrnn", n_inputs=I, n_hidden=H, n_outputs=O)
    rng = np.random.default_rng(0)
    shapes = {"W_c": (H, H), "U_c": (H, I), "b_c": (H,), "W_g": (H, H), "U_g": (H, I), "b_g": (H,),
              "W_out": (O, H), "b_out": (O,), "h0": (H,)}
    p = {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    model.check_params(p)
    h, x = rng.uniform(-1, 1, H).astype(np.float32), rng.normal(size=I).astype(np.float32)
    c = np.tanh(p["W_c"] @ h + p["U_c"] @ x + p["b_c"])
    g = _sigmoid(p["W_g"] @ h + p["U_g"] @ x + p["b_g"])
    params = {k: jnp.asarray(v) for k, v in p.items()}
    got = jax.jit(model.step)(params, jnp.asarray(h), jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(got), g * h + (1.0 - g) * c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(model.readout(params, jnp.asarray(h))), p["W_out"] @ h + p["b_out"],
                               rtol=1e-5, atol=1e-6)


def test_ugrnn_gate_bias_starts_the_gate_open_towards_memory() -> None:
    params = models.get("ugrnn", n_inputs=I, n_hidden=H, n_outputs=O, gate_bias=2.0).init(jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(params["b_g"]), 2.0)
    np.testing.assert_array_equal(np.asarray(params["b_c"]), 0.0)


# (model, recurrent matrices) for every rate model with a `weight_init` option.
RECURRENT = {"vanilla": ("W_rec",), "ctrnn": ("W_rec",), "ugrnn": ("W_c", "W_g")}


@pytest.mark.parametrize("name", sorted(RECURRENT))
def test_orthogonal_init_is_gain_times_an_orthogonal_matrix(name: str) -> None:
    n, gain = 40, 0.9
    params = models.get(name, n_inputs=I, n_hidden=n, n_outputs=O, weight_init="orthogonal", gain=gain).init(
        jax.random.key(1)
    )
    for k in RECURRENT[name]:
        w = np.asarray(params[k], np.float64)
        np.testing.assert_allclose(w @ w.T, gain**2 * np.eye(n), atol=1e-5)
        np.testing.assert_allclose(np.abs(np.linalg.eigvals(w)), gain, atol=1e-5)  # every mode on the circle g
    if name == "ugrnn":
        assert not np.allclose(params["W_c"], params["W_g"])  # two independent draws


@pytest.mark.parametrize("name", ["vanilla", "ctrnn"])
def test_identity_init_is_the_irnn(name: str) -> None:
    model = models.get(name, n_inputs=I, n_hidden=H, n_outputs=O, weight_init="identity", gain=0.5,
                       **({"activation": "relu"} if name == "vanilla" else {}))
    np.testing.assert_array_equal(np.asarray(model.init(jax.random.key(2))["W_rec"]), 0.5 * np.eye(H))


@pytest.mark.parametrize("name", sorted(RECURRENT))
def test_normal_init_has_entries_of_std_gain_over_sqrt_n(name: str) -> None:
    n, gain = 300, 1.4
    params = models.get(name, n_inputs=I, n_hidden=n, n_outputs=O, gain=gain).init(jax.random.key(3))
    for k in RECURRENT[name]:
        w = np.asarray(params[k], np.float64)
        # N² = 90 000 draws: the sample std is within 1 % of g/√N (its standard error is ~0.24 %).
        assert abs(w.std() * np.sqrt(n) - gain) < 0.01 * gain and abs(w.mean()) < 3 * gain / n
