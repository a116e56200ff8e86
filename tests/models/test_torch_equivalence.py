"""GRU and LSTM against PyTorch's cells and sequence modules, given the same weights."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import models

torch = pytest.importorskip("torch")

I, H, O, B, T = 3, 5, 2, 4, 20
ATOL = 1e-5


def _params_from(cell: "torch.nn.Module", n_state: int, *, suffix: str = "") -> models.Params:
    """Our params from a torch cell's (or layer-0 module's) weights, plus an arbitrary readout."""
    rng = np.random.default_rng(0)
    p = {
        name: jnp.asarray(getattr(cell, name + suffix).detach().numpy())
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    }
    p["W_out"] = jnp.asarray(rng.normal(size=(O, H)).astype(np.float32))
    p["b_out"] = jnp.asarray(rng.normal(size=(O,)).astype(np.float32))
    p["h0"] = jnp.zeros(n_state, jnp.float32)
    return p


def _inputs_and_state(n_state: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(B, T, I)).astype(np.float32)
    s0 = rng.uniform(-0.9, 0.9, size=(B, n_state)).astype(np.float32)
    return x, s0


def test_gru_matches_torch_grucell_and_gru() -> None:
    torch.manual_seed(0)
    model = models.get("gru", n_inputs=I, n_hidden=H, n_outputs=O)
    cell = torch.nn.GRUCell(I, H)
    params = _params_from(cell, H)
    model.check_params(params)
    x, h0 = _inputs_and_state(H)

    # One step.
    with torch.no_grad():
        ref = cell(torch.from_numpy(x[:, 0]), torch.from_numpy(h0)).numpy()
    ours = jax.vmap(model.step, in_axes=(None, 0, 0))(params, jnp.asarray(h0), jnp.asarray(x[:, 0]))
    np.testing.assert_allclose(np.asarray(ours), ref, atol=ATOL)

    # A 20-step run, cell by cell.
    states, outputs = jax.jit(model.run)(params, jnp.asarray(x), initial_states=jnp.asarray(h0))
    h = torch.from_numpy(h0)
    refs = []
    with torch.no_grad():
        for t in range(T):
            h = cell(torch.from_numpy(x[:, t]), h)
            refs.append(h.numpy())
    ref_states = np.stack(refs, axis=1)
    np.testing.assert_allclose(np.asarray(states), ref_states, atol=ATOL)
    w_out, b_out = np.asarray(params["W_out"]), np.asarray(params["b_out"])
    np.testing.assert_allclose(np.asarray(outputs), ref_states @ w_out.T + b_out, atol=ATOL)

    # The full-sequence module (batch_first) with weights of its own.
    gru = torch.nn.GRU(I, H, batch_first=True)
    seq_params = _params_from(gru, H, suffix="_l0")
    with torch.no_grad():
        seq, h_last = gru(torch.from_numpy(x), torch.from_numpy(h0)[None])
    seq_states, _ = jax.jit(model.run)(seq_params, jnp.asarray(x), initial_states=jnp.asarray(h0))
    np.testing.assert_allclose(np.asarray(seq_states), seq.numpy(), atol=ATOL)
    np.testing.assert_allclose(np.asarray(seq_states[:, -1]), h_last[0].numpy(), atol=ATOL)


def test_lstm_matches_torch_lstmcell_and_lstm() -> None:
    torch.manual_seed(1)
    model = models.get("lstm", n_inputs=I, n_hidden=H, n_outputs=O)
    cell = torch.nn.LSTMCell(I, H)
    params = _params_from(cell, 2 * H)
    model.check_params(params)
    x, s0 = _inputs_and_state(2 * H)
    h0, c0 = s0[:, :H], s0[:, H:]

    # One step: our state is concat(h, c).
    with torch.no_grad():
        h1, c1 = cell(torch.from_numpy(x[:, 0]), (torch.from_numpy(h0), torch.from_numpy(c0)))
    ours = jax.vmap(model.step, in_axes=(None, 0, 0))(params, jnp.asarray(s0), jnp.asarray(x[:, 0]))
    np.testing.assert_allclose(np.asarray(ours[:, :H]), h1.numpy(), atol=ATOL)
    np.testing.assert_allclose(np.asarray(ours[:, H:]), c1.numpy(), atol=ATOL)

    # A 20-step run, cell by cell; outputs read h only.
    states, outputs = jax.jit(model.run)(params, jnp.asarray(x), initial_states=jnp.asarray(s0))
    hc = (torch.from_numpy(h0), torch.from_numpy(c0))
    hs, cs = [], []
    with torch.no_grad():
        for t in range(T):
            hc = cell(torch.from_numpy(x[:, t]), hc)
            hs.append(hc[0].numpy())
            cs.append(hc[1].numpy())
    ref_h, ref_c = np.stack(hs, axis=1), np.stack(cs, axis=1)
    np.testing.assert_allclose(np.asarray(states[..., :H]), ref_h, atol=ATOL)
    np.testing.assert_allclose(np.asarray(states[..., H:]), ref_c, atol=ATOL)
    np.testing.assert_allclose(np.asarray(model.activity(states)), ref_h, atol=ATOL)
    w_out, b_out = np.asarray(params["W_out"]), np.asarray(params["b_out"])
    np.testing.assert_allclose(np.asarray(outputs), ref_h @ w_out.T + b_out, atol=ATOL)

    # The full-sequence module (batch_first) with weights of its own.
    lstm = torch.nn.LSTM(I, H, batch_first=True)
    seq_params = _params_from(lstm, 2 * H, suffix="_l0")
    with torch.no_grad():
        seq, (h_last, c_last) = lstm(
            torch.from_numpy(x), (torch.from_numpy(h0)[None], torch.from_numpy(c0)[None])
        )
    seq_states, _ = jax.jit(model.run)(seq_params, jnp.asarray(x), initial_states=jnp.asarray(s0))
    np.testing.assert_allclose(np.asarray(seq_states[..., :H]), seq.numpy(), atol=ATOL)
    np.testing.assert_allclose(np.asarray(seq_states[:, -1, :H]), h_last[0].numpy(), atol=ATOL)
    np.testing.assert_allclose(np.asarray(seq_states[:, -1, H:]), c_last[0].numpy(), atol=ATOL)


def test_init_follows_torch_bounds() -> None:
    """Every torch-named parameter lies in U(−1/√H, 1/√H), apart from the documented forget-gate offset."""
    h = 16
    bound = 1 / np.sqrt(h)
    gru = jax.jit(models.get("gru", n_inputs=I, n_hidden=h, n_outputs=O).init)(jax.random.key(0))
    lstm_model = models.get("lstm", n_inputs=I, n_hidden=h, n_outputs=O, forget_bias=1.0)
    lstm = jax.jit(lstm_model.init)(jax.random.key(0))
    for p in (gru, lstm):
        for name in ("weight_ih", "weight_hh", "bias_hh"):
            v = np.asarray(p[name])
            assert np.all(np.abs(v) <= bound) and v.std() > bound / 3, name
    b = np.asarray(lstm["bias_ih"])
    forget = np.zeros(4 * h, bool)
    forget[h : 2 * h] = True
    assert np.all(np.abs(b[~forget]) <= bound)
    assert np.all(np.abs(b[forget] - 1.0) <= bound)
