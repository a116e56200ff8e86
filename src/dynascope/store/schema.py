"""The catalog's tables and their Arrow schemas; loaders refuse shards that do not match."""

from __future__ import annotations

import pyarrow as pa

NETWORKS = pa.schema(
    [
        ("network", pa.string()),  # "<group>/<seed>", unique within a run
        ("group", pa.string()),  # "<arch>-<hidden>"
        ("index", pa.int64()),  # position within the group's stacked weights
        ("arch", pa.string()),
        ("n_hidden", pa.int64()),
        ("seed", pa.int64()),
        ("learning_rate", pa.float64()),
        ("task", pa.string()),
        ("steps", pa.int64()),
        ("final_loss", pa.float64()),
        ("metric", pa.float64()),
        ("trained", pa.bool_()),
        ("diverged", pa.bool_()),
        ("stopped_at", pa.int64()),
        ("train_seconds", pa.float64()),
    ]
)

LOSSES = pa.schema([("network", pa.string()), ("loss", pa.list_(pa.float32()))])

FIXED_POINTS = pa.schema(
    [
        ("network", pa.string()),
        ("group", pa.string()),
        ("input_index", pa.int64()),
        ("input", pa.list_(pa.float64())),
        ("state", pa.list_(pa.float64())),
        ("q", pa.float64()),
        ("status", pa.string()),  # converged | slow | failed
        ("n_unstable", pa.int64()),
        ("is_stable", pa.bool_()),
        ("outside_reachable", pa.bool_()),
        ("eig_real", pa.list_(pa.float64())),
        ("eig_imag", pa.list_(pa.float64())),
    ]
)

SKELETONS = pa.schema(
    [
        ("network", pa.string()),
        ("group", pa.string()),
        ("input_index", pa.int64()),
        ("n_stable", pa.int64()),
        ("n_saddles", pa.int64()),
        ("index_counts", pa.string()),  # JSON {index: count}
        ("n_slow", pa.int64()),
        ("n_outside", pa.int64()),
        ("n_cycles", pa.int64()),
        ("wl_hash", pa.string()),
        ("signature", pa.string()),  # JSON of dynamics.signature
    ]
)

#: Pairwise distances between networks, upper triangle only (a < b), one shard per metric.
DISTANCES = pa.schema(
    [("metric", pa.string()), ("a", pa.string()), ("b", pa.string()), ("distance", pa.float64())]
)

#: Low-dimensional embedding (MDS) of each metric's distance matrix, with a cluster label.
EMBEDDING = pa.schema(
    [
        ("metric", pa.string()),
        ("network", pa.string()),
        ("x", pa.float64()),
        ("y", pa.float64()),
        ("cluster", pa.int64()),
    ]
)

#: The universality summary: one number per (metric, quantity, architecture or 'all').
SUMMARY = pa.schema(
    [("metric", pa.string()), ("quantity", pa.string()), ("arch", pa.string()), ("value", pa.float64())]
)

TABLES: dict[str, pa.Schema] = {
    "networks": NETWORKS,
    "losses": LOSSES,
    "fixed_points": FIXED_POINTS,
    "skeletons": SKELETONS,
    "distances": DISTANCES,
    "embedding": EMBEDDING,
    "summary": SUMMARY,
}
