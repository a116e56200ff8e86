"""CLI command `specialize`: train two-module networks across between-module fractions and sizes, measure how
specialised their modules become, and print the map of where specialization emerges."""

from __future__ import annotations

from typing import Any, Optional

import typer
from rich.markup import escape

from dynascope.cli._app import app, check_resume, options_per_arch, parse_list, parse_options
from dynascope.cli._display import console, progress, table

#: The measures as the tables name them (pipeline.specialization.MEASURES, in order; tested).
TITLES = {"decodability": "decodability (a readout from one module alone)",
          "lesion": "lesion damage (silencing one module)",
          "correlation": "latent correlation (units' r² with each sub-task's latent)"}


@app.command("specialize")
def specialize_cmd(
    task: str = typer.Option("sign_match", help="task with two separable sub-tasks (see `dynascope tasks`)"),
    arch: str = typer.Option("modular", help="comma-separated two-module architectures: modular, modular_lif"),
    inter: str = typer.Option("0,0.1,0.3,1", help="comma-separated fractions of the between-module connections "
                                                  "that exist, increasing, in [0, 1]"),
    sizes: str = typer.Option("8,16,32", help="comma-separated hidden sizes, increasing"),
    n_networks: int = typer.Option(4, "--n-networks", help="networks per architecture, fraction and size"),
    steps: int = typer.Option(1000, help="optimizer steps"),
    batch: int = typer.Option(128, help="trials per step"),
    lr: float = typer.Option(1e-2, help="learning rate (Adam)"),
    seed: int = typer.Option(0, help="master random seed"),
    out: str = typer.Option(..., help="run folder to create (or continue with --resume)"),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted sweep in --out"),
    task_opt: list[str] = typer.Option([], "--task-opt", help="task option KEY=VALUE (repeatable)"),
    model_opt: list[str] = typer.Option([], "--model-opt", help="model option KEY=VALUE for every arch, or ARCH.KEY=VALUE for one (repeatable)"),
    snapshot_every: Optional[int] = typer.Option(None, "--snapshot-every",
                                                 help="measure every N steps of training too (0: at the end only) "
                                                      "\\[default: steps/4]"),
    trials: int = typer.Option(256, "--trials", help="trials the measures are computed on"),
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", help="steps between checkpoints"),
) -> None:
    """Train two-module networks at every between-module fraction and size; print each measure's specialization
    map and how well the three measures agree."""
    from dynascope.pipeline.specialization import SpecializationConfig, run_specialization, specialization_summary
    from dynascope.pipeline import prepare_run
    from dynascope.store import run_location
    from dynascope.train import TrainOptions

    out = run_location(out)  # a str, not a Path: Path('') is '.' (the current folder); a URL stays one
    check_resume(out, resume)
    archs = parse_list("--arch", arch, str)
    every = max(steps // 4, 1) if snapshot_every is None else snapshot_every
    config = SpecializationConfig(
        task=task, archs=archs, inter_fractions=parse_list("--inter", inter, float), sizes=parse_list("--sizes", sizes, int),
        n_networks=n_networks, steps=steps, seed=seed, n_trials=trials,
        task_options=parse_options("--task-opt", task_opt),
        model_options=options_per_arch(archs, model_opt),
        train=TrainOptions(batch_size=batch, learning_rate=lr, checkpoint_every=checkpoint_every, snapshot_every=every),
    )
    prepare_run(config, out, resume=resume)  # type: ignore[arg-type]  (bad options fail here, before any bar)
    groups = config.groups()
    with progress() as bar:
        training = bar.add_task("training", total=len(groups) * config.steps, status=f"{len(groups)} groups")
        measuring = bar.add_task("measuring", total=len(groups) * config.n_networks, status="networks")
        trained: dict[str, int] = {}
        measured: dict[str, int] = {}

        def on_progress(group: str, step: int, losses: Any) -> None:
            trained[group] = step
            bar.update(training, completed=sum(trained.values()), status=group)

        def on_measure(group: str, done: int, n: int) -> None:
            measured[group] = done
            bar.update(measuring, completed=sum(measured.values()), status=group)

        run = run_specialization(config, out, resume=True, progress=on_progress, on_measure=on_measure)
        bar.update(training, completed=len(groups) * config.steps, status="done")
        bar.update(measuring, completed=len(groups) * config.n_networks, status="done")
    summary = specialization_summary(run)
    fractions = config.inter_fractions
    cells = {(c["arch"], c["inter_fraction"], c["n_hidden"]): c for c in summary.map}
    caption = ("Each cell: the mean over networks of their specialization index (per module, max − min of its "
               "scores over the sub-tasks, averaged over the two modules; 1: each module serves one sub-task, 0: "
               "both serve both alike), with its 95 % bootstrap interval over networks, measured on the activity at "
               "the last step of each trial (readouts trained on half the trials, scored on the other half). "
               "Columns: fraction of the between-module connections that exist, and Newman's Q of that wiring (its "
               "range over the sizes). Disconnected modules (inter 0) are specialised by construction.")
    columns = ["model", "size", *(f"inter {f:g} (Q {summary.modularity_range(f)})" for f in fractions)]
    for measure, title in (("metric", "task score"), *((m, f"specialization by {t}") for m, t in TITLES.items())):
        rows = [[a, n, *(_cell(cells.get((a, f, n)), measure) for f in fractions)] for a in config.archs for n in config.sizes]
        note = (f"Mean task score of all {config.n_networks} networks of each cell after {config.steps} steps "
                f"(trained: how many reached the task's criterion); the specialization tables below measure every "
                "network, trained or not." if measure == "metric" else caption if measure == "correlation" else None)
        console.print(table(f"{title} on {task}, all networks after {config.steps} steps", columns, rows, caption=note))
    if summary.skipped:
        # Said, not silently left out: the tables' counts and means are over the networks measured.
        steps: dict[str, list[int]] = {}
        for network, step in summary.skipped:
            steps.setdefault(network, []).append(step)
        named = "; ".join(f"{n} (step{'s' if len(st) > 1 else ''} {', '.join(map(str, st))})" for n, st in steps.items())
        console.print(f"[yellow]not measured[/]: {len(steps)} network(s) diverged in training or had activity that "
                      f"is not finite, left out of the specialization tables at those steps: {escape(named)}",
                      highlight=False)
    if summary.agreement is None:
        console.print(f"rank agreement of the three measures: not defined ({summary.agreement_note})", highlight=False,
                      markup=False)
    else:
        a = summary.agreement
        console.print(f"rank agreement of the measures across {len(summary.networks)} networks (Spearman ρ): "
                      f"decodability–lesion {a[0, 1]:.2f}, decodability–correlation {a[0, 2]:.2f}, "
                      f"lesion–correlation {a[1, 2]:.2f}", highlight=False)
    console.print(f"over training and per network: `dynascope report {out}` (section Specialization); rows in the "
                  "catalog table `specialization`.", highlight=False)


def _cell(c: Optional[dict], measure: str) -> str:
    if c is None:
        return "–"
    if measure == "metric":  # the task score: a mean over the networks, without an interval
        return f"{_num(c['metric'])} ({c['trained']}/{c['networks']} trained)"
    return f"{_num(c[measure])} [{_num(c[measure + '_low'])}, {_num(c[measure + '_high'])}]"


def _num(v: Optional[float]) -> str:
    return "–" if v is None or v != v else f"{v:.2f}"
