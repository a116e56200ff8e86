"""Sine generator: does the unstable complex pair at each input's fixed point predict the frequency?

Sussillo & Barak 2013 ("Opening the black box", Fig. 5) trained a network to produce a sine wave whose
frequency is set by a static input level, and found that under each input the network has one fixed
point whose linearisation has a single unstable complex-conjugate pair; the angle of that pair (for a
map: f = arg λ / (2π dt); for a flow: f = Im λ / (2π τ)) closely predicts the output frequency.

This script trains a small population on the `sinewave` task (all networks in one compiled program)
for each value of the activity penalty `--l2-activity`, then, for every network and every frequency cue
of `task.analysis_inputs()`:
1. runs the network under that cue, seeds `dynascope.dynamics.find_fixed_points` from its visited
   states plus noise (all cues in one call, one constant input per seed);
2. takes the converged fixed point with an unstable complex pair that lies closest to the centre of
   the cue's trajectory, linearises it (`dynascope.dynamics.linearize`) and reads the dominant
   unstable complex mode's frequency from `Linearization.frequencies_hz(task.dt)` (which converts maps
   and flows alike);
3. compares it with the target `task.frequencies_hz()` and with the frequency of the network's own
   output (mean crossings of a free run `--run-factor` times the trial length).
Reported: median and 90th percentile over cues of the relative error |f_pred − f_target| / f_target,
per network, next to its training loss. Prints Markdown tables for benchmarks/RESULTS.md.

Why the activity penalty: measured on CPU (vanilla-64, 3000 steps), an unregularised network fits the
task (output frequency within 0.3 % of the target) with a large, strongly nonlinear limit cycle around
a strongly unstable focus (|λ| ≈ 1.2 per step), whose linear frequency overshoots the cycle's by ~40 %
and which is missing at the lowest cues; with l2_activity = 0.2 the cycle stays near the Hopf regime
and the linearisation predicts the frequency to a few per cent, as Sussillo & Barak report.

    python benchmarks/sinewave_frequency.py                           # CPU defaults (~4 min on 2 cores)
    python benchmarks/sinewave_frequency.py --networks 64 --hidden 128 --steps 10000 --l2-activity 0,0.05,0.2  # GPU
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from dynascope import dynamics, models, tasks
from dynascope.train import train_population


def output_frequency_hz(y: np.ndarray, dt_ms: float) -> np.ndarray:
    """Frequency in Hz of each output trace `y [K, T]` from its upward mean crossings (linearly
    interpolated): (crossings − 1) / (time between the first and the last). NaN with fewer than 2."""
    y = y - y.mean(axis=1, keepdims=True)
    out = np.full(y.shape[0], np.nan)
    for k, trace in enumerate(y):
        i = np.flatnonzero((trace[:-1] < 0) & (trace[1:] >= 0))
        if i.size < 2:
            continue
        t = i + trace[i] / (trace[i] - trace[i + 1])  # sub-step crossing times
        out[k] = (t.size - 1) / ((t[-1] - t[0]) * dt_ms / 1000.0)
    return out


def analyse_network(model, params, task, seeds_per_cue: int, noise: float, run_factor: int, key):
    """Per cue: (predicted Hz or NaN, output Hz, number of candidate points) for one network."""
    cues = np.asarray(task.analysis_inputs())  # [K, 1]
    k_cues = cues.shape[0]
    t_run = run_factor * task.n_time
    inputs = jnp.broadcast_to(jnp.asarray(cues)[:, None, :], (k_cues, t_run, cues.shape[1]))
    states, outputs = jax.jit(model.run)(params, inputs)  # [K, t_run, S], [K, t_run, 1]
    states = np.asarray(states)
    f_out = output_frequency_hz(np.asarray(outputs)[:, task.n_time // 2 :, 0], task.dt)
    # Seeds from each cue's own trajectory, all cues in one search (one constant input per seed).
    keys = jax.random.split(key, k_cues)
    scale = float(np.std(states))
    seeds = np.concatenate([
        np.asarray(dynamics.sample_initial_states(states[k], seeds_per_cue, key=keys[k], noise_std=noise * scale))
        for k in range(k_cues)
    ])
    seed_inputs = np.repeat(cues, seeds_per_cue, axis=0)
    fps = dynamics.find_fixed_points(model, params, seed_inputs, seeds)
    pred, n_cand = np.full(k_cues, np.nan), np.zeros(k_cues, int)
    for k in range(k_cues):
        mine = fps.converged & np.all(fps.inputs == cues[k], axis=1)
        if not mine.any():
            continue
        rows = np.flatnonzero(mine)
        lin = dynamics.linearize(model, params, fps.states[rows], np.broadcast_to(cues[k], (rows.size, cues.shape[1])))
        osc = (lin.modes > 0) & (np.abs(lin.eigvals.imag) > 0)
        has = osc.any(axis=1)
        n_cand[k] = int(has.sum())
        if not has.any():
            continue
        centre = states[k, task.n_time // 2 :].mean(axis=0)
        dist = np.linalg.norm(fps.states[rows] - centre, axis=1)
        best = int(np.argmin(np.where(has, dist, np.inf)))
        mode = int(np.argmax(osc[best]))  # modes are sorted dominant first: the leading unstable complex one
        pred[k] = lin.frequencies_hz(task.dt)[best, mode]
    return pred, f_out, n_cand


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="vanilla")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--networks", type=int, default=1, help="networks per configuration, trained together")
    ap.add_argument("--l2-activity", default="0,0.2",
                    help="comma list: one population per value of the activity penalty (TrainOptions.l2_activity)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--n-frequencies", type=int, default=51)
    ap.add_argument("--n-time", type=int, default=100)
    ap.add_argument("--seeds-per-cue", type=int, default=8)
    ap.add_argument("--seed-noise", type=float, default=0.1, help="seed noise in units of the state's std")
    ap.add_argument("--run-factor", type=int, default=5, help="free-run length for the output frequency, in trials")
    args = ap.parse_args()
    dev = jax.devices()[0]
    print(f"# {time.strftime('%Y-%m-%d')} · {platform.node()} · jax {jax.__version__} on {dev.platform} "
          f"({dev.device_kind})\n")

    task = tasks.get("sinewave", n_frequencies=args.n_frequencies, n_time=args.n_time)
    model = models.get(args.arch, n_inputs=1, n_hidden=args.hidden, n_outputs=1)
    target = np.asarray(task.frequencies_hz())
    print(f"{args.arch}-{args.hidden} on sinewave ({args.n_frequencies} cues, {task.freq_min_hz:g}–{task.freq_max_hz:g} "
          f"Hz, T={args.n_time} × dt {task.dt:g} ms), {args.steps} Adam steps, batch {args.batch}, lr {args.lr:g}, "
          f"{args.networks} network(s) per configuration; {args.seeds_per_cue} seeds per cue\n")
    print("| l2_activity | network | train s | final loss (MSE) | task score | cues with an unstable complex pair | "
          "median rel. error, eigen vs target | 90th pct | median rel. error, output vs target | "
          "median rel. error, eigen vs output | analysis s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    results = []
    for c, l2 in enumerate(float(v) for v in args.l2_activity.split(",") if v):
        t0 = time.perf_counter()
        pop = train_population(task, model, args.networks, args.steps, jax.random.key(c), batch_size=args.batch,
                               learning_rate=args.lr, l2_activity=l2, checkpoint_every=min(500, args.steps))
        t_train = time.perf_counter() - t0
        for i in range(args.networks):
            t0 = time.perf_counter()
            pred, f_out, _ = analyse_network(model, pop.network(i), task, args.seeds_per_cue, args.seed_noise,
                                             args.run_factor, jax.random.key(100 + i))
            secs = time.perf_counter() - t0
            ok = np.isfinite(pred)
            rel = np.abs(pred - target) / target
            rel_out = np.abs(f_out - target) / target  # NaN where the output does not oscillate
            rel_eo = np.abs(pred - f_out) / f_out
            med = float(np.median(rel[ok])) if ok.any() else float("nan")
            p90 = float(np.percentile(rel[ok], 90)) if ok.any() else float("nan")
            eo = float(np.nanmedian(rel_eo[ok])) if ok.any() else float("nan")
            results.append((l2, i, pred, f_out, med, int(ok.sum())))
            print(f"| {l2:g} | {i} | {t_train:.0f} | {pop.final_loss[i]:.4f} | {pop.metric[i]:.3f} | "
                  f"{int(ok.sum())}/{ok.size} | {med:.3f} | {p90:.3f} | {np.nanmedian(rel_out):.3f} | {eo:.3f} | "
                  f"{secs:.1f} |", flush=True)

    # The per-cue detail of the network with the most cues analysed, then the lowest median error.
    l2, i, pred, f_out, _, _ = min(results, key=lambda r: (-r[5], r[4] if np.isfinite(r[4]) else np.inf))
    print(f"\nper cue, network {i} of l2_activity {l2:g} (every 5th cue):\n")
    print("| cue level | target Hz | output Hz | predicted Hz (unstable pair) | rel. error vs target |")
    print("|---:|---:|---:|---:|---:|")
    levels = np.asarray(task.input_levels())
    for k in range(0, len(target), 5):
        print(f"| {levels[k]:.3f} | {target[k]:.2f} | {f_out[k]:.2f} | {pred[k]:.2f} | "
              f"{abs(pred[k] - target[k]) / target[k]:.3f} |")


if __name__ == "__main__":
    main()
