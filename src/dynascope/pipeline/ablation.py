"""An ablation: train matched populations with and without a mechanism, at several sizes, into one run folder.

Every (arm, size) is a group of the run folder, named '<arch>.<mechanism>-<size>' for the arm with the
mechanism and '<arch>.no_<mechanism>-<size>' for the arm without. Both arms of a size are trained from one
PRNG key, so network `seed` of either arm sees the same stream of trials and, where the arms' parameters have
the same shapes and initialisation, starts from the same weights. Training goes through the sweep's
`train_groups` (an interrupted ablation continues with `resume=True`); after a group has trained, its
synaptic operations (`pipeline.analyze.energy_rows`, the `energy` table) and one `ablation` row (mean score
with a bootstrap interval over seeds, operations per trial) are written.

`config.toml` holds the [ablation] section (the mechanism, its options, both arms' overrides), which is what
the run is, and a [sweep] section that describes the same groups as a sweep would (the arms' architectures
at the ablation's sizes; model options of the arm 'with' where both arms share an architecture), so that
`analyze`, `compare`, `report` and `show` open the folder like any other run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

from dynascope import models, tasks
from dynascope.compare.size_equivalence import SizeEquivalence, bootstrap_mean, size_equivalence
from dynascope.errors import ConfigError, RunFolderError, check_positive_int
from dynascope.models import Model
from dynascope.pipeline.analyze import DIVERGED, NON_FINITE, AnalysisOptions, Simulated, energy_rows
from dynascope.pipeline.config import SweepConfig
from dynascope.pipeline.mechanisms import Arm, Mechanism, get_mechanism
from dynascope.pipeline.populations import load_group
from dynascope.pipeline.sweep import SweepProgress, group_key, prepare_run, train_groups
from dynascope.store import CONFIG, AblationRows, NetworkRows, RunFolder
from dynascope.tasks import Task
from dynascope.train import Population, TrainOptions

__all__ = ["ARMS", "AblationConfig", "AblationSummary", "ablation_summary", "run_ablation", "size_key"]

#: The two arms, in order.
ARMS = ("with", "without")


def size_key(seed: int, size: int) -> jax.Array:
    """The PRNG key both arms of `size` are trained from: the same for every arm and every mechanism."""
    return group_key(seed, f"ablation-{size}")


@dataclasses.dataclass(frozen=True)
class AblationConfig:
    """What to train: architecture `arch` (model options `model_options`) with and without `mechanism`
    (options `mechanism_options`, see `pipeline.mechanisms`) at every size in `sizes`, `n_networks` networks
    each, `steps` optimizer steps, on the registered task `task`; `seed` is the master PRNG seed;
    `task_options` and `train` pass through to `tasks.get` and `train_population`."""

    task: str = "flipflop"
    arch: str = "lif"
    mechanism: str = "none"
    sizes: tuple[int, ...] = (8, 16, 32)
    n_networks: int = 10
    steps: int = 2000
    seed: int = 0
    mechanism_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    task_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    model_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    train: TrainOptions = TrainOptions()

    def build_mechanism(self) -> Mechanism:
        return get_mechanism(self.mechanism, **self.mechanism_options)

    def arms(self) -> dict[str, Arm]:
        """{'with': Arm, 'without': Arm} (ConfigError if the mechanism does not apply to `arch`)."""
        models.get(self.arch, n_inputs=1, n_hidden=2, n_outputs=1, **self.model_options)  # name and options first
        return dict(zip(ARMS, self.build_mechanism().arms(self.arch, self.model_options)))

    def group(self, side: str, size: int) -> str:
        arm = self.arms()[side]
        return f"{arm.arch}.{'' if side == 'with' else 'no_'}{self.mechanism}-{size}"

    def groups(self) -> list[tuple[str, str, Arm, int]]:
        """(group name, arm side, arm, size) for every group, in training order (size by size)."""
        arms = self.arms()
        return [(self.group(side, n), side, arms[side], n) for n in self.sizes for side in ARMS]

    def build_task(self) -> Task:
        return tasks.get(self.task, **self.task_options)

    def build_model(self, task: Task, arm: Arm, size: int) -> Model:
        return models.get(arm.arch, n_inputs=task.n_inputs, n_hidden=size, n_outputs=task.n_outputs, **arm.options)

    def sweep(self) -> SweepConfig:
        """The same groups described as a sweep (see the module), for the commands that read [sweep]."""
        options: dict[str, dict[str, Any]] = {}
        for arm in self.arms().values():
            options.setdefault(arm.arch, dict(arm.options))
        return SweepConfig(task=self.task, archs=tuple(options), n_hidden=tuple(self.sizes), n_networks=self.n_networks,
                           steps=self.steps, seed=self.seed, task_options=dict(self.task_options),
                           model_options=options, train=self.train)

    def validate(self) -> None:
        """Build the mechanism, the task and every arm's model once, so bad names, options, sizes and a
        mechanism that does not apply fail before any training."""
        if not self.sizes:
            raise ConfigError("give at least two sizes (--sizes 8,16,32).")
        for n in self.sizes:
            check_positive_int("sizes", n)
        if len(self.sizes) < 2 or list(self.sizes) != sorted(set(self.sizes)):
            raise ConfigError(f"sizes must be at least two distinct sizes in increasing order, got "
                              f"{list(self.sizes)}; e.g. --sizes 8,16,32.")
        check_positive_int("n_networks", self.n_networks)
        check_positive_int("steps", self.steps)
        if self.n_networks < 2:
            raise ConfigError(f"n_networks must be at least 2 for a confidence interval over seeds, got "
                              f"{self.n_networks}; e.g. --n-networks 10.")
        task = self.build_task()
        for _, _, arm, n in self.groups():
            self.build_model(task, arm, n)
        self.train.validate(self.n_networks)

    def check_memory(self) -> None:
        """Refuse (ConfigError with the estimate) a group one of whose networks alone is too large to train on
        this machine; more networks than fit at once are trained in chunks."""
        from dynascope.train.memory import check_training_memory

        task = self.build_task()
        for _, _, arm, n in self.groups():
            check_training_memory(task, self.build_model(task, arm, n), self.n_networks, self.steps,
                                  batch_size=self.train.batch_size, optimizer=self.train.optimizer)

    def to_dict(self) -> dict[str, Any]:
        """TOML-able form: the [sweep] view plus the [ablation] section."""
        arms = self.arms()
        return {
            **self.sweep().to_dict(),
            "ablation": {
                "arch": self.arch,
                "mechanism": self.mechanism,
                "mechanism_options": dict(self.mechanism_options),
                "model_options": dict(self.model_options),
                "arms": {side: {"arch": arm.arch, "model_options": dict(arm.options)} for side, arm in arms.items()},
            },
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AblationConfig":
        """Inverse of `to_dict` (RunFolderError if the folder holds no ablation or a malformed one)."""
        a = d.get("ablation")
        if not isinstance(a, dict):
            raise RunFolderError(f"{CONFIG} has no [ablation] section: this run folder was not written by "
                                 "`dynascope ablate`; choose another --out.")
        s = SweepConfig.from_dict(d)
        try:
            return cls(task=s.task, arch=str(a["arch"]), mechanism=str(a["mechanism"]), sizes=tuple(s.n_hidden),
                       n_networks=s.n_networks, steps=s.steps, seed=s.seed, mechanism_options=dict(a["mechanism_options"]),
                       task_options=dict(s.task_options), model_options=dict(a["model_options"]), train=s.train)
        except (KeyError, TypeError, ValueError) as err:
            raise RunFolderError(f"{CONFIG}: the [ablation] section is incomplete ({err}); it was not written "
                                 "by this dynascope, or was edited: choose another --out.") from err


def run_ablation(
    config: AblationConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: SweepProgress | None = None,
    on_group: Callable[[str, Population], None] | None = None,
    energy_trials: int = AnalysisOptions.n_trials,
) -> RunFolder:
    """Train every group of `config` into the run folder `out`, write each group's `energy` and `ablation` rows.

    Resumable like `run_sweep`: finished groups are kept, an unfinished one continues from its checkpoint.

    Args:
        config: the `AblationConfig` (the architecture with and without the mechanism, at every size).
        out: the run folder.
        resume: continue a run already in `out` (otherwise a folder holding a run is refused).
        progress: called as `progress(group, steps_done, losses [n])` after every chunk of
            steps of a group, or None.
        on_group: called as `on_group(group, population)` after each group is trained and
            saved, or None.
        energy_trials: task trials the synaptic operations are averaged over.

    Returns:
        The `RunFolder`.

    Raises:
        ConfigError: an invalid config; RunFolderError: `out` holds a run and `resume` is off, holds a run
        of a different config, is being written by another command, or cannot be written.
    """
    run = prepare_run(config, out, resume=resume)  # type: ignore[arg-type]  (duck-typed: validate, to_dict, ...)
    trained: set[str] = set()

    def finished(group: str, pop: Population) -> None:
        trained.add(group)
        if on_group is not None:
            on_group(group, pop)

    with run.writing():
        run = prepare_run(config, out, resume=True)  # type: ignore[arg-type]
        task = config.build_task()
        jobs = ((g, config.build_model(task, arm, n), size_key(config.seed, n)) for g, _, arm, n in config.groups())
        train_groups(run, task, jobs, n_networks=config.n_networks, steps=config.steps, train=config.train,
                     progress=progress, on_group=finished)
        written = {p.stem for p in run.shards(AblationRows)}
        for group, side, arm, _ in config.groups():
            if group in trained or group not in written:
                _write_rows(run, config, group, side, arm, energy_trials)
    return run


def _write_rows(run: RunFolder, config: AblationConfig, group: str, side: str, arm: Arm, n_trials: int) -> None:
    """The group's `energy` shard and its `ablation` row (diverged networks and networks whose states are
    not finite cost nothing: no energy row)."""
    stored = load_group(run, group)
    nets = run.read(NetworkRows, shard=group)
    try:
        simulate = _simulate(stored.task, stored.model, n_trials)
    except TypeError:  # a task or model holding an unhashable option: compiled without the cache
        simulate = _simulate.__wrapped__(stored.task, stored.model, n_trials)
    trials, states = simulate(stored.params, jax.random.key(config.seed))
    finite = np.isfinite(np.asarray(states)).reshape(len(nets), -1).all(axis=1)
    exclude = {n: (DIVERGED if d else NON_FINITE) for n, d, f in zip(nets.network, nets.diverged, finite) if d or not f}
    keep = np.array([n not in exclude for n in nets.network])
    params = jax.tree_util.tree_map(lambda a: a[keep], stored.params)
    sim = Simulated(trials, keep, params, states[np.flatnonzero(keep)] if keep.any() else None, exclude)
    energy = energy_rows(stored, sim, dict(zip(nets.network, nets.metric)))
    run.write(group, energy)
    mean, low, high = bootstrap_mean(np.asarray(nets.metric, np.float64), seed=config.seed)
    ops = np.asarray(energy.operations_per_trial, np.float64)
    rates = [r for r in energy.mean_rate_hz if r is not None]
    run.write(group, AblationRows(
        group=[group],
        mechanism=[config.mechanism],
        arm=[side],
        arch=[arm.arch],
        model_options=[json.dumps(stored.model.options(), sort_keys=True)],
        n_hidden=[stored.model.n_hidden],
        n_networks=[len(nets)],
        n_scored=[int(np.isfinite(np.asarray(nets.metric, np.float64)).sum())],
        score_mean=[_finite(mean)],
        score_low=[_finite(low)],
        score_high=[_finite(high)],
        operations_per_trial=[float(ops.mean()) if ops.size else None],
        mean_rate_hz=[float(np.mean(rates)) if rates else None],
    ))


@functools.lru_cache(maxsize=32)
def _simulate(task: Task, model: Model, n_trials: int) -> Callable[..., Any]:
    """One compiled program per (task, model, n_trials): draw `n_trials` trials from a key and run every
    network of a stacked population on them, -> (trials, states [n, B, T, S]). `pipeline.analyze`'s
    `simulate_group` does the same but compiles afresh on every call, which for the many small groups of an
    ablation (both arms of a control share every program) cost more than their training."""

    def simulate(params: Any, key: jax.Array) -> tuple[Any, jax.Array]:
        trials = task.sample(jax.random.fold_in(key, 0), n_trials)
        states, _ = jax.vmap(model.run, in_axes=(0, None))(params, trials.inputs)
        return trials, states

    return jax.jit(simulate)


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


@dataclasses.dataclass(frozen=True)
class AblationSummary:
    """An ablation read back from its run folder: the config, the `ablation` rows (one per arm and size,
    in the config's order), per-seed scores `[sizes, seeds]` of each arm, and the size-equivalence factor
    (None until every group has its row)."""

    config: AblationConfig
    rows: AblationRows
    scores: dict[str, np.ndarray]
    factor: SizeEquivalence | None


def ablation_summary(run: RunFolder, *, n_boot: int = 1000) -> AblationSummary:
    """Read an ablation's rows and per-seed scores from `run` and compute its size-equivalence factor.

    The factor is `compare.size_equivalence`, a paired bootstrap over seeds (seeded by the config's seed).

    Args:
        run: the ablation's run folder (made by `run_ablation`).
        n_boot: bootstrap replicates.

    Returns:
        `AblationSummary` (config, `ablation` rows, per-seed scores `[sizes, seeds]` of each arm, and the
        factor, None until every group has its row).
    """
    config = AblationConfig.from_dict({k: v for k, v in run.config.items() if k != "versions"})
    groups = config.groups()
    stored = run.read(AblationRows)
    by_group = {g: i for i, g in enumerate(stored.group)}
    present = [by_group[g] for g, *_ in groups if g in by_group]
    rows = stored.take(present)
    nets = run.read(NetworkRows, where={"group": [g for g, *_ in groups]})
    score = {(g, s): m for g, s, m in zip(nets.group, nets.seed, nets.metric)}
    scores = {
        side: np.array([[score.get((config.group(side, n), s), np.nan) for s in range(config.n_networks)]
                        for n in config.sizes], np.float64)
        for side in ARMS
    }
    factor = None
    if len(present) == len(groups):
        factor = size_equivalence(np.asarray(config.sizes), scores["with"], scores["without"], n_boot=n_boot,
                                  seed=config.seed)
    return AblationSummary(config=config, rows=rows, scores=scores, factor=factor)
