"""A trained 3-bit flip-flop network has the fixed-point structure the task implies (Sussillo & Barak 2013).

Ground truth comes from the task, not from our analysis: one stable point per memory state (2^N, each
read out as a distinct sign pattern), index-1 saddles whose unstable manifold joins two memory states
that differ in exactly one bit, and the whole cube {−1, 0, 1}^N: C(N, k)·2^(N−k) points of index k
(8 stable, 12 index-1, 6 index-2, 1 index-3 for N = 3). The search runs with its DEFAULT settings: a
user's first call must give the complete answer.
"""

from __future__ import annotations

import collections
import itertools
from math import comb

import jax
import numpy as np
import pytest

from dynascope import dynamics
from tests.data import trained_weights

N_BITS = 3


@pytest.fixture(scope="module")
def trained():
    # A 16-unit tanh RNN trained 500 steps (Adam 1e-2, batch 32, key 3) on 48-step trials, stored by
    # tests/data/trained_weights.py: the ground truth here comes from the task, not from how the weights
    # were made, so the stored weights check the same thing without compiling the trainer.
    task, model, params = trained_weights.load("flipflop3_vanilla16_500steps")
    trials = task.sample(jax.random.key(4), 32)
    states, outputs = model.run(params, trials.inputs)
    assert float(task.metric(outputs, trials).mean()) >= task.criterion  # a network that solves the task
    seeds = dynamics.sample_initial_states(states, 128, key=jax.random.key(5), noise_std=0.05)
    u = np.zeros(N_BITS, np.float32)
    fps = dynamics.find_fixed_points(model, params, u, seeds, reachable_states=states)  # default settings
    return model, params, fps, u, seeds, states


def test_one_stable_point_per_memory_state(trained):
    model, params, fps, *_ = trained
    stable = fps.states[fps.is_stable & fps.converged & ~fps.outside_reachable]
    assert len(stable) == 2**N_BITS
    patterns = {tuple(np.sign(np.asarray(model.readout(params, s))).astype(int)) for s in stable}
    assert patterns == set(itertools.product((-1, 1), repeat=N_BITS))
    assert np.all(fps.q[fps.converged] < 1e-12)


def test_the_default_call_finds_the_whole_cube(trained):
    # The default settings used to run trajectory seeds only (saddle_seeds_per_pair=0): on this network
    # that finds the 8 memories and none of the 19 saddles; `dynascope analyze` found all 27.
    model, params, fps, u, seeds, states = trained
    inside = fps.converged & ~fps.outside_reachable
    expected = {k: comb(N_BITS, k) * 2 ** (N_BITS - k) for k in range(N_BITS + 1)}  # the cube's faces
    assert dict(collections.Counter(fps.n_unstable[inside].tolist())) == expected == {0: 8, 1: 12, 2: 6, 3: 1}
    assert fps.counts()["stable"] == 8 and fps.counts()["saddles"] == 19
    # each point is a root of the vanilla step h' = tanh(W h + U u + b), by NumPy in float64, and its index
    # is the number of NumPy eigenvalues of the Jacobian outside the unit circle
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    for s, n_unstable in zip(fps.states[inside], fps.n_unstable[inside]):
        nxt = np.tanh(p["W_rec"] @ s + p["W_in"] @ u + p["b"])
        assert np.max(np.abs(nxt - s)) < 1e-10
        assert n_unstable == np.sum(np.abs(np.linalg.eigvals((1.0 - nxt**2)[:, None] * p["W_rec"])) > 1.0)
    # trajectory seeds alone miss the saddles: the default's saddle round is what finds them
    one_round = dynamics.find_fixed_points(model, params, u, seeds, reachable_states=states, saddle_seeds_per_pair=0)
    assert one_round.counts()["saddles"] < 12


def test_index_one_saddles_join_memories_one_bit_apart(trained):
    model, params, fps, u, *_ = trained
    graph = dynamics.skeleton(model, params, fps, u)
    pattern = {n: np.sign(np.asarray(model.readout(params, d["state"]))) for n, d in graph.nodes(data=True)
               if not d.get("terminal") and d["index"] == 0}
    saddles = [n for n, d in graph.nodes(data=True) if not d.get("terminal") and d["index"] == 1]
    assert len(saddles) >= N_BITS * 2 ** (N_BITS - 1)  # the edges of the cube
    for s in saddles:
        ends = [b for _, b in graph.out_edges(s)]
        assert len(ends) == 2 and all(b in pattern for b in ends), ends
        assert np.sum(pattern[ends[0]] != pattern[ends[1]]) == 1
