"""Bad input to the dynamics functions raises a DynascopeError naming the argument and the value received,
never a raw JAX/NumPy error (scan carry mismatch, LinAlgError) and never a silently empty or wrong result."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import models
from dynascope.dynamics import (
    FixedPointOptions,
    continue_along_inputs,
    continue_fixed_points,
    find_fixed_points,
    find_limit_cycle,
    find_periodic_orbits,
    linearize,
)
from dynascope.errors import ConfigError, ShapeError

FAST = FixedPointOptions(descent_steps=0, newton_steps=20, saddle_seeds_per_pair=0)
PARAMS = {"A": 0.5 * np.eye(3), "B": np.ones((3, 2))}


def linear(p, s, x):
    """s' = A s + B x with S = 3 and I = 2."""
    return p["A"] @ s + p["B"] @ x


def truncating(p, s, x):
    """Returns a state of the wrong size."""
    return s[:1]


def to_float32(p, s, x):
    """Returns the state in float32 whatever it is given."""
    return (0.5 * s).astype(jnp.float32)


# -- wrong-shaped steps ------------------------------------------------------------------------------------
def test_periodic_orbits_refuse_a_step_of_the_wrong_shape_or_size():
    with pytest.raises(ShapeError, match=r"must return a state of shape \(3,\), got \(1,\).*initial_states"):
        find_periodic_orbits(truncating, None, np.zeros(2), np.zeros((4, 3)), period=2)
    with pytest.raises(ShapeError, match=r"step\(params, state \[3\], x \[3\]\) failed.*inputs \(input size 3 here\)"):
        find_periodic_orbits(linear, PARAMS, np.zeros(3), np.zeros((4, 3)), period=2)
    with pytest.raises(ShapeError, match=r"returned its state as float32; it must keep the dtype it is given \(float64"):
        find_periodic_orbits(to_float32, None, np.zeros(2), np.ones((4, 3)), period=2)


def test_limit_cycle_refuses_a_step_of_the_wrong_shape_or_size():
    with pytest.raises(ShapeError, match=r"must return a state of shape \(3,\), got \(1,\).*initial_state"):
        find_limit_cycle(truncating, None, np.zeros(2), np.ones(3))
    with pytest.raises(ShapeError, match=r"step\(params, state \[3\], x \[1\]\) failed.*inputs \(input size 1 here\)"):
        find_limit_cycle(linear, PARAMS, np.zeros(1), np.ones(3))
    with pytest.raises(ConfigError, match=r"initial_state holds 1 non-finite value\(s\) \(the first, nan at index \(2,\)\)"):
        find_limit_cycle(linear, PARAMS, np.zeros(2), np.array([1.0, 0.0, np.nan]))


def test_continuation_refuses_a_family_of_the_wrong_shape_or_size():
    with pytest.raises(ShapeError, match=r"family\(state \[2\], p \[\]\) must return the next state, of shape \(2,\) "
                                         r"like start_state, got \(1,\)"):
        continue_fixed_points(lambda s, p: s[:1] * p, np.zeros(2), 0.0, 1.0)
    with pytest.raises(ShapeError, match=r"family\(state \[2\], p \[\]\) failed.*start_state has 2 entries"):
        continue_fixed_points(lambda s, p: jnp.eye(3) @ s * p, np.zeros(2), 0.0, 1.0)
    path = np.zeros((2, 3))  # three inputs for a step that takes two
    with pytest.raises(ShapeError, match=r"step\(params, state \[3\], x \[3\]\) failed.*inputs_path \(input size 3 here\)"):
        continue_along_inputs(linear, PARAMS, path, np.zeros(3))


# -- non-finite values ----------------------------------------------------------------------------------
def test_linearize_at_a_nan_state_names_the_state():
    with pytest.raises(ConfigError, match=r"state holds 1 non-finite value\(s\) \(the first, nan at index \(1,\)\)"):
        linearize(linear, PARAMS, np.array([0.0, np.nan, 0.0]), np.zeros(2))
    with pytest.raises(ConfigError, match=r"state holds 2 non-finite value\(s\) \(the first, inf at index \(1, 0\)\)"):
        linearize(linear, PARAMS, np.array([[0.0, 0.0, 0.0], [np.inf, 1.0, -np.inf]]), np.zeros(2))
    bad = {"A": np.array([[0.5, 0, 0], [0, np.nan, 0], [0, 0, 0.5]]), "B": np.ones((3, 2))}
    with pytest.raises(ConfigError, match=r"params\['A'\] holds 1 non-finite value\(s\) \(the first, nan at index "
                                          r"\(1, 1\)\)"):
        linearize(linear, bad, np.zeros(3), np.zeros(2))
    # a finite state where the step itself overflows
    with pytest.raises(ConfigError, match=r"Jacobian of the step is not finite at state row 0 = \[800.0\]"):
        linearize(lambda p, s, x: jnp.exp(s), None, np.array([800.0]), np.zeros(1))


