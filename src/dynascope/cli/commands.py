"""CLI commands for tasks, models, training and browsing run folders."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dynascope.cli._app import app, check_resume, options_per_arch, parse_list, parse_options, renamed_flag
from dynascope.cli._display import console, networks_table, progress, table
from dynascope.errors import RunFolderError


@app.command("tasks")
def tasks_cmd(name: Optional[str] = typer.Argument(None, help="a task: list its options with types and defaults")) -> None:
    """List the registered tasks with their sizes and options; with NAME, that task's options in full."""
    from dynascope import tasks

    if name is not None:
        t = tasks.get(name)  # an unknown name is refused (with the closest one) before anything prints
        console.print(table(f"task {name}", ["", ""], [
            ["description", _first_line(type(t).__doc__)],
            ["inputs", f"{t.n_inputs}" + (f" ({', '.join(t.input_names)})" if t.input_names else "")],
            ["outputs", f"{t.n_outputs}" + (f" ({', '.join(t.output_names)})" if t.output_names else "")],
            ["sub-tasks", _subtasks(t)],
            ["score", f"{_score_text(type(t))}; per trial, in [0, 1], higher is better"],
            ["trained", f"a network whose mean score reaches {t.criterion:g} (the task's criterion) and whose "
                        "training did not diverge"],
        ]))
        console.print(_options_table(f"options of task {name} (--task-opt KEY=VALUE)", tasks.options(name)))
        return
    from dynascope.tasks import NeuroGymTask
    from dynascope.tasks.neurogym import INSTALL as NEUROGYM_INSTALL

    rows = []
    for name in tasks.names():
        t = tasks.get(name)
        opts = ", ".join(f"{k}={v}" for k, v in t.options().items())
        rows.append([name, t.n_inputs, t.n_outputs, t.n_time, t.dt, _subtasks(t), _score_text(type(t)),
                     f"≥ {t.criterion:g}", opts, _first_line(type(t).__doc__)])
    rows.append(["neurogym:<Env>", "", "", "", "", "–", _score_text(NeuroGymTask), f"≥ {NeuroGymTask.criterion:g}", "",
                 f"any NeuroGym supervised task ({NEUROGYM_INSTALL})"])
    console.print(table("tasks (dynascope tasks NAME: types and meaning of each option)",
                        ["name", "inputs", "outputs", "steps", "dt (ms)", "sub-tasks", "score (per trial, in [0, 1])",
                         "trained at score", "options (defaults)", "description"], rows))


