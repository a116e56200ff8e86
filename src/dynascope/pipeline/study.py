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
import functools
import json
from collections.abc import Callable

import jax
import numpy as np

from dynascope.compare import population as pop
from dynascope.compare.cca import cca_distance, principal_basis, svcca_distance
from dynascope.compare.cka import cka_distance
from dynascope.compare.dsa import dmd_operator, similarity_transform_distance, spectrum_distance
from dynascope.compare.pairwise import chunked_map, pairwise_distances, pairwise_distances_loop, stack_padded
from dynascope.compare.rsa import rsa_distance
from dynascope.compare.shape import procrustes_distance, shape_distance
from dynascope.compare.topology import signature_distance, topology_class
from dynascope.errors import ConfigError, unknown_name
from dynascope.pipeline.populations import load_group
from dynascope.store import DistanceRows, EmbeddingRows, NetworkRows, RunFolder, SkeletonRows, SummaryRows

#: Metrics in the order they are computed and shown: geometry, dynamics, topology.
METRICS = ("cca", "svcca", "cka", "procrustes", "shape", "rsa", "dsa", "dsa_wasserstein", "topology")
GEOMETRY = ("cca", "svcca", "cka", "procrustes", "shape", "rsa")

#: A network whose states on the study trials exceed this in absolute value has exploded: it is skipped.
MAX_ABS_STATE = 1e6

#: progress(metric, pairs_done, n_pairs) before and after each metric.
StudyProgress = Callable[[str, int, int], None]


@dataclasses.dataclass(frozen=True)
class StudyOptions:
    """What `study` compares and how.

    metrics: any of METRICS. n_trials: task trials (the conditions) every network is run on — the
    same trials for all, drawn from `seed`. trained_only: leave out networks that did not reach the
    task criterion (a failed network is not a solution). svcca_keep: variance SVCCA keeps. shape_alpha:
    partial whitening of the shape metric (0 CCA-like … 1 Procrustes). dsa_delays, dsa_rank: the DSA
    delay embedding and operator rank (capped at delays × the smallest network), shared by
    'dsa_wasserstein' (the eigenvalue variant: optimal matching of the operators' spectra). max_dsa_networks:
    DSA costs an optimisation per pair, so it runs on at most this many networks (spread evenly over the
    architectures; the report says so); 'dsa_wasserstein' is cheap and runs on all. n_clusters: clusters per metric (default: one per
    architecture, at least 2). chunk: pairs evaluated together on the device.
    """

    metrics: tuple[str, ...] = METRICS
    n_trials: int = 16
    trained_only: bool = True
    svcca_keep: float = 0.99
    shape_alpha: float = 0.5
    dsa_delays: int = 4
    dsa_rank: int = 10
    max_dsa_networks: int = 200
    n_clusters: int | None = None
    chunk: int = 64
    seed: int = 0

    def validate(self) -> None:
        """Raise ConfigError or UnknownNameError naming the first bad option."""
        if not self.metrics:
            raise ConfigError(f"metrics is empty; choose from {', '.join(METRICS)}.")
        for m in self.metrics:
            if m not in METRICS:
                raise unknown_name("metric", m, list(METRICS))
        for name in ("n_trials", "dsa_delays", "dsa_rank", "max_dsa_networks", "chunk"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}.")
        if "rsa" in self.metrics and self.n_trials < 3:
            raise ConfigError(f"rsa needs n_trials >= 3 conditions, got {self.n_trials}.")
        if self.n_clusters is not None and (isinstance(self.n_clusters, bool) or not isinstance(self.n_clusters, int)
                                            or self.n_clusters < 1):
            raise ConfigError(f"n_clusters must be a positive integer or None, got {self.n_clusters!r}.")
        if not 0.0 <= self.shape_alpha <= 1.0:
            raise ConfigError(f"shape_alpha must be in [0, 1], got {self.shape_alpha!r}.")


