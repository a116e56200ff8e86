"""Score every network of a run against a benchmark recording: several metrics at once, each divided by the
recording's own noise ceiling, with bootstrap intervals, written to the catalog as a leaderboard.

How conditions are matched: a network is run on the input the recording stores for each of its trials (the
benchmark's `inputs` TimeSeries, one network step per recorded bin), and its activity is averaged over the trials
of each condition exactly as the spikes are — so both sides are `[conditions, T, units]` over the same
conditions, in the same order, by construction. A recording without inputs, or whose inputs do not have the
task's input channels, cannot be matched and is refused with a DataError naming `inputs`.

How a score is made: a metric's distance d becomes a similarity (cos d for an angle, units 'rad'; 1 − d for the
unitless distances, which are 1 − a similarity: CCA, CKA, RSA). The ceiling comes from the same similarity
between two random halves of each condition's trials: Spearman-Brown corrected to the whole recording (Spearman
1910; Brown 1910), then its square root, since the similarity of a model to data is a correlation and the halves'
is a reliability (`correlation_ceiling`); normalised = raw / ceiling. Its interval over trials pairs each bootstrap resample of the trials (within
each condition) with one random split; a group's interval is a bootstrap over its networks (seeds). The recording
is projected on the first k principal axes of its condition averages first (`Benchmark.n_components`; by
default as many as are reliable across split halves) and each network on its own first k, so that both are
compared at the resolution the recording supports and the dimensions only spiking noise fills do not count.
Brain-Score (Schrimpf et al. 2018) is the model.

The fit metrics (`fit_r2`, `fit_bps`; `benchmarks.FIT_METRICS`) are no similarity between two trajectories: a
readout of each network's k principal axes is fitted on half of each condition's trials and scored on the other
half, against a ceiling made from the recording alone; they are computed in `pipeline.readout` (see there for
the split, the ceilings and their intervals) and land in the same rows, ranks and agreement.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from dynascope.compare import TRAJECTORIES, Metric, get_metric
from dynascope.compare.pairwise import distances_to, stack_padded
from dynascope.data.ceiling import NoiseCeiling, spearman_brown, split_half_ceiling
from dynascope.data.trials import TrialRecording, read_trials
from dynascope.errors import ConfigError, DataError
from dynascope.pipeline.benchmarks import FIT_METRICS, Benchmark
from dynascope.pipeline.populations import load_group
from dynascope.pipeline.readout import FIT_ALPHA, score_fit_metric
from dynascope.pipeline.study import unusable
from dynascope.store import NetworkRows, RunFolder
from dynascope.store.schema import ScoreAgreementRows, ScoreRows

#: Kendall's tau below which two metrics' rankings are said to disagree.
DISAGREE_BELOW = 0.5

#: progress(metric, done, total) before and after each metric.
ScoreProgress = Callable[[str, int, int], None]


@dataclasses.dataclass(frozen=True)
class ScoreOptions:
    """n_bootstrap: resamples of the trials (each paired with one random split for the ceiling; for the fit metrics
    a fresh split with each half resampled, `pipeline.readout`). n_seed_bootstrap:
    resamples of a group's networks. confidence: of the intervals. trained_only: leave out networks below the
    task criterion. chunk: networks compared together on the device. seed: of every random draw."""

    n_bootstrap: int = 50
    n_seed_bootstrap: int = 1000
    confidence: float = 0.95
    trained_only: bool = True
    chunk: int = 64
    seed: int = 0

    def validate(self) -> None:
        for name in ("n_bootstrap", "n_seed_bootstrap", "chunk"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}.")
        if not (isinstance(self.confidence, float) and 0 < self.confidence < 1):
            raise ConfigError(f"confidence must be a number in (0, 1), got {self.confidence!r}; e.g. 0.95.")


@dataclasses.dataclass(frozen=True)
class Leaderboard:
    """What `score` wrote for `benchmark`: `scores` (per network and per group, every metric), `agreement`
    (Kendall's tau between every two metrics' rankings of the networks), the recording's pooled
    `reliability` (`split_half_ceiling`), the `conditions` scored, the networks left out with the reason
    (`skipped_networks`), and per trajectory metric the similarity of the two halves of each split
    (`split_similarity [n_bootstrap]`, before the Spearman-Brown correction; the fit metrics have none)."""

    benchmark: Benchmark
    scores: ScoreRows
    agreement: ScoreAgreementRows
    reliability: NoiseCeiling
    conditions: tuple[str, ...]
    skipped_networks: dict[str, str]
    split_similarity: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def statements(self) -> list[str]:
        """Plain sentences: which metrics rank the networks alike and which do not, naming each one's best."""
        return agreement_statements(self.scores, self.agreement)


