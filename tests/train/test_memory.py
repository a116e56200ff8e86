"""The training-memory estimate: a hand count for a small vanilla network, XLA's own memory analysis of the
compiled program for a GRU, the machine's memory from /proc/meminfo, and the refusal message (of a network
too large on its own: larger populations are trained in chunks, tests/test_memory_budget.py)."""

from __future__ import annotations

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from dynascope import models, tasks
from dynascope.errors import ConfigError
from dynascope.memory import Budget
from dynascope.train import population, train_population
from dynascope.train.memory import available_memory, check_training_memory, estimate_training_memory, step_residuals
from dynascope.train.options import TrainOptions


def test_estimate_of_a_vanilla_network_matches_a_hand_count():
    model = models.get("vanilla", n_inputs=2, n_hidden=4, n_outputs=2)
    # Parameters: W 4×4, U 4×2, b 4, W_out 2×4, b_out 2, h0 4.
    n_params = 16 + 8 + 4 + 8 + 2 + 4
    # Backward pass of h' = tanh(W h + U x + b), per trial and step: h and x (for the weight gradients),
    # y = h' and 1 − y (tanh' = (1 − y)(1 + y)).
    residuals = 4 + 2 + 4 + 4
    assert step_residuals(model) == residuals
    est = estimate_training_memory(model, 3, batch_size=5, n_time=7, n_outputs=2, steps=11, optimizer="adam")
    assert est.n_params == n_params
    # Adam: parameters, gradients, updated parameters and two moments = 5 copies, 4 bytes each, 3 networks.
    assert est.params == 4 * 3 * n_params * 5 == 2520
    # Per step of a trial: residuals, the stored state (4) and output (2), the input (2), target (2), mask (2).
    assert est.per_step == residuals + 4 + 2 + 2 + 2 + 2 == 26
    assert est.activations == 4 * 3 * 5 * 7 * 26 == 10920
    assert est.history == 4 * 3 * 11
    assert est.total == 2520 + 10920 + 132
    sgd = estimate_training_memory(model, 3, batch_size=5, n_time=7, n_outputs=2, steps=11, optimizer="sgd")
    assert sgd.params == 4 * 3 * n_params * 3  # no moments


def test_estimate_is_a_lower_bound_close_to_what_xla_allocates():
    task = tasks.get("flipflop", n_bits=3, n_time=32)
    model = models.get("gru", n_inputs=3, n_hidden=48, n_outputs=3)
    n, steps, opts = 3, 50, TrainOptions(batch_size=16)
    keys = jax.random.split(jax.random.key(0), n)
    params = jax.eval_shape(jax.vmap(model.init), keys)
    opt_state = jax.eval_shape(jax.vmap(population._optimizer(opts).init), params)
    state = population._State(
        jax.ShapeDtypeStruct((), jnp.int32), params, opt_state, jax.ShapeDtypeStruct((n,), bool),
        jax.ShapeDtypeStruct((n,), jnp.int32), None)
    scalar, per_net = jax.ShapeDtypeStruct((), jnp.float32), jax.ShapeDtypeStruct((n,), jnp.float32)
    # Arguments: the state (its loss history stays on the host), the first losses, keys, learning rates and
    # the zero-output baseline.
    compiled = population._build_chunk(task, model, opts, 5).lower(state, per_net, keys, per_net, scalar).compile()
    xla = compiled.memory_analysis()
    actual = xla.temp_size_in_bytes + xla.argument_size_in_bytes
    est = estimate_training_memory(model, n, batch_size=16, n_time=32, n_outputs=3, steps=steps)
    assert 0.7 * actual <= est.total <= actual, (est.total, actual)


def test_available_memory_of_the_cpu_is_the_machine_or_its_container_limit():
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total = int(next(line for line in meminfo if line.startswith("MemTotal:")).split()[1]) * 1024
    limit_file = Path("/sys/fs/cgroup/memory.max")
    limit = limit_file.read_text().strip() if limit_file.exists() else "max"
    expected = min(total, int(limit)) if limit.isdigit() else total
    got, where = available_memory(jax.devices("cpu")[0])
    assert got == expected and ("container" in where if got < total else "machine" in where)


