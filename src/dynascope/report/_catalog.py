"""What the report reads from a run folder's catalog, as NumPy arrays and plain Python values.

Every function takes a `dynascope.store.RunFolder` and queries it with DuckDB; a table nobody has
filled yet reads as empty, so each section of the report appears as soon as its data exists.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np


def count(run: Any, table: str) -> int:
    """Number of rows of catalog `table` (0 when no shard has been written)."""
    return int(run.sql(f"select count(*) from {table}").fetchall()[0][0])


def networks(run: Any) -> list[dict[str, Any]]:
    """One dict per network of the `networks` table (its columns as keys), ordered by architecture, group, seed."""
    rel = run.sql('select * from networks order by arch, "group", seed')
    names = rel.columns
    return [dict(zip(names, row)) for row in rel.fetchall()]


def arch_order(run: Any) -> list[str]:
    """Architectures in the order of the sweep config (then any others alphabetically)."""
    configured = [str(a) for a in run.config.get("sweep", {}).get("archs", [])]
    stored = [r[0] for r in run.sql("select distinct arch from networks order by arch").fetchall()]
    return [a for a in configured if a in stored] + [a for a in stored if a not in configured]


#: Which networks a selection of the networks table means (SQL conditions on its columns).
STANDING = {
    "all": "true",
    "trained": "n.trained and not n.diverged",
    "untrained": "not n.trained and not n.diverged",
    "diverged": "n.diverged",
}


def losses_by_arch(run: Any, standing: str = "all") -> dict[str, np.ndarray]:
    """Training loss curves `[n_networks, steps]` (float64, NaN where not trained) per architecture, of the
    networks of `standing` ('all', 'trained', 'untrained' — neither trained nor diverged — or 'diverged');
    architectures without such networks are left out.

    Groups of one architecture with different step counts are padded with NaN to the longest.
    """
    rows = run.sql(
        f"select n.arch, l.loss from losses l join networks n using (network) where {STANDING[standing]} "
        "order by n.network"
    ).fetchall()
    by_arch: dict[str, list[np.ndarray]] = {}
    for arch, loss in rows:
        by_arch.setdefault(arch, []).append(np.array([np.nan if v is None else v for v in loss], dtype=float))
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


def by_standing(run: Any, standing: str) -> list[str]:
    """Ids of the networks of `standing` (see `STANDING`), ordered by network id."""
    return [r[0] for r in run.sql(f"select network from networks n where {STANDING[standing]} order by network").fetchall()]


def choose_networks(run: Any, max_networks: int) -> list[str]:
    """Up to `max_networks` network ids, taken round-robin over groups in seed order (so every architecture
    and size is represented), analysed networks first; networks that diverged in training are never chosen
    (their states are not worth drawing, and may not be finite)."""
    rows = run.sql(
        'select n.network, n."group", exists(select 1 from fixed_points f where f.network = n.network), n.arch '
        'from networks n where not n.diverged order by n."group", n.seed'
    ).fetchall()
    rank = {a: i for i, a in enumerate(arch_order(run))}
    rows.sort(key=lambda r: rank.get(r[3], len(rank)))  # stable: keeps group and seed order within an arch
    per_group: dict[str, list[str]] = {}
    for analysed in (True, False):
        for network, group, has_fp, _ in rows:
            if bool(has_fp) == analysed:
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
class FixedPointRows:
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


def fixed_points(run: Any, network: str, n_state: int, n_inputs: int) -> FixedPointRows:
    """The fixed points of `network` from the catalog (empty arrays of the right widths if none)."""
    rel = run.sql(
        "select state, input, input_index, n_unstable, status, outside_reachable, q, eig_real, eig_imag "
        f"from fixed_points where network = '{_quote(network)}' order by input_index, n_unstable, q"
    )
    rows = rel.fetchall()
    if not rows:
        return FixedPointRows(
            np.zeros((0, n_state)), np.zeros((0, n_inputs)), np.zeros(0, int), np.zeros(0, int),
            np.zeros(0, str), np.zeros(0, bool), np.zeros(0), np.zeros((0, n_state), complex),
        )
    cols = list(zip(*rows))
    return FixedPointRows(
        states=np.array(cols[0], dtype=float).reshape(len(rows), -1),
        inputs=np.array(cols[1], dtype=float).reshape(len(rows), -1),
        input_index=np.array(cols[2], dtype=int),
        n_unstable=np.array(cols[3], dtype=int),
        status=np.array(cols[4], dtype=str),
        outside=np.array(cols[5], dtype=bool),
        q=np.array(cols[6], dtype=float),
        eigvals=np.array(cols[7], dtype=float).reshape(len(rows), -1)
        + 1j * np.array(cols[8], dtype=float).reshape(len(rows), -1),
    )


def skeleton_edges(run: Any, network: str) -> list[dict[str, Any]]:
    """Per analysis input of `network`: {'input_index', 'counts' {index: n}, 'edges' [[from, to], ...],
    'terminals' {name: n}, 'wl_hash'} from the skeleton signatures in the catalog."""
    rows = run.sql(
        f"select input_index, signature, wl_hash from skeletons where network = '{_quote(network)}' order by input_index"
    ).fetchall()
    out = []
    for k, sig, wl in rows:
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


def distance_metrics(run: Any) -> list[str]:
    """The metrics with stored pairwise distances, sorted."""
    return [r[0] for r in run.sql("select distinct metric from distances order by metric").fetchall()]


def embedding_metrics(run: Any) -> list[str]:
    """The metrics with a stored embedding, sorted."""
    return [r[0] for r in run.sql("select distinct metric from embedding order by metric").fetchall()]


def compared(run: Any) -> dict[str, int]:
    """{metric: how many networks the study compared under it} (its embedding has one row per network)."""
    return {str(m): int(n) for m, n in run.sql("select metric, count(*) from embedding group by metric").fetchall()}


def distance_matrix(run: Any, metric: str) -> tuple[list[str], list[str], np.ndarray]:
    """(network ids, their architectures, symmetric distances `[n, n]`) for `metric`, ordered by architecture
    then network; pairs missing from the catalog are NaN, the diagonal 0."""
    archs = {n: a for n, a in run.sql("select network, arch from networks").fetchall()}
    rows = run.sql(f"select a, b, distance from distances where metric = '{_quote(metric)}'").fetchall()
    ids = sorted({r[0] for r in rows} | {r[1] for r in rows})
    rank = {a: i for i, a in enumerate(arch_order(run))}
    ids.sort(key=lambda n: (rank.get(archs.get(n, ""), len(rank)), archs.get(n, ""), n))
    pos = {n: i for i, n in enumerate(ids)}
    d = np.full((len(ids), len(ids)), np.nan)
    np.fill_diagonal(d, 0.0)
    for a, b, v in rows:
        d[pos[a], pos[b]] = d[pos[b], pos[a]] = np.nan if v is None else v
    return ids, [archs.get(n, "?") for n in ids], d


def embedding(run: Any, metric: str) -> dict[str, Any]:
    """{'network', 'arch', 'cluster' (lists), 'xy' `[n, 2]`} of the stored embedding for `metric`."""
    rows = run.sql(
        "select e.network, coalesce(n.arch, '?'), e.cluster, e.x, e.y from embedding e "
        f"left join networks n using (network) where e.metric = '{_quote(metric)}' order by e.network"
    ).fetchall()
    return {
        "network": [r[0] for r in rows],
        "arch": [r[1] for r in rows],
        "cluster": [r[2] for r in rows],
        "xy": np.array([[r[3], r[4]] for r in rows], dtype=float).reshape(len(rows), 2),
    }


def summary(run: Any) -> tuple[list[str], list[tuple[str, str, dict[str, float]]]]:
    """The universality summary pivoted: (architecture columns, rows of (metric, quantity, {arch: value}))."""
    rows = run.sql("select metric, quantity, arch, value from summary order by metric, quantity, arch").fetchall()
    order = arch_order(run)
    archs = sorted({r[2] for r in rows}, key=lambda a: (a != "all", order.index(a) if a in order else len(order), a))
    table: dict[tuple[str, str], dict[str, float]] = {}
    for metric, quantity, arch, value in rows:
        table.setdefault((metric, quantity), {})[arch] = value
    return archs, [(m, q, v) for (m, q), v in table.items()]


def modal_topology(run: Any) -> str | None:
    """The most common skeleton topology class among the networks the study compared (None before
    `dynascope compare` or without skeletons); see `dynascope.compare.topology_class`."""
    from dynascope.compare import modal_share, topology_class

    compared = {r[0] for r in run.sql("select network from embedding where metric = 'topology'").fetchall()}
    rows = run.sql("select network, input_index, signature from skeletons order by network, input_index").fetchall()
    classes: dict[str, list[str]] = {}
    for network, _, sig in rows:
        if network in compared:
            classes.setdefault(network, []).append(topology_class(json.loads(sig)))
    if not classes:
        return None
    keys = [" || ".join(v) for v in classes.values()]
    return modal_share(keys, ["all"] * len(keys))[0]


def _quote(text: str) -> str:
    """Escape a string literal for DuckDB (network and metric names come from the catalog, not code)."""
    return str(text).replace("'", "''")