def agreement_statements(scores: ScoreRows, agreement: ScoreAgreementRows) -> list[str]:
    """One sentence per pair of metrics: they agree or disagree on the ranking (Kendall's tau), and where they
    disagree, the network each ranks first."""
    best = {m: net for m, level, net, rank in zip(scores.metric, scores.level, scores.network, scores.rank)
            if level == "network" and rank == 1}
    out = []
    for a, b, tau, bad in zip(agreement.metric_a, agreement.metric_b, agreement.kendall_tau, agreement.disagree):
        t = "undefined" if tau is None else f"{tau:.2f}"
        if tau is None:  # one network, or a metric that scores every network alike: there is no ranking
            out.append(f"{a} and {b}: no ranking to compare (fewer than 2 networks scored, or one metric gives "
                       "every network the same score).")
        elif bad:
            out.append(f"{a} and {b} disagree on the ranking (Kendall tau {t}): {a} ranks {best.get(a)} first, "
                       f"{b} ranks {best.get(b)} first.")
        else:
            out.append(f"{a} and {b} agree on the ranking (Kendall tau {t}).")
    return out


def correlation_ceiling(split: np.ndarray | float) -> np.ndarray:
    """The similarity a perfect model reaches against the whole recording, from the similarity `split` of its two
    halves: sqrt(Spearman-Brown(split)), 0 where the halves do not agree (split ≤ 0).

    Every trajectory metric's similarity is a normalised inner product — a correlation — between two sets of
    trajectories. Two halves of a recording are two noisy copies of the signal: their correlation r is the
    reliability of a half, a squared correlation (signal variance / total). Spearman-Brown gives the whole
    recording's reliability, and a noise-free model correlates with the recording as the signal does, by the
    square root of that reliability (the classical attenuation bound; Spearman 1904). Without the root, a
    perfect model scored above 1 wherever the recording is noisy (RESULTS §14b).

    Args:
        split: similarity of the two halves, a number or an array.

    Returns:
        The ceiling, an array of `split`'s shape.
    """
    return np.sqrt(np.clip(spearman_brown(np.asarray(split, np.float64)), 0.0, None))


def similarity(metric: Metric, distance: np.ndarray) -> np.ndarray:
    """A metric's distance as a similarity: cos d for an angle (units 'rad'), else 1 − d."""
    d = np.asarray(distance, np.float64)
    return np.cos(d) if metric.units == "rad" else 1.0 - d


def _conditions(rec: TrialRecording, column: str) -> tuple[tuple[str, ...], np.ndarray]:
    """The conditions with at least two trials (a ceiling needs a split), and the trials that belong to them."""
    names, counts = np.unique(rec.labels, return_counts=True)
    keep = names[counts >= 2]
    if len(keep) < 2:
        raise DataError(f"{rec.source}: trials column {column!r} has {len(keep)} condition(s) with two or more "
                        "trials; scoring needs at least 2 conditions, each repeated, for a noise ceiling.")
    return tuple(str(c) for c in keep), np.isin(rec.labels, keep)


def _averaging(labels: np.ndarray, conditions: tuple[str, ...], rows: np.ndarray) -> np.ndarray:
    """`[C, len(rows)]` weights that average the trials `rows` per condition."""
    w = (labels[rows][None, :] == np.asarray(conditions)[:, None]).astype(np.float64)
    return w / np.maximum(w.sum(axis=1, keepdims=True), 1)


