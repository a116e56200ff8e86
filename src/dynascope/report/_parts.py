"""What a report section of a run written by one command (`ablate`, `specialize`) is made of, before the page
places it: its pieces say, draw and tabulate; `report.html` owns the markup."""

from __future__ import annotations

import dataclasses
from typing import Any

from matplotlib.figure import Figure


@dataclasses.dataclass(frozen=True)
class SectionParts:
    """A section's pieces: an introduction (HTML), table rows (in the order of the section's `COLUMNS`),
    (figure, alt text, caption) per figure, and each figure's file name for `report --static` (`names`)."""

    intro: str
    rows: list[list[Any]]
    figures: list[tuple[Figure, str, str]]
    names: list[str] = dataclasses.field(default_factory=list)
