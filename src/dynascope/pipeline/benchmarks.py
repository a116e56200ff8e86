"""Benchmarks: a recording, the metrics it is scored with and how its noise ceiling is measured, as one
versioned, declarative entry that `score` reads.

A benchmark changes only by a new version: a leaderboard row names the benchmark and the version it was scored
against, so numbers from different versions are never mixed. Users register their own NWB files:

    register_benchmark(Benchmark("my-lab-m1", "1", "data/m1.nwb", metrics=("cca", "rsa"),
                                 bin_width=0.02, n_bins=50, inputs="stimulus"))

The idea of a neutral, many-measurement leaderboard is Brain-Score's (Schrimpf et al. 2018, bioRxiv 407007).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from dynascope._registry import Registry
from dynascope.compare import SIGNATURES, get_metric, metric_names
from dynascope.data.shipped import shipped_recording
from dynascope.errors import ConfigError, unknown_name

#: How a benchmark's ceiling is measured; the only one: split halves of each condition's trials, the halves
#: scored against each other under the same metric, Spearman-Brown corrected to the whole recording, and its square
#: root for the trajectory metrics (a model's similarity is a correlation; `score.correlation_ceiling`).
CEILINGS = ("split_half",)
#: Metrics that fit a readout of each network's activity to some trials of the recording and score it on the
#: others (`pipeline.readout`): held-out R² of a linear map to the recording's projected condition averages, and
#: held-out bits per spike of a Poisson readout of every recorded neuron. They are not distances between two
#: networks, so they are not in the compare registry; their one option is `alpha`, the readout's L2 penalty.
FIT_METRICS = ("fit_r2", "fit_bps")
#: The metrics a benchmark scores when none are named: geometry (CCA, shape, RSA) and fit (held-out R²), which
#: costs less than any geometry metric. DSA (dynamics) is one name away (`metrics=(..., "dsa")`, options in
#: `metric_options`) but not a default: it fits an operator and optimises an orthogonal map per network, and
#: the trial bootstrap repeats that `n_bootstrap` times, at many times the cost of the three geometry metrics
#: (measured in benchmarks/RESULTS.md §12). Neither is fit_bps, a Poisson regression per network and neuron
#: refitted for every bootstrap replicate (RESULTS.md §14).
DEFAULT_METRICS = ("cca", "shape", "rsa", "fit_r2")


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """A recording to score networks against.

    name, version: how the leaderboard names it. recording: path of the NWB file (units with spike times, a
    trials table). metrics: registered metric names (`dynascope.compare.metric_names()`) that compare
    trajectories (geometry: cca, shape, rsa, ...; dynamics: dsa), and the fit metrics `FIT_METRICS` (fit_r2,
    fit_bps: a readout fitted on half the trials, scored on the other half). ceiling: one of `CEILINGS`. condition_column: the trials column that labels conditions.
    inputs: the input TimeSeries that drove each trial ('name' in acquisition, 'module/name' in processing);
    networks are run on it, so it must have the task's input channels. bin_width (seconds) and n_bins (bins per
    trial from start_time): None reads them from a file that `dynascope data synth` wrote. n_components: the
    recording's condition averages (and every half and resample of them) are projected on their first
    n_components principal axes, so that the metrics compare the recorded signal, not the dimensions that only
    spiking noise fills (None: as many as are reliable across split halves; see `pipeline.score`), and each
    network on as many of its own. metric_options: {metric: {option: value}} (fit metrics: {'alpha': penalty}).
    """

    name: str
    version: str
    recording: str | os.PathLike[str]
    metrics: tuple[str, ...] = DEFAULT_METRICS
    ceiling: str = "split_half"
    condition_column: str = "condition"
    inputs: str | None = "ground_truth/inputs"
    bin_width: float | None = None
    n_bins: int | None = None
    n_components: int | None = None
    metric_options: dict[str, dict[str, object]] = dataclasses.field(
        default_factory=lambda: {"dsa": {"n_delays": 2, "rank": 4}})

    def validate(self) -> None:
        """Raise ConfigError (or UnknownNameError listing the metrics) naming the first bad field."""
        for field in ("name", "version"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value or "/" in value:
                raise ConfigError(f"benchmark {field} must be a non-empty string without '/', got {value!r}.")
        if not Path(self.recording).suffix.lower() == ".nwb":
            raise ConfigError(f"benchmark recording must be an .nwb file, got {str(self.recording)!r}.")
        if not self.metrics:
            raise ConfigError("benchmark metrics is empty; name at least one, e.g. ('cca', 'rsa').")
        for name in self.metrics:
            options = self.metric_options.get(name, {})
            if name in FIT_METRICS:
                _check_fit_options(name, options)
                continue
            if isinstance(name, str) and name not in metric_names():
                raise unknown_name("metric", name, [*metric_names(), *FIT_METRICS])
            metric = get_metric(name, **options)
            if metric.takes == SIGNATURES:
                raise ConfigError(f"benchmark metrics: {name!r} compares skeletons, which a recording does not "
                                  "have; choose metrics that compare trajectories (cca, shape, rsa, dsa) or fit "
                                  f"metrics ({', '.join(FIT_METRICS)}).")
        if self.ceiling not in CEILINGS:
            raise ConfigError(f"benchmark ceiling must be one of {', '.join(map(repr, CEILINGS))}, got {self.ceiling!r}.")
        if self.n_components is not None and (isinstance(self.n_components, bool)
                                              or not isinstance(self.n_components, int) or self.n_components < 1):
            raise ConfigError(f"benchmark n_components must be a positive integer or None, got {self.n_components!r}.")

    def with_metrics(self, metrics: tuple[str, ...]) -> Benchmark:
        """The same benchmark scored with `metrics` (the dynamics metrics keep their options)."""
        options = {m: o for m, o in self.metric_options.items() if m in metrics}
        return dataclasses.replace(self, metrics=tuple(metrics), metric_options=options)


def _check_fit_options(name: str, options: dict[str, object]) -> None:
    """A fit metric's options: only `alpha`, a number ≥ 0."""
    unknown = sorted(set(options) - {"alpha"})
    if unknown:
        raise ConfigError(f"benchmark metric_options[{name!r}]: unknown option(s) {', '.join(map(repr, unknown))}; "
                          "a fit metric takes only 'alpha' (the readout's L2 penalty, e.g. 1e-3).")
    alpha = options.get("alpha", 0.0)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha >= 0 or alpha == float("inf"):
        raise ConfigError(f"benchmark metric_options[{name!r}]['alpha'] must be a finite number ≥ 0, got {alpha!r}.")


