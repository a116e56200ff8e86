"""Population training throughput: GRU-64 on the 3-bit flip-flop (batch 128, T=64).

Measures networks×steps per second of `train_population` (all networks and all steps of a chunk in one
compiled program: vmap over networks inside a `lax.scan` over steps) at several population sizes and,
in the same process, two baselines on the same task sizes:

- naive JAX vmap: one jitted, vmapped Adam step (`jax.jit(jax.vmap(step))`, sampling, loss, gradient
  clipping and optax Adam for every network) called from a Python loop once per step — the obvious
  way to train a population in JAX, quoted in DESIGN.md (~180 s for 1000 × 2000 on an H100);
- a plain PyTorch loop training the networks one at a time (`nn.GRU` + `nn.Linear`, Adam, clipping),
  when torch is installed. Its trials come from the same generator through a jitted sampler (~2 ms per
  batch), so the loop measures PyTorch, not eager JAX dispatch. On a small CPU it runs with one
  intra-op thread by default (`--torch-threads`): in one process with JAX, torch's OpenMP threads and
  XLA:CPU's thread pool oversubscribe 2 cores (measured 0.3-0.9 s per step with 2 threads against
  0.05 s with 1; torch alone: 0.036 s with 2 threads, 0.047 s with 1).

Every rate is warm (compiled; best of `--repeats`), and printed as a ratio to the baselines measured
in the same process. Prints a Markdown table for benchmarks/RESULTS.md.

    python benchmarks/train_population.py                  # CPU-sized defaults (~4-5 min on 2 busy cores)
    python benchmarks/train_population.py --sizes 1,100,1000 --steps 200 --naive-sizes 100,1000 \
        --torch-networks 2 --torch-steps 200               # GPU (DESIGN target: 1000 × 2000 steps < 60 s)
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dynascope import models, tasks
from dynascope.train import masked_mse, train_population

N_BITS, N_TIME, LR, CLIP = 3, 64, 1e-3, 1.0


def _task_model(hidden: int):
    task = tasks.get("flipflop", n_bits=N_BITS, n_time=N_TIME)
    return task, models.get("gru", n_inputs=N_BITS, n_hidden=hidden, n_outputs=N_BITS)


def time_dynascope(n: int, steps: int, hidden: int, batch: int, repeats: int) -> tuple[float, float, float]:
    """(best warm seconds, cold seconds, mean final training loss) to train n networks for `steps` steps."""
    task, model = _task_model(hidden)
    opts = dict(batch_size=batch, learning_rate=LR, grad_clip=CLIP, checkpoint_every=steps, eval_batch=batch)
    t0 = time.perf_counter()
    pop = train_population(task, model, n, steps, jax.random.key(0), **opts)
    jax.block_until_ready(pop.params)
    cold = time.perf_counter() - t0
    warm = []
    for r in range(repeats):
        t0 = time.perf_counter()
        pop = train_population(task, model, n, steps, jax.random.key(1 + r), **opts)
        jax.block_until_ready(pop.params)
        warm.append(time.perf_counter() - t0)
    return min(warm), cold, float(np.mean(pop.loss_history[:, -1]))


def time_naive_vmap(n: int, steps: int, hidden: int, batch: int, repeats: int) -> tuple[float, float, float]:
    """The same training as a jitted, vmapped per-network Adam step driven from Python every step.

    Returns (best warm seconds, cold seconds, mean final training loss)."""
    task, model = _task_model(hidden)
    opt = optax.chain(optax.clip_by_global_norm(CLIP), optax.adam(LR))

    def loss(params, trials):
        _, outputs = model.run(params, trials.inputs)
        return masked_mse(outputs, trials)

    def one_step(params, opt_state, key):
        trials = task.sample(key, batch)
        value, grads = jax.value_and_grad(loss)(params, trials)
        with jax.numpy_dtype_promotion("standard"):  # optax mixes int32 counts with Python floats
            updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    step = jax.jit(jax.vmap(one_step))
    init = jax.jit(jax.vmap(model.init))
    opt_init = jax.jit(jax.vmap(opt.init))

    def train(seed: int) -> tuple[float, float]:
        t0 = time.perf_counter()
        keys = jax.random.split(jax.random.key(seed), n + 1)
        params = init(keys[:n])
        opt_state = opt_init(params)
        base = keys[n]
        value = None
        for s in range(steps):
            step_keys = jax.random.split(jax.random.fold_in(base, s), n)
            params, opt_state, value = step(params, opt_state, step_keys)
        jax.block_until_ready(params)
        return time.perf_counter() - t0, float(jnp.mean(value))

    cold, _ = train(0)
    warm = [train(1 + r) for r in range(repeats)]
    return min(w for w, _ in warm), cold, warm[-1][1]


def time_torch(n: int, steps: int, hidden: int, batch: int, device: str, threads: int) -> tuple[float, float]:
    """(seconds, mean final loss) for a plain PyTorch loop training n GRU networks one after another."""
    import torch

    if threads:
        torch.set_num_threads(threads)

    task, _ = _task_model(hidden)
    sample = jax.jit(task.sample, static_argnums=1)
    jax.block_until_ready(sample(jax.random.key(0), batch))  # compile outside the timed loop
    finals = []
    t0 = time.perf_counter()
    for i in range(n):
        torch.manual_seed(i)
        gru = torch.nn.GRU(N_BITS, hidden, batch_first=True).to(device)
        out = torch.nn.Linear(hidden, N_BITS).to(device)
        params = [*gru.parameters(), *out.parameters()]
        opt = torch.optim.Adam(params, lr=LR)
        for s in range(steps):
            trials = sample(jax.random.fold_in(jax.random.key(i), s), batch)
            x = torch.from_numpy(np.array(trials.inputs)).to(device)
            y = torch.from_numpy(np.array(trials.targets)).to(device)
            h, _ = gru(x)
            loss = ((out(h) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, CLIP)
            opt.step()
        finals.append(loss.item())
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, float(np.mean(finals))


def _ints(s: str) -> list[int]:
    return [int(v) for v in s.split(",") if v]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,8,32", help="population sizes for train_population")
    ap.add_argument("--steps", type=int, default=10, help="Adam steps per timed run")
    ap.add_argument("--naive-sizes", default="32", help="population sizes for the naive vmap baseline ('' = skip)")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2, help="warm repeats (best is reported)")
    ap.add_argument("--torch-networks", type=int, default=2, help="networks in the PyTorch loop (0 = skip)")
    ap.add_argument("--torch-steps", type=int, default=50, help="steps per PyTorch network")
    ap.add_argument("--torch-threads", type=int, default=1, help="torch.set_num_threads on CPU (0 = torch's default)")
    args = ap.parse_args()
    sizes, naive_sizes = _ints(args.sizes), _ints(args.naive_sizes)
    torch_steps = args.torch_steps
    device = jax.devices()[0]
    print(f"# {time.strftime('%Y-%m-%d')} · {platform.node()} · jax {jax.__version__} on {device.platform} "
          f"({device.device_kind})")
    print(f"GRU-{args.hidden}, {N_BITS}-bit flip-flop, batch {args.batch}, T={N_TIME}, {args.steps} Adam steps "
          f"per run, warm = best of {args.repeats}\n")

    rows = []  # (method, n, warm, cold, loss)
    for n in sizes:
        rows.append(("dynascope train_population", n, *time_dynascope(n, args.steps, args.hidden, args.batch, args.repeats)))
        print(f"  ... dynascope n={n}: {rows[-1][2]:.2f} s warm", flush=True)
    for n in naive_sizes:
        rows.append(("naive JAX vmap (jit(vmap(step)) per step)", n,
                     *time_naive_vmap(n, args.steps, args.hidden, args.batch, args.repeats)))
        print(f"  ... naive vmap n={n}: {rows[-1][2]:.2f} s warm", flush=True)
    trate = None
    if args.torch_networks:
        try:
            import torch
        except ImportError:
            print("(torch not installed: no PyTorch baseline)")
        else:
            tdev = "cuda" if torch.cuda.is_available() else "cpu"
            threads = args.torch_threads if tdev == "cpu" else 0
            t, tloss = time_torch(args.torch_networks, torch_steps, args.hidden, args.batch, tdev, threads)
            trate = args.torch_networks * torch_steps / t
            rows.append((f"PyTorch loop, one network at a time ({tdev}, torch {torch.__version__}, "
                         f"{torch_steps} steps{f', {threads} thread' if threads else ''})", args.torch_networks, t, float("nan"), tloss))

    naive_rate = {n: n * args.steps / w for m, n, w, _, _ in rows if m.startswith("naive")}
    print("\n| method | networks | warm s | cold s | networks×steps/s | × PyTorch loop | × naive vmap (same n) | "
          "final train loss |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for method, n, warm, cold, loss in rows:
        steps = torch_steps if method.startswith("PyTorch") else args.steps
        rate = n * steps / warm
        vs_torch = f"{rate / trate:.1f}×" if trate else "–"
        vs_naive = f"{rate / naive_rate[n]:.2f}×" if n in naive_rate and not method.startswith("PyTorch") else "–"
        cold_s = "–" if np.isnan(cold) else f"{cold:.2f}"
        print(f"| {method} | {n} | {warm:.2f} | {cold_s} | {rate:.1f} | {vs_torch} | {vs_naive} | {loss:.4f} |")

    big = max(sizes)
    drate = big * args.steps / next(w for m, n, w, _, _ in rows if m.startswith("dynascope") and n == big)
    print(f"\nProjected 1000 networks × 2000 steps at the measured rates (linear extrapolation, this device): "
          f"dynascope {2e6 / drate:.0f} s (at the {big}-network rate)", end="")
    if naive_rate:
        nb = max(naive_rate)
        print(f", naive vmap {2e6 / naive_rate[nb]:.0f} s (at {nb})", end="")
    if trate:
        print(f", PyTorch loop {2e6 / trate:.0f} s", end="")
    print(". DESIGN target on one H100: < 60 s (PyTorch loop ~5500 s, naive vmap ~180 s).")


if __name__ == "__main__":
    main()
