"""`analyze_run` as Ray tasks: each shard searches the fixed points and skeletons of a range of one group's
networks and commits its rows as a folder of its own; the driver merges a group's shards into the run's
ordinary `fixed_points`, `energy` and `skeletons` shards, row for row what `pipeline.analyze_run` writes.

A shard's rows equal the single-process rows of its networks because it uses what the whole group's search
uses: every network is simulated on the analysis trials (cheap beside the search) for the seed-noise scale,
and each network draws its keys by its position in the group (`pipeline.analyze_group(networks=...)`).
Shards lie in `<run>/shards/analyze/<options>/<group>/<start>-<stop>/`, `<options>` a digest of the
`AnalysisOptions`, so a rerun with other options never reuses them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pyarrow as pa

from dynascope import store
from dynascope.errors import ConfigError, RunFolderError
from dynascope.pipeline import NON_FINITE, AnalysisOptions, analyze_group, analyze_run, load_group
from dynascope.pipeline.analyze import SkipNote, Simulated, diverged_networks, energy_rows, simulate_group
import dynascope.scale._shards as _shards
from dynascope.scale._ray import (
    CRASH_ENV,
    ShardCounts,
    ShardProgress,
    check_shard_options,
    connect,
    default_size,
    execute_shards,
    require_ray,
)
import dynascope.scale._remote_shards as _remote
from dynascope.scale._shards import Shard
from dynascope.store import EnergyRows, FixedPointRows, NetworkRows, Remote, RunFolder, SkeletonRows, is_url

__all__ = ["analysis_stage", "analyze_run_ray", "analyze_shard", "finished_analysis", "merge_analysis"]

_NAME = re.compile(r"^(\d+)-(\d+)$")
_TABLES = (FixedPointRows, EnergyRows, SkeletonRows)  # the order a group is written in: skeletons mark it done


def analysis_stage(options: AnalysisOptions) -> str:
    """The shard stage of an analysis under `options`: 'analyze/<digest of the options>'."""
    text = json.dumps(dataclasses.asdict(options), sort_keys=True, default=str)
    return f"analyze/{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _within(sim: Simulated, networks: range) -> Simulated:
    """`sim` restricted to the networks at positions `networks` of the group (those it kept)."""
    inside = np.zeros(len(sim.keep), bool)
    inside[networks.start:networks.stop] = True
    among_kept = inside[sim.keep]
    idx = np.flatnonzero(among_kept)
    params = jax.tree_util.tree_map(lambda a: a[idx], sim.params) if sim.states is not None else sim.params
    states = sim.states[idx] if sim.states is not None and idx.size else None
    return dataclasses.replace(sim, keep=sim.keep & inside, params=params, states=states)


def analyze_shard(run: Path, shard: Shard, options: AnalysisOptions, *, crash: bool = False,
                  into: Path | None = None) -> bool:
    """Analyse the networks of one shard and commit their rows to the shard's folder.

    Args:
        run: path of the run folder.
        shard: the shard (positions start … stop − 1 of its group).
        options: the analysis settings (`AnalysisOptions`); they name the shard's stage folder.
        crash: the fault drill, which kills this process after the search, before the commit.
        into: the folder whose `shards/` receives the shard (None: `run`; a worker's own folder for a run
            at a URL).

    Returns:
        True when this attempt committed the shard; False when another attempt committed it first.
    """
    final = _shards.shard_path(run if into is None else into, shard, analysis_stage(options))
    if final.is_dir():  # committed by an attempt whose worker died before Ray heard back
        return False
    folder = store.open(run)
    group = load_group(folder, shard.group)
    diverged = diverged_networks(folder)
    nets = folder.read(NetworkRows, where={"group": shard.group})
    scores = dict(zip(nets.network, nets.metric))
    sim = simulate_group(group, options, exclude=diverged)
    networks = range(shard.start, min(shard.stop, len(group.networks)))
    rows = (*analyze_group(group, options, exclude=diverged, simulated=sim, networks=networks),
            energy_rows(group, _within(sim, networks), scores))
    if crash:
        os._exit(1)

    def fill(tmp: Path) -> None:
        mini = store.RunFolder.create(tmp, {"shard": {"group": shard.group, "start": shard.start, "stop": shard.stop}})
        for r in rows:
            mini.write(shard.group, r)

    return _shards.commit_folder(final, fill)


def finished_analysis(run: Path, group: str, options: AnalysisOptions) -> list[Shard]:
    """The committed analysis shards of a group whose files pass their checks.

    A damaged shard is deleted, so its networks are analysed again.

    Args:
        run: path of the run folder.
        group: the group's name.
        options: the analysis settings; they name the stage folder searched.

    Returns:
        The intact `Shard`s.
    """
    folder = _shards.group_folder(run, group, analysis_stage(options))
    good: list[Shard] = []
    if not folder.is_dir():
        return good
    for path in sorted(folder.iterdir()):
        m = _NAME.match(path.name)
        if m is None or not path.is_dir():
            continue
        try:
            mini = store.open(path)
            mini.check_intact()
            if any(not (path / "catalog" / rows.TABLE / f"{group}.parquet").is_file() for rows in _TABLES):
                raise RunFolderError("a table is missing")
            good.append(Shard(group, int(m.group(1)), int(m.group(2))))
        except RunFolderError:
            shutil.rmtree(path, ignore_errors=True)
    return good


def merge_analysis(run: RunFolder, group: str, shards: list[Shard], options: AnalysisOptions) -> None:
    """Write a group's `fixed_points`, `energy` and `skeletons` shards into `run` from its finished analysis shards.

    Rows are in the order `analyze_run` writes them (by analysis input, then network), the skeletons
    last; then the shards are deleted.

    Args:
        run: the run folder, whose writer lock the caller holds.
        group: the group's name.
        shards: the group's finished analysis shards, together covering its networks.
        options: the analysis settings; they name the stage folder read.

    Raises:
        RunFolderError: a shard or the run's catalog cannot be read or written.
    """
    stage = analysis_stage(options)
    parts: dict[type, list[pa.Table]] = {rows: [] for rows in _TABLES}
    for s in sorted(shards):
        mini = store.open(_shards.shard_path(run.path, s, stage))
        for rows in _TABLES:
            parts[rows].append(mini.read(rows, shard=group).to_arrow())
    for rows in _TABLES:
        table = pa.concat_tables(parts[rows])
        if "input_index" in table.column_names:  # shards hold their networks' rows input by input
            table = table.take(np.argsort(np.asarray(table.column("input_index")), kind="stable"))
        run.write(group, rows.from_arrow(table))
    shutil.rmtree(_shards.group_folder(run.path, group, stage), ignore_errors=True)


def _attempt(run: str, group: str, start: int, stop: int, options: dict[str, Any], crash: str) -> bool:
    """One attempt at an analysis shard, in a Ray worker (module-level: workers import it). `run`: the run
    folder's path, or its URL (the run is pulled into this machine's worker folder, the shard built there
    and pushed; one already pushed is never redone)."""
    shard = Shard(group, start, stop)
    opts = AnalysisOptions(**options)
    stage = analysis_stage(opts)
    if not is_url(run):
        attempt = _shards.record_attempt(Path(run), shard, stage)
        return analyze_shard(Path(run), shard, opts, crash=crash == str(shard) and attempt == 1)
    if _remote.shard_is_pushed(run, shard, stage):
        return False
    root = _remote.worker_root(run)
    attempt = _shards.record_attempt(root, shard, stage)
    copy = _pull_run(run, root)
    analyze_shard(copy, shard, opts, crash=crash == str(shard) and attempt == 1, into=root)
    _remote.push_shard(run, shard, stage)
    return True


def _pull_run(url: str, root: Path) -> Path:
    """This machine's read-only copy of the run at `url` (`root/run`), brought up to date; one worker of the
    machine pulls at a time (the others wait), since they share the copy."""
    from filelock import FileLock

    copy = root / "run"
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(root / ".pull.lock"):
        Remote(url, copy).pull()
    return copy


def _finished(run: RunFolder, group: str, options: AnalysisOptions) -> list[Shard]:
    """The group's finished analysis shards (at a URL: those whose marker is there, pulled first)."""
    return _remote.pull_shards(run, group, lambda: finished_analysis(run.path, group, options), analysis_stage(options))


