"""One training step of a recurrent LIF layer: dynascope (dense BPTT, checkpointed BPTT, e-prop) against snnTorch,
Norse and Spyx, in one process, on the same configuration.

Configuration (every framework): a recurrent current-based LIF layer of H neurons (membrane τ 20 ms, synaptic
τ 5 ms, dt 1 ms, threshold 1, subtractive reset, dense all-to-all recurrent weights), driven by a current
from a linear map of 100 input channels, read out by a linear layer to 10 outputs, MSE loss against random
targets; batch 16, T steps. One step = forward + backward (the gradient of every weight), no optimizer.

Time: best of `--repeats` after one warm-up call, each call synchronised (`jax.block_until_ready`; torch on
the CPU is synchronous). Memory: for JAX programs, XLA's memory analysis of the compiled (loss, gradient)
program (temporaries + arguments + outputs); for torch, the bytes of every tensor autograd saves for the
backward pass (`torch.autograd.graph.saved_tensors_hooks`, each storage counted once) plus the parameters and
their gradients — the same two parts. Both are what the program needs, not the process's RSS.

Also, per dynascope method, the largest H (multiple of 256) whose compiled gradient program fits in
`--budget-gib` at T (bisection over compiled programs, nothing is run).

    .venv/bin/pip install snntorch norse spyx      # benchmark-only dependencies (not dynascope's)
    XLA_FLAGS=--xla_cpu_multi_thread_eigen=false python benchmarks/snn_frameworks.py --hidden 1024,4096 --steps 500
    python benchmarks/snn_frameworks.py --hidden 256 --steps 50 --repeats 1     # a smoke run

Prints Markdown tables for benchmarks/RESULTS.md (section 16).
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from dynascope import models, tasks
from dynascope.tasks import Trials
from dynascope.train import TrainOptions, eprop_value_and_grad, masked_mse, run_checkpointed

N_IN, N_OUT, BATCH = 100, 10, 16
TAU_MEM, TAU_SYN, DT = 20.0, 5.0, 1.0
MiB = 2**20


def data(n_time: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = (rng.random((BATCH, n_time, N_IN)) < 0.05).astype(np.float32) * 5.0  # sparse input pulses
    targets = rng.standard_normal((BATCH, n_time, N_OUT)).astype(np.float32)
    return inputs, targets


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up (compiles JAX programs)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


# -- dynascope -------------------------------------------------------------------------------------------------
def dynascope_program(method: str, hidden: int, n_time: int, k: int):
    """(compiled program, its arguments) of one (loss, gradient) evaluation of `lif` by `method`."""
    model = models.get("lif", n_inputs=N_IN, n_hidden=hidden, n_outputs=N_OUT, tau_mem=TAU_MEM, tau_syn=TAU_SYN,
                       dt=DT)
    params = jax.eval_shape(model.init, jax.random.key(0))
    inputs = jax.ShapeDtypeStruct((BATCH, n_time, N_IN), jnp.float32)
    targets = jax.ShapeDtypeStruct((BATCH, n_time, N_OUT), jnp.float32)
    trials = Trials(inputs, targets, targets)
    key = jax.random.key(2)
    if method == "e-prop":
        # The task only tells e-prop that its loss is the default masked MSE (what `loss` below computes).
        fn = eprop_value_and_grad(tasks.get("flipflop", n_bits=N_OUT), model, TrainOptions(rule="eprop"))
    else:
        def loss(p, trials, key):
            if method == "dense BPTT":
                _, outputs = model.run(p, trials.inputs)
            else:
                outputs, _ = run_checkpointed(model, p, trials.inputs, checkpoint_steps=k)
            return masked_mse(outputs, trials)

        fn = jax.value_and_grad(loss)
    program = jax.jit(fn).lower(params, trials, key).compile()
    return program, model


def peak_bytes(program) -> int:
    s = program.memory_analysis()
    return s.temp_size_in_bytes + s.argument_size_in_bytes + s.output_size_in_bytes


def run_dynascope(method: str, hidden: int, n_time: int, k: int, repeats: int) -> tuple[float, int]:
    program, model = dynascope_program(method, hidden, n_time, k)
    params = model.init(jax.random.key(0))
    inputs, targets = data(n_time)
    trials = Trials(jnp.asarray(inputs), jnp.asarray(targets), jnp.ones_like(jnp.asarray(targets)))
    key = jax.random.key(2)
    seconds = best_of(lambda: jax.block_until_ready(program(params, trials, key)), repeats)
    return seconds, peak_bytes(program)


def largest_hidden(method: str, n_time: int, k: int, budget: int, top: int) -> tuple[int, int]:
    lo, hi = 0, top // 256
    peak = 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        program, _ = dynascope_program(method, 256 * mid, n_time, k)
        if peak_bytes(program) <= budget:
            lo, peak = mid, peak_bytes(program)
        else:
            hi = mid - 1
    return 256 * lo, peak


# -- torch frameworks ------------------------------------------------------------------------------------------
class SavedBytes:
    """Bytes of the distinct tensor storages autograd saves for the backward pass while active."""

    def __init__(self) -> None:
        self.storages: dict[int, int] = {}

    def pack(self, t):
        s = t.untyped_storage()
        self.storages[s.data_ptr()] = s.nbytes()
        return t

    @property
    def total(self) -> int:
        return sum(self.storages.values())


def torch_step(framework: str, hidden: int, n_time: int):
    """A closure running one forward + backward in `framework`, and its parameters."""
    import torch

    torch.manual_seed(0)
    alpha, beta = math.exp(-DT / TAU_SYN), math.exp(-DT / TAU_MEM)
    inputs, targets = data(n_time)
    x = torch.from_numpy(np.swapaxes(inputs, 0, 1).copy())  # [T, B, I]
    y = torch.from_numpy(np.swapaxes(targets, 0, 1).copy())
    readout = torch.nn.Linear(hidden, N_OUT)
    if framework == "snnTorch":
        import snntorch as snn

        w_in = torch.nn.Linear(N_IN, hidden)
        lif = snn.RSynaptic(alpha=alpha, beta=beta, linear_features=hidden, reset_mechanism="subtract")
        modules = [w_in, lif, readout]

        def forward():
            spk, syn, mem = lif.init_rsynaptic()
            outs = []
            for t in range(n_time):
                spk, syn, mem = lif(w_in(x[t]), spk, syn, mem)
                outs.append(readout(spk))
            return torch.stack(outs)
    else:
        import norse.torch as norse

        p = norse.LIFParameters(tau_syn_inv=torch.tensor(1000.0 / TAU_SYN), tau_mem_inv=torch.tensor(1000.0 / TAU_MEM),
                                v_th=torch.tensor(1.0))
        lif = norse.LIFRecurrent(N_IN, hidden, p=p, dt=DT / 1000.0)
        modules = [lif, readout]

        def forward():
            spikes, _ = lif(x)
            return readout(spikes)

    params = [q for m in modules for q in m.parameters()]

    def step(hooks: SavedBytes | None = None) -> None:
        for q in params:
            q.grad = None
        if hooks is None:
            loss = torch.nn.functional.mse_loss(forward(), y)
        else:
            with torch.autograd.graph.saved_tensors_hooks(hooks.pack, lambda t: t):
                loss = torch.nn.functional.mse_loss(forward(), y)
        loss.backward()

    return step, params


def run_torch(framework: str, hidden: int, n_time: int, repeats: int) -> tuple[float, int]:
    step, params = torch_step(framework, hidden, n_time)
    hooks = SavedBytes()
    step(hooks)
    param_bytes = 2 * sum(q.numel() * q.element_size() for q in params)  # values and gradients
    seconds = best_of(step, repeats)
    return seconds, hooks.total + param_bytes


# -- Spyx --------------------------------------------------------------------------------------------------------
def spyx_loss(hidden: int, inputs: np.ndarray, targets: np.ndarray):
    """Spyx's recurrent LIF layer on the shared configuration: (loss(state, x, y), its arguments (state, x, y))."""
    import spyx.nn as snn
    from flax import nnx

    rngs = nnx.Rngs(0)
    alpha, beta = math.exp(-DT / TAU_SYN), math.exp(-DT / TAU_MEM)
    net = (nnx.Linear(N_IN, hidden, rngs=rngs), snn.RCuBaLIF((hidden,), alpha=alpha, beta=beta, rngs=rngs),
           nnx.Linear(hidden, N_OUT, rngs=rngs))
    graphdef, state = nnx.split(net)

    def loss(state, x, y):
        w_in, lif, out = nnx.merge(graphdef, state)
        spikes, _ = snn.run(lif, jnp.einsum("tbi,hi->tbh", x, w_in.kernel[...].T), lif.initial_state(BATCH))
        return jnp.mean((out(spikes) - y) ** 2)

    x, y = jnp.asarray(np.swapaxes(inputs, 0, 1)), jnp.asarray(np.swapaxes(targets, 0, 1))
    return loss, (state, x, y)


