"""The population study: every network of a run compared with every other by geometry, dynamics and
topology, embedded, clustered, and summarised as universality versus individuality.

`study(run)` reads the run folder's `networks` and `skeletons` tables and its weights, and writes its
results to the catalog (`distances`, `embedding`, `summary`), one shard per metric, the summary shard last,
so an interrupted study resumes at the first unfinished metric.

Reference: Maheswaranathan, Williams, Golub, Ganguli & Sussillo 2019, "Universality and individuality
in neural dynamics across large populations of recurrent networks" (NeurIPS).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

from dynascope.compare import (
    BETWEEN_WITHIN,
    CHANCE_ACCURACY,
    CLUSTER_AGREEMENT,
    DISTINCT_CLASSES,
    MEAN_BETWEEN,
    MEAN_WITHIN,
    MIN_UNITS,
    MODAL_SHARE,
    NN_ACCURACY,
    SIGNATURES,
    TRAJECTORIES,
    Metric,
    get_metric,
    metric_names,
)
from dynascope.compare import population as pop
from dynascope.compare.pairwise import pair_values, pairwise_distances, pairwise_distances_loop, stack_padded
from dynascope.errors import ConfigError
from dynascope.pipeline.populations import load_group
from dynascope.store import DistanceRows, EmbeddingRows, NetworkRows, RunFolder, SkeletonRows, SummaryRows

#: A network whose states on the study trials exceed this in absolute value has exploded: it is skipped.
MAX_ABS_STATE = 1e6

#: progress(metric, pairs_done, n_pairs) before and after each metric.
StudyProgress = Callable[[str, int, int], None]


@dataclasses.dataclass(frozen=True)
class StudyOptions:
    """What `study` compares and how.

    metrics: names of registered metrics (`dynascope.compare.metric_names()`), computed in the order given;
    None (default) is every metric registered when the study runs. metric_options: keyword options per
    metric, {name: {option: value}}, e.g. {"svcca": {"keep": 0.9}, "dsa": {"n_delays": 2, "rank": 4}}
    (each metric's options and defaults: `compare.get_metric(name).option_defaults()`). n_trials: task
    trials (the conditions) every network is run on — the same trials for all, drawn from `seed`.
    trained_only: leave out networks that did not reach the task criterion (a failed network is not a
    solution). max_dsa_networks: a metric registered `expensive` (DSA: an optimisation per pair) runs on at
    most this many networks, spread evenly over the architectures (the report says so). n_clusters:
    clusters per metric (default: one per architecture, at least 2). chunk: pairs evaluated together on
    the device (None: as many as the memory budget allows, see `compare.pairwise_distances`).
    """

    metrics: tuple[str, ...] | None = None
    metric_options: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    n_trials: int = 16
    trained_only: bool = True
    max_dsa_networks: int = 200
    n_clusters: int | None = None
    chunk: int | None = None
    seed: int = 0

    def selected(self) -> list[Metric]:
        """The registered metrics to compute, in order, with their `metric_options` bound."""
        names = metric_names() if self.metrics is None else list(self.metrics)
        return [get_metric(m, **self.metric_options.get(m, {})) for m in names]

    def validate(self) -> None:
        """Raise ConfigError or UnknownNameError (listing the registered metrics) naming the first bad option."""
        if self.metrics is not None and not self.metrics:
            raise ConfigError(f"metrics is empty; choose from {', '.join(metric_names())}.")
        for name in self.metric_options:
            get_metric(name)  # an unknown name lists the registered metrics
            if self.metrics is not None and name not in self.metrics:
                raise ConfigError(
                    f"metric_options has options for {name!r}, which is not among the metrics studied "
                    f"({', '.join(self.metrics)}); add it to metrics or drop its options."
                )
        chosen = self.selected()
        for name in ("n_trials", "max_dsa_networks", "chunk"):
            v = getattr(self, name)
            if name == "chunk" and v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}.")
        for m in chosen:
            if self.n_trials < m.min_trials:
                raise ConfigError(f"{m.name} needs n_trials >= {m.min_trials} conditions, got {self.n_trials}.")
        if self.n_clusters is not None and (isinstance(self.n_clusters, bool) or not isinstance(self.n_clusters, int)
                                            or self.n_clusters < 1):
            raise ConfigError(f"n_clusters must be a positive integer or None, got {self.n_clusters!r}.")


@dataclasses.dataclass(frozen=True)
class MetricResult:
    """One metric over the population: `networks [n]` compared, their `archs [n]`, `distances [n, n]`,
    the MDS `embedding [n, 2]`, `clusters [n]`, the summary rows {(quantity, arch): value} and, for
    topology, each network's `topology_class` (`classes [n]`; empty otherwise)."""

    metric: str
    networks: tuple[str, ...]
    archs: tuple[str, ...]
    distances: np.ndarray
    embedding: np.ndarray
    clusters: np.ndarray
    summary: dict[tuple[str, str], float]
    classes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Study:
    """Every metric's result (`results`, by metric name), the metrics skipped (`skipped`) with the reason
    (e.g. no skeletons yet), and the networks left out of every metric with the reason
    (`skipped_networks`: flagged diverged in the catalog, or states on the study trials that are not
    finite or beyond `MAX_ABS_STATE`)."""

    results: dict[str, MetricResult]
    skipped: dict[str, str]
    skipped_networks: dict[str, str] = dataclasses.field(default_factory=dict)


# -- the states every geometry and dynamics metric compares -----------------------------------------
def _network_table(run: RunFolder, trained_only: bool) -> tuple[list[tuple[str, str, str, int]], dict[str, str]]:
    """The networks to compare (network, arch, group, index) and those left out as diverged, with the reason."""
    nets = run.read(NetworkRows, where={"trained": True} if trained_only else None, order_by=("network",))
    rows = list(zip(nets.network, nets.arch, nets.group, nets.index, nets.diverged))
    keep = [(n, a, g, i) for n, a, g, i, d in rows if not d]
    skipped = {n: "diverged in training (flagged in the catalog)" for n, _, _, _, d in rows if d}
    return keep, skipped


def unusable(states: np.ndarray) -> str | None:
    """Why a network's states `[trials, time, units]` cannot be compared (not finite, or beyond
    `MAX_ABS_STATE`: the network exploded), or None if they can."""
    if not np.isfinite(states).all():
        return "its states on the study trials are not finite (NaN or ±inf)"
    peak = float(np.abs(states).max(initial=0.0))
    if peak > MAX_ABS_STATE:
        return f"its states on the study trials reach |x| = {peak:.3g}, beyond {MAX_ABS_STATE:g} (it exploded)"
    return None


def _require_two(n: int, trained_only: bool, skipped: dict[str, str]) -> None:
    if n >= 2:
        return
    which = "trained networks" if trained_only else "networks"
    left_out = f" after leaving out {len(skipped)} ({_listed(skipped)})" if skipped else ""
    raise ConfigError(
        f"the run has {n} {which}{left_out}; a population study needs at least 2"
        + (" (include untrained ones with --all; in Python, StudyOptions(trained_only=False))."
           if trained_only else ".")
    )


def _listed(skipped: dict[str, str], limit: int = 5) -> str:
    items = [f"{n}: {why}" for n, why in list(skipped.items())[:limit]]
    more = f"; and {len(skipped) - limit} more" if len(skipped) > limit else ""
    return "; ".join(items) + more


def trajectories(run: RunFolder, networks: list[tuple[str, str, str, int]], n_trials: int, seed: int) -> list[np.ndarray]:
    """Unit activity `[n_trials, time, units]` of each listed network on the same task trials."""
    by_group: dict[str, list[tuple[int, int]]] = {}
    for pos, (_, _, group, index) in enumerate(networks):
        by_group.setdefault(group, []).append((pos, index))
    out: list[np.ndarray | None] = [None] * len(networks)
    inputs = None
    for group, members in by_group.items():
        g = load_group(run, group)
        if inputs is None:
            inputs = g.task.sample(jax.random.key(seed), n_trials).inputs
        idx = np.array([i for _, i in members])
        params = jax.tree_util.tree_map(lambda a: a[idx], g.params)
        states, _ = jax.jit(jax.vmap(g.model.run, in_axes=(0, None)))(params, inputs)
        act = np.asarray(g.model.activity(states), dtype=np.float32)
        for (pos, _), a in zip(members, act):
            out[pos] = a
    return [a for a in out if a is not None]


def _distances(metric: Metric, items: list[Any], chunk: int | None) -> np.ndarray:
    """`[n, n]` distances of `metric` between the prepared `items`, every pair once: in one compiled program
    for a JAX metric, else in a loop on the host. Trajectories are zero-padded to the widest network."""
    population: dict[str, Any] = {}
    if metric.takes == TRAJECTORIES:
        # What a `prepare` may ask about the population: the smallest network's width (DSA caps its rank).
        population[MIN_UNITS] = min(int(x.shape[-1]) for x in items)
        items = stack_padded(items)  # one shape, so a host `prepare` compiles once
    prepare = metric.prepare_fn(**population)
    if metric.jit:
        return np.asarray(pairwise_distances(metric.distance_fn(), items, chunk=chunk, prepare=prepare))
    if prepare is not None:
        items = [prepare(x) for x in items]
    return pairwise_distances_loop(metric.distance_fn(), list(items))


def pair_distances(metric: Metric, items: list[Any], pairs: np.ndarray, chunk: int | None = None) -> np.ndarray:
    """`[m]` distances of `metric` for the pairs (i, j) in rows of `pairs [m, 2]` of the prepared `items`: a
    block of the matrix `study` computes (the Ray backend runs such blocks as tasks), prepared and padded as
    for the whole matrix, so its values equal that matrix's entries to float rounding."""
    population: dict[str, Any] = {}
    if metric.takes == TRAJECTORIES:
        population[MIN_UNITS] = min(int(x.shape[-1]) for x in items)
        items = stack_padded(items)
    prepare = metric.prepare_fn(**population)
    if metric.jit:
        return np.asarray(pair_values(metric.distance_fn(), items, pairs, chunk=chunk, prepare=prepare), np.float64)
    if prepare is not None:
        items = [prepare(x) for x in items]
    distance = metric.distance_fn()
    return np.array([float(distance(items[i], items[j])) for i, j in np.asarray(pairs).reshape(-1, 2)], np.float64)


#: distances(metric, items) -> [n, n]: how `study` computes one metric's matrix (the Ray backend passes its own).
Distances = Callable[[Metric, list[Any]], np.ndarray]


def _spread(archs: list[str], k: int) -> np.ndarray:
    """Indices of at most k networks, round-robin over architectures so each keeps its share."""
    if len(archs) <= k:
        return np.arange(len(archs))
    queues = {a: [i for i, b in enumerate(archs) if b == a] for a in dict.fromkeys(archs)}
    picked: list[int] = []
    while len(picked) < k:
        for q in queues.values():
            if q and len(picked) < k:
                picked.append(q.pop(0))
    return np.sort(np.array(picked))


# -- skeleton signatures straight from the catalog --------------------------------------------------
def _signatures(run: RunFolder, ids: list[str]) -> tuple[list[int], list[list[dict]]]:
    """Positions (in `ids`) of the networks that have skeletons, and their signatures per analysis input."""
    rows = run.read(SkeletonRows, order_by=("network", "input_index"))
    per: dict[str, list[dict]] = {}
    for net, sig in zip(rows.network, rows.signature):
        per.setdefault(net, []).append(json.loads(sig))
    have = [i for i, n in enumerate(ids) if n in per]
    return have, [per[ids[i]] for i in have]


# -- summary and catalog rows ---------------------------------------------------------------------
def summarise(D: np.ndarray, archs: list[str], clusters: np.ndarray, keys: list[str] | None = None) -> dict[tuple[str, str], float]:
    """The universality summary of one metric: {(quantity, arch or 'all'): value}."""
    per, within, between = pop.within_between(D, archs)
    out = {(NN_ACCURACY, "all"): pop.nearest_neighbour_accuracy(D, archs),
           (CHANCE_ACCURACY, "all"): pop.chance_accuracy(archs),
           (MEAN_WITHIN, "all"): within,
           (MEAN_BETWEEN, "all"): between,
           (BETWEEN_WITHIN, "all"): _ratio(between, within),
           (CLUSTER_AGREEMENT, "all"): pop.agreement(clusters, archs)}
    out.update({(MEAN_WITHIN, a): v for a, v in per.items()})
    if keys is not None:
        _, shares, share = pop.modal_share(keys, archs)
        out[(MODAL_SHARE, "all")] = share
        out.update({(MODAL_SHARE, a): v for a, v in shares.items()})
        out[(DISTINCT_CLASSES, "all")] = float(len(set(keys)))
    return out


def _ratio(between: float, within: float) -> float:
    """between / within; where every within-architecture distance is 0: 1 if the between ones are too
    (one solution for all, the metric separates nothing), inf if not (perfect separation)."""
    if within > 0:
        return between / within
    if within == 0 and np.isfinite(between):
        return 1.0 if between == 0 else float("inf")
    return float("nan")


def _write(run: RunFolder, r: MetricResult) -> None:
    iu, ju = np.triu_indices(len(r.networks), k=1)
    run.write(r.metric, DistanceRows(
        metric=[r.metric] * len(iu), a=[r.networks[i] for i in iu], b=[r.networks[j] for j in ju],
        distance=[float(v) if np.isfinite(v) else None for v in r.distances[iu, ju]]))
    run.write(r.metric, EmbeddingRows(
        metric=[r.metric] * len(r.networks), network=list(r.networks),
        x=r.embedding[:, 0].tolist(), y=r.embedding[:, 1].tolist(), cluster=r.clusters.tolist()))
    items = sorted(r.summary.items())
    run.write(r.metric, SummaryRows(  # last: its presence marks the metric done
        metric=[r.metric] * len(items), quantity=[q for (q, _), _ in items],
        arch=[a for (_, a), _ in items], value=[float(v) for _, v in items]))


def _result(metric: str, ids: list[str], archs: list[str], D: np.ndarray, opts: StudyOptions,
            keys: list[str] | None = None) -> MetricResult:
    D = pop.check_distances(D)
    k = opts.n_clusters or max(2, len(set(archs)))
    clusters = pop.cluster(D, k)
    return MetricResult(metric, tuple(ids), tuple(archs), D, pop.embed(D), clusters,
                        summarise(D, archs, clusters, keys), tuple(keys or ()))


def study(
    run: RunFolder,
    options: StudyOptions = StudyOptions(),
    *,
    force: bool = False,
    progress: StudyProgress | None = None,
    distances: Distances | None = None,
) -> Study:
    """Compare every (trained) network of `run` with every other under each metric of `options`.

    Each metric is a registered `dynascope.compare.Metric`. Those that take TRAJECTORIES (geometry: CCA,
    SVCCA, CKA, Procrustes, shape, RSA; dynamics: DSA and its eigenvalue variant) compare the networks'
    activity on the same `n_trials` task trials, `[trials, time, units]` each; those that take SIGNATURES
    (topology) compare the skeleton signatures that `dynascope analyze` stored (skipped, with the reason,
    if there are none). A metric that classifies its inputs (topology) also reports the modal class.
    Networks flagged diverged in the catalog, and networks whose states on the study trials are not
    finite or exceed `MAX_ABS_STATE`, are left out of every metric and listed in `Study.skipped_networks`
    with the reason.

    Args:
        run: the run folder.
        options: the study settings (`StudyOptions`: metrics, trials, seed, ...).
        force: recompute metrics already in the catalog (otherwise they are kept).
        progress: called as `progress(metric, pairs_done, n_pairs)` before and after each metric, or None.
        distances: `distances(metric, items) -> [n, n]` computes a metric's matrix in place of this
            process (the Ray backend cuts it into blocks of pairs, `pair_distances`); None: here.

    Returns:
        `Study`: what was computed this call (results per metric, metrics skipped and networks left out,
        with the reasons).

    Raises:
        ConfigError: invalid options, or fewer than two usable networks.
    """
    options.validate()
    nets, skipped_networks = _network_table(run, options.trained_only)
    _require_two(len(nets), options.trained_only, skipped_networks)
    done = {p.stem for p in run.shards(SummaryRows)}
    todo = [m for m in options.selected() if force or m.name not in done]
    results: dict[str, MetricResult] = {}
    skipped: dict[str, str] = {}
    if not todo:
        return Study(results, skipped, skipped_networks)
    # Every metric compares the same networks: those whose states on the study trials are usable.
    states = trajectories(run, nets, options.n_trials, options.seed)
    why = [unusable(s) for s in states]
    skipped_networks.update({net[0]: w for net, w in zip(nets, why) if w is not None})
    nets = [net for net, w in zip(nets, why) if w is None]
    states = [s for s, w in zip(states, why) if w is None]
    _require_two(len(nets), options.trained_only, skipped_networks)
    ids, archs = [n for n, *_ in nets], [a for _, a, *_ in nets]
    signatures: tuple[list[int], list[list[dict]]] | None = None  # read once, when a metric first needs them
    for metric in todo:
        if metric.takes == SIGNATURES:
            signatures = signatures or _signatures(run, ids)
            sel, items = signatures
            if len(sel) < 2:
                skipped[metric.name] = "fewer than 2 networks have skeletons; run `dynascope analyze RUN` first"
                continue
        else:
            sel = list(_spread(archs, options.max_dsa_networks) if metric.expensive else range(len(ids)))
            items = [states[i] for i in sel]
        if progress is not None:
            progress(metric.name, 0, len(sel) * (len(sel) - 1) // 2)
        keys = [metric.classify(x) for x in items] if metric.classify is not None else None
        D = distances(metric, items) if distances is not None else _distances(metric, items, options.chunk)
        r = _result(metric.name, [ids[i] for i in sel], [archs[i] for i in sel], D, options, keys)
        _write(run, r)
        results[metric.name] = r
        if progress is not None:
            n = len(r.networks)
            progress(metric.name, n * (n - 1) // 2, n * (n - 1) // 2)
    return Study(results, skipped, skipped_networks)
