"""How much memory training a population takes, and how much the device has: checked before compiling, so
that a population too large for the machine is refused in a second with the estimate and what to change,
instead of failing after the compile (XLA's RESOURCE_EXHAUSTED, or the kernel's OOM killer on a CPU)."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from dynascope.errors import ConfigError

#: Bytes per number: training runs in float32.
FLOAT_BYTES = 4
#: Copies of the parameters alive in one optimizer step besides the optimizer's moments: the parameters,
#: their gradients and the updated parameters.
PARAM_COPIES = 3
#: Moments the optimizer keeps per parameter (Adam: first and second; SGD: none).
MOMENTS = {"adam": 2, "sgd": 0}


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """The memory one training program needs, in bytes, by part (all networks of the population together).

    params: parameters, gradients, updated parameters and optimizer moments
    (`n_params · (PARAM_COPIES + MOMENTS[optimizer])` numbers per network).
    activations: what backpropagation through time keeps for every step of every trial: the values the
    backward pass of one step needs (counted from JAX's own linearization of `model.step`), the state and
    the output, plus the trial's inputs, targets and mask (`batch_size · n_time · per_step` per network).
    history: the loss history `[n_networks, steps]`.
    """

    n_networks: int
    n_params: int
    per_step: int
    params: int
    activations: int
    history: int

    @property
    def total(self) -> int:
        """Bytes of the whole program."""
        return self.params + self.activations + self.history


def step_residuals(model: Any) -> int:
    """Numbers the backward pass of one step of `model` keeps per trial: the batched leaves of the VJP of
    `model.step` with respect to the parameters and the state, traced abstractly (nothing is allocated or
    compiled). Leaves that do not grow with the batch (transposed weights) are hoisted out of the time
    loop by XLA and counted with the parameters instead."""
    batch = 2  # any size > 1 tells batched leaves from the others
    params = jax.eval_shape(model.init, jax.random.key(0))
    state = jax.ShapeDtypeStruct((batch, model.n_state), jnp.float32)
    x = jax.ShapeDtypeStruct((batch, model.n_inputs), jnp.float32)
    step = jax.vmap(model.step, in_axes=(None, 0, 0))

    def residuals(p: Any, s: jax.Array, u: jax.Array) -> list[jax.Array]:
        return jax.tree_util.tree_leaves(jax.vjp(lambda p, s: step(p, s, u), p, s)[1])

    leaves = jax.eval_shape(residuals, params, state, x)
    return sum(math.prod(leaf.shape[1:]) for leaf in leaves if leaf.shape[:1] == (batch,))


def estimate_training_memory(
    model: Any, n_networks: int, *, batch_size: int, n_time: int, n_outputs: int, steps: int, optimizer: str = "adam"
) -> MemoryEstimate:
    """Estimate the bytes `train_population` needs to train `n_networks` copies of `model` with trials of
    `batch_size × n_time` steps. It is a lower bound: measured at 0.8–1.0 of XLA's own memory analysis of
    the compiled program for the discrete-time and gated models, about 0.5 for the continuous-time ones
    (XLA keeps more of their Euler step), so refusing what exceeds it never refuses a program that fits.

    params `n_params · (3 + moments) · n_networks` numbers; activations
    `batch_size · n_time · (residuals + n_state + n_inputs + 3·n_outputs) · n_networks`; history
    `n_networks · steps`; 4 bytes each (float32).
    """
    n_params = sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(jax.eval_shape(model.init, jax.random.key(0))))
    # per step of a trial: the backward pass's residuals, the stored state and output, the input, target, mask
    per_step = step_residuals(model) + model.n_state + model.n_inputs + 3 * n_outputs
    copies = PARAM_COPIES + MOMENTS.get(optimizer, 2)
    return MemoryEstimate(
        n_networks=n_networks,
        n_params=n_params,
        per_step=per_step,
        params=FLOAT_BYTES * n_networks * n_params * copies,
        activations=FLOAT_BYTES * n_networks * batch_size * n_time * per_step,
        history=FLOAT_BYTES * n_networks * steps,
    )


def available_memory(device: Any = None) -> tuple[int | None, str]:
    """(bytes a program can use on `device` — default: JAX's first device —, where that number comes from).

    An accelerator reports its limit and use (`device.memory_stats()`: bytes_limit − bytes_in_use). On a
    CPU it is the machine's physical memory (`os.sysconf`: SC_PHYS_PAGES × SC_PAGE_SIZE), or the
    container's memory limit (cgroup v2 `memory.max`) where that is lower. None where neither is known.
    """
    device = device if device is not None else jax.devices()[0]
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)), f"{device.platform} device memory"
    if device.platform != "cpu":
        return None, f"{device.platform} device (no memory statistics)"
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None, "this machine (its memory size is unknown)"
    limit = _cgroup_limit()
    if limit is not None and limit < total:
        return limit, "the container's memory limit"
    return int(total), "this machine's memory"


def _cgroup_limit(path: Path = Path("/sys/fs/cgroup/memory.max")) -> int | None:
    """The cgroup v2 memory limit in bytes, or None (no limit, 'max', or no cgroup v2)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def check_training_memory(
    task: Any, model: Any, n_networks: int, steps: int, *, batch_size: int, optimizer: str = "adam",
    available: int | None = None, where: str | None = None,
) -> MemoryEstimate:
    """Estimate the training memory (`estimate_training_memory`) and raise ConfigError, with the estimate
    and what to change, when it exceeds the `available` bytes (default: `available_memory()`, described
    by `where`). Returns the estimate."""
    est = estimate_training_memory(
        model, n_networks, batch_size=batch_size, n_time=task.n_time, n_outputs=task.n_outputs, steps=steps,
        optimizer=optimizer,
    )
    if available is None:
        available, where = available_memory()
    if available is None or est.total <= available:
        return est
    raise ConfigError(
        f"training {n_networks} {model.name} network{'s' if n_networks != 1 else ''} of {model.n_hidden} units "
        f"needs about {_bytes(est.total)} of memory ({_bytes(est.params)} for {est.n_params:,} parameters per "
        f"network with their gradients and optimizer state, {_bytes(est.activations)} for backpropagation "
        f"through {task.n_time} steps × {batch_size} trials), but {where or 'the device'} has "
        f"{_bytes(available)}; train fewer networks at once (--n-networks), fewer units (--n-hidden, "
        "n_hidden) or fewer trials per step (--batch, batch_size)."
    )


def _bytes(n: float) -> str:
    """'1.2 GB' (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover  (the loop returns)
