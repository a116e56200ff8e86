"""Why Spyx trains a recurrent LIF layer faster than dynascope at H = 4096 on the CPU (RESULTS.md section 16b).

One process builds, as compiled XLA programs, the loss (forward only) and the (loss, gradient) (forward + backward)
of one training step of the section-16 configuration (`benchmarks/snn_frameworks.py`: batch 16, 100 input
channels of sparse pulses, 10 outputs, MSE) for:

- `dynascope`: `models.get("lif")` run by `Model.run` (dense BPTT), through the public API;
- `copy`: the same step's math written out in this script (`written_loss`: exact integration, refractory
  `where`s, `models.spike_input`, the flat 5·H state vmapped over the batch and stacked by the scan) — it gives
  the same loss and gradient as `dynascope` (checked at start) and should take the same time;
- variants of `copy` that change ONE thing each (`VARIANTS`): the input projection hoisted out of the scan
  (`hoist`), `w @ z` instead of `spike_input` (`plain`), no refractory `where`s (`norefr`), the state carried as
  separate blocks with only the readout trace stacked (`blocks`), explicit batch-major `z @ Wᵀ` (`bm`) or
  neuron-major `W @ Z` (`nm`) instead of vmap, and W_rec's gradient taken after the loop as one GEMM over T·B
  from the cotangents of the recurrent input (`dw`: a zero "probe" added to the recurrent input of every step;
  no H × H outer product accumulated per step); then `all` (hoist, plain, norefr, blocks, bm together),
  `all+dw`, and `all+dw+wt`, whose forward also reads a transposed copy of W made once per call, so that both
  products in the loop (z·Wᵀ forward, g·W backward) contract the rows of the matrix they read;
- `spyx`: Spyx's `RCuBaLIF` run by `spyx.nn.run`, exactly as `snn_frameworks.py` builds it.

Each program is compiled (`jax.jit(...).lower(...).compile()`) and called once to warm up; then the programs are
timed in rounds, every program once per round in turn (A B C … A B C …), so a change in the machine's load hits
all alike; the median over rounds is reported, each call synchronised with `jax.block_until_ready`.

`--ops` times the H²-sized pieces of a step alone (each over T steps in a `fori_loop`).
`--hlo` prints, per program, what runs inside the while loops of the compiled (loss, gradient) program: every dot
(operand shapes and dtypes) and every instruction whose result has H² elements — the passes over an H × H matrix
each time step, which decide the time once W (64 MiB at H = 4096) no longer fits in the cache.

    XLA_FLAGS=--xla_cpu_multi_thread_eigen=false .venv/bin/python benchmarks/snn_profile.py --hidden 4096 --steps 100
    .venv/bin/python benchmarks/snn_profile.py --hidden 4096 --steps 100 --hlo --rounds 0
    .venv/bin/python benchmarks/snn_profile.py --hidden 256 --steps 20 --rounds 1      # a smoke run

Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import re
import statistics
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp

from dynascope import models
from dynascope.tasks import Trials
from dynascope.train import masked_mse

# The section-16 configuration, its data and Spyx's program come from snn_frameworks.py (this script's folder is
# on sys.path when it runs as `python benchmarks/snn_profile.py`).
from snn_frameworks import BATCH, DT, N_IN, N_OUT, TAU_MEM, TAU_SYN, data, spyx_loss  # noqa: E402

TAU_OUT, THETA = 20.0, 1.0


def lif_model(hidden: int):
    return models.get("lif", n_inputs=N_IN, n_hidden=hidden, n_outputs=N_OUT, tau_mem=TAU_MEM, tau_syn=TAU_SYN,
                      tau_out=TAU_OUT, dt=DT, threshold=THETA)


# -- the step written out ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Variant:
    """How the written-out LIF step differs from `Spiking.advance` + `Model.run` (all False/"vmap": the same)."""

    hoist: bool = False  # W_in x + b for all steps in one matmul before the scan
    plain: bool = False  # w @ z instead of models.spike_input (float spikes kept for the backward)
    norefr: bool = False  # no refractory block and no `where`s on it (n_refractory is 0 here anyway)
    blocks: bool = False  # carry (v, I, z, u) as separate arrays and stack only u, not the flat 5H state
    layout: str = "vmap"  # "vmap": per-trial step vmapped; "bm": z [B,H] @ Wᵀ; "nm": W @ Z with Z [H, B]
    dw: bool = False  # W_rec's gradient by one GEMM after the loop (no H×H accumulation in the backward loop)
    wt: bool = False  # with dw and "bm": the forward reads a transposed copy Wᵀ made once per call (z @ Wᵀcopy
    #                   contracts its rows, the fast way), the backward reads W (g @ W, also its rows)


VARIANTS: dict[str, Variant] = {
    "copy": Variant(),
    "hoist": Variant(hoist=True),
    "plain": Variant(plain=True),
    "norefr": Variant(norefr=True),
    "blocks": Variant(blocks=True),
    "bm": Variant(layout="bm"),
    "nm": Variant(layout="nm"),
    "dw": Variant(dw=True),
    "all": Variant(hoist=True, plain=True, norefr=True, blocks=True, layout="bm"),
    "all+dw": Variant(hoist=True, plain=True, norefr=True, blocks=True, layout="bm", dw=True),
    "all+dw+wt": Variant(hoist=True, plain=True, norefr=True, blocks=True, layout="bm", dw=True, wt=True),
}


def constants() -> tuple[float, float, float, float]:
    """α_m, α_s, κ = psp(dt) (a unit current's effect on v over one step, exact), α_out."""
    a_m, a_s = math.exp(-DT / TAU_MEM), math.exp(-DT / TAU_SYN)
    kappa = TAU_SYN * (a_s - a_m) / (TAU_SYN - TAU_MEM)
    return a_m, a_s, kappa, math.exp(-DT / TAU_OUT)


def written_loss(var: Variant, hidden: int) -> Callable[[dict, Trials], jax.Array]:
    """The masked-MSE loss of `lif` (params as `lif_model(hidden).init` makes them) computed by the written-out
    step, changed as `var` says."""
    a_m, a_s, kappa, a_o = constants()
    h = hidden
    rec = (lambda w, z: w @ z) if var.plain else models.spike_input
    axis = 0 if var.layout == "nm" else -1  # the neuron axis of a block

    def update(blocks, drive, wz, probe):
        """One step of the blocks (v, I, r, z, u), each [H], [B, H] or [H, B]; `wz(z)` the recurrent input;
        `probe` (zeros or None) added to it, so that its cotangent is the recurrent input's (`dw`)."""
        v, i, r, _, u = blocks
        if var.norefr:
            v = a_m * v + (1.0 - a_m) * drive + kappa * i
            z = models.spike(v - THETA, "fast_sigmoid")
        else:
            free = r <= 0
            v = jnp.where(free, a_m * v + (1.0 - a_m) * drive + kappa * i, v)
            z = jnp.where(free, models.spike(v - THETA, "fast_sigmoid"), 0.0)
        i = a_s * i + wz(z)
        if probe is not None:
            i = i + probe
        fired = jax.lax.stop_gradient(z)
        v = v - THETA * fired
        if not var.norefr:  # n_refractory = 0 (the default refractory of 0 ms), as in the model
            r = jnp.where(fired > 0, 0.0, jnp.maximum(r - 1.0, 0.0)).astype(v.dtype)
        return v, i, r, z, a_o * u + z

    def split(s, ax=axis):
        return tuple(jax.lax.slice_in_dim(s, k * h, (k + 1) * h, axis=ax % s.ndim) for k in range(5))

    def outputs_of(p: dict, inputs: jax.Array, probes: jax.Array | None):
        """(outputs [B, T, O], the spikes [T, B, H] when `probes` [T, B, H] is given, else None)."""
        w, w_in, b = p["W_rec"], p["W_in"], p["b"]
        if probes is not None:  # W's gradient is taken from the probes' cotangents after the loop
            w = jax.lax.stop_gradient(w)
        xs = jnp.swapaxes(inputs, 0, 1)  # [T, B, I]
        if var.hoist:
            xs = jnp.einsum("tbi,hi->tbh", xs, w_in) + b  # the drive of every step in one GEMM
        init = [jnp.broadcast_to(p["h0"][k * h:(k + 1) * h], (BATCH, h)) for k in range(5)]
        if var.layout == "vmap":  # Model.run: the one-trial step vmapped over the batch
            def one(blocks, x, e):
                return update(blocks, x if var.hoist else w_in @ x + b, lambda z: rec(w, z), e)

            step = jax.vmap(one, in_axes=(0, 0, None if probes is None else 0))
        elif var.layout == "bm":  # [B, H] blocks, z @ Wᵀ
            if var.wt:
                wt = jax.lax.optimization_barrier(w.T)  # materialised once, outside the loop

            def step(blocks, x, e):
                wz = (lambda z: z @ w.T) if var.plain else (lambda z: rec(w, z.T).T)
                if var.wt:
                    wz = lambda z: both_ways(w, wt, z)  # noqa: E731
                return update(blocks, x if var.hoist else x @ w_in.T + b, wz, e)
        else:  # "nm": [H, B] blocks, W @ Z
            init = [a.T for a in init]

            def step(blocks, x, e):
                return update(blocks, (x if var.hoist else x @ w_in.T + b).T, lambda z: rec(w, z),
                              None if e is None else e.T)

        if var.blocks:  # carry the blocks, stack only the readout trace u (and the spikes for `dw`)
            def body(c, xe):
                c = step(c, *xe)
                return c, (c[4], c[3] if probes is not None else None)

            _, (trace, zs) = jax.lax.scan(body, tuple(init), (xs, probes))
        else:  # carry and stack the flat state, as Model.run does
            def body(s, xe):
                s = jnp.concatenate(step(split(s), *xe), axis=axis)
                return s, s

            _, states = jax.lax.scan(body, jnp.concatenate(init, axis=axis), (xs, probes))
            _, _, _, zs, trace = split(states, 1 if var.layout == "nm" else -1)
        if var.layout == "nm":
            trace, zs = jnp.swapaxes(trace, 1, 2), jnp.swapaxes(zs, 1, 2)  # [T, B, H]
        outputs = jnp.swapaxes(trace @ p["W_out"].T + p["b_out"], 0, 1)  # [B, T, O]
        return outputs, (zs if probes is not None else None)

    @jax.custom_vjp
    def both_ways(w, wt, z):  # z @ Wᵀ read from the copy wt = Wᵀ; W and wt carry no gradient here (dw)
        return z @ wt

    both_ways.defvjp(lambda w, wt, z: (z @ wt, w), lambda w, g: (None, None, g @ w))

    @jax.custom_vjp
    def outputs_dw(p: dict, inputs: jax.Array) -> jax.Array:
        return outputs_of(p, inputs, None)[0]

    def outputs_dw_fwd(p, inputs):
        probes = jnp.zeros((inputs.shape[1], BATCH, h), inputs.dtype)
        outputs, vjp_fn, zs = jax.vjp(lambda p, e: outputs_of(p, inputs, e), p, probes, has_aux=True)
        return outputs, (vjp_fn, zs, inputs)

    def outputs_dw_bwd(res, g):
        vjp_fn, zs, inputs = res
        gp, ge = vjp_fn(g)  # ge [T, B, H]: ∂L/∂(recurrent input) of every step and trial
        # ∂L/∂W = Σ_t,b ge[t,b,:] z[t,b,:]ᵀ: one GEMM over T·B, not T accumulations of an H×H outer product.
        gp = dict(gp, W_rec=gp["W_rec"] + jnp.einsum("tbh,tbk->hk", ge, zs))
        return gp, jnp.zeros_like(inputs)

    outputs_dw.defvjp(outputs_dw_fwd, outputs_dw_bwd)

    def loss(p: dict, trials: Trials) -> jax.Array:
        outputs = outputs_dw(p, trials.inputs) if var.dw else outputs_of(p, trials.inputs, None)[0]
        return masked_mse(outputs, trials)

    return loss


# -- programs --------------------------------------------------------------------------------------------------
def dynascope_loss(hidden: int) -> Callable[[dict, Trials], jax.Array]:
    model = lif_model(hidden)

    def loss(p: dict, trials: Trials) -> jax.Array:
        _, outputs = model.run(p, trials.inputs)
        return masked_mse(outputs, trials)

    return loss


def programs(names: list[str], hidden: int, n_time: int, modes: list[str]) -> dict[tuple[str, str], tuple[Any, tuple]]:
    """{(name, mode): (compiled program, its arguments)}; mode "fwd" is the loss, "grad" (loss, gradient)."""
    inputs, targets = data(n_time)
    trials = Trials(jnp.asarray(inputs), jnp.asarray(targets), jnp.ones_like(jnp.asarray(targets)))
    params = lif_model(hidden).init(jax.random.key(0))
    out = {}
    for name in names:
        if name == "spyx":
            loss, args = spyx_loss(hidden, inputs, targets)
        else:
            loss = dynascope_loss(hidden) if name == "dynascope" else written_loss(VARIANTS[name], hidden)
            args = (params, trials)
        for mode in modes:
            fn = loss if mode == "fwd" else jax.value_and_grad(loss)
            out[name, mode] = jax.jit(fn).lower(*args).compile(), args
    return out


# -- what runs in the loop -------------------------------------------------------------------------------------
_INSTR = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = (\S+?)\[?([\d,]*)\]?(?:\{[^}]*\})? (\w[\w-]*)\((.*)$")


def loop_profile(text: str, hidden: int) -> list[str]:
    """Lines describing each while body of an optimised HLO module `text`: its dots / custom calls (result and
    operand shapes) and the instructions whose result has H² (or more) elements."""
    comps: dict[str, list[str]] = {}
    name = None
    for line in text.splitlines():
        m = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$", line)
        if m and not line.startswith(" "):
            name = m.group(1)
            comps[name] = []
        elif name is not None and line.startswith(" "):
            comps[name].append(line.strip())
    shapes: dict[str, str] = {}
    for lines in comps.values():
        for line in lines:
            m = re.match(r"^(?:ROOT )?%?([\w.\-]+) = (\S+(?:\[[\d,]*\])?)", line)
            if m:
                shapes[m.group(1)] = m.group(2)

    def called(line: str) -> list[str]:
        return re.findall(r"(?:calls|body|condition|to_apply|branch_computations)=\{?%?([\w.\-]+)", line)

    bodies = [b for lines in comps.values() for line in lines for b in re.findall(r"body=%?([\w.\-]+)", line)]
    report = []
    for body in bodies:
        seen, todo, lines = set(), [body], []
        while todo:  # the body and everything it calls (fusions), but not nested loops' bodies twice
            c = todo.pop()
            if c in seen or c not in comps:
                continue
            seen.add(c)
            for line in comps[c]:
                lines.append((c, line))
                todo.extend(called(line))
        report.append(f"while body {body}: {len(lines)} instructions")
        for c, line in lines:
            m = re.match(r"^(?:ROOT )?%?([\w.\-]+) = (\S+?)\[([\d,]*)\]\S* (\w[\w\-]*)\(([^)]*)\)", line)
            if not m:
                continue
            _, dtype, dims, op, operands = m.groups()
            n = math.prod(int(d) for d in dims.split(",") if d) if dims else 1
            if op in ("dot", "custom-call", "convolution") or n >= hidden * hidden:
                ops = ", ".join(shapes.get(o.strip().lstrip("%"), "?") for o in operands.split(",") if o.strip())
                report.append(f"  [{c}] {op} -> {dtype}[{dims}]  ({ops})")
    return report


def op_programs(hidden: int, n_time: int) -> dict[tuple[str, str], tuple[Any, tuple]]:
    """Programs of the H²-sized pieces of one step, each repeated over `n_time` steps in a `fori_loop` (W, 4·H²
    bytes, is read again every step, as in the scan): {(piece, "loop"): (compiled, args)}."""
    k = jax.random.split(jax.random.key(1), 3)
    w = jax.random.normal(k[0], (hidden, hidden)) / math.sqrt(hidden)
    z = (jax.random.uniform(k[1], (n_time, BATCH, hidden)) < 0.05).astype(jnp.float32)
    g = jax.random.normal(k[2], (n_time, BATCH, hidden))

    def loop(body, init):
        return lambda w, z, g: jax.lax.fori_loop(0, n_time, lambda t, c: body(t, c, w, z, g), init)

    pieces = {
        # forward recurrent input, as vmap(w @ z) compiles it: z [B,H] contracted with W's columns
        "z @ W.T (fwd)": loop(lambda t, c, w, z, g: c + z[t] @ w.T, jnp.zeros((BATCH, hidden))),
        # backward recurrent cotangent: λ [B,H] contracted with W's rows
        "g @ W (bwd dz)": loop(lambda t, c, w, z, g: c + g[t] @ w, jnp.zeros((BATCH, hidden))),
        # backward weight gradient as the scan's transpose does it: an H×H outer product per step, accumulated
        "dW += g.T @ z (bwd, per step)": loop(lambda t, c, w, z, g: c + g[t].T @ z[t], jnp.zeros((hidden, hidden))),
    }
    out = {name: (jax.jit(fn).lower(w, z, g).compile(), (w, z, g)) for name, fn in pieces.items()}
    one = jax.jit(lambda w, z, g: jnp.einsum("tbh,tbk->hk", g, z))  # the same sum as one GEMM over T·B
    out["dW = Σ g.T @ z (one GEMM)"] = one.lower(w, z, g).compile(), (w, z, g)
    return {(n, "loop"): v for n, v in out.items()}


def timed(progs: dict, rounds: int) -> dict[tuple[str, str], list[float]]:
    """Per program: the seconds of `rounds` calls, taken in turn (round-robin) after one warm-up call each."""
    for prog, args in progs.values():
        jax.block_until_ready(prog(*args))
    times: dict[tuple[str, str], list[float]] = {k: [] for k in progs}
    for _ in range(rounds):
        for k, (prog, args) in progs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(prog(*args))
            times[k].append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hidden", default="4096")
    ap.add_argument("--steps", type=int, default=100, help="time steps T per trial")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--names", default="dynascope,spyx," + ",".join(VARIANTS))
    ap.add_argument("--modes", default="fwd,grad")
    ap.add_argument("--ops", action="store_true", help="time the H²-sized pieces of a step on their own")
    ap.add_argument("--hlo", action="store_true", help="print what runs in the loops of each gradient program")
    args = ap.parse_args()
    names, modes = args.names.split(","), args.modes.split(",")
    print(f"# {platform.node()} ({platform.machine()}), jax {jax.__version__}, XLA_FLAGS="
          f"{os.environ.get('XLA_FLAGS', '')!r}; batch {BATCH}, T={args.steps}; load {os.getloadavg()}\n")
    for hidden in (int(h) for h in args.hidden.split(",")):
        if args.ops:
            times = timed(op_programs(hidden, args.steps), args.rounds)
            print(f"| H | piece, over T={args.steps} steps | s (median of {args.rounds}) | ms per step | all calls |")
            print("|---|---|---|---|---|")
            for (n, _), ts in times.items():
                med = statistics.median(ts)
                print(f"| {hidden} | {n} | {med:.3f} | {1e3 * med / args.steps:.1f} | {', '.join(f'{t:.2f}' for t in ts)} |")
            print(f"\nload after: {os.getloadavg()}", flush=True)
            continue
        t0 = time.perf_counter()
        progs = programs(names, hidden, args.steps, modes)
        print(f"H={hidden}: {len(progs)} programs compiled in {time.perf_counter() - t0:.0f} s", flush=True)
        losses = {n: float(jax.block_until_ready(progs[n, modes[0]][0](*progs[n, modes[0]][1]))
                          if modes[0] == "fwd" else progs[n, modes[0]][0](*progs[n, modes[0]][1])[0]) for n in names}
        print("loss per program (the written-out ones must equal dynascope's):",
              {n: f"{v:.6g}" for n, v in losses.items()}, flush=True)
        if "grad" in modes and "dynascope" in names:  # same gradient as the model's, to rounding
            ref = progs["dynascope", "grad"][0](*progs["dynascope", "grad"][1])[1]
            errs = {}
            for n in names:
                if n not in ("dynascope", "spyx"):
                    g = progs[n, "grad"][0](*progs[n, "grad"][1])[1]
                    errs[n] = max(float(jnp.max(jnp.abs(g[k] - ref[k])) / (jnp.max(jnp.abs(ref[k])) + 1e-30))
                                  for k in ref)
            print("largest gradient difference to dynascope's (relative to each parameter's largest entry):",
                  {n: f"{e:.1e}" for n, e in errs.items()}, flush=True)
        if args.hlo:
            for n in names:
                if (n, "grad") in progs:
                    print(f"\n## {n}, H={hidden}")
                    print("\n".join(loop_profile(progs[n, "grad"][0].as_text(), hidden)), flush=True)
        if not args.rounds:
            continue
        times = timed(progs, args.rounds)
        print(f"\nload after: {os.getloadavg()}\n")
        print(f"| H | program | {' | '.join(f'{m} s (median of {args.rounds})' for m in modes)} | all {modes[-1]} calls |")
        print(f"|---|---|{'---|' * len(modes)}---|")
        for n in names:
            cells = " | ".join(f"{statistics.median(times[n, m]):.3f}" for m in modes)
            print(f"| {hidden} | {n} | {cells} | {', '.join(f'{t:.2f}' for t in times[n, modes[-1]])} |", flush=True)


if __name__ == "__main__":
    main()
