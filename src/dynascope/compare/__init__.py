"""Compare networks: representational geometry (CCA, SVCCA, CKA, shape metrics, RSA), dynamics (DSA)
and topology (skeleton graphs), one pair at a time or as all-pairs matrices over a population.

Array metrics take states `[conditions, time, units]` or `[samples, units]`, return a JAX scalar and
jit/vmap on CPU or GPU. Maheswaranathan et al. 2019 found geometry separates architectures while
fixed-point topology is universal; these functions let that comparison be repeated at scale.

Every metric refuses empty or non-finite input (ShapeError / DataError naming the argument) and the
geometry metrics warn with `FewSamplesWarning` when a set has fewer than `MIN_SAMPLES_PER_UNIT` (2)
samples per unit, where even independent data score as similar (the rule is explained in
`dynascope.compare._checks`).
"""

from dynascope.compare._checks import MIN_SAMPLES_PER_UNIT, FewSamplesWarning
from dynascope.compare.cca import (
    Basis,
    cca_correlations,
    cca_distance,
    cca_similarity,
    principal_basis,
    svcca_distance,
    svcca_similarity,
)
from dynascope.compare.cka import cka_distance, cka_similarity
from dynascope.compare.dsa import (
    delay_embed,
    dmd_operator,
    dsa_distance,
    eigenvalue_wasserstein,
    optimal_similarity_transform,
    similarity_transform_distance,
)
from dynascope.compare.pairwise import distances_to, pairwise_distances, pairwise_distances_loop, stack_padded
from dynascope.compare.rsa import rdm, rsa_distance, rsa_similarity
from dynascope.compare.shape import procrustes_distance, procrustes_rotation, shape_distance
from dynascope.compare.population import (
    agreement,
    chance_accuracy,
    cluster,
    embed,
    modal_share,
    nearest_neighbour_accuracy,
    within_between,
)
from dynascope.compare.topology import index_counts, isomorphism_classes, signature_distance, topology_class, topology_distance

__all__ = [
    "agreement",
    "Basis",
    "cca_correlations",
    "cca_distance",
    "cca_similarity",
    "chance_accuracy",
    "cka_distance",
    "cka_similarity",
    "cluster",
    "delay_embed",
    "distances_to",
    "dmd_operator",
    "dsa_distance",
    "eigenvalue_wasserstein",
    "embed",
    "FewSamplesWarning",
    "index_counts",
    "isomorphism_classes",
    "MIN_SAMPLES_PER_UNIT",
    "modal_share",
    "nearest_neighbour_accuracy",
    "optimal_similarity_transform",
    "pairwise_distances",
    "pairwise_distances_loop",
    "principal_basis",
    "procrustes_distance",
    "procrustes_rotation",
    "rdm",
    "rsa_distance",
    "rsa_similarity",
    "shape_distance",
    "signature_distance",
    "similarity_transform_distance",
    "stack_padded",
    "svcca_distance",
    "svcca_similarity",
    "topology_class",
    "topology_distance",
    "within_between",
]
