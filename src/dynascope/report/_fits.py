"""The report's section on networks fitted to a recording (a run trained on the `recording` task and scored with
`dynascope score RUN`): each fit's co-smoothing bits per spike against the true rates' own, its rate and latent R²,
and its fixed points by index against the ground truth's. `fits_html` returns the whole section, or "" for a run
with no scored fit."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from dynascope.store import FitScoreRows

#: The section's id and heading.
SECTION = ("fits", "Fits to a recording")
COLUMNS = ["network", "co-bps", "co-bps (true rates)", "rate R²", "latent R²", "fixed points by index", "truth",
           "skeleton distance", "train score"]


def _number(x: float | None) -> str:
    return "–" if x is None else f"{x:.3g}"


def _census(text: str | None) -> str:
    return "–" if text is None else " ".join(f"{i}:{c}" for i, c in json.loads(text).items())


def fits_html(run: Any, table: Callable[..., str]) -> str:
    """The section's HTML (a table drawn with the page's `table(columns, rows, caption)`), or ""."""
    fits = run.read(FitScoreRows, order_by=("network",))
    if not len(fits):
        return ""
    sid, title = SECTION
    rows = [[n, _number(c), _number(ct), _number(r), _number(lt), _census(k), _census(kt), _number(d), _number(t)]
            for n, c, ct, r, lt, k, kt, d, t in zip(fits.network, fits.co_bps, fits.co_bps_true, fits.rate_r2,
                                                    fits.latent_r2, fits.index_counts, fits.index_counts_true,
                                                    fits.skeleton_distance, fits.train_metric)]
    intro = ("<p>Each network was trained on the recording's held-in neurons and training trials (Poisson "
             "likelihood). co-bps: bits per spike of the held-out neurons on the held-out trials, read out of the "
             "network's states by a Poisson regression fitted on the training trials; the true rates' own co-bps is "
             "the best a fit can expect. Rate and latent R² are against the ground truth on held-out trials. Fixed "
             "points by index: index:count under zero input in the region the network visits (0:8 1:12 = 8 "
             "attractors and 12 saddles with one unstable direction); skeleton distance: Σ|Δcount| / total against "
             "the ground truth's (0: the same). – : no ground truth in the recording, or not searched "
             "(Versteeg et al. 2023; Pei et al. 2021).</p>")
    body = intro + table(COLUMNS, rows, "networks fitted to a recording, scored on what they did not see")
    return f'<section id="{sid}" aria-labelledby="{sid}-h"><h2 id="{sid}-h">{title}</h2>\n{body}\n</section>'
