"""The FLOP count and helpers of benchmarks/gpu_scale.py, checked against a hand count, the dot products of
JAX's own program for a GRU training loss, XLA's cost analysis and SciPy's Hausdorff distance."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.distance import directed_hausdorff

from dynascope import models, tasks
from dynascope.train import masked_mse

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_scale.py"
_spec = importlib.util.spec_from_file_location("gpu_scale", _PATH)
gpu_scale = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_scale)


def test_one_unit_gru_by_hand() -> None:
    # H = I = O = 1, one trial of one step. Forward: W_ih x is a [3,1]@[1] product (6 FLOPs), W_hh h another
    # (6), the readout [1,1]@[1] (2): 14. Backward: dW_ih (6); dW_hh and dh (6 + 6); dW_out and dh (2 + 2): 22.
    assert gru_flops(1, 1, 1, 1, 1) == {"forward": 14, "backward": 22, "total": 36}
    # Linear in trials and time steps.
    assert gru_flops(1, 1, 1, 3, 5)["total"] == 36 * 15


def gru_flops(*args: int) -> dict[str, int]:
    return gpu_scale.gru_train_flops(*args)


@pytest.mark.parametrize("hidden, n_time, batch", [(5, 4, 2), (8, 3, 1)])
def test_count_matches_the_dots_of_jaxs_training_program(key, hidden: int, n_time: int, batch: int) -> None:
    task = tasks.get("flipflop", n_bits=3, n_time=n_time)
    model = models.get("gru", n_inputs=3, n_hidden=hidden, n_outputs=3)
    # Shapes are all a FLOP count needs: trace on abstract values (nothing runs or compiles).
    params = jax.eval_shape(model.init, key)
    trials = jax.eval_shape(lambda k: task.sample(k, batch), key)

    def loss(p, trials):
        _, outputs = model.run(p, trials.inputs)
        return masked_mse(outputs, trials)

    counted = gpu_scale.jaxpr_matmul_flops(jax.value_and_grad(loss), params, trials)
    assert counted == gru_flops(hidden, 3, 3, batch, n_time)["total"]
    # The forward pass alone is the forward part.
    assert gpu_scale.jaxpr_matmul_flops(loss, params, trials) == gru_flops(hidden, 3, 3, batch, n_time)["forward"]


def test_dot_convention_matches_xla_cost_analysis() -> None:
    a, b = jnp.ones((6, 5)), jnp.ones((5, 7))
    cost = jax.jit(jnp.matmul).lower(a, b).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    assert gpu_scale.jaxpr_matmul_flops(jnp.matmul, a, b) == 2 * 6 * 5 * 7 == int(cost["flops"])


def test_while_loops_are_refused() -> None:
    def loop(x):
        return jax.lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] @ c[1]), (0, x))[1]

    with pytest.raises(ValueError, match="trip count"):
        gpu_scale.jaxpr_matmul_flops(loop, jnp.eye(2))


def test_peak_table_and_override() -> None:
    assert gpu_scale.peak_tflops("NVIDIA H100 PCIe", "tensorfloat32") == 378.0
    assert gpu_scale.peak_tflops("NVIDIA H200", "BF16_BF16_F32") == 989.4
    assert gpu_scale.peak_tflops("NVIDIA H100 80GB HBM3", "float32") == 66.9
    assert gpu_scale.peak_tflops("cpu", "float32") is None
    assert gpu_scale.peak_tflops("cpu", "float32", override=1.5) == 1.5


def test_hausdorff_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 3)), rng.normal(size=(4, 3))
    want = max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0])
    assert gpu_scale.hausdorff(a, b) == pytest.approx(want, rel=1e-12)
    assert gpu_scale.hausdorff(a[:0], b[:0]) == 0.0
    assert gpu_scale.hausdorff(a, b[:0]) == np.inf
