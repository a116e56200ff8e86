"""Dynamical-systems analysis of trained networks: fixed and slow points, linearization, skeleton graphs."""

from dynascope.dynamics.fixed_points import (
    FixedPointOptions,
    FixedPoints,
    Status,
    find_fixed_points,
    find_fixed_points_population,
)
from dynascope.dynamics.linearization import Linearization, linearize
from dynascope.dynamics.seeds import saddle_seeds, sample_initial_states
from dynascope.dynamics.skeleton import signature, skeleton, skeleton_population

__all__ = [
    "FixedPointOptions",
    "FixedPoints",
    "Linearization",
    "Status",
    "find_fixed_points",
    "find_fixed_points_population",
    "linearize",
    "saddle_seeds",
    "sample_initial_states",
    "signature",
    "skeleton",
    "skeleton_population",
]
