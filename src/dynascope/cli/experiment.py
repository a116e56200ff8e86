"""`dynascope experiment NAME --out DIR`: the theory experiments, each a small default that runs on a CPU in
about a minute, writing the figures (theory drawn on the simulation), every number drawn (series, x,
simulated, theory) as `numbers.csv` and `numbers.parquet`, and one self-contained `report.html` into DIR."""

from __future__ import annotations

import csv
import io
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import typer

from dynascope.cli._app import app
from dynascope.cli._display import console
from dynascope.errors import ConfigError, check_positive_int

#: The experiments `dynascope experiment` runs, with one line each.
EXPERIMENTS = {
    "deeplinear": "mode-by-mode learning of a deep linear network against the closed form, its tanh twin, and "
                  "the time to learn against depth and initial scale",
    "semantic": "a hierarchical item × feature dataset learned coarse to fine (deep) or without stages (shallow)",
    "generalization": "the linear teacher–student: double descent of the min-norm student, learning curves, and "
                      "the initial scale trading speed for generalization",
    "replay": "daily batches learned online or by replay, against the min-norm theory of replay to convergence",
    "reservoir": "FORCE learning of a sine and of the sine-wave task, and a reservoir against a network trained "
                 "end to end on a task",
    "over-training": "the flip-flop's attractors appearing during training: the skeleton at every weight snapshot",
}


#: One row of numbers.csv: series, x, simulated, theory (NaN where the theory has no prediction).
Row = tuple[str, float, float, float]


@dataclass(frozen=True)
class Settings:
    """The command's options: steps (None: the experiment's default), networks, seed, say (progress lines)."""

    steps: int | None
    n_networks: int
    seed: int
    say: Callable[[str], None]

    def key(self) -> Any:
        import jax

        return jax.random.key(self.seed)


@dataclass
class Outcome:
    """What an experiment produced: page blocks, rows of numbers.csv, and the summary lines printed."""

    blocks: list[Any]
    numbers: list[Row]
    summary: list[str]


def _series(name: str, x: np.ndarray, simulated: np.ndarray, theory: np.ndarray) -> list[Row]:
    return [(name, float(a), float(b), float(c)) for a, b, c in zip(x, simulated, theory)]


def _max_error(simulated: np.ndarray, theory: np.ndarray) -> float:
    finite = np.isfinite(simulated) & np.isfinite(theory)
    return float(np.max(np.abs(simulated[finite] - theory[finite]))) if finite.any() else math.nan


def _deeplinear(opts: Settings) -> Outcome:
    from dynascope.report import _theory as draw
    from dynascope.theory import deeplinear, mode_strength, twin

    steps = opts.steps or 2000
    s = np.array([3.0, 2.0, 1.0])
    rng = np.random.default_rng(opts.seed)
    u, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    v, _ = np.linalg.qr(rng.normal(size=(4, 3)))
    a0, horizon = 0.05, 8.0
    opts.say(f"deep linear networks: depth 2, {opts.n_networks} networks, {steps} steps of gradient descent")
    run = deeplinear.simulate(np.eye(4), u @ np.diag(s) @ v.T, depth=2, n_hidden=5, init_scale=a0,
                              learning_rate=horizon / steps, steps=steps, key=opts.key(), n_networks=opts.n_networks)
    theory = mode_strength(run.time, s, a0**2, 1.0, 2)
    error = _max_error(run.modes.mean(axis=0).T, theory)
    numbers = [row for a in range(3) for row in _series(f"mode s={s[a]:g}", run.time, run.modes[:, :, a].mean(0),
                                                          theory[a])]
    opts.say("tanh twin: the same initial weights, targets up to 3")
    p = 4
    x, y = np.sqrt(p) * np.eye(p), np.array([[3.0, 0, 0], [3, 3, 0], [0, 0, 3], [0, 3, 3]])
    pair = twin(x, y, depth=2, n_hidden=6, init_scale=1e-3, learning_rate=10.0 / steps, steps=steps, key=opts.key(),
                n_networks=opts.n_networks)
    numbers += _series("twin relative difference", pair.time, pair.difference.mean(0), np.zeros_like(pair.time))
    split = pair.split
    summary = [f"modes: max |simulation − theory| = {error:.3g} (mean over networks; strongest mode s = 3)",
               f"tanh twin: splits (> {split.threshold:g}) at time {np.nanmean(split.time):.3g}, "
               f"largest relative difference {split.max_difference.mean():.3g}"]
    block = draw.Block(
        "Deep linear network: mode by mode",
        "Gradient descent from small balanced weights (a0 = 0.05, one hidden layer) on whitened inputs: each "
        "singular mode of the input–output correlation rises in a sigmoid u(t) = s e^{2st}/(e^{2st} − 1 + s/u0), "
        "strongest first (Saxe, McClelland & Ganguli 2014). Its tanh twin, trained from the very same weights, "
        "follows it on the plateau and splits off when the hidden units saturate.",
        [(draw.deeplinear_modes(run.time, run.modes, theory, s), "deeplinear_modes",
          f"Simulation (solid) and closed form (dashed); max error {error:.3g}."),
         (draw.twin_losses(pair.time, pair.linear_loss, pair.tanh_loss, pair.difference, split.threshold),
          "deeplinear_twin", "Linear network and tanh twin from the same initial weights.")],
        ["quantity", "value"],
        [["max |simulated − theory| (modes)", error], ["twin split time", float(np.nanmean(split.time))],
         ["twin max relative difference", float(split.max_difference.mean())]],
    )
    scan_block, scan_numbers, scan_summary = _depth_scan(opts)
    return Outcome([block, scan_block], numbers + scan_numbers, summary + scan_summary)


