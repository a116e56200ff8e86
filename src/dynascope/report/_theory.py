"""Figures of the theory experiments (`dynascope experiment ...`), each with the theory drawn on top of the
simulation, and the one self-contained HTML page that holds them."""

from __future__ import annotations

import dataclasses
import html
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from dynascope.report import _assets
from dynascope.report._palette import PALETTE
from dynascope.report.html import img, table

__all__ = [
    "Block",
    "deeplinear_modes",
    "depth_scan",
    "experiment_page",
    "fixed_point_counts",
    "force_output",
    "generalization_curves",
    "item_outputs",
    "init_scale_tradeoff",
    "reservoir_trials",
    "replay_map",
    "replay_theory",
    "semantic_modes",
    "similarity_matrices",
    "similarity_matrix",
    "twin_losses",
]

THEORY = {"color": "black", "linestyle": "--", "linewidth": 1.2}


@dataclasses.dataclass
class Block:
    """One experiment's part of the page: a heading, a paragraph, figures (figure, file name, caption) and
    a table (columns, rows)."""

    title: str
    text: str
    figures: list[tuple[Figure, str, str]]
    columns: list[str]
    rows: list[list[Any]]


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def deeplinear_modes(time: np.ndarray, simulated: np.ndarray, theory: np.ndarray, s: np.ndarray) -> Figure:
    """Mode strengths over time: simulated `[n_networks, R, r]` (thin, one line per network) and the closed form
    `[r, R]` (dashed) for each singular value `s` `[r]`."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    for a, value in enumerate(s):
        for n in range(simulated.shape[0]):
            ax.plot(time, simulated[n, :, a], color=_colour(a), alpha=0.7, label=f"s = {value:.3g}" if n == 0 else None)
        ax.plot(time, theory[a], **THEORY, label="theory" if a == 0 else None)
    ax.set(xlabel="time (learning rate × steps)", ylabel="mode strength u", title="Deep linear network: modes")
    ax.legend(frameon=False)
    return fig


def depth_scan(init_scales: np.ndarray, depths: np.ndarray, simulated: np.ndarray, theory_scales: np.ndarray,
               theory: np.ndarray, exponents: list[str], by_depth: np.ndarray, by_depth_sim: np.ndarray,
               by_depth_theory: np.ndarray, by_depth_labels: list[str]) -> Figure:
    """Left: time to learn against the per-layer initial scale (log–log), simulated `[D, A]` (points) and the
    exact theory on a fine grid `[D, F]` (lines), one colour per depth, `exponents` `[D]` the legend text.
    Right: depth × time to learn (the steps at a learning rate ∝ 1/depth) against depth `[E]`, simulated
    `[E, C]` and theory `[E, C]` for each initial condition named in `by_depth_labels` `[C]`."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    for d, depth in enumerate(depths):
        left.loglog(init_scales, simulated[d], "o", color=_colour(d), label=f"N_l = {depth + 1}: {exponents[d]}")
        left.loglog(theory_scales, theory[d], color=_colour(d), linestyle="--", linewidth=1.2)
    left.plot([], [], **THEORY, label="exact theory")
    left.set(xlabel="initial scale a0 (per layer)", ylabel="time to learn (τ)",
             title="Small balanced weights: slower with depth")
    left.legend(frameon=False, fontsize=8)
    for c, label in enumerate(by_depth_labels):
        right.semilogy(by_depth + 1, by_depth_sim[:, c], "o", color=_colour(c + len(depths)), label=label)
        right.semilogy(by_depth + 1, by_depth_theory[:, c], **THEORY, label="theory" if c == 0 else None)
    right.set(xlabel="layers N_l", ylabel="depth × time to learn (steps at η ∝ 1/depth)",
              title="Orthogonal initialisation: depth-independent")
    right.legend(frameon=False, fontsize=8)
    return fig


