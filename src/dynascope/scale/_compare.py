"""`pipeline.study` with each metric's distance matrix cut into blocks of pairs computed as Ray tasks.

The driver prepares what every metric compares (the networks' trajectories, or their skeleton signatures)
as `study` does, puts it in Ray's object store once per metric, and runs one task per block of pairs (a
range of the upper triangle's pairs in `np.triu_indices` order). A block commits its distances as a folder
of its own, `<run>/shards/compare/<digest>/<metric>/<start>-<stop>/distances.npy`, `<digest>` a hash of the
metric, its options and the compared items, so a rerun reuses only blocks of the very same matrix. Once a
metric's blocks are all in, `study` clusters, embeds and writes it to the catalog exactly as in one process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from dynascope.compare import Metric
from dynascope.errors import ConfigError
from dynascope.pipeline import Study, StudyOptions, study
from dynascope.pipeline.study import StudyProgress, pair_distances
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
from dynascope.store import RunFolder, is_url

__all__ = ["compare_stage", "distances_on_ray", "finished_blocks", "pair_block", "study_ray"]

_NAME = re.compile(r"^(\d+)-(\d+)$")
_FILE = "distances.npy"


def compare_stage(metric: Metric, items: list[Any]) -> str:
    """The shard stage of one metric's matrix: 'compare/<digest of the metric, its options and the items>'.

    Args:
        metric: the `Metric` (its name and bound options enter the digest).
        items: the networks' prepared items (arrays, or skeleton signatures as lists/dicts).

    Returns:
        The stage name (a SHA-256 digest cut to 16 hex digits).
    """
    h = hashlib.sha256(metric.name.encode())
    h.update(json.dumps(dict(metric.options), sort_keys=True, default=str).encode())
    for x in items:
        if isinstance(x, (list, dict)):  # skeleton signatures
            h.update(json.dumps(x, sort_keys=True).encode())
        else:
            a = np.ascontiguousarray(np.asarray(x))
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(a.tobytes())
    return f"compare/{h.hexdigest()[:16]}"


def pair_block(n: int, start: int, stop: int) -> np.ndarray:
    """Pairs `start` … `stop − 1` of the n(n−1)/2 pairs i < j of n items, in `np.triu_indices` order.

    Args:
        n: number of items.
        start: first pair position.
        stop: one past the last pair position.

    Returns:
        `[stop − start, 2]` int array of (i, j).
    """
    iu, ju = np.triu_indices(n, k=1)
    return np.stack([iu[start:stop], ju[start:stop]], axis=1)


def finished_blocks(run: Path, metric: str, stage: str) -> list[Shard]:
    """The committed blocks of a metric's matrix whose file holds one float64 per pair.

    A damaged block is deleted, so its pairs are computed again.

    Args:
        run: path of the run folder.
        metric: the metric's name.
        stage: the stage (`compare_stage`) of the matrix.

    Returns:
        The intact blocks, as `Shard`s of pair positions.
    """
    folder = _shards.group_folder(run, metric, stage)
    good: list[Shard] = []
    if not folder.is_dir():
        return good
    for path in sorted(folder.iterdir()):
        m = _NAME.match(path.name)
        if m is None or not path.is_dir():
            continue
        block = Shard(metric, int(m.group(1)), int(m.group(2)))
        try:
            values = np.load(path / _FILE, allow_pickle=False)
            ok = values.dtype == np.float64 and values.shape == (block.stop - block.start,)
        except (OSError, ValueError):
            ok = False
        if ok:
            good.append(block)
        else:
            shutil.rmtree(path, ignore_errors=True)
    return good


def _attempt(metric: Metric, items: list[Any], run: str, stage: str, start: int, stop: int,
             chunk: int | None, crash: str) -> bool:
    """One attempt at a block of pairs, in a Ray worker (module-level: workers import it). `run`: the run
    folder's path, or its URL (the block is built in this machine's worker folder and pushed; one already
    pushed is never redone)."""
    block = Shard(metric.name, start, stop)
    url = run if is_url(run) else None
    if url is not None and _remote.shard_is_pushed(url, block, stage):
        return False
    root = _remote.worker_root(url) if url is not None else Path(run)
    attempt = _shards.record_attempt(root, block, stage)
    final = _shards.shard_path(root, block, stage)
    if final.is_dir():  # committed by an attempt whose worker died before Ray heard back (or before its push)
        if url is not None:
            _remote.push_shard(url, block, stage)
        return False
    values = pair_distances(metric, items, pair_block(len(items), start, stop), chunk)
    if crash == str(block) and attempt == 1:  # the fault drill: dies before the commit
        os._exit(1)

    def fill(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        np.save(tmp / _FILE, np.asarray(values, np.float64), allow_pickle=False)

    committed = _shards.commit_folder(final, fill)
    if url is not None:
        _remote.push_shard(url, block, stage)
    return committed


def _finished(run: RunFolder, metric: str, stage: str) -> list[Shard]:
    """The metric's finished blocks (at a URL: those whose marker is there, pulled first)."""
    return _remote.pull_shards(run, metric, lambda: finished_blocks(run.path, metric, stage), stage)


