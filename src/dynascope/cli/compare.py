"""`dynascope compare RUN`: distance matrices of the population under every metric, MDS, clusters and the
universality summary, stored in the run's catalog and printed as a table."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from typer.models import OptionInfo

from dynascope.cli._app import app, parse_list
from dynascope.cli._display import console, progress, table
from dynascope.cli._scale import ray_options
from dynascope.compare import (
    BETWEEN_WITHIN,
    CHANCE_ACCURACY,
    CLUSTER_AGREEMENT,
    MODAL_SHARE,
    NN_ACCURACY,
    metric_names,
)

#: Summary rows printed per metric (the catalog holds them all, per architecture too).
SHOWN = (
    (NN_ACCURACY, "arch from nearest"),
    (BETWEEN_WITHIN, "between / within"),
    (CLUSTER_AGREEMENT, "clusters vs arch (ARI)"),
    (MODAL_SHARE, "modal topology share"),
)


def summary_table(run, title: str):
    """One row per metric: how well it separates architectures, and (topology) how shared the modal skeleton is."""
    from dynascope.store import SummaryRows

    rows = run.read(SummaryRows, where={"arch": "all"})
    values: dict[str, dict[str, float]] = {}
    for metric, quantity, value in zip(rows.metric, rows.quantity, rows.value):
        values.setdefault(metric, {})[quantity] = value
    chance = next((v.get(CHANCE_ACCURACY) for v in values.values() if CHANCE_ACCURACY in v), None)
    known = metric_names()
    order = sorted(values, key=lambda m: known.index(m) if m in known else len(known))
    out = [[m] + [values[m].get(q, "") for q, _ in SHOWN] for m in order]
    head = f"{title} (chance accuracy {chance:.2f})" if chance is not None else title
    return table(head, ["metric"] + [label for _, label in SHOWN], out)


_RAY = ray_options("pairs")


def compare(run_path: Path | str, metrics: tuple[str, ...] | None, n_trials: int, include_untrained: bool, force: bool,
            ray: dict | None = None) -> None:
    """Run the population study with a progress bar, then print the summary table. `ray`: the `--backend
    ray` options (address, shard_size, cpus_per_shard, gpus_per_shard, max_retries), to compute each
    metric's pairs in blocks as Ray tasks."""
    from dynascope.pipeline import StudyOptions, open_run, study

    options = StudyOptions(metrics=metrics, n_trials=n_trials, trained_only=not include_untrained)
    options.validate()  # before anything is read: bad options are refused even when all is computed
    if ray is not None:
        from dynascope.scale import require_ray

        require_ray()  # a missing extra is one line, before the run folder is touched
    run = open_run(run_path)
    run.check_intact()  # a damaged or missing file is named before any metric is computed
    with run.writing("dynascope compare"), progress() as bar:  # a read-only folder fails here, before any work
        # Rows appear as the study reaches each metric, so a study refused at the start (fewer than two
        # usable networks) prints its one line, not a column of "waiting" bars above it.
        rows: dict[str, int] = {}

        def row(metric: str) -> int:
            if metric not in rows:
                rows[metric] = bar.add_task(metric, total=1, status="")
            return rows[metric]

        def on_progress(metric: str, done: int, total: int) -> None:
            bar.update(row(metric), total=max(total, 1), completed=done,
                       status="done" if done == total else f"{total} pairs")

        if ray is not None:
            from dynascope.cli._scale import study_ray

            result = study_ray(run, options, force, on_progress, **ray)
        else:
            result = study(run, options, force=force, progress=on_progress)
        for metric in (m.name for m in options.selected()):
            if metric in result.skipped:
                bar.update(row(metric), completed=1, total=1, status=f"skipped: {result.skipped[metric]}")
            elif metric not in result.results:
                bar.update(row(metric), completed=1, total=1, status="done earlier")
    console.print(summary_table(run, f"universality and individuality in {run_path}"))
    for network, why in list(result.skipped_networks.items())[:10]:
        console.print(f"skipped {network}: {why}", markup=False)
    if len(result.skipped_networks) > 10:
        console.print(f"skipped {len(result.skipped_networks) - 10} more networks that cannot be compared")
    topo = result.results.get("topology")
    if topo is not None and topo.classes:
        from dynascope.compare import modal_share

        mode, _, share = modal_share(topo.classes, topo.archs)
        console.print(f"modal skeleton ({share:.0%} of {len(topo.classes)} networks): [bold]{mode}[/]")


class _ListedMetrics(OptionInfo):
    """An option whose help lists the registered metrics: typer reads `help` each time it builds the command,
    so a metric registered by the user's own code before the command runs is listed (and accepted) too."""

    @property  # type: ignore[override]
    def help(self) -> str:
        return "comma-separated metrics (default: all): " + ", ".join(metric_names())

    @help.setter
    def help(self, value: object) -> None:  # typer's constructor sets it; the registry decides it
        pass


def _metric_option() -> OptionInfo:
    info = typer.Option("", "--metric")
    info.__class__ = _ListedMetrics
    return info


@app.command("compare")
def compare_cmd(
    run_path: str = typer.Argument(..., metavar="RUN", help="run folder (a path or a URL: s3://, gs://, ...)"),
    metric: str = _metric_option(),
    trials: int = typer.Option(16, "--trials", help="task trials (conditions) every network is run on"),
    include_untrained: bool = typer.Option(False, "--all", help="include networks that did not reach the criterion"),
    force: bool = typer.Option(False, "--force", help="recompute metrics already in the catalog"),
    backend: str = _RAY["backend"],
    address: Optional[str] = _RAY["address"],
    shard_size: Optional[int] = _RAY["shard_size"],
    cpus_per_shard: float = _RAY["cpus_per_shard"],
    gpus_per_shard: float = _RAY["gpus_per_shard"],
    max_retries: int = _RAY["max_retries"],
) -> None:
    """Compare every network of RUN with every other: geometry (CCA, SVCCA, CKA, Procrustes, shape, RSA),
    dynamics (DSA) and topology (skeletons); MDS, clusters and a universality summary."""
    from dynascope.cli._scale import check_backend

    ray = dict(address=address, shard_size=shard_size, cpus_per_shard=cpus_per_shard,
               gpus_per_shard=gpus_per_shard, max_retries=max_retries) if check_backend(backend) == "ray" else None
    compare(run_path, parse_list("--metric", metric) if metric else None, trials, include_untrained, force, ray)
