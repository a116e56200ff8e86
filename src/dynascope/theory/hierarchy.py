"""A hierarchical item × feature dataset (a binary branching tree), whose singular modes are its levels.

Items are the 2^K leaves of a binary tree with K = `n_levels` levels of splits (Rogers & McClelland's
living things: plant/animal, then bird/fish and tree/flower, then canary/robin, ...). Every node of the
tree owns `features_per_node` features ("can grow", "can move", "has wings", ...), and an item has a
node's features exactly when it sits under that node. Items are presented one-hot, and the correlations
are summed over items, so Σ_xx = I (whitened, as the theory of `dynascope.theory.modes` assumes) and
Σ_yx = Fᵀ, the feature × item matrix.

The singular modes of Σ_yx follow the tree. With m = features_per_node, Σ_yxᵀΣ_yx = m Σ_l B_l, where B_l
is block-diagonal with the 2^l blocks of ones of the nodes at depth l (root l = 0, leaves l = K). The
constant item vector is an eigenvector with eigenvalue m (2^{K+1} − 1); the Haar vector of a node at depth
l < K (+1 on its left subtree, −1 on its right) is annihilated by every B_{l'} with l' ≤ l and scaled by
2^{K − l'} by every deeper one, so its eigenvalue is m (2^{K−l} − 1). The singular values are therefore

    s_root = sqrt(m (2^{K+1} − 1)),    s_l = sqrt(m (2^{K−l} − 1)) for the 2^l splits at depth l,

strongest for the coarsest distinction: a deep linear network learns the hierarchy coarse to fine, one
stage per level (Saxe, McClelland & Ganguli 2019).

References: Rogers & McClelland 2004, "Semantic Cognition: A Parallel Distributed Processing Approach"
(MIT Press); Saxe, McClelland & Ganguli 2019, "A mathematical theory of semantic development in deep neural
networks" (PNAS 116:11537).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dynascope.theory._checks import positive_int

__all__ = ["Hierarchy", "hierarchical_dataset"]


@dataclasses.dataclass(frozen=True)
class Hierarchy:
    """A tree-structured dataset (module docstring).

    features `[n_items, n_features]` in {0, 1}: item i has feature j.
    inputs `[n_items, n_items]`: the one-hot input of each item (the identity).
    sigma_xx `[n_items, n_items]`: Σ_xx = Σ_i x_i x_iᵀ = I.
    sigma_yx `[n_features, n_items]`: Σ_yx = Σ_i y_i x_iᵀ = featuresᵀ.
    feature_node `[n_features]`: the tree node owning each feature (heap numbering: root 0, children of
        node k are 2k + 1 and 2k + 2).
    feature_level `[n_features]`: that node's depth (0 root … n_levels leaves).
    mode_level `[n_items]`: for the singular values in descending order, the level each mode resolves:
        −1 for the root (what all items share), l for a split at depth l.
    singular_values `[n_items]`: the analytic singular values of Σ_yx, descending.
    n_levels, features_per_node: the settings.
    """

    features: np.ndarray
    inputs: np.ndarray
    sigma_xx: np.ndarray
    sigma_yx: np.ndarray
    feature_node: np.ndarray
    feature_level: np.ndarray
    mode_level: np.ndarray
    singular_values: np.ndarray
    n_levels: int
    features_per_node: int


def hierarchical_dataset(n_levels: int = 3, *, features_per_node: int = 1) -> Hierarchy:
    """The binary-tree dataset with `n_levels` levels of splits: 2^n_levels items, one feature group per node.

    Args:
        n_levels: K ≥ 1 levels of binary splits (K = 3: 8 items, 15 nodes).
        features_per_node: m ≥ 1 features owned by every node (all nodes alike, so the singular values scale
            by sqrt(m)).

    Returns:
        A `Hierarchy` with float64 arrays; shapes in its docstring.

    Reference: Saxe, McClelland & Ganguli 2019 (PNAS), the hierarchical generative model of section 2.
    """
    levels = positive_int("n_levels", n_levels)
    per_node = positive_int("features_per_node", features_per_node)
    n_items = 2**levels
    n_nodes = 2 ** (levels + 1) - 1
    node_level = np.floor(np.log2(np.arange(n_nodes) + 1)).astype(int)
    # Heap numbering: node k at depth l covers the 2^(K−l) consecutive leaves starting at its offset.
    has = np.zeros((n_items, n_nodes))
    for node in range(n_nodes):
        level = node_level[node]
        width = 2 ** (levels - level)
        start = (node - (2**level - 1)) * width
        has[start : start + width, node] = 1.0
    features = np.repeat(has, per_node, axis=1)
    feature_node = np.repeat(np.arange(n_nodes), per_node)
    split_levels = np.concatenate([[-1], np.repeat(np.arange(levels), 2 ** np.arange(levels))])
    values = np.where(
        split_levels < 0, per_node * (2.0 ** (levels + 1) - 1), per_node * (2.0 ** (levels - split_levels) - 1)
    )
    return Hierarchy(
        features=features,
        inputs=np.eye(n_items),
        sigma_xx=np.eye(n_items),
        sigma_yx=features.T.copy(),
        feature_node=feature_node,
        feature_level=node_level[feature_node],
        mode_level=split_levels,
        singular_values=np.sqrt(values),
        n_levels=levels,
        features_per_node=per_node,
    )
