"""Fixed points of a trained 3-bit flip-flop network from 1024 initial states, cold and warm.

Against, in the same process, the FixedPointFinder method (Golub & Sussillo 2018: Adam on q only,
float32, no Newton polish; run here through `descent='adam'`) on the same network and seeds. The
expected skeleton is the cube: 8 stable points, 12 saddles of index 1, 6 of index 2, 1 of index 3.
Then skeletons for a population, networks per second.

    python benchmarks/fixed_points.py                    # CPU defaults
    python benchmarks/fixed_points.py --arch vanilla --hidden 128 --population 1000   # GPU
"""

from __future__ import annotations

import argparse
import collections
import platform
import time

import jax
import numpy as np

from dynascope import dynamics, models, tasks
from dynascope.dynamics.analysis import AnalysisOptions, analyze_group
from dynascope.store.sweep import StoredGroup, network_id
from dynascope.train import train_population


def counts(fps, converged_only: bool = True) -> dict[int, int]:
    ok = fps.converged & ~fps.outside_reachable if converged_only else ~fps.outside_reachable
    return dict(sorted(collections.Counter(fps.n_unstable[ok].tolist()).items()))


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="gru")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--train-steps", type=int, default=1500)
    ap.add_argument("--seeds", type=int, default=1024)
    ap.add_argument("--population", type=int, default=8)
    args = ap.parse_args()
    dev = jax.devices()[0]
    print(f"# {time.strftime('%Y-%m-%d')} · {platform.node()} · jax {jax.__version__} on {dev.platform} ({dev.device_kind})\n")

    task = tasks.get("flipflop", n_bits=3)
    model = models.get(args.arch, n_inputs=3, n_hidden=args.hidden, n_outputs=3)
    pop, t_train = timed(lambda: train_population(task, model, 1, args.train_steps, jax.random.key(0),
                                                  batch_size=64, learning_rate=3e-3, checkpoint_every=500))
    print(f"trained {args.arch}-{args.hidden}: task score {pop.metric[0]:.3f}, {t_train:.0f} s")
    params = pop.network(0)
    states, _ = jax.jit(model.run)(params, task.sample(jax.random.key(1), 128).inputs)
    u = np.zeros(3, np.float32)
    scale = float(np.std(np.asarray(states)))

    def ours(k):
        seeds = dynamics.sample_initial_states(jax.random.key(k), states, args.seeds, 0.05 * scale)
        return dynamics.find_fixed_points(model, params, u, seeds, reachable_states=states, saddle_seeds_per_pair=1)

    fps, cold = timed(lambda: ours(2))
    fps, warm = timed(lambda: ours(3))
    print("\n| method | cold s | warm s | converged points by index (inside reachable box) | max q |")
    print("|---|---:|---:|---|---:|")
    qmax = float(fps.q[fps.converged].max()) if fps.converged.any() else float("nan")
    print(f"| dynascope (Newton + float64 polish, saddle seeds) | {cold:.2f} | {warm:.2f} | {counts(fps)} | {qmax:.1e} |")

    def adam(k):
        seeds = dynamics.sample_initial_states(jax.random.key(k), states, args.seeds, 0.05 * scale)
        return dynamics.find_fixed_points(model, params, u, seeds, reachable_states=states, descent="adam",
                                          descent_steps=2000, newton_steps=0, float64=False, q_tol=1e-10)

    afps, acold = timed(lambda: adam(2))
    afps, awarm = timed(lambda: adam(3))
    aq = float(afps.q[afps.converged].max()) if afps.converged.any() else float("nan")
    print(f"| FixedPointFinder method (Adam on q, 2000 steps, float32) | {acold:.2f} | {awarm:.2f} | "
          f"{counts(afps)} (+{int((~afps.converged).sum())} unconverged) | {aq:.1e} |")
    print(f"\nwarm speed-up over the Adam-only method: {awarm / warm:.1f}×")

    # Skeletons of a population: the whole `dynascope analyze` step for one group.
    n = args.population
    popn = train_population(task, models.get(args.arch, n_inputs=3, n_hidden=32, n_outputs=3), n, 1000,
                            jax.random.key(7), batch_size=64, learning_rate=1e-2, checkpoint_every=500)
    group = StoredGroup(f"{args.arch}-32", task, popn.model, popn.params,
                        tuple(network_id(f"{args.arch}-32", s) for s in range(n)))
    _, gcold = timed(lambda: analyze_group(group, AnalysisOptions(n_seeds=256)))
    (fp_cols, sk_cols), gwarm = timed(lambda: analyze_group(group, AnalysisOptions(n_seeds=256, seed=1)))
    full = sum(c == '{"0": 8, "1": 12, "2": 6, "3": 1}' for c in sk_cols["index_counts"])
    print(f"\nfixed points + skeletons of {n} {args.arch}-32 networks (256 seeds each): cold {gcold:.1f} s, "
          f"warm {gwarm:.1f} s = {n / gwarm:.2f} networks/s; {full}/{n} show the full cube; "
          f"projected 1000 networks: {1000 / (n / gwarm):.0f} s")


if __name__ == "__main__":
    main()
