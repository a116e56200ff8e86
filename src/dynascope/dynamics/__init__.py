"""Dynamical-systems analysis of trained networks: fixed and slow points, linearization, skeleton graphs,
periodic orbits and limit cycles, continuation and bifurcations."""

from dynascope.dynamics._system import ModelLike
from dynascope.dynamics.continuation import (
    Bifurcation,
    Branch,
    continue_along_inputs,
    continue_fixed_points,
    interpolate_inputs,
)
from dynascope.dynamics.cycles import LimitCycle, PeriodicOrbits, find_limit_cycle, find_periodic_orbits
from dynascope.dynamics.fixed_points import (
    FixedPointOptions,
    FixedPoints,
    Status,
    find_fixed_points,
    find_fixed_points_population,  # deprecated alias, kept for one release; not in __all__
)
from dynascope.dynamics.linearization import Linearization, linearize
from dynascope.dynamics.seeds import saddle_seeds, sample_initial_states
from dynascope.dynamics.skeleton import signature, skeleton, skeleton_population  # the last: deprecated
from dynascope.dynamics.skeleton_graph import node_label, wl_hash
from dynascope.dynamics.solvers import Result

__all__ = [
    "Bifurcation",
    "Branch",
    "FixedPointOptions",
    "FixedPoints",
    "LimitCycle",
    "Linearization",
    "ModelLike",
    "PeriodicOrbits",
    "Result",
    "Status",
    "continue_along_inputs",
    "continue_fixed_points",
    "find_fixed_points",
    "find_limit_cycle",
    "find_periodic_orbits",
    "interpolate_inputs",
    "linearize",
    "node_label",
    "saddle_seeds",
    "sample_initial_states",
    "signature",
    "skeleton",
    "wl_hash",
]
