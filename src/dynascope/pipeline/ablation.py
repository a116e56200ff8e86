"""An ablation: train matched populations with and without one or several mechanisms, at several sizes, into
one run folder.

Every (arm, size) is a group of the run folder, named '<arch>.<mechanism>-<size>' for the arm with a
mechanism and '<arch>.no_<mechanism>-<size>' for the arm without. With several mechanisms, each has its own
arm with it, and mechanisms whose arms without it are the same model share one group per size (trained once),
named after all of them: '<arch>.no_<m1>+<m2>-<size>'. Every arm of a size is trained from one PRNG key, so
network `seed` of any arm sees the same stream of trials and, where the arms' parameters have the same shapes
and initialisation, starts from the same weights. Training goes through the sweep's `train_groups` (an
interrupted ablation continues with `resume=True`); after a group has trained, its synaptic operations
(`pipeline.analyze.energy_rows`, the `energy` table) and one `ablation` row (mean score with a bootstrap
interval over seeds, operations per trial) are written.

`config.toml` holds the [ablation] section (the mechanisms, their options, the arms' overrides), which is what
the run is, and a [sweep] section that describes the same groups as a sweep would (the arms' architectures
at the ablation's sizes; model options of the first arm of each architecture), so that `analyze`, `compare`,
`report` and `show` open the folder like any other run.
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
from dynascope.train import Population, TrainOptions, check_rule

__all__ = ["ARMS", "AblationConfig", "AblationSummary", "ablation_summary", "run_ablation", "size_key"]

#: The two arms, in order.
ARMS = ("with", "without")


def size_key(seed: int, size: int) -> jax.Array:
    """The PRNG key both arms of `size` are trained from: the same for every arm and every mechanism."""
    return group_key(seed, f"ablation-{size}")


@dataclasses.dataclass(frozen=True)
class AblationConfig:
    """What to train: architecture `arch` (model options `model_options`) with and without each mechanism of
    `mechanism` (one name, or a tuple of names; options `mechanism_options`, see `pipeline.mechanisms`) at every
    size in `sizes`, `n_networks` networks each, `steps` optimizer steps, on the registered task `task`; `seed`
    is the master PRNG seed; `task_options` and `train` pass through to `tasks.get` and `train_population`.

    `mechanism_options` keys are the options' names when there is one mechanism, and 'MECHANISM.KEY' (which
    the single-mechanism form also accepts) to give an option to one of several. Each mechanism has its own
    arm 'with'; mechanisms whose arms 'without' are the same model (architecture and options) share one
    group per size, trained once."""

    task: str = "flipflop"
    arch: str = "lif"
    mechanism: str | tuple[str, ...] = "none"
    sizes: tuple[int, ...] = (8, 16, 32)
    n_networks: int = 10
    steps: int = 2000
    seed: int = 0
    mechanism_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    task_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    model_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    train: TrainOptions = TrainOptions()

    def __post_init__(self) -> None:
        # One spelling per meaning, so a config read back from its folder compares equal to the one written:
        # a single mechanism is its name, several are a tuple.
        m = self.mechanism
        if not isinstance(m, str):
            m = tuple(str(x) for x in m)
            object.__setattr__(self, "mechanism", m[0] if len(m) == 1 else m)

    @property
    def mechanisms(self) -> tuple[str, ...]:
        """The mechanisms' names, in order."""
        return (self.mechanism,) if isinstance(self.mechanism, str) else self.mechanism

    def options_of(self, mechanism: str) -> dict[str, Any]:
        """The options `mechanism_options` gives `mechanism` (ConfigError for a key that names no mechanism of
        the ablation, or a plain key when there are several)."""
        names = self.mechanisms
        out: dict[str, Any] = {}
        for key, value in self.mechanism_options.items():
            target, dot, option_name = key.partition(".")
            if not dot:
                if len(names) > 1:
                    raise ConfigError(f"mechanism option {key!r} does not say which of the mechanisms "
                                      f"{', '.join(names)} it is for; write it as MECHANISM.{key}, e.g. "
                                      f"--mechanism-opt {names[0]}.{key}=...")
                target, option_name = names[0], key
            elif target not in names:
                raise ConfigError(f"mechanism option {key!r} names mechanism {target!r}, which is not one of this "
                                  f"ablation's mechanisms ({', '.join(names)}); use one of those before the dot.")
            if target == mechanism:
                out[option_name] = value
        return out

    def build_mechanism(self, mechanism: str | None = None) -> Mechanism:
        """The mechanism `mechanism` (default: the only one) with its options."""
        name = self._one(mechanism)
        return get_mechanism(name, **self.options_of(name))

    def _one(self, mechanism: str | None) -> str:
        if mechanism is None:
            if len(self.mechanisms) > 1:
                raise ConfigError(f"this ablation has several mechanisms ({', '.join(self.mechanisms)}): name one.")
            return self.mechanisms[0]
        if mechanism not in self.mechanisms:
            raise ConfigError(f"mechanism {mechanism!r} is not one of this ablation's ({', '.join(self.mechanisms)}).")
        return mechanism

    def arms(self, mechanism: str | None = None) -> dict[str, Arm]:
        """{'with': Arm, 'without': Arm} of `mechanism` (default: the only one; ConfigError if it does not
        apply to `arch`)."""
        try:
            models.get(self.arch, n_inputs=1, n_hidden=2, n_outputs=1, **self.model_options)  # name and options first
        except ConfigError as refused:
            # Options that hold in one arm only (sparse storage, for the sparse arm of `sparsity`) are refused
            # on their own; if every arm builds, the arms decide, otherwise the options' own refusal stands.
            arms = self.build_mechanism(mechanism).arms(self.arch, self.model_options)
            try:
                for arm in arms:
                    models.get(arm.arch, n_inputs=1, n_hidden=2, n_outputs=1, **arm.options)
            except ConfigError:
                raise refused from None
            return dict(zip(ARMS, arms))
        return dict(zip(ARMS, self.build_mechanism(mechanism).arms(self.arch, self.model_options)))

    @functools.cached_property
    def _plan(self) -> tuple[dict[str, dict[str, Arm]], dict[str, str], dict[str, tuple[str, ...]]]:
        """Computed once per config (it builds every arm's model; `group` asks for it per group and size):
        (arms per mechanism, the name stem of each mechanism's arm 'without', the mechanisms each stem
        serves). Arms 'without' that build the same model (architecture and the model's full options, so an
        option given at its default value counts as the same) share one stem, named after all of them."""
        if len(set(self.mechanisms)) != len(self.mechanisms):
            raise ConfigError(f"mechanism lists a mechanism twice: {', '.join(self.mechanisms)}; name each once.")
        arms = {m: self.arms(m) for m in self.mechanisms}
        base: dict[str, list[str]] = {}
        for m, a in arms.items():
            model = models.get(a["without"].arch, n_inputs=1, n_hidden=2, n_outputs=1, **a["without"].options)
            same = json.dumps([a["without"].arch, model.options()], sort_keys=True, default=repr)
            base.setdefault(same, []).append(m)
        served = {f"{arms[ms[0]]['without'].arch}.no_{'+'.join(ms)}": tuple(ms) for ms in base.values()}
        stem = {m: s for s, ms in served.items() for m in ms}
        return arms, stem, served

    def group(self, side: str, size: int, mechanism: str | None = None) -> str:
        """The group of arm `side` of `mechanism` (default: the only one) at `size`."""
        name = self._one(mechanism)
        arms, stem, _ = self._plan
        if side == "with":
            return f"{arms[name]['with'].arch}.{name}-{size}"
        return f"{stem[name]}-{size}"

    def groups(self) -> list[tuple[str, str, Arm, int]]:
        """(group name, arm side, arm, size) for every group, in training order: size by size, each mechanism's
        arm 'with', then each distinct arm 'without' once."""
        arms, _, served = self._plan
        out = []
        for n in self.sizes:
            out += [(f"{arms[m]['with'].arch}.{m}-{n}", "with", arms[m]["with"], n) for m in self.mechanisms]
            out += [(f"{s}-{n}", "without", arms[ms[0]]["without"], n) for s, ms in served.items()]
        return out

    def served(self, group: str) -> tuple[str, ...]:
        """The mechanisms `group` is an arm of (several for a shared arm 'without')."""
        arms, _, served = self._plan
        stem = group.rsplit("-", 1)[0]
        if stem in served:
            return served[stem]
        # An arm 'with' is named exactly '<arch>.<mechanism>' (a suffix test would let 'tau' claim 'hetero_tau').
        return tuple(m for m in self.mechanisms if stem == f"{arms[m]['with'].arch}.{m}")

    def build_task(self) -> Task:
        return tasks.get(self.task, **self.task_options)

    def build_model(self, task: Task, arm: Arm, size: int) -> Model:
        return models.get(arm.arch, n_inputs=task.n_inputs, n_hidden=size, n_outputs=task.n_outputs, **arm.options)

    def sweep(self) -> SweepConfig:
        """The same groups described as a sweep (see the module), for the commands that read [sweep]."""
        options: dict[str, dict[str, Any]] = {}
        for _, _, arm, _ in self.groups():
            options.setdefault(arm.arch, dict(arm.options))
        return SweepConfig(task=self.task, archs=tuple(options), n_hidden=tuple(self.sizes), n_networks=self.n_networks,
                           steps=self.steps, seed=self.seed, task_options=dict(self.task_options),
                           model_options=options, train=self.train)

    def validate(self) -> None:
        """Build the mechanism, the task and every arm's model once, so bad names, options, sizes and a
        mechanism that does not apply fail before any training."""
        if not self.sizes:
            raise ConfigError("give at least two sizes (--sizes 8,16,32).")
        # Named as the flag and, in parentheses, as config.toml and the Python API do (train.TrainOptions.validate).
        for n in self.sizes:
            check_positive_int("--sizes", n)
        if len(self.sizes) < 2 or list(self.sizes) != sorted(set(self.sizes)):
            raise ConfigError(f"--sizes must be at least two distinct sizes in increasing order, got "
                              f"{list(self.sizes)}; e.g. --sizes 8,16,32.")
        if not self.mechanisms:
            raise ConfigError("give at least one mechanism (--mechanism hetero_tau, or several: none,dale).")
        check_positive_int("--n-networks (n_networks)", self.n_networks)
        check_positive_int("--steps", self.steps)
        if self.n_networks < 2:
            raise ConfigError(f"--n-networks (n_networks) must be at least 2 for a confidence interval over seeds, got "
                              f"{self.n_networks}; e.g. --n-networks 10.")
        task = self.build_task()
        for _, _, arm, n in self.groups():
            self.build_model(task, arm, n)
        self.train.validate(self.n_networks)
        for _, _, arm, n in self.groups():  # a learning rule the model or task cannot use (e-prop on a gru)
            check_rule(task, self.build_model(task, arm, n), self.train)

    def check_memory(self) -> None:
        """Refuse (ConfigError with the estimate) a group one of whose networks alone is too large to train on
        this machine; more networks than fit at once are trained in chunks."""
        from dynascope.train.memory import check_training_memory

        task = self.build_task()
        for _, _, arm, n in self.groups():
            check_training_memory(task, self.build_model(task, arm, n), self.n_networks, self.steps,
                                  batch_size=self.train.batch_size, optimizer=self.train.optimizer,
                                  rule=self.train.rule, checkpoint_steps=self.train.checkpoint_steps)

    def to_dict(self) -> dict[str, Any]:
        """TOML-able form: the [sweep] view plus the [ablation] section."""
        def arms(m: str) -> dict[str, Any]:
            return {side: {"arch": arm.arch, "model_options": dict(arm.options)} for side, arm in self.arms(m).items()}

        # One mechanism keeps the layout of the single-mechanism releases (a name, and its two arms).
        one = isinstance(self.mechanism, str)
        return {
            **self.sweep().to_dict(),
            "ablation": {
                "arch": self.arch,
                "mechanism": self.mechanism if one else list(self.mechanisms),
                "mechanism_options": dict(self.mechanism_options),
                "model_options": dict(self.model_options),
                "arms": arms(self.mechanism) if one else {m: arms(m) for m in self.mechanisms},  # type: ignore[arg-type]
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
            m = a["mechanism"]
            return cls(task=s.task, arch=str(a["arch"]), mechanism=str(m) if isinstance(m, str) else tuple(m), sizes=tuple(s.n_hidden),
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
        mechanism=["+".join(config.served(group))],
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
    """An ablation read back from its run folder: the config, the `ablation` rows (one per group, in the
    config's order), per mechanism the per-seed scores `[sizes, seeds]` of its two arms
    (`scores[mechanism][side]`) and its size-equivalence factor (`factors[mechanism]`, None until every group
    of the mechanism has its row)."""

    config: AblationConfig
    rows: AblationRows
    scores: dict[str, dict[str, np.ndarray]]
    factors: dict[str, SizeEquivalence | None]

    @property
    def factor(self) -> SizeEquivalence | None:
        """The factor of a single-mechanism ablation (ConfigError when it has several: use `factors`)."""
        return self.factors[self.config._one(None)]

    def rows_of(self, mechanism: str) -> AblationRows:
        """The rows of `mechanism`'s groups: its arm 'with' and its (possibly shared) arm 'without', size by size."""
        mine = {self.config.group(side, n, mechanism) for n in self.config.sizes for side in ARMS}
        return self.rows.take([i for i, g in enumerate(self.rows.group) if g in mine])


def ablation_summary(run: RunFolder, *, n_boot: int = 1000) -> AblationSummary:
    """Read an ablation's rows and per-seed scores from `run` and compute each mechanism's size-equivalence factor.

    A factor is `compare.size_equivalence`, a paired bootstrap over seeds (seeded by the config's seed), of the
    mechanism's arm 'with' against its arm 'without'.

    Args:
        run: the ablation's run folder (made by `run_ablation`).
        n_boot: bootstrap replicates.

    Returns:
        `AblationSummary` (config, `ablation` rows, per-seed scores `[sizes, seeds]` of each mechanism's arms,
        and each mechanism's factor, None until every group of it has its row).
    """
    config = AblationConfig.from_dict({k: v for k, v in run.config.items() if k != "versions"})
    groups = config.groups()
    stored = run.read(AblationRows)
    by_group = {g: i for i, g in enumerate(stored.group)}
    present = [by_group[g] for g, *_ in groups if g in by_group]
    rows = stored.take(present)
    nets = run.read(NetworkRows, where={"group": [g for g, *_ in groups]})
    score = {(g, s): m for g, s, m in zip(nets.group, nets.seed, nets.metric)}
    scores: dict[str, dict[str, np.ndarray]] = {}
    factors: dict[str, SizeEquivalence | None] = {}
    for m in config.mechanisms:
        names = {side: [config.group(side, n, m) for n in config.sizes] for side in ARMS}
        scores[m] = {side: np.array([[score.get((g, s), np.nan) for s in range(config.n_networks)] for g in gs],
                                    np.float64) for side, gs in names.items()}
        factors[m] = None
        if all(g in by_group for gs in names.values() for g in gs):
            factors[m] = size_equivalence(np.asarray(config.sizes), scores[m]["with"], scores[m]["without"],
                                          n_boot=n_boot, seed=config.seed)
    return AblationSummary(config=config, rows=rows, scores=scores, factors=factors)
