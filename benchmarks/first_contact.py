"""First contact: what a new user waits for, cold (fresh process, empty compilation cache) and warm (fresh
process, the cache the cold run filled), with the number of XLA compilations each triggers.

Every measurement runs in its own Python process, so nothing is compiled or imported beforehand; the wall
time includes importing dynascope and JAX. Usage:

    .venv/bin/python benchmarks/first_contact.py                 # everything (~8 min on 2 idle cores)
    .venv/bin/python benchmarks/first_contact.py --only find,train1,train8

Items: quickstart (the README's Python quick start, verbatim), find (one find_fixed_points on a GRU-32 with
256 seeds from its own trajectories), train1 / train8 (train_population of 1 and 8 GRU-32 networks on the
3-bit flip-flop, 200 steps), demo (`dynascope demo` end to end), and analyze / compare / report of the
demo's run folder.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Counts XLA compilations (JAX's own monitoring event) and prints them, with the wall time since the
#: process started, when the process ends.
PRELUDE = """
import atexit, json, time, sys
_t0 = time.perf_counter()
from jax import monitoring
_n = [0]
# JAX times every program it obtains as a "backend compile", also one loaded from the persistent cache:
# programs compiled = those obtained - cache hits.
monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: _n.__setitem__(0, _n[0] + (event == "/jax/core/compile/backend_compile_duration")))
monitoring.register_event_listener(
    lambda event, **kw: _n.__setitem__(0, _n[0] - (event == "/jax/compilation_cache/cache_hits")))
atexit.register(lambda: print("FIRST_CONTACT " + json.dumps({"compilations": _n[0], "seconds": time.perf_counter() - _t0}),
                              file=sys.stderr, flush=True))
"""

FIND = """
import jax
from dynascope import tasks, models, dynamics
task = tasks.get("flipflop", n_bits=3)
model = models.get("gru", n_inputs=3, n_hidden=32, n_outputs=3)
params = model.init(jax.random.key(0))
states, _ = model.run(params, task.sample(jax.random.key(1), 16).inputs)
seeds = dynamics.sample_initial_states(states, 256, key=jax.random.key(2), noise_std=0.05)
t = time.perf_counter(); c = _n[0]
fp = dynamics.find_fixed_points(model, params, task.analysis_inputs()[0], seeds)
print("FIND_ONLY " + json.dumps({"compilations": _n[0] - c, "seconds": time.perf_counter() - t}), file=sys.stderr)
"""

TRAIN = """
import jax
from dynascope import tasks, models, train
task = tasks.get("flipflop", n_bits=3)
model = models.get("gru", n_inputs=3, n_hidden=32, n_outputs=3)
pop = train.train_population(task, model, {n}, 200, jax.random.key(0), batch_size=64, learning_rate=1e-2)
jax.block_until_ready(pop.params)
"""

CLI = "from dynascope.cli import main; sys.argv = ['dynascope'] + {argv!r}; main()"


def quickstart_code() -> str:
    """The README's Python quick start, verbatim."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"## Quick start \(Python\)\s*```python\n(.*?)```", text, re.S)
    if match is None:
        raise SystemExit("README.md has no '## Quick start (Python)' code block")
    return match.group(1)


def run(code: str, cache: Path, cwd: Path) -> dict:
    env = {**os.environ, "DYNASCOPE_CACHE_DIR": str(cache), "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    start = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", PRELUDE + code], capture_output=True, text=True, cwd=cwd, env=env)
    wall = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"failed ({res.returncode}):\n{res.stderr[-3000:]}")
    out = {"wall": wall}
    for line in res.stderr.splitlines():
        if line.startswith("FIRST_CONTACT "):
            out.update(json.loads(line.split(" ", 1)[1]))
        if line.startswith("FIND_ONLY "):
            found = json.loads(line.split(" ", 1)[1])
            out["call_s"], out["call_compilations"] = found["seconds"], found["compilations"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    items = ["quickstart", "find", "train1", "train8", "demo", "analyze", "compare", "report"]
    parser.add_argument("--only", default=",".join(items), help="comma-separated items (default: all)")
    args = parser.parse_args()
    chosen = [s for s in args.only.split(",") if s]
    unknown = set(chosen) - set(items)
    if unknown:
        raise SystemExit(f"unknown items {sorted(unknown)}; choose from {items}")

    work = Path(tempfile.mkdtemp(prefix="first-contact-"))
    demo = work / "demo"
    codes = {
        "quickstart": quickstart_code(),
        "find": FIND,
        "train1": TRAIN.format(n=1),
        "train8": TRAIN.format(n=8),
        "demo": CLI.format(argv=["demo", "--out", str(demo)]),
        "analyze": CLI.format(argv=["analyze", str(demo), "--force"]),
        "compare": CLI.format(argv=["compare", str(demo), "--force"]),
        "report": CLI.format(argv=["report", str(demo)]),
    }
    if any(i in chosen for i in ("analyze", "compare", "report")) and "demo" not in chosen:
        chosen.insert(0, "demo")
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC · {platform.node()} · "
          f"{os.cpu_count()} cores · load {os.getloadavg()[0]:.1f} · python {platform.python_version()}")
    print("cold: a fresh process and an empty compilation cache; warm: a fresh process reusing the cache the cold run filled\n")
    print("| item | cold s | cold compilations | warm s | warm compilations | first find_fixed_points call, cold s (compilations) |")
    print("|---|---:|---:|---:|---:|---|")
    try:
        for item in chosen:
            cache = work / f"cache-{item}"
            if item == "demo":
                shutil.rmtree(demo, ignore_errors=True)
            cold = run(codes[item], cache, work)
            if item == "demo":
                shutil.rmtree(demo, ignore_errors=True)  # warm: the same command on a fresh folder
            warm = run(codes[item], cache, work)
            extra = f"{cold['call_s']:.2f} ({cold['call_compilations']})" if "call_s" in cold else ""
            print(f"| {item} | {cold['wall']:.1f} | {cold['compilations']} | {warm['wall']:.1f} | "
                  f"{warm['compilations']} | {extra} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