def twin_losses(time: np.ndarray, linear: np.ndarray, tanh: np.ndarray, difference: np.ndarray,
                threshold: float) -> Figure:
    """Losses of a linear network and its tanh twin `[n, R]` and their relative output difference `[n, R]`."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    for n in range(linear.shape[0]):
        left.plot(time, linear[n], color=_colour(0), label="linear" if n == 0 else None)
        left.plot(time, tanh[n], color=_colour(1), label="tanh twin" if n == 0 else None)
        right.semilogy(time, np.maximum(difference[n], 1e-8), color=_colour(2))
    right.axhline(threshold, **THEORY, label=f"split threshold {threshold:g}")
    left.set(xlabel="time", ylabel="loss", title="Same initial weights, same data")
    right.set(xlabel="time", ylabel="relative output difference", title="Where the twins split")
    left.legend(frameon=False)
    right.legend(frameon=False)
    return fig


def semantic_modes(time: np.ndarray, deep: np.ndarray, deep_theory: np.ndarray, shallow: np.ndarray,
                   shallow_theory: np.ndarray, levels: np.ndarray) -> Figure:
    """Mode strengths of a deep and a shallow network on the hierarchy (`[R, r]` means over networks), the
    theory `[r, R]` dashed, coloured by the tree level each mode resolves (`levels` `[r]`, −1 the root)."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, sim, th, title in ((axes[0], deep, deep_theory, "one hidden layer: stages"),
                               (axes[1], shallow, shallow_theory, "no hidden layer: no stages")):
        seen: set[int] = set()
        for a in range(sim.shape[1]):
            level = int(levels[a])
            ax.plot(time, sim[:, a], color=_colour(level + 1),
                    label=("root" if level < 0 else f"split level {level}") if level not in seen else None)
            seen.add(level)
            ax.plot(time, th[a], **THEORY)
        ax.set(xlabel="time", title=title)
    axes[0].set_ylabel("mode strength")
    axes[0].legend(frameon=False)
    return fig


