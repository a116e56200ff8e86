"""The catalog's tables, each declared once, as a frozen dataclass of columns.

A table's class is the only place its columns are named and typed: writers build one
(`NetworkRows(network=[...], group=[...], ...)`) and hand it to `RunFolder.write`, readers get one back
from `RunFolder.read`, and the Arrow schema every shard is checked against is derived from its fields. A
misspelt or missing column is therefore a TypeError where the rows are built, not a malformed shard.

Each attribute holds one column: a sequence with one entry per row (lists on read; NumPy arrays are
accepted on write). Loaders refuse a shard whose schema differs from the class's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, TypeVar

import pyarrow as pa

__all__ = [
    "TABLES",
    "AblationRows",
    "DistanceRows",
    "EmbeddingRows",
    "EnergyRows",
    "FixedPointRows",
    "LossRows",
    "NetworkRows",
    "Rows",
    "SkeletonRows",
    "SummaryRows",
    "column",
    "table",
]

R = TypeVar("R", bound="Rows")

#: Every catalog table by name, in the order `verify` checks them; filled by `@table`.
TABLES: dict[str, type["Rows"]] = {}


def column(arrow_type: pa.DataType, doc: str) -> Any:
    """Declare one column of a table: its Arrow type and what it holds."""
    return dataclasses.field(metadata={"arrow": arrow_type, "doc": doc})


def table(name: str, *, shard: str) -> Any:
    """Class decorator: make `cls` a frozen dataclass, derive its Arrow `SCHEMA` and register it as table `name`,
    one shard per `shard` (what a shard holds: 'group' or 'metric')."""

    def register(cls: type[R]) -> type[R]:
        cls = dataclasses.dataclass(frozen=True)(cls)
        cls.TABLE = name
        cls.SHARD = shard
        cls.SCHEMA = pa.schema([pa.field(f.name, f.metadata["arrow"]) for f in dataclasses.fields(cls)])
        TABLES[name] = cls
        return cls

    return register


class Rows:
    """Rows of one catalog table, held column by column; subclasses are declared with `@table`."""

    TABLE: ClassVar[str]
    SHARD: ClassVar[str]
    SCHEMA: ClassVar[pa.Schema]

    def __len__(self) -> int:
        return len(getattr(self, self.SCHEMA.names[0]))

    def columns(self) -> dict[str, Sequence[Any]]:
        """{column name: values}, in schema order."""
        return {name: getattr(self, name) for name in self.SCHEMA.names}

    def to_arrow(self) -> pa.Table:
        """The rows as an Arrow table of this table's schema (TypeError/ArrowInvalid if a column does not fit)."""
        return pa.Table.from_pydict({k: _plain(v) for k, v in self.columns().items()}, schema=self.SCHEMA)

    @classmethod
    def from_arrow(cls: type[R], data: pa.Table) -> R:
        """Rows from an Arrow table holding (at least) this table's columns; each column becomes a list."""
        return cls(**{name: data.column(name).to_pylist() for name in cls.SCHEMA.names})

    @classmethod
    def empty(cls: type[R]) -> R:
        """No rows."""
        return cls(**{name: [] for name in cls.SCHEMA.names})

    @classmethod
    def concat(cls: type[R], parts: Iterable[R]) -> R:
        """The rows of `parts`, one after another."""
        parts = list(parts)
        return cls(**{name: [v for p in parts for v in getattr(p, name)] for name in cls.SCHEMA.names})

    def take(self: R, index: Iterable[int]) -> R:
        """The rows at positions `index`, in that order."""
        index = list(index)
        cols = {name: list(values) for name, values in self.columns().items()}
        return type(self)(**{name: [values[i] for i in index] for name, values in cols.items()})

    def where(self: R, mask: Iterable[Any]) -> R:
        """The rows where `mask` (one truth value per row) is true."""
        return self.take(i for i, keep in enumerate(mask) if keep)

    def records(self) -> list[dict[str, Any]]:
        """One dict per row, {column: value}."""
        cols = self.columns()
        return [dict(zip(cols, values)) for values in zip(*cols.values())]


