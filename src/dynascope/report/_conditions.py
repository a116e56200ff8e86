"""Trial conditions read off a batch of trials, for condition-averaged activity and coloured trajectories.

A condition is what a trial's inputs hold constant and what it asks for at its end: the values of the
tonic input channels (constant within every trial but different between trials: a context cue, a
frequency cue) and, where the final targets are discrete (−1, 0, +1: a choice, a memory bit), their signs.
The rule needs nothing from the task beyond its trials, so it applies to every registered task: the
flip-flop's conditions are its final memory states, cdi's its context × correct choice, perceptual_dm's
the correct choice, the sine generator's its frequency cue.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dynascope.tasks import Task, Trials

#: Conditions drawn at most (one palette colour each); rarer ones are pooled as "other".
MAX_CONDITIONS = 8


@dataclasses.dataclass(frozen=True)
class Conditions:
    """`labels [B]`: the condition of each trial (0..C−1, or −1 for a trial in a condition left out
    because more than MAX_CONDITIONS occur); `names [C]`: what each condition means."""

    labels: np.ndarray
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)


def _sign(v: float) -> str:
    return "+" if v > 0 else ("−" if v < 0 else "0")


def trial_conditions(task: Task, trials: Trials, max_conditions: int = MAX_CONDITIONS) -> Conditions:
    """The condition of every trial of a batch: tonic input values and final target signs.

    As the module docstring says; conditions are ordered by their values. With more than
    `max_conditions`, the most frequent are kept and the other trials labelled −1 (a single graded cue
    with more levels is pooled into equal-count ranges instead).

    Args:
        task: the `Task` (its input and output names name the conditions).
        trials: the batch (`Trials`: inputs `[B, T, I]`, targets `[B, T, O]`).
        max_conditions: the most conditions kept.

    Returns:
        `Conditions` (`labels [B]`, `names [C]`).
    """
    x = np.asarray(trials.inputs, dtype=float)
    y = np.asarray(trials.targets, dtype=float)
    in_names = tuple(task.input_names) or tuple(f"input {i}" for i in range(x.shape[2]))
    out_names = tuple(task.output_names)
    tonic = [i for i in range(x.shape[2])
             if np.all(np.ptp(x[:, :, i], axis=1) == 0) and np.unique(x[:, 0, i]).size > 1]
    final = y[:, -1, :]
    discrete = bool(np.all(np.isin(final, (-1.0, 0.0, 1.0))))
    levels = np.round(x[:, 0, tonic], 4)
    ranges: dict[float, str] = {}
    if len(tonic) == 1 and np.unique(levels).size > max_conditions:
        # one graded cue with many levels (the sine generator's 51): pooled into equal-count ranges
        edges = np.quantile(levels[:, 0], np.linspace(0, 1, max_conditions + 1))
        bins = np.clip(np.searchsorted(edges, levels[:, 0], side="right") - 1, 0, max_conditions - 1)
        lo = {b: levels[bins == b, 0].min() for b in np.unique(bins)}
        hi = {b: levels[bins == b, 0].max() for b in np.unique(bins)}
        levels = np.array([[lo[b]] for b in bins])
        ranges = {float(lo[b]): f"{in_names[tonic[0]]} {lo[b]:g}–{hi[b]:g}" for b in lo if hi[b] > lo[b]}
    keys = [tuple(float(v) for v in levels[b]) + (tuple(np.sign(final[b])) if discrete else ())
            for b in range(x.shape[0])]
    distinct = sorted(set(keys))
    counts = {k: keys.count(k) for k in distinct}
    kept = sorted(sorted(distinct, key=lambda k: -counts[k])[:max_conditions])
    index = {k: i for i, k in enumerate(kept)}

    def name(key: tuple) -> str:
        parts = []
        for i, v in zip(tonic, key[: len(tonic)]):
            # a one-hot cue reads as its channel's name; any other level as name = value
            parts.append(ranges.get(v) or (in_names[i] if v == 1.0 else None if v == 0.0 else f"{in_names[i]} = {v:g}"))
        signs = key[len(tonic):]
        if signs:
            if out_names and len(out_names) == len(signs):
                parts += [f"{n} {_sign(s)}" for n, s in zip(out_names, signs)]
            else:
                parts.append("target " + "".join(_sign(s) for s in signs))
        return ", ".join(p for p in parts if p) or "all trials"

    labels = np.array([index.get(k, -1) for k in keys], dtype=int)
    return Conditions(labels=labels, names=tuple(name(k) for k in kept))
