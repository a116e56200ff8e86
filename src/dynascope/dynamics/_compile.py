"""One program, compiled one of two ways by the size of the problem: XLA's optimised build, or (on the CPU, for
small problems) a build that skips LLVM's backend optimisations.

A first fixed-point search on one small network spends most of its time compiling, not computing: the
iteration and measurement programs take seconds each to optimise and then run for milliseconds. Built
without backend optimisation they compile in about half the time and run somewhat slower, which costs less
than it saves as long as the work is small. Large problems (many networks, many points, large states) keep
the optimised build, where the run time dominates. The choice depends only on the shapes of a call, so the
same call always runs the same program; after the float64 polish both builds find the same points to within
float rounding. Measurements: benchmarks/RESULTS.md §7.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax

#: XLA compile options of the quick build.
QUICK = {"xla_backend_optimization_level": 0}
#: The largest work (≈ flops of one iteration over the batch, n·K·S³: the factorizations) run by the quick
#: build. Beyond it the slower run time of the quick build would cost more than its faster compilation saves.
QUICK_WORK = 2**30


class Program:
    """`fun` jitted twice (with the same static arguments), called as `program(work, *args, **kwargs)`: the
    quick build when `work` is at most `QUICK_WORK` and the default backend is the CPU, the optimised one
    otherwise."""

    def __init__(self, fun: Callable[..., Any], static_argnames: Sequence[str]) -> None:
        self.optimised = jax.jit(fun, static_argnames=tuple(static_argnames))
        self.quick = jax.jit(fun, static_argnames=tuple(static_argnames), compiler_options=QUICK)

    def __call__(self, work: float, *args: Any, **kwargs: Any) -> Any:
        return (self.quick if is_quick(work) else self.optimised)(*args, **kwargs)


def is_quick(work: float) -> bool:
    """Whether a call of this `work` (see `work`) runs the quick build: on the CPU, at most QUICK_WORK."""
    return work <= QUICK_WORK and jax.default_backend() == "cpu"


def program(*, static_argnames: Sequence[str]) -> Callable[[Callable[..., Any]], Program]:
    """Decorator: `Program(fun, static_argnames)`."""
    return lambda fun: Program(fun, static_argnames)


def work(*shape: int) -> float:
    """The work of one iteration over a batch of `n` networks × `K` points of state size `S`: n·K·S³."""
    n, k, s = shape
    return float(n) * float(k) * float(s) ** 3
