"""Population training throughput: GRU-64 on the 3-bit flip-flop (batch 128, T=64).

Measures networks×steps per second of `train_population` at several population sizes and, in the same
process, a plain PyTorch loop that trains the same-shaped networks one at a time (when torch is
installed). Prints a Markdown table for benchmarks/RESULTS.md.

    python benchmarks/train_population.py                  # CPU-sized defaults
    python benchmarks/train_population.py --sizes 1,100,1000 --steps 200 --torch-networks 2   # GPU
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import numpy as np

from dynascope import models, tasks
from dynascope.train import train_population


def time_dynascope(n: int, steps: int, hidden: int, batch: int) -> tuple[float, float]:
    """(seconds warm, seconds cold) to train n networks for `steps` steps."""
    task = tasks.get("flipflop", n_bits=3, n_time=64)
    model = models.get("gru", n_inputs=3, n_hidden=hidden, n_outputs=3)
    opts = dict(batch_size=batch, learning_rate=1e-3, checkpoint_every=steps, eval_batch=batch)
    t0 = time.perf_counter()
    pop = train_population(task, model, n, steps, jax.random.key(0), **opts)
    jax.block_until_ready(pop.params)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    pop = train_population(task, model, n, steps, jax.random.key(1), **opts)
    jax.block_until_ready(pop.params)
    return time.perf_counter() - t0, cold


def time_torch(n: int, steps: int, hidden: int, batch: int, device: str) -> float:
    """Seconds for a plain PyTorch loop training n GRU networks one after another (same task sizes)."""
    import torch

    task = tasks.get("flipflop", n_bits=3, n_time=64)
    t0 = time.perf_counter()
    for i in range(n):
        torch.manual_seed(i)
        gru = torch.nn.GRU(3, hidden, batch_first=True).to(device)
        out = torch.nn.Linear(hidden, 3).to(device)
        opt = torch.optim.Adam([*gru.parameters(), *out.parameters()], lr=1e-3)
        for s in range(steps):
            trials = task.sample(jax.random.key(s), batch)  # same trial generator, converted per step
            x = torch.as_tensor(np.asarray(trials.inputs), device=device)
            y = torch.as_tensor(np.asarray(trials.targets), device=device)
            h, _ = gru(x)
            loss = ((out(h) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([*gru.parameters(), *out.parameters()], 1.0)
            opt.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,8,32")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--torch-networks", type=int, default=2)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    device = jax.devices()[0]
    print(f"# {time.strftime('%Y-%m-%d')} · {platform.node()} · jax {jax.__version__} on {device.platform} ({device.device_kind})")
    print(f"GRU-{args.hidden}, 3-bit flip-flop, batch {args.batch}, T=64, {args.steps} Adam steps\n")
    print("| networks | warm s | cold s | networks×steps/s |")
    print("|---:|---:|---:|---:|")
    rates = {}
    for n in sizes:
        warm, cold = time_dynascope(n, args.steps, args.hidden, args.batch)
        rates[n] = n * args.steps / warm
        print(f"| {n} | {warm:.2f} | {cold:.2f} | {rates[n]:.1f} |", flush=True)
    try:
        import torch
    except ImportError:
        print("\n(torch not installed: no PyTorch baseline)")
        return
    tdev = "cuda" if torch.cuda.is_available() else "cpu"
    t = time_torch(args.torch_networks, args.steps, args.hidden, args.batch, tdev)
    trate = args.torch_networks * args.steps / t
    print(f"\nPyTorch one-at-a-time loop ({tdev}, torch {torch.__version__}): {trate:.1f} networks×steps/s")
    for n in sizes:
        print(f"- dynascope with {n} networks: {rates[n] / trate:.1f}× the PyTorch loop's throughput")
    big = max(sizes)
    print(f"\nProjected 1000 networks × 2000 steps: dynascope {1000 * 2000 / rates[big]:.0f} s "
          f"(at the {big}-network rate), PyTorch loop {1000 * 2000 / trate:.0f} s")


if __name__ == "__main__":
    main()