def _projection(mean_trials: np.ndarray, halves: list[tuple[np.ndarray, np.ndarray]], n_components: int | None,
                ) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """x `[C, T, N]` -> `[C, T, k]` on the first k principal axes of the condition averages `mean_trials`.

    k = `n_components`, or where None the leading axes that are reliable: fitting the principal axes to one half of
    the trials, those on which the other half correlates with it above 0.5 (mean over the splits; at least one
    axis) — a cross-validated dimensionality (axes fitted to both halves would align with their shared noise).
    Every half is then projected on the whole recording's axes, which share a little of its noise: if anything
    that raises the ceiling, so the normalised scores err low.
    """
    flat = mean_trials.reshape(-1, mean_trials.shape[-1])
    centre = flat.mean(axis=0)
    _, _, vt = np.linalg.svd(flat - centre, full_matrices=False)
    axes = vt.T  # [N, rank]
    if n_components is None:
        r = np.mean([_held_out_r(a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])) for a, b in halves], axis=0)
        reliable = np.nan_to_num(r) > 0.5
        n_components = max(1, int(np.argmin(reliable)) if not reliable.all() else len(reliable))
    axes = axes[:, : min(n_components, axes.shape[1])]
    return (lambda x: (x - centre) @ axes), axes.shape[1]


def _principal(x: np.ndarray, k: int) -> np.ndarray:
    """A network's activity `[C, T, H]` on its own first k principal axes `[C, T, min(k, H)]`."""
    flat = x.reshape(-1, x.shape[-1])
    flat = flat - flat.mean(axis=0)
    _, _, vt = np.linalg.svd(flat, full_matrices=False)
    return (flat @ vt[:k].T).reshape(*x.shape[:-1], -1)


def _held_out_r(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation `[rank]` between `a [S, N]` and `b` on each principal axis fitted to `a` alone."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    # The principal axes are the eigenvectors of aᵀa [N, N], largest first: the same axes (up to sign, which
    # a correlation does not see) as the SVD of a [S, N], without computing its [S, rank] left factor — the
    # SVD was most of the scoring time of a large population (RESULTS §10).
    w, v = np.linalg.eigh(a.T @ a)
    axes = v[:, np.argsort(w)[::-1][: min(a.shape)]]
    pa, pb = a @ axes, b @ axes
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pa * pb).sum(0) / np.sqrt((pa * pa).sum(0) * (pb * pb).sum(0))


def _network_activity(run: RunFolder, rec: TrialRecording, rows: np.ndarray, weights: np.ndarray,
                      trained_only: bool) -> tuple[list[tuple[str, str, str]], list[np.ndarray], dict[str, str]]:
    """Condition-averaged activity `[C, T, units]` of every network run on the recorded trials' inputs."""
    every = run.read(NetworkRows, order_by=("network",))
    nets = every.where(every.trained) if trained_only else every
    if rec.inputs is None:
        raise DataError(f"{rec.source} stores no inputs; the networks must be run on each recorded trial's input "
                        "to match its conditions. Name the input TimeSeries with Benchmark(inputs=...).")
    inputs = rec.inputs[rows]
    unique, index = np.unique(inputs.reshape(len(inputs), -1), axis=0, return_inverse=True)
    unique = unique.reshape(-1, *inputs.shape[1:])
    # Each condition's average over its trials, through the distinct inputs only: [C, U].
    per_input = weights @ np.eye(len(unique))[index.reshape(-1)]
    ids, states, skipped = [], [], {}
    by_group: dict[str, list[tuple[str, str, int, bool]]] = {}
    for n, g, a, i, d in zip(nets.network, nets.group, nets.arch, nets.index, nets.diverged):
        by_group.setdefault(g, []).append((n, a, i, d))
    for group, members in by_group.items():
        g = load_group(run, group)
        if unique.shape[-1] != g.model.n_inputs:
            raise DataError(f"{rec.source}: inputs have {unique.shape[-1]} channels but group {group!r} (task "
                            f"{g.task.name!r}) takes {g.model.n_inputs}; the recording's conditions do not match "
                            "the task. Score it against networks trained on the task that drove it.")
        idx = np.array([i for *_, i, _ in members])
        params = jax.tree_util.tree_map(lambda p: p[idx], g.params)
        run_all = jax.jit(jax.vmap(g.model.run, in_axes=(0, None)))
        act = np.asarray(g.model.activity(run_all(params, jax.numpy.asarray(unique, jax.numpy.float32))[0]),
                         np.float64)
        for (net, arch, _, diverged), x in zip(members, act):
            why = "diverged in training (flagged in the catalog)" if diverged else unusable(x)
            if why is not None:
                skipped[net] = why
                continue
            ids.append((net, group, arch))
            states.append(np.einsum("cu,u...->c...", per_input, x))
    untrained = len(every) - len(nets)
    if trained_only:
        skipped.update({n: "did not reach the task's criterion (--all includes it)"
                        for n, t in zip(every.network, every.trained) if not t})
    if not ids:
        raise ConfigError(f"no network of the run can be scored: {untrained} did not reach the task's criterion, "
                          f"{len(skipped) - untrained} could not be run (diverged or not finite)"
                          + ("; include untrained ones with --all (in Python, ScoreOptions(trained_only=False))."
                             if trained_only and untrained else "."))
    return ids, states, skipped


