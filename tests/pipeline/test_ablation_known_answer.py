"""Ablations whose answer is known by construction: connecting two modules is necessary when the output needs both
of their input streams (sign_match, an XOR of the two streams' signs, which disconnected modules cannot compute
for a linear readout), and cannot matter when every input reaches one module (a 1-bit flip-flop)."""

from __future__ import annotations

import numpy as np
import pytest

from dynascope.pipeline import AblationConfig, ablation_summary, run_ablation
from dynascope.train import TrainOptions

TRAIN = TrainOptions(batch_size=32, learning_rate=0.02, checkpoint_every=120)


def ablate(tmp_path, task: str, task_options: dict) -> tuple:
    config = AblationConfig(task=task, arch="modular", mechanism="inter_module", sizes=(8, 16), n_networks=3,
                            steps=120, task_options=task_options, train=TRAIN)
    s = ablation_summary(run_ablation(config, tmp_path / task))
    return s.scores["inter_module"]["with"], s.scores["inter_module"]["without"], s.factor


def test_a_mechanism_the_task_needs_by_construction_shows_a_large_effect(tmp_path):
    with_, without, factor = ablate(tmp_path, "sign_match", {})
    # Connected modules learn the XOR. Disconnected ones can at best add a function of one sign to a function of
    # the other, sign(f(s_A) + g(s_B)), which is right on at most 3 of the 4 sign pairs: a score of at most 0.75
    # (plus the sampling error of the evaluation trials) at every size, so the arm without never reaches the
    # arm with and the factor is a lower bound.
    assert with_.mean(axis=1).min() > 0.85, with_
    assert without.max() < 0.8, without
    assert (with_.mean(axis=1) - without.mean(axis=1)).min() > 0.3
    assert factor.relation == ">", str(factor)


def test_a_mechanism_the_task_cannot_use_shows_none(tmp_path):
    # One input channel, which drives module A only: module B holds nothing the output needs.
    with_, without, factor = ablate(tmp_path, "flipflop", {"n_bits": 1, "n_time": 12})
    assert with_.mean() > 0.7 and without.mean() > 0.7, (with_, without)
    assert np.abs(with_.mean(axis=1) - without.mean(axis=1)).max() < 0.1, (with_, without)
    assert factor.relation == "=" and factor.ci_low <= 1.0 <= factor.ci_high, str(factor)


def test_the_mechanism_applies_to_two_module_networks_only():
    from dynascope.errors import ConfigError

    with pytest.raises(ConfigError, match=r"does not apply to architecture 'gru': it applies to modular, modular_lif"):
        AblationConfig(arch="gru", mechanism="inter_module").validate()
