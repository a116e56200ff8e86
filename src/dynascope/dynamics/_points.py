"""FixedPoints, the result of the fixed-point search: the unique fixed and slow points of one network."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from dynascope.dynamics.solvers import Result

_DATA_FIELDS = (
    "states", "inputs", "q", "speed", "eigvals", "n_unstable", "n_marginal", "is_stable", "flow_map_disagree",
    "converged", "status", "n_found", "outside_reachable", "newton_step",
)
_META_FIELDS = ("continuous", "alpha", "n_initial_states", "n_failed", "n_escaped")


@dataclasses.dataclass(frozen=True, eq=False)
class FixedPoints:
    """Unique fixed (and slow) points of one network, as NumPy arrays (a pytree; K points, S states).

    states [K, S]; inputs [K, I] (the constant input of each point); q [K] = ½‖F(s) − s‖² on the map
    (for flows, on the Euler step: ½alpha²‖f(s)‖²); speed [K] = sqrt(2q) = ‖F(s) − s‖ per step (for
    flows, ‖f(s)‖ = speed/alpha per unit of τ); eigvals [K, S]
    (complex, dominant first) of ∂F/∂s for maps and of the flow Jacobian ∂f/∂s = (∂F/∂s − I)/alpha
    for flows; n_unstable [K] growing and n_marginal [K] marginal modes, is_stable [K] every mode decays,
    all judged for the map that runs (for flows the Euler step, multipliers 1 + alpha·λ) by
    `linearization.mode_stability` within `stability_tolerance` (rounding plus the drift speed/(1 + ‖s‖)),
    and at a slow point the mode with multiplier nearest 1 is marginal (∂F/∂s − I is singular at a
    minimum of q with q > 0), so a slow point is never stable; flow_map_disagree [K] a flow's own verdict
    (Re λ) differs from its Euler map's for some mode (always False for maps); converged [K] = status ==
    CONVERGED; status [K] a `Status` code; n_found [K] how many
    seeds ended at the point (a rough basin size); outside_reachable [K] the point lies outside the
    region of `reachable_states` (False everywhere when none were given); newton_step [K] = ‖J_r⁻¹ r‖
    with J_r = ∂F/∂s − I, the distance to a root the linearization predicts (~0 at a located fixed
    point, large or inf at a slow point or on a nearly flat set). n_initial_states / n_failed / n_escaped count the
    initial states, those whose search failed (dropped unless `keep_failed`) and those stopped because
    they left the search region around the reachable states (see `FixedPointOptions.search_margin`).
    continuous / alpha: the network is the Euler step s + alpha·f(s) of a flow f (False: a map, alpha 1).
    """

    states: np.ndarray
    inputs: np.ndarray
    q: np.ndarray
    speed: np.ndarray
    eigvals: np.ndarray
    n_unstable: np.ndarray
    n_marginal: np.ndarray
    is_stable: np.ndarray
    flow_map_disagree: np.ndarray
    converged: np.ndarray
    status: np.ndarray
    n_found: np.ndarray
    outside_reachable: np.ndarray
    newton_step: np.ndarray
    continuous: bool = False
    alpha: float = 1.0
    n_initial_states: int = 0
    n_failed: int = 0
    n_escaped: int = 0

    def __len__(self) -> int:
        return int(self.states.shape[0])

    def select(self, which: Any) -> FixedPoints:
        """The points picked by a boolean mask `[K]` or integer indices."""
        return dataclasses.replace(self, **{f: getattr(self, f)[np.asarray(which)] for f in _DATA_FIELDS})

    def counts(self) -> dict[str, int]:
        """How many points are converged, slow, failed; how many of the converged ones are stable, saddles
        (some mode grows) or marginal (none grows, some is marginal), and how many points lie outside the
        reachable region or are judged differently by a flow and its Euler map. Slow and failed points
        are counted only as such, never as stable points or saddles."""
        converged = self.status == Result.CONVERGED
        return {
            "converged": int(np.sum(converged)),
            "slow": int(np.sum(self.status == Result.SLOW)),
            "failed": int(np.sum(self.status == Result.FAILED)),
            "stable": int(np.sum(converged & self.is_stable)),
            "saddles": int(np.sum(converged & (self.n_unstable > 0))),
            "marginal": int(np.sum(converged & ~self.is_stable & (self.n_unstable == 0))),
            "outside_reachable": int(np.sum(self.outside_reachable)),
            "flow_map_disagree": int(np.sum(self.flow_map_disagree)),
        }


jax.tree_util.register_dataclass(FixedPoints, data_fields=list(_DATA_FIELDS), meta_fields=list(_META_FIELDS))