def _first_line(doc: Optional[str]) -> str:
    return (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""


def _subtasks(task) -> str:
    """The task's sub-tasks (`subtask_names`, which the specialization measures read), or '–' for none."""
    names = getattr(task, "subtask_names", ())
    return ", ".join(names) if names else "–"


def _score_text(cls) -> str:
    """What the task class's `metric` scores, from its docstring's words without the shape notation."""
    import re

    from dynascope.tasks import Task

    if cls.metric is Task.metric:  # the base class's doc describes it as the default, not as this task's score
        return "1 − masked mean squared error / variance of the targets"
    doc = " ".join((cls.metric.__doc__ or "–").split())
    doc = re.sub(r",?\s*(per trial\s*)?`\[B\]`(\s*float32)?", "", doc)  # the shape `[B]` (one per trial)
    doc = re.sub(r"\s*\(see [^)]*\)", "", doc)  # pointers to a docstring the listing does not show
    return doc.rstrip(".")


@app.command("models")
def models_cmd(name: Optional[str] = typer.Argument(None, help="a model: list its options with types and defaults")) -> None:
    """List the registered models with their hyperparameters; with NAME, that model's options in full."""
    from dynascope import models

    if name is not None:
        models.get(name, n_inputs=1, n_hidden=4, n_outputs=1)  # an unknown name is refused first
        specs = models.options(name)
        console.print(_options_table(f"options of model {name} (--model-opt KEY=VALUE)", specs) if specs else
                      f"model {name} has no options besides its sizes (--n-hidden; inputs and outputs come from the task).")
        return
    rows = []
    for name in models.names():
        m = models.get(name, n_inputs=1, n_hidden=4, n_outputs=1)
        doc = (type(m).__doc__ or "").strip().splitlines()[0]
        opts = ", ".join(f"{k}={v}" for k, v in m.options().items())
        rows.append([name, "flow" if m.continuous else "map", opts, doc])
    console.print(table("models (dynascope models NAME: types and meaning of each option)",
                        ["name", "time", "options (defaults)", "description"], rows))


def _options_table(title: str, specs) -> object:
    import dataclasses

    return table(title, ["option", "type", "default", "meaning"],
                 [[s.name, s.expects, "required" if s.default is dataclasses.MISSING else repr(s.default), s.doc]
                  for s in specs])


def train_run(config, out: Path | str, resume: bool) -> None:
    """Run a sweep with a progress bar per group, then print the network table."""
    from dynascope.pipeline import prepare_run, run_sweep

    # Bad options, a population too large for the machine's memory, or a bad folder fail here, before the
    # progress bar prints and before the folder is created.
    prepare_run(config, out, resume=resume)
    resume = True
    with progress() as bar:
        rows: dict[str, int] = {}
        for group, _, _ in config.groups():
            rows[group] = bar.add_task(group, total=config.steps, status="waiting")

        def on_progress(group: str, step: int, losses) -> None:
            import numpy as np

            finite = losses[np.isfinite(losses)]
            med = f"median loss {np.median(finite):.3g}" if finite.size else "all diverged"
            bar.update(rows[group], completed=step, status=f"{config.n_networks} nets, {med}")

        def on_group(group: str, pop) -> None:
            bar.update(rows[group], completed=config.steps, status=f"{int(pop.trained.sum())}/{len(pop)} trained")

        run = run_sweep(config, out, resume=resume, progress=on_progress, on_group=on_group)
        for group in rows:
            if bar.tasks[rows[group]].completed == 0:
                bar.update(rows[group], completed=config.steps, status="done earlier")
    console.print(networks_table(run, f"networks in {out}"))


@app.command("train")
def train_cmd(
    task: str = typer.Option("flipflop", help="task name (see `dynascope tasks`)"),
    arch: str = typer.Option("gru", help="comma-separated architectures, e.g. gru,lstm,vanilla"),
    n_hidden: Optional[str] = typer.Option(None, "--n-hidden", help="comma-separated hidden sizes, e.g. 32,64  \\[default: 64]"),
    n_networks: Optional[int] = typer.Option(None, "--n-networks", help="networks per architecture and size  \\[default: 10]"),
    hidden: Optional[str] = typer.Option(None, "--hidden", hidden=True, help="old name of --n-hidden"),
    seeds: Optional[int] = typer.Option(None, "--seeds", hidden=True, help="old name of --n-networks"),
    steps: int = typer.Option(2000, help="optimizer steps"),
    batch: int = typer.Option(128, help="trials per step"),
    lr: float = typer.Option(1e-3, help="learning rate (Adam)"),
    seed: int = typer.Option(0, help="master random seed"),
    out: str = typer.Option(..., help="run folder to create (or continue with --resume)"),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted run in --out"),
    task_opt: list[str] = typer.Option([], "--task-opt", help="task option KEY=VALUE (repeatable)"),
    model_opt: list[str] = typer.Option([], "--model-opt", help="model option KEY=VALUE for every arch, or ARCH.KEY=VALUE for one (repeatable)"),
    l2: float = typer.Option(0.0, help="L2 penalty on weights"),
    l2_activity: float = typer.Option(0.0, "--l2-activity", help="L2 penalty on activity"),
    noise: float = typer.Option(0.0, help="state noise std during training"),
    stop_loss: Optional[float] = typer.Option(None, "--stop-loss", help="per-network early-stop loss"),
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", help="steps between checkpoints"),
    snapshot_every: int = typer.Option(0, "--snapshot-every",
                                       help="keep every network's weights every N steps, for `analyze --over-training` (0: none)"),
    rule: str = typer.Option("bptt", help="learning rule: bptt (backpropagation through time) or eprop (e-prop, "
                                          "Bellec et al. 2020: memory independent of trial length; lif/alif only)"),
    checkpoint_steps: int = typer.Option(0, "--checkpoint-steps",
                                         help="bptt: keep the state every K steps and recompute the rest in the "
                                              "backward pass (memory ~ T/K + K instead of T; 0: off)"),
    backend: str = typer.Option("embedded", help="embedded (this process) or ray (a Ray cluster, docs/scale.md)"),
    address: Optional[str] = typer.Option(None, help="--backend ray: the cluster ('auto', HOST:PORT) \\[default: local]"),
    shard_size: Optional[int] = typer.Option(None, "--shard-size", help="--backend ray: networks per shard"),
    cpus_per_shard: float = typer.Option(1.0, "--cpus-per-shard", help="--backend ray: CPUs each shard asks for"),
    gpus_per_shard: float = typer.Option(0.0, "--gpus-per-shard", help="--backend ray: GPUs per shard (0.25: 4 a GPU)"),
    max_retries: int = typer.Option(3, "--max-retries", help="--backend ray: restarts of a shard whose worker died"),
) -> None:
    """Train a population: every architecture × hidden size × seed, into one run folder."""
    from dynascope.cli._scale import check_backend, train_run_ray
    from dynascope.pipeline import SweepConfig
    from dynascope.train import TrainOptions

    check_backend(backend)

    from dynascope.store import run_location

    # a str, not a Path: Path('') would be '.', the folder the command runs in; a URL stays a URL
    folder = run_location(out)
    check_resume(folder, resume)
    archs = parse_list("--arch", arch)
    model_options = options_per_arch(archs, model_opt)
    config = SweepConfig(
        task=task,
        archs=archs,
        n_hidden=parse_list("--n-hidden", renamed_flag("--n-hidden", n_hidden, "--hidden", hidden, "64"), int),
        n_networks=renamed_flag("--n-networks", n_networks, "--seeds", seeds, 10),
        steps=steps,
        seed=seed,
        task_options=recording_path(parse_options("--task-opt", task_opt)),
        model_options=model_options,
        train=TrainOptions(
            batch_size=batch,
            learning_rate=lr,
            l2_weight=l2,
            l2_activity=l2_activity,
            state_noise=noise,
            stop_loss=stop_loss,
            checkpoint_every=checkpoint_every,
            snapshot_every=snapshot_every,
            rule=rule,
            checkpoint_steps=checkpoint_steps,
        ),
    )
    if backend == "ray":
        train_run_ray(config, folder, resume, address=address, shard_size=shard_size, cpus_per_shard=cpus_per_shard,
                      gpus_per_shard=gpus_per_shard, max_retries=max_retries)
        return
    train_run(config, folder, resume)


@app.command("runs")
def runs_cmd(root: str = typer.Argument("runs", help="folder holding run folders (a path or a URL: s3://, gs://, ...)")) -> None:
    """List the run folders under ROOT."""
    from dynascope.pipeline import open_run, written_by
    from dynascope.store import FixedPointRows, NetworkRows, Remote, is_url

    found: list[tuple[str, Path]] = []  # (where the run is, as shown; its local folder or working copy)
    if is_url(root):
        remote = Remote(root, what="folder of runs")
        root = remote.url
        names = remote.folders("")
        if not names:
            raise RunFolderError(f"{root} holds no folders; train a run with `dynascope train --out {root}/NAME`.")
        # Each run is pulled into its working copy: the listing reads its catalog and checks its weights.
        found = [(f"{root}/{n}", Remote(f"{root}/{n}").path) for n in names if remote.child(n).holds_run()]
    else:
        folder = Path(root)
        if not folder.is_dir():
            raise RunFolderError(f"{root} does not exist; train a run with `dynascope train --out {root}/NAME`.")
        found = [(str(p), p) for p in sorted(folder.iterdir()) if (p / "config.toml").is_file()]
    rows = []
    for where, local in found:
        try:  # one damaged run is listed as such; it does not hide the others
            run = open_run(where)
            s = run.config["sweep"]
            nets = run.read(NetworkRows)
            n, trained = len(nets), sum(nets.trained)
            n_fp = run.count(FixedPointRows)
            run.check_intact()  # weights too: a truncated or deleted weights file is damage the catalog hides
        except RunFolderError as err:
            rows.append([where, _kind(local), "", "", "", "", "", "", f"damaged: {err}"])
            continue
        rows.append([where, written_by(run.config), s["task"], ",".join(s["archs"]), n, trained, n_fp,
                     "yes" if (run.path / "report.html").exists() else "no", _completeness(run)])
    columns = ["run", "kind", "task", "archs", "networks", "trained", "fixed points", "report", "status"]
    console.print(table(f"runs in {root}", columns, rows))


def _kind(folder: Path) -> str:
    """The command that wrote a damaged run (whose config may still be readable as TOML), or '' if unknown."""
    import tomllib

    from dynascope.pipeline import written_by

    try:
        return written_by(tomllib.loads((folder / "config.toml").read_text()))
    except (OSError, ValueError):
        return ""


def _completeness(run) -> str:
    """'ok', or 'incomplete: k of n groups trained' with the fix, for a run whose training was interrupted."""
    from dynascope.pipeline import AblationConfig, SpecializationConfig, SweepConfig, written_by
    from dynascope.store import NetworkRows

    # An ablation's groups are its arms × sizes and a modularity sweep's its fractions × sizes per arch, not
    # their [sweep] view's.
    command = written_by(run.config)
    kind = {"ablate": AblationConfig, "specialize": SpecializationConfig}.get(command, SweepConfig)
    expected = [g for g, *_ in kind.from_dict(run.config).groups()]  # type: ignore[attr-defined]
    finished = set(run.groups()) & {p.stem for p in run.shards(NetworkRows)}
    missing = [g for g in expected if g not in finished]
    if not missing:
        return "ok"
    return (f"incomplete: {len(expected) - len(missing)} of {len(expected)} groups trained (missing "
            f"{', '.join(missing)}); rerun the {command} command with --resume")


def recording_path(options: dict) -> dict:
    """`--task-opt` options with a `recording` file made absolute: the run folder rebuilds its task from them, and
    may be opened from another folder."""
    value = options.get("recording")
    if isinstance(value, str) and value.lower().endswith(".nwb"):
        return {**options, "recording": str(Path(value).expanduser().resolve())}
    return options


def _arms(table: dict, prefix: str = "") -> list[tuple[str, dict]]:
    """('<mechanism>.<side>' or '<side>', arm) of an ablation config's [ablation.arms]: one mechanism's arms are
    keyed by side, several mechanisms' by mechanism, then side."""
    out = []
    for key, value in table.items():
        if isinstance(value, dict) and "arch" in value:
            out.append((prefix + key, value))
        elif isinstance(value, dict):
            out += _arms(value, f"{prefix}{key}.")
    return out


@app.command("show")
def show_cmd(run_path: str = typer.Argument(..., metavar="RUN", help="run folder (a path or a URL: s3://, gs://, ...)")) -> None:
    """Show a run's config, versions and networks."""
    from dynascope.pipeline import open_run

    run = open_run(run_path)  # refuses an invalid config, naming the key and the value
    cfg = run.config
    ablation = cfg.get("ablation")
    # An ablation's [sweep] model options are only the first arm's: its arms say what each group is.
    sections = ("sweep", "task_options") + (("model_options",) if ablation is None else ()) + ("train", "versions")
    rows = [[f"{section}.{k}", v] for section in sections for k, v in cfg.get(section, {}).items()]
    if ablation is not None:
        rows += [[f"ablation.{k}", v] for k, v in ablation.items() if k != "arms"]
        rows += [[f"ablation.arms.{name}", f"{arm.get('arch')} {arm.get('model_options', {})}"]
                 for name, arm in _arms(ablation.get("arms", {}))]
    rows += [[f"specialization.{k}", v] for k, v in cfg.get("specialization", {}).items()]
    console.print(table(f"config of {run_path}", ["key", "value"], rows))
    damaged = run.verify()  # every shard and weights file against its checksum, schema and shapes
    if damaged:
        console.print(table(f"damaged files in {run_path}", ["file", "problem"], [[f, why] for f, why in damaged.items()]))
        first = next(iter(damaged.values()))
        raise RunFolderError(f"{len(damaged)} damaged file(s) in {run_path} (listed above); the first: {first}")
    state = _completeness(run)
    if state != "ok":
        console.print(f"[yellow]{state}[/]")
    console.print(networks_table(run, "networks"))