def _depth_scan(opts: Settings) -> tuple[Any, list[Row], list[str]]:
    """The depth × initial-scale scan of one mode (s = 3) against the exact integral: its own small, fixed
    sizes (a few seconds), independent of --steps, which sets the modes' run above."""
    import jax

    from dynascope.report import _theory as draw
    from dynascope.theory import depth_scan, scaling_exponent, time_to_learn

    s, depths, scales = 3.0, np.array([2, 3, 4]), np.array([0.05, 0.07, 0.1, 0.14])
    key_small, key_depth = jax.random.split(opts.key())
    opts.say(f"depth × initial scale: {len(depths)} depths × {len(scales)} scales, small balanced weights")
    # 6000 steps of η = 0.015 (90 τ) reach the slowest cell (N_l = 5, a0 = 0.05: t ≈ 67 τ); both scans run
    # the same steps and records, so each depth's program is compiled once for the two.
    steps, every = 6000, 6
    scan = depth_scan(depths, scales, s=s, learning_rate=0.015, steps=steps, record_every=every, key=key_small,
                      n_hidden=1, n_networks=opts.n_networks)
    fine = np.geomspace(scales[0], scales[-1], 40)
    fine_theory = np.array([[float(time_to_learn(s, a**d, 1.0, int(d))) for a in fine] for d in depths])
    fitted = [scaling_exponent(scales, scan.simulated[i]) for i in range(len(depths))]
    exact = [scaling_exponent(scales, scan.theory[i]) for i in range(len(depths))]
    labels = [f"slope {f:.2f} (theory {'logarithmic' if d == 2 else -(d - 2)})" for f, d in zip(fitted, depths)]
    # Orthogonal start (a0 = 1, every layer an isometry on the mode: n_hidden = 1 with the balanced chain)
    # against a small one (a0 = 0.3), over depth, to 90 % of s: depth × time is the number of steps at a
    # learning rate ∝ 1/depth (the stable one shrinks as 1/depth), flat from a0 = 1, growing from small weights.
    by_depth = np.array([2, 3, 4, 6])
    opts.say(f"depth × time to learn over depths {by_depth.tolist()}: orthogonal (a0 = 1) against a0 = 0.3")
    deep = depth_scan(by_depth, [0.3, 1.0], s=s, learning_rate=0.002, steps=steps, record_every=every, key=key_depth,
                      n_hidden=1, fraction=0.9, n_networks=opts.n_networks)
    deep_sim = np.exp(np.nanmean(np.log(deep.simulated), axis=-1)) * by_depth[:, None]
    deep_theory = deep.theory * by_depth[:, None]
    mean_sim = np.exp(np.nanmean(np.log(scan.simulated), axis=-1))  # geometric mean over networks
    error = float(np.nanmax(np.abs(mean_sim - scan.theory) / scan.theory))
    numbers = [(f"time to learn, N_l={d + 1}", float(a), float(mean_sim[i, j]), float(scan.theory[i, j]))
               for i, d in enumerate(depths) for j, a in enumerate(scales)]
    numbers += [(f"depth x time to learn, a0={a:g}", float(d + 1), float(deep_sim[i, c]), float(deep_theory[i, c]))
                for c, a in enumerate((0.3, 1.0)) for i, d in enumerate(by_depth)]
    summary = [f"depth scan: fitted exponents {', '.join(f'N_l={d + 1}: {f:.3g}' for d, f in zip(depths, fitted))} "
               f"(theory −(N_l − 3) for N_l > 3, logarithmic for N_l = 3); largest relative |simulation − theory| "
               f"{error:.3g}",
               f"depth × time to learn from a0 = 1 (orthogonal): {', '.join(f'{v:.3g}' for v in deep_sim[:, 1])} "
               f"over N_l = {(by_depth + 1).tolist()}; from a0 = 0.3: {', '.join(f'{v:.3g}' for v in deep_sim[:, 0])}"]
    rows = [[f"N_l = {d + 1}", fitted[i], exact[i], "logarithmic" if d == 2 else float(-(d - 2))]
            for i, d in enumerate(depths)]
    block = draw.Block(
        "Depth and initial scale",
        f"One mode (s = {s:g}) learned from small balanced weights of per-layer scale a0 by networks of N_l "
        "layers: the time to reach s/2 grows as a0^{−(N_l − 3)} for N_l > 3 and only logarithmically for "
        "N_l = 3, so with small weights depth slows learning down. From an orthogonal start (a0 = 1) the number "
        "of steps at a learning rate scaled as 1/depth does not grow with depth (Saxe, McClelland & Ganguli "
        "2014). Simulation (points) and the exact integral of the mode equation (lines).",
        [(draw.depth_scan(scales, depths, mean_sim, fine, fine_theory, labels, by_depth, deep_sim, deep_theory,
                          ["from a0 = 0.3", "orthogonal, a0 = 1"]), "deeplinear_depth_scan",
          f"Largest relative error of the simulated times {error:.3g}; slopes fitted over a0 = "
          f"{scales[0]:g}–{scales[-1]:g}.")],
        ["depth", "fitted exponent (simulation)", "fitted exponent (exact theory)", "asymptotic theory"],
        rows,
    )
    return block, numbers, summary


