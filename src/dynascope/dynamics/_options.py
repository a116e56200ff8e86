"""Settings of the fixed-point search: a small frozen dataclass instead of dozens of keywords."""

from __future__ import annotations

import dataclasses
from typing import Any

from dynascope._memory import parse_bytes
from dynascope.errors import ConfigError

#: Tolerances used when an option is left at None: (with float64 polish, without it).
DEFAULT_TOLERANCES = {"q_tol": (1e-12, 1e-10), "slow_tol": (1e-6, 1e-3), "dedup_tol": (1e-6, 1e-3)}


@dataclasses.dataclass(frozen=True)
class FixedPointOptions:
    """Settings of `find_fixed_points`; every field can also be passed to it as a keyword.

    descent: phase 1 in the working precision: 'newton' (the default: damped Newton on F(s) − s, then, for
        the points that reach no root, damped Newton on q) or 'adam' (Adam with a cosine-decayed
        `learning_rate`, FixedPointFinder's method; give it ~2000 steps).
    descent_steps, descent_tol: phase 1 iterations (of each of the two Newton stages); a point stops once
        q < descent_tol.
    newton_steps: phase 2 iterations of each stage (a point stops when q cannot fall further).
    float64: run phase 2 and the linearization in float64 (inside `jax.enable_x64`).
    q_tol: converged iff q < q_tol (default 1e-12 with float64, 1e-10 without), q measured on the
        map F (for flows: on the Euler step, q = ½alpha²‖f‖²), AND the Newton correction ‖J_r⁻¹(F(s) − s)‖
        is at most dedup_tol·(1 + ‖s‖) (the root is located to that tolerance), unless q is zero to
        working precision. Where F(s) ≈ s over a region (saturated gates) a small q alone proves nothing.
    slow_tol: a non-converged point is slow iff it is a minimum of q located to slow_tol·(1 + ‖s‖): ∇²q is
        positive definite and the Newton step on q, ‖(∇²q)⁻¹∇q‖, is at most that (default 1e-6 / 1e-3) —
        such as the ghost a saddle-node bifurcation leaves. Scale-free: a region where F(s) ≈ s, where ‖∇q‖
        is small everywhere, is not called slow.
    dedup_tol: two points are one iff ‖a − b‖ ≤ dedup_tol·(1 + max(‖a‖, ‖b‖)) (default 1e-6 / 1e-3), or, if
        either is located less precisely than that, iff q stays below twice the larger of their q on the
        segment between them (one valley of q: a ghost, a degenerate root, a nearly flat set).
    keep_failed: also return the end points of failed searches (status FAILED), de-duplicated.
    saddle_seeds_per_pair: > 0 (default 2) runs a second round seeded at that many points between each
        pair of the stable points found (`saddle_seeds`), which finds the saddles trajectory seeds miss
        (on trained 3-bit flip-flops trajectory seeds alone find the 8 memories but miss saddles — half of
        the 12 index-1 saddles of a torch GRU, all 19 saddles of a vanilla network — while 2 seeds per
        pair, at the thirds of each segment, find all 27 points; the round reuses the first round's
        compiled search, so a cold first call costs little more); 0 runs one round.
    saddle_neighbours: in that round pair each stable point with this many nearest ones (None: all).
    reachable_margin: a point is `outside_reachable` when it lies outside the box of `reachable_states`
        widened by this fraction of the box's width on every side.
    search_margin: with `reachable_states`, a seed is stopped as soon as phase 1 takes it out of its search
        region — the reachable box widened on every side by search_margin times the box's largest side, or
        that far around the seed itself where that reaches further — and it returns no point; such seeds
        are counted in `n_escaped`. Fixed points lie where the network goes, and seeds drifting away from
        it (towards saturation, where F(s) ≈ s and q decays without a minimum) would otherwise pay the whole
        iteration budget for nothing. None: no region (every seed runs to the end).
    chunk_size: networks per compiled call of `find_fixed_points` on a population (None: as many as keep
        their batched Hessians, K·S² float64 entries per network with the Newton stage's other matrices,
        within the memory budget). The results do not depend on it.
    memory_budget: the bytes that budget is (an int or a size such as '2GB'); None: $DYNASCOPE_MEMORY_BUDGET,
        else half the device's memory (`dynascope._memory`).
    """

    descent: str = "newton"
    descent_steps: int = 100
    learning_rate: float = 1e-2
    descent_tol: float = 1e-10
    newton_steps: int = 20
    float64: bool = True
    q_tol: float | None = None
    slow_tol: float | None = None
    dedup_tol: float | None = None
    keep_failed: bool = False
    saddle_seeds_per_pair: int = 2
    saddle_neighbours: int | None = None
    reachable_margin: float = 0.1
    search_margin: float | None = 0.25
    chunk_size: int | None = None
    memory_budget: int | str | None = None

    def tolerance(self, name: str) -> float:
        """The value of tolerance `name` ('q_tol', 'slow_tol', 'dedup_tol'), or its default for `float64`."""
        value = getattr(self, name)
        return DEFAULT_TOLERANCES[name][0 if self.float64 else 1] if value is None else float(value)

    def validate(self) -> None:
        """Raise ConfigError naming the first field with a bad value."""
        if self.descent not in ("newton", "adam"):
            raise ConfigError(f"descent must be 'newton' or 'adam', got {self.descent!r}.")
        for name in ("descent_steps", "newton_steps", "saddle_seeds_per_pair"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"{name} must be an integer ≥ 0, got {v!r}.")
        for name in ("learning_rate", "descent_tol", "q_tol", "slow_tol", "dedup_tol"):
            v = getattr(self, name)
            if v is None and name in DEFAULT_TOLERANCES:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ConfigError(f"{name} must be a positive number, got {v!r}.")
        for name in ("float64", "keep_failed"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}.")
        c = self.chunk_size
        if c is not None and (isinstance(c, bool) or not isinstance(c, int) or c < 1):
            raise ConfigError(f"chunk_size must be None (automatic) or an integer ≥ 1, got {c!r}.")
        if self.memory_budget is not None:
            parse_bytes(self.memory_budget, name="memory_budget")
        nb = self.saddle_neighbours
        if nb is not None and (isinstance(nb, bool) or not isinstance(nb, int) or nb < 1):
            raise ConfigError(f"saddle_neighbours must be None (all pairs) or an integer ≥ 1, got {nb!r}.")
        m = self.reachable_margin
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not m >= 0:
            raise ConfigError(f"reachable_margin must be a number ≥ 0, got {m!r}.")
        m = self.search_margin
        if m is not None and (isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 < m < float("inf")):
            raise ConfigError(f"search_margin must be None (no search region) or a finite number > 0, got {m!r}.")


def make_options(options: FixedPointOptions | None, overrides: dict[str, Any]) -> FixedPointOptions:
    """`options` (default FixedPointOptions()) with `overrides` applied, validated."""
    if options is not None and not isinstance(options, FixedPointOptions):
        raise ConfigError(f"options must be a FixedPointOptions, got {type(options).__name__}.")
    fields = {f.name for f in dataclasses.fields(FixedPointOptions)}
    bad = sorted(set(overrides) - fields)
    if bad:
        raise ConfigError(
            f"unknown fixed-point option {', '.join(map(repr, bad))}; the options are: {', '.join(sorted(fields))}."
        )
    opts = dataclasses.replace(options or FixedPointOptions(), **overrides)
    opts.validate()
    return opts
