"""How much memory training a population takes, checked against the memory budget (`dynascope._memory`)
before compiling: a population larger than the budget is trained in chunks of networks, and a network that
does not fit on its own is refused in a second with the estimate and what to change, instead of failing
after the compile (XLA's RESOURCE_EXHAUSTED, or the kernel's OOM killer on a CPU)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp

from dynascope._memory import Budget, available_memory, chunk_size, format_bytes, memory_budget
from dynascope.errors import ConfigError

__all__ = [
    "MemoryEstimate", "available_memory", "check_training_memory", "estimate_training_memory", "networks_per_chunk",
    "step_residuals",
]

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
    With `rule='eprop'`, the trial's inputs, targets and mask, plus the eligibility traces and state each
    trial carries (`eprop.trace_size`), which do not grow with the trial length. With `checkpoint_steps` K > 0
    (`train.remat`), the state at the start of each of the ⌈T/K⌉ chunks, the residuals and states of the one
    chunk being recomputed (K steps), and the inputs, targets, mask and outputs of every step.
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
    loop by XLA and counted with the parameters instead. A leaf narrower than float32 counts for its bytes
    (a boolean or int8 leaf, such as a spiking model's spikes kept as bits, is a quarter of a number)."""
    batch = 2  # any size > 1 tells batched leaves from the others
    params = jax.eval_shape(model.init, jax.random.key(0))
    state = jax.ShapeDtypeStruct((batch, model.n_state), jnp.float32)
    x = jax.ShapeDtypeStruct((batch, model.n_inputs), jnp.float32)
    step = jax.vmap(model.step, in_axes=(None, 0, 0))

    def residuals(p: Any, s: jax.Array, u: jax.Array) -> list[jax.Array]:
        return jax.tree_util.tree_leaves(jax.vjp(lambda p, s: step(p, s, u), p, s)[1])

    leaves = jax.eval_shape(residuals, params, state, x)
    nbytes = sum(math.prod(leaf.shape[1:]) * leaf.dtype.itemsize for leaf in leaves if leaf.shape[:1] == (batch,))
    return math.ceil(nbytes / FLOAT_BYTES)


