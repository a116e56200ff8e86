"""The one enumeration of outcomes, shared by every solver and every analysis built on them.

Inside compiled code a result is an integer array of these codes, one per point (diffrax's and
optimistix's RESULTS); on the host each code has a name, a message, and the lower-case `label` under which
results expose it (`FixedPoints.status` holds the codes, `LimitCycle.status` and `Branch.status` the labels).
"""

from __future__ import annotations

import enum
from typing import Any

import jax.numpy as jnp


class Result(enum.IntEnum):
    """Outcome of a solve, per point; `message` says what it means, `label` is its public spelling."""

    message: str

    def __new__(cls, value: int, message: str) -> Result:
        member = int.__new__(cls, value)
        member._value_ = value
        member.message = message
        return member

    # Fixed points (codes 0-2 are stored in run catalogs: never renumber them).
    CONVERGED = 0, "converged: the solver's own test was met (for a fixed point: q < q_tol, located to dedup_tol)"
    SLOW = 1, "a local minimum of q = ½‖F(s) − s‖² that is not a fixed point: a slow point"
    FAILED = 2, "neither a fixed point nor a minimum of q within the iteration budget (or not finite)"
    # Per-point solver kernels.
    MAX_STEPS = 3, "the iteration budget ran out before the solver's test was met"
    STALLED = 4, "no step makes progress any more: the damping reached its limit"
    INTERRUPTED = 5, "stopped from outside before the solver's test was met (e.g. it left its search region)"
    # Periodic orbits and limit cycles.
    FIXED_POINT = 6, "the trajectory settled on a fixed point, or is still converging to one: no cycle"
    DIVERGED = 7, "the iterate became non-finite or unbounded"
    NO_RETURN = 8, "the trajectory did not return to its Poincaré section within max_period steps"
    NOT_CONVERGED = 9, "Newton did not reach its tolerance, or reached no closed orbit"
    # Continuation branches.
    COMPLETED = 10, "the branch left the parameter interval"
    MAX_POINTS = 11, "the branch reached max_points"
    STEP_TOO_SMALL = 12, "the corrector failed even with the smallest step"

    @property
    def label(self) -> str:
        """The lower-case name results expose ('converged', 'no_return', 'step_too_small', ...)."""
        return self.name.lower()

    @staticmethod
    def where(pred: Any, if_true: Result | Any, if_false: Result | Any) -> Any:
        """Elementwise `if_true` where `pred`, else `if_false`, as int32 codes (inside compiled code)."""
        return jnp.where(pred, jnp.asarray(if_true, jnp.int32), jnp.asarray(if_false, jnp.int32))