def _semantic(opts: Settings) -> Outcome:
    from dynascope.report import _theory as draw
    from dynascope.theory import deeplinear, hierarchical_dataset, mode_strength

    steps = opts.steps or 2000
    h = hierarchical_dataset(3)
    # a0 = 0.1 per layer: u0 = 0.01; a horizon long enough for the weakest (leaf) modes, s = 1
    a0, horizon = 0.1, 6.0
    eta = horizon / steps
    opts.say(f"hierarchy of {h.features.shape[0]} items: deep (one hidden layer) and shallow networks, {steps} steps")
    deep = deeplinear.simulate(h.sigma_xx, h.sigma_yx, depth=2, n_hidden=16, init_scale=a0, learning_rate=eta,
                               steps=steps, key=opts.key(), n_networks=opts.n_networks)
    shallow = deeplinear.simulate(h.sigma_xx, h.sigma_yx, depth=1, n_hidden=1, init_scale=a0**2,
                                  init="small_random", learning_rate=eta, steps=steps, key=opts.key(),
                                  n_networks=opts.n_networks)
    s = deep.singular_values
    deep_theory = mode_strength(deep.time, s, a0**2, 1.0, 2)
    # No hidden layer: du/dt = s − u, an exponential approach from u(0) (the simulated start, small).
    u0 = shallow.modes[:, 0].mean(0)
    shallow_theory = s[:, None] + (u0 - s)[:, None] * np.exp(-shallow.time)[None, :]
    deep_error = _max_error(deep.modes.mean(0).T, deep_theory)
    shallow_error = _max_error(shallow.modes.mean(0).T, shallow_theory)
    # Transient over-generalization: item 0's output for features it lacks (its sibling's, its cousins', the
    # other half's) rises to their base rate among the items it cannot yet tell apart, then falls to 0 when the
    # finer split is learned. The theory is W(t) = U diag(u(t)) Vᵀ with each u_α(t) from the closed form.
    u_modes, v_modes = deep.mode_vectors
    owners = {"its own leaf (has it)": 7, "its sibling's leaf": 8, "its cousins' branch": 4, "the other half": 2}
    columns = [int(np.nonzero(h.feature_node == node)[0][0]) for node in owners.values()]
    item_out = deep.maps.mean(0)[:, columns, 0]  # [R, k]
    item_theory = np.einsum("ka,ar,a->kr", u_modes[columns], deep_theory, v_modes[0])  # [k, R]
    item_error = _max_error(item_out.T, item_theory)
    sibling_peak = float(item_out[:, 1].max())
    numbers_item = [row for k, name in enumerate(owners) for row in _series(f"item 0 output, {name}", deep.time,
                                                                            item_out[:, k], item_theory[k])]
    # Every layer: a network with two hidden layers (a0 = 0.3, so its leaves are learned within the horizon:
    # time to learn s = 1 from u0 = 0.027 is ≈ 2.4).
    deeper = deeplinear.simulate(h.sigma_xx, h.sigma_yx, depth=3, n_hidden=16, init_scale=0.3, learning_rate=eta,
                                 steps=steps, key=opts.key(), n_networks=opts.n_networks)
    first = deeper.weights[0][0]
    layers = [np.corrcoef(first.T), np.corrcoef((deeper.weights[1][0] @ first).T)]
    hidden = deep.weights[0][0]  # [n_hidden, items]: the hidden representation of each item
    similarity = np.corrcoef(hidden.T)
    # The tree's item similarity: the fraction of features two items share (independent of any network).
    shared = h.features @ h.features.T
    tree = np.corrcoef(shared)
    layer_match = [float(np.corrcoef(m[np.triu_indices(8, 1)], tree[np.triu_indices(8, 1)])[0, 1])
                   for m in (similarity, *layers)]
    numbers = [row for a in range(len(s)) for row in _series(f"deep mode {a} (s={s[a]:.3g})", deep.time,
                                                             deep.modes[:, :, a].mean(0), deep_theory[a])]
    numbers += [row for a in range(len(s)) for row in _series(f"shallow mode {a} (s={s[a]:.3g})", shallow.time,
                                                              shallow.modes[:, :, a].mean(0), shallow_theory[a])]
    numbers += numbers_item
    summary = [f"deep: max |simulation − theory| = {deep_error:.3g}; shallow: {shallow_error:.3g}",
               f"singular values by level: {', '.join(f'{v:.3g}' for v in s)}",
               f"over-generalization: item 0's output for its sibling's feature peaks at {sibling_peak:.3g} before "
               f"falling to {item_out[-1, 1]:.2g} (max |simulation − theory| {item_error:.3g})",
               f"hierarchy in every layer: correlation of each layer's item similarity with the tree's "
               f"{', '.join(f'{v:.3g}' for v in layer_match)} (one hidden layer; two hidden layers: first, second)"]
    block = draw.Block(
        "Semantic development on a hierarchy",
        "Items are the leaves of a binary tree; each node owns a feature. The singular modes of the item–feature "
        "correlation are the tree's levels, strongest for the coarsest split, so a network with a hidden layer "
        "learns the hierarchy coarse to fine in stages; a network without one has no plateaus (Saxe, McClelland & "
        "Ganguli 2019). Between stages the network over-generalizes: before it can tell an item from its sibling "
        "it gives the item the sibling's features at their base rate, then takes them back. Every hidden layer's "
        "item similarity shows the tree.",
        [(draw.semantic_modes(deep.time, deep.modes.mean(0), deep_theory, shallow.modes.mean(0), shallow_theory,
                              h.mode_level), "semantic_modes", f"Max error: deep {deep_error:.3g}, shallow "
                                                               f"{shallow_error:.3g}."),
         (draw.item_outputs(deep.time, item_out, item_theory, list(owners)), "semantic_overgeneralization",
          f"Item 0's outputs, simulation (solid) and theory (dashed); max error {item_error:.3g}."),
         (draw.similarity_matrices([similarity, *layers], ["one hidden layer", "two hidden layers: first",
                                                           "two hidden layers: second"]), "semantic_similarity",
          "Correlation between the items' representations in every hidden layer after learning.")],
        ["quantity", "value"],
        [["max |simulated − theory| (deep)", deep_error], ["max |simulated − theory| (shallow)", shallow_error],
         ["peak output for the sibling's feature (target 0)", sibling_peak],
         ["max |simulated − theory| (item 0's outputs)", item_error],
         *[[f"similarity vs the tree's, {name}", v] for name, v in zip(("one hidden layer", "two hidden layers: "
                                                                         "first", "two hidden layers: second"),
                                                                        layer_match)]],
    )
    return Outcome([block], numbers, summary)


