"""One trial of any task drawn as a figure: inputs on top, targets and network outputs below."""

from __future__ import annotations

import jax
import numpy as np
from matplotlib.figure import Figure

from dynascope.report._palette import PALETTE
from dynascope.tasks import Task, Trials


#: Outputs drawn at most, the first ones (a fit to a recording has one per neuron).
MAX_OUTPUTS = 6


def plot_trial(task: Task, trials: Trials, outputs: jax.Array | None = None, index: int = 0) -> Figure:
    """Figure of one trial: the inputs on top, the targets and the network's outputs below, against time in ms.

    Targets are dashed where the mask is set; outputs solid, in the targets' units (`task.predicted_targets`:
    expected counts for a fit to a recording); at most the first `MAX_OUTPUTS` outputs. Built without pyplot, so no GUI backend is
    needed.

    Args:
        task: the `Task` (names of the inputs and outputs, step `dt` in ms).
        trials: a batch from `task.sample` (inputs `[B, T, I]`, targets and mask `[B, T, O]`).
        outputs: the network's outputs `[B, T, O]`, or None to draw none.
        index: which trial of the batch.

    Returns:
        A matplotlib `Figure`.
    """
    x = np.asarray(trials.inputs[index])
    y = np.asarray(trials.targets[index])
    m = np.asarray(trials.mask[index])
    t = np.arange(x.shape[0]) * task.dt
    shown = min(y.shape[1], MAX_OUTPUTS)  # dozens of recorded neurons would bury the axes in legend entries
    if outputs is not None:
        outputs = np.asarray(task.predicted_targets(jax.numpy.asarray(outputs)))  # in the targets' units
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax_in, ax_out = fig.subplots(2, 1, sharex=True)
    in_names = task.input_names or tuple(f"input {i}" for i in range(x.shape[1]))
    out_names = task.output_names or tuple(f"output {i}" for i in range(y.shape[1]))
    for i in range(x.shape[1]):
        ax_in.plot(t, x[:, i], color=PALETTE[i % len(PALETTE)], label=in_names[i] if i < len(in_names) else f"input {i}")
    ax_in.set_ylabel("input (a.u.)")
    ax_in.set_title(f"{task.name}: example trial" + (f" (outputs 0–{shown - 1} of {y.shape[1]})"
                                                     if shown < y.shape[1] else ""))
    ax_in.legend(loc="upper right", fontsize="small", ncol=min(4, x.shape[1]))
    for o in range(shown):
        c = PALETTE[o % len(PALETTE)]
        name = out_names[o] if o < len(out_names) else f"output {o}"
        ty = np.where(m[:, o] > 0, y[:, o], np.nan)
        ax_out.plot(t, ty, "--", color=c, label=f"target {name}")
        if outputs is not None:
            ax_out.plot(t, np.asarray(outputs[index])[:, o], "-", color=c, alpha=0.8, label=f"network {name}")
    ax_out.set_xlabel("time (ms)")
    ax_out.set_ylabel("output (a.u.)")
    ax_out.legend(loc="upper right", fontsize="small", ncol=2)
    return fig
