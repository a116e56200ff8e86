"""`dynascope report RUN [--static]`: the self-contained HTML report, and optionally static figures."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dynascope.cli._app import app
from dynascope.cli._display import console


@app.command("report")
def report_cmd(
    run_path: Path = typer.Argument(..., metavar="RUN", help="run folder"),
    static: bool = typer.Option(False, "--static", help="also write every figure as PNG and SVG to RUN/figures/"),
    networks: int = typer.Option(12, "--networks", help="networks shown one by one (state space, skeleton, spectra)"),
    out: Optional[Path] = typer.Option(None, "--out", help="where to write the page (default RUN/report.html)"),
) -> None:
    """Write RUN/report.html: one self-contained page (opens offline in any browser)."""
    from dynascope import store
    from dynascope.errors import check_positive_int
    from dynascope.report import write_figures, write_report

    check_positive_int("--networks", networks)
    run = store.open(run_path)
    with console.status("writing the report"):
        path = write_report(run, out, max_networks=networks)
    size = path.stat().st_size / 1e6
    console.print(f"wrote [bold]{path}[/] ({size:.1f} MB)")
    if static:
        with console.status("writing static figures"):
            paths = write_figures(run, max_networks=min(networks, 3))
        folder = run.path / "figures"
        console.print(f"wrote {len(paths)} figure files to [bold]{folder}[/]")
