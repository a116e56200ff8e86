"""Declared option constraints, checked once at the registry boundary (`tasks.get`, `models.get`): every kind of
constraint accepts the values it allows and refuses the others with a message naming the option and the value."""

from __future__ import annotations

import math

import pytest

from dynascope import models, tasks
from dynascope.errors import ConfigError, UnknownNameError

SIZES = {"n_inputs": 2, "n_hidden": 10, "n_outputs": 1}

# (constraint, build(value), good values, bad values, the option's name, what the message says is expected)
CASES = [
    ("gt", lambda v: tasks.get("flipflop", n_bits=v), [1, 7], [0, -3], "n_bits", "an integer > 0"),
    ("ge", lambda v: tasks.get("cdi", noise_std=v), [0.0, 2.5], [-0.01, -1.0], "noise_std", "a number >= 0"),
    ("gt and le", lambda v: tasks.get("flipflop", pulse_prob=v), [1e-6, 1.0], [0.0, 1.0001], "pulse_prob",
     r"a number in \(0, 1\]"),
    ("gt and lt", lambda v: models.get("dale", **SIZES, e_fraction=v), [0.5, 0.8], [0.0, 1.0], "e_fraction",
     r"a number in \(0, 1\)"),
    ("ge and le", lambda v: tasks.get("delayed_match", match_prob=v), [0.0, 1.0], [-0.5, 1.5], "match_prob",
     r"a number in \[0, 1\]"),
    ("choices", lambda v: models.get("ctrnn", **SIZES, activation=v), ["tanh", "softplus"], ["sigmoid", "TANH"],
     "activation", "one of 'tanh', 'relu', 'softplus'"),
    ("non-empty, bounds on every item", lambda v: tasks.get("perceptual_dm", coherences=v), [(0.0,), [5.0, 100.0]],
     [(), (10.0, 100.5), [-1.0]], "coherences", r"a non-empty list of numbers in \[0, 100\]"),
    ("fixed-length tuple", lambda v: tasks.get("rsg", ready_ms=v), [(0.0, 100.0), [50.0, 50.0]],
     [(100.0,), (1.0, 2.0, 3.0), (-5.0, 100.0)], "ready_ms", "a list of 2 numbers >= 0"),
]


@pytest.mark.parametrize(("kind", "build", "good", "bad", "name", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_constraint_kind_accepts_good_values_and_names_option_and_value_for_bad_ones(
    kind, build, good, bad, name, expected
):
    for value in good:
        got = getattr(build(value), name)
        assert got == (tuple(value) if isinstance(value, list) else value)
    for value in bad:
        with pytest.raises(ConfigError, match=rf"option {name} .*must be {expected}.*, got {_pattern(value)} "):
            build(value)


def _pattern(value: object) -> str:
    return "".join("\\" + c if c in "()[].+" else c for c in repr(value))


def test_a_tuple_item_out_of_bounds_is_named():
    with pytest.raises(ConfigError, match=r"got \(10\.0, 100\.5\) \(tuple; 100\.5 is not in \[0, 100\]\)"):
        tasks.get("perceptual_dm", coherences=(10.0, 100.5))


def test_types_come_before_constraints_and_are_strict():
    # bool is not an integer, a float is not an integer, NaN and inf are not numbers, a string is not one.
    for value in (True, 2.0, "3"):
        with pytest.raises(ConfigError, match=rf"option n_bits must be an integer > 0, got {_pattern(value)}"):
            tasks.get("flipflop", n_bits=value)
    for value in (math.nan, math.inf):
        with pytest.raises(ConfigError, match=r"option pulse_prob .*\(NaN and inf are not allowed\), got"):
            tasks.get("flipflop", pulse_prob=value)
    # An integer for a float option is the same value, stored as a float (one fingerprint for 1 and 1.0).
    assert isinstance(tasks.get("flipflop", pulse_prob=1).pulse_prob, float)


def test_a_subclass_that_changes_only_the_default_keeps_the_base_constraint():
    # `dt` is declared positive once, on Task; FlipFlop only changes its default.
    assert tasks.get("flipflop").dt == 10.0
    with pytest.raises(ConfigError, match=r"task 'flipflop': option dt \(milliseconds per step\) must be a number > 0, "
                                          r"got -1\.0 \(float\); e\.g\. dt=10\.0 \(the default\)"):
        tasks.get("flipflop", dt=-1.0)
    # The model sizes are declared on Model and checked for every model, though they are not options.
    with pytest.raises(ConfigError, match=r"model 'gru': option n_outputs must be an integer > 0, got 0"):
        models.get("gru", n_inputs=1, n_hidden=4, n_outputs=0)


def test_cross_option_rules_still_run_after_the_declared_checks():
    with pytest.raises(ConfigError, match=r"rank must be an integer in \[1, n_hidden=10\], got 11"):
        models.get("lowrank", **SIZES, rank=11)
    with pytest.raises(ConfigError, match=r"freq_max_hz must be >= freq_min_hz=2\.0 Hz, got 1\.5"):
        tasks.get("sinewave", freq_min_hz=2.0, freq_max_hz=1.5)


def test_unknown_names_and_options():
    with pytest.raises(UnknownNameError, match=r"unknown model 'vanila'\. Did you mean 'vanilla'\?"):
        models.get("vanila", **SIZES)
    with pytest.raises(ConfigError, match=r"model name must be a string, got 3 \(int\)"):
        models.get(3, **SIZES)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"model 'vanilla' has no option 'gian'; its options are: activation, gain, "
                                          r"weight_init\. Did you mean 'gain'\?"):
        models.get("vanilla", **SIZES, gian=1.0)
