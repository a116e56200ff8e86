"""Fixed points across a whole run: how slow the points are (the speed q) and how fast their linearized
modes decay (time constants), per architecture."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from dynascope.pipeline import load_group
from dynascope.report import _catalog
from dynascope.report.figures import arch_colours

#: q of exactly 0 (a point found to the last bit) is drawn at this floor on the log axis.
Q_FLOOR = 1e-32
#: Histogram bins per decade on the log axes.
BINS_PER_DECADE = 4


def time_constants(eigvals: np.ndarray, continuous: bool, alpha: float, dt: float) -> np.ndarray:
    """Time constants in ms of the decaying modes among the eigenvalues (the others are left out), flat.

    A map's mode λ shrinks by |λ| per step of `dt` ms: τ = −dt / ln|λ|. A flow's eigenvalue λ (of
    f = (F − s)/alpha, in units of 1/τ_model, with τ_model = dt/alpha) decays as exp(Re λ · t/τ_model):
    τ = −(dt/alpha) / Re λ. A mode with |λ| = 0 (map) decays within one step and has no finite τ.

    Args:
        eigvals: eigenvalues `[...]` of the linearization (complex or real).
        continuous: True for a flow's eigenvalues, False for a map's.
        alpha: the flow's Euler step dt/τ_model (used for a flow only).
        dt: the task's step in ms.

    Returns:
        `np.ndarray [k]` of time constants in ms, one per decaying mode.
    """
    w = np.asarray(eigvals).ravel()
    if continuous:
        re = w.real[w.real < 0]
        return -(dt / alpha) / re
    mag = np.abs(w)
    mag = mag[(mag > 0) & (mag < 1)]
    return -dt / np.log(mag)


@dataclasses.dataclass(frozen=True)
class RunTimeConstants:
    """Per architecture: time constants in ms `[M]` of the decaying modes at every converged fixed point
    inside the reachable region, and how many networks contributed."""

    tau_ms: dict[str, np.ndarray]
    n_networks: dict[str, int]


def run_time_constants(run: Any, groups: dict[str, Any] | None = None) -> RunTimeConstants:
    """The `RunTimeConstants` of `run`'s catalog; each group's model says map or flow and its alpha, its
    task the step dt (`groups` caches loaded groups, name -> StoredGroup)."""
    pts = _catalog.all_fixed_points(run)
    cache = groups if groups is not None else {}
    taus: dict[str, list[np.ndarray]] = {}
    nets: dict[str, set[str]] = {}
    for i in np.nonzero((pts.status == "converged") & ~pts.outside)[0]:
        g = pts.group[i]
        if g not in cache:
            cache[g] = load_group(run, g)
        model, task = cache[g].model, cache[g].task
        taus.setdefault(pts.arch[i], []).append(
            time_constants(pts.eigvals[i], bool(model.continuous), float(model.alpha), float(task.dt)))
        nets.setdefault(pts.arch[i], set()).add(pts.network[i])
    order = [a for a in _catalog.arch_order(run) if a in taus]
    return RunTimeConstants({a: np.concatenate(taus[a]) for a in order}, {a: len(nets[a]) for a in order})


def _log_bins(values: np.ndarray) -> np.ndarray:
    # whole decades, the largest value strictly inside the last one (not on its closing edge)
    lo, hi = np.floor(np.log10(values.min())), np.floor(np.log10(values.max())) + 1
    return 10.0 ** np.linspace(lo, hi, int(hi - lo) * BINS_PER_DECADE + 1)


def speed_histogram(run: Any) -> Figure:
    """Histogram of the speed q = ½‖F(x) − x‖² of every catalogued fixed and slow point, per architecture.

    On a log axis: converged (fixed) points solid, slow points dashed; failed searches are left out.

    Args:
        run: the analysed run folder.

    Returns:
        A matplotlib `Figure`.

    Reference: Sussillo & Barak 2013 (slow points).
    """
    pts = _catalog.all_fixed_points(run)
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    keep = np.isin(pts.status, ("converged", "slow"))
    q = np.maximum(pts.q[keep], Q_FLOOR)
    archs, status = np.array(pts.arch)[keep], pts.status[keep]
    order = [a for a in _catalog.arch_order(run) if a in set(archs)]
    colours = arch_colours(_catalog.arch_order(run))
    handles = []
    if q.size:
        bins = _log_bins(q)
        for arch in order:
            for kind, style in (("converged", "-"), ("slow", "--")):
                sel = (archs == arch) & (status == kind)
                if not sel.any():
                    continue
                counts, _ = np.histogram(q[sel], bins)
                ax.stairs(counts, bins, color=colours[arch], linestyle=style, linewidth=1.8)
                what = "fixed points" if kind == "converged" else "slow points"
                handles.append(Line2D([], [], color=colours[arch], linestyle=style, linewidth=1.8,
                                      label=f"{arch}: {int(sel.sum())} {what}"))
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "no fixed points catalogued (run `dynascope analyze RUN`)", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("speed q = ½‖F(x) − x‖² (state units² per step, log scale)")
    ax.set_ylabel("points (count)")
    ax.set_title(f"How slow the fixed points are: {int(q.size)} points of {len(set(np.array(pts.network)[keep]))} networks",
                 fontsize="medium")
    fig.legend(handles=handles or [Line2D([], [], color="none", label="no data")], fontsize="small",
               loc="outside right upper")
    return fig


def time_constant_histogram(run: Any, groups: dict[str, Any] | None = None) -> Figure:
    """Histogram of the time constants of the decaying linearized modes at the fixed points, per architecture.

    Time constants in ms (log axis) of every converged fixed point inside the reachable region, as modes
    per network (see `time_constants`). Slow modes (long τ) are the memory and integration directions;
    fast ones are forgotten at once.

    Args:
        run: the analysed run folder.
        groups: a cache {group name: `StoredGroup`} filled and reused across calls, or None.

    Returns:
        A matplotlib `Figure`.

    Raises:
        RunFolderError: a group's weights cannot be loaded.
    """
    tc = run_time_constants(run, groups)
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    colours = arch_colours(_catalog.arch_order(run))
    handles = []
    every = np.concatenate(list(tc.tau_ms.values())) if tc.tau_ms else np.zeros(0)
    every = every[np.isfinite(every) & (every > 0)]
    if every.size:
        bins = _log_bins(every)
        for arch, tau in tc.tau_ms.items():
            tau = tau[np.isfinite(tau) & (tau > 0)]
            counts, _ = np.histogram(tau, bins)
            n = tc.n_networks[arch]
            ax.stairs(counts / n, bins, color=colours[arch], linewidth=1.8)
            handles.append(Line2D([], [], color=colours[arch], linewidth=1.8,
                                  label=f"{arch}: {tau.size} modes, {n} networks"))
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "no converged fixed points catalogued", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("time constant τ of a decaying mode (ms, log scale)")
    ax.set_ylabel("modes per network (count)")
    ax.set_title("Time constants of the linearized modes at the fixed points", fontsize="medium")
    fig.legend(handles=handles or [Line2D([], [], color="none", label="no data")], fontsize="small",
               loc="outside right upper")
    return fig
