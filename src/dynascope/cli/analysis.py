"""`dynascope analyze RUN`: fixed points and skeletons of every network, with a per-network summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from dynascope.cli._app import app, renamed_flag
from dynascope.cli._display import console, progress, table
from dynascope.cli._scale import ray_options

_RAY = ray_options("networks")


def skeleton_table(run, title: str):
    """Per network and analysis input: stable points, saddles by index, slow points, cycles, points outside."""
    from dynascope.store import NetworkRows, SkeletonRows

    nets = run.read(NetworkRows)
    arch, trained = dict(zip(nets.network, nets.arch)), dict(zip(nets.network, nets.trained))
    s = run.read(SkeletonRows, where={"network": list(arch)}, order_by=("network", "input_index"))
    return table(
        title,
        ["network", "arch", "input", "stable", "fixed points by index", "slow", "to cycles", "outside", "trained"],
        [[net, arch[net], k, stable, _by_index(counts), slow, cycles, outside, trained[net]]
         for net, k, stable, counts, slow, cycles, outside in zip(
             s.network, s.input_index, s.n_stable, s.index_counts, s.n_slow, s.n_cycles, s.n_outside)],
        caption=SKELETON_COLUMNS,
    )


#: What the columns of the skeleton table mean (printed under it).
SKELETON_COLUMNS = (
    "input: which of the task's analysis inputs (held constant). stable: stable fixed points (attractors). "
    "fixed points by index: index:count, the index being a point's number of unstable directions (0:8 1:12 = "
    "8 points with none, 12 saddles with one); index-0 points beyond the stable ones are marginal, with a mode on "
    "the stability boundary (|λ| = 1 for maps, Re λ = 0 for flows; a spiking network's spike and refractory "
    "blocks give such modes). slow: slow points (minima of the speed q that are not zeros). "
    "to cycles: saddle departures that end on a cycle, not a point. outside: fixed points beyond the region "
    "the task's trials reach (not used by the task)."
)


def _by_index(counts_json: str) -> str:
    """'{"0": 8, "1": 12}' as '0:8 1:12' (index: number of fixed points with that many unstable directions)."""

    counts = json.loads(counts_json)
    return " ".join(f"{k}:{counts[k]}" for k in sorted(counts, key=int)) or "none"


def analyze(run_path: Path | str, n_initial_states: int, force: bool, over_training: bool = False,
            ray: dict | None = None) -> None:
    """Analyse every group of the run with a progress bar, then print the summary table and which networks
    were skipped (diverged in training, or non-finite states) and why. With `over_training`, then every
    parameter snapshot kept during training too, and when each network's final structure appeared. `ray`:
    the `--backend ray` options (address, shard_size, cpus_per_shard, gpus_per_shard, max_retries), to
    analyse the groups as Ray tasks (the snapshots over training stay in this process)."""
    from dynascope.errors import check_positive_int
    from dynascope.pipeline import AnalysisOptions, analyze_run, open_run
    from dynascope.store import NetworkRows

    # The options first: a bad value is refused even when every group is analysed already.
    options = AnalysisOptions(n_initial_states=check_positive_int("--n-initial-states", n_initial_states))
    options.validate()
    if ray is not None:
        from dynascope.scale import require_ray

        require_ray()  # a missing extra is one line, before the run folder is touched
    run = open_run(run_path)
    run.check_intact()  # a damaged or missing file is named before any group is (re)computed
    if over_training and not run.snapshot_groups():
        from dynascope.errors import ConfigError

        raise ConfigError(f"{run_path} kept no weight snapshots during training, so there is nothing to analyse over "
                          "training; train with --snapshot-every N (e.g. 100) into a new folder.")
    skipped: dict[str, str] = {}
    with run.writing("dynascope analyze"):  # a read-only folder fails here, before any work
        if ray is not None:  # the groups as Ray tasks; `analyze_run` below then finds them done
            from dynascope.cli._scale import analyze_run_ray

            analyze_run_ray(run, options, force, skipped.__setitem__, **ray)
            force = False
        total = run.count(NetworkRows)
        with progress() as bar:
            row = bar.add_task("fixed points + skeletons", total=max(total, 1), status="")
            done_before = 0

            def on_progress(group: str, done: int, n: int) -> None:
                nonlocal done_before
                if done == n:
                    done_before += n
                bar.update(row, completed=done_before, status=f"{group}")

            analyze_run(run, options, force=force, progress=on_progress, on_skip=skipped.__setitem__)
            bar.update(row, completed=total, status="done")
            if over_training:
                _over_training(run, options, force, bar)
    console.print(skeleton_table(run, f"dynamical skeletons in {run_path}"))
    if over_training:
        console.print(emergence_table(run, f"when the final structure appeared in {run_path}"))
    if skipped:
        console.print(skipped_note(skipped))


def _over_training(run, options, force: bool, bar) -> None:
    """Analyse every snapshot of every group, one progress step per snapshot of a group."""
    from dynascope.pipeline import analyze_over_training

    total = sum(len(run.read_snapshots(g)[0]) for g in run.snapshot_groups())
    row = bar.add_task("skeletons over training (snapshots)", total=max(total, 1), status="")
    done_before = 0

    def on_progress(group: str, done: int, n: int) -> None:
        nonlocal done_before
        bar.update(row, completed=done_before + done, status=group)
        if done == n:
            done_before += n

    analyze_over_training(run, options, force=force, progress=on_progress)
    bar.update(row, completed=total, status="done")


def emergence_table(run, title: str):
    """Per network and input: its final stable points, the step from which that count and the whole skeleton
    stayed, and the first step at which each count of stable points was reached."""
    from dynascope.pipeline import emergence

    e = emergence(run)
    return table(
        title,
        ["network", "input", "stable (final)", "count settled at step", "skeleton settled at step",
         "first reached (stable points: step)"],
        [[net, k, n, sf, kf, " ".join(f"{c}:{t}" for c, t in sorted(first.items(), key=lambda ct: ct[1]))]
         for net, k, n, sf, kf, first in zip(e.network, e.input_index, e.final_stable, e.stable_from,
                                                e.skeleton_from, e.first_stable_steps)],
    )


def skipped_note(skipped: dict[str, str]) -> str:
    """'skipped N networks (no fixed points searched): <id> (<reason>), ...' for the networks left out."""
    from rich.markup import escape

    n = len(skipped)
    listed = ", ".join(f"{net} ({why})" for net, why in sorted(skipped.items()))
    return escape(f"skipped {n} network{'s' if n != 1 else ''} (no fixed points searched): {listed}.")


@app.command("analyze")
def analyze_cmd(
    run_path: str = typer.Argument(..., metavar="RUN", help="run folder (a path or a URL: s3://, gs://, ...)"),
    n_initial_states: Optional[int] = typer.Option(
        None, "--n-initial-states", help="search starting points per network and analysis input  \\[default: 256]"),
    seeds: Optional[int] = typer.Option(None, "--seeds", hidden=True, help="old name of --n-initial-states"),
    force: bool = typer.Option(False, "--force", help="re-analyse groups already analysed"),
    over_training: bool = typer.Option(
        False, "--over-training", help="also every weight snapshot kept in training (train --snapshot-every)"),
    backend: str = _RAY["backend"],
    address: Optional[str] = _RAY["address"],
    shard_size: Optional[int] = _RAY["shard_size"],
    cpus_per_shard: float = _RAY["cpus_per_shard"],
    gpus_per_shard: float = _RAY["gpus_per_shard"],
    max_retries: int = _RAY["max_retries"],
) -> None:
    """Find fixed points and skeletons of every network of RUN and store them in its catalog."""
    from dynascope.cli._scale import check_backend

    ray = dict(address=address, shard_size=shard_size, cpus_per_shard=cpus_per_shard,
               gpus_per_shard=gpus_per_shard, max_retries=max_retries) if check_backend(backend) == "ray" else None
    analyze(run_path, renamed_flag("--n-initial-states", n_initial_states, "--seeds", seeds, 256), force,
            over_training, ray)
