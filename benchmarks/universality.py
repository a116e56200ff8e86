"""Universality and individuality on the 3-bit flip-flop (Maheswaranathan et al. 2019), at laptop scale.

Trains a population of several architectures, finds every network's fixed points and skeleton, runs
the population study, and prints how well each metric tells the architectures apart (leave-one-out
nearest-neighbour accuracy against chance) beside the share of networks whose skeleton has the modal
topology. The 2019 finding: geometry (CCA) separates architectures; the skeleton's topology is shared.
The run folder is resumable: rerunning continues where it stopped.

    python benchmarks/universality.py                                   # CPU: 4 archs × 6 seeds, 24 units
    python benchmarks/universality.py --seeds 100 --hidden 64 --steps 3000 --out runs/universality-gpu   # GPU
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import jax

from dynascope import compare, pipeline
from dynascope.pipeline import AnalysisOptions, SweepConfig, analyze_run
from dynascope.train import TrainOptions

QUANTITIES = (compare.NN_ACCURACY, compare.BETWEEN_WITHIN, compare.CLUSTER_AGREEMENT, compare.MODAL_SHARE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", default="vanilla,ugrnn,gru,lstm")
    parser.add_argument("--hidden", type=int, default=24)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--out", type=Path, default=Path("runs/universality"))
    args = parser.parse_args()

    config = SweepConfig(
        task="flipflop", archs=tuple(args.archs.split(",")), n_hidden=(args.hidden,), n_networks=args.seeds,
        steps=args.steps, seed=0, task_options={"n_bits": 3},
        train=TrainOptions(batch_size=64, learning_rate=1e-2, checkpoint_every=250),
    )
    seconds = {}
    t0 = time.perf_counter()
    run = pipeline.run_sweep(config, args.out, resume=(args.out / "config.toml").exists())
    seconds["train"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    analyze_run(run, AnalysisOptions(n_initial_states=256))
    seconds["analyze"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = pipeline.study(run)
    seconds["compare"] = time.perf_counter() - t0

    n, trained = run.sql("select count(*), sum(trained::int) from networks").fetchall()[0]
    print(f"# universality: {config.archs} × {args.seeds} seeds, {args.hidden} units, {args.steps} steps")
    print(f"{platform.processor() or platform.machine()}, JAX {jax.__version__} on {jax.default_backend()}; "
          f"{trained}/{n} networks trained; seconds: "
          + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    rows = run.sql("select metric, quantity, value from summary where arch = 'all'").fetchall()
    values: dict[str, dict[str, float]] = {}
    for metric, quantity, value in rows:
        values.setdefault(metric, {})[quantity] = value
    chance = next(iter(values.values())).get(compare.CHANCE_ACCURACY, float("nan"))
    print(f"\nchance accuracy (most common architecture): {chance:.2f}\n")
    print("| metric | " + " | ".join(QUANTITIES) + " |")
    print("|---" * (len(QUANTITIES) + 1) + "|")
    for metric in compare.metric_names():
        if metric in values:
            cells = [f"{values[metric][q]:.3g}" if q in values[metric] else "" for q in QUANTITIES]
            print(f"| {metric} | " + " | ".join(cells) + " |")
    per_arch = run.sql("select arch, value from summary where metric = 'topology' and "
                       f"quantity = '{compare.MODAL_SHARE}' and arch != 'all' order by arch").fetchall()
    topo = result.results.get("topology")
    if topo is not None:
        mode, _, share = compare.modal_share(topo.classes, topo.archs)
        print(f"\nmodal skeleton ({share:.0%}): {mode}")
    print("share with the modal skeleton by architecture: " + ", ".join(f"{a} {v:.2f}" for a, v in per_arch))


if __name__ == "__main__":
    main()