def spyx_program(hidden: int, n_time: int):
    loss, args = spyx_loss(hidden, *data(n_time))
    program = jax.jit(jax.value_and_grad(loss)).lower(*args).compile()
    return program, args


def run_spyx(hidden: int, n_time: int, repeats: int) -> tuple[float, int]:
    program, args = spyx_program(hidden, n_time)
    seconds = best_of(lambda: jax.block_until_ready(program(*args)), repeats)
    return seconds, peak_bytes(program)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hidden", default="1024,4096")
    ap.add_argument("--steps", type=int, default=500, help="time steps T per trial")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--methods", default="dense BPTT,checkpointed BPTT,e-prop,snnTorch,Norse,Spyx")
    ap.add_argument("--eprop-max", type=int, default=1024, help="largest H e-prop is timed at (its traces are B·3·H²)")
    ap.add_argument("--budget-gib", type=float, default=8.0)
    ap.add_argument("--top", type=int, default=65536, help="largest H the bisection tries")
    ap.add_argument("--no-largest", action="store_true")
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="torch intra-op threads (on a loaded VM more threads than free cores make torch far slower; "
                         "run with XLA_FLAGS=--xla_cpu_multi_thread_eigen=false to give JAX one thread too)")
    args = ap.parse_args()
    n_time = args.steps
    k = max(1, round(math.sqrt(n_time)))
    methods = args.methods.split(",")
    import torch

    torch.set_num_threads(args.torch_threads)
    print(f"# {platform.node()} ({platform.machine()}, {jax.device_count()} {jax.devices()[0].platform} device), jax "
          f"{jax.__version__}, torch {torch.__version__}, {torch.get_num_threads()} torch threads; batch {BATCH}, "
          f"T={n_time}, {N_IN} inputs, {N_OUT} outputs; checkpointed BPTT with K={k}\n")
    print("| H | method | s / step | peak memory (MiB) | time vs snnTorch |")
    print("|---|---|---|---|---|")
    for hidden in (int(h) for h in args.hidden.split(",")):
        rows = []
        for method in methods:
            if method == "e-prop" and hidden > args.eprop_max:
                rows.append((method, None, None))
                continue
            if method in ("snnTorch", "Norse"):
                sec, mem = run_torch(method, hidden, n_time, args.repeats)
            elif method == "Spyx":
                sec, mem = run_spyx(hidden, n_time, args.repeats)
            else:
                sec, mem = run_dynascope(method, hidden, n_time, k, args.repeats)
            rows.append((method, sec, mem))
        ref = dict((m, s) for m, s, _ in rows).get("snnTorch")
        for method, sec, mem in rows:
            if sec is None:
                print(f"| {hidden} | {method} | not run (H > --eprop-max) | | |", flush=True)
                continue
            ratio = f"{ref / sec:.2f}× faster" if ref else ""
            print(f"| {hidden} | {method} | {sec:.3f} | {mem / MiB:.0f} | {ratio} |", flush=True)
    if args.no_largest:
        return
    budget = int(args.budget_gib * 2**30)
    print(f"\nLargest H (multiple of 256, up to {args.top}) whose compiled gradient program fits in {args.budget_gib} GiB "
          f"at T={n_time}, batch {BATCH}:\n")
    print("| method | largest H | XLA peak (MiB) |")
    print("|---|---|---|")
    for method in ("dense BPTT", "checkpointed BPTT", "e-prop"):
        h, peak = largest_hidden(method, n_time, k, budget, args.top)
        print(f"| {method} | {h} | {peak / MiB:.0f} |", flush=True)


if __name__ == "__main__":
    main()
