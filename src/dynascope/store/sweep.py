"""A sweep: groups (architecture × hidden size) trained one after another into one run folder, resumably."""

from __future__ import annotations

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
        """Inverse of `to_dict` (ignores `versions` and any analysis sections)."""
        try:
            s = d["sweep"]
            return cls(
                task=s["task"],
                archs=tuple(s["archs"]),
                hidden=tuple(int(h) for h in s["hidden"]),
                seeds=int(s["seeds"]),
                steps=int(s["steps"]),
                seed=int(s["seed"]),
                task_options=dict(d.get("task_options", {})),
                model_options={k: dict(v) for k, v in d.get("model_options", {}).items()},
                train=TrainOptions.from_dict(d.get("train", {})),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise RunFolderError(f"config.toml lacks or mangles the [sweep] section ({err}).") from err


def group_key(seed: int, group: str) -> jax.Array:
    """The PRNG key of one group: the master seed folded with a stable hash of the group name."""
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32(group.encode()) & 0x7FFFFFFF)


def network_id(group: str, seed: int) -> str:
    """Catalog id of a network: '<group>/s<seed>'."""
    return f"{group}/s{seed:03d}"


def prepare_run(config: SweepConfig, out: str | Path, *, resume: bool = False) -> RunFolder:
    """Check `config` and create the run folder `out`, or open it to resume (RunFolderError if it holds
    a run and `resume` is off, or a run of a different config). `run_sweep` starts with this; call it
    first to fail before any output."""
    config.validate()
    out = Path(out)
    if not (out / CONFIG).exists():
        return RunFolder.create(out, config.to_dict())
    if not resume:
        raise RunFolderError(f"{out} already holds a run; pass --resume to continue it, or choose another --out.")
    run = RunFolder.open(out)
    stored = {k: v for k, v in run.config.items() if k != "versions"}
    if SweepConfig.from_dict(stored) != config:
        raise RunFolderError(
            f"{out} was created with a different config; resume with the original flags "
            f"(see {out / CONFIG}) or choose another --out."
        )
    return run


def run_sweep(
    config: SweepConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: SweepProgress | None = None,
    on_group: Callable[[str, Population], None] | None = None,
) -> RunFolder:
    """Train every group of `config` into the run folder `out` and return it.

    Finished groups (weights and catalog shard written) are skipped on resume; an unfinished group
    continues from its last checkpoint. Resuming a folder made by a different config raises RunFolderError.
    """
    run = prepare_run(config, out, resume=resume)
    out = run.path
    task = config.build_task()
    done = set(run.groups()) & {p.stem for p in run.shards("networks")}
    for group, arch, hidden in config.groups():
        if group in done:
            continue
        model = config.build_model(task, arch, hidden)
        ckpt = out / "checkpoints" / group
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
    return run


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
