"""What a distance matrix over a population says: embedding, clusters, and how well it separates labels.

Pure functions of a symmetric distance matrix `[n, n]` and per-network labels `[n]` (e.g. the
architecture). They are what `study` reports for every metric: Maheswaranathan et al. 2019 read
universality off exactly these — geometry (CCA) separates architectures, topology does not.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

import numpy as np

from dynascope.errors import ConfigError, ShapeError

# Names of the quantities a population study reports per metric (the `quantity` column of a run's `summary`
# table), defined once for the study that writes them and the CLI, report and benchmarks that read them.
#: `nearest_neighbour_accuracy` of the architecture labels.
NN_ACCURACY = "nearest-neighbour architecture accuracy"
#: `chance_accuracy` of the architecture labels.
CHANCE_ACCURACY = "chance accuracy"
#: `within_between`: the mean distance within each architecture (and over all of them), and between them.
MEAN_WITHIN = "mean distance within architecture"
MEAN_BETWEEN = "mean distance between architectures"
#: The ratio of the two: well above 1 when the metric separates architectures.
BETWEEN_WITHIN = "between / within"
#: `agreement` (adjusted Rand index) of the metric's clusters with the architectures.
CLUSTER_AGREEMENT = "cluster-architecture agreement (ARI)"
#: For a metric that classifies networks (topology): `modal_share` per architecture and overall, and the
#: number of distinct classes.
MODAL_SHARE = "share with the modal topology"
DISTINCT_CLASSES = "distinct topologies"


def check_distances(D: np.ndarray) -> np.ndarray:
    """`D` as a float64 `[n, n]` array with zero diagonal; ShapeError unless square and symmetric.

    Non-finite entries (a pair a metric could not score) are allowed here and handled by each function.
    """
    d = np.asarray(D, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ShapeError(f"D must be a square distance matrix [n, n], got shape {d.shape}.")
    both = np.isfinite(d) & np.isfinite(d.T)
    if not np.allclose(d[both], d.T[both], rtol=1e-6, atol=1e-9):
        raise ShapeError("D must be symmetric (D[i, j] == D[j, i]); symmetrise it with (D + D.T) / 2.")
    d = d.copy()
    np.fill_diagonal(d, 0.0)
    return d


def _check_labels(labels: Sequence[str], n: int) -> np.ndarray:
    lab = np.asarray([str(v) for v in labels])
    if lab.shape != (n,):
        raise ShapeError(f"labels must hold one label per network ({n}), got {lab.shape[0]}.")
    return lab


def _filled(d: np.ndarray) -> np.ndarray:
    """Non-finite distances replaced by the largest finite one (1 if none): 'as far as anything'."""
    finite = d[np.isfinite(d)]
    top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return np.where(np.isfinite(d), d, top)


def nearest_neighbour_accuracy(D: np.ndarray, labels: Sequence[str]) -> float:
    """Leave-one-out 1-nearest-neighbour accuracy of predicting the labels from the distances.

    Each network takes the label of its closest other network; pairs with a non-finite distance are never
    nearest. Ties are split evenly — the expected accuracy of breaking them at random: a network whose
    nearest neighbours are k others at one distance scores the fraction of those k sharing its label.
    (Breaking ties by order would bias metrics with many exact ties, such as topology, where every network
    with the modal skeleton is at distance 0 from all the others: it could push the score below chance.)
    A network with no finite distance to any other has no nearest neighbour and scores 0. 1 means every
    network's nearest neighbours share its label.

    Args:
        D: distance matrix `[n, n]`, square and symmetric.
        labels: a label per network `[n]`.

    Returns:
        The accuracy in [0, 1], a Python float.

    Raises:
        ShapeError: `D` not square or not symmetric, `labels` not one per network, or fewer than 2
        networks.
    """
    d = check_distances(D)
    lab = _check_labels(labels, d.shape[0])
    if d.shape[0] < 2:
        raise ShapeError("nearest-neighbour accuracy needs at least 2 networks.")
    d = np.where(np.isfinite(d), d, np.inf)
    np.fill_diagonal(d, np.inf)
    nearest = np.isfinite(d) & (d == d.min(axis=1, keepdims=True))
    same = lab[:, None] == lab[None, :]
    return float(np.mean((nearest & same).sum(axis=1) / np.maximum(nearest.sum(axis=1), 1)))


def chance_accuracy(labels: Sequence[str]) -> float:
    """Accuracy of always guessing the most common label: the floor that `nearest_neighbour_accuracy`
    must beat for a metric to separate the labels at all."""
    counts = collections.Counter(str(v) for v in labels)
    return max(counts.values()) / sum(counts.values()) if counts else float("nan")


def within_between(D: np.ndarray, labels: Sequence[str]) -> tuple[dict[str, float], float, float]:
    """Mean distance within each label, over all within-label pairs, and between labels.

    Non-finite distances are left out.

    Args:
        D: distance matrix `[n, n]`, square and symmetric.
        labels: a label per network `[n]`.

    Returns:
        ({label: mean over its pairs i < j}, mean over every within-label pair, mean over every
        between-label pair); NaN where there are no such pairs.

    Raises:
        ShapeError: `D` not square or not symmetric, or `labels` not one per network.
    """
    d = check_distances(D)
    lab = _check_labels(labels, d.shape[0])
    iu, ju = np.triu_indices(d.shape[0], k=1)
    vals = d[iu, ju]
    ok = np.isfinite(vals)
    same = lab[iu] == lab[ju]

    def mean(mask: np.ndarray) -> float:
        m = mask & ok
        return float(vals[m].mean()) if m.any() else float("nan")

    per = {a: mean(same & (lab[iu] == a)) for a in dict.fromkeys(lab)}
    return per, mean(same), mean(~same)


def embed(D: np.ndarray, n_components: int = 2) -> np.ndarray:
    """Classical (Torgerson) MDS coordinates whose Euclidean distances best match `D`.

    Deterministic (an eigendecomposition, no random start), so the same catalog gives the same picture;
    each axis's sign is fixed so that its largest-magnitude coordinate is positive. Non-finite
    distances count as the largest finite one.

    Args:
        D: distance matrix `[n, n]`, square and symmetric.
        n_components: coordinates per network; at most n − 1 are nonzero, the rest are 0.

    Returns:
        `np.ndarray [n, n_components]` float64 (all zeros when n < 2).

    Raises:
        ShapeError: `D` not square or not symmetric.

    Reference: Torgerson 1952; scikit-learn's ClassicalMDS.
    """
    from sklearn.manifold import ClassicalMDS

    d = _filled(check_distances(D))
    n = d.shape[0]
    out = np.zeros((n, n_components))
    if n < 2:
        return out
    k = min(n_components, n - 1)
    xy = ClassicalMDS(n_components=k, metric="precomputed").fit_transform(d)
    xy = np.nan_to_num(np.asarray(xy, dtype=np.float64))
    signs = np.sign(xy[np.argmax(np.abs(xy), axis=0), np.arange(k)])
    out[:, :k] = xy * np.where(signs == 0, 1.0, signs)
    return out


def cluster(D: np.ndarray, n_clusters: int) -> np.ndarray:
    """Agglomerative clusters (average linkage) of the networks from their distance matrix.

    Non-finite distances count as the largest finite one.

    Args:
        D: distance matrix `[n, n]`, square and symmetric.
        n_clusters: how many clusters (≥ 1; capped at n).

    Returns:
        A label per network `np.ndarray [n]` (int64), numbered 0, 1, ... by first appearance.

    Raises:
        ShapeError: `D` not square or not symmetric; ConfigError: `n_clusters` not a positive integer.

    Reference: Sokal & Michener 1958 (UPGMA); scikit-learn's AgglomerativeClustering.
    """
    from sklearn.cluster import AgglomerativeClustering

    d = _filled(check_distances(D))
    n = d.shape[0]
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1:
        raise ConfigError(f"n_clusters must be a positive integer, got {n_clusters!r}.")
    k = min(int(n_clusters), n)
    if k <= 1 or n < 2:
        return np.zeros(n, dtype=np.int64)
    raw = AgglomerativeClustering(n_clusters=k, metric="precomputed", linkage="average").fit_predict(d)
    first: dict[int, int] = {}
    return np.array([first.setdefault(int(c), len(first)) for c in raw], dtype=np.int64)


def agreement(clusters: Sequence[int], labels: Sequence[str]) -> float:
    """Adjusted Rand index between `clusters` and `labels` (1: the same partition; ~0: chance).

    Args:
        clusters: a cluster number per network `[n]`, e.g. from `cluster`.
        labels: a label per network `[n]` (compared as strings), e.g. the architecture.

    Returns:
        The index, a Python float ≤ 1.

    Reference: Hubert & Arabie 1985; scikit-learn's adjusted_rand_score.
    """
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score([str(v) for v in labels], list(clusters)))


def modal_share(keys: Sequence[str], labels: Sequence[str]) -> tuple[str, dict[str, float], float]:
    """The most common key (e.g. a skeleton's topology class) and the share of networks having it.

    Ties go to the key seen first.

    Args:
        keys: a key per network `[n]` (compared as strings).
        labels: a label per network `[n]`, e.g. the architecture.

    Returns:
        (modal key over the whole population, {label: share of that label's networks with the modal
        key}, share over all networks).

    Raises:
        ShapeError: no network, or `labels` not one per key.
    """
    keys = [str(k) for k in keys]
    lab = _check_labels(labels, len(keys))
    if not keys:
        raise ShapeError("modal_share needs at least one network.")
    counts = collections.Counter(keys)
    top = max(counts.values())
    mode = next(k for k in keys if counts[k] == top)
    has = np.array([k == mode for k in keys])
    per = {a: float(has[lab == a].mean()) for a in dict.fromkeys(lab)}
    return mode, per, float(has.mean())