def _comparer(metric: Metric, chunk: int, min_units: int) -> Callable[[np.ndarray, list[np.ndarray]], np.ndarray]:
    """A function `(reference, items) -> [n]` of `metric(reference, item)`: one compiled program for a JAX metric
    (its distance and prepare functions made once here, so every call reuses the compilation), else a loop."""
    prepare, distance = _bound(metric, min_units)

    def compare(reference: np.ndarray, items: list[np.ndarray]) -> np.ndarray:
        if metric.jit:
            return np.asarray(distances_to(distance, reference, items, chunk=chunk, prepare=prepare), np.float64)
        padded = list(np.asarray(stack_padded([reference, *items])))
        prepped = [prepare(x) for x in padded] if prepare is not None else padded
        return np.array([float(distance(prepped[0], p)) for p in prepped[1:]])

    return compare


#: (metric, its options, min_units) -> (prepare, distance), so that scoring again (another benchmark, the same
#: run) hands the compiled pairwise program the same function objects and reuses its compilation.
_BOUND: dict[tuple[Any, ...], tuple[Any, Any]] = {}


def _bound(metric: Metric, min_units: int) -> tuple[Any, Any]:
    try:
        key = (metric, tuple(sorted(metric.options.items())), min_units)
        hash(key)
    except TypeError:  # an option value that cannot be hashed: bind afresh
        return metric.prepare_fn(min_units=min_units), metric.distance_fn()
    if key not in _BOUND:
        _BOUND[key] = (metric.prepare_fn(min_units=min_units), metric.distance_fn())
    return _BOUND[key]