def _plain(values: Sequence[Any]) -> Any:
    """A column as Arrow takes it: a 2-D NumPy array (one row per entry of a list column) as a list of rows."""
    return list(values) if getattr(values, "ndim", 1) > 1 else values


@table("networks", shard="group")
class NetworkRows(Rows):
    """One row per trained network; one shard per group, written when the group finishes training."""

    network: Sequence[str] = column(pa.string(), "'<group>/s<seed>', unique within a run")
    group: Sequence[str] = column(pa.string(), "'<arch>-<n_hidden>'")
    index: Sequence[int] = column(pa.int64(), "position within the group's stacked weights")
    arch: Sequence[str] = column(pa.string(), "registered model name")
    n_hidden: Sequence[int] = column(pa.int64(), "hidden units")
    seed: Sequence[int] = column(pa.int64(), "the network's PRNG seed within its group")
    learning_rate: Sequence[float] = column(pa.float64(), "learning rate it was trained with")
    task: Sequence[str] = column(pa.string(), "registered task name")
    steps: Sequence[int] = column(pa.int64(), "optimizer steps of the group")
    final_loss: Sequence[float] = column(pa.float64(), "loss at the end of training")
    metric: Sequence[float] = column(pa.float64(), "the task's score on held-out trials")
    trained: Sequence[bool] = column(pa.bool_(), "reached the task's criterion")
    diverged: Sequence[bool] = column(pa.bool_(), "loss went non-finite or exploded")
    stopped_at: Sequence[int] = column(pa.int64(), "step training stopped at (early stop)")
    train_seconds: Sequence[float] = column(pa.float64(), "wall time of the whole group")


@table("losses", shard="group")
class LossRows(Rows):
    """The training loss curve of every network; one shard per group."""

    network: Sequence[str] = column(pa.string(), "network id")
    loss: Sequence[Sequence[float]] = column(pa.list_(pa.float32()), "loss per step")


@table("fixed_points", shard="group")
class FixedPointRows(Rows):
    """One row per fixed point of every network under every analysis input; one shard per group."""

    network: Sequence[str] = column(pa.string(), "network id")
    group: Sequence[str] = column(pa.string(), "group")
    input_index: Sequence[int] = column(pa.int64(), "which of the task's analysis inputs")
    input: Sequence[Sequence[float]] = column(pa.list_(pa.float64()), "the constant input [I]")
    state: Sequence[Sequence[float]] = column(pa.list_(pa.float64()), "the fixed point [S]")
    q: Sequence[float] = column(pa.float64(), "½‖F(x) − x‖²")
    status: Sequence[str] = column(pa.string(), "converged | slow | failed")
    n_unstable: Sequence[int] = column(pa.int64(), "unstable directions (index)")
    is_stable: Sequence[bool] = column(pa.bool_(), "stable (no unstable or marginal mode)")
    outside_reachable: Sequence[bool] = column(pa.bool_(), "outside the region the task's trials reach")
    eig_real: Sequence[Sequence[float]] = column(pa.list_(pa.float64()), "real parts of the eigenvalues [S]")
    eig_imag: Sequence[Sequence[float]] = column(pa.list_(pa.float64()), "imaginary parts of the eigenvalues [S]")


