"""CLI command `ablate`: train with and without one or several mechanisms across sizes; print, per mechanism,
each arm's scores and the size-equivalence factor."""

from __future__ import annotations

from typing import Any, Optional

import typer

from dynascope.cli._app import app, check_resume, parse_list, parse_options, renamed_flag
from dynascope.cli._display import console, progress, table

#: Shown in --help without importing the pipeline (and JAX) to list the registry.
MECHANISMS = "none, hetero_tau, learned_tau, adaptation, dale, sparsity, spiking, delays, inter_module"  # the registered ones (tested)


@app.command("ablate")
def ablate_cmd(
    task: str = typer.Option("flipflop", help="task name (see `dynascope tasks`)"),
    arch: str = typer.Option("lif", help="architecture the mechanism is ablated in (see `dynascope models`)"),
    mechanism: str = typer.Option(..., help=f"mechanism(s) to train with and without, comma-separated (one shared "
                                              f"arm without where they agree): {MECHANISMS}"),
    sizes: str = typer.Option("8,16,32", help="comma-separated hidden sizes, increasing, e.g. 8,16,32,64"),
    n_networks: Optional[int] = typer.Option(None, "--n-networks", help="networks per arm and size (at least 2)  \\[default: 10]"),
    seeds: Optional[int] = typer.Option(None, "--seeds", hidden=True, help="old name of --n-networks"),
    steps: int = typer.Option(2000, help="optimizer steps"),
    batch: int = typer.Option(128, help="trials per step"),
    lr: float = typer.Option(1e-3, help="learning rate (Adam)"),
    seed: int = typer.Option(0, help="master random seed"),
    out: str = typer.Option(..., help="run folder to create (or continue with --resume)"),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted ablation in --out"),
    task_opt: list[str] = typer.Option([], "--task-opt", help="task option KEY=VALUE (repeatable)"),
    model_opt: list[str] = typer.Option([], "--model-opt", help="model option KEY=VALUE of --arch (repeatable)"),
    mechanism_opt: list[str] = typer.Option([], "--mechanism-opt",
                                            help="mechanism option KEY=VALUE, e.g. spread=1.0; with several "
                                                 "mechanisms MECHANISM.KEY=VALUE, e.g. hetero_tau.spread=1.0 "
                                                 "(repeatable)"),
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", help="steps between checkpoints"),
    rule: str = typer.Option("bptt", help="learning rule: bptt (backpropagation through time) or eprop (e-prop, "
                                          "Bellec et al. 2020; lif/alif arms only)"),
    checkpoint_steps: int = typer.Option(0, "--checkpoint-steps",
                                         help="bptt: keep the state every K steps and recompute the rest in the "
                                              "backward pass (memory ~ T/K + K instead of T; 0: off)"),
) -> None:
    """Train matched populations with and without each mechanism at every size; print each mechanism's arms and
    its factor."""
    from dynascope.pipeline import AblationConfig, ablation_summary, prepare_run, run_ablation
    from dynascope.train import TrainOptions

    from dynascope.cli.commands import recording_path
    from dynascope.store import run_location

    out = run_location(out)  # a str, not a Path: Path('') is '.' (the current folder); a URL stays one
    check_resume(out, resume)
    names = parse_list("--mechanism", mechanism, str)
    config = AblationConfig(
        task=task,
        arch=arch,
        mechanism=tuple(names),
        sizes=parse_list("--sizes", sizes, int),
        n_networks=renamed_flag("--n-networks", n_networks, "--seeds", seeds, 10),
        steps=steps,
        seed=seed,
        mechanism_options=parse_options("--mechanism-opt", mechanism_opt),
        task_options=recording_path(parse_options("--task-opt", task_opt)),
        model_options=parse_options("--model-opt", model_opt),
        train=TrainOptions(batch_size=batch, learning_rate=lr, checkpoint_every=checkpoint_every, rule=rule,
                           checkpoint_steps=checkpoint_steps),
    )
    # Bad names, options, sizes, a mechanism that does not apply or a bad folder fail here, before any bar.
    prepare_run(config, out, resume=resume)  # type: ignore[arg-type]
    with progress() as bar:
        rows = {g: bar.add_task(g, total=config.steps, status="waiting") for g, *_ in config.groups()}

        def on_progress(group: str, step: int, losses: Any) -> None:
            bar.update(rows[group], completed=step, status=f"{config.n_networks} nets")

        def on_group(group: str, pop: Any) -> None:
            bar.update(rows[group], completed=config.steps, status=f"{int(pop.trained.sum())}/{len(pop)} trained")

        run = run_ablation(config, out, resume=True, progress=on_progress, on_group=on_group)
        for group, task_id in rows.items():
            if bar.tasks[task_id].completed == 0:
                bar.update(task_id, completed=config.steps, status="done earlier")
    summary = ablation_summary(run)
    for name in config.mechanisms:
        console.print(table(
            f"{name} in {arch} on {task}: score over {config.n_networks} seeds (95 % bootstrap interval)",
            ["arm", "model", "size", "score", "interval", "operations / trial", "rate (Hz)"],
            [[r["arm"], r["arch"], r["n_hidden"], _num(r["score_mean"]),
              f"[{_num(r['score_low'])}, {_num(r['score_high'])}]", _num(r["operations_per_trial"]),
              _num(r["mean_rate_hz"])] for r in summary.rows_of(name).records()],
        ))
        factor = summary.factors[name]
        console.print(f"size-equivalence factor (neurons the arm without {name} needs per neuron of the arm "
                      f"with it, 95 % interval): {factor}", highlight=False)
        if factor.relation != "=":
            # A bound says the curves did not cross within the sizes trained, however close they are: say so,
            # so that two arms with overlapping intervals are not read as a measured effect.
            # The factor compares the arms' non-decreasing fits over size, not the raw scores, which can cross.
            where = (f"on the non-decreasing fit of its scores over size, the arm without {name} reaches the arm "
                     "with it at none of the sizes trained" if factor.relation == ">" else
                     f"on the non-decreasing fit of its scores over size, the arm without {name} is above the arm "
                     "with it already at the smallest size")
            console.print(f"  a bound, not a measurement: {where}, however close the two are (compare the "
                          "intervals above; more sizes, seeds or steps can settle it).", highlight=False)


def _num(v: Optional[float]) -> str:
    return "–" if v is None else f"{v:.4g}"
