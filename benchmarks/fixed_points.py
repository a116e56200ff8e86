"""Fixed points of a trained 3-bit flip-flop network from many initial states, cold and warm.

Against, in the same process, an Adam-only baseline: FixedPointFinder's descent (Golub & Sussillo 2018:
Adam on q only, float32, no Newton polish) re-implemented in JAX through `descent='adam'`, 2000 steps. It is
not the FixedPointFinder package: `benchmarks/fixed_points_vs_fpf.py` runs the real one on the same network and the
same seeds. The expected set is the cube: 8 stable points, 12 saddles of index 1, 6 of index 2, 1 of
index 3 (27 in all). Then the whole `dynascope analyze` step (fixed points + skeleton graphs) for a
trained population, networks per second.

The search is damped Newton with the exact Hessian of q from every seed (then a float64 polish and a
round of saddle seeds between the stable points): each step costs O(S) Hessian-vector passes per seed,
which a GPU absorbs and a 2-core CPU does not. So the CPU defaults use a vanilla tanh-128 network
(cheaper to train than a GRU) and 256 seeds, not the 1024 of the target; the GPU command below runs
the target's 1024.

    python benchmarks/fixed_points.py                    # CPU defaults (~4 min on 2 cores)
    python benchmarks/fixed_points.py --arch gru --train-steps 1500 --seeds 1024 --population 1000   # GPU
    python benchmarks/fixed_points.py --arch vanilla --seeds 1024 --population 1000                  # GPU, tanh
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import time

import jax
import numpy as np

from dynascope import dynamics, models, tasks
from dynascope.pipeline import AnalysisOptions, StoredGroup, analyze_group, network_id
from dynascope.train import train_population

CUBE = {0: 8, 1: 12, 2: 6, 3: 1}


def counts(fps) -> dict[int, int]:
    """Converged points inside the reachable region, by number of unstable directions."""
    ok = fps.converged & ~fps.outside_reachable
    return dict(sorted(collections.Counter(fps.n_unstable[ok].tolist()).items()))


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="vanilla")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--train-steps", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seeds", type=int, default=256, help="initial states for the single network")
    ap.add_argument("--adam-steps", type=int, default=2000, help="steps of the Adam-only baseline")
    ap.add_argument("--population", type=int, default=4, help="networks for the skeleton step")
    ap.add_argument("--pop-hidden", type=int, default=32)
    ap.add_argument("--pop-train-steps", type=int, default=1000)
    ap.add_argument("--pop-seeds", type=int, default=128, help="initial states per network in the skeleton step")
    args = ap.parse_args()
    dev = jax.devices()[0]
    print(f"# {time.strftime('%Y-%m-%d')} · {platform.node()} · jax {jax.__version__} on {dev.platform} "
          f"({dev.device_kind})\n")

    task = tasks.get("flipflop", n_bits=3)
    model = models.get(args.arch, n_inputs=3, n_hidden=args.hidden, n_outputs=3)
    pop, t_train = timed(lambda: train_population(task, model, 1, args.train_steps, jax.random.key(0),
                                                  batch_size=64, learning_rate=args.lr, checkpoint_every=500))
    print(f"trained {args.arch}-{args.hidden} for {args.train_steps} steps: final loss {pop.final_loss[0]:.2e}, "
          f"task score {pop.metric[0]:.3f}, {t_train:.0f} s")
    params = pop.network(0)
    states, _ = jax.jit(model.run)(params, task.sample(jax.random.key(1), 128).inputs)
    u = np.zeros(3, np.float32)
    scale = float(np.std(np.asarray(states)))

    def seeds(k):
        return dynamics.sample_initial_states(states, args.seeds, key=jax.random.key(k), noise_std=0.05 * scale)

    def ours(k):
        return dynamics.find_fixed_points(model, params, u, seeds(k), reachable_states=states, saddle_seeds_per_pair=1)

    def adam(k):
        return dynamics.find_fixed_points(model, params, u, seeds(k), reachable_states=states, descent="adam",
                                          descent_steps=args.adam_steps, newton_steps=0, float64=False, q_tol=1e-10)

    _, cold = timed(lambda: ours(2))
    fps, warm = timed(lambda: ours(3))
    _, acold = timed(lambda: adam(2))
    afps, awarm = timed(lambda: adam(3))

    print(f"\n{args.arch}-{args.hidden}, {args.seeds} initial states (visited states + noise 0.05·std), input 0\n")
    print("| method | cold s | warm s | converged points by index (inside reachable box) | full cube? | "
          "slow / failed | max q of converged |")
    print("|---|---:|---:|---|---|---|---:|")
    for name, f, c, w in (("dynascope (Newton, exact Hessian, float64 polish, saddle seeds)", fps, cold, warm),
                          (f"Adam-only baseline (Adam on q, {args.adam_steps} steps, float32, q_tol 1e-10)",
                           afps, acold, awarm)):
        cnt = f.counts()
        qmax = float(f.q[f.converged].max()) if f.converged.any() else float("nan")
        print(f"| {name} | {c:.2f} | {w:.2f} | {counts(f)} | {'yes' if counts(f) == CUBE else 'no'} | "
              f"{cnt['slow']} / {f.n_failed} of {f.n_initial_states} seeds | {qmax:.1e} |")
    print(f"\nwarm time ratio dynascope / Adam-only: {warm / awarm:.2f} (dynascope {awarm / warm:.2f}× the speed)")

    # Skeletons of a population: the whole `dynascope analyze` step for one group.
    n = args.population
    pmodel = models.get(args.arch, n_inputs=3, n_hidden=args.pop_hidden, n_outputs=3)
    popn, t_pop = timed(lambda: train_population(task, pmodel, n, args.pop_train_steps, jax.random.key(7),
                                                 batch_size=64, learning_rate=1e-2, checkpoint_every=500))
    name = f"{args.arch}-{args.pop_hidden}"
    group = StoredGroup(name, task, popn.model, popn.params, tuple(network_id(name, s) for s in range(n)))
    _, gcold = timed(lambda: analyze_group(group, AnalysisOptions(n_initial_states=args.pop_seeds)))
    (_, sk_cols), gwarm = timed(lambda: analyze_group(group, AnalysisOptions(n_initial_states=args.pop_seeds, seed=1)))
    cube = json.dumps({str(k): v for k, v in CUBE.items()})
    full = sum(c == cube for c in sk_cols.index_counts)
    print(f"\nPopulation: {n} {name} networks trained together ({args.pop_train_steps} steps, {t_pop:.0f} s; "
          f"task scores {np.round(popn.metric, 3).tolist()})\n")
    print("| step | networks | seeds each | cold s | warm s | networks/s (warm) | full cube | projected 1000 networks, s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| analyze_group: fixed points + skeletons | {n} | {args.pop_seeds} | {gcold:.1f} | {gwarm:.1f} | "
          f"{n / gwarm:.2f} | {full}/{n} | {1000 / (n / gwarm):.0f} |")
    print(f"\nindex counts per network: {sk_cols.index_counts}")


if __name__ == "__main__":
    main()
