"""BPTT against e-prop (`TrainOptions.rule`) on a recurrent LIF network: memory and time of one gradient.

For a `lif` network (default H = 256, batch 16, 1-bit flip-flop, zero state noise) at trial lengths T:
  - memory: XLA's own analysis of the compiled (loss, gradient) program (`memory_analysis()`: temporaries +
    arguments + outputs, the buffers alive at its peak), and dynascope's pre-compile estimate
    (`train.memory.estimate_training_memory`, per rule) for one network;
  - time: warm wall-clock seconds of one (loss, gradient) evaluation (best of `--repeats`), the part of a
    training step the rule changes (the Adam update after it is the same for both);
and, for a memory budget (default 256 MiB) at the longest T, the largest H (multiple of 32) whose compiled
gradient program fits in it, per rule (found by bisection on compiled programs; nothing is run), followed
by one real training step at that H to show it runs.

    python benchmarks/eprop_memory.py                       # CPU defaults (a few minutes on 2 cores)
    python benchmarks/eprop_memory.py --lengths 100,400 --hidden 128

Prints a Markdown table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import time

import jax

from dynascope import models, tasks
from dynascope.train import TrainOptions, eprop_value_and_grad, masked_mse
from dynascope.train.memory import estimate_training_memory

MiB = 2**20


def setup(hidden: int, n_time: int, batch: int):
    task = tasks.get("flipflop", n_bits=1, n_time=n_time)
    model = models.get("lif", n_inputs=task.n_inputs, n_hidden=hidden, n_outputs=task.n_outputs)
    params = model.init(jax.random.key(0))
    trials = task.sample(jax.random.key(1), batch)
    return task, model, params, trials


def gradient_fn(rule: str, task, model):
    """(params, trials, key) -> (loss, grads) of the rule, as the trainer computes it."""
    if rule == "eprop":
        return eprop_value_and_grad(task, model, TrainOptions(rule="eprop"))

    def loss(params, trials, key):
        _, outputs = model.run(params, trials.inputs)
        return masked_mse(outputs, trials)

    return jax.value_and_grad(loss)


def compiled(rule: str, hidden: int, n_time: int, batch: int):
    task, model, params, trials = setup(hidden, n_time, batch)
    program = jax.jit(gradient_fn(rule, task, model)).lower(params, trials, jax.random.key(2)).compile()
    return program, (params, trials, jax.random.key(2)), task, model


def peak_bytes(program) -> int:
    stats = program.memory_analysis()
    return stats.temp_size_in_bytes + stats.argument_size_in_bytes + stats.output_size_in_bytes


def seconds(program, args, repeats: int) -> float:
    jax.block_until_ready(program(*args))  # warm
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(program(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def largest_hidden(rule: str, n_time: int, batch: int, budget: int, top: int) -> int:
    """Largest H (multiple of 32, ≤ top) whose compiled gradient program fits in `budget` bytes (0: none)."""
    lo, hi = 0, top // 32  # in units of 32: lo fits (or is 0), hi+1 is not known to fit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        program, *_ = compiled(rule, 32 * mid, n_time, batch)
        if peak_bytes(program) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return 32 * lo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lengths", default="100,400,1600")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--budget-mib", type=int, default=256)
    ap.add_argument("--top", type=int, default=2048, help="largest H the bisection tries")
    args = ap.parse_args()
    lengths = [int(t) for t in args.lengths.split(",")]
    print(f"# {platform.node()} ({platform.machine()}, {jax.device_count()} {jax.devices()[0].platform} device), "
          f"jax {jax.__version__}; lif H={args.hidden}, batch {args.batch}, flip-flop 1 bit\n")
    print("| T | rule | XLA peak (MiB) | estimate (MiB) | s / gradient | e-prop / BPTT time |")
    print("|---|---|---|---|---|---|")
    for n_time in lengths:
        timing = {}
        for rule in ("bptt", "eprop"):
            program, call, task, model = compiled(rule, args.hidden, n_time, args.batch)
            est = estimate_training_memory(model, 1, batch_size=args.batch, n_time=n_time, n_outputs=task.n_outputs,
                                           steps=1, rule=rule)
            timing[rule] = seconds(program, call, args.repeats)
            ratio = f"{timing['eprop'] / timing['bptt']:.2f}" if rule == "eprop" else ""
            print(f"| {n_time} | {rule} | {peak_bytes(program) / MiB:.1f} | {est.total / MiB:.1f} | "
                  f"{timing[rule]:.3f} | {ratio} |", flush=True)
    n_time = lengths[-1]
    budget = args.budget_mib * MiB
    print(f"\nLargest H (multiple of 32, up to {args.top}) whose gradient program fits in {args.budget_mib} MiB at "
          f"T={n_time}, batch {args.batch}:\n")
    print("| rule | largest H | XLA peak (MiB) | s / gradient (one run) |")
    print("|---|---|---|---|")
    for rule in ("bptt", "eprop"):
        h = largest_hidden(rule, n_time, args.batch, budget, args.top)
        if h == 0:
            print(f"| {rule} | none ≥ 32 | | |")
            continue
        program, call, *_ = compiled(rule, h, n_time, args.batch)
        print(f"| {rule} | {h} | {peak_bytes(program) / MiB:.1f} | {seconds(program, call, 1):.2f} |", flush=True)


if __name__ == "__main__":
    main()
