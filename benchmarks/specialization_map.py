"""Where functional specialization emerges (Béna & Goodman 2025), at a CPU-minutes scale: a `dynascope specialize`
sweep of two-module networks on `sign_match` (each module sees one stream; the output is whether the two signs
match) over the fraction of between-module connections and the network size, with the three measures of
`compare.specialization` at the end and during training.

It prints, per architecture, markdown tables of the task score and of each measure's mean specialization index
(95 % bootstrap interval over networks) over (fraction × size), the measures' rank agreement across networks, and
two trend statistics per measure: the Spearman correlation of the index with the fraction (expected negative:
sparser between-module wiring, more specialization) and with the size (expected negative: fewer neurons, more
specialization), each across the trained networks. Usage:

    .venv/bin/python benchmarks/specialization_map.py --out /tmp/spec-bench                # rate modules
    .venv/bin/python benchmarks/specialization_map.py --arch modular_lif --steps 600 --out /tmp/spec-lif

Reference: Béna & Goodman 2025, "Dynamics of specialization in neural modules under resource constraints",
Nat. Commun. (specialization rises as resources shrink and as the modules' connectivity falls; the measures
agree qualitatively).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from dynascope.pipeline import SpecializationConfig, run_specialization, specialization_summary
from dynascope.pipeline.specialization import MEASURES
from dynascope.train import TrainOptions


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="modular")
    p.add_argument("--inter", default="0,0.03,0.1,0.3,1")
    p.add_argument("--sizes", default="8,16,32,64")
    p.add_argument("--networks", type=int, default=4)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--trials", type=int, default=256)
    p.add_argument("--noise", type=float, default=0.5, help="sign_match's noise_std")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    config = SpecializationConfig(
        task="sign_match", archs=(args.arch,), inter_fractions=tuple(float(f) for f in args.inter.split(",")),
        sizes=tuple(int(n) for n in args.sizes.split(",")), n_networks=args.networks, steps=args.steps,
        n_trials=args.trials, task_options={"noise_std": args.noise},
        train=TrainOptions(batch_size=args.batch, learning_rate=args.lr, checkpoint_every=args.steps,
                           snapshot_every=max(args.steps // 4, 1)),
    )
    t0 = time.perf_counter()
    run = run_specialization(config, args.out, resume=True)
    seconds = time.perf_counter() - t0
    s = specialization_summary(run)
    print(f"# {args.arch} on sign_match (noise_std {args.noise}): fractions {list(config.inter_fractions)}, sizes "
          f"{list(config.sizes)}, {config.n_networks} networks, {config.steps} steps, batch {args.batch}, lr {args.lr}; "
          f"{seconds:.0f} s (training + measures, compilation included)\n")
    cells = {(c["inter_fraction"], c["n_hidden"]): c for c in s.map}
    header = "| size | " + " | ".join(f"inter {f:g} (Q {cells[(f, config.sizes[0])]['modularity']:.2f})"
                                       for f in config.inter_fractions) + " |"
    rule = "|---" * (len(config.inter_fractions) + 1) + "|"
    for key in ("metric", *MEASURES):
        print(f"**{'task score' if key == 'metric' else key}**\n\n{header}\n{rule}")
        for n in config.sizes:
            row = []
            for f in config.inter_fractions:
                c = cells.get((f, n))
                if c is None:
                    row.append("–")
                elif key == "metric":
                    row.append(f"{c['metric']:.2f}")
                else:
                    row.append(f"{c[key]:.2f} [{c[key + '_low']:.2f}, {c[key + '_high']:.2f}]")
            print(f"| {n} | " + " | ".join(row) + " |")
        print()
    trained = np.isfinite(s.metric)
    for m in MEASURES:
        ok = trained & np.isfinite(s.index[m])
        rho_f = spearmanr(s.inter_fraction[ok], s.index[m][ok]).statistic
        rho_n = spearmanr(s.n_hidden[ok], s.index[m][ok]).statistic
        print(f"- {m}: Spearman ρ with the fraction {rho_f:+.2f}, with the size {rho_n:+.2f} ({ok.sum()} networks)")
    if s.agreement is not None:
        a = s.agreement
        print(f"- rank agreement: decodability–lesion {a[0, 1]:.2f}, decodability–correlation {a[0, 2]:.2f}, "
              f"lesion–correlation {a[1, 2]:.2f}")
    else:
        print(f"- rank agreement: not defined ({s.agreement_note})")
    # Over training at the largest size: the mean index at each measured step, per fraction.
    size = config.sizes[-1]
    print(f"\n**over training (size {size}; mean index at steps {[int(x) for x in s.steps]})**\n")
    for m in MEASURES:
        parts = []
        for f in config.inter_fractions:
            sel = (s.inter_fraction == f) & (s.n_hidden == size)
            parts.append(f"inter {f:g}: " + " → ".join(f"{v:.2f}" for v in np.nanmean(s.over_training[m][sel], axis=0)))
        print(f"- {m}: " + "; ".join(parts))


if __name__ == "__main__":
    main()
