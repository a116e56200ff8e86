"""dynascope's default `find_fixed_points` against the real FixedPointFinder, same networks, same seeds.

FixedPointFinder (Golub & Sussillo 2018; its PyTorch build, `FixedPointFinderTorch`) is run with the
settings of its own flip-flop example: 1024 initial states sampled from the network's trajectories with
Gaussian noise of std 0.5, `lr_init=1.0`, `max_iters=10000`, `outlier_distance_scale=10`. Both tools get
the same plain-PyTorch networks, trained here on FixedPointFinder's own flip-flop data generator, the
same initial states and the same input (zero), in one process. torch runs on one intra-op thread (two
thread pools in one process slow both down on 2 cores).

Printed per network: wall time (dynascope cold = first call of the process for that shape, with
compilation; warm = the same call again), the distinct points inside the reachable region (the box of
visited states widened by 10 % on each side, the same rule for both tools) by number of unstable
directions, the largest q among them, and where the seeds ended.

FixedPointFinder is not a dependency and is never vendored. The benchmark looks for its source at
$FPF_DIR (default ~/.cache/dynascope/fixed-point-finder), pinned to commit FPF_COMMIT below:

    git clone <the public repository mattgolub/fixed-point-finder> ~/.cache/dynascope/fixed-point-finder
    git -C ~/.cache/dynascope/fixed-point-finder checkout 1a3041798a8c227878bb889fbe7ae47370a1848c

and skips with that message when it is absent. Trained torch weights are cached beside it
(safetensors), so a rerun measures the searches only.

    python benchmarks/fixed_points_vs_fpf.py                          # all five networks (CPU: ~15 min)
    python benchmarks/fixed_points_vs_fpf.py --networks tanh-16,gru-64
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

FPF_COMMIT = "1a3041798a8c227878bb889fbe7ae47370a1848c"
FPF_DIR = Path(os.environ.get("FPF_DIR", Path.home() / ".cache" / "dynascope" / "fixed-point-finder"))
HOW = (
    f"FixedPointFinder not found at {FPF_DIR}. Get it (not vendored, never committed):\n"
    f"  git clone <public repository mattgolub/fixed-point-finder> {FPF_DIR}\n"
    f"  git -C {FPF_DIR} checkout {FPF_COMMIT}\n"
    "or point $FPF_DIR at such a checkout. Skipping the benchmark."
)
NETWORKS = ("tanh-16", "tanh-128", "gru-64", "gru-128", "lstm-64")
N_BITS = 3
MARGIN = 0.1  # dynascope's reachable_margin default


def train_torch(arch: str, hidden: int, steps: int, seed: int):
    """A plain-PyTorch flip-flop network (RNN/GRU/LSTM + Linear readout) trained on FPF's data."""
    import torch
    from safetensors.torch import load_file, save_file

    from FlipFlopData import FlipFlopData  # FPF's own generator

    torch.manual_seed(seed)
    cls = {"tanh": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[arch]
    rnn = cls(N_BITS, hidden, batch_first=True)
    readout = torch.nn.Linear(hidden, N_BITS)
    cache = FPF_DIR.parent / "fpf-bench-weights" / f"{arch}-{hidden}-s{seed}-{steps}.safetensors"
    data = FlipFlopData(n_bits=N_BITS, n_time=64, random_seed=seed)
    if cache.is_file():
        state = load_file(str(cache))
        rnn.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("rnn.")})
        readout.load_state_dict({k[8:]: v for k, v in state.items() if k.startswith("readout.")})
        return rnn, readout, data, None
    opt = torch.optim.Adam(list(rnn.parameters()) + list(readout.parameters()), lr=1e-2 if hidden <= 64 else 3e-3)
    loss = None
    for step in range(steps):
        batch = data.generate_data(n_trials=128)
        x, y = torch.from_numpy(batch["inputs"]), torch.from_numpy(batch["targets"])
        out, _ = rnn(x)
        loss = torch.mean((readout(out) - y) ** 2)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(rnn.parameters()) + list(readout.parameters()), 1.0)
        opt.step()
    cache.parent.mkdir(parents=True, exist_ok=True)
    save_file({**{f"rnn.{k}": v.contiguous() for k, v in rnn.state_dict().items()},
               **{f"readout.{k}": v.contiguous() for k, v in readout.state_dict().items()}}, str(cache))
    return rnn, readout, data, float(loss.detach())


