"""Analyse every network of a run folder: fixed points and skeletons, written to the run's catalog.

The run is any object with `groups()`, `load_group(name)`, `shards(table)` and
`write_table(table, shard, columns)` — a `dynascope.store.RunFolder` — so this layer does not import
the store.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

import jax
import numpy as np

from dynascope.dynamics.fixed_points import FixedPointOptions, FixedPoints, Status, find_fixed_points_population
from dynascope.dynamics.seeds import sample_initial_states
from dynascope.dynamics.skeleton import signature, skeleton_population

#: progress(group, networks_done, n_networks) after each group and input.
AnalysisProgress = Callable[[str, int, int], None]


@dataclasses.dataclass(frozen=True)
class AnalysisOptions:
    """How `analyze_run` searches each network.

    n_trials: task trials run to collect visited states. n_seeds: initial states per network and input,
    drawn from the visited states plus Gaussian noise of `seed_noise` (in units of the state's std).
    saddle_seeds_per_pair: second-round seeds between pairs of stable points (finds the saddles that
    trajectory seeds miss). skeleton_steps: steps each saddle departure is simulated before it is first
    matched to a node; departures still moving then run on, skeleton_steps at a time, up to
    skeleton_max_steps (None: chosen per network from its slowest modes, 32–256·skeleton_steps), as slow
    (gated) networks need. seed: PRNG seed.
    """

    n_trials: int = 64
    n_seeds: int = 256
    seed_noise: float = 0.05
    saddle_seeds_per_pair: int = 1
    skeleton_steps: int = 1000
    skeleton_max_steps: int | None = None
    seed: int = 0


def _status_name(code: int) -> str:
    return Status(int(code)).name.lower()


def _fixed_point_rows(group: str, ids: tuple[str, ...], k: int, fps: list[FixedPoints]) -> dict[str, list]:
    cols: dict[str, list] = {c: [] for c in (
        "network", "group", "input_index", "input", "state", "q", "status", "n_unstable",
        "is_stable", "outside_reachable", "eig_real", "eig_imag")}
    for net, fp in zip(ids, fps):
        for j in range(len(fp.q)):
            cols["network"].append(net)
            cols["group"].append(group)
            cols["input_index"].append(k)
            cols["input"].append(np.asarray(fp.inputs[j], float).tolist())
            cols["state"].append(np.asarray(fp.states[j], float).tolist())
            cols["q"].append(float(fp.q[j]))
            cols["status"].append(_status_name(fp.status[j]))
            cols["n_unstable"].append(int(fp.n_unstable[j]))
            cols["is_stable"].append(bool(fp.is_stable[j]))
            cols["outside_reachable"].append(bool(fp.outside_reachable[j]))
            cols["eig_real"].append(np.real(fp.eigvals[j]).astype(float).tolist())
            cols["eig_imag"].append(np.imag(fp.eigvals[j]).astype(float).tolist())
    return cols


def _skeleton_rows(group: str, ids: tuple[str, ...], k: int, fps: list[FixedPoints], graphs: list) -> dict[str, list]:
    cols: dict[str, list] = {c: [] for c in (
        "network", "group", "input_index", "n_stable", "n_saddles", "index_counts", "n_slow",
        "n_outside", "n_cycles", "wl_hash", "signature")}
    for net, fp, graph in zip(ids, fps, graphs):
        sig = signature(graph)
        converged = fp.status == Status.CONVERGED
        cols["network"].append(net)
        cols["group"].append(group)
        cols["input_index"].append(k)
        cols["n_stable"].append(int(sig["counts"].get(0, 0)))
        cols["n_saddles"].append(int(sum(v for i, v in sig["counts"].items() if i > 0)))
        cols["index_counts"].append(json.dumps({str(i): v for i, v in sig["counts"].items()}))
        cols["n_slow"].append(int(np.sum(fp.status == Status.SLOW)))
        cols["n_outside"].append(int(np.sum(converged & fp.outside_reachable)))
        cols["n_cycles"].append(int(sig["terminals"].get("cycle", 0)))
        cols["wl_hash"].append(sig["wl_hash"])
        cols["signature"].append(json.dumps(sig))
    return cols


def analyze_group(group: Any, options: AnalysisOptions = AnalysisOptions()) -> tuple[dict[str, list], dict[str, list]]:
    """Fixed points and skeletons of every network of a stored group, under every `task.analysis_inputs()`.

    Returns the column dicts of the `fixed_points` and `skeletons` catalog tables.
    """
    task, model, params = group.task, group.model, group.params
    key = jax.random.key(options.seed)
    # Compiled: an eager sample dispatches (and compiles) every op of the trial generator one by one.
    trials = jax.jit(task.sample, static_argnums=1)(jax.random.fold_in(key, 0), options.n_trials)
    states, _ = jax.jit(jax.vmap(model.run, in_axes=(0, None)))(params, trials.inputs)  # [n, B, T, S]
    scale = float(np.std(np.asarray(states))) or 1.0
    draw = jax.vmap(sample_initial_states, in_axes=(0, 0, None, None))
    fp_cols: dict[str, list] = {}
    sk_cols: dict[str, list] = {}
    n = len(group.networks)
    for k, u in enumerate(np.asarray(task.analysis_inputs())):
        keys = jax.random.split(jax.random.fold_in(key, k + 1), n)
        seeds = draw(keys, states, options.n_seeds, options.seed_noise * scale)
        fps = find_fixed_points_population(
            model, params, u, seeds, reachable_states=states,
            options=FixedPointOptions(saddle_seeds_per_pair=options.saddle_seeds_per_pair),
        )
        graphs = skeleton_population(
            model, params, fps, u, n_steps=options.skeleton_steps, max_steps=options.skeleton_max_steps
        )
        for cols, new in ((fp_cols, _fixed_point_rows(group.name, group.networks, k, fps)),
                          (sk_cols, _skeleton_rows(group.name, group.networks, k, fps, graphs))):
            for c, v in new.items():
                cols.setdefault(c, []).extend(v)
    return fp_cols, sk_cols


def analyze_run(
    run: Any,
    options: AnalysisOptions = AnalysisOptions(),
    *,
    force: bool = False,
    progress: AnalysisProgress | None = None,
) -> list[str]:
    """Analyse every group of `run` not analysed yet (all with `force`); returns the groups analysed.

    Each group's rows are written as one shard of `fixed_points` and of `skeletons` (the skeleton shard
    last: its presence marks the group done), so an interrupted analysis resumes where it stopped.
    """
    done = {p.stem for p in run.shards("skeletons")}
    analysed = []
    for name in run.groups():
        if name in done and not force:
            continue
        group = run.load_group(name)
        if progress is not None:
            progress(name, 0, len(group.networks))
        fp_cols, sk_cols = analyze_group(group, options)
        run.write_table("fixed_points", name, fp_cols)
        run.write_table("skeletons", name, sk_cols)
        analysed.append(name)
        if progress is not None:
            progress(name, len(group.networks), len(group.networks))
    return analysed
