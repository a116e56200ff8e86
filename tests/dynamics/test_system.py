"""A user's own model object — no dynascope base class, only the model methods — is analysed like a
`models.Model` by every dynamics function, checked against fixed points known in closed form."""

from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope.dynamics import (
    ModelLike,
    continue_along_inputs,
    find_fixed_points,
    find_periodic_orbits,
    linearize,
    signature,
    skeleton,
)
from dynascope.errors import ConfigError, ShapeError

A = 0.3  # per-unit gain: multipliers 1 + A(1 − 3s²) are 1.3 at s = 0 and 0.4 at s = ±1


class Bistable:
    """Two uncoupled bistable units, s' = s + a·(s − s³) + x: fixed points at every s ∈ {−1, 0, 1}² (x = 0),
    with multipliers 1 + a(1 − 3s_i²): the 4 corners stable, the 4 edge midpoints index-1 saddles, the
    origin index 2."""

    n_state, n_inputs = 2, 1

    def init(self, key: jax.Array) -> dict:
        return {"a": jnp.asarray(A, jnp.float32)}

    def initial_state(self, params: dict) -> jax.Array:
        return jnp.zeros(2)

    def step(self, params: dict, state: jax.Array, x: jax.Array) -> jax.Array:
        return state + params["a"] * (state - state**3) + x[0]

    def readout(self, params: dict, state: jax.Array) -> jax.Array:
        return state


class BistableFlow(Bistable):
    """The same units as the Euler step (alpha 0.1) of the flow ṡ = s − s³ (a = alpha): flow eigenvalues
    1 − 3s², i.e. 1 at the origin and −2 at ±1."""

    continuous, alpha = True, 0.1

    def init(self, key: jax.Array) -> dict:
        return {"a": jnp.asarray(0.1, jnp.float32)}


@dataclasses.dataclass
class UnhashableBistable(Bistable):
    """A plain (eq=True, not frozen) dataclass is unhashable: jit must still key its programs on it."""

    label: str = "mine"


GRID = np.array(list(itertools.product(np.linspace(-1.4, 1.4, 5), repeat=2)), np.float32)
CUBE = np.array(list(itertools.product([-1.0, 0.0, 1.0], repeat=2)))


def by_row(states: np.ndarray) -> np.ndarray:
    # Rounded for the ordering only: a coordinate at the root 0 may come out as ±1e-17, and its sign must not
    # decide the order of the rows.
    return states[np.lexsort(np.round(states, 8).T[::-1])]


@pytest.mark.parametrize("cls", [Bistable, UnhashableBistable])
def test_an_object_with_the_model_methods_has_its_closed_form_fixed_points(cls):
    model = cls()
    assert isinstance(model, ModelLike)
    params = model.init(jax.random.key(0))
    fp = find_fixed_points(model, params, np.zeros(1, np.float32), GRID)
    assert len(fp) == 9 and fp.converged.all() and not fp.continuous
    np.testing.assert_allclose(by_row(fp.states), CUBE, atol=1e-12)
    zeros = np.sum(np.abs(fp.states) < 0.5, axis=1)
    np.testing.assert_array_equal(fp.n_unstable, zeros)  # each coordinate at 0 is a growing mode
    expected = np.sort(1.0 + A * (1.0 - 3.0 * fp.states**2), axis=1)
    np.testing.assert_allclose(np.sort(fp.eigvals.real, axis=1), expected, atol=1e-7)


def test_every_analysis_takes_the_object():
    model = Bistable()
    params = model.init(jax.random.key(0))
    lin = linearize(model, params, np.zeros(2), np.zeros(1))
    np.testing.assert_allclose(lin.eigvals, [1.0 + A, 1.0 + A], atol=1e-12)
    assert lin.n_unstable == 2 and lin.kind == "unstable node"
    fp = find_fixed_points(model, params, np.zeros(1, np.float32), GRID)
    graph = skeleton(model, params, fp, n_steps=200)
    sig = signature(graph)
    assert sig["counts"] == {0: 4, 1: 4, 2: 1}
    # each saddle's two departures reach the two corners beside it; the origin's four reach the saddles
    assert sig["edges"] == [[1, 0]] * 8 + [[2, 1]] * 4 and sig["terminals"] == {}
    orbits = find_periodic_orbits(model, params, np.zeros(1), GRID.astype(np.float64), period=1)
    np.testing.assert_allclose(by_row(orbits.points[:, 0]), CUBE, atol=1e-12)
    np.testing.assert_array_equal(orbits.is_stable, np.all(np.abs(orbits.points[:, 0]) > 0.5, axis=1))
    # along the input x the upper corner moves to where a(s − s³) + x = 0 (closed form in x)
    branch = continue_along_inputs(model, params, np.array([[0.0], [0.05]]), np.ones(2))
    s, x = branch.states, branch.inputs[:, :1]
    assert branch.status == "completed" and x[-1, 0] == pytest.approx(0.05)
    a = float(params["a"])  # float32 0.3, as the analysis (in float64) sees it
    np.testing.assert_allclose(a * (s - s**3) + x, 0.0, atol=1e-10)


def test_an_object_that_declares_a_flow_is_analysed_as_the_flow():
    model = BistableFlow()
    params = model.init(jax.random.key(0))
    fp = find_fixed_points(model, params, np.zeros(1, np.float32), GRID)
    assert len(fp) == 9 and fp.continuous and fp.alpha == pytest.approx(0.1)
    expected = np.sort(1.0 - 3.0 * fp.states**2, axis=1)
    np.testing.assert_allclose(np.sort(fp.eigvals.real, axis=1), expected, atol=1e-6)
    with pytest.raises(ConfigError, match=r"continuous=True and alpha=0.2 were given with the model 'BistableFlow'"):
        find_fixed_points(model, params, np.zeros(1), GRID, continuous=True, alpha=0.2)


def test_declared_sizes_are_checked_and_half_a_model_is_refused():
    model = Bistable()
    params = model.init(jax.random.key(0))
    with pytest.raises(ShapeError, match=r"'Bistable' model has state size 2, but the arrays passed have state size 3"):
        find_fixed_points(model, params, np.zeros(1), np.zeros((4, 3)))

    class StepOnly:
        def step(self, params, state, x):
            return state

    with pytest.raises(ConfigError, match=r"model must be .* got StepOnly .*lacks init, initial_state, readout"):
        linearize(StepOnly(), None, np.zeros(2), np.zeros(1))
    with pytest.raises(ConfigError, match=r"got the class Bistable; pass an instance"):
        find_fixed_points(Bistable, params, np.zeros(1), GRID)