_BENCHMARKS: Registry[Benchmark] = Registry("benchmark")


def register_benchmark(benchmark: Benchmark) -> Benchmark:
    """Register `benchmark` under its name (checked first); a name is registered once — a changed benchmark is
    a new name or version. Returns it."""
    if not isinstance(benchmark, Benchmark):
        raise ConfigError(f"register_benchmark takes a Benchmark, got {type(benchmark).__name__}.")
    benchmark.validate()
    _BENCHMARKS.add(f"{benchmark.name}@{benchmark.version}", benchmark)
    return benchmark


def get_benchmark(name: str) -> Benchmark:
    """The benchmark registered as 'name@version' (UnknownNameError listing the registered ones)."""
    return _BENCHMARKS.lookup(name)


def benchmark_names() -> list[str]:
    """'name@version' of every registered benchmark, in the order registered."""
    return _BENCHMARKS.names()


#: The benchmark of the recording that ships with the package (`data.shipped_recording('flipflop3')`, a 3-bit
#: flip-flop): networks trained on the `flipflop` task with n_bits=3 are run on its inputs. Its conditions are the
#: trials' end patterns, 8 of 24 trials each: its 64 'start>end' conditions have 3 trials each, too few for a
#: split-half ceiling (pooled reliability 0.07 against 0.29).
FLIPFLOP3 = register_benchmark(Benchmark("flipflop3", "1", shipped_recording("flipflop3"), condition_column="end_pattern"))
