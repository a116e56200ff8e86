"""All-pairs distance matrices over a population of networks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope._compile import Program
from dynascope._memory import chunk_size, parse_bytes
from dynascope.compare._checks import check_finite, check_population_finite
from dynascope.errors import ConfigError, ShapeError


def stack_padded(Xs: Sequence[jax.Array | np.ndarray] | jax.Array | np.ndarray) -> jax.Array:
    """Stack a population into one array `[n, ..., max_units]`, zero-padding the last (units) axis.

    `Xs`: an array `[n, ..., units]`, or a sequence of n arrays whose shapes agree except in the last
    axis. CCA, SVCCA, CKA, the shape metrics and Euclidean RSA ignore zero-padded units; correlation
    RSA and DSA (through its operator rank) do not.
    """
    if isinstance(Xs, (jax.Array, np.ndarray)):
        if Xs.ndim < 2:
            raise ShapeError(f"Xs must be a population [n, ..., units], got shape {tuple(Xs.shape)}.")
        return jnp.asarray(Xs)
    arrays = [jnp.asarray(x) for x in Xs]
    if not arrays:
        raise ShapeError("Xs is empty; pass at least one network's states.")
    lead = {a.shape[:-1] for a in arrays}
    if len(lead) != 1 or arrays[0].ndim < 1:
        raise ShapeError(
            f"every item of Xs must have the same shape except the last (units) axis, got shapes "
            f"{sorted({tuple(a.shape) for a in arrays})}; record all networks on the same trials."
        )
    width = max(a.shape[-1] for a in arrays)
    dtype = max((a.dtype for a in arrays), key=lambda d: d.itemsize)
    pad = [(0, 0)] * (arrays[0].ndim - 1)
    return jnp.stack([jnp.pad(a.astype(dtype), pad + [(0, width - a.shape[-1])]) for a in arrays])


def _take(tree: Any, i: jax.Array) -> Any:
    return jax.tree_util.tree_map(lambda z: z[i], tree)


def chunked_map(f: Callable, xs: Any, chunk: int) -> Any:
    """`jax.vmap(f)(xs)` evaluated `chunk` items at a time in sequence.

    The items are padded (with copies of the first) to a whole number of chunks: `jax.lax.map`'s own
    remainder handling would run a second, independent vmapped program beside the loop, and two batched
    LAPACK calls side by side can deadlock XLA:CPU's thread pool (see `basis_pair` in cca.py).
    """
    n = jax.tree_util.tree_leaves(xs)[0].shape[0]
    n_chunks = -(-n // chunk)
    index = np.concatenate([np.arange(n), np.zeros(n_chunks * chunk - n, dtype=np.int64)])
    blocks = jax.tree_util.tree_map(lambda z: z[index].reshape(n_chunks, chunk, *z.shape[1:]), xs)
    out = jax.lax.map(jax.vmap(f), blocks)
    return jax.tree_util.tree_map(lambda z: z.reshape(n_chunks * chunk, *z.shape[2:])[:n], out)


def _pair_values(
    metric: Callable, prepare: Callable | None, chunk: int, xs: jax.Array, pairs: jax.Array
) -> jax.Array:
    zs = xs if prepare is None else chunked_map(prepare, xs, chunk)
    return chunked_map(lambda ij: metric(_take(zs, ij[0]), _take(zs, ij[1])), pairs, chunk)


_pair_values_program = Program(_pair_values, static_argnums=(0, 1, 2))


def _compiled_pair_values(
    metric: Callable, prepare: Callable | None, chunk: int, xs: jax.Array, pairs: jax.Array
) -> jax.Array:
    """`_pair_values` compiled by its work (`dynascope._compile`): pairs × rows × units², the order of a
    decomposition of each pair's two `[rows, units]` items; a comparison of a dozen networks builds quickly."""
    rows = int(np.prod(xs.shape[1:-1])) if xs.ndim > 2 else 1
    work = float(pairs.shape[0]) * rows * float(xs.shape[-1]) ** 2
    return _pair_values_program(work, metric, prepare, chunk, xs, pairs)


#: Pairs per chunk when the budget allows more: enough to fill a GPU's batched kernels; larger chunks only
#: take more memory.
MAX_PAIRS_PER_CHUNK = 64
#: Bytes one pair may take, in units of the bytes of its two (prepared) items: the metric's decompositions
#: of the two (SVD, QR, eigen-decompositions) keep a few copies and their workspace.
PAIR_COPIES = 16


