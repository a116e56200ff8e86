"""Heterogeneous (and learned) time constants against the temporal structure of a spike-timing task
(Perez-Nieves et al. 2021), at a CPU-minutes scale: one `dynascope ablate` run of `hetero_tau` and
`learned_tau` in a recurrent LIF network (τ_mem 20 ms, τ_syn 5 ms, dt 1 ms) per task, on `spike_pattern` with
a SHORT pattern window (`--short-ms`, default 20 ms: one membrane time constant) and a LONG one (`--long-ms`,
default 200 ms: ten), everything else equal (classes, channels, spikes per channel, jitter, background rate,
a 10 ms response epoch right after the window; Adam, lr 0.01 (`--lr`), batch 32; the same seeds and data streams; the
arm without either mechanism is shared and trained once per size).

The classes differ only in spike timing (every class has the same spike count on every channel), so the
network must read out when each channel fired; in the long window that means integrating over far more than
τ_mem. The paper's finding is that heterogeneity helps more the richer the task's temporal structure: the gain
(and the size-equivalence factor) should be larger on the long window than on the short one.

For each task it prints the per-arm scores (mean and 95 % bootstrap interval over seeds), the mean gain of
each mechanism over the homogeneous arm across sizes, and each mechanism's size-equivalence factor. Usage:

    .venv/bin/python benchmarks/heterogeneity.py --out /tmp/hetero-bench          # ~20 CPU-minutes on 2 cores
    .venv/bin/python benchmarks/heterogeneity.py --sizes 16,32,64 --seeds 8 --steps 400 --spread 1.0 --out DIR

Reference: Perez-Nieves, Leung, Dragotti & Goodman 2021, "Neural heterogeneity promotes robust learning",
Nat. Commun. 12, 5791.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from dynascope.pipeline import AblationConfig, ablation_summary, run_ablation
from dynascope.train import TrainOptions

MECHANISMS = ("hetero_tau", "learned_tau")


def task_options(pattern_ms: float, args: argparse.Namespace) -> dict[str, float | int]:
    """Options of `spike_pattern` with a `pattern_ms` window and a 10 ms response epoch right after it."""
    return {"pattern_ms": pattern_ms, "response_ms": 10.0, "n_time": int(round(pattern_ms)) + 10,
            "n_classes": args.classes, "n_channels": args.channels, "spikes_per_channel": args.spikes,
            "jitter_ms": args.jitter, "noise_hz": args.noise_hz}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="16,32,64")
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--spread", type=float, default=1.0, help="coefficient of variation of the heterogeneous τ")
    p.add_argument("--short-ms", type=float, default=20.0)
    p.add_argument("--long-ms", type=float, default=200.0)
    p.add_argument("--classes", type=int, default=8)
    p.add_argument("--channels", type=int, default=20)
    p.add_argument("--spikes", type=int, default=2, help="spikes per channel in every template")
    p.add_argument("--jitter", type=float, default=2.0, help="jitter of each spike, ms")
    p.add_argument("--noise-hz", type=float, default=5.0, help="background spike rate per channel, Hz")
    p.add_argument("--mechanisms", default=",".join(MECHANISMS))
    p.add_argument("--lr", type=float, default=0.01, help="Adam's learning rate")
    p.add_argument("--out", type=Path, required=True, help="folder for the two run folders")
    args = p.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    mechanisms = tuple(args.mechanisms.split(","))
    for pattern_ms in (args.short_ms, args.long_ms):
        config = AblationConfig(
            task="spike_pattern", arch="lif", mechanism=mechanisms, sizes=sizes, n_networks=args.seeds,
            steps=args.steps, mechanism_options={"hetero_tau.spread": args.spread},
            task_options=task_options(pattern_ms, args),
            train=TrainOptions(batch_size=32, learning_rate=args.lr, checkpoint_every=args.steps, eval_batch=256),
        )
        t0 = time.perf_counter()
        run = run_ablation(config, args.out / f"pattern-{int(pattern_ms)}", resume=True, energy_trials=32)
        seconds = time.perf_counter() - t0
        s = ablation_summary(run)
        print(f"\npattern window {pattern_ms:g} ms: {seconds:.0f} s", flush=True)
        print(f"{'group':28} {'score':>6}  interval         operations/trial  rate (Hz)")
        for r in s.rows.records():
            print(f"{r['group']:28} {r['score_mean']:6.3f}  [{r['score_low']:.3f}, {r['score_high']:.3f}]"
                  f"   {r['operations_per_trial']:14.0f}  {r['mean_rate_hz']:9.1f}")
        for m in mechanisms:
            sc = s.scores[m]
            gain = np.nanmean(sc["with"], axis=1) - np.nanmean(sc["without"], axis=1)
            print(f"{m}: gain per size", " ".join(f"{n}: {g:+.3f}" for n, g in zip(sizes, gain)),
                  f"| mean {gain.mean():+.3f} | size-equivalence factor: {s.factors[m]}", flush=True)


if __name__ == "__main__":
    main()
