"""A sweep: groups (architecture × hidden size) trained one after another into one run folder, resumably."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import zlib
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from dynascope import models, tasks
from dynascope.errors import ConfigError, RunFolderError, check_positive_int
from dynascope.models import Model, Params
from dynascope.tasks import Task
from dynascope.train import Population, TrainOptions, train_population
from dynascope.store._lock import busy
from dynascope.store.run import CONFIG, RunFolder

#: progress(group, steps_done, losses[n]) after every chunk of a group.
SweepProgress = Callable[[str, int, np.ndarray], None]


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """What to train: every architecture in `archs` at every size in `hidden`, `seeds` networks each.

    `seed` is the master PRNG seed; `task_options`, `model_options[arch]` and `train` pass through to
    `tasks.get`, `models.get` and `train_population`.
    """

    task: str = "flipflop"
    archs: tuple[str, ...] = ("gru",)
    hidden: tuple[int, ...] = (64,)
    seeds: int = 10
    steps: int = 2000
    seed: int = 0
    task_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    model_options: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    train: TrainOptions = TrainOptions()

    def groups(self) -> list[tuple[str, str, int]]:
        """(group name, arch, hidden) for every group, in training order."""
        return [(f"{a}-{h}", a, h) for a in self.archs for h in self.hidden]

    def build_task(self) -> Task:
        return tasks.get(self.task, **self.task_options)

    def build_model(self, task: Task, arch: str, hidden: int) -> Model:
        return models.get(
            arch, n_inputs=task.n_inputs, n_hidden=hidden, n_outputs=task.n_outputs, **self.model_options.get(arch, {})
        )

    def validate(self) -> None:
        """Build every task and model once, so bad names and options fail before any training."""
        if not self.archs:
            raise ConfigError("give at least one architecture (--arch gru,lstm,...).")
        if not self.hidden:
            raise ConfigError("give at least one hidden size (--hidden 64).")
        check_positive_int("seeds", self.seeds)
        check_positive_int("steps", self.steps)
        for h in self.hidden:
            check_positive_int("hidden", h)
        unknown = sorted(set(self.model_options) - set(self.archs))
        if unknown:
            raise ConfigError(f"model_options given for {unknown} which are not in archs {list(self.archs)}.")
        task = self.build_task()
        for _, arch, h in self.groups():
            self.build_model(task, arch, h)
        self.train.validate(self.seeds)

    def check_memory(self) -> None:
        """Refuse (ConfigError with the estimate) a group whose training would not fit in this machine's
        memory, before any folder or compilation: a 100 000-unit network otherwise fails after minutes."""
        from dynascope.train.memory import check_training_memory

        task = self.build_task()
        for _, arch, hidden in self.groups():
            check_training_memory(task, self.build_model(task, arch, hidden), self.seeds, self.steps,
                                  batch_size=self.train.batch_size, optimizer=self.train.optimizer)

    def to_dict(self) -> dict[str, Any]:
        """TOML-able form."""
        return {
            "sweep": {
                "task": self.task,
                "archs": list(self.archs),
                "hidden": list(self.hidden),
                "seeds": self.seeds,
                "steps": self.steps,
                "seed": self.seed,
            },
            "task_options": dict(self.task_options),
            "model_options": {k: dict(v) for k, v in self.model_options.items()},
            "train": self.train.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SweepConfig":
        """Inverse of `to_dict` (ignores `versions` and any analysis sections).

        RunFolderError naming the key and the value if a field is missing or of the wrong kind (ranges
        and names are checked by `validate`).
        """
        s = d.get("sweep")
        if not isinstance(s, dict):
            raise RunFolderError(f"{CONFIG} lacks its [sweep] section (got {s!r}); it was not written by `dynascope train`.")
        try:
            train = TrainOptions.from_dict(_table(d, "train"))
        except (TypeError, ValueError) as err:  # ConfigError is a ValueError
            raise RunFolderError(f"{CONFIG}: the [train] section is invalid ({err}).") from err
        return cls(
            task=_field(s, "task", _text, "a task name (text)"),
            archs=tuple(_field(s, "archs", lambda v: _list(v, _text), "a list of architecture names")),
            hidden=tuple(_field(s, "hidden", lambda v: _list(v, _integer), "a list of integers")),
            seeds=_field(s, "seeds", _integer, "an integer"),
            steps=_field(s, "steps", _integer, "an integer"),
            seed=_field(s, "seed", _integer, "an integer"),
            task_options=_table(d, "task_options"),
            model_options={k: _table(d["model_options"], k, "model_options.") for k in _table(d, "model_options")},
            train=train,
        )


def _text(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError
    return v


def _integer(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError
    return v


def _list(v: Any, item: Callable[[Any], Any]) -> list:
    if not isinstance(v, list):
        raise TypeError
    return [item(x) for x in v]


def _field(section: dict[str, Any], name: str, convert: Callable[[Any], Any], expected: str) -> Any:
    if name not in section:
        raise RunFolderError(f"{CONFIG}: [sweep] lacks {name!r} ({expected}); correct {CONFIG} or retrain into a new folder.")
    value = section[name]
    try:
        return convert(value)
    except (TypeError, ValueError):
        raise RunFolderError(
            f"{CONFIG}: sweep.{name} = {value!r} is not {expected}; correct it in {CONFIG} or retrain into a new folder."
        ) from None


def _table(d: dict[str, Any], name: str, prefix: str = "") -> dict[str, Any]:
    value = d.get(name, {})
    if not isinstance(value, dict):
        raise RunFolderError(f"{CONFIG}: {prefix}{name} = {value!r} is not a table of options; correct it in {CONFIG}.")
    return dict(value)


def group_key(seed: int, group: str) -> jax.Array:
    """The PRNG key of one group: the master seed folded with a stable hash of the group name."""
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32(group.encode()) & 0x7FFFFFFF)


def network_id(group: str, seed: int) -> str:
    """Catalog id of a network: '<group>/s<seed>'."""
    return f"{group}/s{seed:03d}"


def prepare_run(config: SweepConfig, out: str | Path, *, resume: bool = False) -> RunFolder:
    """Check `config` and create the run folder `out`, or open it to resume (RunFolderError if it holds
    a run and `resume` is off, or a run of a different config, or cannot be written). `run_sweep` starts
    with this; call it first to fail before any output. config.toml is written only once every option
    has been validated and the folder has been found writable."""
    config.validate()
    config.check_memory()
    out = Path(out)
    if not (out / CONFIG).exists():
        return RunFolder.create(out, config.to_dict())
    if not resume:
        writer = busy(out)
        if writer is not None:  # a second `train` started at the same time: say so, --resume would wait on it
            raise RunFolderError(
                f"{out} is being written by {writer}; only one command may write a run folder at a time: "
                "wait for it to finish, or choose another --out."
            )
        raise RunFolderError(f"{out} already holds a run; pass --resume to continue it, or choose another --out.")
    run = RunFolder.open(out)
    stored = {k: v for k, v in run.config.items() if k != "versions"}
    if SweepConfig.from_dict(stored) != config:
        raise RunFolderError(
            f"{out} was created with a different config; resume with the original flags "
            f"(see {out / CONFIG}) or choose another --out."
        )
    run.check_writable()
    return run


def group_damage(run: RunFolder, group: str) -> str | None:
    """Why a finished group's stored files cannot be trusted (checksum mismatch, unreadable or misshapen
    weights, corrupt catalog shard), or None if they pass every check."""
    try:
        load_group(run, group)
        for table in ("networks", "losses"):
            run.read_shard(table, group)
    except RunFolderError as err:
        return str(err)
    return None


def run_sweep(
    config: SweepConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: SweepProgress | None = None,
    on_group: Callable[[str, Population], None] | None = None,
) -> RunFolder:
    """Train every group of `config` into the run folder `out` and return it.

    Finished groups (weights and catalog shard written, and passing their checksum and shape checks) are
    skipped on resume; a finished group whose files are damaged is trained again and rewritten; an
    unfinished group continues from its last checkpoint. The folder's writer lock is held throughout, so a
    second writer is refused at once. Resuming a folder made by a different config raises RunFolderError.
    """
    run = prepare_run(config, out, resume=resume)
    with run.writing():
        run = prepare_run(config, out, resume=True)  # again under the lock: another writer may have finished
        _train_groups(run, config, progress, on_group)
    return run


def _train_groups(
    run: RunFolder,
    config: SweepConfig,
    progress: SweepProgress | None,
    on_group: Callable[[str, Population], None] | None,
) -> None:
    task = config.build_task()
    finished = set(run.groups()) & {p.stem for p in run.shards("networks")}
    for group, arch, hidden in config.groups():
        if group in finished and group_damage(run, group) is None:
            continue
        model = config.build_model(task, arch, hidden)
        ckpt = run.path / "checkpoints" / group
        # A checkpoint that cannot be written is a RunFolderError from train.checkpoint itself.
        pop = train_population(
            task,
            model,
            config.seeds,
            config.steps,
            group_key(config.seed, group),
            checkpoint_dir=ckpt,
            progress=(lambda step, losses, g=group: progress(g, step, losses)) if progress else None,
            **config.train.to_dict(),
        )
        save_population(run, group, pop)
        shutil.rmtree(ckpt, ignore_errors=True)
        if on_group is not None:
            on_group(group, pop)
    with contextlib.suppress(OSError):  # only if empty: no group left unfinished
        (run.path / "checkpoints").rmdir()


def save_population(run: RunFolder, group: str, pop: Population) -> None:
    """Write a trained group: weights first, then the loss and network catalog shards (the commit point)."""
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
    ids = [network_id(group, int(s)) for s in pop.seeds]
    run.write_table("losses", group, {"network": ids, "loss": [row.astype(np.float32) for row in pop.loss_history]})
    n = len(pop)
    run.write_table(
        "networks",
        group,
        {
            "network": ids,
            "group": [group] * n,
            "index": list(range(n)),
            "arch": [pop.model.name] * n,
            "n_hidden": [pop.model.n_hidden] * n,
            "seed": pop.seeds.tolist(),
            "learning_rate": pop.learning_rates.astype(float).tolist(),
            "task": [pop.task.name] * n,
            "steps": [pop.loss_history.shape[1]] * n,
            "final_loss": pop.final_loss.astype(float).tolist(),
            "metric": pop.metric.astype(float).tolist(),
            "trained": pop.trained.tolist(),
            "diverged": pop.diverged.tolist(),
            "stopped_at": pop.stopped_at.astype(int).tolist(),
            "train_seconds": [pop.seconds] * n,
        },
    )


@dataclasses.dataclass(frozen=True)
class StoredGroup:
    """A group loaded back from a run folder: the task, the model, stacked params and network ids."""

    name: str
    task: Task
    model: Model
    params: Params
    networks: tuple[str, ...]

    def network(self, i: int) -> Params:
        """Params of the group's network `i`."""
        return jax.tree_util.tree_map(lambda a: a[i], self.params)


def load_group(run: RunFolder, group: str) -> StoredGroup:
    """Load a group's weights, rebuild its task and model, and check every parameter's shape and dtype."""
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