def pair_chunk(prepare: Callable | None, xs: jax.Array, n_pairs: int, budget: int | str | None = None) -> int:
    """Pairs per chunk for `n_pairs` pairs of the items of `xs [n, ...]`: as many as fit in the memory budget
    (`dynascope._memory.chunk_size`), each pair counted as PAIR_COPIES × the bytes of its two items after
    `prepare` (its output's shapes, traced without computing), at most MAX_PAIRS_PER_CHUNK."""
    one = jax.ShapeDtypeStruct(xs.shape[1:], xs.dtype)
    item = one if prepare is None else jax.eval_shape(prepare, one)
    item_bytes = sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree_util.tree_leaves(item))
    return chunk_size(PAIR_COPIES * 2 * item_bytes, n_pairs, budget, most=MAX_PAIRS_PER_CHUNK)


def _check_chunk(chunk: int | None, memory_budget: int | str | None) -> None:
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
        raise ConfigError(
            f"chunk must be a positive integer number of pairs, got {chunk!r} (or None: as many as the memory "
            "budget allows)."
        )
    if memory_budget is not None:
        parse_bytes(memory_budget, name="memory_budget")


def pairwise_distances(
    metric: Callable[[Any, Any], jax.Array],
    Xs: Sequence[jax.Array | np.ndarray] | jax.Array | np.ndarray,
    *,
    chunk: int | None = None,
    prepare: Callable[[jax.Array], Any] | None = None,
    memory_budget: int | str | None = None,
) -> jax.Array:
    """Symmetric matrix `[n, n]` of `metric` between every pair of networks, zero on the diagonal.

    All n(n−1)/2 pairs i < j run in one compiled program, `chunk` pairs at a time under vmap in a
    sequential loop, so memory stays bounded and the work fills a GPU. The distances do not depend on
    `chunk` (to float rounding).

    Args:
        metric: a jit- and vmap-friendly function of two items returning a scalar, e.g. `cca_distance`
            or `functools.partial(shape_distance, alpha=0.5)`.
        Xs: the population, `[n, samples, units]` or `[n, conditions, time, units]`, or a sequence of
            arrays with different unit counts (zero-padded by `stack_padded`).
        chunk: pairs evaluated together; None (default): as many as fit in the memory budget, at most
            MAX_PAIRS_PER_CHUNK (`pair_chunk`).
        prepare: optional per-network step run once (vmapped) before the pairwise comparison; `metric`
            then receives its outputs. Geometry: `prepare=principal_basis` decomposes each network once
            for CCA, SVCCA, CKA, shape and Procrustes distances. DSA: `prepare=partial(dmd_operator,
            n_delays=4, rank=8)` with `metric=similarity_transform_distance` fits each operator once
            instead of n − 1 times.
        memory_budget: the bytes the pairs of a chunk may take (an int or a size such as '2GB'); None:
            $DYNASCOPE_MEMORY_BUDGET, else half the device's memory (`dynascope._memory`).

    Raises DataError naming the networks whose states hold NaN or ±inf (leave diverged networks out).
    """
    if not callable(metric) or (prepare is not None and not callable(prepare)):
        raise ConfigError(
            "metric (and prepare, if given) must be callables, e.g. dynascope.compare.cca_distance."
        )
    _check_chunk(chunk, memory_budget)
    xs = stack_padded(Xs)
    check_population_finite(xs)
    n = xs.shape[0]
    iu, ju = np.triu_indices(n, k=1)
    if iu.size == 0:
        return jnp.zeros((n, n), dtype=xs.dtype if jnp.issubdtype(xs.dtype, jnp.floating) else jnp.float32)
    pairs = jnp.asarray(np.stack([iu, ju], axis=1).astype(np.int32))
    chunk = chunk or pair_chunk(prepare, xs, iu.size, memory_budget)
    values = _compiled_pair_values(metric, prepare, chunk, xs, pairs)
    d = jnp.zeros((n, n), dtype=values.dtype).at[iu, ju].set(values)
    return d + d.T