@dataclasses.dataclass(frozen=True)
class MetricResult:
    """One metric over the population: `networks [n]` compared, their `archs [n]`, `distances [n, n]`,
    the MDS `embedding [n, 2]`, `clusters [n]`, the summary rows {(quantity, arch): value} and, for
    topology, each network's `topology_class`."""

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
    """Every metric's result, the metrics skipped with the reason (e.g. no skeletons yet), and the networks
    left out of every metric with the reason (`skipped_networks`: flagged diverged in the catalog, or
    states on the study trials that are not finite or beyond `MAX_ABS_STATE`)."""

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
        + (" (pass trained_only=False, or --all on the command line, to include untrained ones)."
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


def _array_metric(name: str, opts: StudyOptions, units: int) -> tuple[Callable, Callable | None]:
    """(metric, prepare) for `pairwise_distances`."""
    if name == "cca":
        return cca_distance, principal_basis
    if name == "svcca":
        return functools.partial(svcca_distance, keep=opts.svcca_keep), principal_basis
    if name == "cka":
        return cka_distance, principal_basis
    if name == "procrustes":
        return procrustes_distance, principal_basis
    if name == "shape":
        return functools.partial(shape_distance, alpha=opts.shape_alpha), principal_basis
    if name == "rsa":
        # Euclidean RDMs: zero-padded units (networks of different sizes) leave them unchanged.
        return functools.partial(rsa_distance, dissimilarity="euclidean"), None
    return similarity_transform_distance, _dmd_fit(opts, units)


def _dmd_fit(opts: StudyOptions, units: int) -> Callable:
    """The DSA operator fit, its rank capped at delays × `units` (the smallest network compared)."""
    return functools.partial(dmd_operator, n_delays=opts.dsa_delays, rank=min(opts.dsa_rank, opts.dsa_delays * units))


def _spectra(states: list[np.ndarray], opts: StudyOptions, units: int) -> list[np.ndarray]:
    """Eigenvalues of each network's DMD operator (the DSA fit), each operator fitted once, `chunk` at a time."""
    ops = jax.jit(chunked_map, static_argnums=(0, 2))(_dmd_fit(opts, units), stack_padded(states), opts.chunk)
    return list(np.linalg.eigvals(np.asarray(ops, np.float64)))


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


# -- topology straight from the catalog -------------------------------------------------------------
def _signatures(run: RunFolder, ids: list[str]) -> tuple[list[str], list[list[dict]], list[str]]:
    """Networks that have skeletons (in `ids` order), their signatures per analysis input, and each
    network's topology class (`topology_class` under every analysis input, joined)."""
    rows = run.read(SkeletonRows, order_by=("network", "input_index"))
    per: dict[str, list[dict]] = {}
    for net, sig in zip(rows.network, rows.signature):
        per.setdefault(net, []).append(json.loads(sig))
    have = [n for n in ids if n in per]
    keys = [" || ".join(topology_class(s) for s in per[n]) for n in have]
    return have, [per[n] for n in have], keys


def _topology_matrix(sigs: list[list[dict]]) -> np.ndarray:
    def d(a: list[dict], b: list[dict]) -> float:
        if len(a) != len(b):
            return 1.0
        return float(np.mean([signature_distance(x, y) for x, y in zip(a, b)]))

    return pairwise_distances_loop(d, sigs)


# -- summary and catalog rows ---------------------------------------------------------------------
def summarise(D: np.ndarray, archs: list[str], clusters: np.ndarray, keys: list[str] | None = None) -> dict[tuple[str, str], float]:
    """The universality summary of one metric: {(quantity, arch or 'all'): value}."""
    per, within, between = pop.within_between(D, archs)
    out = {("nearest-neighbour architecture accuracy", "all"): pop.nearest_neighbour_accuracy(D, archs),
           ("chance accuracy", "all"): pop.chance_accuracy(archs),
           ("mean distance within architecture", "all"): within,
           ("mean distance between architectures", "all"): between,
           ("between / within", "all"): _ratio(between, within),
           ("cluster-architecture agreement (ARI)", "all"): pop.agreement(clusters, archs)}
    out.update({("mean distance within architecture", a): v for a, v in per.items()})
    if keys is not None:
        _, shares, share = pop.modal_share(keys, archs)
        out[("share with the modal topology", "all")] = share
        out.update({("share with the modal topology", a): v for a, v in shares.items()})
        out[("distinct topologies", "all")] = float(len(set(keys)))
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
) -> Study:
    """Compare every (trained) network of `run` with every other under each metric of `options`.

    Geometry (CCA, SVCCA, CKA, Procrustes, shape, RSA) and dynamics (DSA and its eigenvalue variant)
    compare the networks' activity on the same `n_trials` task trials, `[trials, time, units]` each; topology compares the
    skeleton signatures that `dynascope analyze` stored (skipped, with the reason, if there are none).
    Networks flagged diverged in the catalog, and networks whose states on the study trials are not
    finite or exceed `MAX_ABS_STATE`, are left out of every metric and listed in `Study.skipped_networks`
    with the reason. Metrics already in the catalog are kept unless `force`. Returns what was computed
    this call.
    """
    options.validate()
    nets, skipped_networks = _network_table(run, options.trained_only)
    _require_two(len(nets), options.trained_only, skipped_networks)
    done = {p.stem for p in run.shards(SummaryRows)}
    todo = [m for m in options.metrics if force or m not in done]
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
    for metric in todo:
        if metric == "topology":
            have, sigs, keys = _signatures(run, ids)
            if len(have) < 2:
                skipped[metric] = "fewer than 2 networks have skeletons; run `dynascope analyze RUN` first"
                continue
            if progress is not None:
                progress(metric, 0, len(have) * (len(have) - 1) // 2)
            arch_of = dict(zip(ids, archs))
            r = _result(metric, have, [arch_of[n] for n in have], _topology_matrix(sigs), options, keys)
        else:
            sel = _spread(archs, options.max_dsa_networks) if metric == "dsa" else np.arange(len(ids))
            if progress is not None:
                progress(metric, 0, len(sel) * (len(sel) - 1) // 2)
            units = min(states[i].shape[-1] for i in sel)
            if metric == "dsa_wasserstein":
                D = pairwise_distances_loop(spectrum_distance, _spectra(states, options, units))
            else:
                fn, prepare = _array_metric(metric, options, units)
                D = np.asarray(pairwise_distances(fn, [states[i] for i in sel], chunk=options.chunk, prepare=prepare))
            r = _result(metric, [ids[i] for i in sel], [archs[i] for i in sel], D, options)
        _write(run, r)
        results[metric] = r
        if progress is not None:
            n = len(r.networks)
            progress(metric, n * (n - 1) // 2, n * (n - 1) // 2)
    return Study(results, skipped, skipped_networks)
