"""The same trained networks analysed by two versions of the dynamics engine (issue 10's before/after).

Training is not part of the comparison: a renamed parameter changes the order in which the global-norm
gradient clip sums its leaves, and over thousands of chaotic steps that alone trains a different network.
So the networks are trained once and stored, and each source tree analyses the stored weights with its own
`benchmarks/sinewave_frequency.py:analyse_network` (fixed points seeded from each cue's trajectory, the
linearisation's dominant unstable complex pair), timed cold (first call, compiling) and warm (second call).

    # once, in any tree: train the benchmark's two networks (l2_activity 0 and 0.2) and store them
    .venv/bin/python benchmarks/engine_ab.py train --weights /tmp/sine.npz
    # then per tree (PYTHONPATH picks the dynascope that analyses)
    PYTHONPATH=<tree>/src .venv/bin/python benchmarks/engine_ab.py analyse --tree <tree> --weights /tmp/sine.npz --out a.json
    .venv/bin/python benchmarks/engine_ab.py diff a.json b.json

Parameters are stored under the names of the tree that trained them; a tree that names them differently
(the non-gated models' `W`, `U` before issue 10's convention, `W_rec`, `W_in` after) gets them renamed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

#: Earlier names of the same parameters (vanilla/ctrnn before issue 10's naming convention).
ALIASES = {"W_rec": "W", "W_in": "U"}


def _train(args: argparse.Namespace) -> None:
    import jax

    from dynascope import models, tasks
    from dynascope.train import train_population

    task = tasks.get("sinewave", n_frequencies=args.n_frequencies, n_time=args.n_time)
    model = models.get(args.arch, n_inputs=1, n_hidden=args.hidden, n_outputs=1)
    arrays = {}
    for c, l2 in enumerate(args.l2_activity):
        pop = train_population(task, model, 1, args.steps, jax.random.key(c), batch_size=args.batch,
                               learning_rate=args.lr, l2_activity=l2, checkpoint_every=min(500, args.steps))
        for name, leaf in pop.network(0).items():
            arrays[f"{l2}/{name}"] = np.asarray(leaf)
        print(f"l2_activity {l2:g}: final loss {float(pop.final_loss[0]):.4f}, score {float(pop.metric[0]):.3f}")
    np.savez(args.weights, **arrays, config=json.dumps(vars(args) | {"weights": str(args.weights)}))


def _analyse(args: argparse.Namespace) -> None:
    import jax
    import jax.numpy as jnp

    from dynascope import models, tasks

    spec = importlib.util.spec_from_file_location("sine_bench", Path(args.tree) / "benchmarks" / "sinewave_frequency.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    stored = np.load(args.weights)
    cfg = json.loads(str(stored["config"]))
    task = tasks.get("sinewave", n_frequencies=cfg["n_frequencies"], n_time=cfg["n_time"])
    model = models.get(cfg["arch"], n_inputs=1, n_hidden=cfg["hidden"], n_outputs=1)
    wanted = set(model.init(jax.random.key(0)))
    out = {"tree": str(args.tree), "networks": {}}
    for l2 in cfg["l2_activity"]:
        params = {}
        for key in stored.files:
            if key.startswith(f"{l2}/"):
                name = key.split("/", 1)[1]
                name = name if name in wanted else ALIASES.get(name, name)
                params[name] = jnp.asarray(stored[key])
        assert set(params) == wanted, (sorted(params), sorted(wanted))
        times, results = [], []
        for _ in range(2):  # cold (compiles), then warm
            t0 = time.perf_counter()
            pred, f_out, n_cand = bench.analyse_network(model, params, task, args.seeds_per_cue, args.seed_noise,
                                                        args.run_factor, jax.random.key(100))
            times.append(time.perf_counter() - t0)
            results.append(pred)
        assert np.array_equal(results[0], results[1], equal_nan=True)
        out["networks"][str(l2)] = {"cold_s": times[0], "warm_s": times[1], "predicted_hz": pred.tolist(),
                                    "output_hz": np.asarray(f_out).tolist(), "candidates": np.asarray(n_cand).tolist()}
        print(f"l2_activity {l2:g}: cues with an unstable complex pair {int(np.isfinite(pred).sum())}/{pred.size}, "
              f"cold {times[0]:.1f} s, warm {times[1]:.2f} s", flush=True)
    Path(args.out).write_text(json.dumps(out))


def _diff(args: argparse.Namespace) -> None:
    a, b = (json.loads(Path(p).read_text()) for p in (args.a, args.b))
    print(f"A = {a['tree']}, B = {b['tree']}\n")
    print("| l2_activity | cues analysed A / B | candidates equal | max abs. difference of predicted Hz | "
          "warm s A | warm s B | B / A warm | cold s A | cold s B |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for l2, ra in a["networks"].items():
        rb = b["networks"][l2]
        pa, pb = np.asarray(ra["predicted_hz"]), np.asarray(rb["predicted_hz"])
        both = np.isfinite(pa) & np.isfinite(pb)
        diff = float(np.max(np.abs(pa[both] - pb[both]))) if both.any() else float("nan")
        print(f"| {float(l2):g} | {int(np.isfinite(pa).sum())} / {int(np.isfinite(pb).sum())} | "
              f"{ra['candidates'] == rb['candidates']} | {diff:.2e} | {ra['warm_s']:.2f} | {rb['warm_s']:.2f} | "
              f"{rb['warm_s'] / ra['warm_s']:.2f} | {ra['cold_s']:.1f} | {rb['cold_s']:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the benchmark's networks once and store their weights")
    t.add_argument("--weights", required=True)
    t.add_argument("--arch", default="vanilla")
    t.add_argument("--hidden", type=int, default=64)
    t.add_argument("--l2-activity", type=lambda s: [float(v) for v in s.split(",")], default=[0.0, 0.2])
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--n-frequencies", type=int, default=51)
    t.add_argument("--n-time", type=int, default=100)
    a = sub.add_parser("analyse", help="analyse the stored networks with one tree's benchmark code")
    a.add_argument("--tree", required=True, help="the source tree whose benchmarks/sinewave_frequency.py runs")
    a.add_argument("--weights", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--seeds-per-cue", type=int, default=8)
    a.add_argument("--seed-noise", type=float, default=0.1)
    a.add_argument("--run-factor", type=int, default=5)
    d = sub.add_parser("diff", help="compare two analyses")
    d.add_argument("a")
    d.add_argument("b")
    args = ap.parse_args()
    {"train": _train, "analyse": _analyse, "diff": _diff}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
