"""The departures of a skeleton: where each saddle is left, and the compiled, compacted simulation that
follows every departure of every network until it settles (at a node, beyond a bound, or on a periodic
orbit) or its network's cap of steps."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.dynamics._points import FixedPoints
from dynascope.dynamics._precision import cast, x64_scope
from dynascope.dynamics._scheduler import Batch, bucket, pad_rows, put_points, schedule, take_points
from dynascope.dynamics._system import System
from dynascope.dynamics.stability import step_multipliers
from dynascope.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Config:
    """The settings of a skeleton (see `skeleton`)."""

    n_steps: int
    max_steps: int | None
    epsilon: float
    match_tol: float
    include_slow: bool
    float64: bool

    @property
    def window(self) -> int:
        """The last steps of each chunk, in which a periodic orbit is recognised (by a return to their start)."""
        return max(2, min(500, self.n_steps // 2))

    def max_chunks(self, eigvals: np.ndarray, modes: np.ndarray, system: System) -> int:
        """Chunks of n_steps a network's departures may run before the ones still moving are left
        'unresolved': max_steps if given, else the steps for the slowest escape from a saddle (by a factor
        1/epsilon) plus an e^DECAYS-fold decay of the slowest decaying mode, as the nodes' eigenvalues
        `[N, S]` predict for the simulated map (for a flow, its Euler step; `modes [N, S]` from
        `mode_stability`), within MIN_CHUNKS–MAX_CHUNKS.
        A GRU whose gates hold |λ| = 1 − 5e-5 at its memories needs ~200 000 steps."""
        if self.max_steps is not None:
            return -(-self.max_steps // self.n_steps)
        mu = np.abs(step_multipliers(eigvals, system.continuous, system.alpha))
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = -np.log(mu)  # per simulated step: > 0 for a decaying mode, < 0 for a growing one
        # What is simulated is the map that runs (for a flow its Euler step), which `modes` judges.
        decaying, growing = (modes < 0) & (rate > 0), (modes > 0) & (rate < 0)
        decay = DECAYS / rate[decaying].min() if decaying.any() else 0.0
        escape = np.log(1.0 / self.epsilon) / -rate[growing].max() if growing.any() else 0.0
        steps = decay + escape
        chunks = np.ceil(steps / self.n_steps) if np.isfinite(steps) else MAX_CHUNKS
        return int(np.clip(chunks, MIN_CHUNKS, MAX_CHUNKS))


#: Bounds of the max_steps chosen per network when none is given, in units of n_steps.
MIN_CHUNKS, MAX_CHUNKS = 32, 256
#: The default max_steps lets the slowest stable mode decay by e^DECAYS (and the slowest escape happen).
DECAYS = 10.0


def config(
    n_steps: Any, max_steps: Any, epsilon: Any, match_tol: Any, include_slow: Any, float64: Any
) -> Config:
    """The skeleton's settings, checked (ConfigError naming the first bad one)."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 4:
        raise ConfigError(f"n_steps must be an integer ≥ 4 (steps simulated from each saddle), got {n_steps!r}.")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < n_steps):
        raise ConfigError(
            f"max_steps must be None (chosen from the slowest modes, {MIN_CHUNKS}–{MAX_CHUNKS}·n_steps) or an "
            f"integer ≥ n_steps = {n_steps} (the cap on the steps simulated from each saddle), got {max_steps!r}."
        )
    for name, v in (("epsilon", epsilon), ("match_tol", match_tol)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ConfigError(f"{name} must be a positive number, got {v!r}.")
    for name, v in (("include_slow", include_slow), ("float64", float64)):
        if not isinstance(v, bool):
            raise ConfigError(f"{name} must be True or False, got {v!r}.")
    return Config(n_steps, max_steps, float(epsilon), float(match_tol), include_slow, float64)


def departures(fp: FixedPoints, rows: np.ndarray, eig: tuple, system: System, eps: float) -> tuple[list, np.ndarray]:
    """(row, mode, sign, eigval) per departure and their start states [D, S]."""
    w, right, modes = eig[0], eig[1], eig[3]
    meta, starts = [], []
    for j, row in enumerate(rows):
        unstable = modes[j] > 0
        for m in np.flatnonzero(unstable):
            if w[j, m].imag < 0:  # the conjugate of the mode before it: same real plane
                continue
            v = right[j, :, m].real
            v = v / np.linalg.norm(v)
            for sign in (1, -1):
                meta.append((int(row), int(m), sign, complex(w[j, m])))
                starts.append(fp.states[row] + sign * eps * v)
    s = fp.states.shape[1]
    return meta, (np.stack(starts) if starts else np.zeros((0, s), fp.states.dtype))


def _chunk_one(
    system: System,
    n_steps: int,
    window: int,
    tol: float,
    params: Any,
    u: jax.Array,
    x0: jax.Array,
    nodes: jax.Array,
    node_ok: jax.Array,
    own: jax.Array,
    big: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """`n_steps` more steps of departures `x0 [B, S]` of one network -> end states [B, S], which have
    settled [B] — within tol·(1 + ‖x*‖) of a node (where `node_ok`) other than their own (`own [B]`), beyond
    the norm `big`, not finite, or periodic — and which are periodic [B]: in the last `window` steps they
    moved more than 2·tol·(1 + ‖x‖) away and came back within tol·(1 + ‖x‖) (a period-k orbit, k < window)."""
    step = jax.vmap(system.step, in_axes=(None, 0, None))
    node_tol = tol * (1.0 + jnp.sqrt(jnp.sum(nodes * nodes, axis=-1)))
    others = node_ok[None, :] & (jnp.arange(nodes.shape[0])[None, :] != own[:, None])
    ref = jax.lax.fori_loop(0, n_steps - window, lambda _, x: step(params, x, u), x0)

    def body(x: jax.Array, _: Any) -> tuple[jax.Array, jax.Array]:
        x = step(params, x, u)
        return x, jnp.sqrt(jnp.sum((x - ref) ** 2, axis=-1))

    end, ahead = jax.lax.scan(body, ref, None, length=window)
    t = tol * (1.0 + jnp.sqrt(jnp.sum(ref * ref, axis=-1)))
    away = jax.lax.cummax(ahead, axis=0) > 2.0 * t
    periodic = jnp.any((ahead[1:] <= t) & away[:-1], axis=0)
    d = jnp.sqrt(jnp.sum((end[:, None, :] - nodes[None, :, :]) ** 2, axis=-1))
    at_node = jnp.any((d <= node_tol[None, :]) & others, axis=1)
    gone = ~jnp.all(jnp.isfinite(end), axis=-1) | (jnp.sqrt(jnp.sum(end * end, axis=-1)) > big)
    return end, at_node | gone | periodic, periodic


@functools.partial(jax.jit, static_argnames=("system", "n_steps", "window", "tol"))
def _advance(
    system: System,
    params: Any,
    u: jax.Array,
    s: jax.Array,
    settled: jax.Array,
    periodic: jax.Array,
    nodes: jax.Array,
    node_ok: jax.Array,
    own: jax.Array,
    big: jax.Array,
    nets: jax.Array,
    deps: jax.Array,
    *,
    n_steps: int,
    window: int,
    tol: float,
) -> tuple[jax.Array, jax.Array]:
    """One chunk of `n_steps` for the departures `deps [m, B]` of the networks `nets [m]` (repeats
    allowed) of `s [n, D, S]`; returns s, `settled [n, D]` and `periodic [n, D]` with theirs replaced."""
    one = functools.partial(_chunk_one, system, n_steps, window, tol)
    prm = jax.tree.map(lambda a: a[nets], params)
    pts = take_points((s, own), nets, deps)
    sub = (u[nets], pts[0], nodes[nets], node_ok[nets], pts[1], big[nets])
    end, done, cyc = jax.vmap(one)(prm, *sub)
    return put_points((s, settled, periodic), nets, deps, (end, done, cyc))


def _simulate(
    system: System,
    params: Any,
    u: jax.Array,
    x0: jax.Array,
    nodes: jax.Array,
    node_ok: jax.Array,
    own: jax.Array,
    live: np.ndarray,
    big: jax.Array,
    max_chunks: np.ndarray,
    cfg: Config,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """End states `[n, D, S]` of the departures `x0 [n, D, S]` (of n networks; `live [n, D]` False for
    padding) under inputs `u [n, I]`, whether each ended on a periodic orbit `[n, D]`, and the steps
    simulated per network `[n]`. Every departure runs chunks of `n_steps`
    until it has settled (see _chunk_one) or its network's `max_chunks [n]` chunks. The ones still moving
    run on without the settled ones, so one slow departure costs its own steps, not the whole population's."""
    state = (x0, jnp.asarray(~live), jnp.zeros(live.shape, bool))

    def advance(batch: Batch) -> np.ndarray:
        nonlocal state
        state = _advance(
            system, params, u, *state, nodes, node_ok, own, big, jnp.asarray(batch.networks, jnp.int32),
            jnp.asarray(batch.points, jnp.int32), n_steps=cfg.n_steps, window=cfg.window, tol=cfg.match_tol,
        )
        return ~np.asarray(state[1])

    chunks = schedule(live, advance, min_points=8, compact_networks=True, max_rounds=max_chunks)
    s, _, periodic = state
    return np.asarray(s), np.asarray(periodic), chunks * cfg.n_steps


def destination(end: np.ndarray, periodic: bool, nodes: np.ndarray, rows: np.ndarray, cfg: Config) -> Any:
    """Where a departure ended (`end [S]`, on a periodic orbit or not): a row of `rows`, or a terminal name."""
    scale = 1.0 + (np.linalg.norm(nodes, axis=1).max() if len(nodes) else 0.0)
    if not np.all(np.isfinite(end)) or np.linalg.norm(end) > 1e3 * scale:
        return "unbounded"
    if len(nodes):
        d = np.linalg.norm(nodes - end, axis=1)
        j = int(np.argmin(d))
        if d[j] <= cfg.match_tol * (1.0 + np.linalg.norm(nodes[j])):
            return int(rows[j])
    return "cycle" if periodic else "unresolved"


def simulate_departures(
    system: System,
    params: Any,
    states: np.ndarray,
    sizes: list[int],
    inputs: np.ndarray,
    eigs: list[tuple],
    deps: list[tuple[list, np.ndarray]],
    rows: list[np.ndarray],
    cfg: Config,
) -> tuple[np.ndarray, ...]:
    """Simulate every departure `deps` (from `departures`) of every network, whose nodes are `states [n, N, S]`
    (the first `sizes` rows of each real, their rows of FixedPoints `rows`) under `inputs [n, I]`, with
    eigenvalues and modes `eigs` (at least one network has a departure). Returns end states `[n, D, S]`, whether each ended on a periodic orbit
    `[n, D]`, the steps simulated `[n]` and each network's cap in chunks of n_steps `[n]`."""
    n, size, dtype = len(deps), states.shape[1], states.dtype
    n_dep = [start.shape[0] for _, start in deps]
    d_size = bucket(max(n_dep))
    # a network without departures simulates copies of its first node (results unused)
    x0 = np.stack([
        pad_rows(start, d_size) if start.shape[0] else np.broadcast_to(states[i, :1], (d_size, states.shape[2]))
        for i, (_, start) in enumerate(deps)
    ])
    own = np.zeros((n, d_size), np.int32)
    for i, ((meta, _), node_rows) in enumerate(zip(deps, rows)):
        position = {int(row): j for j, row in enumerate(node_rows)}
        own[i, : len(meta)] = [position[m[0]] for m in meta]
    live = np.arange(d_size)[None, :] < np.asarray(n_dep)[:, None]
    node_ok = np.arange(size)[None, :] < np.asarray(sizes)[:, None]
    norms = np.where(node_ok, np.linalg.norm(states, axis=-1), 0.0)
    big = 1e3 * (1.0 + norms.max(axis=1))
    caps = np.asarray([cfg.max_chunks(e[0], e[3], system) for e in eigs])
    with x64_scope(cfg.float64):
        d = np.float64 if cfg.float64 else dtype
        ends, periodic, steps = _simulate(
            system, cast(params, d), jnp.asarray(inputs, d), jnp.asarray(x0, d), jnp.asarray(states, d),
            jnp.asarray(node_ok), jnp.asarray(own), live, jnp.asarray(big, d), caps, cfg,
        )
    return ends, periodic, steps, caps