def similarity_matrix(matrix: np.ndarray, title: str) -> Figure:
    """A correlation matrix between items `[K, K]`."""
    fig = Figure(figsize=(4.2, 3.8), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(im, ax=ax)
    ax.set(xlabel="item", ylabel="item", title=title)
    return fig


def item_outputs(time: np.ndarray, simulated: np.ndarray, theory: np.ndarray, labels: list[str]) -> Figure:
    """One item's outputs for chosen features over time: simulated `[R, k]` (solid) and theory `[k, R]`
    (dashed), one colour per feature (`labels` `[k]`)."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    for k, label in enumerate(labels):
        ax.plot(time, simulated[:, k], color=_colour(k), label=label)
        ax.plot(time, theory[k], color=_colour(k), linestyle="--", linewidth=1.2)
    ax.plot([], [], **THEORY, label="theory")
    ax.set(xlabel="time", ylabel="output of item 0 for the feature", title="Over-generalization between stages")
    ax.legend(frameon=False, fontsize=8)
    return fig


def similarity_matrices(matrices: list[np.ndarray], titles: list[str]) -> Figure:
    """Item × item correlation matrices `[K, K]` side by side, one per layer."""
    fig = Figure(figsize=(3.6 * len(matrices) + 0.8, 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(matrices)))
    for ax, matrix, title in zip(axes, matrices, titles):
        im = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set(xlabel="item", ylabel="item", title=title)
    fig.colorbar(im, ax=list(axes))
    return fig


def generalization_curves(alpha: np.ndarray, simulated: np.ndarray, theory_alpha: np.ndarray, theory: np.ndarray,
                          noises: np.ndarray, time: np.ndarray, sim_test: np.ndarray, curve_test: np.ndarray,
                          curve_alpha: float, asymptote: float) -> Figure:
    """Left: min-norm test error against α, one colour per noise level `[B]` (simulated `[B, A, n]`, means as
    points; theory `[B, F]` on a fine grid); right: test error over training time at one α (simulated `[n, R]`,
    theory `[R]`) with the theory's early-stopping optimum marked and the t → ∞ (min-norm) asymptote."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    for b, sigma2 in enumerate(noises):
        left.semilogy(alpha, np.mean(simulated[b], axis=1), "o", color=_colour(b), label=f"σ² = {sigma2:g}")
        left.semilogy(theory_alpha, theory[b], color=_colour(b), linestyle="--", linewidth=1.2)
    left.plot([], [], **THEORY, label="theory (N → ∞)")
    left.axvline(1.0, color="grey", linewidth=0.8)
    left.set(xlabel="α = examples / parameters", ylabel="test error", title="Double descent (min-norm student)")
    for n in range(sim_test.shape[0]):
        right.plot(time, sim_test[n], color=_colour(1), alpha=0.6, label="simulated" if n == 0 else None)
    right.plot(time, curve_test, **THEORY, label="Marchenko–Pastur theory")
    best = int(np.argmin(curve_test))
    right.plot(time[best], curve_test[best], "v", color="black", markersize=8,
               label=f"early stopping: t = {time[best]:.3g}")
    right.axhline(asymptote, color="grey", linestyle=":", linewidth=1.2, label="t → ∞ (min-norm)")
    right.set(xlabel="time", ylabel="test error", title=f"Learning curve at α = {curve_alpha:g}")
    left.legend(frameon=False)
    right.legend(frameon=False)
    return fig


def init_scale_tradeoff(init_scales: np.ndarray, depths: list[int], times: np.ndarray, tests: np.ndarray,
                        theory: np.ndarray, alpha: float) -> Figure:
    """Left: time to learn against the per-layer initial scale `[A]`, one series per depth (`times` `[K, A]`,
    geometric means); right: test error after training (`tests` `[K, A]`, means) with the frozen-subspace
    theory `[K, A]` (dashed)."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    for k, depth in enumerate(depths):
        name = "no hidden layer" if depth == 1 else f"{depth - 1} hidden layer{'s' if depth > 2 else ''}"
        left.loglog(init_scales, times[k], "o-", color=_colour(k), label=name)
        right.semilogx(init_scales, tests[k], "o", color=_colour(k), label=name)
        right.semilogx(init_scales, theory[k], color=_colour(k), linestyle="--", linewidth=1.2)
    right.plot([], [], **THEORY, label="frozen-subspace theory")
    left.set(xlabel="initial scale a0 (per layer)", ylabel="time to fit the training set",
             title="Large initial weights learn fast")
    right.set(xlabel="initial scale a0 (per layer)", ylabel="test error after training",
              title=f"…and generalize worse (α = {alpha:g})")
    left.legend(frameon=False)
    right.legend(frameon=False)
    return fig


def replay_map(examples_per_day: np.ndarray, noise: np.ndarray, gain: np.ndarray, verdict: np.ndarray) -> Figure:
    """log10(online error / best replay error) over examples per day × noise `[A, B]`, each cell labelled with
    its verdict."""
    fig = Figure(figsize=(6, 4.2), layout="constrained")
    ax = fig.add_subplot()
    limit = max(float(np.nanmax(np.abs(gain))), 0.1)
    im = ax.imshow(gain.T, origin="lower", cmap="PuOr", vmin=-limit, vmax=limit, aspect="auto")
    fig.colorbar(im, ax=ax, label="log10(online error / best replay error)")
    for i in range(gain.shape[0]):
        for j in range(gain.shape[1]):
            ax.text(i, j, str(verdict[i, j]).replace(" ", "\n", 1), ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(examples_per_day)), [str(v) for v in examples_per_day])
    ax.set_yticks(range(len(noise)), [f"{v:g}" for v in noise])
    ax.set(xlabel="examples per day", ylabel="label noise σ²", title="Replay vs online learning")
    return fig


def replay_theory(total_alpha: np.ndarray, noise: np.ndarray, simulated: np.ndarray, theory: np.ndarray) -> Figure:
    """Test error of many-pass replay against α = examples seen / parameters (simulated `[A, B]` medians) and
    the min-norm theory `[A, B]` (dashed), one colour per noise level `[B]`."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    for b, sigma2 in enumerate(noise):
        ax.semilogy(total_alpha, simulated[:, b], "o-", color=_colour(b), label=f"σ² = {sigma2:g}")
        ax.semilogy(total_alpha, theory[:, b], **THEORY, label="min-norm theory" if b == 0 else None)
    ax.set(xlabel="α = examples seen / parameters", ylabel="test error after the last day",
           title="Replay to convergence is the min-norm student")
    ax.legend(frameon=False)
    return fig


def force_output(outputs: np.ndarray, targets: np.ndarray, train_steps: int) -> Figure:
    """FORCE: the network's output and the target `[T]`, with the end of learning marked."""
    fig = Figure(figsize=(10, 3), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(outputs, color=_colour(0), label="network output z")
    ax.plot(targets, **THEORY, label="target f")
    ax.axvline(train_steps, color="grey", linewidth=0.8)
    ax.text(train_steps, ax.get_ylim()[1], " learning off", va="top", fontsize=8)
    ax.set(xlabel="step", title="FORCE learning (recursive least squares with output feedback)")
    ax.legend(frameon=False, loc="lower left")
    return fig


def reservoir_trials(targets: np.ndarray, reservoir: np.ndarray, trained: np.ndarray, mask: np.ndarray) -> Figure:
    """One evaluation trial `[T, O]`: targets (dashed where scored), the reservoir's and the trained network's
    outputs."""
    n_out = targets.shape[1]
    fig = Figure(figsize=(10, 1.6 + 1.4 * n_out), layout="constrained")
    axes = np.atleast_1d(fig.subplots(n_out, 1, sharex=True))
    for o, ax in enumerate(axes):
        ax.plot(np.where(mask[:, o] > 0, targets[:, o], np.nan), **THEORY, label="target" if o == 0 else None)
        ax.plot(reservoir[:, o], color=_colour(0), label="reservoir + ridge readout" if o == 0 else None)
        ax.plot(trained[:, o], color=_colour(1), label="trained end to end" if o == 0 else None)
        ax.set_ylabel(f"output {o}")
    axes[0].legend(frameon=False, ncol=3)
    axes[-1].set_xlabel("step")
    return fig


def fixed_point_counts(input_labels: list[str], systems: list[str], by_index: list[list[dict[int, int]]],
                       slowest: np.ndarray) -> Figure:
    """Left: fixed points by index (number of unstable modes) at each constant input, one bar per system
    (`by_index[system][input]` = {index: count}), stacked by index; right: the slowest stable mode's time
    constant in steps `[system, input]` (log scale; absent where no point is stable)."""
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    n_in, width = len(input_labels), 0.8 / len(systems)
    indices = sorted({i for per_system in by_index for counts in per_system for i in counts})
    x = np.arange(n_in)
    for k, name in enumerate(systems):
        bottom = np.zeros(n_in)
        for j, index in enumerate(indices):
            height = np.array([by_index[k][c].get(index, 0) for c in range(n_in)], float)
            left.bar(x + k * width, height, width, bottom=bottom, color=_colour(j), edgecolor="black",
                     hatch="//" if k else None, label=(f"index {index}" + (" (stable)" if index == 0 else ""))
                     if k == 0 else None)
            bottom += height
        right.semilogy(x, slowest[k], "o-", color=_colour(k), label=name)
    left.set_xticks(x + 0.4 - width / 2, input_labels)
    left.set(ylabel="fixed points", title=f"By index: {' (plain) | '.join(systems)} (hatched)")
    right.set_xticks(x, input_labels)
    right.set(ylabel="slowest mode (steps)", title="Slowest stable mode")
    left.legend(frameon=False, fontsize=8)
    right.legend(frameon=False)
    return fig


def experiment_page(title: str, blocks: list[Block]) -> str:
    """One self-contained HTML page (inline CSS, figures as inline PNGs) with one section per block."""
    sections = []
    for i, b in enumerate(blocks):
        figs = "".join(img(fig, alt=caption, caption=caption) for fig, _, caption in b.figures)
        tab = table(b.columns, b.rows) if b.rows else ""
        sections.append(
            f'<section id="experiment-{i}" aria-labelledby="experiment-{i}-h"><h2 id="experiment-{i}-h">'
            f"{html.escape(b.title)}</h2>\n<p>{html.escape(b.text)}</p>\n"
            f'<div class="grid">{figs}</div>\n{tab}</section>'
        )
    name = html.escape(title)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>dynascope experiment: {name}</title>\n<style>{_assets.CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>dynascope experiment: {name}</h1></header>\n<main>\n" + "\n".join(sections)
        + "\n</main>\n</body>\n</html>\n"
    )
