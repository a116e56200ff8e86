"""Static matplotlib figures of a run, for papers: each function returns a `matplotlib.figure.Figure`.

Every figure has a title, axis labels with units and a legend (or a colour bar), in the colour-blind safe
Okabe–Ito palette (Okabe & Ito 2008). Figures are built without pyplot, so no GUI backend is needed.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from dynascope.compare import get_metric
from dynascope.errors import ConfigError, UnknownNameError
from dynascope.pipeline import load_group
from dynascope.report import _catalog
from dynascope.report._network import EXAMPLE_TRIAL_SEED, NetworkView  # noqa: F401  (re-exported: the report's seed)
from dynascope.report._palette import PALETTE
from dynascope.report._trial import plot_trial

#: colour of trajectories in state-space plots (neutral, so fixed points stand out).
TRAJECTORY_GREY = "#8C8C8C"
CLUSTER_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: Networks labelled one by one on a distance matrix or dendrogram at most (beyond, by architecture).
MAX_TICK_LABELS = 40


def metric_units(metric: str) -> tuple[str, str]:
    """(what the distance of `metric` measures, its unit), as the metric registered itself
    (`dynascope.compare.register_metric`); a metric the catalog holds but nothing registered in this session
    (a user's own, not imported) gets a generic description."""
    try:
        entry = get_metric(metric)
    except UnknownNameError:
        return f"{metric} distance", "metric units"
    return entry.description, entry.units


def index_colour(index: int) -> str:
    """Colour of a fixed point with `index` unstable modes (0 = stable), the same in every figure."""
    return PALETTE[min(int(index), len(PALETTE) - 1)]


def condition_colour(condition: int) -> str:
    """Colour of trials of `condition` (an index into a view's condition names; −1, a pooled rare
    condition, is grey), the same in the activity, state-space and small-multiple figures."""
    return TRAJECTORY_GREY if condition < 0 else PALETTE[int(condition) % len(PALETTE)]


def condition_label(names: tuple[str, ...], condition: int) -> str:
    """Legend text for trials of `condition` (see `condition_colour`)."""
    return "other conditions" if condition < 0 or condition >= len(names) else names[condition]


def index_label(index: int) -> str:
    """Legend text for fixed points with `index` unstable modes."""
    return "stable (index 0)" if index == 0 else f"saddle, index {index}"


def arch_colours(archs: list[str]) -> dict[str, str]:
    """One palette colour per architecture, in the given order."""
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(archs)}


def loss_curves(run: Any) -> Figure:
    """Training loss of the population against step, log scale: per architecture the median trained network
    and the 25–75 % and 5–95 % bands of the trained networks; the median of the untrained ones (neither
    trained nor diverged) dashed, without bands. Networks that diverged are not drawn (their losses are
    exploded or non-finite; the report lists them), nor are steps with a NaN loss (stopped early)."""
    trained = _catalog.losses_by_arch(run, "trained")
    untrained = _catalog.losses_by_arch(run, "untrained")
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    colours = arch_colours(list(dict.fromkeys([*trained, *untrained])))
    for arch, m in trained.items():
        q = _percentiles(m, [5, 25, 50, 75, 95])
        steps, c = np.arange(m.shape[1]), colours[arch]
        ax.fill_between(steps, q[0], q[4], color=c, alpha=0.12, linewidth=0)
        ax.fill_between(steps, q[1], q[3], color=c, alpha=0.3, linewidth=0)
        ax.plot(steps, q[2], color=c, linewidth=2, label=f"{arch} median (n={m.shape[0]} trained)")
    for arch, m in untrained.items():
        ax.plot(np.arange(m.shape[1]), _percentiles(m, [50])[0], color=colours[arch], linewidth=1.5,
                linestyle="--", label=f"{arch} untrained, median (n={m.shape[0]})")
    if trained or untrained:
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no training losses stored (or every network diverged)", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("training step (optimizer updates)")
    ax.set_ylabel("training loss (masked MSE, log scale)")
    ax.set_title("Training loss of the population by architecture")
    handles, _ = ax.get_legend_handles_labels()
    if trained:  # one key for the bands, shared by every architecture
        handles += [Rectangle((0, 0), 1, 1, color="grey", alpha=0.45, linewidth=0, label="25–75 % of trained networks"),
                    Rectangle((0, 0), 1, 1, color="grey", alpha=0.15, linewidth=0, label="5–95 % of trained networks")]
    fig.legend(handles=handles or [Line2D([], [], color="none", label="no data")], fontsize="small",
               loc="outside right upper")
    return fig


