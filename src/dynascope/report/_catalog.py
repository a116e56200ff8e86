"""What the report reads from a run folder's catalog, as NumPy arrays and plain Python values.

Every function takes a `dynascope.store.RunFolder` and reads its tables through `RunFolder.read` (the
tables declared in `dynascope.store.schema`); a table nobody has filled yet reads as empty, so each
section of the report appears as soon as its data exists.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np

from dynascope.errors import ConfigError
from dynascope.store import (
    DistanceRows,
    EmbeddingRows,
    EnergyRows,
    FixedPointRows,
    LossRows,
    NetworkRows,
    Rows,
    RunFolder,
    SkeletonRows,
    SummaryRows,
)


def count(run: RunFolder, rows: type[Rows]) -> int:
    """Number of rows of the catalog table of `rows` (0 when no shard has been written)."""
    return run.count(rows)


def networks(run: RunFolder) -> list[dict[str, Any]]:
    """One dict per network of the `networks` table (its columns as keys), ordered by architecture, group, seed."""
    return run.read(NetworkRows, order_by=("arch", "group", "seed")).records()


def locate(run: RunFolder, network: str) -> tuple[str, int, str]:
    """(group, index within the group's weights, architecture) of `network`; ConfigError naming a few known
    ids if the run has no such network."""
    found = run.read(NetworkRows, where={"network": network})
    if not len(found):
        known = run.read(NetworkRows, order_by=("network",)).network[:5]
        raise ConfigError(f"network {network!r} is not in this run; give an id of its networks table, e.g. {known}.")
    return found.group[0], int(found.index[0]), found.arch[0]


def arch_order(run: RunFolder) -> list[str]:
    """Architectures in the order of the sweep config (then any others alphabetically)."""
    configured = [str(a) for a in run.config.get("sweep", {}).get("archs", [])]
    stored = run.distinct(NetworkRows, "arch")
    return [a for a in configured if a in stored] + [a for a in stored if a not in configured]


#: Which networks a selection of the networks table means, as a test on one row ({column: value}).
STANDING = {
    "all": lambda n: True,
    "trained": lambda n: n["trained"] and not n["diverged"],
    "untrained": lambda n: not n["trained"] and not n["diverged"],
    "diverged": lambda n: n["diverged"],
}


def by_standing(run: RunFolder, standing: str) -> list[str]:
    """Ids of the networks of `standing` (see `STANDING`), ordered by network id."""
    test = STANDING[standing]
    return [n["network"] for n in run.read(NetworkRows, order_by=("network",)).records() if test(n)]


def losses_by_arch(run: RunFolder, standing: str = "all") -> dict[str, np.ndarray]:
    """Training loss curves `[n_networks, steps]` (float64, NaN where not trained) per architecture, of the
    networks of `standing` ('all', 'trained', 'untrained' — neither trained nor diverged — or 'diverged');
    architectures without such networks are left out.

    Groups of one architecture with different step counts are padded with NaN to the longest.
    """
    test = STANDING[standing]
    arch_of = {n["network"]: n["arch"] for n in run.read(NetworkRows).records() if test(n)}
    losses = run.read(LossRows, where={"network": list(arch_of)}, order_by=("network",))
    by_arch: dict[str, list[np.ndarray]] = {}
    for network, loss in zip(losses.network, losses.loss):
        by_arch.setdefault(arch_of[network], []).append(np.array([np.nan if v is None else v for v in loss], float))
    out = {}
    for arch in arch_order(run):
        curves = by_arch.get(arch, [])
        if not curves:
            continue
        steps = max(len(c) for c in curves)
        m = np.full((len(curves), steps), np.nan)
        for i, c in enumerate(curves):
            m[i, : len(c)] = c
        out[arch] = m
    return out


def any_healthy(run: RunFolder) -> bool:
    """Whether any network of `run` did not diverge in training."""
    return run.count(NetworkRows, where={"diverged": False}) > 0


def best_network(run: RunFolder) -> str | None:
    """The network with the highest task score among those that did not diverge and have a finite score
    (ties: the first id), or None if there is none."""
    nets = run.read(NetworkRows, where={"diverged": False}, order_by=("network",))
    scored = [(m, n) for n, m in zip(nets.network, nets.metric) if m is not None and math.isfinite(m)]
    return max(scored, key=lambda s: s[0])[1] if scored else None


def choose_networks(run: RunFolder, max_networks: int) -> list[str]:
    """Up to `max_networks` network ids, taken round-robin over groups in seed order (so every architecture
    and size is represented), analysed networks first; networks that diverged in training are never chosen
    (their states are not worth drawing, and may not be finite)."""
    nets = run.read(NetworkRows, where={"diverged": False}, order_by=("group", "seed"))
    analysed = set(run.distinct(FixedPointRows, "network"))
    rank = {a: i for i, a in enumerate(arch_order(run))}
    rows = sorted(zip(nets.network, nets.group, nets.arch),
                  key=lambda r: rank.get(r[2], len(rank)))  # stable: keeps group and seed order within an arch
    per_group: dict[str, list[str]] = {}
    for first in (True, False):
        for network, group, _ in rows:
            if (network in analysed) == first:
                per_group.setdefault(group, []).append(network)
    chosen: list[str] = []
    depth = 0
    while len(chosen) < max_networks and any(depth < len(v) for v in per_group.values()):
        for ids in per_group.values():
            if depth < len(ids) and len(chosen) < max_networks:
                chosen.append(ids[depth])
        depth += 1
    return chosen


@dataclasses.dataclass(frozen=True)
class NetworkFixedPoints:
    """The catalogued fixed points of one network: `states [K, S]`, `inputs [K, I]`, `input_index [K]`,
    `n_unstable [K]`, `status [K]` (converged | slow | failed), `outside [K]` (outside the reachable
    region), `q [K]`, `eigvals [K, S]` (complex)."""

    states: np.ndarray
    inputs: np.ndarray
    input_index: np.ndarray
    n_unstable: np.ndarray
    status: np.ndarray
    outside: np.ndarray
    q: np.ndarray
    eigvals: np.ndarray

    def __len__(self) -> int:
        return int(self.q.shape[0])


def fixed_points(run: RunFolder, network: str, n_state: int, n_inputs: int) -> NetworkFixedPoints:
    """The fixed points of `network` from the catalog (empty arrays of the right widths if none)."""
    fp = run.read(FixedPointRows, where={"network": network}, order_by=("input_index", "n_unstable", "q"))
    k = len(fp)
    return NetworkFixedPoints(
        states=np.array(fp.state, dtype=float).reshape(k, n_state if k == 0 else -1),
        inputs=np.array(fp.input, dtype=float).reshape(k, n_inputs if k == 0 else -1),
        input_index=np.array(fp.input_index, dtype=int),
        n_unstable=np.array(fp.n_unstable, dtype=int),
        status=np.array(fp.status, dtype=str),
        outside=np.array(fp.outside_reachable, dtype=bool),
        q=np.array(fp.q, dtype=float),
        eigvals=np.array(fp.eig_real, dtype=float).reshape(k, n_state if k == 0 else -1)
        + 1j * np.array(fp.eig_imag, dtype=float).reshape(k, n_state if k == 0 else -1),
    )


def skeleton_edges(run: RunFolder, network: str) -> list[dict[str, Any]]:
    """Per analysis input of `network`: {'input_index', 'counts' {index: n}, 'edges' [[from, to], ...],
    'terminals' {name: n}, 'wl_hash'} from the skeleton signatures in the catalog."""
    sk = run.read(SkeletonRows, where={"network": network}, order_by=("input_index",))
    out = []
    for k, sig, wl in zip(sk.input_index, sk.signature, sk.wl_hash):
        try:
            s = json.loads(sig)
        except (TypeError, ValueError):
            s = {}
        out.append({
            "input_index": int(k),
            "counts": {int(i): int(n) for i, n in s.get("counts", {}).items()},
            "edges": [list(e) for e in s.get("edges", [])],
            "terminals": dict(s.get("terminals", {})),
            "wl_hash": wl,
        })
    return out


def distance_metrics(run: RunFolder) -> list[str]:
    """The metrics with stored pairwise distances, sorted."""
    return run.distinct(DistanceRows, "metric")


def embedding_metrics(run: RunFolder) -> list[str]:
    """The metrics with a stored embedding, sorted."""
    return run.distinct(EmbeddingRows, "metric")


def compared(run: RunFolder) -> dict[str, int]:
    """{metric: how many networks the study compared under it} (its embedding has one row per network)."""
    out: dict[str, int] = {}
    for metric in run.read(EmbeddingRows).metric:
        out[metric] = out.get(metric, 0) + 1
    return out


def distance_matrix(run: RunFolder, metric: str) -> tuple[list[str], list[str], np.ndarray]:
    """(network ids, their architectures, symmetric distances `[n, n]`) for `metric`, ordered by architecture
    then network; pairs missing from the catalog are NaN, the diagonal 0."""
    nets = run.read(NetworkRows)
    archs = dict(zip(nets.network, nets.arch))
    rows = run.read(DistanceRows, where={"metric": metric})
    ids = sorted(set(rows.a) | set(rows.b))
    rank = {a: i for i, a in enumerate(arch_order(run))}
    ids.sort(key=lambda n: (rank.get(archs.get(n, ""), len(rank)), archs.get(n, ""), n))
    pos = {n: i for i, n in enumerate(ids)}
    d = np.full((len(ids), len(ids)), np.nan)
    np.fill_diagonal(d, 0.0)
    for a, b, v in zip(rows.a, rows.b, rows.distance):
        d[pos[a], pos[b]] = d[pos[b], pos[a]] = np.nan if v is None else v
    return ids, [archs.get(n, "?") for n in ids], d


def embedding(run: RunFolder, metric: str) -> dict[str, Any]:
    """{'network', 'arch', 'cluster' (lists), 'xy' `[n, 2]`} of the stored embedding for `metric`."""
    nets = run.read(NetworkRows)
    archs = dict(zip(nets.network, nets.arch))
    e = run.read(EmbeddingRows, where={"metric": metric}, order_by=("network",))
    return {
        "network": list(e.network),
        "arch": [archs.get(n, "?") for n in e.network],
        "cluster": list(e.cluster),
        "xy": np.array([e.x, e.y], dtype=float).T.reshape(len(e), 2),
    }


def summary(run: RunFolder) -> tuple[list[str], list[tuple[str, str, dict[str, float]]]]:
    """The universality summary pivoted: (architecture columns, rows of (metric, quantity, {arch: value}))."""
    rows = run.read(SummaryRows, order_by=("metric", "quantity", "arch"))
    order = arch_order(run)
    archs = sorted(set(rows.arch), key=lambda a: (a != "all", order.index(a) if a in order else len(order), a))
    table: dict[tuple[str, str], dict[str, float]] = {}
    for metric, quantity, arch, value in zip(rows.metric, rows.quantity, rows.arch, rows.value):
        table.setdefault((metric, quantity), {})[arch] = value
    return archs, [(m, q, v) for (m, q), v in table.items()]


def modal_topology(run: RunFolder) -> str | None:
    """The most common skeleton topology class among the networks the study compared (None before
    `dynascope compare` or without skeletons); see `dynascope.compare.topology_class`."""
    from dynascope.compare import modal_share, topology_class

    compared = run.distinct(EmbeddingRows, "network", where={"metric": "topology"})
    rows = run.read(SkeletonRows, where={"network": list(compared)}, order_by=("network", "input_index"))
    classes: dict[str, list[str]] = {}
    for network, sig in zip(rows.network, rows.signature):
        classes.setdefault(network, []).append(topology_class(json.loads(sig)))
    if not classes:
        return None
    keys = [" || ".join(v) for v in classes.values()]
    return modal_share(keys, ["all"] * len(keys))[0]


def best_per_arch(run: RunFolder) -> dict[str, str]:
    """{architecture: its network with the highest finite task score among those that did not diverge}
    (ties: the first id), in `arch_order`; architectures without such a network are left out."""
    nets = run.read(NetworkRows, where={"diverged": False}, order_by=("network",))
    best: dict[str, tuple[float, str]] = {}
    for network, arch, m in zip(nets.network, nets.arch, nets.metric):
        if m is not None and math.isfinite(m) and (arch not in best or m > best[arch][0]):
            best[arch] = (m, network)
    return {a: best[a][1] for a in arch_order(run) if a in best}


@dataclasses.dataclass(frozen=True)
class CatalogPoints:
    """Every catalogued fixed point of a run, one entry per point: `network`, `group`, `arch` (lists),
    `status [K]` (converged | slow | failed), `outside [K]`, `q [K]`, and `eigvals` (a list of complex
    arrays `[S]`: groups differ in state size)."""

    network: list[str]
    group: list[str]
    arch: list[str]
    status: np.ndarray
    outside: np.ndarray
    q: np.ndarray
    eigvals: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.network)


def all_fixed_points(run: RunFolder) -> CatalogPoints:
    """The fixed points of every network of `run` (empty before `dynascope analyze`), ordered by network."""
    nets = run.read(NetworkRows)
    archs = dict(zip(nets.network, nets.arch))
    fp = run.read(FixedPointRows, order_by=("network", "input_index", "q"))
    return CatalogPoints(
        network=list(fp.network),
        group=list(fp.group),
        arch=[archs.get(n, "?") for n in fp.network],
        status=np.array(fp.status, dtype=str),
        outside=np.array(fp.outside_reachable, dtype=bool),
        q=np.array(fp.q, dtype=float),
        eigvals=[np.asarray(r, float) + 1j * np.asarray(i, float) for r, i in zip(fp.eig_real, fp.eig_imag)],
    )


@dataclasses.dataclass(frozen=True)
class CostPoints:
    """The energy table of a run, one entry per network: `network`, `arch` (lists), `spiking [n]` (bool),
    `operations [n]` (synaptic operations per trial), `per_step [n]`, `rate_hz [n]` (NaN for rate models) and
    `score [n]` (NaN where the catalog holds none), ordered by architecture (`arch_order`) then network."""

    network: list[str]
    arch: list[str]
    spiking: np.ndarray
    operations: np.ndarray
    per_step: np.ndarray
    rate_hz: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.network)


def cost_points(run: RunFolder) -> CostPoints:
    """The run's `energy` rows as `CostPoints` (empty before `dynascope analyze`, or for a run analysed by a
    dynascope without the energy table)."""
    e = run.read(EnergyRows, order_by=("network",))
    rank = {a: i for i, a in enumerate(arch_order(run))}
    order = sorted(range(len(e)), key=lambda i: (rank.get(e.arch[i], len(rank)), e.arch[i], e.network[i]))
    e = e.take(order)

    def floats(values: list[Any]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    return CostPoints(
        network=list(e.network), arch=list(e.arch), spiking=np.array(e.spiking, dtype=bool),
        operations=floats(e.operations_per_trial), per_step=floats(e.operations_per_step),
        rate_hz=floats(e.mean_rate_hz), score=floats(e.score),
    )
