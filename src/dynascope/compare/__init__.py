"""Compare networks: representational geometry (CCA, SVCCA, CKA, shape metrics, RSA), dynamics (DSA)
and topology (skeleton graphs), one pair at a time or as all-pairs matrices over a population.

Every metric a population study computes is registered by its own module with `register_metric` (what it
measures, its unit, what it is invariant to, which input it takes and how to prepare it); `metrics()` lists
them and `get_metric(name)` returns one. A new metric is one file that registers itself.

Array metrics take states `[conditions, time, units]` or `[samples, units]`, return a JAX scalar and
jit/vmap on CPU or GPU. Maheswaranathan et al. 2019 found geometry separates architectures while
fixed-point topology is universal; these functions let that comparison be repeated at scale.

Every metric refuses empty or non-finite input (ShapeError / DataError naming the argument) and the
geometry metrics warn with `FewSamplesWarning` when a set has fewer than `MIN_SAMPLES_PER_UNIT` (2)
samples per unit, where even independent data score as similar (the rule is explained in
`dynascope.compare._checks`).
"""

from dynascope.compare._checks import MIN_SAMPLES_PER_UNIT, FewSamplesWarning
from dynascope.compare._registry import (
    DYNAMICS,
    GEOMETRY,
    KINDS,
    MIN_UNITS,
    SIGNATURES,
    TAKES,
    TOPOLOGY,
    TRAJECTORIES,
    Metric,
    get_metric,
    metric_names,
    metrics,
    register_metric,
)
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
    operator_spectrum,
    optimal_similarity_transform,
    population_operator,
    similarity_transform_distance,
    spectrum_distance,
)
from dynascope.compare.pairwise import distances_to, pairwise_distances, pairwise_distances_loop, stack_padded
# Imported in the order the metrics are shown: a module registers its metrics when imported.
from dynascope.compare.shape import procrustes_distance, procrustes_rotation, shape_distance
from dynascope.compare.rsa import rdm, rsa_distance, rsa_similarity
from dynascope.compare.population import (
    BETWEEN_WITHIN,
    CHANCE_ACCURACY,
    CLUSTER_AGREEMENT,
    DISTINCT_CLASSES,
    MEAN_BETWEEN,
    MEAN_WITHIN,
    MODAL_SHARE,
    NN_ACCURACY,
    agreement,
    chance_accuracy,
    cluster,
    embed,
    modal_share,
    nearest_neighbour_accuracy,
    within_between,
)
from dynascope.compare.modularity import modularity
from dynascope.compare.lesion import run_silenced, silence_mask
from dynascope.compare.specialization import (
    Specialization,
    decodability,
    latent_correlation,
    lesion_damage,
    rank_agreement,
    specialization,
    specialization_measures,
)
from dynascope.compare.energy import (
    fan_out,
    firing_rate,
    macs_per_step,
    mean_firing_rate,
    spike_operations,
    synaptic_operations,
)
from dynascope.compare.topology import (
    index_counts,
    isomorphism_classes,
    signature_distance,
    signatures_class,
    signatures_distance,
    topology_class,
    topology_distance,
    wl_hash,
)

__all__ = [
    "modularity",
    "run_silenced",
    "silence_mask",
    "Specialization",
    "decodability",
    "latent_correlation",
    "lesion_damage",
    "rank_agreement",
    "specialization",
    "specialization_measures",
    "fan_out",
    "firing_rate",
    "macs_per_step",
    "mean_firing_rate",
    "spike_operations",
    "synaptic_operations",
    "agreement",
    "Basis",
    "BETWEEN_WITHIN",
    "cca_correlations",
    "cca_distance",
    "cca_similarity",
    "CHANCE_ACCURACY",
    "chance_accuracy",
    "cka_distance",
    "cka_similarity",
    "cluster",
    "CLUSTER_AGREEMENT",
    "delay_embed",
    "distances_to",
    "DISTINCT_CLASSES",
    "dmd_operator",
    "dsa_distance",
    "DYNAMICS",
    "eigenvalue_wasserstein",
    "embed",
    "FewSamplesWarning",
    "GEOMETRY",
    "get_metric",
    "index_counts",
    "isomorphism_classes",
    "KINDS",
    "MEAN_BETWEEN",
    "MEAN_WITHIN",
    "Metric",
    "metric_names",
    "metrics",
    "MIN_SAMPLES_PER_UNIT",
    "MIN_UNITS",
    "MODAL_SHARE",
    "modal_share",
    "nearest_neighbour_accuracy",
    "NN_ACCURACY",
    "operator_spectrum",
    "optimal_similarity_transform",
    "pairwise_distances",
    "pairwise_distances_loop",
    "population_operator",
    "principal_basis",
    "procrustes_distance",
    "procrustes_rotation",
    "rdm",
    "register_metric",
    "rsa_distance",
    "rsa_similarity",
    "shape_distance",
    "SIGNATURES",
    "signature_distance",
    "signatures_class",
    "signatures_distance",
    "similarity_transform_distance",
    "spectrum_distance",
    "stack_padded",
    "svcca_distance",
    "svcca_similarity",
    "TAKES",
    "TOPOLOGY",
    "topology_class",
    "topology_distance",
    "TRAJECTORIES",
    "within_between",
    "wl_hash",
]
