"""One network opened up for the report: its trajectories in PCA space, fixed points, saddle directions, spectra."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import numpy as np

from dynascope._compile import once
from dynascope.pipeline import load_group
from dynascope.report import _catalog
from dynascope.report._conditions import trial_conditions


@dataclasses.dataclass(frozen=True, eq=False)
class NetworkView:
    """Everything the report draws for one network, in NumPy.

    `network`, `arch`: its id and architecture; `continuous`: its model is a flow; `dt`: the task's step
    in ms.

    `trajectories [B, T, 3]`: the states of B sampled trials projected on the top three principal
    components of all visited states; `explained [3]`: fraction of the state variance on each PC.
    `fixed_points [K, 3]`: the catalogued fixed points (converged and inside the reachable region) in the
    same projection, with `n_unstable [K]`, `input_index [K]` and complex `eigvals [K, S]`.
    `segments [M, 2, 3]`: for every unstable mode of every saddle, the projected segment
    x* ± length·v (v the unit eigenvector, real part for complex pairs) with `segment_index [M]` the
    saddle's index. `skeletons`: the signatures' index-level graphs (see `_catalog.skeleton_edges`).
    `n_hidden_points`: catalogued points not drawn (slow, failed or outside the reachable region).
    `analysed`: whether the network has any fixed-point rows at all. `conditions [B]`: the condition of
    each drawn trial (index into `condition_names`, −1 for a pooled rare one; see `_conditions`).
    """

    network: str
    arch: str
    continuous: bool
    dt: float
    trajectories: np.ndarray
    explained: np.ndarray
    fixed_points: np.ndarray
    n_unstable: np.ndarray
    input_index: np.ndarray
    eigvals: np.ndarray
    segments: np.ndarray
    segment_index: np.ndarray
    skeletons: list[dict[str, Any]]
    n_hidden_points: int
    analysed: bool
    conditions: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, int))
    condition_names: tuple[str, ...] = ()


def pca(states: np.ndarray, n_components: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal components of a set of states, via the SVD of the centred data.

    Signs are fixed so that each component's largest loading is positive (a reproducible picture).

    Args:
        states: `[N, S]`.
        n_components: components returned; those beyond the rank are zero rows.

    Returns:
        (mean `[S]`, components `[n_components, S]` as orthonormal rows, explained variance ratio
        `[n_components]`).

    Reference: Pearson 1901.
    """
    mean = states.mean(axis=0)
    _, sv, vt = np.linalg.svd(states - mean, full_matrices=False)
    total = float(np.sum(sv**2)) or 1.0
    comps = np.zeros((n_components, states.shape[1]))
    ratio = np.zeros(n_components)
    k = min(n_components, vt.shape[0])
    comps[:k] = vt[:k]
    ratio[:k] = sv[:k] ** 2 / total
    # SVD signs are arbitrary; fix them so the largest loading is positive and the picture is reproducible.
    signs = np.sign(comps[np.arange(n_components), np.argmax(np.abs(comps), axis=1)])
    comps *= np.where(signs == 0, 1.0, signs)[:, None]
    return mean, comps, ratio


def unstable_segments(
    states: np.ndarray, eigvecs: np.ndarray, unstable: np.ndarray, length: float
) -> tuple[np.ndarray, np.ndarray]:
    """Segments `[M, 2, S]` x* − length·v → x* + length·v for every unstable mode, and the row `[M]` of the
    point each belongs to. `states [K, S]`, `eigvecs [K, S, S]` (columns), `unstable [K, S]` boolean."""
    k, m = np.nonzero(unstable)
    if k.size == 0:
        return np.zeros((0, 2, states.shape[1])), np.zeros(0, int)
    v = np.real(eigvecs[k, :, m])
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    x = states[k]
    return np.stack([x - length * v, x + length * v], axis=1), k


#: The seed of the trials the report draws (the page and its static figures show the same trials).
EXAMPLE_TRIAL_SEED = 0