@table("skeletons", shard="group")
class SkeletonRows(Rows):
    """One row per network and analysis input: the dynamical skeleton in brief; one shard per group, written
    after its fixed points (its presence marks the group analysed)."""

    network: Sequence[str] = column(pa.string(), "network id")
    group: Sequence[str] = column(pa.string(), "group")
    input_index: Sequence[int] = column(pa.int64(), "which of the task's analysis inputs")
    n_stable: Sequence[int] = column(pa.int64(), "stable fixed points")
    n_saddles: Sequence[int] = column(pa.int64(), "fixed points with an unstable direction")
    index_counts: Sequence[str] = column(pa.string(), "JSON {index: count}")
    n_slow: Sequence[int] = column(pa.int64(), "slow points (minima of q above the tolerance)")
    n_outside: Sequence[int] = column(pa.int64(), "converged points outside the reachable region")
    n_cycles: Sequence[int] = column(pa.int64(), "departures that end on a cycle")
    wl_hash: Sequence[str] = column(pa.string(), "Weisfeiler–Lehman hash of the skeleton graph")
    signature: Sequence[str] = column(pa.string(), "JSON of dynamics.signature")


@table("energy", shard="group")
class EnergyRows(Rows):
    """What each network's activity costs on the task's analysis trials: one row per analysed network (networks
    skipped by the analysis have none); one shard per group, written by `analyze` before its skeletons."""

    network: Sequence[str] = column(pa.string(), "network id")
    group: Sequence[str] = column(pa.string(), "group")
    arch: Sequence[str] = column(pa.string(), "registered model name")
    spiking: Sequence[bool] = column(pa.bool_(), "event-driven (spiking) model: operations are spikes × fan-out")
    n_trials: Sequence[int] = column(pa.int64(), "analysis trials the counts are averaged over")
    operations_per_trial: Sequence[float] = column(
        pa.float64(), "synaptic operations per trial, mean over the trials (spiking: spikes × fan-out plus dense "
        "input MACs; rate: multiply-accumulates per step × steps)")
    operations_per_step: Sequence[float] = column(pa.float64(), "operations_per_trial / the trial's steps")
    mean_rate_hz: Sequence[float | None] = column(
        pa.float64(), "mean firing rate in Hz over neurons, steps and trials (null for rate models)")
    score: Sequence[float | None] = column(
        pa.float64(), "the task's score on held-out trials (the networks table's metric; null where not finite)")


@table("ablation", shard="group")
class AblationRows(Rows):
    """One row per arm and size of an ablation (`dynascope ablate`): how well the arm's networks do and what
    they cost; one shard per group, written by `ablate` once the group has trained."""

    group: Sequence[str] = column(pa.string(), "group")
    mechanism: Sequence[str] = column(pa.string(), "the mechanism ablated (registered name); for a 'without' arm shared by "
                                         "several mechanisms of one run, their names joined by '+' (none+hetero_tau)")
    arm: Sequence[str] = column(pa.string(), "'with' or 'without' the mechanism")
    arch: Sequence[str] = column(pa.string(), "registered model name of the arm")
    model_options: Sequence[str] = column(pa.string(), "JSON of the arm's model options")
    n_hidden: Sequence[int] = column(pa.int64(), "hidden units")
    n_networks: Sequence[int] = column(pa.int64(), "networks (seeds) in the group")
    n_scored: Sequence[int] = column(pa.int64(), "networks with a finite score")
    score_mean: Sequence[float | None] = column(pa.float64(), "mean task score over the seeds")
    score_low: Sequence[float | None] = column(pa.float64(), "lower end of its 95 % bootstrap interval over seeds")
    score_high: Sequence[float | None] = column(pa.float64(), "upper end of its 95 % bootstrap interval over seeds")
    operations_per_trial: Sequence[float | None] = column(
        pa.float64(), "synaptic operations per trial, mean over the networks (the energy table's count)")
    mean_rate_hz: Sequence[float | None] = column(pa.float64(), "mean firing rate in Hz (null for rate models)")