def _percentiles(m: np.ndarray, q: list[float]) -> np.ndarray:
    """Percentiles `q` over networks (axis 0) of loss curves `m [n, steps]`, per step; a loss of exactly 0
    (not drawable on a log scale) or NaN (stopped early) is left out, and an all-NaN step stays NaN."""
    m = np.where(np.isfinite(m) & (m > 0), m, np.nan)
    with warnings.catch_warnings():
        # steps where every network has stopped are all-NaN; those simply go undrawn.
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(m, q, axis=0)


def trial(run: Any, network: str | None = None, *, key: jax.Array) -> Figure:
    """One example trial of the run's task — inputs, targets and the outputs of `network` (default: the
    best-scoring network that did not diverge; ConfigError if there is none) — via `plot_trial`; the
    trial is drawn from `key` (keyword-only; the report uses `jax.random.key(EXAMPLE_TRIAL_SEED)`)."""
    if network is None:
        network = _catalog.best_network(run)
        if network is None:
            raise ConfigError(f"run {run.path} has no network that finished training without diverging; "
                              "train some with `dynascope train` (a smaller --lr if every one diverged).")
    group_name, index, _ = _catalog.locate(run, network)
    group = load_group(run, group_name)
    trials = group.task.sample(key, 1)
    _, outputs = group.model.run(group.network(index), trials.inputs)
    fig = plot_trial(group.task, trials, outputs, 0)
    fig.axes[0].set_title(f"{group.task.name}: example trial, outputs of {network}")
    _legends_beside(fig)
    return fig


