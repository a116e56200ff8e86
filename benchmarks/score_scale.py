"""How long does `pipeline.score` take for many networks against one recording? (issue 14, "Scale": 1000
networks on the CPU in minutes, not hours.)

A synthetic 3-bit flip-flop recording (`dynascope.data.synthesize`, Poisson neurons, NWB) and a run folder of N
networks on the flip-flop task with the recording's 3 input channels, split over groups of two architectures and
two sizes. The networks keep their initial weights: scoring runs every network on the recorded inputs and compares
its condition averages, which costs the same whatever the weights are, so training them would only add minutes
that this benchmark does not measure. Then `score` is timed end to end (reading the NWB file, running the networks,
the ceiling, every metric with its trial bootstrap, the group bootstrap, writing the catalog) and per network.

    python benchmarks/score_scale.py                         # N = 1000, cca,shape,rsa, 50 bootstrap resamples
    python benchmarks/score_scale.py --networks 100 --profile 15
    python benchmarks/score_scale.py --metrics fit_r2,fit_bps --hidden 16 --repeat 2   # cold, then warm
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from dynascope import data, models, pipeline, tasks
from dynascope.pipeline import SweepConfig
from dynascope.pipeline.benchmarks import DEFAULT_METRICS, Benchmark
from dynascope.pipeline.score import Leaderboard, ScoreOptions, score
from dynascope.train import Population, TrainOptions

ARCHS = ("vanilla", "gru")


def make_run(root: Path, n_networks: int, hidden: tuple[int, ...], n_bits: int, n_time: int) -> pipeline.RunFolder:
    """A run folder of `n_networks` networks (initial weights) dealt out over archs × hidden sizes."""
    groups = [(a, h) for a in ARCHS for h in hidden]
    sizes = np.diff(np.linspace(0, n_networks, len(groups) + 1).round().astype(int))
    config = SweepConfig(task="flipflop", archs=ARCHS, n_hidden=hidden, n_networks=int(sizes.max()), steps=1,
                         task_options={"n_bits": n_bits, "n_time": n_time}, train=TrainOptions(batch_size=4))
    run = pipeline.prepare_run(config, root / "run")
    task = tasks.get("flipflop", n_bits=n_bits, n_time=n_time)
    for i, ((arch, h), n) in enumerate(zip(groups, sizes)):
        if n == 0:
            continue
        model = models.get(arch, n_inputs=n_bits, n_hidden=h, n_outputs=n_bits)
        params = jax.vmap(model.init)(jax.random.split(jax.random.key(i), int(n)))
        pipeline.save_population(run, f"{arch}-{h}", Population(
            task=task, model=model, params=params, seeds=np.arange(n), learning_rates=np.full(n, 1e-3),
            loss_history=np.zeros((n, 1), np.float32), final_loss=np.ones(n), metric=np.zeros(n),
            trained=np.zeros(n, bool), diverged=np.zeros(n, bool), stopped_at=np.ones(n, np.int64), seconds=0.0,
            options=config.train))
    return run


def report(args: argparse.Namespace, system: data.GroundTruthSystem, board: Leaderboard, metrics: tuple[str, ...],
           seconds: dict[str, float], done: dict[str, float], total: float, cpu: float, label: str,
           profiler: cProfile.Profile | None) -> None:
    """Print one timing table (Markdown) of a `score` call."""
    n_scored = len(set(n for n, lvl in zip(board.scores.network, board.scores.level) if lvl == "network"))
    print(f"# {label} · {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {platform.node()} {platform.machine()} "
          f"{jax.devices()[0].platform} x{os.cpu_count()} · load {os.getloadavg()[0]:.1f} · jax {jax.__version__}")
    print(f"flip-flop recording: {args.trials} trials × {system.n_time} bins, {args.neurons} neurons, "
          f"{len(board.conditions)} conditions; {n_scored} networks ({', '.join(ARCHS)} × hidden {args.hidden}); "
          f"metrics {','.join(metrics)}; {args.bootstrap} trial bootstrap resamples; skipped {len(board.skipped_networks)}")
    print()
    print("| phase | seconds | ms per network |")
    print("|---|---:|---:|")
    for name, s in seconds.items():
        print(f"| {name} (setup, not scored) | {s:.1f} | – |")
    # Before the first metric: reading the recording, running every network, the splits and the projections.
    before = done.get(f"{metrics[0]} start", float("nan"))
    print(f"| score: read, run networks, splits, projections | {before:.1f} | {1e3 * before / n_scored:.1f} |")
    for m in metrics:
        s = done[f"{m} end"] - done[f"{m} start"]
        print(f"| score: {m} (estimate + {args.bootstrap} resamples + group bootstrap) | {s:.1f} | "
              f"{1e3 * s / n_scored:.1f} |")
    rest = total - done[f"{metrics[-1]} end"]
    print(f"| score: agreement + write catalog | {rest:.1f} | {1e3 * rest / n_scored:.1f} |")
    print(f"| **score end to end** (wall; CPU {cpu:.0f} s) | **{total:.1f}** | **{1e3 * total / n_scored:.1f}** |")
    if profiler is not None:
        print()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(args.profile)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", type=int, default=1000)
    parser.add_argument("--metrics", default=",".join(DEFAULT_METRICS), help="comma-separated metric names")
    parser.add_argument("--bootstrap", type=int, default=ScoreOptions.n_bootstrap, help="trial bootstrap resamples")
    parser.add_argument("--hidden", default="16,32", help="comma-separated hidden sizes (groups: vanilla and gru each)")
    parser.add_argument("--neurons", type=int, default=200)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--profile", type=int, default=0, help="print this many cProfile lines (by own time)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="score this many times in the same process (the first cold, the others warm)")
    args = parser.parse_args()
    metrics = tuple(m for m in args.metrics.split(",") if m)
    hidden = tuple(int(h) for h in args.hidden.split(","))

    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        system = data.get_system("flipflop", n_bits=3)
        recording = data.synthesize(system, key=jax.random.key(0), n_trials=args.trials, n_neurons=args.neurons)
        data.write_nwb(recording, root / "rec.nwb")
        seconds["synthesize + write NWB"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        run = make_run(root, args.networks, hidden, system.n_bits, system.n_time)
        seconds["write run folder"] = time.perf_counter() - t0

        bench = Benchmark("scale", "1", root / "rec.nwb", metrics=metrics)
        options = ScoreOptions(n_bootstrap=args.bootstrap, trained_only=False)
        for attempt in range(args.repeat):
            done: dict[str, float] = {}
            start = time.perf_counter()

            def on_progress(metric: str, step: int, total: int, done: dict[str, float] = done,
                            start: float = start) -> None:
                done[f"{metric} {'start' if step == 0 else 'end'}"] = time.perf_counter() - start

            profiler = cProfile.Profile() if args.profile else None
            cpu0 = time.process_time()
            if profiler is not None:
                profiler.enable()
            board = score(run, bench, options, progress=on_progress)
            if profiler is not None:
                profiler.disable()
            total = time.perf_counter() - start
            cpu = time.process_time() - cpu0
            report(args, system, board, metrics, seconds if attempt == 0 else {}, done, total, cpu,
                   "cold" if attempt == 0 else "warm (same process)", profiler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
