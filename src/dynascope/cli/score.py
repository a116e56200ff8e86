"""`dynascope score RUN --recordings rec.nwb`: every network of a run scored against a recording on several
metrics, each divided by the recording's noise ceiling; the leaderboard stored in the catalog and printed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from dynascope.cli._app import app, parse_list
from dynascope.cli._display import console, progress, table
from dynascope.errors import ConfigError


def _rows(bar: Any, running: str) -> Callable[[str, int, int], None]:
    """A `progress(name, done, total)` callback that gives each name (a metric, a group) its row of `bar`."""
    rows: dict[str, int] = {}

    def on_progress(name: str, done: int, total: int) -> None:
        if name not in rows:
            rows[name] = bar.add_task(name, total=total, status="")
        bar.update(rows[name], completed=done, status="done" if done == total else running)

    return on_progress


def score(run_path: Path | str, recordings: Path | str, metrics: tuple[str, ...] | None, name: str | None, version: str,
          condition_column: str, inputs: str, bin_width: float | None, n_bins: int | None, bootstrap: int,
          include_untrained: bool) -> None:
    """Score the run against the recording (a file, or a registered benchmark 'name@version' as a str) with a
    progress bar, then print the leaderboard."""
    from dynascope.pipeline import open_run
    from dynascope.pipeline.benchmarks import DEFAULT_METRICS, Benchmark, get_benchmark
    from dynascope.pipeline.score import ScoreOptions
    from dynascope.pipeline.score import score as score_run

    if isinstance(recordings, str):
        benchmark = get_benchmark(recordings)  # registered: its own conditions, inputs and metrics
    else:
        benchmark = Benchmark(name or recordings.stem, version, recordings, metrics=DEFAULT_METRICS,
                              condition_column=condition_column, inputs=inputs or None, bin_width=bin_width,
                              n_bins=n_bins)
    if metrics is not None:
        benchmark = benchmark.with_metrics(metrics)
    benchmark.validate()  # before anything is read
    options = ScoreOptions(n_bootstrap=bootstrap, trained_only=not include_untrained)
    options.validate()
    run = open_run(run_path)
    run.check_intact()
    with run.writing("dynascope score"), progress() as bar:
        board = score_run(run, benchmark, options, progress=_rows(bar, "bootstrap"))
    s = board.scores
    def value(x: float | None) -> float | str:
        return "–" if x is None else x  # no ceiling (the recording has no reliable signal for this metric)

    shown = [[m, lvl, n, value(raw), value(c), value(x),
              f"[{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else "–", r]
             for m, lvl, n, raw, c, x, lo, hi, r in zip(s.metric, s.level, s.network, s.raw, s.ceiling, s.normalised,
                                                        s.low, s.high, s.rank)]
    shown.sort(key=lambda row: (row[0], row[1] != "group", row[7]))
    console.print(table(f"leaderboard: {run_path} against {benchmark.name}@{benchmark.version} "
                        f"({len(board.conditions)} conditions, pooled reliability {board.reliability.pooled:.2f})",
                        ["metric", "level", "network", "raw", "ceiling", "normalised", "interval", "rank"], shown,
                        caption="raw: similarity to the recording (fit metrics: held-out R² or bits per spike); "
                                "ceiling: what a noise-free model of the recording reaches; normalised = raw / "
                                f"ceiling; interval: {options.confidence:.0%} bootstrap over trials (networks) or "
                                "over the group's networks (groups); –: the recording gives this metric no "
                                "ceiling (no reliable signal), so it is not normalised."))
    for line in board.statements():
        console.print(line, markup=False)
    skipped = list(board.skipped_networks.items())
    for network, why in skipped[:10]:
        console.print(f"skipped {network}: {why}", markup=False)
    if len(skipped) > 10:
        console.print(f"... and {len(skipped) - 10} more networks skipped.", markup=False)


def score_fits(run_path: Path | str) -> None:
    """Score the networks of a run fitted to a recording (CtDB metrics) and print them."""
    import json

    import jax

    from dynascope.pipeline import open_run, score_fitted

    run = open_run(run_path)
    run.check_intact()
    with run.writing("dynascope score"), progress() as bar:
        fits = score_fitted(run, key=jax.random.key(0), progress=_rows(bar, "scoring"))

    def number(x: float | int | bool | None) -> str:
        return "" if x is None else ("yes" if x is True else "no" if x is False else f"{x:.3g}")

    def census(text: str | None) -> str:
        return "" if text is None else " ".join(f"{i}:{c}" for i, c in json.loads(text).items())

    shown = [[n, number(c), number(ct), number(r), number(lt), census(k), census(kt), number(d), number(t)]
             for n, c, ct, r, lt, k, kt, d, t in zip(fits.network, fits.co_bps, fits.co_bps_true, fits.rate_r2,
                                                     fits.latent_r2, fits.index_counts, fits.index_counts_true,
                                                     fits.skeleton_distance, fits.train_metric)]
    console.print(table(f"networks fitted to a recording: {run_path}",
                        ["network", "co-bps", "co-bps (true rates)", "rate R²", "latent R²", "fixed points by index",
                         "truth", "skeleton distance", "train score"], shown,
                        caption="co-bps: bits per spike of the held-out neurons on held-out trials, read out of the "
                                "network's states (higher is better; the true rates' own value is the best to "
                                "expect). rate R², latent R²: against the ground truth on held-out trials. fixed "
                                "points by index: index:count under zero input in the visited region (0:8 1:12 = 8 "
                                "attractors, 12 saddles with one unstable direction); skeleton distance: "
                                "Σ|Δcount| / total against the truth's (0: the same). train score: deviance explained "
                                "on the training trials (the recording task's metric; a fit counts as trained from "
                                "0.01). Empty: no ground truth."))


@app.command("score")
def score_cmd(
    run_path: str = typer.Argument(..., metavar="RUN", help="run folder (a path or a URL: s3://, gs://, ...)"),
    recordings: Path = typer.Option(None, "--recordings", help="NWB file: units with spike times, a trials table, "
                                    "inputs (omit it on a run fitted to a recording: the fits are scored on what "
                                    "they did not see)"),
    benchmark: str = typer.Option("", "--benchmark", help="a registered benchmark 'name@version' instead of "
                                  "--recordings: flipflop3@1 (the shipped 3-bit flip-flop recording, for networks "
                                  "trained on flipflop with n_bits=3)"),
    metric: str = typer.Option("", "--metric", "--metrics",
                               help="comma-separated metrics: geometry cca, shape, rsa; dynamics dsa; fit fit_r2 "
                                    "(held-out R²), fit_bps (held-out bits per spike) (default: cca,shape,rsa,fit_r2)"),
    name: str = typer.Option("", "--name", help="benchmark name (default: the file's stem)"),
    version: str = typer.Option("1", "--version", help="benchmark version"),
    condition_column: str = typer.Option("condition", "--condition-column", help="trials column of the conditions"),
    inputs: str = typer.Option("ground_truth/inputs", "--inputs", help="input TimeSeries ('name' or 'module/name')"),
    bin_width: float = typer.Option(None, "--bin-width", help="seconds per bin (default: from a synthetic file)"),
    n_bins: int = typer.Option(None, "--bins", help="bins per trial (default: from a synthetic file)"),
    bootstrap: int = typer.Option(50, "--bootstrap", help="bootstrap resamples of the trials"),
    include_untrained: bool = typer.Option(False, "--all", help="include networks that did not reach the criterion"),
) -> None:
    """Score every network of RUN against a recording: geometry (CCA, shape, RSA; dynamics with --metric dsa) and
    fit (held-out R² of a linear readout; bits per spike of a Poisson readout with --metric fit_bps), each divided
    by the recording's own noise ceiling, with bootstrap intervals; a leaderboard per network and per group, and
    where the metrics disagree on the ranking. On a run fitted to a recording (`train --task recording`), without
    --recordings: each fit's co-smoothing bits per spike on held-out neurons and trials, and with a ground truth
    its rate and latent R² and stable points (the Computation-through-Dynamics Benchmark's metrics)."""
    if recordings is not None and benchmark:
        raise ConfigError("give --recordings FILE or --benchmark NAME@VERSION, not both.")
    if recordings is None and not benchmark:
        if metric:
            raise ConfigError("--metrics applies to scoring against --recordings FILE or --benchmark NAME@VERSION; "
                              "a run fitted to a recording is scored without it (co-bps and the ground truth).")
        score_fits(run_path)
        return
    score(run_path, recordings if recordings is not None else benchmark, parse_list("--metric", metric) if metric else None, name or None, version,
          condition_column, inputs, bin_width, n_bins, bootstrap, include_untrained)
