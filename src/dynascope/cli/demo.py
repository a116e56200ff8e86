"""`dynascope demo`: train, analyse, compare and report a small flip-flop population on a laptop CPU."""

from __future__ import annotations

from pathlib import Path

import typer

from dynascope.cli._app import app
from dynascope.cli._display import console


def demo_config():
    """The embedded default: 3 architectures × 4 seeds of 24 units on the 3-bit flip-flop."""
    from dynascope.pipeline import SweepConfig
    from dynascope.train import TrainOptions

    return SweepConfig(
        task="flipflop",
        archs=("vanilla", "gru", "lstm"),
        n_hidden=(24,),
        n_networks=4,
        steps=400,
        seed=0,
        task_options={"n_bits": 3},
        train=TrainOptions(batch_size=64, learning_rate=1e-2, checkpoint_every=200),
    )


@app.command("demo")
def demo_cmd(out: Path = typer.Option(Path("runs/demo"), help="run folder to write (resumed if it exists)")) -> None:
    """Train 12 small networks on the 3-bit flip-flop, find their fixed points, compare them, write a report."""
    from dynascope.cli.analysis import analyze
    from dynascope.cli.commands import train_run
    from dynascope.cli.compare import compare
    from dynascope.report import write_report

    console.rule("[bold]train")
    train_run(demo_config(), out, resume=True)
    console.rule("[bold]fixed points and skeletons")
    analyze(out, n_initial_states=128, force=False)
    console.rule("[bold]compare the population")
    compare(out, None, n_trials=16, include_untrained=False, force=False)
    console.rule("[bold]report")
    with console.status("writing the report"):
        path = write_report(out)
    console.print(f"report: [bold]{path.resolve()}[/] ({path.stat().st_size / 1e6:.1f} MB) — open it in any browser")