def network_view(
    run: Any,
    network: str,
    *,
    n_trials: int = 8,
    key: jax.Array,
    groups: dict[str, Any] | None = None,
) -> NetworkView:
    """Compute the `NetworkView` of one network of a run.

    Runs the network on `n_trials` trials of its task, fits the PCA on the visited states, and projects
    the catalogued fixed points and their saddles' unstable directions, re-linearized at the stored state
    and input with `dynascope.dynamics.linearize`.

    Args:
        run: the analysed run folder.
        network: an id of the run's `networks` table.
        n_trials: task trials drawn.
        key: JAX PRNG key the trials are drawn from (keyword-only, required; the report passes
            `jax.random.key(EXAMPLE_TRIAL_SEED)`).
        groups: a cache {group name: `StoredGroup`} filled and reused across calls, or None.

    Returns:
        `NetworkView`.

    Raises:
        ConfigError: `network` is not in the run (naming known ids); RunFolderError: its group's weights
        cannot be loaded.
    """
    group_name, index, arch = _catalog.locate(run, network)  # ConfigError naming known ids if not there
    cache = groups if groups is not None else {}
    if group_name not in cache:
        cache[group_name] = load_group(run, group_name)
    group = cache[group_name]
    task, model, params = group.task, group.model, group.network(int(index))
    trials = sample_trials(task, key, n_trials)
    states = np.asarray(_run(model)(params, trials.inputs), dtype=float)  # [B, T, S]
    flat = states.reshape(-1, states.shape[-1])
    mean, comps, explained = pca(flat)
    project = lambda x: (x - mean) @ comps.T  # noqa: E731
    cond = trial_conditions(task, trials)
    fps = _catalog.fixed_points(run, network, model.n_state, model.n_inputs)
    keep = (fps.status == "converged") & ~fps.outside
    segs, seg_rows = np.zeros((0, 2, model.n_state)), np.zeros(0, int)
    if np.any(keep & (fps.n_unstable > 0)):
        from dynascope.dynamics import linearize

        saddles = np.nonzero(keep & (fps.n_unstable > 0))[0]
        lin = linearize(model, params, fps.states[saddles], fps.inputs[saddles])
        unstable = lin.modes > 0  # the growing modes of the map that runs (linearization.mode_stability)
        length = 0.15 * float(np.max(np.ptp(flat, axis=0)) or 1.0)
        segs, seg_rows = unstable_segments(fps.states[saddles], lin.right, unstable, length)
        seg_rows = saddles[seg_rows]
    return NetworkView(
        network=network,
        arch=str(arch),
        continuous=bool(model.continuous),
        dt=float(task.dt),
        trajectories=project(states),
        explained=explained,
        fixed_points=project(fps.states[keep]),
        n_unstable=fps.n_unstable[keep],
        input_index=fps.input_index[keep],
        eigvals=fps.eigvals[keep],
        segments=project(segs),
        segment_index=fps.n_unstable[seg_rows],
        skeletons=_catalog.skeleton_edges(run, network),
        n_hidden_points=int(np.sum(~keep)),
        analysed=len(fps) > 0,
        conditions=cond.labels,
        condition_names=cond.names,
    )


@functools.lru_cache(maxsize=32)
def _run(model: Any) -> Any:
    """A jitted `params, inputs -> states` for `model`, compiled once per model (models are hashable)."""
    return once(lambda p, x: model.run(p, x)[0])


@functools.lru_cache(maxsize=32)
def _sampler(task: Any) -> Any:
    """A jitted `key, n_trials -> Trials` for `task`, compiled once per task and batch size (tasks are
    hashable): sampled eagerly, every random draw of the trial generator compiled a program of its own."""
    return once(task.sample, static_argnums=1)


def sample_trials(task: Any, key: jax.Array, n_trials: int) -> Any:
    """`task.sample(key, n_trials)` from one compiled program (see `_sampler`)."""
    return _sampler(task)(key, n_trials)
