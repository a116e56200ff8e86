"""The GPU run of issue 16, as one script: train 1000 GRU-64 flip-flop networks × 2000 steps, profile it, try
TF32/bf16 matmuls, find the fixed points and skeletons of all of them, and extrapolate to 10⁶ networks.

Stages, in the order they run (each printed as Markdown for benchmarks/RESULTS.md; the most expendable last):
1. Training: `train_population` (batch 128, T = 64, Adam, one compiled chunk), cold and warm. The compile is
   timed on its own from JAX's compile events (trace + lowering + XLA compile), so the cold call also gives a
   compute-only time. networks·steps/s and achieved FLOP/s against the device's peak: the matmul FLOPs of
   forward + backward are counted from the shapes (`gru_train_flops`, derivation in its comments; a test
   checks it against the dot products in JAX's own program, `jaxpr_matmul_flops`).
2. Where the time goes: a `jax.profiler` trace of a short training run (open it with TensorBoard's profile
   plugin or Perfetto) and a coarse split measured without the profiler, by timing jitted pieces of one
   step for the whole population: sampling trials, the forward scan, forward + backward, the Adam update.
3. Fixed points + skeletons of every trained network: `pipeline.analyze_group`, cold, timed.
4. Extrapolation to 10⁶ networks, on one GPU and on G GPUs through the Ray backend (`dynascope.scale`), from
   the measured rates and the memory chunk sizes (`dynascope.memory`).
5. Precision: the same training (same keys) under `jax.default_matmul_precision` 'tensorfloat32' and
   'bfloat16' against 'float32'; time ratios, and the fixed points of a subset of networks (searched at
   'float32' precision in every case) compared network by network: same index counts?, Hausdorff distance.
   JAX maps the legacy names to XLA precisions: 'float32' → HIGHEST, 'tensorfloat32' → HIGH, 'bfloat16' →
   DEFAULT (what runs when nothing is set). `--precisions` also takes the dot-algorithm presets
   (e.g. BF16_BF16_F32, TF32_TF32_F32) where the backend supports them.

`--budget-s` (default 480) keeps the whole run inside ~10 minutes of device time (with the machine's start):
the warm repeat is skipped when the first training took more than half of what is left, and the precision
runs train fewer networks, or are skipped, to fit what remains (the script prints what it cut).

    python benchmarks/gpu_scale.py --dry-run            # CPU, < 2 min: estimates + the code path at tiny size
    python benchmarks/gpu_scale.py                      # the GPU run (H100/H200), ~10 min
    python benchmarks/gpu_scale.py --networks 16 --steps 200 --fp-seeds 64 --precision-networks 4   # CPU calibration

Compile times are real compiles: the persistent compilation cache (`dynascope._cache`) is off in this script
unless $DYNASCOPE_CACHE_DIR is set.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import math
import os
import platform
import sys
import tempfile
import time
from typing import Any, Callable, Iterator

if __name__ == "__main__":
    # Compile times must be compiles, not loads from a cache a previous run (the dry run) filled.
    os.environ.setdefault("DYNASCOPE_CACHE_DIR", "off")

import jax
import jax.extend.core
import jax.numpy as jnp
import numpy as np
import optax
from jax import monitoring

from dynascope import dynamics, models, tasks
from dynascope.memory import Budget, chunk_size, format_bytes, memory_budget
from dynascope.dynamics._scheduler import BYTES_PER_MATRIX_ENTRY
from dynascope.pipeline import AnalysisOptions, StoredGroup, analyze_group, network_id
from dynascope.train import masked_mse, train_population
from dynascope.train.memory import estimate_training_memory, networks_per_chunk

N_BITS, LR, CLIP = 3, 1e-3, 1.0
CUBE = json.dumps({"0": 8, "1": 12, "2": 6, "3": 1})

#: Dense peak TFLOP/s by device kind (substring of `device.device_kind`, most specific first) and matmul
#: precision: NVIDIA's H100/H200 datasheets; the tensor-core figures there are quoted with 2:4 sparsity,
#: halved here to the dense rate a GEMM can reach. 'float32' is the CUDA-core FP32 rate (what XLA's
#: HIGHEST precision runs at), 'tensorfloat32' the TF32 tensor cores, 'bfloat16' the BF16 tensor cores.
PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "H200 NVL": {"float32": 60.0, "tensorfloat32": 417.5, "bfloat16": 835.5},
    "H100 NVL": {"float32": 60.0, "tensorfloat32": 417.5, "bfloat16": 835.5},
    "H100 PCIe": {"float32": 51.2, "tensorfloat32": 378.0, "bfloat16": 756.0},
    "H200": {"float32": 66.9, "tensorfloat32": 494.7, "bfloat16": 989.4},  # SXM
    "H100": {"float32": 66.9, "tensorfloat32": 494.7, "bfloat16": 989.4},  # SXM ("H100 80GB HBM3")
}
#: Device memory (bytes) for the chunk-size table of the dry run.
DEVICE_MEMORY = {"H200 (141 GB)": 141e9, "H100 (80 GB)": 80e9}
#: JAX preallocates this share of a GPU's memory for its pool (XLA_PYTHON_CLIENT_MEM_FRACTION default), and
#: `dynascope.memory` sizes chunks to AUTO_FRACTION of what the pool reports free.
JAX_GPU_POOL = 0.75
#: Assumed share of the TF32 dense peak for the dry run's predicted wall time: a guess, not a measurement.
#: Each time step is a small batched GEMM ([3H, H] @ [H, batch] per network) in a sequential scan, so kernel
#: launches and the scan's loop overhead, not the tensor cores, are expected to bound it.
ASSUMED_EFFICIENCY = (0.05, 0.10, 0.25)

#: The JAX compile events whose durations make up "compile" time: tracing, lowering to MLIR, XLA compile.
_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
_compile_seconds = [0.0]


def _on_event(event: str, duration: float, **_: Any) -> None:
    if event in _COMPILE_EVENTS:
        _compile_seconds[0] += duration


monitoring.register_event_duration_secs_listener(_on_event)


@contextlib.contextmanager
def clock() -> Iterator[dict[str, float]]:
    """Times the block: yields a dict that gets 'wall' and 'compile' seconds (compile from JAX's events) and
    'run' = wall − compile."""
    out: dict[str, float] = {}
    c0, t0 = _compile_seconds[0], time.perf_counter()
    yield out
    out["wall"] = time.perf_counter() - t0
    out["compile"] = _compile_seconds[0] - c0
    out["run"] = max(out["wall"] - out["compile"], 0.0)


# -- FLOP counts ------------------------------------------------------------------------------------------
def gru_train_flops(n_hidden: int, n_inputs: int, n_outputs: int, batch: int, n_time: int) -> dict[str, int]:
    """Matmul FLOPs of one training step (forward + backward) of ONE GRU network, by part.

    One multiply-add is 2 FLOPs, so a product [m, k] @ [k] per trial costs 2·m·k. Forward, per trial and
    time step (dynascope's GRU, PyTorch's equations):
        M_in  = 2·3H·I   gates from the input, W_ih x
        M_rec = 2·3H·H   gates from the state, W_hh h
        M_out = 2·O·H    readout, W_out h
    Backward: a product A @ v with a trained A needs dA = g vᵀ (the forward's FLOPs again), and one whose v
    depends on the parameters needs dv = Aᵀ g (again). x is data, so W_ih x pays only dW_ih; every h —
    including h0, which is trained — depends on the parameters, so W_hh h and W_out h pay both:
        per trial-step: forward M_in + M_rec + M_out, backward M_in + 2·M_rec + 2·M_out
    times batch·n_time. Left out: elementwise work (gates, biases, nonlinearities: O(H) per trial-step
    against O(H²): a few % at H = 64), the loss, gradient clipping and Adam (O(parameters) per step, not per
    trial-step: ~10⁻⁴ of the total), and sampling the trials.
    """
    h, i, o = n_hidden, n_inputs, n_outputs
    m_in, m_rec, m_out = 2 * 3 * h * i, 2 * 3 * h * h, 2 * o * h
    per = batch * n_time
    forward = per * (m_in + m_rec + m_out)
    backward = per * (m_in + 2 * m_rec + 2 * m_out)
    return {"forward": forward, "backward": backward, "total": forward + backward}


def jaxpr_matmul_flops(fn: Callable[..., Any], *args: Any) -> int:
    """FLOPs of every dot product in JAX's own program for `fn(*args)` (2 · output size · contracted size per
    `dot_general`, scan bodies times their length): an independent count to check `gru_train_flops` against.
    XLA's `cost_analysis()` is no help here: it counts a while loop's body once, whatever its trip count."""
    return _jaxpr_flops(jax.make_jaxpr(fn)(*args).jaxpr)


def _jaxpr_flops(jaxpr: Any) -> int:
    total = 0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            (contract, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            total += 2 * math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs[d] for d in contract)
            continue
        if name == "while":
            raise ValueError("a while loop's trip count is unknown to a static FLOP count")
        inner = [_jaxpr_flops(getattr(v, "jaxpr", v)) for v in _sub_jaxprs(eqn.params)]
        if name == "cond":
            total += max(inner, default=0)  # one branch runs
        else:
            total += sum(inner) * (eqn.params["length"] if name == "scan" else 1)
    return total


def _sub_jaxprs(params: dict[str, Any]) -> Iterator[Any]:
    for value in params.values():
        for v in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(v, (jax.extend.core.Jaxpr, jax.extend.core.ClosedJaxpr)):
                yield v


def traced_flops(task: Any, model: Any, batch: int) -> int:
    """jaxpr_matmul_flops of one network's training loss and gradient on one batch (traced, not compiled)."""

    def loss(params: Any, trials: Any) -> jax.Array:
        _, outputs = model.run(params, trials.inputs)
        return masked_mse(outputs, trials)

    trials = jax.eval_shape(lambda k: task.sample(k, batch), jax.random.key(0))
    return jaxpr_matmul_flops(jax.value_and_grad(loss), jax.eval_shape(model.init, jax.random.key(0)), trials)


def peak_tflops(device_kind: str, precision: str, override: float | None = None) -> float | None:
    """The dense peak TFLOP/s of `device_kind` at `precision` (PEAK_TFLOPS), `override` if given, else None."""
    if override:
        return override
    for kind, peaks in PEAK_TFLOPS.items():
        if kind.lower() in device_kind.lower():
            return peaks.get(_nominal(precision))
    return None


def _nominal(precision: str) -> str:
    """The peak column a precision name runs at ('float32' HIGHEST, 'tensorfloat32', 'bfloat16' or a preset)."""
    p = precision.upper()
    if p.startswith("BF16"):
        return "bfloat16"
    if p.startswith("TF32"):
        return "tensorfloat32"
    if p.startswith("F32") or p in ("FLOAT32", "HIGHEST"):
        return "float32"
    return precision.lower()


# -- setup ------------------------------------------------------------------------------------------------
def task_model(hidden: int, n_time: int) -> tuple[Any, Any]:
    task = tasks.get("flipflop", n_bits=N_BITS, n_time=n_time)
    return task, models.get("gru", n_inputs=N_BITS, n_hidden=hidden, n_outputs=N_BITS)


def train(task: Any, model: Any, n: int, steps: int, batch: int, precision: str, seed: int = 0) -> tuple[Any, dict]:
    """train_population under a matmul precision, in one compiled chunk; (population, clock)."""
    opts = dict(batch_size=batch, learning_rate=LR, grad_clip=CLIP, checkpoint_every=steps, eval_batch=batch)
    with jax.default_matmul_precision(precision), clock() as t:
        pop = train_population(task, model, n, steps, jax.random.key(seed), **opts)
        jax.block_until_ready(pop.params)
    return pop, t


# -- stage 2: where the time goes -------------------------------------------------------------------------
def step_pieces(task: Any, model: Any, n: int, batch: int, precision: str) -> dict[str, Callable[[], Any]]:
    """Jitted pieces of one training step of `n` networks, each ready to call (inputs made, compiled once)."""
    opt = optax.chain(optax.clip_by_global_norm(CLIP), optax.scale_by_adam())  # what train_population runs

    def loss(params: Any, trials: Any) -> jax.Array:
        _, outputs = model.run(params, trials.inputs)
        return masked_mse(outputs, trials)

    def update(params: Any, state: Any, grads: Any) -> tuple[Any, Any]:
        with jax.numpy_dtype_promotion("standard"):  # optax mixes int32 counts with Python floats
            updates, state = opt.update(grads, state, params)
        return jax.tree_util.tree_map(lambda p, u: p - LR * u, params, updates), state

    keys = jax.random.split(jax.random.key(0), n)
    with jax.default_matmul_precision(precision):
        sample = jax.jit(jax.vmap(lambda k: task.sample(k, batch)))
        forward = jax.jit(jax.vmap(loss))
        grad = jax.jit(jax.vmap(jax.value_and_grad(loss)))
        adam = jax.jit(jax.vmap(update))
        params = jax.jit(jax.vmap(model.init))(keys)
        trials = sample(keys)
        _, grads = grad(params, trials)
        state = jax.vmap(opt.init)(params)
        pieces = {
            "sample trials": lambda: sample(keys),
            "forward (scan)": lambda: forward(params, trials),
            "forward + backward": lambda: grad(params, trials),
            "clip + Adam update": lambda: adam(params, state, grads),
        }
        for f in pieces.values():
            jax.block_until_ready(f())  # compile outside the timings
    return pieces


def best_time(f: Callable[[], Any], calls: int, repeats: int = 3) -> float:
    """Best over `repeats` of the mean seconds per call of `calls` back-to-back calls."""
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            out = f()
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


# -- stage 3: fixed points under each precision -----------------------------------------------------------
def fixed_points_of(model: Any, task: Any, params: Any, n_seeds: int) -> tuple[list[Any], float]:
    """Fixed points (input 0) of every network of stacked `params`, seeded from its own trials; the state std."""
    with jax.default_matmul_precision("float32"):  # the analysis is the same for every training precision
        trials = jax.jit(task.sample, static_argnums=1)(jax.random.key(1), 64)
        states, _ = jax.jit(jax.vmap(model.run, in_axes=(0, None)))(params, trials.inputs)
        scale = float(jnp.std(states))
        keys = jax.random.split(jax.random.key(2), states.shape[0])
        seeds = jax.vmap(dynamics.sample_initial_states, in_axes=(0, 0, None, None))(keys, states, n_seeds, 0.05 * scale)
        fps = dynamics.find_fixed_points(model, params, np.zeros(N_BITS, np.float32), seeds, reachable_states=states)
    return (fps if isinstance(fps, list) else [fps]), scale


def inside(fps: Any) -> tuple[np.ndarray, dict[int, int]]:
    """The converged points inside the reachable region and their counts by index."""
    ok = fps.converged & ~fps.outside_reachable
    return fps.states[ok], dict(sorted(collections.Counter(fps.n_unstable[ok].tolist()).items()))


def hausdorff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest distance from a point of either set to the nearest point of the other (inf if one is empty)."""
    if len(a) == 0 or len(b) == 0:
        return 0.0 if len(a) == len(b) else math.inf
    d = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    return float(max(d.min(axis=1).max(), d.min(axis=0).max()))


# -- stage 5: extrapolation -------------------------------------------------------------------------------
def chunks_on(device_bytes: float, per_network: int, n: int) -> int:
    """Networks per training chunk on a GPU of `device_bytes` (JAX's pool, then dynascope's usable share)."""
    return chunk_size(per_network, n, Budget(int(device_bytes * JAX_GPU_POOL), "GPU memory pool", False))


def extrapolate(rate: float, steps: int, compile_s: float, chunk: int, fp_rate: float | None,
                gpus: tuple[int, ...] = (1, 8, 64), total: int = 10**6) -> list[str]:
    """Markdown rows: wall time for `total` networks on G GPUs, from a training rate (networks·steps/s), the
    compile seconds per process, the networks per chunk and the analysis rate (networks/s)."""
    rows = []
    for g in gpus:
        per_gpu = math.ceil(total / g)
        n_chunks = math.ceil(per_gpu / chunk)
        # Every Ray worker process compiles its programs once (twice when its last chunk has another size);
        # chunks run one after another on a GPU, each at the measured rate (measured at fewer networks than a
        # full chunk: a larger batched GEMM is not slower per network, so this is an upper bound).
        compiles = compile_s * (2 if per_gpu % chunk else 1)
        t_train = per_gpu * steps / rate + compiles
        t_fp = per_gpu / fp_rate if fp_rate else float("nan")
        rows.append(f"| {g} | {per_gpu:,} | {n_chunks} | {t_train:,.0f} s ({t_train / 3600:.2f} h) | "
                    f"{t_fp:,.0f} s ({t_fp / 3600:.2f} h) | {(t_train + t_fp) / 3600:.2f} h |")
    return rows


def estimates(args: argparse.Namespace, task: Any, model: Any) -> None:
    """What the full-size run costs, from the shapes alone (printed by every run, first)."""
    fl = gru_train_flops(args.hidden, N_BITS, N_BITS, args.batch, args.n_time)
    total = fl["total"] * args.networks * args.steps
    est = estimate_training_memory(model, 1, batch_size=args.batch, n_time=args.n_time, n_outputs=N_BITS,
                                   steps=args.steps)
    fp_bytes = args.fp_seeds * model.n_state**2 * BYTES_PER_MATRIX_ENTRY
    print(f"## Estimates for {args.networks} GRU-{args.hidden} × {args.steps} steps (batch {args.batch}, "
          f"T = {args.n_time}), from the shapes\n")
    print(f"- matmul FLOPs per network per step: forward {fl['forward']:,}, backward {fl['backward']:,}, "
          f"total {fl['total']:,} ({fl['total'] / 1e6:.1f} MFLOP)")
    print(f"- the same count from the dot products of JAX's program for one network's loss and gradient "
          f"(jaxpr_matmul_flops): {traced_flops(task, model, args.batch):,}")
    print(f"- whole run: {total:.3e} FLOP")
    print(f"- training memory per network (train.memory estimate, a lower bound): {format_bytes(est.total)} "
          f"({format_bytes(est.params)} parameters + gradients + Adam, {format_bytes(est.activations)} "
          f"activations for backprop, {format_bytes(est.history)} loss history)")
    print(f"- fixed-point search per network ({args.fp_seeds} seeds, {BYTES_PER_MATRIX_ENTRY} B per "
          f"[K, S, S] entry): {format_bytes(fp_bytes)}\n")
    print(f"| device | JAX pool ({JAX_GPU_POOL:.0%}) | chunk budget (× 0.5) | networks per training chunk | "
          f"networks per fixed-point chunk |")
    print("|---|---:|---:|---:|---:|")
    for name, mem in DEVICE_MEMORY.items():
        pool = Budget(int(mem * JAX_GPU_POOL), name, False)
        print(f"| {name} | {format_bytes(pool.total)} | {format_bytes(pool.usable)} | "
              f"{chunks_on(mem, est.total, 10**6):,} | {chunk_size(fp_bytes, 10**6, pool):,} |")
    print("\nPredicted training wall time, ESTIMATE at an assumed share of the dense peak (compute only; "
          "not measured):\n")
    print("| device | precision | peak TFLOP/s | " + " | ".join(f"at {e:.0%}" for e in ASSUMED_EFFICIENCY) + " |")
    print("|---|---|---:|" + "---:|" * len(ASSUMED_EFFICIENCY))
    for kind in ("H200", "H100"):
        for prec in ("float32", "tensorfloat32", "bfloat16"):
            peak = PEAK_TFLOPS[kind][prec]
            cells = " | ".join(f"{total / (e * peak * 1e12):.1f} s" for e in ASSUMED_EFFICIENCY)
            print(f"| {kind} SXM | {prec} | {peak} | {cells} |")
    print()


# -- the stages, in the order they run (the most expendable last) -------------------------------------------
def stage_training(args: argparse.Namespace, task: Any, model: Any, ref: str, left: Callable[[], float]) -> dict:
    """1. Training, cold (compile timed from JAX's events) and warm (skipped when the budget is short)."""
    pop, cold = train(task, model, args.networks, args.steps, args.batch, ref)
    # The rest of the run costs about two more trainings (the precision runs, cut first) and an analysis.
    warm = None
    if left() > 2 * cold["wall"]:
        _, warm = train(task, model, args.networks, args.steps, args.batch, ref, seed=1)
    else:
        print("(budget: warm repeat skipped; the compute-only time of the cold call stands in for it)\n")
    t_train = warm["wall"] if warm else cold["run"]
    fl = gru_train_flops(args.hidden, N_BITS, N_BITS, args.batch, args.n_time)["total"]
    rate = args.networks * args.steps / t_train
    dev = jax.devices()[0]
    peak = peak_tflops(dev.device_kind, ref, args.peak_tflops)
    achieved = fl * args.networks * args.steps / t_train
    chunk = networks_per_chunk(task, model, args.networks, args.steps, batch_size=args.batch)
    print(f"## 1. Training: {args.networks} GRU-{args.hidden} × {args.steps} steps, precision {ref!r}\n")
    print("| cold s | of which compile s | cold − compile s | warm s | networks·steps/s | achieved TFLOP/s | "
          "peak TFLOP/s | share of peak | final loss (mean) | task score ≥ criterion |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    share = f"{achieved / (peak * 1e12):.1%}" if peak else "– (no peak for this device)"
    print(f"| {cold['wall']:.1f} | {cold['compile']:.1f} | {cold['run']:.1f} | "
          f"{warm['wall'] if warm else float('nan'):.1f} | {rate:,.0f} | {achieved / 1e12:.4f} | "
          f"{peak if peak else '–'} | {share} | {float(np.mean(pop.final_loss)):.2e} | "
          f"{int(pop.trained.sum())}/{args.networks} |")
    print(f"\nFLOPs counted: {fl:,} matmul FLOP per network-step (gru_train_flops). Training chunk on this device: "
          f"{chunk} networks per compiled program (budget: {memory_budget().where}).\n")
    return {"pop": pop, "cold": cold, "t_train": t_train, "rate": rate}


def stage_profile(args: argparse.Namespace, task: Any, model: Any, ref: str, t_train: float) -> None:
    """2. A profiler trace of a short training run, and the coarse split by jitted pieces."""
    prof_dir = args.profile_dir or tempfile.mkdtemp(prefix="dynascope-gpu-profile-")
    ps = args.profile_steps
    train(task, model, args.networks, ps, args.batch, ref)  # compile outside the trace
    with jax.profiler.trace(prof_dir):
        _, traced = train(task, model, args.networks, ps, args.batch, ref, seed=2)
    pieces = step_pieces(task, model, args.networks, args.batch, ref)
    with jax.default_matmul_precision(ref):  # the precision the pieces were compiled under (a cache key)
        times = {name: best_time(f, args.split_calls) for name, f in pieces.items()}
    fused = t_train / args.steps
    print(f"## 2. Where the time goes (one step of all {args.networks} networks, jitted pieces, "
          f"best of 3 × {args.split_calls} calls)\n")
    print("| piece | ms per step | share of the fused step |")
    print("|---|---:|---:|")
    rows = {
        "sample trials": times["sample trials"],
        "forward (scan)": times["forward (scan)"],
        "backward (forward + backward − forward)": times["forward + backward"] - times["forward (scan)"],
        "clip + Adam update": times["clip + Adam update"],
    }
    for name, s in rows.items():
        print(f"| {name} | {1e3 * s:.2f} | {s / fused:.0%} |")
    parts = sum(rows.values())
    print(f"| sum of the pieces | {1e3 * parts:.2f} | {parts / fused:.0%} |")
    print(f"| train_population, fused (warm / steps) | {1e3 * fused:.2f} | 100% |")
    print(f"\njax.profiler trace of {ps} steps ({traced['wall']:.2f} s traced) in {prof_dir}\n")


def stage_analysis(args: argparse.Namespace, task: Any, model: Any, pop: Any) -> float:
    """3. Fixed points + skeletons of every network (analyze_group, cold); returns networks per second."""
    n = args.networks
    name = f"gru-{args.hidden}"
    group = StoredGroup(name, task, pop.model, pop.params, tuple(network_id(name, s) for s in range(n)))
    with jax.default_matmul_precision("float32"), clock() as ta:
        _, sk = analyze_group(group, AnalysisOptions(n_initial_states=args.fp_seeds))
    fp_rate = n / ta["run"]
    full_cubes = sum(c == CUBE for c in sk.index_counts)
    print(f"## 3. Fixed points + skeletons of all {n} networks (analyze_group, {args.fp_seeds} seeds)\n")
    print("| cold s | of which compile s | cold − compile s | networks/s | full cube | projected 1000 networks |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {ta['wall']:.1f} | {ta['compile']:.1f} | {ta['run']:.1f} | {fp_rate:.2f} | "
          f"{full_cubes}/{n} | {1000 / fp_rate:.0f} s |\n")
    return fp_rate


def stage_extrapolation(args: argparse.Namespace, task: Any, model: Any, rate: float, compile_s: float,
                        fp_rate: float) -> None:
    """4. 10⁶ networks on one GPU and on G GPUs through the Ray backend, from the measured rates."""
    est = estimate_training_memory(model, 1, batch_size=args.batch, n_time=args.n_time, n_outputs=N_BITS,
                                   steps=args.steps)
    big = networks_per_chunk(task, model, 10**6, args.steps, batch_size=args.batch)
    print(f"## 4. Extrapolation to 10⁶ networks × {args.steps} steps, from the rates measured above\n")
    print(f"Training {rate:,.0f} networks·steps/s, compile {compile_s:.0f} s per process, analysis "
          f"{fp_rate:.2f} networks/s, {big:,} networks per training chunk on this device "
          f"({format_bytes(est.total)} each). Assumes the rate holds for every chunk and every GPU, the Ray "
          f"backend gives each GPU an equal share, and writing shards costs nothing (not measured).\n")
    print("| GPUs | networks per GPU | chunks per GPU | training | fixed points + skeletons | total |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in extrapolate(rate, args.steps, compile_s, big, fp_rate):
        print(row)
    print()


def stage_precision(args: argparse.Namespace, task: Any, model: Any, precisions: list[str], trained: dict,
                    left: Callable[[], float]) -> None:
    """5. The same training under other matmul precisions: time ratios and the fixed points compared."""
    pop, cold, ref, others = trained["pop"], trained["cold"], precisions[0], precisions[1:]
    if not others:
        return
    per_net = cold["run"] / args.networks
    n_prec = min(args.precision_networks or args.networks, args.networks)
    m = min(args.compare_networks, n_prec)
    take = lambda params, k: jax.tree_util.tree_map(lambda a: a[:k], params)  # noqa: E731
    with clock() as t_fp:
        ref_fps, scale = fixed_points_of(model, task, take(pop.params, m), args.fp_seeds)
    if args.precision_networks is None:
        # each run: a compile, its training, the search of m networks (compile included, as measured)
        afford = left() / len(others) - cold["compile"] - t_fp["wall"]
        if afford < n_prec * per_net:
            n_prec = int(afford / per_net)
            if n_prec < m:
                print(f"(budget: {left():.0f} s left, too little for the precision runs; skipped)\n")
                return
            print(f"(budget: precision runs train {n_prec} networks, not {args.networks})\n")
    print("## 5. Precision: the same training (same keys) under each matmul precision\n")
    print(f"Fixed points of the first {m} networks (input 0, {args.fp_seeds} seeds, searched at 'float32' "
          f"precision) compared with the {ref!r}-trained ones; state std {scale:.3f}.\n")
    print("| precision | networks | run s (− compile) | time ratio to reference | final loss (mean of the first "
          f"{n_prec}) | "
          "same index counts | max Hausdorff distance (same-count networks) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    # Cold − compile against cold − compile: both calls pay the same one-off costs besides compiling.
    ref_run = cold["run"] * n_prec / args.networks
    print(f"| {ref} (reference) | {args.networks} | {cold['run']:.1f} | 1.00 | "
          f"{float(np.mean(pop.final_loss[:n_prec])):.2e} | {m}/{m} | 0 |")
    for prec in others:
        p_pop, t = train(task, model, n_prec, args.steps, args.batch, prec)
        fps, _ = fixed_points_of(model, task, take(p_pop.params, m), args.fp_seeds)
        same, dist = 0, 0.0
        for a, b in zip(ref_fps, fps):
            (sa, ca), (sb, cb) = inside(a), inside(b)
            if ca == cb:
                same += 1
                dist = max(dist, hausdorff(sa, sb))
        print(f"| {prec} | {n_prec} | {t['run']:.1f} | {t['run'] / ref_run:.2f} | "
              f"{float(np.mean(p_pop.final_loss)):.2e} | {same}/{m} | {dist:.2e} |")
    print(f"\nTime ratios: cold − compile of each precision's run against the reference's cold − compile "
          f"({cold['run']:.1f} s) scaled to {n_prec} networks ({ref_run:.1f} s)"
          + ("; fewer networks use a GPU less fully, so a ratio from a subset overstates its cost"
             if n_prec < args.networks else "") + ".\n")


# -- main -------------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--networks", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--n-time", type=int, default=64)
    ap.add_argument("--precisions", default="float32,tensorfloat32,bfloat16",
                    help="matmul precisions to train under; the first is the reference")
    ap.add_argument("--precision-networks", type=int, default=None,
                    help="networks trained under each other precision (default: all, if the budget allows)")
    ap.add_argument("--compare-networks", type=int, default=16, help="networks whose fixed points are compared")
    ap.add_argument("--fp-seeds", type=int, default=256, help="initial states per network for fixed points")
    ap.add_argument("--profile-steps", type=int, default=20, help="steps of the traced training run")
    ap.add_argument("--profile-dir", default=None, help="folder for the jax.profiler trace (default: a temp folder)")
    ap.add_argument("--split-calls", type=int, default=10, help="calls per timing of each jitted piece")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the device's peak, overriding the table")
    ap.add_argument("--budget-s", type=float, default=480.0,
                    help="wall-clock seconds the whole run may take (the warm repeat and precision runs adapt)")
    ap.add_argument("--dry-run", action="store_true",
                    help="print the full-size estimates, then run every stage at a tiny size on this machine")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # a run killed at its time limit keeps every line printed
    t_start = time.perf_counter()
    left = lambda: args.budget_s - (time.perf_counter() - t_start)  # noqa: E731
    full = argparse.Namespace(**vars(args))
    if args.dry_run:  # the same code path, at a size a CPU runs in well under 2 minutes
        args.networks, args.steps, args.hidden, args.batch = 4, 20, 16, 16
        args.fp_seeds, args.compare_networks, args.precision_networks = 32, 2, 2
        args.precisions, args.profile_steps, args.split_calls = "float32,bfloat16", 20, 2
    precisions = [p for p in args.precisions.split(",") if p]
    dev = jax.devices()[0]
    print(f"# {time.strftime('%Y-%m-%d %H:%M %Z')} · {platform.node()} · jax {jax.__version__} on {dev.platform} "
          f"({dev.device_kind}){' · DRY RUN' if args.dry_run else ''}\n")
    estimates(full, *task_model(full.hidden, full.n_time))
    if args.dry_run:
        print(f"## Dry run: every stage at {args.networks} GRU-{args.hidden} × {args.steps} steps, batch "
              f"{args.batch}, precisions {precisions}\n")
    task, model = task_model(args.hidden, args.n_time)
    trained = stage_training(args, task, model, precisions[0], left)
    stage_profile(args, task, model, precisions[0], trained["t_train"])
    fp_rate = stage_analysis(args, task, model, trained["pop"])
    stage_extrapolation(args, task, model, trained["rate"], trained["cold"]["compile"], fp_rate)
    stage_precision(args, task, model, precisions, trained, left)
    print(f"total wall time of this script: {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
