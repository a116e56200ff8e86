"""`dynascope report RUN [--static]`: the self-contained HTML report, and optionally static figures."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dynascope.cli._app import app
from dynascope.cli._display import console


@app.command("report")
def report_cmd(
    run_path: str = typer.Argument(..., metavar="RUN", help="run folder (a path or a URL: s3://, gs://, ...)"),
    static: bool = typer.Option(False, "--static", help="also write every figure of the page as PNG and SVG to RUN/figures/ (the same --networks)"),
    networks: int = typer.Option(12, "--networks", help="networks shown one by one (state space, skeleton, spectra)"),
    out: Optional[Path] = typer.Option(
        None, "--out", help="where to write the page (default RUN/report.html; a folder gets report.html inside; "
        "missing folders are created)"),
) -> None:
    """Write RUN/report.html: one self-contained page (opens offline in any browser)."""
    import contextlib

    from dynascope import store
    from dynascope.errors import check_positive_int
    from dynascope.pipeline import open_run
    from dynascope.report import write_figures, write_report
    from dynascope.report.html import report_path

    check_positive_int("--networks", networks)
    run = open_run(run_path)
    run.check_intact()  # a damaged or missing file is named before minutes of rendering
    path = report_path(run, out)
    folder = run.path / "figures"
    # Every destination is checked before minutes of rendering: a --out inside a file or in a folder that
    # cannot be written, a read-only run folder. A missing parent folder of --out is created.
    store.check_writable(path.parent)
    if static:
        store.check_writable(folder)
    inside = static or path.resolve().is_relative_to(run.path.resolve())
    with run.writing("dynascope report") if inside else contextlib.nullcontext():
        with console.status("writing the report"):
            path = write_report(run, path, max_networks=networks)
        size = path.stat().st_size / 1e6
        console.print(f"wrote [bold]{path}[/] ({size:.1f} MB)" + (
            f", uploaded to {run.location}" if inside and run.remote is not None else ""))
        if static:
            with console.status("writing static figures"):
                paths = write_figures(run, folder, max_networks=networks)
            console.print(f"wrote {len(paths)} figure files to [bold]{folder}[/]" + (
                f", uploaded to {run.location}" if run.remote is not None else ""))