def _generalization(opts: Settings) -> Outcome:
    from dynascope.report import _theory as draw
    from dynascope.theory import generalization, learning_curves, min_norm_sweep, min_norm_test_error

    n, noise = 50, 0.25
    noises = np.array([0.0625, noise, 1.0])  # ×4 apart: the peak's height against σ²
    sizes = np.array([10, 20, 30, 40, 45, 55, 60, 75, 100, 150])
    n_mc = max(opts.n_networks, 32)
    opts.say(f"min-norm students: N = {n}, {len(sizes)} training-set sizes × {len(noises)} noise levels, {n_mc} "
             "networks")
    # Monte Carlo: at least 32 repetitions (host pinv of ≤ 150 × 50, cheap), so the median is near the mean.
    # The same key for every noise level: the same inputs and teachers, only the label noise scaled.
    sweeps = [min_norm_sweep(n, sizes, noise_variance=v, key=opts.key(), n_networks=n_mc) for v in noises]
    sweep = sweeps[1]
    theory = min_norm_test_error(sweep.alpha, noise, n_inputs=n)
    fine = np.linspace(0.1, 3.0, 300)
    fine = fine[np.abs(fine - 1.0) > 0.03]
    steps = opts.steps or 2000
    alpha = 0.6
    opts.say(f"gradient descent at α = {alpha}: {steps} steps")
    run = generalization.simulate(n, int(alpha * n), noise_variance=noise, learning_rate=0.1, steps=steps,
                                  key=opts.key(), n_networks=max(opts.n_networks, 16))
    _, curve = learning_curves(run.time, alpha, noise)
    # The theory is an expectation: compare the mean (the errors are skewed near the threshold).
    median = np.mean(sweep.test_error, axis=1)
    sweep_error = float(np.max(np.abs(median - theory) / theory))
    curve_error = _max_error(run.test_error.mean(0), curve)
    # The peak: the larger mean test error of the two sizes flanking the threshold (P = 45, 55), against the
    # finite-N expectation there. Its noise term, σ² P/(N − P − 1) below the threshold or σ² N/(P − N − 1)
    # above, grows in proportion to σ², on top of the floor σ² and the frozen signal (1 − P/N) below.
    means = np.array([np.mean(w.test_error, axis=1) for w in sweeps])  # [B, A]
    flank = np.sort(np.argsort(np.abs(sizes - n))[:2])
    at_peak = flank[np.argmax(means[:, flank], axis=1)]
    peak_sim = means[np.arange(len(noises)), at_peak]
    peak_theory = np.array([min_norm_test_error(sweep.alpha[i], v, n_inputs=n) for i, v in zip(at_peak, noises)])
    noise_term = (peak_theory - noises - np.maximum(0.0, 1.0 - sizes[at_peak] / n)) / noises
    # Early stopping: the theory's optimum over the run's times against the t → ∞ (min-norm) asymptote.
    asymptote = float(min_norm_test_error(alpha, noise))
    best = int(np.argmin(curve))
    sim_curve = run.test_error.mean(0)
    sim_best = int(np.argmin(sim_curve))
    numbers = []
    for v, w, m in zip(noises, sweeps, means):
        numbers += _series(f"min-norm test error (mean), noise={v:g}", w.alpha, m,
                           min_norm_test_error(w.alpha, v, n_inputs=n))
    numbers += _series(f"test error over time, alpha={alpha}", run.time, sim_curve, curve)
    numbers += [("early stopping optimum", float(run.time[best]), float(sim_curve[best]), float(curve[best])),
                ("min-norm asymptote", float(alpha), float(sim_curve[-1]), asymptote)]
    growth = ", ".join(f"σ² = {v:g}: {ps:.3g} (theory {pt:.3g})" for v, ps, pt in zip(noises, peak_sim, peak_theory))
    summary = [f"min-norm sweep (σ² = {noise}): largest relative |mean − theory| = {sweep_error:.3g}",
               f"double-descent peak (the larger mean test error at P = {sizes[flank[0]]}, {sizes[flank[1]]}, "
               f"flanking the threshold) against the noise: "
               f"{growth}",
               f"learning curve: max |mean simulation − theory| = {curve_error:.3g}",
               f"early stopping at α = {alpha}: theory optimum {curve[best]:.3g} at t = {run.time[best]:.3g} "
               f"(simulated {sim_curve[sim_best]:.3g} at t = {run.time[sim_best]:.3g}) against the min-norm "
               f"asymptote {asymptote:.3g}"]
    rows = [[float(a), float(m), float(t)] for a, m, t in zip(sweep.alpha, median, theory)]
    peak_rows = [[f"peak at α = {sweep.alpha[i]:g}, σ² = {v:g}", float(ps), float(pt), float(r)]
                 for i, v, ps, pt, r in zip(at_peak, noises, peak_sim, peak_theory, noise_term)]
    block = draw.Block(
        "Generalization: the linear teacher–student",
        f"A linear student of N = {n} parameters learns a noisy linear teacher from P = αN examples. The min-norm "
        "solution's test error peaks at the interpolation threshold α = 1 (double descent); the peak is the "
        "noise fitted by a nearly singular system, so its height above the floor σ² grows in proportion to σ² "
        "(×4 noise, ×4 excess, up to the frozen signal 1 − α below the threshold) and vanishes without noise. "
        "Gradient descent follows the Marchenko–Pastur theory over time; with noise its test error passes "
        "through a minimum before settling on the min-norm asymptote, so stopping early generalizes better "
        "(Advani, Saxe & Sompolinsky 2020).",
        [(draw.generalization_curves(sweep.alpha, np.array([w.test_error for w in sweeps]), fine,
                                     np.array([min_norm_test_error(fine, v) for v in noises]), noises, run.time,
                                     run.test_error, curve, alpha, asymptote), "generalization",
          f"Relative error of the sweep at σ² = {noise}: {sweep_error:.3g}; of the learning curve "
          f"{curve_error:.3g} (absolute); early stopping at t = {run.time[best]:.3g} reaches {curve[best]:.3g} "
          f"against {asymptote:.3g} at t → ∞.")],
        ["alpha (σ² = 0.25) / peak", "mean test error", "theory (finite N)", "peak: theory's noise term / σ²"],
        [[*r, ""] for r in rows] + peak_rows
        + [[f"early stopping at α = {alpha}, t = {run.time[best]:.3g}", float(sim_curve[best]), float(curve[best]),
            ""], [f"t → ∞ at α = {alpha} (min-norm)", float(sim_curve[-1]), asymptote, ""]],
    )
    trade_block, trade_numbers, trade_summary = _init_scale(opts, n, noise)
    return Outcome([block, trade_block], numbers + trade_numbers, summary + trade_summary)


