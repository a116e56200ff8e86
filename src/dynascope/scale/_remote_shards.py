"""Shards of a run at a URL (`store.remote`): a worker builds its shard in a local folder of its own and
pushes it to `<url>/shards/[<stage>/]<group>/<start>-<stop>/` with a `pushed.json` marker written last; the
driver pulls only marked shards into its working copy before merging them.

A shard whose marker is at the URL is finished and never redone; one without (a worker that died before its
marker, a push cut off) is redone. Workers need no access to the driver's disk, only to the URL. The run's
own push never carries shards (`store.remote` keeps `shards/` local), so a shard reaches the URL only by its
own marker, and a merged group's shards are deleted at the URL once the run's push that holds the group is
committed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from dynascope.scale._shards import SHARDS, Shard, group_folder, shard_path
from dynascope.store import Remote, RunFolder

__all__ = ["attempts_folder", "drop_shards", "pull_shards", "push_shard", "shard_is_pushed", "worker_root"]


def _rel(group: str, stage: str = "") -> str:
    """A group's shard folder relative to the run: `shards/[<stage>/]<group>`."""
    return "/".join(p for p in (SHARDS, stage, group) if p)


def worker_root(url: str) -> Path:
    """The local folder in which a worker on this machine builds shards of the run at `url` (and keeps its
    checkpoints and attempt markers): `<staging_dir>/<hash of the URL>/worker`, beside (never inside) the
    driver's working copy when the driver runs here."""
    return Remote(url).path.parent / "worker"


def _shard_remote(url: str, shard: Shard, stage: str, local: Path) -> Remote:
    return Remote(url).child(f"{_rel(shard.group, stage)}/{shard.name}", local)


def shard_is_pushed(url: str, shard: Shard, stage: str = "") -> bool:
    """Whether `shard` of the run at `url` is finished: its marker is at the URL."""
    return _shard_remote(url, shard, stage, shard_path(worker_root(url), shard, stage)).holds_run()


def push_shard(url: str, shard: Shard, stage: str = "") -> None:
    """Upload a shard committed in this machine's `worker_root(url)`, its marker last, then delete the local
    copy (the URL now holds it)."""
    remote = _shard_remote(url, shard, stage, shard_path(worker_root(url), shard, stage))
    remote.push()
    remote.drop_working_copy()


def pull_shards(run: RunFolder, group: str, finished: Callable[[], list[Shard]], stage: str = "") -> list[Shard]:
    """Download the marked shards of `group` at `run`'s URL into its working copy (unmarked ones are left
    out), then return `finished()`, the intact shards there; a pulled shard that is not intact (its files no
    longer match its marker) is deleted at the URL too, so that it is redone. For a local run: `finished()`.

    Args:
        run: the run folder (the driver's working copy of a run at a URL).
        group: the group (or metric) whose shards are pulled.
        finished: lists the intact shards of the group in the working copy, deleting damaged ones.
        stage: the pipeline stage of the shards ('' for training; see `_shards.group_folder`).
    """
    if run.remote is None:
        return finished()
    pulled = []
    for name in run.remote.folders(_rel(group, stage)):
        local = group_folder(run.path, group, stage) / name
        child = run.remote.child(f"{_rel(group, stage)}/{name}", local)
        if child.marker() is not None:  # unfinished attempts (no marker) are not shards
            child.pull()
            pulled.append(name)
    good = finished()
    for name in set(pulled) - {s.name for s in good}:
        run.remote.remove(f"{_rel(group, stage)}/{name}")
    return good


def drop_shards(run: RunFolder, group: str, stage: str = "") -> None:
    """Delete a merged group's shards at `run`'s URL and on this machine's worker folder (after the run's
    push that commits the group); nothing for a local run."""
    if run.remote is None:
        return
    run.remote.remove(_rel(group, stage))
    shutil.rmtree(group_folder(worker_root(run.remote.url), group, stage), ignore_errors=True)


def attempts_folder(run: RunFolder) -> Path:
    """Where workers leave the attempt markers the driver counts: the run folder, or for a run at a URL this
    machine's worker folder (attempts on other machines are not counted as retries there)."""
    return worker_root(run.remote.url) if run.remote is not None else run.path
