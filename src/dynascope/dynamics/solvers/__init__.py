"""Per-point iterative solvers, one small class per file, with one `Result` enumeration and one
linear-algebra path (`_linear`). Each is pure: `init`, `step`, `going`, `result` of one point, batched
by `jax.vmap` and driven by the caller (a compiled loop, or the scheduler's compaction rounds).

| solver | solves | used by |
|---|---|---|
| `Newton` | r(y) = 0, damped (NLEQ-ERR) | fixed-point search, stage 1 |
| `LevenbergMarquardt` | min ½‖r(y)‖², exact Hessian | fixed-point search, stage 2 (slow points) |
| `Adam` | min ½‖r(y)‖², first order | fixed-point search, `descent='adam'` |
"""

from dynascope.dynamics.solvers._adam import Adam, AdamState
from dynascope.dynamics.solvers._base import AbstractSolver, iterate, solve
from dynascope.dynamics.solvers._levenberg_marquardt import LevenbergMarquardt, LevenbergMarquardtState
from dynascope.dynamics.solvers._newton import Newton, NewtonState
from dynascope.dynamics.solvers._result import Result

__all__ = [
    "AbstractSolver",
    "Adam",
    "AdamState",
    "LevenbergMarquardt",
    "LevenbergMarquardtState",
    "Newton",
    "NewtonState",
    "Result",
    "iterate",
    "solve",
]
