"""How large a recurrent spiking network trains, stored dense or sparse (`lif` with `sparse=True`), with and
without checkpointing through time: memory of the whole training step, speed, and a run of the real trainer.

Configuration: `lif` (τ_m 20 ms, τ_s 5 ms, dt 1 ms), 100 input channels, 10 outputs, batch 16, T = 500 steps,
Adam. Sparse networks have a fixed in-degree K (default 1000, every neuron 1000 inputs); dense networks have
all H² connections.

Memory: XLA's memory analysis of one compiled training step (loss, gradient by BPTT, the Adam update; the
parameters and the optimizer state donated, as a trainer reuses them): temporaries + arguments + outputs −
aliased bytes. Nothing is allocated; this is what the step needs, on any backend with the same layouts.
`--largest` bisects H (multiples of 1024) for the largest step within `--budget-gib` per method.

Speed: seconds per training step at `--time-hidden` for each method (one warm-up call, best of `--repeats`).

`--trainer H`: `train_population` itself on a flip-flop task (1 network of H neurons, in-degree K,
`--trainer-time` steps per trial, batch 2, `--trainer-steps` Adam steps at `--trainer-lr`, checkpoint_steps 10,
evaluation on 2 trials): wall time and the process's
peak resident memory, to show the whole trainer (init, memory check, compile, steps) runs at that size.

    XLA_FLAGS=--xla_cpu_multi_thread_eigen=false .venv/bin/python benchmarks/snn_sparse_scale.py --largest --time-hidden 4096
    .venv/bin/python benchmarks/snn_sparse_scale.py --trainer 100000

Prints Markdown for benchmarks/RESULTS.md (section 16c).
"""

from __future__ import annotations

import argparse
import math
import platform
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dynascope import models, tasks
from dynascope.tasks import Trials
from dynascope.train import masked_mse, run_checkpointed, train_population

N_IN, N_OUT, BATCH = 100, 10, 16
GiB, MiB = 2**30, 2**20
METHODS = ("dense BPTT", "dense checkpointed", "sparse BPTT", "sparse checkpointed")


def model_for(method: str, hidden: int, fan_in: int) -> models.Model:
    sparse = method.startswith("sparse")
    options = dict(connectivity=fan_in / hidden, sparse=True) if sparse else {}
    return models.get("lif", n_inputs=N_IN, n_hidden=hidden, n_outputs=N_OUT, **options)


def train_step(model: models.Model, method: str, n_time: int):
    """One Adam step of `model` on a batch, as a function (params, opt_state, trials) -> (params, opt_state, loss)."""
    optimizer = optax.adam(1e-3)
    k = max(1, round(math.sqrt(n_time)))  # ~√T steps per chunk: memory ~2√T states instead of T

    def loss(params, trials):
        if method.endswith("checkpointed"):
            outputs, _ = run_checkpointed(model, params, trials.inputs, checkpoint_steps=k)
        else:
            _, outputs = model.run(params, trials.inputs)
        return masked_mse(outputs, trials)

    def step(params, opt_state, trials):
        value, grads = jax.value_and_grad(loss)(params, trials)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    return step, optimizer


def compiled(method: str, hidden: int, fan_in: int, n_time: int):
    model = model_for(method, hidden, fan_in)
    step, optimizer = train_step(model, method, n_time)
    params = jax.eval_shape(model.init, jax.random.key(0))
    opt_state = jax.eval_shape(optimizer.init, params)
    x = jax.ShapeDtypeStruct((BATCH, n_time, N_IN), jnp.float32)
    y = jax.ShapeDtypeStruct((BATCH, n_time, N_OUT), jnp.float32)
    program = jax.jit(step, donate_argnums=(0, 1)).lower(params, opt_state, Trials(x, y, y)).compile()
    return program, model, optimizer


def step_bytes(program) -> int:
    s = program.memory_analysis()
    return s.temp_size_in_bytes + s.argument_size_in_bytes + s.output_size_in_bytes - s.alias_size_in_bytes


def largest(method: str, fan_in: int, n_time: int, budget: int, top: int) -> tuple[int, int]:
    lo, hi, best = fan_in // 1024 if method.startswith("sparse") else 0, top // 1024, 0
    lo = max(lo, 1) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        size = step_bytes(compiled(method, 1024 * mid, fan_in, n_time)[0])
        if size <= budget:
            lo, best = mid, size
        else:
            hi = mid - 1
    return 1024 * lo, best


def timed(method: str, hidden: int, fan_in: int, n_time: int, repeats: int) -> tuple[float, int]:
    program, model, optimizer = compiled(method, hidden, fan_in, n_time)
    rng = np.random.default_rng(0)
    inputs = jnp.asarray((rng.random((BATCH, n_time, N_IN)) < 0.05).astype(np.float32) * 5.0)
    targets = jnp.asarray(rng.standard_normal((BATCH, n_time, N_OUT)).astype(np.float32))
    trials = Trials(inputs, targets, jnp.ones_like(targets))
    params = model.init(jax.random.key(0))
    state = (params, optimizer.init(params))
    best = math.inf
    for n in range(repeats + 1):
        t0 = time.perf_counter()
        *state, loss = program(*state, trials)
        jax.block_until_ready(loss)
        if n:  # the first call is the warm-up
            best = min(best, time.perf_counter() - t0)
    return best, step_bytes(program)


