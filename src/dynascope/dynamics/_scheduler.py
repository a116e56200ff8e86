"""Host-side scheduling of batched work over networks × points: bucketing, padding, compaction, chunking.

Every compiled analysis runs on arrays `[n networks, K points, ...]`. The shapes it is compiled for are
kept few — batch sizes on a ladder (powers of two, or 8·4^j), padded with copies of a valid row — and
iterative work is run a few iterations at a time on the (network, point) pairs still going, gathered into
a smaller batch (`schedule`), so one point that needs a hundred iterations does not make all of them pay
for a hundred. Populations too large for the memory budget are cut into chunks of networks (`chunk_networks`,
`map_chunks`).
Used by the fixed-point search, the skeleton simulation and the period-k search.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from dynascope._memory import chunk_size

#: Bytes one entry of the batched [n, K, S, S] matrices (Hessians, Jacobians) costs a compiled population
#: call: float64, and about four such matrices alive at once in a Newton stage (the Jacobian, the Hessian
#: or normal matrix, its factorization, the solve's workspace).
BYTES_PER_MATRIX_ENTRY = 8 * 4


# -- bucketing and padding ------------------------------------------------------------------------------
def bucket(n: int) -> int:
    """The next power of two ≥ n (at least 1): padded batch sizes keep the number of compilations small."""
    return 1 << max(0, int(n) - 1).bit_length()


def compacted_size(count: int, total: int, smallest: int) -> int:
    """Rows per compiled call for the `count` of `total` rows still being worked on: smallest·4^j, at most
    `total`. A loop that sets its finished rows aside shrinks its batch through few shapes (compilations)."""
    size = smallest
    while size < count:
        size *= 4
    return min(size, total)


def pad_rows(a: np.ndarray, size: int, axis: int = 0) -> np.ndarray:
    """`a` padded along `axis` to `size` with copies of its first row (valid points, so no NaN appears)."""
    n = a.shape[axis]
    if n == size:
        return a
    first = np.take(a, [0] * (size - n), axis=axis) if n else np.zeros(
        a.shape[:axis] + (size,) + a.shape[axis + 1 :], a.dtype
    )
    return np.concatenate([a, first], axis=axis) if n else first


def compacted_rows(active: np.ndarray, size: int) -> np.ndarray:
    """Indices `[n, size]` of the active entries of each row of `active [n, K]`, repeated to fill `size`
    (0 for a row with none): a repeated entry computes the same result twice, so scattering back is safe."""
    return np.stack([np.resize(np.flatnonzero(a), size) if a.any() else np.zeros(size, np.int64) for a in active])


# -- compaction -----------------------------------------------------------------------------------------
class Batch(NamedTuple):
    """One compiled call's share of the work: `networks [m]` (rows of the population, repeats allowed)
    and, for each, `points [m, B]` (its points, repeats allowed); `round` counts the calls made so far."""

    round: int
    networks: np.ndarray
    points: np.ndarray


def schedule(
    active: np.ndarray,
    advance: Callable[[Batch], np.ndarray],
    *,
    min_points: int,
    compact_networks: bool,
    points_for: Callable[[int], int] | None = None,
    max_rounds: np.ndarray | None = None,
) -> np.ndarray:
    """Call `advance` on batches of the still active pairs of `active [n, K]` until none is left.

    `advance(batch)` does a round of work on the batch's points and returns which pairs `[n, K]` are still
    active. Each batch holds, per network, the active points repeated to B (the ladder `min_points`·4^j, or
    `points_for(count)` for the largest count of active points of a network); with `compact_networks` the
    networks without active points are left out too (their count also on the ladder), else every network
    is in every batch (one with none runs repeats of its point 0, which must then do nothing). A network
    stops after `max_rounds [n]` rounds (None: no limit). Returns the rounds each network took part in `[n]`.
    """
    n, k = active.shape
    rounds = np.zeros(n, np.int64)
    call = 0
    while True:
        if max_rounds is not None:
            active = active & (rounds < max_rounds)[:, None]
        if not active.any():
            break
        nets = np.flatnonzero(active.any(axis=1)) if compact_networks else np.arange(n)
        # Repeats fill the batch: a repeated network or point computes the same result twice.
        net_idx = np.resize(nets, compacted_size(nets.size, n, 1)) if compact_networks else nets
        count = int(active[nets].sum(axis=1).max())
        size = points_for(count) if points_for is not None else compacted_size(count, k, min_points)
        active = np.asarray(advance(Batch(call, net_idx, compacted_rows(active[net_idx], size))))
        rounds[nets] += 1
        call += 1
    return rounds


# -- traced helpers for a compacted batch -----------------------------------------------------------------
def take_points(tree: Any, networks: jax.Array, points: jax.Array) -> Any:
    """The entries `[m, B, ...]` of every `[n, K, ...]` leaf of `tree` at `networks [m]` × `points [m, B]`."""
    rows = networks[:, None]
    return jax.tree.map(lambda a: a[rows, points], tree)


def put_points(tree: Any, networks: jax.Array, points: jax.Array, values: Any) -> Any:
    """`tree` with the entries at `networks [m]` × `points [m, B]` replaced by `values` (see take_points)."""
    rows = networks[:, None]
    return jax.tree.map(lambda a, b: a.at[rows, points].set(b), tree, values)


def over_points(fn: Callable) -> Callable:
    """fn(params, *per-point arrays) vmapped over points, then over networks: params carry the leading
    network axis n, every per-point array the leading axes [n, K]."""

    def networks(params: Any, *arrays: Any) -> Any:
        per_point = jax.vmap(fn, in_axes=(None,) + (0,) * len(arrays))
        return jax.vmap(per_point)(params, *arrays)

    return networks


# -- chunking by memory ----------------------------------------------------------------------------------
def chunk_networks(entries_per_network: int, chunk: int | None = None, n_networks: int | None = None,
                   budget: int | str | None = None) -> int:
    """Networks per compiled call: `chunk` if given, else as many as keep their matrices
    (`entries_per_network` entries, BYTES_PER_MATRIX_ENTRY each) within the memory budget
    (`dynascope._memory`: `budget`, else $DYNASCOPE_MEMORY_BUDGET, else half the device's memory), at most
    `n_networks` where given."""
    if chunk:
        return chunk
    return chunk_size(entries_per_network * BYTES_PER_MATRIX_ENTRY, n_networks or 2**62, budget)


def map_chunks(fn: Callable[..., tuple], params: Any, arrays: tuple[np.ndarray, ...], chunk: int) -> tuple:
    """`fn(params, *arrays)` over chunks of `chunk` networks (the leading axis of params and arrays),
    concatenated; the last chunk is padded with copies of its last network so every call has one shape."""
    n = arrays[0].shape[0]
    if chunk >= n:
        return fn(params, *arrays)
    outs = []
    for start in range(0, n, chunk):
        idx = np.minimum(np.arange(start, start + chunk), n - 1)
        outs.append(fn(jax.tree.map(lambda a: a[idx], params), *(a[idx] for a in arrays)))
    return tuple(None if parts[0] is None else np.concatenate(parts)[:n] for parts in zip(*outs))
