"""Which networks of a run the report can draw: never one that diverged in training, nor one whose states
are not finite (a run folder written before the divergence rule may flag a blown-up network healthy)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from dynascope.pipeline import load_group
from dynascope.report import _catalog
from dynascope.report._network import _run, sample_trials
from dynascope.store import RunFolder


def any_drawable(run: RunFolder) -> bool:
    """Whether any network of `run` did not diverge in training (so there is a network to draw)."""
    return _catalog.any_healthy(run)


def drawable_networks(run: RunFolder, max_networks: int, n_trials: int, groups: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(networks to draw, networks left out because their states are not finite): `_catalog.choose_networks`
    (never a diverged one), each run on the `n_trials` trials its panel draws (key 0, as `network_view`),
    for run folders written before the divergence rule, where a blown-up network may be flagged healthy.
    `groups` caches loaded groups (name -> StoredGroup), shared with `network_view`."""
    chosen, unfit = [], []
    for network in _catalog.choose_networks(run, max_networks):
        group_name, index, _ = _catalog.locate(run, network)
        if group_name not in groups:
            groups[group_name] = load_group(run, group_name)
        group = groups[group_name]
        trials = sample_trials(group.task, jax.random.key(0), n_trials)
        states = _run(group.model)(group.network(int(index)), trials.inputs)
        (chosen if bool(np.all(np.isfinite(np.asarray(states)))) else unfit).append(network)
    return chosen, unfit