def box(states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat = states.reshape(-1, states.shape[-1])
    lo, hi = flat.min(0), flat.max(0)
    pad = MARGIN * (hi - lo)
    return lo - pad, hi + pad


def inside(points: np.ndarray, b: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return np.all((points >= b[0]) & (points <= b[1]), axis=-1)


def fmt_counts(n_unstable: np.ndarray) -> str:
    return str(dict(sorted(collections.Counter(n_unstable.tolist()).items())))


def run_fpf(rnn, initial_states: np.ndarray, b) -> dict:
    from FixedPointFinderTorch import FixedPointFinderTorch

    fpf = FixedPointFinderTorch(rnn, max_iters=10000, lr_init=1.0, outlier_distance_scale=10.0,
                                verbose=False, super_verbose=False)
    t0 = time.perf_counter()
    unique, all_fps = fpf.find_fixed_points(initial_states, np.zeros((1, N_BITS), np.float32))
    seconds = time.perf_counter() - t0
    tol_q = fpf.tol_q
    q_all = np.asarray(all_fps.qstar)
    if unique.n:
        xs, q = np.asarray(unique.xstar), np.asarray(unique.qstar)
        n_unstable = np.sum(np.abs(np.asarray(unique.eigval_J_xstar)) > 1.0, axis=1)
        ok = inside(xs, b)
        conv = ok & (q < tol_q)
        counts, qmax = fmt_counts(n_unstable[conv]), (float(q[conv].max()) if conv.any() else float("nan"))
        extra = f"; {int((ok & ~conv).sum())} unique with q ≥ {tol_q:g}, {int((~ok).sum())} outside"
    else:
        counts, qmax, extra = "{}", float("nan"), ""
    ended = f"{int((q_all < tol_q).sum())} of {len(q_all)} seeds reached q < {tol_q:g}{extra}"
    return {"seconds": seconds, "counts": counts, "qmax": qmax, "ended": ended}


def run_dynascope(model, params, initial_states: np.ndarray, states: np.ndarray) -> dict:
    from dynascope import dynamics

    u = np.zeros(N_BITS, np.float32)

    def call():
        return dynamics.find_fixed_points(model, params, u, initial_states, reachable_states=states)

    t0 = time.perf_counter()
    call()
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    fps = call()
    warm = time.perf_counter() - t0
    ok = fps.converged & ~fps.outside_reachable
    c = fps.counts()
    ended = (f"{fps.n_initial_states} seeds → {int(fps.converged.sum())} distinct roots "
             f"({int((fps.converged & fps.outside_reachable).sum())} outside), {c['slow']} slow, "
             f"{fps.n_failed} seeds failed, {fps.n_escaped} left the search region")
    qmax = float(fps.q[ok].max()) if ok.any() else float("nan")
    return {"cold": cold, "seconds": warm, "counts": fmt_counts(fps.n_unstable[ok]), "qmax": qmax, "ended": ended}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--networks", default=",".join(NETWORKS), help=f"comma-separated, from {', '.join(NETWORKS)}")
    ap.add_argument("--train-steps", type=int, default=1500)
    ap.add_argument("--n-inits", type=int, default=1024)
    ap.add_argument("--noise", type=float, default=0.5)
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not (FPF_DIR / "FixedPointFinderTorch.py").is_file():
        print(HOW)
        return
    sys.path[:0] = [str(FPF_DIR), str(FPF_DIR / "examples" / "helper")]  # FPF is a folder of modules, not a package

    import jax
    import torch

    from dynascope import interop

    torch.set_num_threads(args.torch_threads)
    dev = jax.devices()[0]
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} · {platform.node()} · jax {jax.__version__} on {dev.platform} · "
          f"torch {torch.__version__} ({args.torch_threads} thread) · FixedPointFinder {FPF_COMMIT[:7]}\n")
    print(f"{args.n_inits} initial states from trajectories + noise {args.noise}, input 0; points inside the "
          f"reachable box (+{MARGIN:.0%}) by number of unstable directions\n")
    print("| network | train loss | tool | cold s | warm s | points by index | max q | seeds |")
    print("|---|---:|---|---:|---:|---|---:|---|")
    for name in args.networks.split(","):
        arch, hidden = name.split("-")
        rnn, readout, data, loss = train_torch(arch, int(hidden), args.train_steps, args.seed)
        valid = data.generate_data(n_trials=128)
        with torch.no_grad():
            hidden_traj, _ = rnn(torch.from_numpy(valid["inputs"]))
            err = float(torch.mean((readout(hidden_traj) - torch.from_numpy(valid["targets"])) ** 2))
        states = hidden_traj.numpy()
        model, params = interop.from_torch(rnn, readout=readout)
        if arch == "lstm":  # the flat state is [h, c]; FPF's torch build has no LSTM support
            with torch.no_grad():
                hs, cs = [], []
                h = torch.zeros(1, 128, int(hidden)), torch.zeros(1, 128, int(hidden))
                for t in range(valid["inputs"].shape[1]):
                    _, h = rnn(torch.from_numpy(valid["inputs"][:, t : t + 1]), h)
                    hs.append(h[0][0].numpy()), cs.append(h[1][0].numpy())
            states = np.concatenate([np.stack(hs, 1), np.stack(cs, 1)], axis=-1)
        rng = np.random.default_rng(args.seed)
        flat = states.reshape(-1, states.shape[-1])
        initial = (flat[rng.integers(0, len(flat), args.n_inits)]
                   + args.noise * rng.standard_normal((args.n_inits, flat.shape[1]))).astype(np.float32)
        b = box(states)
        loss_txt = f"{err:.1e}"
        ours = run_dynascope(model, params, initial, states)
        print(f"| {name} | {loss_txt} | dynascope | {ours['cold']:.2f} | {ours['seconds']:.2f} | {ours['counts']} | "
              f"{ours['qmax']:.1e} | {ours['ended']} |", flush=True)
        if arch == "lstm":
            print(f"| {name} | {loss_txt} | FixedPointFinder | – | – | not supported by its PyTorch build "
                  "(nn.LSTM's state is a tuple) | – | – |", flush=True)
            continue
        theirs = run_fpf(rnn, initial, b)
        print(f"| {name} | {loss_txt} | FixedPointFinder | – | {theirs['seconds']:.2f} | {theirs['counts']} | "
              f"{theirs['qmax']:.1e} | {theirs['ended']} |", flush=True)
        print(f"| {name} | | ratio | | **{theirs['seconds'] / ours['seconds']:.2f}×** FPF's time / ours (warm) | | | |",
              flush=True)


if __name__ == "__main__":
    main()
