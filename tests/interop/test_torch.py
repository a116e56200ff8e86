"""Imported PyTorch modules reproduce PyTorch's own trajectories; unsupported configurations are refused."""

from __future__ import annotations

import sys

import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dynascope.errors import ConfigError  # noqa: E402
from dynascope.interop import from_torch  # noqa: E402

N_IN, HIDDEN, BATCH, T = 3, 5, 2, 7


def make_noncontiguous(module: torch.nn.Module) -> torch.nn.Module:
    """Replace every parameter by a strided view (transposed twice, or a slice) holding the same values."""
    for name, p in list(module.named_parameters()):
        data = p.detach()
        view = data.t().contiguous().t() if data.ndim == 2 else torch.stack([data, data], dim=1)[:, 0]
        setattr(module, name, torch.nn.Parameter(view))
        assert not getattr(module, name).is_contiguous()
    return module


def torch_trajectory(module, inputs: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor):
    """PyTorch's states `[B, T, ·]` (an LSTM's sequence output holds only h: its last c comes second)."""
    with torch.no_grad():
        if isinstance(module, torch.nn.RNNBase):
            x = inputs if module.batch_first else inputs.transpose(0, 1)
            hx = (h0[None], c0[None]) if isinstance(module, torch.nn.LSTM) else h0[None]
            out, last = module(x, hx)
            out = out if module.batch_first else out.transpose(0, 1)
            return out.numpy(), last[1][0].numpy() if isinstance(module, torch.nn.LSTM) else None
        states, h, c = [], h0, c0
        for t in range(inputs.shape[1]):
            if isinstance(module, torch.nn.LSTMCell):
                h, c = module(inputs[:, t], (h, c))
                states.append(torch.cat([h, c], -1))
            else:
                h = module(inputs[:, t], h)
                states.append(h)
        return torch.stack(states, 1).numpy(), None


MODULES = {
    "rnn_tanh_batch_first": lambda: torch.nn.RNN(N_IN, HIDDEN, batch_first=True),
    "rnn_relu_seq_first": lambda: torch.nn.RNN(N_IN, HIDDEN, nonlinearity="relu"),
    "gru_seq_first": lambda: torch.nn.GRU(N_IN, HIDDEN),
    "lstm_batch_first": lambda: torch.nn.LSTM(N_IN, HIDDEN, batch_first=True),
    "gru_no_bias_batch_first": lambda: torch.nn.GRU(N_IN, HIDDEN, bias=False, batch_first=True),
    "rnn_cell_relu": lambda: torch.nn.RNNCell(N_IN, HIDDEN, nonlinearity="relu"),
    "gru_cell": lambda: torch.nn.GRUCell(N_IN, HIDDEN),
    "lstm_cell": lambda: torch.nn.LSTMCell(N_IN, HIDDEN),
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imported_model_reproduces_torch_trajectories(name):
    torch.manual_seed(0)
    module = make_noncontiguous(MODULES[name]())
    inputs, h0, c0 = torch.randn(BATCH, T, N_IN), torch.randn(BATCH, HIDDEN), torch.randn(BATCH, HIDDEN)
    expected, c_last = torch_trajectory(module, inputs, h0, c0)
    model, params = from_torch(module)
    is_lstm = "lstm" in name
    start = torch.cat([h0, c0], -1) if is_lstm else h0
    assert model.name == ("lstm" if is_lstm else "gru" if "gru" in name else "vanilla")
    states, outputs = model.run(params, jnp.asarray(inputs.numpy()), initial_states=jnp.asarray(start.numpy()))
    states = np.asarray(states)
    assert states.shape == (BATCH, T, 2 * HIDDEN if is_lstm else HIDDEN)
    np.testing.assert_allclose(states[..., : expected.shape[-1]], expected, atol=1e-5)
    if c_last is not None:
        np.testing.assert_allclose(states[:, -1, HIDDEN:], c_last, atol=1e-5)
    assert outputs.shape == (BATCH, T, 1) and not np.asarray(outputs).any()  # the default zero readout


def test_readout_linear_becomes_w_out_and_b_out():
    torch.manual_seed(1)
    module, readout = torch.nn.LSTM(N_IN, HIDDEN, batch_first=True), torch.nn.Linear(HIDDEN, 2)
    inputs = torch.randn(BATCH, T, N_IN)
    model, params = from_torch(module, readout=readout)
    with torch.no_grad():
        expected = readout(module(inputs)[0]).numpy()
    _, outputs = model.run(params, jnp.asarray(inputs.numpy()))
    assert model.n_outputs == 2
    np.testing.assert_allclose(np.asarray(outputs), expected, atol=1e-5)
    model, params = from_torch(torch.nn.GRUCell(N_IN, HIDDEN), n_outputs=4)
    assert params["W_out"].shape == (4, HIDDEN) and params["b_out"].shape == (4,)


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (lambda: torch.nn.GRU(N_IN, HIDDEN, num_layers=2), r"single-layer modules only \(v1\), got GRU with num_layers=2"),
        (lambda: torch.nn.RNN(N_IN, HIDDEN, bidirectional=True), r"cannot import a bidirectional RNN"),
        (lambda: torch.nn.LSTM(N_IN, HIDDEN, proj_size=2), r"LSTM with proj_size=2.*use proj_size=0"),
        (lambda: torch.nn.Linear(N_IN, HIDDEN), r"expects a torch.nn.RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell module, got Linear"),
    ],
)
def test_unsupported_modules_are_refused_with_a_reason(module, message):
    with pytest.raises(ConfigError, match=message):
        from_torch(module())


def test_bad_readout_and_missing_torch_messages(monkeypatch):
    rnn = torch.nn.RNN(N_IN, HIDDEN)
    with pytest.raises(ConfigError, match=r"readout must be a torch.nn.Linear with in_features=5 \(the hidden size\), got Linear with in_features=4"):
        from_torch(rnn, readout=torch.nn.Linear(4, 2))
    with pytest.raises(ConfigError, match=r"n_outputs=3 contradicts readout.out_features=2"):
        from_torch(rnn, readout=torch.nn.Linear(HIDDEN, 2), n_outputs=3)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ConfigError, match=r"from_torch needs PyTorch.*pip install 'dynascope\[torch\]'"):
        from_torch(rnn)