@pytest.mark.parametrize(
    "argument, message",
    [
        ("initial_states", r"initial_states holds 1 non-finite value\(s\) \(the first, nan at index \(2, 0\)\)"),
        ("inputs", r"inputs holds 1 non-finite value\(s\) \(the first, nan at index \(1,\)\)"),
        ("params", r"params\['B'\] holds 1 non-finite value\(s\) \(the first, nan at index \(0, 1\)\).*diverged"),
    ],
)
def test_find_fixed_points_refuses_nan_instead_of_returning_nothing(argument, message):
    # Before: every search from a NaN failed and an empty FixedPoints came back without a word.
    args = {"params": {k: v.copy() for k, v in PARAMS.items()}, "inputs": np.zeros(2), "initial_states": np.ones((4, 3))}
    target = args[argument]
    if argument == "params":
        target["B"][0, 1] = np.nan
    elif argument == "inputs":
        target[1] = np.nan
    else:
        target[2, 0] = np.nan
    with pytest.raises(ConfigError, match=message):
        find_fixed_points(linear, args["params"], args["inputs"], args["initial_states"], options=FAST)


def test_the_population_search_names_the_network_holding_nan():
    stacked = {k: np.stack([v, v, v]) for k, v in PARAMS.items()}
    stacked["A"][2, 0, 0] = np.nan
    with pytest.raises(ConfigError, match=r"params\['A'\] holds 1 non-finite .* at index \(2, 0, 0\).*first index is "
                                          r"the network"):
        find_fixed_points(linear, stacked, np.zeros(2), np.ones((3, 4, 3)), options=FAST)


# -- continuation from a point that is not a fixed point --------------------------------------------------
def logistic(s, r):
    return r * s * (1.0 - s)


def test_continuation_refuses_a_start_far_from_any_fixed_point():
    # At r = 2.5 the fixed points are 0 and 1 − 1/r = 0.6 (closed form). From 0.25, Newton goes to 0, a
    # different point 0.25 away: it used to trace that branch without a word.
    with pytest.raises(ConfigError, match=r"start_state is not a fixed point of the family at p_start = 2.5: "
                                          r"‖F\(s\) − s‖ = 0.219 there, and the fixed point Newton reaches from it "
                                          r"lies 0.25 away \(at \[-?[0-9.e-]+\]\), farther than"):
        continue_fixed_points(logistic, np.array([0.25]), 2.5, 3.5)
    with pytest.raises(ConfigError, match=r"start_state is not near a fixed point .* Newton did not converge"):
        continue_fixed_points(lambda s, p: s + 1.0 + s * s, np.array([0.3]), -0.5, 0.5)
    with pytest.raises(ConfigError, match=r"start_state holds 1 non-finite value\(s\) \(the first, nan"):
        continue_fixed_points(logistic, np.array([np.nan]), 2.5, 3.5)


def test_continuation_corrects_a_start_near_a_fixed_point_first():
    branch = continue_fixed_points(logistic, np.array([0.6 + 1e-3]), 2.5, 2.6)
    assert branch.status == "completed"
    # corrected onto x* = 1 − 1/r, to the corrector's tolerance ‖F(s) − s‖ < 1e-11·(1 + ‖(s, r)‖)
    assert branch.states[0, 0] == pytest.approx(0.6, abs=1e-10)


def test_continuation_along_inputs_names_the_arguments_of_a_model():
    model = models.get("vanilla", n_inputs=2, n_hidden=3, n_outputs=1)
    params = model.init(jax.random.key(0))
    with pytest.raises(ShapeError, match=r"inputs_path must have shape \[P, I\] with P ≥ 2 rows and I = 2"):
        continue_along_inputs(model, params, np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(ShapeError, match=r"'vanilla' model has state size 3, but .* state size 2; pass start_state"):
        continue_along_inputs(model, params, np.zeros((2, 2)), np.zeros(2))
