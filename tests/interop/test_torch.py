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


def share_one_buffer(module: torch.nn.Module) -> torch.nn.Module:
    """Move every parameter into one flat buffer at a non-zero offset: the layout cuDNN's
    `flatten_parameters` gives a module on CUDA (each weight a view into a shared storage)."""
    named = list(module.named_parameters())
    buffer = torch.zeros(3 + sum(p.numel() for _, p in named))
    offset = 3
    with torch.no_grad():
        for name, p in named:
            view = buffer[offset : offset + p.numel()].view_as(p)
            view.copy_(p)
            setattr(module, name, torch.nn.Parameter(view))
            offset += p.numel()
    for _, p in module.named_parameters():
        assert p.storage_offset() > 0 and p.untyped_storage().data_ptr() == buffer.untyped_storage().data_ptr()
    return module


def in_float64(module: torch.nn.Module) -> torch.nn.Module:
    """The module in float64 (its parameters still require grad)."""
    return module.double()


LAYOUTS = {"strided": make_noncontiguous, "one_buffer": share_one_buffer, "float64": in_float64}


def strided_inputs(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """inputs [B, T, I], h0 and c0 [B, H] as non-contiguous views (transposes), the way sequence-first
    or CUDA-side code often hands them over."""
    inputs = torch.randn(T, BATCH, N_IN, dtype=dtype).transpose(0, 1)
    h0, c0 = torch.randn(HIDDEN, BATCH, dtype=dtype).t(), torch.randn(HIDDEN, BATCH, dtype=dtype).t()
    assert not (inputs.is_contiguous() or h0.is_contiguous() or c0.is_contiguous())
    return inputs, h0, c0


def torch_trajectory(module, inputs: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor):
    """PyTorch's states `[B, T, ·]` (an LSTM's sequence output holds only h: its last c comes second)."""
    with torch.no_grad():
        if isinstance(module, torch.nn.RNNBase):
            x = inputs if module.batch_first else inputs.transpose(0, 1)
            hx = (h0[None], c0[None]) if isinstance(module, torch.nn.LSTM) else h0[None]
            out, last = module(x, hx)
            out = out if module.batch_first else out.transpose(0, 1)
            return out.cpu().numpy(), last[1][0].cpu().numpy() if isinstance(module, torch.nn.LSTM) else None
        states, h, c = [], h0, c0
        for t in range(inputs.shape[1]):
            if isinstance(module, torch.nn.LSTMCell):
                h, c = module(inputs[:, t], (h, c))
                states.append(torch.cat([h, c], -1))
            else:
                h = module(inputs[:, t], h)
                states.append(h)
        return torch.stack(states, 1).cpu().numpy(), None


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


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", sorted(MODULES))
def test_imported_model_reproduces_torch_trajectories(name, layout):
    torch.manual_seed(0)
    module = LAYOUTS[layout](MODULES[name]())
    dtype = torch.float64 if layout == "float64" else torch.float32
    assert all(p.requires_grad and p.dtype == dtype for p in module.parameters())
    inputs, h0, c0 = strided_inputs(dtype)
    expected, c_last = torch_trajectory(module, inputs, h0, c0)
    model, params = from_torch(module)
    assert all(v.dtype == jnp.float32 for v in params.values())
    is_lstm = "lstm" in name
    start = torch.cat([h0, c0], -1) if is_lstm else h0
    assert model.name == ("lstm" if is_lstm else "gru" if "gru" in name else "vanilla")
    # The arrays a user has: NumPy views of the (non-contiguous) tensors.
    states, outputs = model.run(params, jnp.asarray(inputs.float().numpy()), initial_states=jnp.asarray(start.float().numpy()))
    states = np.asarray(states)
    assert states.shape == (BATCH, T, 2 * HIDDEN if is_lstm else HIDDEN)
    np.testing.assert_allclose(states[..., : expected.shape[-1]], expected, atol=1e-5)
    if c_last is not None:
        np.testing.assert_allclose(states[:, -1, HIDDEN:], c_last, atol=1e-5)
    assert outputs.shape == (BATCH, T, 1) and not np.asarray(outputs).any()  # the default zero readout


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: modules in cuDNN's flat layout")
@pytest.mark.parametrize("name", sorted(MODULES))
def test_cuda_module_imports_with_the_same_dynamics(name, monkeypatch):
    # cuDNN may use TF32 matmuls, whose ~1e-3 rounding is not a difference in the dynamics.
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    torch.manual_seed(0)
    module = MODULES[name]().cuda()
    inputs, h0, c0 = strided_inputs(torch.float32)
    # cuDNN refuses a non-contiguous hx ("hx is not contiguous"): hand it a contiguous copy on the device.
    expected, c_last = torch_trajectory(module, inputs.cuda(), h0.cuda().contiguous(), c0.cuda().contiguous())
    model, params = from_torch(module)
    start = torch.cat([h0, c0], -1) if "lstm" in name else h0
    states, _ = model.run(params, jnp.asarray(inputs.numpy()), initial_states=jnp.asarray(start.numpy()))
    states = np.asarray(states)
    np.testing.assert_allclose(states[..., : expected.shape[-1]], expected, atol=1e-5)
    if c_last is not None:
        np.testing.assert_allclose(states[:, -1, HIDDEN:], c_last, atol=1e-5)


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