@table("specialization", shard="group")
class SpecializationRows(Rows):
    """The three measures of functional specialization (`compare.specialization`) of every network of a
    modularity sweep (`dynascope specialize`), at each parameter snapshot and at the end: one row per network,
    step, measure, module and sub-task; one shard per group, written once the group has trained."""

    network: Sequence[str] = column(pa.string(), "network id")
    group: Sequence[str] = column(pa.string(), "group")
    arch: Sequence[str] = column(pa.string(), "registered model name")
    n_hidden: Sequence[int] = column(pa.int64(), "hidden units")
    inter_fraction: Sequence[float] = column(pa.float64(), "fraction of the between-module connections that exist")
    modularity: Sequence[float] = column(pa.float64(), "Newman's Q of the network's recurrent mask (structural modularity)")
    step: Sequence[int] = column(pa.int64(), "training step of the parameters measured (the last is the trained network)")
    measure: Sequence[str] = column(pa.string(), "'decodability', 'lesion' or 'correlation'; 'skipped' (module -1, "
                                    "no sub-task, no score) where the network could not be measured at that step")
    module: Sequence[int] = column(pa.int64(), "module (0: A, 1: B)")
    subtask: Sequence[str] = column(pa.string(), "sub-task name (the task's subtask_names)")
    score: Sequence[float | None] = column(pa.float64(), "how much the module serves the sub-task by the measure, in [0, 1]")


@table("distances", shard="metric")
class DistanceRows(Rows):
    """Pairwise distances between networks, upper triangle only (a < b); one shard per metric."""

    metric: Sequence[str] = column(pa.string(), "metric name")
    a: Sequence[str] = column(pa.string(), "network id")
    b: Sequence[str] = column(pa.string(), "network id")
    distance: Sequence[float | None] = column(pa.float64(), "distance (null where not finite)")


@table("embedding", shard="metric")
class EmbeddingRows(Rows):
    """A 2-D embedding (MDS) of each metric's distance matrix, with a cluster label; one shard per metric."""

    metric: Sequence[str] = column(pa.string(), "metric name")
    network: Sequence[str] = column(pa.string(), "network id")
    x: Sequence[float] = column(pa.float64(), "first MDS coordinate")
    y: Sequence[float] = column(pa.float64(), "second MDS coordinate")
    cluster: Sequence[int] = column(pa.int64(), "cluster label")


@table("summary", shard="metric")
class SummaryRows(Rows):
    """The universality summary: one number per (metric, quantity, architecture or 'all'); one shard per metric,
    written last (its presence marks the metric done)."""

    metric: Sequence[str] = column(pa.string(), "metric name")
    quantity: Sequence[str] = column(pa.string(), "what the value measures")
    arch: Sequence[str] = column(pa.string(), "architecture, or 'all'")
    value: Sequence[float] = column(pa.float64(), "the value")


@table("scores", shard="benchmark")
class ScoreRows(Rows):
    """The leaderboard of `dynascope score`: each network's score against a benchmark recording under each metric,
    divided by the recording's own noise ceiling, and each group's mean over its networks; one shard per
    benchmark."""

    benchmark: Sequence[str] = column(pa.string(), "benchmark name")
    version: Sequence[str] = column(pa.string(), "benchmark version")
    metric: Sequence[str] = column(pa.string(), "metric name")
    level: Sequence[str] = column(pa.string(), "'network' (one network) or 'group' (mean over a group's networks)")
    network: Sequence[str] = column(pa.string(), "network id, or the group for a group row")
    group: Sequence[str] = column(pa.string(), "group")
    arch: Sequence[str] = column(pa.string(), "registered model name")
    raw: Sequence[float | None] = column(pa.float64(), "similarity to the recording (1 − distance; cos for angles)")
    ceiling: Sequence[float | None] = column(pa.float64(), "what a noise-free model reaches: sqrt of the Spearman-Brown corrected "
                                                        "split-half similarity (fit metrics: their own)")
    normalised: Sequence[float | None] = column(pa.float64(), "raw / ceiling")
    low: Sequence[float | None] = column(pa.float64(), "lower end of the interval of normalised (trials; groups: seeds)")
    high: Sequence[float | None] = column(pa.float64(), "upper end of that interval")
    rank: Sequence[int] = column(pa.int64(), "rank by normalised within the metric and level (1 = best)")


