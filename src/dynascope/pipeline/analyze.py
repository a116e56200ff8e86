"""Analyse every network of a run folder: fixed points, skeletons and what its activity costs (synaptic
operations and firing rate, `dynascope.compare.energy`), written to the run's catalog.

Networks that diverged in training (`diverged` in the networks table: their loss went non-finite or
exploded, see `TrainOptions.divergence_factor`) and networks whose states on the task's trials are not
finite have no fixed points worth searching: they are skipped, reported through `on_skip`, and get no
rows, so one blown-up network never stops the analysis of the others.

The energy counts are taken on the same trials the fixed-point search draws its seeds from (one simulation
per group serves both): synaptic operations per trial, averaged over the `n_trials` analysis trials.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from dynascope._compile import once
from dynascope._memory import parse_bytes
from dynascope.compare import mean_firing_rate, synaptic_operations

from dynascope.dynamics import (
    FixedPointOptions,
    FixedPoints,
    Status,
    find_fixed_points,
    sample_initial_states,
    signature,
    skeleton,
)
from dynascope.errors import ConfigError, check_positive_int
from dynascope.pipeline.populations import StoredGroup, load_group
from dynascope.store import EnergyRows, FixedPointRows, NetworkRows, RunFolder, SkeletonRows
from dynascope.tasks import Trials

#: progress(group, networks_done, n_networks) after each group and input.
AnalysisProgress = Callable[[str, int, int], None]
#: on_skip(network, reason) for every network left out of the analysis.
SkipNote = Callable[[str, str], None]

#: Why a network is skipped (the texts `on_skip` receives).
DIVERGED = "diverged in training: its loss went non-finite or exploded"
NON_FINITE = "its states on the task's trials are not finite"


@dataclasses.dataclass(frozen=True)
class AnalysisOptions:
    """How `analyze_run` searches each network.

    n_trials: task trials run to collect visited states. n_initial_states: search starting points per network
    and input,
    drawn from the visited states plus Gaussian noise of `seed_noise` (in units of the state's std).
    saddle_seeds_per_pair: second-round seeds between pairs of stable points (finds the saddles that
    trajectory seeds miss). skeleton_steps: steps each saddle departure is simulated before it is first
    matched to a node; departures still moving then run on, skeleton_steps at a time, up to
    skeleton_max_steps (None: chosen per network from its slowest modes, 32–256·skeleton_steps), as slow
    (gated) networks need. seed: PRNG seed. memory_budget: the bytes the fixed-point search of a group may
    take (an int or a size such as '2GB'; None: $DYNASCOPE_MEMORY_BUDGET, else half the device's memory): a
    group whose batched matrices exceed it is searched in chunks of networks, with the same rows.
    """

    n_trials: int = 64
    n_initial_states: int = 256
    seed_noise: float = 0.05
    saddle_seeds_per_pair: int = FixedPointOptions.saddle_seeds_per_pair
    skeleton_steps: int = 1000
    skeleton_max_steps: int | None = None
    seed: int = 0
    memory_budget: int | str | None = None

    def validate(self) -> None:
        """Raise ConfigError naming the first option with a bad value."""
        for name in ("n_trials", "n_initial_states", "skeleton_steps"):
            check_positive_int(name, getattr(self, name))
        spp = self.saddle_seeds_per_pair
        if isinstance(spp, bool) or not isinstance(spp, int) or spp < 0:
            raise ConfigError(f"saddle_seeds_per_pair must be an integer ≥ 0 (0: no saddle round), got {spp!r}.")
        if self.skeleton_max_steps is not None:
            check_positive_int("skeleton_max_steps", self.skeleton_max_steps)
        noise = self.seed_noise
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not noise >= 0:
            raise ConfigError(f"seed_noise must be a number ≥ 0 (in units of the states' std), got {noise!r}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}.")
        if self.memory_budget is not None:
            parse_bytes(self.memory_budget, name="memory_budget")


def _status_name(code: int) -> str:
    return Status(int(code)).name.lower()


def _fixed_point_rows(group: str, ids: tuple[str, ...], k: int, fps: list[FixedPoints]) -> FixedPointRows:
    at = [(net, fp, j) for net, fp in zip(ids, fps) for j in range(len(fp.q))]
    return FixedPointRows(
        network=[net for net, _, _ in at],
        group=[group] * len(at),
        input_index=[k] * len(at),
        input=[np.asarray(fp.inputs[j], float).tolist() for _, fp, j in at],
        state=[np.asarray(fp.states[j], float).tolist() for _, fp, j in at],
        q=[float(fp.q[j]) for _, fp, j in at],
        status=[_status_name(fp.status[j]) for _, fp, j in at],
        n_unstable=[int(fp.n_unstable[j]) for _, fp, j in at],
        is_stable=[bool(fp.is_stable[j]) for _, fp, j in at],
        outside_reachable=[bool(fp.outside_reachable[j]) for _, fp, j in at],
        eig_real=[np.real(fp.eigvals[j]).astype(float).tolist() for _, fp, j in at],
        eig_imag=[np.imag(fp.eigvals[j]).astype(float).tolist() for _, fp, j in at],
    )


def _skeleton_rows(group: str, ids: tuple[str, ...], k: int, fps: list[FixedPoints], graphs: list) -> SkeletonRows:
    sigs = [signature(graph) for graph in graphs]
    return SkeletonRows(
        network=list(ids),
        group=[group] * len(ids),
        input_index=[k] * len(ids),
        # Index 0 is not enough: a point with a marginal mode (a slow point, a map on the edge) has index 0
        # and is not stable.
        n_stable=[sum(1 for _, d in graph.nodes(data=True) if d.get("stable")) for graph in graphs],
        n_saddles=[int(sum(v for i, v in sig["counts"].items() if i > 0)) for sig in sigs],
        index_counts=[json.dumps({str(i): v for i, v in sig["counts"].items()}) for sig in sigs],
        n_slow=[int(np.sum(fp.status == Status.SLOW)) for fp in fps],
        n_outside=[int(np.sum((fp.status == Status.CONVERGED) & fp.outside_reachable)) for fp in fps],
        n_cycles=[int(sig["terminals"].get("cycle", 0)) for sig in sigs],
        wl_hash=[sig["wl_hash"] for sig in sigs],
        signature=[json.dumps(sig) for sig in sigs],
    )


@dataclasses.dataclass(frozen=True)
class Simulated:
    """A group's networks run on the task's analysis trials: `trials` (the `n_trials` trials drawn from the
    analysis seed), `keep [n]` (bool: the networks analysed), `params` of the kept networks (stacked),
    `states [n_kept, B, T, S]` (None when none is kept) and `exclude` {network: why it is left out}."""

    trials: Trials
    keep: np.ndarray
    params: Any
    states: jax.Array | None
    exclude: dict[str, str]


def simulate_group(
    group: StoredGroup, options: AnalysisOptions = AnalysisOptions(), *, exclude: Mapping[str, str] | None = None
) -> Simulated:
    """Run every network of `group` not in `exclude` on `options.n_trials` trials of its task (drawn from
    `options.seed`); networks whose states are not finite are added to the exclusions (`NON_FINITE`)."""
    task, model = group.task, group.model
    exclude = dict(exclude or {})
    key = jax.random.key(options.seed)
    # Compiled: an eager sample dispatches (and compiles) every op of the trial generator one by one.
    trials = once(task.sample, static_argnums=1)(jax.random.fold_in(key, 0), options.n_trials)
    run = jax.jit(jax.vmap(model.run, in_axes=(0, None)))
    keep = np.array([net not in exclude for net in group.networks])
    params = _take(group.params, keep)
    states, _ = run(params, trials.inputs) if keep.any() else (None, None)  # [n, B, T, S]
    if keep.any():
        finite = np.isfinite(np.asarray(states)).reshape(int(keep.sum()), -1).all(axis=1)
        for net in np.asarray(group.networks)[keep][~finite]:
            exclude[str(net)] = NON_FINITE
        if not finite.all():
            keep[keep] = finite
            params, states = _take(params, finite), (states[np.flatnonzero(finite)] if finite.any() else None)
    return Simulated(trials, keep, params, states, exclude)


def analyze_group(
    group: StoredGroup,
    options: AnalysisOptions = AnalysisOptions(),
    *,
    exclude: Mapping[str, str] | None = None,
    on_skip: SkipNote | None = None,
    simulated: Simulated | None = None,
    networks: range | None = None,
) -> tuple[FixedPointRows, SkeletonRows]:
    """Fixed points and skeletons of every network of a stored group, under every `task.analysis_inputs()`.

    Networks whose states on the task's trials are not finite are left out (`NON_FINITE`), as are those
    in `exclude`. The others get the same rows as without them, except that the seed noise scale (the std
    of the visited states) is taken over the networks analysed.

    Args:
        group: the stored group (`load_group`).
        options: the analysis settings (`AnalysisOptions`).
        exclude: network ids to leave out, mapped to the reason (e.g. `DIVERGED`), or None.
        on_skip: called as `on_skip(network, reason)` for each network left out, or None.
        simulated: the group already run by `simulate_group(group, options, exclude=exclude)` (None: run
            here), so a caller that needs the states too (the energy counts) simulates once.
        networks: search only the group's networks at these positions (a shard of the Ray backend);
            their rows are the ones the whole group's search gives them (the seed noise scale and the
            keys are still those of the whole group). None: every network.

    Returns:
        The group's rows of the `fixed_points` and `skeletons` catalog tables.
    """
    task, model = group.task, group.model
    sim = simulated if simulated is not None else simulate_group(group, options, exclude=exclude)
    key = jax.random.key(options.seed)
    keep, params, states, exclude = sim.keep, sim.params, sim.states, sim.exclude
    n = len(group.networks)
    inside = np.zeros(n, bool)
    inside[networks if networks is not None else slice(None)] = True
    if on_skip is not None:
        for net in np.asarray(group.networks)[inside].tolist():
            if net in exclude:
                on_skip(net, exclude[net])
    if not (keep & inside).any():
        return FixedPointRows.empty(), SkeletonRows.empty()
    scale = float(np.std(np.asarray(states, np.float64))) or 1.0  # over every network kept, in range or not
    if not inside.all():
        within = np.flatnonzero(inside[keep])  # positions among the kept networks
        params, states = _take(params, np.isin(np.arange(int(keep.sum())), within)), states[within]
        keep = keep & inside
    ids = tuple(np.asarray(group.networks)[keep].tolist())
    noise = options.seed_noise * scale
    draw = jax.vmap(lambda k, s: sample_initial_states(s, options.n_initial_states, key=k, noise_std=noise))
    fp_parts, sk_parts = [], []
    for k, u in enumerate(np.asarray(task.analysis_inputs())):
        # One key per network of the group, by its position, so a network's seeds do not depend on which
        # others are skipped.
        keys = jax.random.split(jax.random.fold_in(key, k + 1), n)[np.flatnonzero(keep)]
        seeds = draw(keys, states)
        fps = find_fixed_points(
            model, params, u, seeds, reachable_states=states,
            options=FixedPointOptions(saddle_seeds_per_pair=options.saddle_seeds_per_pair,
                                      memory_budget=options.memory_budget),
        )
        graphs = skeleton(
            model, params, fps, u, n_steps=options.skeleton_steps, max_steps=options.skeleton_max_steps
        )
        fp_parts.append(_fixed_point_rows(group.name, ids, k, fps))
        sk_parts.append(_skeleton_rows(group.name, ids, k, fps, graphs))
    return FixedPointRows.concat(fp_parts), SkeletonRows.concat(sk_parts)


def energy_rows(group: StoredGroup, simulated: Simulated, scores: Mapping[str, float | None]) -> EnergyRows:
    """The `energy` rows of the networks `simulated` kept: synaptic operations per trial (mean over its trials)
    and per step (`dynascope.compare.synaptic_operations`), the mean firing rate in Hz of a spiking model
    (`mean_firing_rate`; None for a rate model) and each network's score from `scores` {network: score}
    (None where missing or not finite)."""
    model, sim = group.model, simulated
    ids = tuple(np.asarray(group.networks)[sim.keep].tolist())
    spiking = bool(getattr(model, "spiking", False))
    if not ids:
        return EnergyRows.empty()

    def cost(params: Any, states: jax.Array) -> tuple[jax.Array, jax.Array]:
        rate = jnp.mean(mean_firing_rate(model, states)) if spiking else jnp.zeros(())
        return jnp.mean(synaptic_operations(model, params, states)), rate

    # One program for the whole group (a population is the only shape).
    ops, rate = once(jax.vmap(cost))(sim.params, sim.states)
    per_trial = np.asarray(ops, np.float64).tolist()
    rates = np.asarray(rate, np.float64).tolist() if spiking else [None] * len(ids)
    n_time = int(sim.trials.inputs.shape[1])
    score = [scores.get(net) for net in ids]
    return EnergyRows(
        network=list(ids),
        group=[group.name] * len(ids),
        arch=[model.name] * len(ids),
        spiking=[spiking] * len(ids),
        n_trials=[int(sim.trials.inputs.shape[0])] * len(ids),
        operations_per_trial=per_trial,
        operations_per_step=[v / n_time for v in per_trial],
        mean_rate_hz=rates,
        score=[float(v) if v is not None and np.isfinite(v) else None for v in score],
    )


def _take(params: Any, keep: np.ndarray) -> Any:
    """The networks of stacked `params` where the boolean mask `keep` is set (all of them: unchanged)."""
    if keep.all():
        return params
    idx = np.flatnonzero(keep)
    return jax.tree_util.tree_map(lambda a: a[idx], params)


def diverged_networks(run: RunFolder) -> dict[str, str]:
    """{network: `DIVERGED`} for every network the run's `networks` table flags as diverged in training."""
    return {net: DIVERGED for net in run.read(NetworkRows, where={"diverged": True}).network}


def analyze_run(
    run: RunFolder,
    options: AnalysisOptions = AnalysisOptions(),
    *,
    force: bool = False,
    progress: AnalysisProgress | None = None,
    on_skip: SkipNote | None = None,
) -> list[str]:
    """Analyse every group of `run` not analysed yet (all with `force`); returns the groups analysed.

    Networks diverged in training, or with non-finite states, are skipped (see `analyze_group`). Each
    group's rows are written as one shard of `fixed_points`, of `energy` and of `skeletons` (the skeleton
    shard last: its presence marks the group done), so an interrupted analysis resumes where it stopped.
    A group analysed by a dynascope without energy counts gets its `energy` shard alone (one simulation
    of the analysis trials, no fixed-point search), and is not in the returned list.

    Args:
        run: the run folder.
        options: the analysis settings (`AnalysisOptions`), checked before anything is read.
        force: analyse every group again, done or not.
        progress: called as `progress(group, networks_done, n_networks)` before and after each group,
            or None.
        on_skip: called as `on_skip(network, reason)` for every network left out, or None.

    Returns:
        The names of the groups analysed.

    Raises:
        ConfigError: `options` not an `AnalysisOptions` or invalid; RunFolderError: the run's files
        cannot be read or written.
    """
    if not isinstance(options, AnalysisOptions):
        raise ConfigError(f"options must be an AnalysisOptions, got {type(options).__name__}.")
    options.validate()
    done = {p.stem for p in run.shards(SkeletonRows)}
    costed = {p.stem for p in run.shards(EnergyRows)}
    todo = [name for name in run.groups() if force or name not in done]
    backfill = [name for name in run.groups() if name not in todo and name not in costed]
    diverged = diverged_networks(run) if todo or backfill else {}
    scores = _scores(run) if todo or backfill else {}
    analysed = []
    for name in todo:
        group = load_group(run, name)
        if progress is not None:
            progress(name, 0, len(group.networks))
        simulated = simulate_group(group, options, exclude=diverged)
        fixed_points, skeletons = analyze_group(group, options, exclude=diverged, on_skip=on_skip, simulated=simulated)
        run.write(name, fixed_points)
        run.write(name, energy_rows(group, simulated, scores))
        run.write(name, skeletons)  # last: its presence marks the group analysed
        run.publish()  # a run at a URL: the analysed group is uploaded now
        analysed.append(name)
        if progress is not None:
            progress(name, len(group.networks), len(group.networks))
    for name in backfill:
        group = load_group(run, name)
        run.write(name, energy_rows(group, simulate_group(group, options, exclude=diverged), scores))
    return analysed


def _scores(run: RunFolder) -> dict[str, float | None]:
    """{network: its task score} from the run's networks table."""
    nets = run.read(NetworkRows)
    return dict(zip(nets.network, nets.metric))
