"""A trained group in a run folder: its weights and catalog rows written from a `Population`, and loaded
back as a `StoredGroup` with its task and model rebuilt from the weights' metadata."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from dynascope import models, tasks
from dynascope.errors import RunFolderError
from dynascope.models import Model, Params
from dynascope.store import LossRows, NetworkRows, RunFolder
from dynascope.tasks import Task
from dynascope.train import Population

__all__ = ["StoredGroup", "group_damage", "load_group", "load_snapshots", "network_id", "save_population"]


def network_id(group: str, seed: int) -> str:
    """Catalog id of a network: '<group>/s<seed>' with the seed zero-padded to three digits.

    Args:
        group: the group's name.
        seed: the network's seed.

    Returns:
        The id, e.g. '<group>/s007' for seed 7.
    """
    return f"{group}/s{seed:03d}"


def save_population(run: RunFolder, group: str, pop: Population) -> None:
    """Write a trained group: weights (and snapshots), then the loss and network catalog shards.

    The catalog shards are written last: they are the commit point that marks the group finished.

    Args:
        run: the run folder (its writer lock held by the caller).
        group: the group's name.
        pop: the trained `Population`.

    Raises:
        RunFolderError: a file cannot be written.
    """
    metadata = {
        "arch": pop.model.name,
        "n_inputs": pop.model.n_inputs,
        "n_hidden": pop.model.n_hidden,
        "n_outputs": pop.model.n_outputs,
        "model_options": pop.model.options(),
        "task": pop.task.name,
        "task_options": pop.task.options(),
        "seeds": pop.seeds.tolist(),
    }
    run.write_weights(group, {k: np.asarray(v) for k, v in pop.params.items()}, metadata)
    if pop.snapshots is not None:  # before the catalog shards, which mark the group finished
        run.write_snapshots(group, pop.snapshot_steps.tolist(), {k: np.asarray(v) for k, v in pop.snapshots.items()})
    ids = [network_id(group, int(s)) for s in pop.seeds]
    run.write(group, LossRows(network=ids, loss=[row.astype(np.float32) for row in pop.loss_history]))
    n = len(pop)
    run.write(group, NetworkRows(
        network=ids,
        group=[group] * n,
        index=list(range(n)),
        arch=[pop.model.name] * n,
        n_hidden=[pop.model.n_hidden] * n,
        seed=pop.seeds.tolist(),
        learning_rate=pop.learning_rates.astype(float).tolist(),
        task=[pop.task.name] * n,
        steps=[pop.loss_history.shape[1]] * n,
        final_loss=pop.final_loss.astype(float).tolist(),
        metric=pop.metric.astype(float).tolist(),
        trained=pop.trained.tolist(),
        diverged=pop.diverged.tolist(),
        stopped_at=pop.stopped_at.astype(int).tolist(),
        train_seconds=[pop.seconds] * n,
    ))


@dataclasses.dataclass(frozen=True)
class StoredGroup:
    """A group loaded back from a run folder.

    name: the group's name. task, model: rebuilt from the stored metadata. params: leaves `[n, ...]`,
    stacked over the group's networks. networks: the n network ids, in the order of the params.
    """

    name: str
    task: Task
    model: Model
    params: Params
    networks: tuple[str, ...]

    def network(self, i: int) -> Params:
        """Params of the group's network `i`."""
        return jax.tree_util.tree_map(lambda a: a[i], self.params)


def load_group(run: RunFolder, group: str) -> StoredGroup:
    """Load a group's weights, rebuild its task and model, and check every parameter's shape and dtype.

    Weights written by an earlier release are renamed to today's parameter names (`Model.upgrade_params`).

    Args:
        run: the run folder.
        group: the group's name.

    Returns:
        `StoredGroup` (name, task, model, params with leaves `[n, ...]` float32, network ids).

    Raises:
        RunFolderError: unreadable weights, incomplete metadata, parameters not `[n, ...]` float32, or
        parameters the model refuses.
    """
    params, meta = run.read_weights(group)
    try:
        task = tasks.get(meta["task"], **meta["task_options"])
        model = models.get(
            meta["arch"],
            n_inputs=meta["n_inputs"],
            n_hidden=meta["n_hidden"],
            n_outputs=meta["n_outputs"],
            **meta["model_options"],
        )
        seeds = [int(s) for s in meta["seeds"]]
    except (KeyError, TypeError) as err:
        raise RunFolderError(f"weights of {group!r} carry incomplete metadata ({err}); re-run training.") from err
    params = model.upgrade_params(params)  # a run written by an earlier release, with its parameter names
    n = len(seeds)
    for k, v in params.items():
        if v.dtype != np.float32 or v.shape[:1] != (n,):
            raise RunFolderError(
                f"weights of {group!r}: {k} has shape {v.shape} {v.dtype}, expected [{n}, ...] float32."
            )
    try:
        model.check_params({k: v[0] for k, v in params.items()})
    except Exception as err:
        raise RunFolderError(f"weights of {group!r} do not fit model {model.name}: {err}") from err
    return StoredGroup(
        name=group,
        task=task,
        model=model,
        params={k: jnp.asarray(v) for k, v in params.items()},
        networks=tuple(network_id(group, s) for s in seeds),
    )


def load_snapshots(run: RunFolder, group: str) -> tuple[np.ndarray, list[StoredGroup]]:
    """A group's snapshot steps and, per step, the group as it was then.

    Args:
        run: the run folder.
        group: the group's name.

    Returns:
        (steps `[m]`, a list of m `StoredGroup`: the params at that step; the task, model and network
        ids as stored).

    Raises:
        RunFolderError: the group kept no snapshots (train with --snapshot-every), their shapes do not
        match the group's weights, or the weights cannot be loaded (as `load_group`).
    """
    stored = load_group(run, group)
    steps, params = run.read_snapshots(group)
    params = stored.model.upgrade_params(params)
    if set(params) != set(stored.params) or any(
        params[k].shape[1:] != stored.params[k].shape for k in stored.params
    ):
        raise RunFolderError(f"snapshots of {group!r} do not match its weights' parameters and shapes; "
                             f"retrain the group (`dynascope train ... --resume` after deleting its files).")
    at = [dataclasses.replace(stored, params={k: jnp.asarray(v[j]) for k, v in params.items()})
          for j in range(len(steps))]
    return steps, at


def group_damage(run: RunFolder, group: str) -> str | None:
    """Why a finished group's stored files cannot be trusted, or None if they pass every check.

    The checks: weights (checksum, shapes, dtypes, metadata), snapshots where the group expects them,
    and its `networks` and `losses` catalog shards.

    Args:
        run: the run folder.
        group: the group's name.

    Returns:
        The RunFolderError's message (checksum mismatch, unreadable or misshapen weights, corrupt catalog
        shard), or None.
    """
    try:
        load_group(run, group)
        if run.expects_snapshots(group):
            run.read_snapshots(group)
        for rows in (NetworkRows, LossRows):
            run.read(rows, shard=group)
    except RunFolderError as err:
        return str(err)
    return None
