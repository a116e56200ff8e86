"""Spikes of a spiking network, as an electrophysiologist would look at them: a raster of every neuron on a few
trials and the histogram of the neurons' firing rates. Drawn only for spiking architectures (`lif`, `alif`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
from matplotlib.figure import Figure

from dynascope.pipeline import load_group
from dynascope.report import _catalog
from dynascope.report._captioned import Captioned
from dynascope.report._network import EXAMPLE_TRIAL_SEED, _run, sample_trials
from dynascope.report._palette import PALETTE

#: Neurons drawn in the raster at most (the first ones; the histogram counts all of them).
MAX_RASTER_NEURONS = 200
#: Trials the raster shows one after the other.
RASTER_TRIALS = 3


@dataclasses.dataclass(frozen=True, eq=False)
class SpikeView:
    """The spikes of one network on `n_trials` trials of its task, in NumPy: `spikes [B, T, H]` (0/1, what
    `model.spikes` returns for each step), `dt` ms per step; `rates_hz [H]` each neuron's mean firing rate over
    every step of every trial, in spikes per second."""

    network: str
    arch: str
    task: str
    dt: float
    spikes: np.ndarray

    @property
    def rates_hz(self) -> np.ndarray:
        return self.spikes.mean(axis=(0, 1)) * (1000.0 / self.dt)


def spike_view(
    run: Any, network: str, *, n_trials: int = 16, key: jax.Array, groups: dict[str, Any] | None = None
) -> SpikeView | None:
    """The `SpikeView` of one network on trials of its task, or None if its model does not spike.

    Args:
        run: the run folder.
        network: an id of the run's `networks` table.
        n_trials: task trials drawn.
        key: JAX PRNG key the trials are drawn from (keyword-only, required; the report passes
            `jax.random.key(EXAMPLE_TRIAL_SEED)`).
        groups: a cache {group name: `StoredGroup`} filled and reused across calls, or None.

    Returns:
        `SpikeView` (spikes `[B, T, H]` uint8, `dt` in ms), or None.

    Raises:
        ConfigError: `network` is not in the run; RunFolderError: its group's weights cannot be loaded.
    """
    group_name, index, arch = _catalog.locate(run, network)
    cache = groups if groups is not None else {}
    if group_name not in cache:
        cache[group_name] = load_group(run, group_name)
    group = cache[group_name]
    model, task = group.model, group.task
    if not getattr(model, "spiking", False):
        return None
    trials = sample_trials(task, key, n_trials)
    states = _run(model)(group.network(int(index)), trials.inputs)
    spikes = np.asarray(model.spikes(states), dtype=np.uint8)
    return SpikeView(network=network, arch=str(arch), task=task.name, dt=float(model.dt), spikes=spikes)


def raster_points(view: SpikeView) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time in ms, neuron, trial) of every spike of the first `RASTER_TRIALS` trials and the first
    `MAX_RASTER_NEURONS` neurons; a spike of step t is drawn at the end of that step, (t + 1)·dt."""
    shown = view.spikes[:RASTER_TRIALS, :, :MAX_RASTER_NEURONS]
    trial, step, neuron = np.nonzero(shown)
    return (step + 1) * view.dt, neuron, trial


def spike_raster(view: SpikeView) -> Figure:
    """Raster of the first trials (one row per neuron, trials in turn, one colour each) above the histogram of
    every neuron's firing rate over all trials."""
    b, t, h = view.spikes.shape
    n_trials, n_shown = min(b, RASTER_TRIALS), min(h, MAX_RASTER_NEURONS)
    fig = Figure(figsize=(7.5, 3.0 + min(n_shown, 100) * 0.02 + 2.2), layout="constrained")
    raster, hist = fig.subplots(2, 1, gridspec_kw={"height_ratios": [2.2, 1.0]})
    times, neurons, trials = raster_points(view)
    size = max(2.0, 60.0 / max(n_shown, 1))
    for k in range(n_trials):
        sel = trials == k
        raster.scatter(times[sel] + k * t * view.dt, neurons[sel], s=size, marker="|", linewidths=0.8,
                       color=PALETTE[k % len(PALETTE)], label=f"trial {k + 1}")
        if k:
            raster.axvline(k * t * view.dt, color="grey", linewidth=0.8)
    raster.set_xlim(0.0, n_trials * t * view.dt)
    raster.set_ylim(n_shown - 0.5, -0.5)
    raster.set_xlabel("time (ms), trials one after the other")
    raster.set_ylabel(f"neuron (first {n_shown} of {h})" if n_shown < h else f"neuron ({h})")
    more = f"; first {n_shown} of {h} neurons" if n_shown < h else ""
    raster.set_title(f"{view.network} ({view.arch}): spikes on {n_trials} trials of {view.task}{more}",
                     fontsize="medium")
    rates = view.rates_hz
    bins = np.histogram_bin_edges(rates, bins=min(30, max(5, h // 4)))
    hist.hist(rates, bins=bins, color=PALETTE[0], label=f"{h} neurons, {b} trials")
    silent = int(np.sum(rates == 0))
    hist.set_xlabel(f"firing rate (Hz; mean {rates.mean():.1f}, {silent} silent)")
    hist.set_ylabel("neurons (count)")
    # One legend beside both panels, so it covers no spike and no bar.
    handles = raster.get_legend_handles_labels()[0] + hist.get_legend_handles_labels()[0]
    fig.legend(handles=handles, fontsize="small", loc="outside right upper", markerscale=2.0)
    return fig


def spike_figures(run: Any, groups: dict[str, Any]) -> list[Captioned]:
    """For each spiking architecture, its best-scoring network's raster and firing-rate histogram.

    Args:
        run: the analysed run folder.
        groups: a cache {group name: `StoredGroup`} filled and reused across calls.

    Returns:
        A list of `Captioned` figures; empty for a run without spiking networks.

    Raises:
        RunFolderError: a group's weights cannot be loaded.
    """
    out = []
    for arch, network in _catalog.best_per_arch(run).items():
        view = spike_view(run, network, key=jax.random.key(EXAMPLE_TRIAL_SEED), groups=groups)
        if view is None:
            continue
        slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in network.replace("/", "_"))
        out.append(Captioned(
            spike_raster(view), f"spike_raster_{slug}",
            f"Spike raster of every neuron of {network} ({arch}) on {min(len(view.spikes), RASTER_TRIALS)} trials, "
            "and a histogram of the neurons' firing rates.",
            f"{arch}: {network} (best task score). Top: one tick per spike, one row per neuron, trials one after "
            "the other in different colours. Bottom: each neuron's mean firing rate over "
            f"{len(view.spikes)} trials (spikes per second). Silent neurons (rate 0) carry nothing; a neuron "
            "firing at nearly one spike per step is saturated; vertical stripes in the raster are synchronous "
            "volleys."))
    return out
