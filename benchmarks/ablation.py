"""Heterogeneous time constants help more when the task has more temporal structure (Perez-Nieves et al. 2021),
at a CPU-minutes scale: two `dynascope ablate` runs of the `hetero_tau` mechanism in a recurrent LIF network,
on delayed match-to-sample with a short delay (2 steps: the sample is still on the membranes at the test) and
with a long one (`--long-delay` steps, default 60: three homogeneous membrane time constants τ_mem = 20 steps),
everything else equal
(each trial ends 8 steps after the test stimulus; the model's dt is 1 ms, so a task step of 20 ms is one
model step).

For each task it prints the per-arm scores (mean and 95 % bootstrap interval over seeds), the mean gain of
heterogeneous over homogeneous τ across sizes, and the size-equivalence factor. Usage:

    .venv/bin/python benchmarks/ablation.py --out /tmp/ablation-bench            # ~10 CPU-minutes on 2 cores
    .venv/bin/python benchmarks/ablation.py --sizes 4,8,16 --seeds 8 --steps 600 --spread 0.5 --long-delay 60 --out DIR

Reference: Perez-Nieves, Leung, Dragotti & Goodman 2021, "Neural heterogeneity promotes robust learning",
Nat. Commun. 12, 5791 (heterogeneity helps most on the datasets with the richest temporal structure).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from dynascope.pipeline import AblationConfig, ablation_summary, run_ablation
from dynascope.train import TrainOptions

#: The two tasks: delayed match-to-sample (20 ms per step) with a 2-step and a long delay, as task options;
#: fixation 5 + sample 10 + delay + test 10 + response 8 steps.
def tasks(long_steps: int) -> dict[str, dict[str, float]]:
    """Task options of the short- and long-delay tasks (20 ms per step)."""
    return {
        "short delay (2 steps)": {"delay_ms": 40.0, "n_time": 35},
        f"long delay ({long_steps} steps)": {"delay_ms": 20.0 * long_steps, "n_time": 33 + long_steps},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="4,8,16")
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--spread", type=float, default=0.5, help="coefficient of variation of the heterogeneous τ")
    p.add_argument("--long-delay", type=int, default=60, help="steps of the long task's delay")
    p.add_argument("--out", type=Path, required=True, help="folder for the two run folders")
    args = p.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    for label, task_options in tasks(args.long_delay).items():
        config = AblationConfig(
            task="delayed_match", arch="lif", mechanism="hetero_tau", sizes=sizes, n_networks=args.seeds,
            steps=args.steps, mechanism_options={"spread": args.spread}, task_options=task_options,
            train=TrainOptions(batch_size=32, learning_rate=0.01, checkpoint_every=args.steps, eval_batch=256),
        )
        t0 = time.perf_counter()
        run = run_ablation(config, args.out / f"delay-{int(task_options['delay_ms'])}", resume=True,
                           energy_trials=32)
        seconds = time.perf_counter() - t0
        s = ablation_summary(run)
        print(f"\n{label}: {seconds:.0f} s")
        print(f"{'arm':8} {'size':>4} {'score':>6}  interval         operations/trial  rate (Hz)")
        for r in s.rows.records():
            print(f"{r['arm']:8} {r['n_hidden']:4d} {r['score_mean']:6.3f}  [{r['score_low']:.3f}, {r['score_high']:.3f}]"
                  f"   {r['operations_per_trial']:14.0f}  {r['mean_rate_hz']:9.1f}")
        gain = np.nanmean(s.scores["with"], axis=1) - np.nanmean(s.scores["without"], axis=1)
        print("gain of heterogeneous τ per size:", " ".join(f"{n}: {g:+.3f}" for n, g in zip(sizes, gain)),
              f"| mean {gain.mean():+.3f}")
        print("size-equivalence factor:", s.factor)


if __name__ == "__main__":
    main()