def _init_scale(opts: Settings, n: int, noise: float) -> tuple[Any, list[Row], list[str]]:
    """Speed against generalization over the initial weight scale, for a student without and with a hidden
    layer at α = 1/2 (fixed sizes, seconds; --steps is the learning curve's)."""
    from dynascope.report import _theory as draw
    from dynascope.theory.tradeoff import init_scale_scan

    p, scales, depths = n // 2, np.array([0.05, 0.1, 0.2, 0.5, 1.0, 1.5]), [1, 2]
    opts.say(f"initial scale: {len(scales)} scales × 16 data sets, students of depth 1 and 2, N = {n}, P = {p}")
    # η = 0.03 is stable up to a0 = 1.5 at depth 2 (curvature ≈ 2 a0² λ_max, λ_max ≈ (1 + √2)² at α = 1/2);
    # 2000 steps (60 τ) fit every training set to ~1e-10.
    scans = [init_scale_scan(n, p, scales, depth=d, noise_variance=noise, learning_rate=0.03, steps=2000,
                             record_every=4, key=opts.key(), n_data=16, n_networks=max(opts.n_networks, 2))
             for d in depths]
    times = np.array([np.exp(np.nanmean(np.log(s.time_to_learn), axis=(1, 2))) for s in scans])
    tests = np.array([s.test_error.mean(axis=(1, 2)) for s in scans])
    theory = np.array([s.theory for s in scans])
    shallow_error = float(np.max(np.abs(tests[0] - theory[0]) / theory[0]))
    numbers = [(f"time to learn, depth={d}", float(a), float(times[k, j]), math.nan)
               for k, d in enumerate(depths) for j, a in enumerate(scales)]
    numbers += [(f"test error after training, depth={d}", float(a), float(tests[k, j]), float(theory[k, j]))
                for k, d in enumerate(depths) for j, a in enumerate(scales)]
    summary = [f"initial scale (α = 1/2): a0 {scales[0]:g} → {scales[-1]:g} speeds the deep student's learning "
               f"{times[1, 0] / times[1, -1]:.3g}-fold and raises its test error {tests[1, 0]:.3g} → "
               f"{tests[1, -1]:.3g}; shallow student vs frozen-subspace theory: largest relative difference "
               f"{shallow_error:.3g}"]
    rows = [[f"{a:g}", *(float(times[k, j]) for k in range(2)), *(float(v) for k in range(2)
                                                                    for v in (tests[k, j], theory[k, j]))]
            for j, a in enumerate(scales)]
    block = draw.Block(
        "Initial scale: speed against generalization",
        f"Students of the same teacher (N = {n}, P = {p} examples, σ² = {noise}) start from weights of per-layer "
        "scale a0. With fewer examples than inputs, the part of the first layer outside the inputs' span never "
        "changes (the frozen subspace), so whatever the initial map put there stays and adds to the test error: "
        "σ² + (r² + σ0²)(1 − α) + σ² α/(1 − α) with σ0² = a0^{2·depth}, exact for the shallow student (Advani, "
        "Saxe & Sompolinsky 2020). With a hidden layer, small weights also mean a plateau before learning, "
        "large weights none: large initial weights learn fast but generalize badly. For the deep student the "
        "line is exact only at the two ends (a0 → 0, and later layers that hardly move); between, the trained "
        "second layer rescales the frozen part.",
        [(draw.init_scale_tradeoff(scales, depths, times, tests, theory, p / n), "generalization_init_scale",
          f"Time for the training loss to fall to {scans[0].fraction:g} of the zero map's (geometric mean), and "
          f"the test error after 60 τ (mean of {scans[0].test_error[0].size} students per point).")],
        ["a0", "time, depth 1", "time, depth 2", "test, depth 1", "theory, depth 1", "test, depth 2",
         "theory, depth 2"],
        rows,
    )
    return block, numbers, summary