def _legends_beside(fig: Figure) -> None:
    """Move each panel's legend beside the panel, off the traces. Where a panel pairs 'target X' with
    'network X' lines of one colour, key the colours once per X and the two line styles once, and draw the
    targets wide and light so that an output lying on its target leaves both visible."""
    for ax in fig.axes:
        if ax.get_legend() is None:
            continue
        ax.get_legend().remove()
        handles, labels = ax.get_legend_handles_labels()
        if labels and all(lb.startswith(("target ", "network ")) for lb in labels):
            names: dict[str, str] = {}
            for line, lb in zip(handles, labels):
                kind, name = lb.split(" ", 1)
                names.setdefault(name, line.get_color())
                if kind == "target":
                    line.set(linewidth=3.5, alpha=0.45)
            handles = [Line2D([], [], color=c, linewidth=2, label=n) for n, c in names.items()]
            handles += [Line2D([], [], color="black", linestyle="--", linewidth=3, alpha=0.45, label="target"),
                        Line2D([], [], color="black", linewidth=1.5, label="network output")]
        ax.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def state_space(view: NetworkView) -> Figure:
    """3-D state space of one network: trajectories on the top three principal components coloured by their
    trial's condition, fixed points coloured by their index (number of unstable modes) and short segments along each saddle's unstable
    directions. References: Sussillo & Barak 2013."""
    fig = Figure(figsize=(6.5, 5.5), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    labels = view.conditions if len(view.conditions) == len(view.trajectories) else np.full(len(view.trajectories), -1)
    seen: set[int] = set()
    for tr, c in zip(view.trajectories, labels):
        name = None if c in seen else ("trajectories" if not view.condition_names else
                                        "trials: " + condition_label(view.condition_names, int(c)))
        seen.add(int(c))
        ax.plot(*tr.T, color=condition_colour(int(c)), linewidth=0.9, alpha=0.7, label=name)
    for idx in np.unique(view.n_unstable):
        sel = view.n_unstable == idx
        ax.scatter(*view.fixed_points[sel].T, color=index_colour(idx), s=40, depthshade=False,
                   marker="o" if idx == 0 else "D", edgecolor="black", linewidth=0.5, label=index_label(int(idx)))
    labelled: set[int] = set()
    for j, seg in enumerate(view.segments):
        idx = int(view.segment_index[j])
        ax.plot(*seg.T, color=index_colour(idx), linewidth=2,
                label=None if idx in labelled else f"unstable directions (index {idx})")
        labelled.add(idx)
    for axis, name in enumerate("xyz"):
        getattr(ax, f"set_{name}label")(f"PC{axis + 1} (a.u., {100 * view.explained[axis]:.0f} % var.)")
    if view.trajectories.size:
        ax.set_aspect("equal")  # equal scales: the picture keeps the geometry of the principal subspace
    ax.set_title(f"{view.network}: state space")
    fig.legend(handles=ax.get_legend_handles_labels()[0], fontsize="small", loc="outside lower center", ncol=3)
    return fig


def eigenvalue_spectrum(view: NetworkView) -> Figure:
    """Eigenvalues of the linearization at every fixed point of one network, coloured by the point's index,
    against the unit circle (maps: stable inside) or the imaginary axis (flows: stable to the left)."""
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.add_subplot()
    if view.continuous:
        ax.axvline(0.0, color="black", linestyle="--", linewidth=1, label="stability boundary Re λ = 0")
        unit = "1/τ"
    else:
        theta = np.linspace(0, 2 * np.pi, 256)
        ax.plot(np.cos(theta), np.sin(theta), "k--", linewidth=1, label="unit circle |λ| = 1")
        ax.set_aspect("equal", adjustable="datalim")
        unit = "multiplier per step"
    for idx in np.unique(view.n_unstable):
        w = view.eigvals[view.n_unstable == idx].ravel()
        ax.scatter(w.real, w.imag, s=14, color=index_colour(idx), alpha=0.8, edgecolor="none",
                   label=f"{index_label(int(idx))} ({int(np.sum(view.n_unstable == idx))} points)")
    if len(view.eigvals) == 0:
        ax.text(0.5, 0.5, "no fixed points catalogued", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"Re λ ({unit})")
    ax.set_ylabel(f"Im λ ({unit})")
    kind = "flow" if view.continuous else "map"
    ax.set_title(f"{view.network}: eigenvalues at fixed points ({kind})")
    fig.legend(handles=ax.get_legend_handles_labels()[0], fontsize="small", loc="outside lower center", ncol=2)
    return fig


def skeleton_graph(view: NetworkView, input_index: int | None = None) -> Figure:
    """The skeleton of one network reduced to fixed-point classes: one node per index (with the number of
    points) and per terminal, one arrow per (from, to) pair labelled with its number of saddle departures,
    from the stored signature. Layers are the index, so flow runs downhill to the stable points."""
    fig = Figure(figsize=(5.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    skel = [s for s in view.skeletons if input_index is None or s["input_index"] == input_index][:1]
    if not skel:
        ax.text(0.5, 0.5, "no skeleton catalogued", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{view.network}: skeleton")
        ax.set_xlabel("fixed-point class (none found)")
        ax.set_ylabel("index (number of unstable modes)")
        fig.legend(handles=[Line2D([], [], color="none", label="run `dynascope analyze RUN`")], loc="outside lower center")
        return fig
    s = skel[0]
    pos, nodes = _layered(s)
    edges: dict[tuple, int] = {}
    for a, b in s["edges"]:
        edges[(a, b)] = edges.get((a, b), 0) + 1
    for (a, b), n in edges.items():
        if a not in pos or b not in pos:
            continue
        if a == b:  # a departure reaching another point of the same index: no arrow can join a node to itself
            ax.text(pos[a][0] + 0.25, pos[a][1], f"{n} to same index", fontsize="small", va="center")
            continue
        ax.annotate("", xy=pos[b], xytext=pos[a], arrowprops=dict(
            arrowstyle="-|>", color="black", lw=0.8 + np.log1p(n), shrinkA=14, shrinkB=14))
        mid = (np.asarray(pos[a]) + np.asarray(pos[b])) / 2
        ax.text(*mid, str(n), fontsize="small", ha="center", va="center", backgroundcolor="white")
    handles = []
    for node, count in nodes.items():
        terminal = isinstance(node, str)
        colour = "white" if terminal else index_colour(node)
        size = 300 + 40 * count
        ax.scatter(*pos[node], s=size, color=colour, edgecolor="black", zorder=3, marker="s" if terminal else "o")
        # beside the node, clear of its marker (radius √size / 2 points) and of the vertical arrows
        ax.annotate(f"{node + ' ' if terminal else ''}×{count}", pos[node], xytext=(np.sqrt(size) / 2 + 4, 0),
                    textcoords="offset points", ha="left", va="center", fontsize="small", zorder=4)
        if not terminal:
            handles.append(Line2D([], [], marker="o", linestyle="", color=index_colour(node), markeredgecolor="black",
                                  label=index_label(node)))
    handles.append(Line2D([], [], color="black", marker=">", label="departures along unstable directions"))
    ys = [p[1] for p in pos.values()]
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_xlim(-0.8, max(p[0] for p in pos.values()) + 1.2)
    ax.set_yticks(sorted({int(y) for y in ys}), [str(int(y)) if y >= 0 else "terminal" for y in sorted({int(y) for y in ys})])
    ax.set_xticks([])
    ax.set_xlabel("fixed-point class (node size ∝ number of points)")
    ax.set_ylabel("index (number of unstable modes)")
    ax.set_title(f"{view.network}: skeleton under input {s['input_index']}")
    fig.legend(handles=handles, fontsize="small", loc="outside lower center", ncol=2)
    return fig


def _layered(sig: dict[str, Any]) -> tuple[dict[Any, tuple[float, float]], dict[Any, int]]:
    """Positions (x, y = index; terminals at y = −1) and sizes of the class nodes of a skeleton signature."""
    nodes: dict[Any, int] = dict(sorted(sig["counts"].items()))
    for name, n in sig["terminals"].items():
        if n:
            nodes[name] = int(n)
    pos = {}
    terminals = [k for k in nodes if isinstance(k, str)]
    for i, k in enumerate(k for k in nodes if not isinstance(k, str)):
        pos[k] = (float(i % 2), float(k))  # alternate sides so vertical arrows between layers do not overlap labels
    for i, k in enumerate(terminals):
        pos[k] = (2.0 + i, -1.0)
    return pos, nodes


def distance_matrix(run: Any, metric: str) -> Figure:
    """Heatmap of the pairwise distances `metric` between networks, ordered by architecture, with each
    architecture's diagonal block outlined in its colour; up to MAX_TICK_LABELS networks are labelled by id
    (in their architecture's colour), more by architecture."""
    ids, archs, d = _catalog.distance_matrix(run, metric)
    if not ids:
        raise ConfigError(f"no distances for metric {metric!r}; stored: {_catalog.distance_metrics(run)} "
                          "(run `dynascope compare RUN`).")
    fig = Figure(figsize=(6.5, 5.8), layout="constrained")
    ax = fig.add_subplot()
    # 'auto' resamples with an anti-aliasing filter when there are more networks than pixels, instead of
    # silently dropping rows as 'nearest' would; with fewer it draws one crisp block per pair.
    im = ax.imshow(np.ma.masked_invalid(d), cmap="viridis", interpolation="auto")
    what, unit = metric_units(metric)
    fig.colorbar(im, ax=ax, label=f"{metric} distance ({unit})", shrink=0.9)
    order = list(dict.fromkeys(archs))
    colours = arch_colours(_catalog.arch_order(run) or order)
    centres, start = [], 0
    for arch in order:
        n = archs.count(arch)
        ax.add_patch(Rectangle((start - 0.5, start - 0.5), n, n, fill=False, edgecolor=colours.get(arch, "black"),
                               linewidth=2.5, label=f"{arch} ({n} networks)"))
        centres.append(start + (n - 1) / 2)
        start += n
    if len(ids) <= MAX_TICK_LABELS:
        # one tick per network, its id in its architecture's colour
        ax.set_xticks(range(len(ids)), ids, rotation=90, fontsize="x-small")
        ax.set_yticks(range(len(ids)), ids, fontsize="x-small")
        for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
            for tick, arch in zip(ticks, archs):
                tick.set_color(colours.get(arch, "black"))
    else:  # too many to read: one tick per architecture block
        ax.set_xticks(centres, order)
        ax.set_yticks(centres, order, rotation=90, va="center")
    ax.set_xlabel("network (grouped by architecture)")
    ax.set_ylabel("network (grouped by architecture)")
    ax.set_title(f"Pairwise {metric} distances between {len(ids)} networks\n({what})", fontsize="medium")
    fig.legend(handles=ax.patches[:], fontsize="small", loc="outside lower center", ncol=min(4, len(order)))
    return fig


def embedding(run: Any, metric: str) -> Figure:
    """The stored 2-D embedding (MDS) of the `metric` distances: one point per network, coloured by
    architecture, marker by cluster. References: Kruskal 1964 (MDS); Maheswaranathan et al. 2019."""
    e = _catalog.embedding(run, metric)
    if not e["network"]:
        raise ConfigError(f"no embedding for metric {metric!r}; stored: {_catalog.embedding_metrics(run)} "
                          "(run `dynascope compare RUN`).")
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.add_subplot()
    archs = np.array(e["arch"])
    clusters = np.array([-1 if c is None else c for c in e["cluster"]])
    order = _catalog.arch_order(run)
    colours = arch_colours(order or sorted(set(archs)))
    present = sorted(set(archs), key=lambda a: (order.index(a) if a in order else len(order), a))
    for arch in present:
        for c in np.unique(clusters):
            sel = (archs == arch) & (clusters == c)
            if sel.any():
                ax.scatter(*e["xy"][sel].T, color=colours.get(arch, "black"), edgecolor="black", linewidth=0.4,
                           marker=CLUSTER_MARKERS[int(c) % len(CLUSTER_MARKERS)], s=36, alpha=0.85)
    handles = [Line2D([], [], marker="o", linestyle="", color=colours.get(a, "black"), label=a) for a in present]
    handles += [Line2D([], [], marker=CLUSTER_MARKERS[int(c) % len(CLUSTER_MARKERS)], linestyle="", color="grey",
                       label=f"cluster {c}") for c in np.unique(clusters)]
    unit = metric_units(metric)[1]
    ax.set_xlabel(f"MDS 1 ({unit}, as the {metric} distance)")
    ax.set_ylabel(f"MDS 2 ({unit}, as the {metric} distance)")
    ax.set_aspect("equal", adjustable="datalim")  # one unit of distance is as long on both axes
    ax.set_title(f"{len(archs)} networks embedded by {metric} distance (classical MDS)", fontsize="medium")
    fig.legend(handles=handles, fontsize="small", loc="outside right upper")
    return fig
