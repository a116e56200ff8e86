"""Small synthetic recordings that ship with the package, for the demo, the tests and a first fit or score
without data of one's own: each is written by `write_shipped` from a fixed recipe (system, options, neurons,
trials, seed), so anyone can regenerate it and check it is the file they have.

The files are stored, not regenerated on first use: a run fitted to a recording keeps the hash of its data,
and a regeneration on another machine (another JAX, another CPU) could differ in the last bit of a rate and so
in a spike count.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import jax

from dynascope.errors import UnknownNameError

_FOLDER = Path(__file__).with_name("recordings")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a shipped recording was made: `data.synthesize(system built with options, key=jax.random.key(seed),
    n_trials=n_trials, n_neurons=n_neurons)`; `description` says what it is for."""

    system: str
    options: dict[str, Any]
    n_trials: int
    n_neurons: int
    seed: int
    description: str


#: name -> recipe of every shipped recording.
SHIPPED: dict[str, Recipe] = {
    # Pulsed twice per trial (start and middle): with one pulse, a fit can hold each memory on slow points
    # that the recording cannot tell from attractors; flipping between memories needs the attractors.
    "flipflop3": Recipe(
        "flipflop", {"n_bits": 3}, n_trials=192, n_neurons=40, seed=0,
        description="a 3-bit flip-flop (8 stable points) pulsed at the start and the middle of every trial, 64 "
                    "conditions ('start>end' patterns) of 3 trials, 40 Poisson neurons, 100 bins of 10 ms"),
}


def shipped_names() -> list[str]:
    """The names of the shipped recordings, sorted."""
    return sorted(SHIPPED)


def shipped_recording(name: str = "flipflop3") -> Path:
    """The path of the shipped recording `name` (an NWB file that `read_trials` and `read_synthetic` read).

    Args:
        name: one of `shipped_names()`.

    Returns:
        The file's path inside the installed package.

    Raises:
        UnknownNameError: no shipped recording of that name (the message lists them).
    """
    if name not in SHIPPED:
        raise UnknownNameError(f"no shipped recording {name!r}; the shipped ones are {', '.join(shipped_names())}.")
    return _FOLDER / f"{name}.nwb"


def write_shipped(name: str, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Make the shipped recording `name` again from its recipe and write it to `path` (how the shipped file was
    made: `python -c "from dynascope import data; data.write_shipped('flipflop3', 'x.nwb')"`).

    Args:
        name: one of `shipped_names()`.
        path: destination .nwb file.
        overwrite: replace an existing file.

    Returns:
        The path written.

    Raises:
        UnknownNameError: an unknown name; ConfigError: as `write_nwb`.
    """
    from dynascope.data._registry import get_system
    from dynascope.data.nwb import write_nwb
    from dynascope.data.synthetic import synthesize

    shipped_recording(name)  # the name is checked
    r = SHIPPED[name]
    recording = synthesize(get_system(r.system, **r.options), key=jax.random.key(r.seed), n_trials=r.n_trials,
                           n_neurons=r.n_neurons)
    return write_nwb(recording, path, overwrite=overwrite)