def test_a_network_too_large_is_refused_with_the_estimate_and_the_fix():
    task = tasks.get("flipflop", n_bits=3)
    model = models.get("gru", n_inputs=3, n_hidden=100_000, n_outputs=3)
    # weight_hh 3H×H, weight_ih 3H×3, bias_hh and bias_ih 3H each, h0 H, W_out 3×H, b_out 3: 3H² + 19H + 3
    # parameters, × 4 bytes × 5 copies (Adam) = 600 GB for ONE network, before the activations: more
    # networks would be trained in chunks, but one that does not fit alone is refused.
    h = 100_000
    n_params = 3 * h**2 + 19 * h + 3
    machine = Budget(64 * 10**9, "this machine's memory", given=False)
    with pytest.raises(ConfigError) as err:
        check_training_memory(task, model, 10, 2000, batch_size=128, budget=machine)
    text = str(err.value)
    assert "\n" not in text
    assert re.match(r"training one gru network of 100000 units needs about 6\d\d\.\d GB of memory \(600\.0 GB for "
                    f"{n_params:,} parameters with their gradients and optimizer state", text), text
    assert 4 * n_params * 5 == pytest.approx(600.0e9, rel=1e-3)
    assert text.endswith("but this machine's memory is 64.0 GB; use fewer units (--n-hidden, n_hidden) or fewer "
                         "trials per step (--batch, batch_size).")
    with pytest.raises(ConfigError, match=r"but the memory budget \(memory_budget=\) is 64.0 GB; .*, or raise the budget\.$"):
        check_training_memory(task, model, 10, 2000, batch_size=128, budget="64GB")
    small = models.get("gru", n_inputs=3, n_hidden=8, n_outputs=3)
    est = check_training_memory(task, small, 2, 10, batch_size=4, budget=10**9)
    # A population larger than the budget is not refused: it is estimated whole, and trained in chunks.
    assert check_training_memory(task, small, 2, 10, batch_size=4, budget=est.total // 2) == est


def test_a_spiking_network_too_large_to_train_is_told_to_store_its_weights_sparse():
    """100 000 dense LIF neurons: the H² copies are most of the estimate, so the refusal suggests sparse storage;
    stored sparse and still too large, it suggests fewer inputs per neuron."""
    task = tasks.get("flipflop", n_bits=2, n_time=20)
    machine = Budget(24 * 2**30, "this machine's memory", given=False)
    dense = models.get("lif", n_inputs=2, n_hidden=100_000, n_outputs=2)
    with pytest.raises(ConfigError, match=r", or store the recurrent weights sparse \(--model-opt connectivity=0\.01 "
                                          r"--model-opt sparse=true\)\.$"):
        check_training_memory(task, dense, 1, 10, batch_size=2, budget=machine)
    sparse = models.get("lif", n_inputs=2, n_hidden=100_000, n_outputs=2, connectivity=0.5, sparse=True)
    with pytest.raises(ConfigError, match=r", or give each neuron fewer inputs \(a lower --model-opt connectivity\)\.$"):
        check_training_memory(task, sparse, 1, 10, batch_size=2, budget=machine)
    # 1 % connectivity fits: the advice leads somewhere.
    fits = models.get("lif", n_inputs=2, n_hidden=100_000, n_outputs=2, connectivity=0.01, sparse=True)
    assert check_training_memory(task, fits, 1, 10, batch_size=2, budget=machine).total < machine.total


def test_train_population_checks_memory_before_compiling(key):
    task = tasks.get("flipflop", n_bits=2, n_time=8)
    model = models.get("vanilla", n_inputs=2, n_hidden=200_000, n_outputs=2)
    with pytest.raises(ConfigError, match=r"training one vanilla network of 200000 units needs about"):
        train_population(task, model, 4, 10, key, batch_size=8)


def test_run_sweep_refuses_before_creating_the_folder(tmp_path):
    # The Python sweep checks memory with the other options, so a refused run leaves nothing behind.
    from dynascope.pipeline import SweepConfig, run_sweep

    config = SweepConfig(task="flipflop", archs=("vanilla",), n_hidden=(200_000,), n_networks=4, steps=10)
    with pytest.raises(ConfigError, match=r"training one vanilla network of 200000 units needs about"):
        run_sweep(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