def pair_values(
    metric: Callable[[Any, Any], jax.Array],
    Xs: Sequence[jax.Array | np.ndarray] | jax.Array | np.ndarray,
    pairs: np.ndarray,
    *,
    chunk: int | None = None,
    prepare: Callable[[jax.Array], Any] | None = None,
    memory_budget: int | str | None = None,
) -> jax.Array:
    """`metric(X_i, X_j)` for each row (i, j) of `pairs [m, 2]`, `[m]`: a block of the pairs
    `pairwise_distances` evaluates (a study cut into blocks on a cluster), equal to its entries to float
    rounding. `Xs` is the whole population (every item is prepared; padded to its widest network);
    `metric`, `chunk`, `prepare` and `memory_budget` as in `pairwise_distances`."""
    _check_chunk(chunk, memory_budget)
    xs = stack_padded(Xs)
    pairs = np.asarray(pairs).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= xs.shape[0]):
        raise ShapeError(f"pairs must index the {xs.shape[0]} items of Xs, got indices {pairs.min()} … {pairs.max()}.")
    chunk = chunk or pair_chunk(prepare, xs, max(len(pairs), 1), memory_budget)
    return _compiled_pair_values(metric, prepare, chunk, xs, jnp.asarray(pairs.astype(np.int32)))


def distances_to(
    metric: Callable[[Any, Any], jax.Array],
    reference: jax.Array | np.ndarray,
    Xs: Sequence[jax.Array | np.ndarray] | jax.Array | np.ndarray,
    *,
    chunk: int | None = None,
    prepare: Callable[[jax.Array], Any] | None = None,
    memory_budget: int | str | None = None,
) -> jax.Array:
    """`metric(reference, X_i)` for every network i of a population, `[n]`, in one compiled program.

    For comparing a model population with recorded data the way networks are compared with each other.

    Args:
        metric: distance `f(a, b) -> scalar` that runs inside JAX, e.g. `cca_distance`.
        reference: e.g. `interop.load_recordings(...).trajectories` `[conditions, time, units_ref]`.
        Xs: the networks' states on the same conditions, `[n, conditions, time, units]` or a sequence
            of `[conditions, time, units_i]` with different unit counts (zero-padded).
        chunk: pairs computed per vmapped batch (None: sized from `memory_budget`), as in
            `pairwise_distances`.
        prepare: per-item transform applied once before the metric (e.g. `principal_basis`).
        memory_budget: device memory the chunking may use (bytes or a string like "2GB"; None: the
            default budget), as in `pairwise_distances`.

    Returns:
        `[n]` distances.

    Raises:
        ConfigError: `metric`/`prepare` not callable or a bad `chunk`/`memory_budget`; ShapeError:
        `Xs` empty or `reference` not agreeing with the states in every axis but the last;
        DataError: NaN/inf in `reference` or the states.
    """
    if not callable(metric) or (prepare is not None and not callable(prepare)):
        raise ConfigError(
            "metric (and prepare, if given) must be callables, e.g. dynascope.compare.cca_distance."
        )
    _check_chunk(chunk, memory_budget)
    items = list(Xs) if not isinstance(Xs, (jax.Array, np.ndarray)) else list(jnp.asarray(Xs))
    if not items:
        raise ShapeError("Xs is empty; pass at least one network's states.")
    ref = jnp.asarray(reference)
    if ref.shape[:-1] != jnp.shape(items[0])[:-1]:
        raise ShapeError(
            f"reference has shape {tuple(ref.shape)} but the networks' states have {tuple(jnp.shape(items[0]))}; "
            f"they must agree in every axis but the last (units): run the networks on the recorded conditions "
            f"and time bins."
        )
    check_finite(ref, "reference")
    xs = stack_padded([ref, *items])
    check_population_finite(xs[1:])
    pairs = jnp.asarray(np.stack([np.zeros(len(items)), np.arange(1, len(items) + 1)], axis=1).astype(np.int32))
    chunk = chunk or pair_chunk(prepare, xs, len(items), memory_budget)
    return _compiled_pair_values(metric, prepare, chunk, xs, pairs)


def pairwise_distances_loop(metric: Callable[[Any, Any], float], items: Sequence[Any]) -> np.ndarray:
    """Symmetric NumPy matrix `[n, n]` of `metric` over every pair i < j, computed in a plain loop.

    For metrics that do not run inside JAX: skeleton graphs (`topology_distance`) or host-side ones
    (`eigenvalue_wasserstein`). The diagonal is zero.

    Args:
        metric: distance `f(a, b) -> float` on two items.
        items: the n items compared (any objects `metric` accepts).

    Returns:
        `np.ndarray [n, n]` float64.

    Raises:
        ConfigError: `metric` is not callable.
    """
    if not callable(metric):
        raise ConfigError("metric must be a callable, e.g. dynascope.compare.topology_distance.")
    items = list(items)
    n = len(items)
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            d[i, j] = d[j, i] = float(metric(items[i], items[j]))
    return d