def distances_on_ray(ray: Any, run: RunFolder, metric: Metric, items: list[Any], *, chunk: int | None,
                     shard_size: int | None, address: str | None, num_cpus: float, num_gpus: float,
                     max_retries: int, progress: StudyProgress | None = None,
                     shard_progress: ShardProgress | None = None) -> np.ndarray:
    """`[n, n]` distances of `metric` between `items`, computed as Ray tasks of at most `shard_size` pairs
    each (committed blocks of an earlier call are reused); zero diagonal, symmetric."""
    n = len(items)
    n_pairs = n * (n - 1) // 2
    stage = compare_stage(metric, items)
    done = _finished(run, metric.name, stage)
    missing = _shards.missing_networks(n_pairs, done)  # here: pair indices no committed block holds
    blocks: list[Shard] = []
    if missing:
        connect(ray, address, num_cpus, num_gpus)
        blocks = _shards.cut_shards(metric.name, missing, shard_size or default_size(ray, n_pairs, num_cpus, num_gpus))
    counts = ShardCounts(total=len(done) + len(blocks), earlier=len(done), done=len(done))
    pairs_done = sum(b.stop - b.start for b in done)

    def finish(block: Shard) -> None:
        nonlocal pairs_done
        pairs_done += block.stop - block.start
        if progress is not None:
            progress(metric.name, pairs_done, n_pairs)

    if blocks:
        ref, crash = ray.put(items), os.environ.get(CRASH_ENV, "")
        execute_shards(ray, _remote.attempts_folder(run), stage, blocks, counts, _attempt,
                       lambda b: (metric, ref, run.location, stage, b.start, b.stop, chunk, crash), finish,
                       num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries, progress=shard_progress,
                       rerun="rerun the same command to compute only the missing pairs")
    elif shard_progress is not None:
        shard_progress(counts)
    values = np.zeros(n_pairs)
    for b in _finished(run, metric.name, stage):
        values[b.start:b.stop] = np.load(_shards.shard_path(run.path, b, stage) / _FILE, allow_pickle=False)
    iu, ju = np.triu_indices(n, k=1)
    d = np.zeros((n, n))
    d[iu, ju] = values
    return d + d.T


def study_ray(
    run: RunFolder,
    options: StudyOptions = StudyOptions(),
    *,
    force: bool = False,
    shard_size: int | None = None,
    address: str | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    max_retries: int = 3,
    progress: StudyProgress | None = None,
    shard_progress: ShardProgress | None = None,
) -> Study:
    """`pipeline.study` with each metric's distance matrix computed as Ray tasks of at most `shard_size` pairs each.

    Writes the same catalog tables (`distances`, `embedding`, `summary`) as `study`, equal to its results
    to float rounding. A rerun after the driver died computes only the pairs no committed block holds.

    Args:
        run: the run folder.
        options: the study settings (`StudyOptions`).
        force: recompute metrics already in the catalog (otherwise they are kept).
        shard_size: the most pairs per Ray task (None: the pairs spread over the
            cluster's task slots).
        address: passed to `ray.init` ('auto': the cluster this machine belongs to; None: a local one
            unless $RAY_ADDRESS is set); an already initialised Ray is used as it is.
        num_cpus: CPUs each task asks Ray for.
        num_gpus: GPUs each task asks Ray for (a fraction lets tasks share a GPU).
        max_retries: how many times Ray retries a task whose worker died (≥ 0).
        progress: called as `progress(metric, pairs_done, n_pairs)`, as in `study`, or None.
        shard_progress: called with each metric's block counts (`ShardCounts`), or None.

    Returns:
        `Study`, as `pipeline.study` returns it.

    Raises:
        ConfigError: Ray not installed, `options` not a `StudyOptions` or invalid, or a bad shard option;
        RunFolderError: naming every block that failed after its retries.
    """
    ray = require_ray()
    if not isinstance(options, StudyOptions):
        raise ConfigError(f"options must be a StudyOptions, got {type(options).__name__}.")
    options.validate()
    check_shard_options(shard_size, num_cpus, num_gpus, max_retries)

    def distances(metric: Metric, items: list[Any]) -> np.ndarray:
        return distances_on_ray(ray, run, metric, items, chunk=options.chunk, shard_size=shard_size,
                                address=address, num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries,
                                progress=progress, shard_progress=shard_progress)

    with run.writing():
        result = study(run, options, force=force, progress=progress, distances=distances)
        # Every metric is written: its blocks (and those of other options or networks) are spent.
        shutil.rmtree(run.path / _shards.SHARDS / "compare", ignore_errors=True)
        if run.remote is not None:
            run.remote.remove(f"{_shards.SHARDS}/compare")
        with contextlib.suppress(OSError):
            (run.path / _shards.SHARDS).rmdir()  # only when empty
    return result
