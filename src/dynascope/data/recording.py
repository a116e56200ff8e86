"""The one type every consumer of a recording takes: single trials as spike counts per bin, a condition label
per trial and the input each trial received (`TrialRecording`). A recording read from any NWB file
(`data.read_trials`) is one; a synthetic recording (`data.SyntheticRecording`) is one that also carries its
ground truth (latents, rates, skeleton, embedding), so fitting and scoring take either.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True, kw_only=True, repr=False)
class TrialRecording:
    """`counts [trials, T, N]` spikes per bin (whole numbers), `labels [trials]` the condition of each trial
    (str), `inputs [trials, T, I]` the input held during each bin (float32; None, or zero channels, when the
    recording has none), `bin_width` seconds per bin, `source` where it came from (a file path, or
    'synthetic:<system>')."""

    counts: np.ndarray
    labels: np.ndarray
    inputs: np.ndarray | None
    bin_width: float
    source: str

    @property
    def n_trials(self) -> int:
        return int(self.counts.shape[0])

    @property
    def n_time(self) -> int:
        return int(self.counts.shape[1])

    @property
    def n_neurons(self) -> int:
        return int(self.counts.shape[2])

    def __repr__(self) -> str:
        # the sizes, not the arrays (a recording's repr printed thousands of counts)
        return (f"{type(self).__name__}({self.n_trials} trials × {self.n_time} bins × {self.n_neurons} neurons, "
                f"bin_width={self.bin_width:g} s, {len(set(map(str, self.labels)))} conditions, "
                f"source={self.source!r})")
