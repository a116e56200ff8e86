"""The report's leaderboard section (a run scored with `dynascope score`): per benchmark, each group's and each
network's score under every metric against the recording's noise ceiling, and where the metrics disagree on the
ranking. `leaderboard_html` returns the whole section, or "" for a run never scored."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from dynascope.pipeline.score import agreement_statements
from dynascope.store.schema import ScoreAgreementRows, ScoreRows

#: The section's id and heading.
SECTION = ("leaderboard", "Leaderboard")
#: Table columns, one row per group or network and metric.
COLUMNS = ["metric", "level", "network or group", "raw", "ceiling", "normalised", "interval", "rank"]


def leaderboard_html(run: Any, table: Callable[..., str]) -> str:
    """The section's HTML (tables drawn with the page's `table(columns, rows, caption)`), or ""."""
    shards = [p.stem for p in run.shards(ScoreAgreementRows)]  # a benchmark is scored once its agreement exists
    if not shards:
        return ""
    sid, title = SECTION
    parts = ['<p>Each network run on the recorded trials\' inputs, its condition-averaged activity compared with '
             "the recording's under each metric (as a similarity), divided by the recording's own split-half "
             "ceiling (Spearman-Brown corrected, then its square root for the trajectory metrics: what a noise-free "
             "model of the recorded signal reaches; the fit metrics' own ceilings are in pipeline.readout): 1 is "
             "as good as the recording allows. Intervals: "
             "bootstrap over trials (networks) or over seeds (groups).</p>"]
    for shard in shards:
        scores = run.read(ScoreRows, shard=shard)
        agreement = run.read(ScoreAgreementRows, shard=shard)
        rows = sorted(
            ([m, lvl, n, raw, c, x, "–" if lo is None or hi is None else f"{lo:.3f} – {hi:.3f}", r]
             for m, lvl, n, raw, c, x, lo, hi, r in zip(scores.metric, scores.level, scores.network, scores.raw,
                                                        scores.ceiling, scores.normalised, scores.low, scores.high,
                                                        scores.rank)),
            key=lambda row: (row[0], row[1] != "group", row[7]))
        parts.append(f"<h3>{html.escape(shard)}</h3>")
        parts.append(table(COLUMNS, rows, f"scores against benchmark {shard}"))
        lines = agreement_statements(scores, agreement)
        parts.append("<ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in lines) + "</ul>")
    body = "\n".join(parts)
    return f'<section id="{sid}" aria-labelledby="{sid}-h"><h2 id="{sid}-h">{title}</h2>\n{body}\n</section>'
