"""The run report: matplotlib figures for papers and one self-contained HTML page (plotly for 3-D state space)."""

from dynascope.report import figures
from dynascope.report._network import NetworkView, network_view, pca
from dynascope.report._palette import PALETTE
from dynascope.report._static import write_figures
from dynascope.report._trial import plot_trial
from dynascope.report.html import SECTIONS, render_report, write_report

__all__ = [
    "PALETTE",
    "SECTIONS",
    "NetworkView",
    "figures",
    "network_view",
    "pca",
    "plot_trial",
    "render_report",
    "write_figures",
    "write_report",
]
