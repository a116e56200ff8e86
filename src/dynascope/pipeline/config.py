"""The config of a sweep, as `config.toml` holds it, and opening a run folder with its config checked."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from dynascope import models, store, tasks
from dynascope.errors import ConfigError, DataError, DynascopeError, RunFolderError, check_positive_int
from dynascope.models import Model
from dynascope.store import CONFIG, RunFolder
from dynascope.tasks import Task
from dynascope.train import TrainOptions, check_rule

__all__ = ["SweepConfig", "open_run", "written_by"]


#: The config section each command that creates a run folder adds to the [sweep] view of its groups.
_SECTIONS = {"ablation": "ablate", "specialization": "specialize"}


def written_by(config: dict[str, Any]) -> str:
    """The command that wrote a run folder, from its config ('train', 'ablate' or 'specialize'): the only one
    that can continue it with --resume, and the kind of run `dynascope runs` lists.

    Args:
        config: the folder's config as `config.toml` holds it (`RunFolder.config`).

    Returns:
        'ablate' for a config with an [ablation] section, 'specialize' for one with [specialization], else 'train'.
    """
    return next((command for section, command in _SECTIONS.items() if section in config), "train")


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """What to train: every architecture in `archs` at every size in `n_hidden`, `n_networks` networks each.

    `task`: the registered task name; `steps`: optimizer steps per group; `seed` is the master PRNG seed;
    `task_options`, `model_options[arch]` and `train` pass through to `tasks.get`, `models.get` and
    `train_population`.
    """

    task: str = "flipflop"
    archs: tuple[str, ...] = ("gru",)
    n_hidden: tuple[int, ...] = (64,)
    n_networks: int = 10
    steps: int = 2000
    seed: int = 0
    task_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    model_options: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    train: TrainOptions = TrainOptions()

    def groups(self) -> list[tuple[str, str, int]]:
        """(group name, arch, hidden) for every group, in training order."""
        return [(f"{a}-{h}", a, h) for a in self.archs for h in self.n_hidden]

    def build_task(self) -> Task:
        return tasks.get(self.task, **self.task_options)

    def build_model(self, task: Task, arch: str, n_hidden: int) -> Model:
        return models.get(
            arch, n_inputs=task.n_inputs, n_hidden=n_hidden, n_outputs=task.n_outputs, **self.model_options.get(arch, {})
        )

    def validate(self) -> None:
        """Build every task and model once, so bad names and options fail before any training."""
        if not self.archs:
            raise ConfigError("give at least one architecture (--arch gru,lstm,...).")
        if not self.n_hidden:
            raise ConfigError("give at least one hidden size (--n-hidden 64).")
        # Named as the flag and, in parentheses, as config.toml and the Python API do (train.TrainOptions.validate).
        check_positive_int("--n-networks (n_networks)", self.n_networks)
        check_positive_int("--steps", self.steps)
        for h in self.n_hidden:
            check_positive_int("--n-hidden (n_hidden)", h)
        unknown = sorted(set(self.model_options) - set(self.archs))
        if unknown:
            raise ConfigError(f"model_options given for {unknown} which are not in archs {list(self.archs)}.")
        task = self.build_task()
        for _, arch, h in self.groups():
            self.build_model(task, arch, h)
        self.train.validate(self.n_networks)
        for _, arch, h in self.groups():  # a learning rule the model or task cannot use (e-prop on a gru)
            check_rule(task, self.build_model(task, arch, h), self.train)

    def check_memory(self) -> None:
        """Refuse (ConfigError with the estimate) a group one of whose networks alone would not fit in this
        machine's memory, before any folder or compilation: a 100 000-unit network otherwise fails after
        minutes. More networks than fit at once are trained in chunks, not refused."""
        from dynascope.train.memory import check_training_memory

        task = self.build_task()
        for _, arch, n_hidden in self.groups():
            check_training_memory(task, self.build_model(task, arch, n_hidden), self.n_networks, self.steps,
                                  batch_size=self.train.batch_size, optimizer=self.train.optimizer,
                                  rule=self.train.rule, checkpoint_steps=self.train.checkpoint_steps)

    def to_dict(self) -> dict[str, Any]:
        """TOML-able form."""
        return {
            "sweep": {
                "task": self.task,
                "archs": list(self.archs),
                "n_hidden": list(self.n_hidden),
                "n_networks": self.n_networks,
                "steps": self.steps,
                "seed": self.seed,
            },
            "task_options": dict(self.task_options),
            "model_options": {k: dict(v) for k, v in self.model_options.items()},
            "train": self.train.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SweepConfig":
        """Inverse of `to_dict` (ignores `versions` and any analysis sections). Run folders written before the
        vocabulary change (`hidden`, `seeds` in [sweep]) are read under the new names.

        RunFolderError naming the key and the value if a field is missing or of the wrong kind (ranges
        and names are checked by `validate`).
        """
        s = d.get("sweep")
        if not isinstance(s, dict):
            raise RunFolderError(f"{CONFIG} lacks its [sweep] section (got {s!r}); it was not written by `dynascope train`.")
        s = {**{_RENAMED[k]: v for k, v in s.items() if k in _RENAMED}, **s}  # the new name wins when both are there
        try:
            train = TrainOptions.from_dict(_table(d, "train"))
        except (TypeError, ValueError) as err:  # ConfigError is a ValueError
            raise RunFolderError(f"{CONFIG}: the [train] section is invalid ({err}).") from err
        return cls(
            task=_field(s, "task", _text, "a task name (text)"),
            archs=tuple(_field(s, "archs", lambda v: _list(v, _text), "a list of architecture names")),
            n_hidden=tuple(_field(s, "n_hidden", lambda v: _list(v, _integer), "a list of integers")),
            n_networks=_field(s, "n_networks", _integer, "an integer"),
            steps=_field(s, "steps", _integer, "an integer"),
            seed=_field(s, "seed", _integer, "an integer"),
            task_options=_table(d, "task_options"),
            model_options={k: _table(d["model_options"], k, "model_options.") for k in _table(d, "model_options")},
            train=train,
        )


#: [sweep] keys of run folders written before the vocabulary change -> their names now.
_RENAMED = {"hidden": "n_hidden", "seeds": "n_networks"}


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


def open_run(path: str | Path) -> RunFolder:
    """Open the run folder at `path` (`dynascope.store.open`) and check its config: RunFolderError naming the
    key and the value if the [sweep] config is not one `train` accepts, so a corrupt or nonsensical config
    fails at open rather than minutes into a command."""
    run = store.open(path)
    _validate_config(run.path / CONFIG, run.config)
    return run


def _validate_config(path: Path, config: dict[str, Any]) -> None:
    """RunFolderError naming the key and value if the [sweep] config of a run is not one `train` accepts."""
    if "sweep" not in config:
        raise RunFolderError(f"{path} has no [sweep] section; it was not written by `dynascope train`.")
    try:
        parsed = SweepConfig.from_dict(config)
    except RunFolderError as err:  # names the key and the value, and the fix
        raise RunFolderError(f"{path} holds an invalid config: {str(err).removeprefix(f'{CONFIG}: ')}") from err
    try:
        parsed.validate()
    except DataError as err:  # the config is fine; a file its task reads (a recording) is missing or changed
        raise RunFolderError(f"{path}: the data this run's task reads cannot be used: {err}") from err
    except DynascopeError as err:
        raise RunFolderError(
            f"{path} holds an invalid config: {err} Correct that value in {path.name}, or retrain into a new folder."
        ) from err