def _replay(opts: Settings) -> Outcome:
    from dynascope.report import _theory as draw
    from dynascope.theory import min_norm_test_error, replay

    n, days = 32, 4
    sizes, noises = np.array([2, 4, 8, 16, 32]), np.array([0.0, 0.25, 1.0])
    passes = np.array([1, 4, opts.steps or 64])
    if passes[-1] <= 4:
        raise ConfigError(f"--steps sets the most replay passes for this experiment and must exceed 4, got "
                          f"{passes[-1]}.")
    opts.say(f"replay map: N = {n}, {days} days, {len(sizes)} × {len(noises)} cells, passes {passes.tolist()}, "
             f"{max(opts.n_networks, 12)} networks")
    m = replay.replay_map(n, examples_per_day=sizes, noise_variances=noises, passes=passes, n_days=days,
                          key=opts.key(), n_networks=max(opts.n_networks, 12))
    online = np.median(m.online, axis=-1)
    replayed = np.median(m.replay, axis=-1)  # [A, B, C]
    # errors floored at 1e-3 (r² = 1): exact recovery (~1e-14) would otherwise swamp the colour scale
    gain = np.log10(np.maximum(online, 1e-3) / np.maximum(replayed.min(axis=-1), 1e-3))
    total_alpha = sizes * days / n
    theory = np.stack([min_norm_test_error(total_alpha, v, n_inputs=n) for v in noises], axis=1)
    # Finite-N theory is undefined within 1 of the threshold (inf with noise); those cells are left out. With
    # noise and more examples than parameters the equations are inconsistent, and the constant-step rule does
    # not converge to least squares (it hovers around it): no prediction is drawn there either.
    predicted = (np.abs(sizes * days - n)[:, None] >= 2) & ((total_alpha[:, None] < 1) | (noises[None, :] == 0))
    theory = np.where(np.isfinite(theory) & predicted, theory, np.nan)
    converged = replayed[:, :, -1]
    error = float(np.nanmax(np.abs(converged - theory) / np.maximum(theory, 1e-2)))
    numbers = [(f"replay {passes[-1]} passes, noise={v:g}", float(a), float(converged[i, j]), float(theory[i, j]))
               for j, v in enumerate(noises) for i, a in enumerate(total_alpha)]
    numbers += [(f"online, noise={v:g}", float(a), float(online[i, j]), math.nan)
                for j, v in enumerate(noises) for i, a in enumerate(total_alpha)]
    counts = {v: int(np.sum(m.verdict == v)) for v in replay.VERDICTS}
    summary = [f"verdicts: {', '.join(f'{v} {c}' for v, c in counts.items())}",
               f"replay to convergence vs min-norm theory: largest relative difference {error:.3g} "
               "(away from the threshold)"]
    rows = [[int(sizes[i]), float(noises[j]), float(online[i, j]), *(float(r) for r in replayed[i, j]), m.verdict[i, j]]
            for i in range(len(sizes)) for j in range(len(noises))]
    block = draw.Block(
        "Replay versus online learning",
        f"Every day brings new examples of a linear teacher (N = {n}). Online learning sees each once; replay "
        "passes over the stored buffer again and again. Replay helps most when data are scarce and labels "
        "reliable; with noisy labels, replaying to convergence fits the noise, and near as many examples as "
        "parameters it overtrains — it becomes the min-norm student, whose error peaks there.",
        [(draw.replay_map(sizes, noises, gain, m.verdict), "replay_map", "Gain of the best replay over online."),
         (draw.replay_theory(total_alpha, noises, converged, theory), "replay_theory",
          f"Replay with {passes[-1]} passes a day (points) and the min-norm theory (dashed), drawn where replay "
          "converges to it: below the threshold, and above it without noise.")],
        ["examples per day", "noise", "online", *(f"replay ×{c}" for c in passes), "verdict"],
        rows,
    )
    return Outcome([block], numbers, summary)


