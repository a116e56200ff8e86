"""Import trained PyTorch recurrent modules (RNN, GRU, LSTM and their Cells) as dynascope models."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from dynascope.errors import ConfigError, check_positive_int
from dynascope.models._base import Model, Params

SUPPORTED = "torch.nn.RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell"


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as err:
        raise ConfigError(
            "from_torch needs PyTorch, which is not installed; install it with "
            "pip install 'dynascope[torch]' (or pip install torch)."
        ) from err
    return torch


def _array(tensor: Any) -> np.ndarray:
    """A float32 NumPy copy of a parameter on any device, dtype and memory layout.

    Detached, moved to the CPU and made contiguous *before* `.numpy()`, so CUDA tensors, tensors that
    require grad and strided views (transposed, sliced) all import the same way.
    """
    import torch

    return tensor.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy().copy()


def _describe(module: Any) -> tuple[str, str, Any]:
    """(architecture 'rnn_tanh' | 'rnn_relu' | 'gru' | 'lstm', parameter-name suffix, hidden size)."""
    torch = _import_torch()
    nn = torch.nn
    name = type(module).__name__
    if isinstance(module, nn.RNNBase):
        if module.num_layers != 1:
            raise ConfigError(
                f"from_torch imports single-layer modules only (v1), got {name} with num_layers="
                f"{module.num_layers}; a stacked network is not one map of a flat state. Import each layer "
                "as its own single-layer module, or train with num_layers=1."
            )
        if module.bidirectional:
            raise ConfigError(
                f"from_torch cannot import a bidirectional {name} (bidirectional=True): a network that "
                "also runs backwards in time is not a recurrent map F(state, x). Use bidirectional=False."
            )
        if getattr(module, "proj_size", 0):
            raise ConfigError(
                f"from_torch cannot import an LSTM with proj_size={module.proj_size} (projected hidden "
                "state) in v1; use proj_size=0."
            )
        kinds = {"RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu", "GRU": "gru", "LSTM": "lstm"}
        return kinds[module.mode], "_l0", module.hidden_size
    if isinstance(module, nn.LSTMCell):
        return "lstm", "", module.hidden_size
    if isinstance(module, nn.GRUCell):
        return "gru", "", module.hidden_size
    if isinstance(module, nn.RNNCell):
        return f"rnn_{module.nonlinearity}", "", module.hidden_size
    raise ConfigError(f"from_torch expects a {SUPPORTED} module, got {name}.")


def _readout(readout: Any, n_outputs: int | None, hidden: int) -> tuple[np.ndarray, np.ndarray]:
    torch = _import_torch()
    if readout is None:
        n = 1 if n_outputs is None else check_positive_int("n_outputs", n_outputs)
        return np.zeros((n, hidden), np.float32), np.zeros(n, np.float32)
    if not isinstance(readout, torch.nn.Linear) or readout.in_features != hidden:
        got = type(readout).__name__
        if isinstance(readout, torch.nn.Linear):
            got += f" with in_features={readout.in_features}"
        raise ConfigError(
            f"readout must be a torch.nn.Linear with in_features={hidden} (the hidden size), got {got}."
        )
    if n_outputs is not None and n_outputs != readout.out_features:
        raise ConfigError(
            f"n_outputs={n_outputs} contradicts readout.out_features={readout.out_features}; leave "
            "n_outputs out when a readout is given."
        )
    bias = _array(readout.bias) if readout.bias is not None else np.zeros(readout.out_features, np.float32)
    return _array(readout.weight), bias


def from_torch(module: Any, *, readout: Any = None, n_outputs: int | None = None) -> tuple[Model, Params]:
    """A dynascope (model, params) whose `step` is exactly the PyTorch module's one-step update.

    Supported: `torch.nn.RNN` (tanh or relu) -> 'vanilla' with W = weight_hh, U = weight_ih and
    b = bias_ih + bias_hh (PyTorch's h' = φ(W_ih x + b_ih + W_hh h + b_hh)); `torch.nn.GRU` -> 'gru'
    and `torch.nn.LSTM` -> 'lstm' (same parameter names, layouts and gate orders: GRU r, z, n; LSTM
    i, f, g, o; the LSTM state is concat(h, c)); and the Cell versions `RNNCell`, `GRUCell`,
    `LSTMCell`. Single layer, unidirectional, no LSTM projection: other configurations raise
    ConfigError. `dropout` acts only between stacked layers, so with one layer it changes nothing
    and is accepted; `batch_first` only changes how inputs are laid out, not the map.

    Parameters are copied as float32 from any device and memory layout (detached, on the CPU,
    contiguous). Modules without biases (`bias=False`) get zero biases.

    Args:
        module: the PyTorch recurrent module.
        readout: optional `torch.nn.Linear(hidden_size, O)` whose weight `[O, H]` and bias `[O]` become
            `W_out`, `b_out`. Without it the readout is zero with `n_outputs` rows (default 1): the
            dynamics (fixed points, cycles) do not depend on it.
        n_outputs: number of outputs when no readout is given.

    Returns: (model, params); `params["h0"]` is zeros (PyTorch's default initial state).
    """
    from dynascope.models.gru import GRU
    from dynascope.models.lstm import LSTM
    from dynascope.models.vanilla import Vanilla

    kind, suffix, hidden = _describe(module)
    w_out, b_out = _readout(readout, n_outputs, hidden)
    weight_ih = _array(getattr(module, "weight_ih" + suffix))
    weight_hh = _array(getattr(module, "weight_hh" + suffix))
    if getattr(module, "bias", True) is False or getattr(module, "bias_ih" + suffix, None) is None:
        bias_ih = bias_hh = np.zeros(weight_ih.shape[0], np.float32)
    else:
        bias_ih, bias_hh = _array(getattr(module, "bias_ih" + suffix)), _array(getattr(module, "bias_hh" + suffix))
    sizes = dict(n_inputs=weight_ih.shape[1], n_hidden=hidden, n_outputs=w_out.shape[0])
    common = {"W_out": jnp.asarray(w_out), "b_out": jnp.asarray(b_out)}
    if kind.startswith("rnn"):
        model: Model = Vanilla(**sizes, activation=kind[4:])
        params = {"W_rec": weight_hh, "W_in": weight_ih, "b": bias_ih + bias_hh, "h0": np.zeros(hidden, np.float32)}
    else:
        model = GRU(**sizes) if kind == "gru" else LSTM(**sizes, forget_bias=0.0)
        params = {"weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": bias_ih, "bias_hh": bias_hh}
        params["h0"] = np.zeros(model.n_state, np.float32)
    model.validate()
    params = {k: jnp.asarray(v) for k, v in params.items()} | common
    model.check_params(params)
    return model, params
