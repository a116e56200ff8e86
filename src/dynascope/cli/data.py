"""`dynascope data synth|systems`: synthetic ground-truth recordings written as NWB files."""

from __future__ import annotations

from pathlib import Path

import typer

from dynascope.cli._app import app, parse_options
from dynascope.cli._display import console, table

data_app = typer.Typer(no_args_is_help=True, help="Synthetic recordings from systems whose mechanism is known.")
app.add_typer(data_app, name="data")


@data_app.command("systems")
def systems_cmd() -> None:
    """List the registered ground-truth systems with their options."""
    from dynascope import data

    rows = []
    for name in data.system_names():
        system = data.get_system(name)
        doc = (type(system).__doc__ or "").strip().splitlines()[0]
        opts = ", ".join(f"{k}={v}" for k, v in system.options().items())
        rows.append([name, system.n_latents, system.n_inputs, opts, doc])
    console.print(table("ground-truth systems", ["name", "latents", "inputs", "options (defaults)", "description"], rows))


@data_app.command("synth")
def synth_cmd(
    system: str = typer.Option("flipflop", "--system", help="ground-truth system (dynascope data systems)"),
    neurons: int = typer.Option(200, "--neurons", help="neurons recorded"),
    trials: int = typer.Option(500, "--trials", help="trials simulated"),
    out: Path = typer.Option(..., "--out", help="the NWB file to write (ends in .nwb)"),
    seed: int = typer.Option(0, "--seed", help="PRNG seed of the simulation and the spikes"),
    system_opt: list[str] = typer.Option([], "--system-opt", help="system option KEY=VALUE, repeatable (n_bits=2)"),
    baseline_hz: float = typer.Option(10.0, "--baseline-hz", help="firing rate of a neuron at zero drive"),
    gain: float = typer.Option(1.0, "--gain", help="embedding gain (spread of the drive)"),
    link: str = typer.Option("softplus", "--link", help="softplus or exp"),
    spiking: str = typer.Option("poisson", "--spiking", help="poisson or bernoulli"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing file"),
) -> None:
    """Simulate a system, record it through spiking neurons and write an NWB file with its ground truth."""
    from dynascope.data.nwb import check_destination, import_pynwb
    from dynascope.errors import check_positive_int
    from dynascope.store import check_writable

    options = parse_options("--system-opt", system_opt)
    check_destination(out, overwrite=force, name="--out", overwrite_flag="--force")
    check_positive_int("--neurons", neurons)
    check_positive_int("--trials", trials)
    import_pynwb()
    check_writable(out.absolute().parent)

    import jax

    from dynascope import data

    chosen = data.get_system(system, **options)
    with console.status(f"simulating {trials} trials of {system!r} and {neurons} neurons"):
        rec = data.synthesize(chosen, key=jax.random.key(seed), n_trials=trials, n_neurons=neurons,
                              baseline_hz=baseline_hz, gain=gain, link=link, spiking=spiking)
    with console.status(f"writing {out}"):
        path = data.write_nwb(rec, out, overwrite=force)
    n_spikes = int(rec.counts.sum())
    n_conditions = len(set(rec.labels.tolist()))
    console.print(f"wrote [bold]{path}[/] ({path.stat().st_size / 1e6:.1f} MB): {trials} trials of {n_conditions} "
                  f"conditions, {neurons} neurons, {n_spikes} spikes, {rec.n_time} bins of {rec.bin_width:g} s")
    sk = rec.skeleton
    cycle = f", a limit cycle of period {sk.period:g} s" if sk.period is not None else ""
    console.print(f"ground truth: {rec.latents.shape[-1]} latents, {len(sk.fixed_points)} fixed points "
                  f"({int(sk.is_stable.sum())} stable){cycle}")