def _interval(values: np.ndarray, confidence: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    tails = 100 * np.array([(1 - confidence) / 2, (1 + confidence) / 2])
    low, high = np.nanpercentile(values, tails, axis=axis)
    return low, high


def _ranks(values: list[float]) -> list[int]:
    order = np.argsort(-np.nan_to_num(np.asarray(values, np.float64), nan=-np.inf), kind="stable")
    ranks = np.empty(len(values), np.int64)
    ranks[order] = np.arange(1, len(values) + 1)
    return ranks.tolist()


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def score(
    run: RunFolder,
    benchmark: Benchmark,
    options: ScoreOptions = ScoreOptions(),
    *,
    progress: ScoreProgress | None = None,
) -> Leaderboard:
    """Score every network of `run` against `benchmark` under each of its metrics and write the leaderboard.

    The tables `scores`, then `score_agreement` are each written as one shard named 'name@version',
    atomically: an interrupted score leaves the run as it was. See the module docstring for how conditions
    are matched and scores made.

    Args:
        run: the run folder.
        benchmark: the `Benchmark` (recording, conditions, metrics, components).
        options: the scoring settings (`ScoreOptions`: bootstrap resamples, confidence, trained networks
            only, chunk, seed).
        progress: called as `progress(metric, done, total)` before and after each metric, or None.

    Returns:
        `Leaderboard` (what was written).

    Raises:
        ConfigError: an invalid benchmark or options, or a metric needing more conditions than the
        recording has; DataError: a recording that cannot be read.
    """
    benchmark.validate()
    options.validate()
    metrics = {m: get_metric(m, **benchmark.metric_options.get(m, {})) for m in benchmark.metrics
               if m not in FIT_METRICS}
    rec = read_trials(benchmark.recording, condition_column=benchmark.condition_column, inputs=benchmark.inputs,
                      bin_width=benchmark.bin_width, n_bins=benchmark.n_bins)
    conditions, kept = _conditions(rec, benchmark.condition_column)
    for m in metrics.values():
        if len(conditions) < m.min_trials:
            raise ConfigError(f"benchmark metrics: {m.name} needs at least {m.min_trials} conditions; the recording "
                              f"has {len(conditions)} ({', '.join(conditions)}). Drop {m.name}.")
    rows = np.flatnonzero(kept)
    labels, counts = rec.labels, rec.counts
    full = _averaging(labels, conditions, rows)
    ids, states, skipped = _network_activity(run, rec, rows, full, options.trained_only)
    reliability = split_half_ceiling(counts[rows], labels[rows], key=jax.random.key(options.seed))

    def average(weights: np.ndarray, trial_rows: np.ndarray) -> np.ndarray:
        return np.einsum("ck,k...->c...", weights, counts[trial_rows])

    rng = np.random.default_rng(options.seed)
    by_condition = [rows[labels[rows] == c] for c in conditions]
    halves, resamples = [], []
    for _ in range(options.n_bootstrap):
        # One random split of every condition's trials into halves of floor(n_c / 2) (as split_half_ceiling) ...
        shuffled = [rng.permutation(r) for r in by_condition]
        a = np.concatenate([s[: len(s) // 2] for s in shuffled])
        b = np.concatenate([s[len(s) // 2 : 2 * (len(s) // 2)] for s in shuffled])
        halves.append((average(_averaging(labels, conditions, a), a), average(_averaging(labels, conditions, b), b)))
        # ... and one resample of them with replacement, within each condition.
        boot = np.concatenate([rng.choice(r, size=len(r)) for r in by_condition])
        resamples.append(average(_averaging(labels, conditions, boot), boot))
    project, k = _projection(average(full, rows), halves, benchmark.n_components)
    # Both sides at the resolution the recording supports: each network on its own first k principal axes too.
    states = [_principal(x, k) for x in states]
    if len({s.shape for s in states}) == 1:
        # One array, not a list: each metric call (one per bootstrap resample) would otherwise convert and pad
        # every network again, one at a time (a fifth of the metric time of 1000 networks, RESULTS §10).
        states = np.stack(states)
    reference = project(average(full, rows))
    halves = [(project(a), project(b)) for a, b in halves]
    resamples = [project(r) for r in resamples]
    min_units = min([reference.shape[-1], *(s.shape[-1] for s in states)])
    networks, groups, archs = zip(*ids)
    out: dict[str, list[Any]] = {f.name: [] for f in dataclasses.fields(ScoreRows)}
    normalised_by_metric: dict[str, np.ndarray] = {}
    splits: dict[str, np.ndarray] = {}
    for name in benchmark.metrics:
        total = options.n_bootstrap + 1
        if progress is not None:
            progress(name, 0, total)
        if name in FIT_METRICS:
            fit = score_fit_metric(name, _padded(states, k), counts, labels, conditions, rows, project,
                            n_bootstrap=options.n_bootstrap, seed=options.seed,
                            alpha=float(benchmark.metric_options.get(name, {}).get("alpha", FIT_ALPHA)),
                            chunk=options.chunk,
                            progress=None if progress is None else lambda done, n=name: progress(n, done, total))
            raw, ceiling, boot = fit.raw, fit.ceiling, fit.replicates
            # A recording without a reliable signal has no ceiling to divide by (R² ceiling ≤ 0, or no bits).
            normalised = raw / ceiling if ceiling > 0 else np.full(len(raw), np.nan)
        else:
            metric = metrics[name]
            if metric.takes != TRAJECTORIES:  # validate() refused these; a user-registered kind would land here
                raise ConfigError(f"benchmark metrics: {metric.name!r} does not compare trajectories.")
            compare = _comparer(metric, options.chunk, min_units)
            raw = similarity(metric, compare(reference, states))
            split = np.array([similarity(metric, compare(a, [b]))[0] for a, b in halves])
            splits[name] = split
            ceiling = float(correlation_ceiling(split.mean()))
            per_split = correlation_ceiling(split)
            with np.errstate(divide="ignore", invalid="ignore"):
                boot = np.stack([similarity(metric, compare(r, states)) / c
                                 for r, c in zip(resamples, per_split)])  # [bootstrap, networks]
                normalised = raw / ceiling if ceiling > 0 else np.full(len(raw), np.nan)
        # The bootstrap gives the spread, centred on the estimate: averages of resampled trials (with repeats) are
        # noisier than the recording's own, which lowers every resampled similarity alike.
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)  # no ceiling: NaN, written as null
            low, high = _interval(boot - np.nanmedian(boot, axis=0) + normalised, options.confidence)
        normalised_by_metric[name] = normalised
        rank = _ranks(list(normalised))
        for i, net in enumerate(networks):
            _add(out, benchmark, name, "network", net, groups[i], archs[i], raw[i], ceiling, normalised[i],
                 low[i], high[i], rank[i])
        group_rows = []
        for g in dict.fromkeys(groups):
            members = np.array([j for j, x in enumerate(groups) if x == g])
            draws = rng.choice(members, size=(options.n_seed_bootstrap, len(members)))
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
                g_low, g_high = _interval(normalised[draws].mean(axis=1), options.confidence)
            group_rows.append((g, archs[members[0]], raw[members].mean(), normalised[members].mean(), g_low, g_high))
        g_rank = _ranks([r[3] for r in group_rows])
        for (g, arch, r, n, lo, hi), gk in zip(group_rows, g_rank):
            _add(out, benchmark, name, "group", g, g, arch, r, ceiling, n, lo, hi, gk)
        if progress is not None:
            progress(name, total, total)
    scores = ScoreRows(**out)
    agreement = _agreement(benchmark, normalised_by_metric)
    shard = f"{benchmark.name}@{benchmark.version}"
    run.write(shard, scores)
    run.write(shard, agreement)  # last: its presence marks the benchmark scored
    return Leaderboard(benchmark, scores, agreement, reliability, conditions, skipped, splits)


def _padded(states: np.ndarray | list[np.ndarray], k: int) -> np.ndarray:
    """The networks' activity on their principal axes as one array `[n, C, T, k]`: a network with fewer than k
    units gets columns of zeros, which a fit metric's readout gives no weight."""
    if isinstance(states, np.ndarray):
        return states
    return np.stack([np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, k - x.shape[-1])]) for x in states])


def _add(out: dict[str, list[Any]], benchmark: Benchmark, metric: str, level: str, network: str, group: str,
         arch: str, raw: float, ceiling: float, normalised: float, low: float, high: float, rank: int) -> None:
    values = dict(benchmark=benchmark.name, version=benchmark.version, metric=metric, level=level, network=network,
                  group=group, arch=arch, raw=_finite(raw), ceiling=_finite(ceiling), normalised=_finite(normalised),
                  low=_finite(low), high=_finite(high), rank=int(rank))
    for k, v in values.items():
        out[k].append(v)


def _agreement(benchmark: Benchmark, normalised: dict[str, np.ndarray]) -> ScoreAgreementRows:
    """Kendall's tau-b between every two metrics' scores of the networks (SciPy); undefined below 2 networks."""
    from scipy.stats import kendalltau  # only here: importing scipy.stats costs a second

    cols: dict[str, list[Any]] = {f.name: [] for f in dataclasses.fields(ScoreAgreementRows)}
    for a, b in itertools.combinations(normalised, 2):
        x, y = normalised[a], normalised[b]
        if len(x) >= 2 and np.ptp(x) > 0 and np.ptp(y) > 0:
            res = kendalltau(x, y)
            tau, p = float(res.statistic), float(res.pvalue)
        else:
            tau = p = float("nan")
        for k, v in (("benchmark", benchmark.name), ("metric_a", a), ("metric_b", b), ("kendall_tau", _finite(tau)),
                     ("p_value", _finite(p)), ("disagree", not (tau >= DISAGREE_BELOW))):
            cols[k].append(v)
    return ScoreAgreementRows(**cols)
