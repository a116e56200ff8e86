"""Replay versus online learning in a linear teacher–student that sees its data in daily batches.

Setting (the teacher–student of `generalization`): a teacher w* ∈ R^N with entries N(0, r²/N) labels
inputs x ~ N(0, I_N) as y = w*·x + ε, ε ~ N(0, σ²). Every day brings `examples_per_day` new examples. The
student w (starting at 0) learns by the normalised least-mean-squares rule on one example at a time,

    w ← w + η (y − w·x) x / ‖x‖²,

which for η = 1 is the Kaczmarz step: the projection of w onto the hyperplane {w : w·x = y} of solutions
that fit the example exactly (`kaczmarz_step`). Two ways to spend a day:

- online: one pass over the day's new examples, which are then forgotten;
- replay: the new examples join a stored buffer (every example so far), and the student makes `passes`
  passes over the whole buffer in a random order (or, `prioritised=True`, draws as many examples per pass
  with probability proportional to their current squared error — prioritised replay).

Test error is exact over fresh inputs: E[(y − w·x)²] = ‖w − w*‖² + σ². Without label noise, replay with
enough passes converges (from w = 0, iterates stay in the span of the inputs) to the minimum-norm solution
of all examples seen — the least-squares solution computed once for the whole data — while online
learning uses every example once. With label noise, the same convergence fits the noise: near the
interpolation threshold (as many stored examples as parameters) the minimum-norm solution's error peaks
(`generalization.min_norm_test_error`), so a few passes (an early-stopped fit) beat many: too much
replay overtrains. `replay_map` charts where replay helps, where it does not matter and where it overtrains
over (examples per day × label noise).

References: Kaczmarz 1937 (Bull. Int. Acad. Pol. Sci. Lett. A 35:355); Strohmer & Vershynin 2009
(randomised Kaczmarz, J. Fourier Anal. Appl. 15:262); Advani, Saxe & Sompolinsky 2020 (Neural Networks
132:428, the min-norm error); Schaul et al. 2016 (prioritised experience replay, ICLR); McClelland,
McNaughton & O'Reilly 1995 (complementary learning systems, Psychol. Rev. 102:419).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.errors import ConfigError
from dynascope.theory._checks import nonnegative, positive, positive_int, prng_key

__all__ = ["VERDICTS", "ReplayMap", "ReplayRun", "kaczmarz_step", "replay_map", "simulate"]

#: What `replay_map` says about a cell (examples per day × noise), in this order of precedence.
VERDICTS = ("overtrains", "helps", "does not matter", "hurts")


def kaczmarz_step(w: jax.Array, x: jax.Array, y: jax.Array, learning_rate: float | jax.Array = 1.0) -> jax.Array:
    """One normalised LMS step on one example: w + η (y − w·x) x / ‖x‖².

    Args:
        w: weights `[N]`. x: one input `[N]` (non-zero). y: its label `[]`.
        learning_rate: η; 1 projects w onto {v : v·x = y} (the Kaczmarz step), η in (0, 2) converges.

    Returns:
        The new weights `[N]`.

    Reference: Kaczmarz 1937.
    """
    return w + learning_rate * (y - w @ x) * x / (x @ x)


def _lane(
    key: jax.Array, n_new: jax.Array, noise: jax.Array, passes: jax.Array, replay: jax.Array, *,
    n_inputs: int, n_days: int, max_per_day: int, teacher: float, eta: float, prioritised: bool,
) -> dict[str, jax.Array]:
    """One student on one stream: `n_new` examples a day (≤ max_per_day), replayed `passes` times if
    `replay`, else seen once. The data depend on `key` only, so lanes differing in the regime (noise aside) see
    the same inputs, teacher and noise draws."""
    k_teacher, k_x, k_noise, k_order = jax.random.split(key, 4)
    n = n_inputs
    w_star = jnp.sqrt(jnp.float32(teacher / n)) * jax.random.normal(k_teacher, (n,), jnp.float32)
    x = jax.random.normal(k_x, (n_days, max_per_day, n), jnp.float32)
    y = x @ w_star + jnp.sqrt(noise) * jax.random.normal(k_noise, (n_days, max_per_day), jnp.float32)
    x, y = x.reshape(-1, n), y.reshape(-1)  # the buffer: day d's examples at d·max_per_day + [0, n_new)
    capacity = n_days * max_per_day
    slot = jnp.arange(capacity)
    day_of, within = slot // max_per_day, slot % max_per_day

    def day(w: jax.Array, d: jax.Array) -> tuple[jax.Array, jax.Array]:
        real = within < n_new
        # replay: everything stored so far; online: today's examples only, one pass
        active = jnp.where(replay, real & (day_of <= d), real & (day_of == d))
        n_passes = jnp.where(replay, passes, 1)

        def one_pass(p: int, w: jax.Array) -> jax.Array:
            k = jax.random.fold_in(jax.random.fold_in(k_order, d), p)
            if prioritised:
                err = jnp.where(active, (y - x @ w) ** 2, 0.0)
                weight = jnp.where(active, err + 1e-12, 0.0)  # the floor keeps a fitted example drawable
                order = jax.random.choice(k, capacity, (capacity,), p=weight / jnp.sum(weight))
                use = slot < jnp.sum(active)  # as many draws as there are stored examples
            else:
                order = jax.random.permutation(k, capacity)
                use = active[order]

            def visit(i: int, w: jax.Array) -> jax.Array:
                j = order[i]
                return jnp.where(use[i], kaczmarz_step(w, x[j], y[j], eta), w)

            return jax.lax.fori_loop(0, capacity, visit, w)

        # a traced bound (a while loop under vmap): one compiled program serves every pass count
        w = jax.lax.fori_loop(0, n_passes, one_pass, w)
        return w, jnp.sum((w - w_star) ** 2) + noise

    w0 = jnp.zeros((n,), jnp.float32)
    w, errors = jax.lax.scan(day, w0, jnp.arange(n_days))
    first = jnp.sum(w_star**2) + noise
    return {"test_error": jnp.concatenate([first[None], errors]), "weights": w, "teacher": w_star,
            "inputs": x, "targets": y}


@functools.partial(jax.jit, static_argnames=(
    "n_inputs", "n_days", "max_per_day", "teacher", "eta", "prioritised"))
def _run(keys: jax.Array, n_new: jax.Array, noise: jax.Array, passes: jax.Array, replay: jax.Array,
         **static: Any) -> dict[str, jax.Array]:
    return jax.vmap(functools.partial(_lane, **static))(keys, n_new, noise, passes, replay)


@dataclasses.dataclass(frozen=True)
class ReplayRun:
    """One regime over the days, for `n_networks` independent streams.

    test_error `[n_networks, n_days + 1]`: ‖w − w*‖² + σ² at the start and after each day.
    weights `[n_networks, N]`: the final student. teacher `[n_networks, N]`: w*.
    inputs `[n_networks, n_days · examples_per_day, N]`, targets `[n_networks, n_days · examples_per_day]`:
        every example seen, day by day.
    replay, passes, prioritised, examples_per_day, n_days, noise_variance, learning_rate: the settings.
    """

    test_error: np.ndarray
    weights: np.ndarray
    teacher: np.ndarray
    inputs: np.ndarray
    targets: np.ndarray
    replay: bool
    passes: int
    prioritised: bool
    examples_per_day: int
    n_days: int
    noise_variance: float
    learning_rate: float


def _common(n_inputs: Any, n_days: Any, learning_rate: Any, teacher_variance: Any, n_networks: Any,
            key: Any) -> tuple[int, int, float, float, jax.Array]:
    eta = positive("learning_rate", learning_rate)
    if eta >= 2.0:
        raise ConfigError(f"learning_rate must lie in (0, 2) for the normalised rule to converge, got {eta!r}.")
    return (positive_int("n_inputs", n_inputs), positive_int("n_days", n_days), eta,
            nonnegative("teacher_variance", teacher_variance),
            jax.random.split(prng_key(key), positive_int("n_networks", n_networks)))


def simulate(
    n_inputs: int,
    *,
    examples_per_day: int,
    n_days: int,
    noise_variance: float,
    key: jax.Array,
    replay: bool = True,
    passes: int = 1,
    prioritised: bool = False,
    learning_rate: float = 1.0,
    teacher_variance: float = 1.0,
    n_networks: int = 1,
) -> ReplayRun:
    """Learn from daily batches online (`replay=False`) or by replaying the stored buffer `passes` times a day.

    Args:
        n_inputs: N, the student's parameters.
        examples_per_day: new examples a day, ≥ 1. n_days: days, ≥ 1.
        noise_variance: σ² ≥ 0, the label noise. teacher_variance: r² ≥ 0.
        key: JAX PRNG key (split into one stream per network: teacher, inputs, noise, orders).
        replay: replay the buffer (True) or learn online (False; `passes` and `prioritised` then unused).
        passes: passes over the buffer per day, ≥ 1.
        prioritised: draw each pass's examples with probability ∝ current squared error.
        learning_rate: η in (0, 2) of the normalised rule (1: the Kaczmarz projection).
        n_networks: independent streams, vmapped.

    Returns:
        A `ReplayRun`.

    Reference: Kaczmarz 1937; Schaul et al. 2016 (prioritised replay).
    """
    n, days, eta, teacher, keys = _common(n_inputs, n_days, learning_rate, teacher_variance, n_networks, key)
    per_day = positive_int("examples_per_day", examples_per_day)
    noise = nonnegative("noise_variance", noise_variance)
    passes = positive_int("passes", passes)
    lanes = keys.shape[0]
    out = _run(keys, jnp.full((lanes,), per_day, jnp.int32), jnp.full((lanes,), noise, jnp.float32),
               jnp.full((lanes,), passes, jnp.int32), jnp.full((lanes,), bool(replay)),
               n_inputs=n, n_days=days, max_per_day=per_day,
               teacher=teacher, eta=eta, prioritised=bool(prioritised))
    out = {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}
    return ReplayRun(test_error=out["test_error"], weights=out["weights"], teacher=out["teacher"],
                     inputs=out["inputs"], targets=out["targets"], replay=bool(replay), passes=passes,
                     prioritised=bool(prioritised), examples_per_day=per_day, n_days=days, noise_variance=noise,
                     learning_rate=eta)


@dataclasses.dataclass(frozen=True)
class ReplayMap:
    """Final test errors over examples per day `[A]` × label noise `[B]` (× pass counts `[C]`).

    online `[A, B, n_networks]`; replay `[A, B, C, n_networks]` (the same streams as online).
    verdict `[A, B]` str, one of `VERDICTS` from the medians over networks with relative `margin`:
    "overtrains" if the most passes are worse than the best pass count by more than the margin, else
    "helps" if the best pass count beats online, "hurts" if it is worse, else "does not matter".
    examples_per_day, noise_variances, passes, n_inputs, n_days, margin, learning_rate: the settings.
    """

    online: np.ndarray
    replay: np.ndarray
    verdict: np.ndarray
    examples_per_day: np.ndarray
    noise_variances: np.ndarray
    passes: np.ndarray
    n_inputs: int
    n_days: int
    margin: float
    learning_rate: float


def _verdict(online: float, replay: np.ndarray, floor: float, margin: float) -> str:
    best = float(replay.min())
    tol = margin * max(best, floor)
    if replay[-1] > best + tol and replay.size > 1:
        return "overtrains"
    if best < online - margin * max(online, floor):
        return "helps"
    if best > online + tol:
        return "hurts"
    return "does not matter"


def replay_map(
    n_inputs: int,
    *,
    examples_per_day: Any,
    noise_variances: Any,
    passes: Any,
    n_days: int,
    key: jax.Array,
    prioritised: bool = False,
    learning_rate: float = 1.0,
    teacher_variance: float = 1.0,
    n_networks: int = 4,
    margin: float = 0.1,
) -> ReplayMap:
    """Test error of online learning and of replay (each pass count) over examples per day × label noise.

    Every cell, regime and pass count runs in one vmapped program (smaller days are masked out of the
    largest one's buffer), and each network's stream is shared by online and every replay regime of its cell,
    so the comparisons are paired.

    Args:
        n_inputs: N.
        examples_per_day: `[A]` sizes ≥ 1. noise_variances: `[B]` values σ² ≥ 0. passes: `[C]` counts ≥ 1,
            increasing (the last is "too much replay" for the verdict).
        n_days, key, prioritised, learning_rate, teacher_variance, n_networks: as in `simulate`.
        margin: relative difference of median errors that counts (floor: 1 % of r² + σ²).

    Returns:
        A `ReplayMap`.
    """
    n, days, eta, teacher, keys = _common(n_inputs, n_days, learning_rate, teacher_variance, n_networks, key)
    sizes = [positive_int("examples_per_day", p) for p in np.atleast_1d(np.asarray(examples_per_day)).tolist()]
    noises = [nonnegative("noise_variances", v) for v in np.atleast_1d(np.asarray(noise_variances, float)).tolist()]
    counts = [positive_int("passes", c) for c in np.atleast_1d(np.asarray(passes)).tolist()]
    if any(b <= a for a, b in zip(counts, counts[1:])):
        raise ConfigError(f"passes must be increasing pass counts, got {counts}; e.g. passes=[1, 4, 16].")
    margin = positive("margin", margin)
    a_n, b_n, c_n, m = len(sizes), len(noises), len(counts), keys.shape[0]
    # lanes: [A, B, 1 + C, networks]; regime 0 is online, regime 1 + c replays counts[c] passes
    shape = (a_n, b_n, 1 + c_n, m)
    grid = np.indices(shape)
    lane_keys = keys[grid[3].ravel()]
    out = _run(lane_keys, jnp.asarray(np.asarray(sizes)[grid[0]].ravel(), jnp.int32),
               jnp.asarray(np.asarray(noises)[grid[1]].ravel(), jnp.float32),
               jnp.asarray(np.asarray([1, *counts])[grid[2]].ravel(), jnp.int32),
               jnp.asarray((grid[2] > 0).ravel()),
               n_inputs=n, n_days=days, max_per_day=max(sizes), teacher=teacher, eta=eta,
               prioritised=bool(prioritised))
    final = np.asarray(out["test_error"], dtype=np.float64)[:, -1].reshape(shape)
    online, replayed = final[:, :, 0], final[:, :, 1:]
    verdict = np.empty((a_n, b_n), dtype=object)
    for i in range(a_n):
        for j in range(b_n):
            floor = 0.01 * (teacher + noises[j])
            verdict[i, j] = _verdict(float(np.median(online[i, j])), np.median(replayed[i, j], axis=-1), floor,
                                     margin)
    return ReplayMap(online=online, replay=replayed, verdict=verdict.astype(str), examples_per_day=np.asarray(sizes),
                     noise_variances=np.asarray(noises), passes=np.asarray(counts), n_inputs=n, n_days=days,
                     margin=margin, learning_rate=eta)