def analyze_run_ray(
    run: RunFolder,
    options: AnalysisOptions = AnalysisOptions(),
    *,
    force: bool = False,
    shard_size: int | None = None,
    address: str | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    max_retries: int = 3,
    progress: ShardProgress | None = None,
    on_skip: SkipNote | None = None,
) -> list[str]:
    """`pipeline.analyze_run` as Ray tasks of at most `shard_size` networks of one group each.

    The run's catalog ends up as the single-process analysis writes it (the same rows; floats to
    rounding). A group already analysed is not redone (all groups with `force`); a rerun after the driver
    died analyses only the networks no committed shard holds.

    Args:
        run: the run folder.
        options: the analysis settings (`AnalysisOptions`).
        force: analyse every group again, done or not.
        shard_size: the most networks of one group per Ray task (None: each group spread over the cluster's
            task slots, as in `run_sweep_ray`).
        address: passed to `ray.init` ('auto': the cluster this machine belongs to; None: a local one
            unless $RAY_ADDRESS is set); an already initialised Ray is used as it is.
        num_cpus: CPUs each task asks Ray for.
        num_gpus: GPUs each task asks Ray for (a fraction lets tasks share a GPU).
        max_retries: how many times Ray retries a task whose worker died (≥ 0).
        progress: called with the `ShardCounts` (done, running, failed, retried) while the shards
            run, or None.
        on_skip: called as `on_skip(network, reason)` for each network left out (diverged in training,
            non-finite states), or None.

    Returns:
        The names of the groups analysed.

    Raises:
        ConfigError: Ray not installed, `options` not an `AnalysisOptions` or invalid, or a bad shard
        option; RunFolderError: naming every shard that failed after its retries.
    """
    ray = require_ray()
    if not isinstance(options, AnalysisOptions):
        raise ConfigError(f"options must be an AnalysisOptions, got {type(options).__name__}.")
    options.validate()
    check_shard_options(shard_size, num_cpus, num_gpus, max_retries)
    stage = analysis_stage(options)
    with run.writing():
        done = {p.stem for p in run.shards(SkeletonRows)}
        todo = [g for g in run.groups() if force or g not in done]
        sizes = {g: run.count(NetworkRows, where={"group": g}) for g in todo}
        finished: dict[str, list[Shard]] = {}
        missing: dict[str, list[int]] = {}
        for g in todo:
            if force:  # recomputed from scratch, as `analyze_run(force=True)` does
                shutil.rmtree(_shards.group_folder(run.path, g, stage), ignore_errors=True)
            finished[g] = _finished(run, g, options)
            missing[g] = _shards.missing_networks(sizes[g], finished[g])
        shards: list[Shard] = []
        if any(missing.values()):
            connect(ray, address, num_cpus, num_gpus)
            size = shard_size or default_size(ray, max(sizes.values()), num_cpus, num_gpus)
            shards = [s for g, m in missing.items() for s in _shards.cut_shards(g, m, size)]
        earlier = sum(len(f) for f in finished.values())
        counts = ShardCounts(total=earlier + len(shards), earlier=earlier, done=earlier)
        diverged = diverged_networks(run) if todo else {}

        def merge(group: str) -> None:
            if run.remote is not None:  # shards the workers pushed since the plan
                finished[group] = _finished(run, group, options)
            merge_analysis(run, group, sorted(set(finished[group])), options)
            run.publish()  # a run at a URL: the analysed group is uploaded now; then its shards there are spent
            _remote.drop_shards(run, group, stage)
            if on_skip is not None:  # a network analysed has skeleton rows; the others were left out
                have = set(run.read(SkeletonRows, shard=group).network)
                for net in run.read(NetworkRows, where={"group": group}, order_by=("index",)).network:
                    if net not in have:
                        on_skip(net, diverged.get(net, NON_FINITE))

        for g in todo:
            if not missing[g]:  # every network is in committed shards: the driver died before merging
                merge(g)
        remaining = {g: sum(1 for s in shards if s.group == g) for g in todo}

        def finish(shard: Shard) -> None:
            finished[shard.group].append(shard)
            remaining[shard.group] -= 1
            if remaining[shard.group] == 0:
                merge(shard.group)

        if shards:
            as_dict, crash = dataclasses.asdict(options), os.environ.get(CRASH_ENV, "")
            execute_shards(ray, _remote.attempts_folder(run), stage, shards, counts, _attempt,
                           lambda s: (run.location, s.group, s.start, s.stop, as_dict, crash), finish,
                           num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries, progress=progress,
                           rerun="rerun the same command to analyse only the missing networks")
        elif progress is not None:
            progress(counts)
        shutil.rmtree(run.path / _shards.SHARDS / "analyze", ignore_errors=True)  # other options' leftovers too
        if run.remote is not None:
            run.remote.remove(f"{_shards.SHARDS}/analyze")
        with contextlib.suppress(OSError):
            (run.path / _shards.SHARDS).rmdir()  # only when empty
        analyze_run(run, options)  # the energy counts of groups an older dynascope analysed (else nothing)
    return todo
