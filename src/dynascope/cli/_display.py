"""Rich tables and progress bars shared by the CLI commands."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


def _console(**kwargs: Any) -> Console:
    """A rich console; off a terminal (CI logs, pipes) 160 columns wide rather than 80, so tables stay
    readable, unless COLUMNS says otherwise."""
    c = Console(**kwargs)
    if not c.is_terminal and "COLUMNS" not in os.environ:
        c = Console(width=160, **kwargs)
    return c


console = _console()
err_console = _console(stderr=True, soft_wrap=True)


def table(title: str, columns: list[str], rows: list[list[Any]], caption: str | None = None) -> Table:
    """A rich table with `columns` and string-formatted `rows`, and an optional `caption` under it (what the
    columns mean). The first column (network ids, names) never wraps: an id split over two lines cannot be
    copied into the next command; the other columns fold on a narrow terminal."""
    t = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for i, c in enumerate(columns):
        t.add_column(c, overflow="fold", no_wrap=i == 0, min_width=len(c) if i == 0 else None)
    for r in rows:
        t.add_row(*(_fmt(v) for v in r))
    return t


def _fmt(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "[green]yes[/]" if v else "[red]no[/]"
    if isinstance(v, (float, np.floating)):
        return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.3e}"
    return escape(str(v))


def progress() -> Progress:
    """The progress bar used for long work: one row per stage, what is done of how much (networks, steps,
    pairs), a status field, elapsed time and rich's estimate of the time remaining (from the rate so far)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def networks_table(run: Any, title: str) -> Table:
    """The per-network training summary of a run folder."""
    from dynascope.store import NetworkRows

    n = run.read(NetworkRows, order_by=("network",))
    return table(
        title,
        ["network", "arch", "hidden", "final loss", "task score", "trained", "diverged", "seconds (group)"],
        [list(r) for r in zip(n.network, n.arch, n.n_hidden, n.final_loss, n.metric, n.trained, n.diverged,
                              n.train_seconds)],
        caption="final loss: training loss at the end; task score: the task's own metric on held-out trials "
        "(trained = at least its criterion, not diverged); seconds (group): wall time of training the network's "
        "group (its networks train together).",
    )
