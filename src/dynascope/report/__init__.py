"""The run report: matplotlib figures for papers and one self-contained HTML page (plotly for 3-D state space)."""

from dynascope.report import figures
# The figure builders that live in their own modules (each imports `figures`' helpers, so they are re-exported
# here rather than from `figures`, which would make an import loop).
from dynascope.report._activity import activity_heatmap, activity_view, example_units, heatmap_order, unit_activity
from dynascope.report._captioned import energy_figure
from dynascope.report._catalog import CostPoints
from dynascope.report._conditions import trial_conditions
from dynascope.report._cost import cost_figure
from dynascope.report._dendrogram import complete_networks, dendrogram
from dynascope.report._fixed_point_stats import speed_histogram, time_constant_histogram, time_constants
from dynascope.report._interactive import embedding_figure, state_space_figure
from dynascope.report._multiples import state_space_grid
from dynascope.report._psychometric import Psychometric, choice_curve, choices, psychometric_figure, signed_evidence
from dynascope.report._spikes import RASTER_TRIALS, spike_figures, spike_view
from dynascope.report._network import NetworkView, network_view, pca
from dynascope.report._palette import PALETTE
from dynascope.report._static import write_figures
from dynascope.report._trial import MAX_OUTPUTS, plot_trial
from dynascope.report.html import SECTIONS, render_report, write_report

__all__ = [
    "PALETTE",
    "RASTER_TRIALS",
    "SECTIONS",
    "CostPoints",
    "NetworkView",
    "Psychometric",
    "activity_heatmap",
    "activity_view",
    "choice_curve",
    "choices",
    "complete_networks",
    "cost_figure",
    "dendrogram",
    "embedding_figure",
    "energy_figure",
    "example_units",
    "figures",
    "heatmap_order",
    "network_view",
    "pca",
    "plot_trial",
    "MAX_OUTPUTS",
    "psychometric_figure",
    "render_report",
    "signed_evidence",
    "speed_histogram",
    "spike_figures",
    "spike_view",
    "state_space_figure",
    "state_space_grid",
    "time_constant_histogram",
    "time_constants",
    "trial_conditions",
    "unit_activity",
    "write_figures",
    "write_report",
]
