"""How a program is compiled: XLA's optimised build, or (on the CPU) a quick build that skips LLVM's backend
optimisations, chosen by how much work the program will do.

A first analysis on one small network spends most of its time compiling, not computing: the fixed-point
search's iteration and measurement programs, a model's initialisation, a task's trial sampler and the
evaluation of a trained population each take about a second to optimise and then run for milliseconds. Built
without backend optimisation they compile in a third to half the time and run somewhat slower, which costs
less than it saves as long as the work is small. Large problems (many networks, many points, large states)
keep the optimised build, where the run time dominates; so does anything not on the CPU. Both builds keep
IEEE semantics (no fast math): they may differ in the last bits (a fused multiply-add), not more. The choice
depends only on the shapes of a call, so the same call always runs the same program. Measurements:
benchmarks/RESULTS.md §7.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax

#: XLA compile options of the quick build.
QUICK = {"xla_backend_optimization_level": 0}
#: The largest work (≈ flops of one iteration over the batch, n·K·S³: the factorizations) run by the quick
#: build. Beyond it the slower run time of the quick build would cost more than its faster compilation saves.
QUICK_WORK = 2**30


def is_quick(work: float) -> bool:
    """Whether a call of this `work` (see `work`) runs the quick build: on the CPU, at most QUICK_WORK."""
    return work <= QUICK_WORK and jax.default_backend() == "cpu"


class Program:
    """`fun` jitted twice (with the same `jax.jit` arguments), called as `program(work, *args, **kwargs)`: the
    quick build when `is_quick(work)`, the optimised one otherwise."""

    def __init__(self, fun: Callable[..., Any], **jit_kwargs: Any) -> None:
        self.optimised = jax.jit(fun, **jit_kwargs)
        self.quick = jax.jit(fun, compiler_options=QUICK, **jit_kwargs)

    def __call__(self, work: float, *args: Any, **kwargs: Any) -> Any:
        return (self.quick if is_quick(work) else self.optimised)(*args, **kwargs)


def program(**jit_kwargs: Any) -> Callable[[Callable[..., Any]], Program]:
    """Decorator: `Program(fun, **jit_kwargs)`."""
    return lambda fun: Program(fun, **jit_kwargs)


def once(fun: Callable[..., Any], **jit_kwargs: Any) -> Callable[..., Any]:
    """`jax.jit(fun, **jit_kwargs)` for a program that does little work each time it runs (an initialisation,
    a batch of trials, an evaluation, a cast), so its compilation is most of its cost: the quick
    build on the CPU, the optimised one elsewhere."""
    compiled = Program(fun, **jit_kwargs)
    return functools.wraps(fun)(lambda *args, **kwargs: compiled(0.0, *args, **kwargs))


def work(*shape: int) -> float:
    """The work of one iteration over a batch of `n` networks × `K` points of state size `S`: n·K·S³."""
    n, k, s = shape
    return float(n) * float(k) * float(s) ** 3
