"""Interactive (plotly) figures of the report, returned as JSON specs that the page renders with plotly.js."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io

from dynascope.report import _catalog
from dynascope.report._network import NetworkView
from dynascope.report.figures import (
    arch_colours,
    condition_colour,
    condition_label,
    index_colour,
    index_label,
    metric_units,
)

#: decimals kept in the page's coordinates: far below a pixel, and it halves the page size.
DECIMALS = 4


def _gapped(lines: np.ndarray) -> np.ndarray:
    """Polylines `[L, P, D]` joined into one `[L·(P+1), D]` array with NaN rows between them (one trace)."""
    gap = np.full((lines.shape[0], 1, lines.shape[2]), np.nan)
    return np.concatenate([lines, gap], axis=1).reshape(-1, lines.shape[2])


def _xyz(points: np.ndarray) -> dict[str, list]:
    p = np.round(points, DECIMALS)
    return {k: [None if np.isnan(v) else float(v) for v in p[:, i]] for i, k in enumerate("xyz")}


def state_space_figure(view: NetworkView) -> go.Figure:
    """3-D state space of one network, the interactive twin of `figures.state_space`.

    Trajectories coloured by condition, fixed points coloured by index, saddles' unstable directions.

    Args:
        view: the network's `NetworkView` (states projected on its first three principal components).

    Returns:
        A plotly `go.Figure`.
    """
    traces: list[Any] = []
    labels = view.conditions if len(view.conditions) == len(view.trajectories) else np.full(len(view.trajectories), -1)
    for c in (np.unique(labels) if view.trajectories.size else []):
        name = "trials: " + condition_label(view.condition_names, int(c)) if view.condition_names else "trajectories"
        traces.append(go.Scatter3d(
            **_xyz(_gapped(view.trajectories[labels == c])), mode="lines", name=name,
            line={"color": condition_colour(int(c)), "width": 2}, opacity=0.7, hoverinfo="skip",
        ))
    for idx in np.unique(view.n_unstable):
        sel = view.n_unstable == idx
        traces.append(go.Scatter3d(
            **_xyz(view.fixed_points[sel]), mode="markers", name=index_label(int(idx)), legendgroup=f"i{idx}",
            marker={"color": index_colour(idx), "size": 6, "symbol": "circle" if idx == 0 else "diamond",
                    "line": {"color": "black", "width": 1}},
            text=[f"index {idx}, input {k}" for k in view.input_index[sel]], hoverinfo="text",
        ))
    for idx in np.unique(view.segment_index):
        sel = view.segment_index == idx
        traces.append(go.Scatter3d(
            **_xyz(_gapped(view.segments[sel])), mode="lines", name=f"unstable directions (index {idx})",
            legendgroup=f"i{idx}", line={"color": index_colour(idx), "width": 6}, hoverinfo="skip",
        ))
    axis = lambda i: {"title": {"text": f"PC{i + 1} (a.u., {100 * view.explained[i]:.0f} % var.)"}}  # noqa: E731
    layout = go.Layout(
        title={"text": f"{view.network} ({view.arch}): state space"},
        # aspectmode 'data': equal scales on the three PCs, so a flat or elongated structure looks it;
        # the camera stands back a little and aims slightly low, so that the axis titles stay inside the frame.
        scene={"xaxis": axis(0), "yaxis": axis(1), "zaxis": axis(2), "aspectmode": "data",
               "camera": {"eye": {"x": 1.45, "y": 1.45, "z": 1.1}, "center": {"x": 0, "y": 0, "z": -0.12}}},
        legend={"orientation": "h", "y": -0.05},
        margin={"l": 0, "r": 0, "t": 40, "b": 10},
        height=560,
        showlegend=True,
    )
    return go.Figure(data=traces, layout=layout)


def embedding_figure(run: Any, metric: str) -> go.Figure:
    """The stored 2-D embedding of one metric's distances, one point per network coloured by architecture.

    The network id and cluster show on hover; the interactive twin of `figures.embedding`.

    Args:
        run: the run folder, compared (`dynascope compare`).
        metric: the metric whose embedding the catalog holds.

    Returns:
        A plotly `go.Figure`.
    """
    e = _catalog.embedding(run, metric)
    archs = np.array(e["arch"])
    order = _catalog.arch_order(run)
    colours = arch_colours(order or sorted(set(archs)))
    traces = []
    for arch in sorted(set(e["arch"]), key=lambda a: (order.index(a) if a in order else len(order), a)):
        sel = np.nonzero(archs == arch)[0]
        traces.append(go.Scatter(
            x=np.round(e["xy"][sel, 0], DECIMALS).tolist(), y=np.round(e["xy"][sel, 1], DECIMALS).tolist(),
            mode="markers", name=arch,
            marker={"color": colours.get(arch, "black"), "size": 8, "line": {"color": "black", "width": 0.5}},
            text=[f"{e['network'][i]} (cluster {e['cluster'][i]})" for i in sel], hoverinfo="text",
        ))
    unit = metric_units(metric)[1]
    layout = go.Layout(
        # short enough to stay clear of plotly's tool bar at the top right
        title={"text": f"MDS of {metric} distances", "x": 0.02, "xanchor": "left"},
        xaxis={"title": {"text": f"MDS 1 ({unit}, as the {metric} distance)"}},
        yaxis={"title": {"text": f"MDS 2 ({unit}, as the {metric} distance)"}, "scaleanchor": "x"},
        legend={"title": {"text": "architecture"}},
        height=480,
        margin={"t": 50},
    )
    return go.Figure(data=traces, layout=layout)


def to_json(fig: go.Figure) -> str:
    """The figure as JSON safe to place inside a `<script type="application/json">` element."""
    return plotly.io.to_json(fig, validate=False).replace("</", "<\\/")
