"""GRUs fitted to a synthetic 3-bit flip-flop recording: do they reach the generating rates' co-smoothing, and
do their skeletons recover the 8 memories? (The CtDB test of a data-driven model: Versteeg et al. 2023.)

A 3-bit flip-flop (`data.BistableFlipFlop`, 8 stable corners) observed through 200 Poisson neurons over 500
trials is fitted by a population of GRUs (`data.fit_recording`: held-in neurons, training trials, Poisson
likelihood), then scored on what they did not see (`data.score_fit`): co-bps of the held-out neurons on the
held-out trials against the generating rates' own co-bps, rate and latent R², and the stable fixed points of
each network under zero input against the ground truth's 8. Passes when the best network is within `--margin`
bits/spike of the generating rates and at least one network has exactly 8 stable points.

    python benchmarks/fit_recordings.py                                  # CPU: 4 GRU-32, 2000 steps
    python benchmarks/fit_recordings.py --seeds 16 --hidden 64 --steps 4000   # GPU
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import jax
import numpy as np

from dynascope import data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--neurons", type=int, default=200)
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--state-noise", type=float, default=0.1,
                        help="state noise while training; without it the memories tend to be slow points, not attractors")
    parser.add_argument("--margin", type=float, default=0.05, help="co-bps margin in bits/spike")
    args = parser.parse_args()

    seconds = {}
    t0 = time.perf_counter()
    system = data.get_system("flipflop", n_bits=3)
    recording = data.synthesize(system, key=jax.random.key(0), n_trials=args.trials, n_neurons=args.neurons)
    seconds["synthesize"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit = data.fit_recording(recording, key=jax.random.key(1), model="gru", n_hidden=args.hidden,
                             n_networks=args.seeds, steps=args.steps, batch_size=args.batch, learning_rate=args.lr,
                             checkpoint_every=500, state_noise=args.state_noise,
                             progress=lambda done, losses: print(f"  step {done}: loss {np.mean(losses):.4f}", flush=True))
    seconds["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = data.score_fit(fit, recording, key=jax.random.key(2))
    seconds["score"] = time.perf_counter() - t0

    split = fit.split
    print(f"# {platform.node()} {platform.machine()} {jax.devices()[0].device_kind} x{os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.1f}, jax {jax.__version__}")
    print(f"recording: flipflop n_bits=3, {args.trials} trials x {recording.n_time} bins of {recording.bin_width * 1e3:g} ms, "
          f"{args.neurons} neurons ({len(split.held_in)} held in, {len(split.held_out)} held out; "
          f"{len(split.train_trials)} training, {len(split.test_trials)} held-out trials), "
          f"{recording.counts.mean() / recording.bin_width:.1f} Hz mean rate")
    print(f"fit: {args.seeds} x gru-{args.hidden}, {args.steps} Adam steps, batch {args.batch}, lr {args.lr}, "
          f"state noise {args.state_noise}; "
          f"final loss {np.round(fit.population.loss_history[:, -1], 4).tolist()}")
    print(f"generating rates' co-bps: {scores.co_bps_true:.4f}; stable points of the ground truth: "
          f"{scores.n_stable_true}")
    print("| seed | co-bps | rate R2 | latent R2 | stable points | train deviance explained |")
    print("|---|---|---|---|---|---|")
    for i in range(len(fit.population)):
        print(f"| {i} | {scores.co_bps[i]:.4f} | {scores.rate_r2[i]:.3f} | {scores.latent_r2[i]:.3f} | "
              f"{scores.n_stable[i]} | {scores.train_metric[i]:.3f} |")
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    best = float(np.nanmax(scores.co_bps))
    close = best >= scores.co_bps_true - args.margin
    skeleton = bool(scores.skeleton_match.any())
    print(f"best co-bps {best:.4f} within {args.margin} of {scores.co_bps_true:.4f}: {close}; "
          f"{int(scores.skeleton_match.sum())}/{len(fit.population)} networks with the 8 stable points: {skeleton}")
    return 0 if close and skeleton else 1


if __name__ == "__main__":
    sys.exit(main())