def _reservoir(opts: Settings) -> Outcome:
    import jax

    from dynascope import tasks
    from dynascope.report import _theory as draw
    from dynascope.theory import reservoir

    k_net, k_state, k_cmp = jax.random.split(opts.key(), 3)
    steps = opts.steps or 300
    opts.say("FORCE: a 100-unit reservoir learns a sine with output feedback (2000 steps, then 1000 free)")
    params = reservoir.init_reservoir(0, 100, 1, key=k_net, spectral_radius=1.2, feedback_scale=1.0)
    t = np.arange(3000)
    target = np.sin(2 * np.pi * t / 100)[:, None]
    run = reservoir.force(params, target, train_steps=2000, key=k_state, alpha=1.0, leak=0.1)
    task = tasks.get("flipflop", n_bits=2, n_time=40)
    opts.say(f"reservoir vs trained: flipflop (2 bits), 32 units, training {steps} steps")
    c = reservoir.compare_with_trained(task, key=k_cmp, n_hidden=32, train_steps=steps, n_trials=32)
    opts.say("FORCE as a training method: a 200-unit reservoir learns the sine-wave task (51 cued frequencies) "
             "over 200 trials")
    on_task = reservoir.force_on_task(tasks.get("sinewave"), key=k_state, n_hidden=200, n_train_trials=200,
                                      n_test_trials=32, leak=0.3)
    # Fixed points at constant inputs of each task: the flip-flop's "hold" (0) and a pulse on bit 0 (±1) for
    # the reservoir (its ridge readout has no feedback: the closed loop is the driven reservoir) and the
    # trained network; the FORCE network, its readout fed back, at three of the sine-wave task's cue levels.
    opts.say("fixed points: reservoir and trained network at the flip-flop's inputs, the FORCE network at three "
             "sine-wave cues")
    flip_inputs = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    flip_labels = ["hold (0, 0)", "bit 0 = +1", "bit 0 = −1"]
    fps = reservoir.fixed_point_structure(c, flip_inputs, key=k_cmp, n_initial_states=32)
    sine_task = tasks.get("sinewave")
    cues = np.asarray(sine_task.analysis_inputs(), np.float64)[[0, 25, 50]]
    force_fps = reservoir.closed_loop_fixed_points(on_task.params, cues, key=k_state, leak=0.3, n_initial_states=16)
    force_by_index = [reservoir.counts_by_index(f) for f in force_fps]
    force_slowest = [_oscillation(f) for f in force_fps]

    def counts(by_index: dict[int, int]) -> str:
        return ", ".join(f"{n} of index {i}" for i, n in sorted(by_index.items())) or "none"

    numbers = _series("FORCE output", t.astype(float), run.outputs[:, 0], target[:, 0])
    numbers += [("reservoir vs trained", 0.0, c.loss_reservoir, c.loss_trained)]
    numbers += [("FORCE on sinewave, test trial 0", float(i), float(z), float(f))
                for i, (z, f) in enumerate(zip(on_task.outputs[0, :, 0], on_task.targets[0, :, 0]))]
    # per flip-flop input (x = its row in flip_inputs), one series per system; no theory predicts these counts
    numbers += [(f"stable fixed points, {name}", float(i), float(by[i].get(0, 0)), math.nan)
                for name, by in (("reservoir", fps.by_index_reservoir), ("trained", fps.by_index_trained))
                for i in range(len(flip_inputs))]
    numbers += [(f"slowest stable mode (steps), {name}", float(i), float(v), math.nan)
                for name, slow in (("reservoir", fps.slowest_reservoir), ("trained", fps.slowest_trained))
                for i, v in enumerate(slow)]
    rows = [["loss (masked MSE)", c.loss_reservoir, c.loss_trained], ["task metric", c.metric_reservoir,
                                                                      c.metric_trained],
            ["participation ratio", c.pr_reservoir, c.pr_trained], ["CKA between the two", c.cka, c.cka]]
    rows += [[f"fixed points at {label} (by index)", counts(fps.by_index_reservoir[i]), counts(fps.by_index_trained[i])]
             for i, label in enumerate(flip_labels)]
    rows += [[f"slowest stable mode at {label} (steps)", float(fps.slowest_reservoir[i]),
              float(fps.slowest_trained[i])] for i, label in enumerate(flip_labels)]
    rows += [["FORCE on sinewave: test loss (200 units, no trained twin)", on_task.loss, ""],
             ["FORCE on sinewave: task metric", on_task.metric, ""]]
    rows += [[f"FORCE closed loop at cue {cue[0]:.3g}: fixed points (by index); fastest-growing mode's period "
              "(steps)", counts(force_by_index[i]), force_slowest[i]] for i, cue in enumerate(cues)]
    summary = [f"FORCE: test RMSE {run.test_rmse:.3g} over the 1000 free steps",
               f"FORCE on the sine-wave task: test loss {on_task.loss:.3g}, metric {on_task.metric:.3g} on 32 new "
               "trials (readout frozen)",
               f"reservoir vs trained: loss {c.loss_reservoir:.3g} vs {c.loss_trained:.3g}, participation ratio "
               f"{c.pr_reservoir:.3g} vs {c.pr_trained:.3g}, CKA {c.cka:.3g}",
               f"fixed points at the flip-flop's hold input: reservoir {counts(fps.by_index_reservoir[0])}; trained "
               f"{counts(fps.by_index_trained[0])}; slowest stable mode {fps.slowest_reservoir[0]:.3g} vs "
               f"{fps.slowest_trained[0]:.3g} steps",
               "FORCE closed loop at the sine-wave cues: " + "; ".join(
                   f"{cue[0]:.3g}: {counts(b)}" for cue, b in zip(cues, force_by_index))]
    block = draw.Block(
        "Reservoirs and FORCE",
        "A fixed random reservoir with a learned linear readout: FORCE learning (Sussillo & Abbott 2009) makes it "
        "generate a sine through output feedback and, as a training method on a task, learns the sine-wave "
        "task's 51 cued frequencies over 200 trials; on a flip-flop task a reservoir with a ridge readout is "
        "compared with a network of the same size trained end to end (dimensionality by participation ratio, "
        "linear CKA, and fixed points at constant inputs counted by index, i.e. by their number of unstable "
        "modes, found by dynascope.dynamics.find_fixed_points). A trained network that remembers two bits holds "
        "each memory in a stable point (four at the hold input) with saddles between them; the echo-state "
        "reservoir (spectral radius below 1, no feedback) has one stable point per input and forgets. The FORCE "
        "network, analysed with its readout fed back as it runs, sits near an unstable point whose complex "
        "modes drive the oscillation (Sussillo & Barak 2013).",
        [(draw.force_output(run.outputs[:, 0], target[:, 0], 2000), "reservoir_force",
          f"Test RMSE {run.test_rmse:.3g} after learning is switched off."),
         (draw.reservoir_trials(c.targets[0], c.reservoir_outputs[0], c.trained_outputs[0], c.mask[0]),
          "reservoir_trial", "One evaluation trial of the flip-flop."),
         (draw.fixed_point_counts(flip_labels, ["reservoir", f"trained {c.arch}"],
                                  [fps.by_index_reservoir, fps.by_index_trained],
                                  np.array([fps.slowest_reservoir, fps.slowest_trained])),
          "reservoir_fixed_points", "Fixed points at the flip-flop's constant inputs, by index, and the slowest "
                                    "stable mode's time constant.")],
        ["quantity", "reservoir", f"trained {c.arch}"],
        rows,
    )
    return Outcome([block], numbers, summary)


def _oscillation(points: Any) -> float:
    """Period in steps 2π/|arg μ| of the fastest-growing complex mode of the converged points (μ the Euler
    step's multiplier 1 + alpha·λ; NaN where no complex mode grows): the oscillation a generator spins off."""
    lam = points.eigvals[points.converged]
    mu = 1.0 + points.alpha * lam if points.continuous else lam
    growing = (np.abs(mu) > 1.0) & (np.abs(mu.imag) > 1e-9)
    if not growing.any():
        return math.nan
    pick = np.argmax(np.where(growing, np.abs(mu), -np.inf))
    return float(2 * np.pi / abs(np.angle(mu.reshape(-1)[pick])))