@table("score_agreement", shard="benchmark")
class ScoreAgreementRows(Rows):
    """Whether two metrics rank the networks of a benchmark alike: Kendall's tau between their rankings; one
    shard per benchmark, written after its scores (its presence marks the benchmark done)."""

    benchmark: Sequence[str] = column(pa.string(), "benchmark name")
    metric_a: Sequence[str] = column(pa.string(), "metric name")
    metric_b: Sequence[str] = column(pa.string(), "metric name")
    kendall_tau: Sequence[float | None] = column(pa.float64(), "Kendall's tau-b between the two rankings of networks")
    p_value: Sequence[float | None] = column(pa.float64(), "two-sided p-value of tau = 0 (SciPy's kendalltau)")
    disagree: Sequence[bool] = column(pa.bool_(), "the rankings disagree: tau below 0.5 or not significant at 0.05")


@table("training_skeletons", shard="group")
class TrainingSkeletonRows(Rows):
    """The skeleton of every network at each parameter snapshot kept during training (`analyze --over-training`):
    one row per network, snapshot step and analysis input; one shard per group."""

    network: Sequence[str] = column(pa.string(), "network id")
    group: Sequence[str] = column(pa.string(), "group")
    step: Sequence[int] = column(pa.int64(), "training step of the snapshot (0: the initial weights)")
    input_index: Sequence[int] = column(pa.int64(), "which of the task's analysis inputs")
    n_stable: Sequence[int] = column(pa.int64(), "stable fixed points")
    n_saddles: Sequence[int] = column(pa.int64(), "fixed points with an unstable direction")
    index_counts: Sequence[str] = column(pa.string(), "JSON {index: count}")
    n_slow: Sequence[int] = column(pa.int64(), "slow points (minima of q above the tolerance)")
    wl_hash: Sequence[str] = column(pa.string(), "Weisfeiler–Lehman hash of the skeleton graph")


@table("fit_scores", shard="group")
class FitScoreRows(Rows):
    """How well each network fitted to a recording (the `recording` task) reproduces what it did not see, in the
    metrics of the Computation-through-Dynamics Benchmark (`dynascope score RUN` on a fitted run); one shard per
    group."""

    network: Sequence[str] = column(pa.string(), "network id")
    group: Sequence[str] = column(pa.string(), "group")
    arch: Sequence[str] = column(pa.string(), "registered model name")
    co_bps: Sequence[float | None] = column(pa.float64(), "co-smoothing bits per spike: held-out neurons on held-out trials")
    co_bps_true: Sequence[float | None] = column(pa.float64(), "the same for the rates that generated the spikes "
                                                              "(ground truth only)")
    rate_r2: Sequence[float | None] = column(pa.float64(), "R² of predicted rates against the true rates, held-out "
                                                          "trials (ground truth only)")
    latent_r2: Sequence[float | None] = column(pa.float64(), "R² of the true latents decoded linearly from the states, "
                                                            "held-out trials (ground truth only)")
    n_stable: Sequence[int | None] = column(pa.int64(), "stable fixed points under zero input in the visited region")
    n_stable_true: Sequence[int | None] = column(pa.int64(), "the ground truth's stable points (ground truth only)")
    skeleton_match: Sequence[bool | None] = column(pa.bool_(), "n_stable equals n_stable_true (ground truth only)")
    train_metric: Sequence[float | None] = column(pa.float64(), "deviance explained on the training trials")
    index_counts: Sequence[str | None] = column(pa.string(), "JSON {index: count} of its fixed points under zero "
                                                            "input in the visited region")
    index_counts_true: Sequence[str | None] = column(pa.string(), "JSON {index: count} of the ground truth's fixed "
                                                                 "points (ground truth only)")
    skeleton_distance: Sequence[float | None] = column(pa.float64(), "Σ_index |Δcount| / total between the two, in "
                                                                    "[0, 1] (0: the same census; ground truth only)")
