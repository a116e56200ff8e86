"""`report.plot_trial` for every registered task (plotting lives in the report layer, not in `tasks`)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from matplotlib.figure import Figure

from dynascope import tasks
from dynascope.report import MAX_OUTPUTS, plot_trial


@pytest.mark.parametrize("name", tasks.names())
def test_plot_trial_returns_a_labelled_figure(name, key):
    task = tasks.get(name)
    trials = jax.jit(task.sample, static_argnums=1)(key, 4)
    fig = plot_trial(task, trials, outputs=trials.targets * 0.5, index=1)
    assert isinstance(fig, Figure)
    ax_in, ax_out = fig.axes[:2]
    assert task.name in ax_in.get_title()
    assert ax_in.get_ylabel() and ax_out.get_ylabel() and ax_out.get_xlabel() == "time (ms)"
    assert ax_in.get_legend() is not None and ax_out.get_legend() is not None
    labels = [t.get_text() for t in ax_in.get_legend().get_texts()]
    if task.input_names:
        assert labels == list(task.input_names)
    outputs = [ln for ln in ax_out.get_lines() if ln.get_label().startswith("network ")]
    # one solid line per output (the first MAX_OUTPUTS), drawn from `outputs` in the targets' units
    assert len(outputs) == min(task.n_outputs, MAX_OUTPUTS)
    if task.n_outputs > MAX_OUTPUTS:
        assert f"of {task.n_outputs})" in ax_in.get_title()
    drawn = np.asarray(task.predicted_targets(trials.targets * 0.5))[1, :, 0]
    np.testing.assert_allclose(outputs[0].get_ydata(), drawn, rtol=1e-6)
