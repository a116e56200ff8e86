"""A trained 2-bit flip-flop network has the fixed-point structure the task implies (Sussillo & Barak 2013).

Ground truth comes from the task, not from our analysis: one stable point per memory state (2^N, each
read out as a distinct sign pattern), and index-1 saddles whose unstable manifold joins two memory
states that differ in exactly one bit.
"""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

from dynascope import dynamics, models, tasks
from dynascope.train import train_population

N_BITS = 2


@pytest.fixture(scope="module")
def trained():
    task = tasks.get("flipflop", n_bits=N_BITS, n_time=48)
    model = models.get("vanilla", n_inputs=N_BITS, n_hidden=16, n_outputs=N_BITS)
    pop = train_population(task, model, 1, 800, jax.random.key(3), batch_size=32, learning_rate=1e-2,
                           checkpoint_every=400)
    assert pop.trained.all(), pop.metric
    params = pop.network(0)
    states, _ = model.run(params, task.sample(jax.random.key(4), 32).inputs)
    seeds = dynamics.sample_initial_states(jax.random.key(5), states, 128, 0.05)
    u = np.zeros(N_BITS, np.float32)
    fps = dynamics.find_fixed_points(model, params, u, seeds, reachable_states=states, saddle_seeds_per_pair=1)
    return model, params, fps, u


def test_one_stable_point_per_memory_state(trained):
    model, params, fps, _ = trained
    stable = fps.states[fps.is_stable & fps.converged & ~fps.outside_reachable]
    assert len(stable) == 2**N_BITS
    patterns = {tuple(np.sign(np.asarray(model.readout(params, s))).astype(int)) for s in stable}
    assert patterns == set(itertools.product((-1, 1), repeat=N_BITS))
    assert np.all(fps.q[fps.converged] < 1e-12)


def test_index_one_saddles_join_memories_one_bit_apart(trained):
    model, params, fps, u = trained
    graph = dynamics.skeleton(model, params, fps, u)
    pattern = {n: np.sign(np.asarray(model.readout(params, d["state"]))) for n, d in graph.nodes(data=True)
               if not d.get("terminal") and d["index"] == 0}
    saddles = [n for n, d in graph.nodes(data=True) if not d.get("terminal") and d["index"] == 1]
    assert len(saddles) >= N_BITS * 2 ** (N_BITS - 1)  # the edges of the square
    for s in saddles:
        ends = [b for _, b in graph.out_edges(s)]
        assert len(ends) == 2 and all(b in pattern for b in ends), ends
        assert np.sum(pattern[ends[0]] != pattern[ends[1]]) == 1
