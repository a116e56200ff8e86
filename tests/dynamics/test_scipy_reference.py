"""The DEFAULT `find_fixed_points` call finds every fixed point an independent SciPy root search finds.

Reference, written here without dynascope: the one-step map F of a trained tanh RNN ('vanilla') and of a
trained GRU (torch's GRUCell equations, gates r, z, n) in plain NumPy float64 from the params dict, its
analytic Jacobian, and `scipy.optimize.root(F(s) − s, hybr)` from every seed. Roots with max|F(s) − s| <
1e-12 are de-duplicated at 1e-8, kept inside the reachable box (the visited states' min/max widened by 10%
of the width per side, dynascope's `reachable_margin=0.1`), and classified by the number of eigenvalues of
the NumPy Jacobian with |λ| > 1. dynascope, from the same seeds with default settings, must find each of
them (position to 1e-8, same index) and at least as many points of every index; it may find more (e.g.
saddles between memories that no trajectory seed leads SciPy to). A second, stricter reference also seeds
SciPy between pairs of its own stable roots, so the saddles are checked too.
"""

from __future__ import annotations

import collections

import jax
import numpy as np
import pytest
import scipy.optimize

from dynascope import dynamics
from tests.data import trained_weights

N_BITS = 3
N_SEEDS = 96
RESIDUAL_TOL = 1e-12
POSITION_TOL = 1e-8
MARGIN = 0.1


# -- the reference: NumPy float64 maps and their analytic Jacobians ---------------------------------------
def vanilla_map(p, u):
    W, drive = p["W_rec"], p["W_in"] @ u + p["b"]

    def f(h):
        return np.tanh(W @ h + drive)

    def jac(h):
        return (1.0 - f(h) ** 2)[:, None] * W

    return f, jac


def gru_map(p, u):
    H = p["weight_hh"].shape[1]
    gi = p["weight_ih"] @ u + p["bias_ih"]
    Whr, Whz, Whn = p["weight_hh"][:H], p["weight_hh"][H : 2 * H], p["weight_hh"][2 * H :]

    def parts(h):
        gh = p["weight_hh"] @ h + p["bias_hh"]
        r = 1.0 / (1.0 + np.exp(-(gi[:H] + gh[:H])))
        z = 1.0 / (1.0 + np.exp(-(gi[H : 2 * H] + gh[H : 2 * H])))
        n = np.tanh(gi[2 * H :] + r * gh[2 * H :])
        return gh, r, z, n

    def f(h):
        _, _, z, n = parts(h)
        return (1.0 - z) * n + z * h

    def jac(h):
        gh, r, z, n = parts(h)
        dr = (r * (1.0 - r))[:, None] * Whr
        dz = (z * (1.0 - z))[:, None] * Whz
        dn = (1.0 - n**2)[:, None] * (gh[2 * H :, None] * dr + r[:, None] * Whn)
        return (h - n)[:, None] * dz + (1.0 - z)[:, None] * dn + np.diag(z)

    return f, jac


NUMPY_MAPS = {"vanilla": vanilla_map, "gru": gru_map}


def scipy_roots(f, jac, seeds):
    """Unique roots of F(s) − s found by SciPy from the seeds `[K, S]`, and their index."""
    eye = np.eye(seeds.shape[1])
    found: list[np.ndarray] = []
    for seed in seeds:
        sol = scipy.optimize.root(lambda s: f(s) - s, seed, jac=lambda s: jac(s) - eye, method="hybr", tol=1e-14)
        if not (sol.success and np.max(np.abs(f(sol.x) - sol.x)) < RESIDUAL_TOL):
            continue
        if all(np.max(np.abs(sol.x - x)) > POSITION_TOL for x in found):
            found.append(sol.x)
    roots = np.array(found).reshape(-1, seeds.shape[1])
    index = np.array([int(np.sum(np.abs(np.linalg.eigvals(jac(x))) > 1.0)) for x in roots], int)
    return roots, index


# -- trained networks -----------------------------------------------------------------------------------
# arch: the stored weights of a 16-unit network trained 300 steps (Adam 1e-2, batch 32, key 3) on this task,
# made by tests/data/trained_weights.py: both references are computed on these same weights, so loading
# them checks the same thing as training them here, without compiling the trainer.
TRAINED = {"vanilla": "flipflop3_vanilla16_300steps", "gru": "flipflop3_gru16_300steps"}