def estimate_training_memory(
    model: Any, n_networks: int, *, batch_size: int, n_time: int, n_outputs: int, steps: int, optimizer: str = "adam",
    rule: str = "bptt", checkpoint_steps: int = 0,
) -> MemoryEstimate:
    """Estimate the bytes `train_population` needs to train `n_networks` copies of `model` with trials of
    `batch_size × n_time` steps. It is a lower bound of XLA's own memory analysis of the compiled program
    (closer for the discrete-time and gated models than for the continuous-time ones, whose Euler step XLA
    keeps more of; the ratios are in benchmarks/RESULTS.md §12), so refusing what exceeds it never refuses
    a program that fits.

    params `n_params · (3 + moments) · n_networks` numbers; activations
    `batch_size · n_time · (residuals + n_state + n_inputs + 3·n_outputs) · n_networks`; history
    `n_networks · steps`; 4 bytes each (float32). With `rule='eprop'` (`dynascope.train.eprop`) the
    activations are `batch_size · (n_time · (n_inputs + 2·n_outputs) + trace_size(model)) · n_networks`. With
    `checkpoint_steps` K > 0 (`train.remat`) they are `batch_size · (⌈T/K⌉ · n_state + min(K, T) · (residuals +
    n_state) + T · (n_inputs + 3·n_outputs)) · n_networks`.
    """
    n_params = sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(jax.eval_shape(model.init, jax.random.key(0))))
    copies = PARAM_COPIES + MOMENTS.get(optimizer, 2)
    if rule == "eprop":
        from dynascope.train.eprop import trace_size

        # per trial: its inputs, targets and mask, and the traces carried from step to step (none stacked)
        per_trial = n_time * (model.n_inputs + 2 * n_outputs) + trace_size(model)
        return MemoryEstimate(
            n_networks=n_networks,
            n_params=n_params,
            per_step=model.n_inputs + 2 * n_outputs,
            params=FLOAT_BYTES * n_networks * n_params * copies,
            activations=FLOAT_BYTES * n_networks * batch_size * per_trial,
            history=FLOAT_BYTES * n_networks * steps,
        )
    # per step of a trial: the backward pass's residuals, the stored state and output, the input, target, mask
    per_step = step_residuals(model) + model.n_state + model.n_inputs + 3 * n_outputs
    if checkpoint_steps:
        k = min(checkpoint_steps, n_time)
        per_trial = (-(-n_time // k) * model.n_state + k * (step_residuals(model) + model.n_state)
                     + n_time * (model.n_inputs + 3 * n_outputs))
        return MemoryEstimate(
            n_networks=n_networks,
            n_params=n_params,
            per_step=per_step,
            params=FLOAT_BYTES * n_networks * n_params * copies,
            activations=FLOAT_BYTES * n_networks * batch_size * per_trial,
            history=FLOAT_BYTES * n_networks * steps,
        )
    return MemoryEstimate(
        n_networks=n_networks,
        n_params=n_params,
        per_step=per_step,
        params=FLOAT_BYTES * n_networks * n_params * copies,
        activations=FLOAT_BYTES * n_networks * batch_size * n_time * per_step,
        history=FLOAT_BYTES * n_networks * steps,
    )


def check_training_memory(
    task: Any, model: Any, n_networks: int, steps: int, *, batch_size: int, optimizer: str = "adam",
    budget: int | str | Budget | None = None, rule: str = "bptt", checkpoint_steps: int = 0,
) -> MemoryEstimate:
    """Estimate the memory of training `n_networks` networks (`estimate_training_memory`) and raise
    ConfigError, with the estimate and what to change, when ONE network exceeds the memory budget (default:
    `dynascope._memory.memory_budget()`: $DYNASCOPE_MEMORY_BUDGET, else the device's memory). More networks
    than fit at once are not refused: `train_population` trains them in chunks (`networks_per_chunk`).
    Returns the estimate for all `n_networks`. `rule` is the learning rule ('bptt' or 'eprop'),
    `checkpoint_steps` BPTT's checkpointing through time (0: none; `train.remat`)."""
    est = estimate_training_memory(
        model, n_networks, batch_size=batch_size, n_time=task.n_time, n_outputs=task.n_outputs, steps=steps,
        optimizer=optimizer, rule=rule, checkpoint_steps=checkpoint_steps,
    )
    limit = memory_budget(budget)
    one = est.total // n_networks  # every part of the estimate is proportional to the number of networks
    if limit.total is None or one <= limit.total:
        return est
    raise ConfigError(
        f"training one {model.name} network of {model.n_hidden} units needs about {format_bytes(one)} of memory "
        f"({format_bytes(est.params // n_networks)} for {est.n_params:,} parameters with their gradients and "
        f"optimizer state, {format_bytes(est.activations // n_networks)} for "
        + (f"e-prop's eligibility traces of {batch_size} trials" if rule == "eprop" else
           f"backpropagation through {task.n_time} steps × {batch_size} trials"
           + (f" checkpointed every {checkpoint_steps} steps" if checkpoint_steps else ""))
        + f"), but {limit.where} is {format_bytes(limit.total)}; use fewer "
        f"units (--n-hidden, n_hidden) or fewer trials per step (--batch, batch_size)"
        # Checkpointing is suggested only where it helps: when the trial's activations are most of the estimate.
        + ("" if rule == "eprop" or checkpoint_steps or 2 * est.activations < est.total else
           ", checkpoint through time (--checkpoint-steps, checkpoint_steps, e.g. "
           f"{max(1, round(task.n_time ** 0.5))})")
        + _sparse_advice(model, est)
        + (", or raise the budget." if limit.given else ".")
    )


def _sparse_advice(model: Any, est: MemoryEstimate) -> str:
    """For a spiking network whose parameters are most of the estimate: storing the recurrent weights sparse
    (`sparse`), or with fewer inputs per neuron when they are."""
    if getattr(model, "name", None) not in ("lif", "alif") or 2 * est.params < est.total:
        return ""
    if model.sparse:
        return ", or give each neuron fewer inputs (a lower --model-opt connectivity)"
    return ", or store the recurrent weights sparse (--model-opt connectivity=0.01 --model-opt sparse=true)"


def networks_per_chunk(
    task: Any, model: Any, n_networks: int, steps: int, *, batch_size: int, optimizer: str = "adam",
    budget: int | str | Budget | None = None, rule: str = "bptt", checkpoint_steps: int = 0,
) -> int:
    """How many of `n_networks` networks one training program takes: as many as fit in the memory budget's
    usable share (`dynascope._memory.chunk_size` over the per-network estimate), at least 1."""
    est = estimate_training_memory(
        model, 1, batch_size=batch_size, n_time=task.n_time, n_outputs=task.n_outputs, steps=steps,
        optimizer=optimizer, rule=rule, checkpoint_steps=checkpoint_steps,
    )
    return chunk_size(est.total, n_networks, budget)
