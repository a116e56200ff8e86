"""Per-point iterative solvers, one small class per file, with one `Result` enumeration and one
linear-algebra path (`_linear`). Each is pure: `init`, `step`, `going`, `result` of one point, batched
by `jax.vmap` and driven by the caller (a compiled loop, or the scheduler's compaction rounds).

| solver | solves | used by |
|---|---|---|
| `Newton` | r(y) = 0, damped (NLEQ-ERR) | fixed-point search, stage 1 |
| `LevenbergMarquardt` | min ½‖r(y)‖², exact Hessian | fixed-point search, stage 2 (slow points) |
| `Adam` | min ½‖r(y)‖², first order | fixed-point search, `descent='adam'` |
| `GaussNewton` | r(y) = 0, Levenberg-damped J_rᵀJ_r | period-k orbits |
| `Shooting` | Φ_T(s) = s on a section | limit cycles |
| `Corrector` | G(u) = 0 in a hyperplane | continuation; Newton onto a fixed point |
"""

from dynascope.dynamics.solvers._adam import Adam, AdamState
from dynascope.dynamics.solvers._base import AbstractSolver, iterate, solve
from dynascope.dynamics.solvers._corrector import Corrector, CorrectorState
from dynascope.dynamics.solvers._gauss_newton import GaussNewton, GaussNewtonState
from dynascope.dynamics.solvers._levenberg_marquardt import LevenbergMarquardt, LevenbergMarquardtState
from dynascope.dynamics.solvers._newton import Newton, NewtonState
from dynascope.dynamics.solvers._result import Result
from dynascope.dynamics.solvers._shooting import Shooting, ShootingState

__all__ = [
    "AbstractSolver",
    "Adam",
    "AdamState",
    "Corrector",
    "CorrectorState",
    "GaussNewton",
    "GaussNewtonState",
    "LevenbergMarquardt",
    "LevenbergMarquardtState",
    "Newton",
    "NewtonState",
    "Result",
    "Shooting",
    "ShootingState",
    "iterate",
    "solve",
]