def _over_training(opts: Settings, out: Path) -> Outcome:
    from dynascope import pipeline
    from dynascope.pipeline import AnalysisOptions, SweepConfig
    from dynascope.report import _over_training as draw
    from dynascope.report._theory import Block
    from dynascope.store import TrainingSkeletonRows
    from dynascope.train import TrainOptions

    steps = opts.steps or 600
    n_bits = 2
    every = max(steps // 6, 1)
    config = SweepConfig(task="flipflop", archs=("gru",), n_hidden=(8,), n_networks=opts.n_networks, steps=steps,
                         seed=opts.seed, task_options={"n_bits": n_bits, "n_time": 32},
                         train=TrainOptions(batch_size=16, learning_rate=0.01, checkpoint_every=every,
                                            snapshot_every=every))
    opts.say(f"training {opts.n_networks} GRU-8 on the {n_bits}-bit flip-flop for {steps} steps, weights kept "
             f"every {every} steps, into {out / 'run'}")
    run = pipeline.run_sweep(config, out / "run", resume=(out / "run" / "config.toml").exists())
    opts.say("fixed points and skeletons at every snapshot")
    options = AnalysisOptions(n_initial_states=64)
    pipeline.analyze_over_training(run, options)
    parts = draw.over_training_parts(run)
    assert parts is not None and parts.pending is None  # analysed just above
    rows = run.read(TrainingSkeletonRows, where={"input_index": 0}, order_by=("network", "step"))
    # The theory: a network that solves the n-bit flip-flop holds each of its 2^n memories in a stable point.
    numbers = [(f"stable points {net}", float(t), float(n), float(2 ** n_bits))
               for net, t, n in zip(rows.network, rows.step, rows.n_stable)]
    e = pipeline.emergence(run)
    final = e.final_stable[e.input_index == 0]
    summary = [f"final stable points per network: {final.tolist()} (a solution needs {2 ** n_bits}); their counts "
               f"settled at steps {e.stable_from[e.input_index == 0].tolist()}"]
    text = re.sub(r"<[^>]+>", "", parts.intro)  # the block's paragraph is plain text
    figures = [(fig, f"over_training_{i}", caption) for i, (fig, _, caption) in enumerate(parts.figures)]
    block = Block("Skeleton over training", text, figures, list(draw.COLUMNS), parts.rows)
    return Outcome([block], numbers, summary)


RUNNERS: dict[str, Callable[..., Outcome]] = {
    "deeplinear": _deeplinear, "semantic": _semantic, "generalization": _generalization, "replay": _replay,
    "reservoir": _reservoir, "over-training": _over_training,
}
#: Experiments that write a run folder of their own (`out/run`) and so take the output folder.
WITH_RUN = {"over-training"}


def run_experiment(name: str, out: Path, *, steps: int | None, n_networks: int, seed: int) -> list[Path]:
    """Run experiment `name` and write its files into `out`; returns the paths written."""
    from dynascope import store
    from dynascope.report import _theory as draw

    if name not in RUNNERS:
        raise ConfigError(f"unknown experiment {name!r}; choose one of {', '.join(RUNNERS)}.")
    if steps is not None:
        steps = check_positive_int("--steps", steps)
    n_networks = check_positive_int("--n-networks", n_networks)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"--seed must be an integer >= 0, got {seed!r}.")
    store.check_writable(out)  # before any work
    start = time.perf_counter()
    settings = Settings(steps, n_networks, seed, lambda line: console.print(f"[bold]{name}[/]: {line}"))
    outcome = RUNNERS[name](settings, out) if name in WITH_RUN else RUNNERS[name](settings)
    written: list[Path] = []
    for block in outcome.blocks:
        for fig, stem, _ in block.figures:
            path = out / f"{stem}.png"
            store.write_atomic(path, lambda tmp, fig=fig: fig.savefig(tmp, format="png", dpi=120))
            written.append(path)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["series", "x", "simulated", "theory"])
    writer.writerows([s, repr(x), repr(sim), repr(th)] for s, x, sim, th in outcome.numbers)
    store.write_atomic(out / "numbers.csv", lambda tmp: tmp.write_text(buf.getvalue(), encoding="utf-8"))
    # The same rows as a typed Parquet table (float64 columns, NaN where the theory has no prediction), to load
    # with pandas/DuckDB/Arrow beside a run's catalog; the CSV stays for a spreadsheet or a diff.
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(zip(*outcome.numbers)) if outcome.numbers else [(), (), (), ()]
    numbers = pa.table({"series": pa.array(columns[0], pa.string()),
                        **{name: pa.array(col, pa.float64()) for name, col in zip(("x", "simulated", "theory"),
                                                                                   columns[1:])}})
    store.write_atomic(out / "numbers.parquet", lambda tmp: pq.write_table(numbers, tmp))
    page = draw.experiment_page(name, outcome.blocks)
    store.write_atomic(out / "report.html", lambda tmp: tmp.write_text(page, encoding="utf-8"))
    written += [out / "numbers.csv", out / "numbers.parquet", out / "report.html"]
    for line in outcome.summary:
        console.print(line, markup=False)
    console.print(f"wrote {len(written)} files to {out} in {time.perf_counter() - start:.1f} s", markup=False)
    return written


@app.command("experiment")
def experiment_cmd(
    name: str = typer.Argument(..., metavar="NAME", help=f"one of: {', '.join(EXPERIMENTS)}"),
    out: Path = typer.Option(..., "--out", help="folder for the figures, numbers.csv/.parquet and report.html"),
    steps: int = typer.Option(None, "--steps", help="training steps (replay: the most passes); default per experiment"),
    n_networks: int = typer.Option(2, "--n-networks", help="networks (independent initial weights or data) per setting"),
    seed: int = typer.Option(0, "--seed", help="PRNG seed"),
) -> None:
    """Run a theory experiment (the theory drawn on top of the simulation): deeplinear, semantic,
    generalization, replay, reservoir or over-training. Writes PNG figures, numbers.csv, numbers.parquet and
    report.html into --out (over-training: also its run folder, --out/run)."""
    run_experiment(name, out, steps=steps, n_networks=n_networks, seed=seed)