def trainer(hidden: int, fan_in: int, n_time: int, steps: int, learning_rate: float) -> None:
    task = tasks.get("flipflop", n_bits=2, n_time=n_time)
    model = models.get("lif", n_inputs=task.n_inputs, n_hidden=hidden, n_outputs=task.n_outputs,
                       connectivity=fan_in / hidden, sparse=True)
    t0 = time.perf_counter()
    pop = train_population(task, model, 1, steps, jax.random.key(0), batch_size=2, learning_rate=learning_rate,
                           checkpoint_every=steps, checkpoint_steps=10, eval_batch=2)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"| train_population, H = {hidden}, K = {fan_in} ({hidden * fan_in:.2e} synapses), T = {n_time}, "
          f"batch 2, {steps} steps at lr {learning_rate:g} | {wall:.0f} s | {peak / GiB:.2f} GiB | loss "
          f"{' → '.join(f'{v:.3f}' for v in pop.loss_history[0])} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fan-in", type=int, default=1000, help="inputs per neuron K of the sparse networks")
    ap.add_argument("--steps", type=int, default=500, help="time steps T per trial")
    ap.add_argument("--budget-gib", type=float, default=24.0)
    ap.add_argument("--top", type=int, default=1 << 21, help="largest H the bisection tries")
    ap.add_argument("--largest", action="store_true", help="bisect the largest H per method")
    ap.add_argument("--sizes", default="4096,16384,65536,100000", help="H at which to report each method's memory")
    ap.add_argument("--time-hidden", type=int, default=0, help="time a training step at this H (0: skip)")
    ap.add_argument("--time-fan-in", type=int, default=0, help="K for the timed sparse step (0: 1 %% of H)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--slopes", action="store_true",
                    help="bytes per neuron·step·trial and per synapse of the sparse methods (from 4 compiled steps)")
    ap.add_argument("--trainer", type=int, default=0, help="run train_population at this H (0: skip)")
    ap.add_argument("--trainer-time", type=int, default=20)
    ap.add_argument("--trainer-steps", type=int, default=4)
    ap.add_argument("--trainer-lr", type=float, default=1e-5, help="Adam's rate (its step does not shrink with width)")
    args = ap.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, {jax.devices()[0].platform}, "
          f"jax {jax.__version__}, batch {BATCH}, T {args.steps}, sparse in-degree K {args.fan_in}\n")

    if args.sizes:
        print("| H | " + " | ".join(f"{m} (GiB)" for m in METHODS) + " |")
        print("|---:|" + "---:|" * len(METHODS))
        for h in (int(s) for s in args.sizes.split(",")):
            cells = []
            for m in METHODS:
                if m.startswith("dense") and h > 65536:
                    cells.append(f"{(4 * 5 * h * h) / GiB:.0f}+ (params alone)")
                    continue
                cells.append(f"{step_bytes(compiled(m, h, min(args.fan_in, h), args.steps)[0]) / GiB:.2f}")
            print(f"| {h} | " + " | ".join(cells) + " |")
        print()
    if args.largest:
        budget = int(args.budget_gib * GiB)
        print(f"| method | largest H in {args.budget_gib:g} GiB | step memory (GiB) |")
        print("|---|---:|---:|")
        for m in METHODS:
            h, size = largest(m, args.fan_in, args.steps, budget, args.top)
            print(f"| {m} | {h} | {size / GiB:.2f} |")
        print()
    if args.slopes:
        # Two sizes and two trial lengths: memory = a·H·K (synapses) + b·H·T·B (activations) + c·H + d.
        h1, h2, t1, t2, k = 16384, 32768, args.steps // 2, args.steps, args.fan_in
        print(f"| method | bytes per neuron per step per trial | bytes per synapse (K = {k}) | "
              f"bytes per neuron at T = {t2}, batch {BATCH} |")
        print("|---|---:|---:|---:|")
        for m in METHODS[2:]:
            size = {(h, t): step_bytes(compiled(m, h, k, t)[0]) for h, t in ((h1, t1), (h1, t2), (h2, t2))}
            per_step = (size[h1, t2] - size[h1, t1]) / ((t2 - t1) * h1 * BATCH)
            per_neuron = (size[h2, t2] - size[h1, t2]) / (h2 - h1)
            per_synapse = (per_neuron - per_step * t2 * BATCH) / k
            print(f"| {m} | {per_step:.1f} | {per_synapse:.1f} | {per_neuron / 1024:.0f} KiB |")
        print()
    if args.time_hidden:
        h = args.time_hidden
        k = args.time_fan_in or max(1, round(0.01 * h))
        print(f"| method, H = {h} (sparse K = {k}) | seconds per step | step memory (MiB) |")
        print("|---|---:|---:|")
        for m in METHODS:
            seconds, size = timed(m, h, k, args.steps, args.repeats)
            print(f"| {m} | {seconds:.2f} | {size / MiB:.0f} |")
        print()
    if args.trainer:
        trainer(args.trainer, args.fan_in, args.trainer_time, args.trainer_steps, args.trainer_lr)


if __name__ == "__main__":
    main()