@pytest.fixture(scope="module", params=sorted(TRAINED))
def compared(request):
    arch = request.param
    task, model, params = trained_weights.load(TRAINED[arch])
    n_hidden = model.n_hidden
    trials = task.sample(jax.random.key(4), 32)
    states, outputs = model.run(params, trials.inputs)
    assert float(task.metric(outputs, trials).mean()) >= task.criterion, arch  # a network that solves the task
    visited = np.asarray(states, np.float64).reshape(-1, n_hidden)

    rng = np.random.default_rng(5)
    picked = visited[rng.choice(len(visited), N_SEEDS, replace=False)]
    seeds = (picked + 0.1 * visited.std() * rng.standard_normal(picked.shape)).astype(np.float32)
    u = np.zeros(N_BITS, np.float32)

    fps = dynamics.find_fixed_points(model, params, u, seeds, reachable_states=states)  # default settings
    # Both sides keep only points inside the box (a GRU also has roots far outside it). With 300 steps
    # both networks have all 8 memories inside; after 500 steps 4 of this GRU's 8 memories lie 1-5% of the
    # box width beyond it (with 128-step trials too), which would leave only 4 stable points to compare.
    inside = fps.converged & ~fps.outside_reachable
    ours, ours_index = np.asarray(fps.states[inside], np.float64), np.asarray(fps.n_unstable[inside])

    lo, hi = visited.min(axis=0), visited.max(axis=0)
    lo, hi = lo - MARGIN * (hi - lo), hi + MARGIN * (hi - lo)
    f, jac = NUMPY_MAPS[arch]({k: np.asarray(v, np.float64) for k, v in params.items()}, u.astype(np.float64))
    from_trajectories = scipy_roots(f, jac, seeds.astype(np.float64))
    # a stricter second reference: SciPy also seeded at 1/3 and 2/3 of the way between every pair of the
    # stable roots it found itself, where the saddles between memories lie
    roots, index = from_trajectories
    stable = roots[index == 0]
    between = np.array([a + t * (b - a) for i, a in enumerate(stable) for b in stable[i + 1 :] for t in (1 / 3, 2 / 3)])
    with_pairs = scipy_roots(f, jac, np.concatenate([seeds.astype(np.float64), between.reshape(-1, n_hidden)]))

    def in_box(found):
        keep = np.all((found[0] >= lo) & (found[0] <= hi), axis=1)
        return found[0][keep], found[1][keep]

    return arch, ours, ours_index, {"trajectory": in_box(from_trajectories), "pairs": in_box(with_pairs)}


@pytest.mark.parametrize("reference", ["trajectory", "pairs"])
def test_default_call_finds_every_scipy_root(compared, reference):
    # "trajectory": SciPy from exactly dynascope's seeds (the acceptance criterion); "pairs": SciPy from
    # those seeds plus seeds between its own stable roots, which also checks the saddles
    arch, ours, ours_index, references = compared
    theirs, their_index = references[reference]
    ours_counts = dict(sorted(collections.Counter(ours_index.tolist()).items()))
    their_counts = dict(sorted(collections.Counter(their_index.tolist()).items()))
    print(f"{arch} ({reference} seeds): SciPy roots by index {their_counts}, dynascope {ours_counts}")
    assert len(theirs) >= 4, f"{arch}: SciPy found only {their_counts}; the comparison would be vacuous"
    assert len(ours) >= len(theirs), (arch, their_counts, ours_counts)

    # one-to-one matching of every SciPy root to a dynascope point
    dist = np.linalg.norm(theirs[:, None, :] - ours[None, :, :], axis=-1)
    rows, cols = scipy.optimize.linear_sum_assignment(dist)
    assert len(rows) == len(theirs)
    missed = [(theirs[i].round(4).tolist(), int(their_index[i]), float(dist[i, j]))
              for i, j in zip(rows, cols) if dist[i, j] >= POSITION_TOL]
    assert not missed, f"{arch}: SciPy roots dynascope missed (state, index, distance): {missed}"
    np.testing.assert_array_equal(ours_index[cols], their_index[rows], err_msg=f"{arch}: index differs")

    for k, n in their_counts.items():
        assert ours_counts.get(k, 0) >= n, (arch, k, their_counts, ours_counts)
