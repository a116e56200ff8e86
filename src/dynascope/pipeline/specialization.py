"""A modularity sweep: train two-module networks at several fractions of between-module connections and several
sizes, measure how specialised each module becomes for each sub-task, during training and at the end, and map
where specialization emerges.

Every (architecture, between-module fraction, size) is a group of the run folder, named
'<arch>.inter<fraction>-<size>' (e.g. 'modular.inter0.1-16'). Every group of a size is trained from one PRNG
key, so network `seed` of any group sees the same stream of trials and starts from the same weights before
its mask is applied. Training goes through the sweep's `train_groups` (interrupted, it continues with
`resume=True`); after a group has trained, the three measures of `compare.specialization` (decodability, lesion
damage, latent correlation) of every network at each kept parameter snapshot (`TrainOptions.snapshot_every`)
and at the end go to the `specialization` table, computed on one fixed batch of trials shared by every network.

`config.toml` holds a [specialization] section (the fractions and the measures' settings) and a [sweep]
section describing the same groups as a sweep would, so that `analyze`, `compare`, `report` and `show` open the
folder like any other run.

`specialization_summary` reads the table back: per measure, the specialization index of every trained network
(mean over its modules of max − min over the sub-tasks), the map of its mean with bootstrap intervals over
(fraction × size), its course over training, and the three measures' rank agreement across networks.

Reference: Béna & Goodman 2025, "Dynamics of specialization in neural modules under resource constraints",
Nat. Commun. (specialization rises as resources shrink and as the modules' connectivity falls; three measures
that agree qualitatively).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

from dynascope import models, tasks
from dynascope.compare.modularity import modularity
from dynascope.compare.size_equivalence import bootstrap_mean
from dynascope.compare.specialization import READOUTS, rank_agreement, specialization, specialization_measures
from dynascope.errors import ConfigError, DataError, RunFolderError, ShapeError, check_positive_int
from dynascope.models import Model
from dynascope.pipeline.config import SweepConfig
from dynascope.pipeline.populations import load_group, load_snapshots
from dynascope.pipeline.sweep import SweepProgress, group_key, prepare_run, train_groups
from dynascope.store import CONFIG, NetworkRows, RunFolder, SpecializationRows
from dynascope.tasks import Task
from dynascope.train import Population, TrainOptions

__all__ = ["MEASURES", "SpecializationConfig", "SpecializationSummary", "run_specialization", "specialization_summary"]

#: The measures, in the order of `compare.specialization.Specialization`'s fields.
MEASURES = ("decodability", "lesion", "correlation")
#: The `measure` of the one row of a network at a step where it could not be measured (`measure_group`).
SKIPPED = "skipped"


def fraction_label(fraction: float) -> str:
    """The fraction as group names spell it: the shortest decimal that reads back as the same float."""
    return repr(float(fraction)).removesuffix(".0")


@dataclasses.dataclass(frozen=True)
class SpecializationConfig:
    """What to train and measure: every two-module architecture in `archs` at every between-module fraction in
    `inter_fractions` and every size in `sizes`, `n_networks` networks each, `steps` optimizer steps, on the
    registered task `task` (one with sub-tasks: `latents` and `subtask_names`, e.g. 'sign_match').

    seed: the master PRNG seed. task_options, model_options[arch], train: pass through to `tasks.get`,
    `models.get` and `train_population` (`train.snapshot_every` > 0 measures during training as well).
    n_trials: trials the measures are computed on (one batch, the same for every network and step).
    readout: the decodability readout, 'logistic' (categorical latents, as sign_match's) or 'ridge'.
    """

    task: str = "sign_match"
    archs: tuple[str, ...] = ("modular",)
    inter_fractions: tuple[float, ...] = (0.0, 0.1, 0.3, 1.0)
    sizes: tuple[int, ...] = (8, 16, 32)
    n_networks: int = 4
    steps: int = 1000
    seed: int = 0
    n_trials: int = 256
    readout: str = "logistic"
    task_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    model_options: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    train: TrainOptions = TrainOptions()

    def __post_init__(self) -> None:
        # One spelling per meaning, so a config read back from its folder compares equal to the one written.
        object.__setattr__(self, "archs", tuple(str(a) for a in self.archs))
        object.__setattr__(self, "inter_fractions", tuple(float(f) for f in self.inter_fractions))
        object.__setattr__(self, "sizes", tuple(int(n) if isinstance(n, (int, np.integer)) else n for n in self.sizes))

    def group(self, arch: str, fraction: float, size: int) -> str:
        """The group of `arch` at between-module fraction `fraction` and size `size`."""
        return f"{arch}.inter{fraction_label(fraction)}-{size}"

    def groups(self) -> list[tuple[str, str, float, int]]:
        """(group name, arch, fraction, size) for every group, in training order: size by size (the smallest,
        quickest first), each architecture at each fraction."""
        return [(self.group(a, f, n), a, f, n) for n in self.sizes for a in self.archs for f in self.inter_fractions]

    def build_task(self) -> Task:
        return tasks.get(self.task, **self.task_options)

    def build_model(self, task: Task, arch: str, fraction: float, size: int) -> Model:
        options = {**self.model_options.get(arch, {}), "inter_fraction": fraction}
        return models.get(arch, n_inputs=task.n_inputs, n_hidden=size, n_outputs=task.n_outputs, **options)

    def sweep(self) -> SweepConfig:
        """The same groups described as a sweep, for the commands that read [sweep]."""
        return SweepConfig(task=self.task, archs=self.archs, n_hidden=self.sizes, n_networks=self.n_networks,
                           steps=self.steps, seed=self.seed, task_options=dict(self.task_options),
                           model_options={a: dict(o) for a, o in self.model_options.items()}, train=self.train)

    def validate(self) -> None:
        """Build the task and every group's model once, so that bad names and options, a task without sub-tasks
        or a model without modules fail before any training."""
        if not self.archs:
            raise ConfigError("give at least one two-module architecture (--arch modular,modular_lif).")
        if not self.sizes:
            raise ConfigError("give at least one size (--sizes 8,16,32).")
        # Named as the flag and, in parentheses, as config.toml and the Python API do (train.TrainOptions.validate).
        for n in self.sizes:
            check_positive_int("--sizes", n)
        if list(self.sizes) != sorted(set(self.sizes)):
            raise ConfigError(f"--sizes must be distinct and increasing, got {list(self.sizes)}; e.g. --sizes 8,16,32.")
        fractions = list(self.inter_fractions)
        if not fractions or fractions != sorted(set(fractions)) or not all(0 <= f <= 1 for f in fractions):
            raise ConfigError(f"--inter (inter_fractions) must be distinct, increasing and within [0, 1], got "
                              f"{fractions}; e.g. --inter 0,0.1,0.3,1.")
        check_positive_int("--n-networks (n_networks)", self.n_networks)
        if self.n_networks < 2:
            raise ConfigError(f"--n-networks (n_networks) must be at least 2 for an interval over networks, got "
                              f"{self.n_networks}; e.g. --n-networks 4.")
        check_positive_int("--steps", self.steps)
        check_positive_int("--trials (n_trials)", self.n_trials)
        if self.n_trials < 8:
            raise ConfigError(f"--trials (n_trials) must be at least 8 (the decoders train on half and test on the "
                              f"other), got {self.n_trials}.")
        if self.readout not in READOUTS:
            raise ConfigError(f"readout must be one of {', '.join(READOUTS)}, got {self.readout!r}.")
        unknown = sorted(set(self.model_options) - set(self.archs))
        if unknown:
            raise ConfigError(f"model_options given for {unknown} which are not in archs {list(self.archs)}.")
        for arch, options in self.model_options.items():
            if "inter_fraction" in options:
                raise ConfigError(f"--model-opt inter_fraction (model_options of {arch}) sets inter_fraction, which "
                                  "the sweep sets per group; give the fractions with --inter instead.")
        task = self.build_task()
        if not callable(getattr(task, "latents", None)) or len(getattr(task, "subtask_names", ())) < 2:
            with_subtasks = [n for n in tasks.names() if len(getattr(tasks.get(n), "subtask_names", ())) >= 2]
            raise ConfigError(f"task {self.task!r} has no sub-tasks whose latent variables the specialization "
                              f"measures read (a `latents` method and at least two `subtask_names`); use one that "
                              f"has: {', '.join(with_subtasks)}.")
        for arch in self.archs:
            probe = models.get(arch, n_inputs=task.n_inputs, n_hidden=2, n_outputs=task.n_outputs,
                               **self.model_options.get(arch, {}))
            if not hasattr(probe, "modules") or "inter_fraction" not in probe.options():
                two_module = [n for n in models.names() if any(o.name == "inter_fraction" for o in models.options(n))]
                raise ConfigError(f"architecture {arch!r} is not a two-module network (no modules and no "
                                  f"inter_fraction option); use one of {', '.join(two_module)}.")
        for _, arch, fraction, size in self.groups():
            self.build_model(task, arch, fraction, size)
        self.train.validate(self.n_networks)

    def check_memory(self) -> None:
        """Refuse (ConfigError with the estimate) a group one of whose networks alone would not fit this machine."""
        from dynascope.train.memory import check_training_memory

        task = self.build_task()
        for _, arch, fraction, size in self.groups():
            check_training_memory(task, self.build_model(task, arch, fraction, size), self.n_networks, self.steps,
                                  batch_size=self.train.batch_size, optimizer=self.train.optimizer)

    def to_dict(self) -> dict[str, Any]:
        """TOML-able form: the [sweep] view plus the [specialization] section."""
        return {**self.sweep().to_dict(), "specialization": {
            "inter_fractions": list(self.inter_fractions), "n_trials": self.n_trials, "readout": self.readout}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SpecializationConfig":
        """Inverse of `to_dict` (RunFolderError if the folder holds no modularity sweep or a malformed one)."""
        s = d.get("specialization")
        if not isinstance(s, dict):
            raise RunFolderError(f"{CONFIG} has no [specialization] section: this run folder was not written by "
                                 "`dynascope specialize`; choose another --out.")
        sweep = SweepConfig.from_dict({k: v for k, v in d.items() if k != "specialization"})
        try:
            return cls(task=sweep.task, archs=sweep.archs, inter_fractions=tuple(s["inter_fractions"]),
                       sizes=sweep.n_hidden, n_networks=sweep.n_networks, steps=sweep.steps, seed=sweep.seed,
                       n_trials=int(s["n_trials"]), readout=str(s["readout"]), task_options=dict(sweep.task_options),
                       model_options={a: dict(o) for a, o in sweep.model_options.items()}, train=sweep.train)
        except (KeyError, TypeError, ValueError) as err:
            raise RunFolderError(f"{CONFIG}: the [specialization] section is incomplete ({err}); it was not written "
                                 "by this dynascope, or was edited: choose another --out.") from err


def size_key(seed: int, size: int) -> jax.Array:
    """The PRNG key every group of `size` is trained from."""
    return group_key(seed, f"specialization-{size}")


#: progress(group, networks_done, n_networks) while a group's networks are measured.
MeasureProgress = Callable[[str, int, int], None]


def run_specialization(
    config: SpecializationConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: SweepProgress | None = None,
    on_group: Callable[[str, Population], None] | None = None,
    on_measure: MeasureProgress | None = None,
) -> RunFolder:
    """Train every group of `config` into the run folder `out` and write each group's `specialization` rows.

    Resumable: finished groups are kept, an unfinished one continues from its checkpoint, and a trained group
    whose rows are missing is measured.

    Args:
        config: the `SpecializationConfig`.
        out: the run folder.
        resume: continue a run already in `out` (otherwise a folder holding a run is refused).
        progress: called as `progress(group, steps_done, losses [n])` after every chunk of steps of a group.
        on_group: called as `on_group(group, population)` after each group is trained and saved.
        on_measure: called as `on_measure(group, networks_done, n_networks)` while a group is measured.

    Returns:
        The `RunFolder`.

    Raises:
        ConfigError: an invalid config; RunFolderError: `out` holds a run and `resume` is off, holds a run of
        a different config, is being written by another command, or cannot be written.
    """
    run = prepare_run(config, out, resume=resume)  # type: ignore[arg-type]  (duck-typed like AblationConfig)
    with run.writing():
        run = prepare_run(config, out, resume=True)  # type: ignore[arg-type]
        task = config.build_task()
        jobs = ((g, config.build_model(task, a, f, n), size_key(config.seed, n)) for g, a, f, n in config.groups())
        train_groups(run, task, jobs, n_networks=config.n_networks, steps=config.steps, train=config.train,
                     progress=progress, on_group=on_group)
        written = {p.stem for p in run.shards(SpecializationRows)}
        for group, arch, fraction, _ in config.groups():
            if group not in written:
                run.write(group, measure_group(run, config, group, arch, fraction, progress=on_measure))
    return run


def _trials(task: Task, n_trials: int, seed: int) -> tuple[jax.Array, np.ndarray]:
    """The batch every network is measured on: (inputs `[n_trials, T, I]`, latents `[n_trials, sub-tasks]`)."""
    key = jax.random.fold_in(jax.random.key(seed), 0x5EC)
    return task.sample(key, n_trials).inputs, np.asarray(task.latents(key, n_trials))


def measure_group(
    run: RunFolder,
    config: SpecializationConfig,
    group: str,
    arch: str,
    fraction: float,
    *,
    progress: MeasureProgress | None = None,
) -> SpecializationRows:
    """The `specialization` rows of one trained group: every network at each snapshot (the last being the
    trained network) or, without snapshots, at the end.

    A network that diverged in training, or whose activity is not finite at a step, cannot be measured there:
    it gets one row with measure 'skipped' (module -1, no sub-task, no score) at that step instead of the
    measures' rows, so that the summary can name it (`SpecializationSummary.skipped`) rather than count
    fewer networks without a word.

    Args:
        run: the run folder.
        config: the sweep's config (trials, readout, seed).
        group: the group's name.
        arch: its architecture.
        fraction: its between-module fraction.
        progress: called as `progress(group, networks_done, n_networks)` once before and after each network.

    Returns:
        The rows.

    Raises:
        RunFolderError: the group's files cannot be read.
    """
    stored = load_group(run, group)
    nets = run.read(NetworkRows, shard=group)
    diverged = dict(zip(nets.network, nets.diverged))
    if group in run.snapshot_groups():
        steps, at = load_snapshots(run, group)
    else:
        steps, at = np.asarray([int(max(nets.steps, default=config.steps))]), [stored]
    # The step reads the masks from the parameters, so networks of one size that differ only in inter_fraction
    # run the same program; measuring them as one model compiles it once per size, not once per group.
    model = dataclasses.replace(stored.model, inter_fraction=0.0)
    inputs, latents = _trials(stored.task, config.n_trials, config.seed)
    names = list(stored.task.subtask_names)  # type: ignore[attr-defined]
    labels = np.asarray(model.modules)  # type: ignore[attr-defined]
    key = jax.random.fold_in(jax.random.key(config.seed), 0x5ED)
    cols: dict[str, list[Any]] = {name: [] for name in SpecializationRows.SCHEMA.names}
    n = len(stored.networks)
    for i, network in enumerate(stored.networks):
        if progress is not None:
            progress(group, i, n)
        q = float(modularity(stored.network(i)["M_rec"], labels))

        def add(step: int, measure: str, module: int, subtask: str, score: float | None) -> None:
            for col, v in (("network", network), ("group", group), ("arch", arch), ("n_hidden", model.n_hidden),
                           ("inter_fraction", float(fraction)), ("modularity", q), ("step", int(step)),
                           ("measure", measure), ("module", module), ("subtask", subtask), ("score", score)):
                cols[col].append(v)

        for step, snapshot in zip(steps, at):
            if diverged.get(network, False):
                add(step, SKIPPED, -1, "", None)
                continue
            try:
                measured = specialization_measures(model, snapshot.network(i), inputs, latents, labels, key=key,
                                                   readout=config.readout)
            except (DataError, ShapeError):  # activity not finite at this step: nothing to measure
                add(step, SKIPPED, -1, "", None)
                continue
            for measure, scores in zip(MEASURES, measured):
                for module in range(scores.shape[0]):
                    for k, subtask in enumerate(names):
                        add(step, measure, module, subtask, float(scores[module, k]))
    if progress is not None:
        progress(group, n, n)
    return SpecializationRows(**cols)


@dataclasses.dataclass(frozen=True)
class SpecializationSummary:
    """A modularity sweep read back from its run folder.

    config: the `SpecializationConfig`. networks: the measured network ids, in the order of the arrays below.
    arch, inter_fraction, n_hidden, modularity, metric: per network `[n]` (metric: the trained task score).
    index: `{measure: [n]}`, each network's specialization index at the end (mean over its modules of
    max − min over the sub-tasks, in [0, 1]). steps: the measured training steps `[m]`; over_training:
    `{measure: [n, m]}` the index at each (NaN where not measured). map: one dict per (arch, fraction, size)
    with the networks measured, the mean Q, the mean task score, and per measure the mean index with its 95 %
    bootstrap interval over networks ('<measure>', '<measure>_low', '<measure>_high'), and how many of its
    networks reached the task's criterion ('trained'); every measured network counts, trained or not. agreement: the
    measures' Spearman rank correlation `[3, 3]` across the networks' final indices, or None with the reason
    in `agreement_note`. skipped: `(network, step)` of every network at every step where it could not be
    measured (it diverged in training, or its activity was not finite there), in the order written; the arrays
    above leave those out (a network skipped at every step is not among `networks`).
    """

    config: SpecializationConfig
    networks: list[str]
    arch: np.ndarray
    inter_fraction: np.ndarray
    n_hidden: np.ndarray
    modularity: np.ndarray
    metric: np.ndarray
    index: dict[str, np.ndarray]
    steps: np.ndarray
    over_training: dict[str, np.ndarray]
    map: list[dict[str, Any]]
    agreement: np.ndarray | None
    agreement_note: str = ""
    skipped: list[tuple[str, int]] = dataclasses.field(default_factory=list)

    def modularity_range(self, fraction: float) -> str:
        """Newman's Q of the wiring at between-module fraction `fraction`, to 2 decimals: one value, or its range
        over the sizes (Q depends on the module sizes); '–' when no network at that fraction was measured."""
        qs = sorted({round(c["modularity"], 2) for c in self.map if c["inter_fraction"] == fraction})
        if not qs:
            return "–"
        return f"{qs[0]:.2f}" if len(qs) == 1 else f"{qs[0]:.2f}–{qs[-1]:.2f}"


def specialization_summary(run: RunFolder, *, n_boot: int = 1000) -> SpecializationSummary:
    """Read a modularity sweep's `specialization` rows from `run` and summarise them (see
    `SpecializationSummary`).

    Args:
        run: the run folder (made by `run_specialization`).
        n_boot: bootstrap replicates of the map's intervals.

    Returns:
        The `SpecializationSummary` (empty arrays before any group has been measured).

    Raises:
        RunFolderError: `run` is not a modularity sweep, or its catalog cannot be read.
    """
    config = SpecializationConfig.from_dict({k: v for k, v in run.config.items() if k != "versions"})
    flagged = run.read(SpecializationRows, where={"measure": SKIPPED})
    skipped = [(n, int(s)) for n, s in zip(flagged.network, flagged.step)]
    rows = run.read(SpecializationRows, where={"measure": list(MEASURES)})
    nets = run.read(NetworkRows, where={"group": [g for g, *_ in config.groups()]})
    metric = dict(zip(nets.network, nets.metric))
    trained = dict(zip(nets.network, nets.trained))
    ids = list(dict.fromkeys(rows.network))  # unique, in the order written
    steps = np.asarray(sorted(set(rows.step)), np.int64)
    pos, col = {n: i for i, n in enumerate(ids)}, {int(s): j for j, s in enumerate(steps)}
    # scores[measure][network, step, module, subtask]
    sub = list(dict.fromkeys(rows.subtask))
    n_mod = max(rows.module, default=0) + 1
    scores = {m: np.full((len(ids), len(steps), n_mod, len(sub)), np.nan) for m in MEASURES}
    info: dict[str, tuple[str, float, int, float]] = {}
    for r in rows.records():
        scores[r["measure"]][pos[r["network"]], col[r["step"]], r["module"], sub.index(r["subtask"])] = (
            np.nan if r["score"] is None else r["score"])
        info[r["network"]] = (r["arch"], r["inter_fraction"], r["n_hidden"], r["modularity"])
    over = {m: np.full((len(ids), len(steps)), np.nan) for m in MEASURES}
    for m in MEASURES:
        for i in range(len(ids)):
            for j in range(len(steps)):
                s = scores[m][i, j]
                if np.isfinite(s).all() and len(sub) >= 2:
                    over[m][i, j] = float(specialization(s).mean())
    # A network's final index is its last measured step (every network of a group shares the snapshot steps).
    final = {m: np.array([_last(over[m][i]) for i in range(len(ids))]) for m in MEASURES}
    arch = np.array([info[n][0] for n in ids], object)
    frac = np.array([info[n][1] for n in ids], np.float64)
    size = np.array([info[n][2] for n in ids], np.int64)
    q = np.array([info[n][3] for n in ids], np.float64)
    score = np.array([_num(metric.get(n)) for n in ids], np.float64)
    cells = []
    for _, a, f, n in config.groups():
        sel = (arch == a) & (frac == f) & (size == n)
        if not sel.any():
            continue
        cell: dict[str, Any] = {"arch": a, "inter_fraction": f, "n_hidden": n, "networks": int(sel.sum()),
                                "trained": sum(bool(trained.get(i)) for i, k in zip(ids, sel) if k),
                                "modularity": float(q[sel].mean()), "metric": float(np.nanmean(score[sel]))
                                if np.isfinite(score[sel]).any() else float("nan")}
        for m in MEASURES:
            cell[m], cell[f"{m}_low"], cell[f"{m}_high"] = bootstrap_mean(final[m][sel], n_boot=n_boot, seed=config.seed)
        cells.append(cell)
    agreement, note = None, ""
    table = np.stack([final[m] for m in MEASURES], axis=1) if ids else np.zeros((0, 3))
    table = table[np.isfinite(table).all(axis=1)]
    if table.shape[0] < 3:
        note = f"{table.shape[0]} network(s) measured; it needs at least 3"
    else:
        try:
            agreement = rank_agreement(table)
        except (ShapeError, DataError) as err:
            note = str(err)
    return SpecializationSummary(config=config, networks=ids, arch=arch, inter_fraction=frac, n_hidden=size,
                                 modularity=q, metric=score, index=final, steps=steps, over_training=over, map=cells,
                                 agreement=agreement, agreement_note=note, skipped=skipped)


def _last(values: np.ndarray) -> float:
    finite = np.flatnonzero(np.isfinite(values))
    return float(values[finite[-1]]) if finite.size else float("nan")


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)
