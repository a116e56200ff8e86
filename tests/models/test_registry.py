"""models.get: registered names, close-match hints, and hyperparameter errors that say how to fix them."""

from __future__ import annotations

import pytest

from dynascope import models
from dynascope.errors import ConfigError, DynascopeError, UnknownNameError

SIZES = {"n_inputs": 2, "n_hidden": 10, "n_outputs": 1}


def test_the_zoo_is_registered() -> None:
    assert {"vanilla", "ctrnn", "gru", "lstm", "ugrnn", "lowrank", "dale"} <= set(models.names())
    assert models.names() == sorted(models.names())
    assert isinstance(models.get("gru", **SIZES), models.GRU)


def test_unknown_model_suggests_a_close_match() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown model 'gruu'\. Did you mean 'gru'\?.*lstm"):
        models.get("gruu", **SIZES)


def test_unknown_option_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"model 'gru' has no option 'gain'; its options are: \(none\)"):
        models.get("gru", **SIZES, gain=1.0)
    with pytest.raises(ConfigError, match=r"has no option 'init'.*weight_init"):
        models.get("ctrnn", **SIZES, init="normal")


@pytest.mark.parametrize(
    "name,options,message",
    [
        (
            "ctrnn",
            {"alpha": 0},
            r"option alpha \(the Euler step dt/τ.*\) must be a number in \(0, 1\], got 0 .*e\.g\. alpha=0\.1",
        ),
        ("ctrnn", {"alpha": 1.5}, r"option alpha .* got 1\.5"),
        ("lowrank", {"alpha": -0.1}, r"option alpha .* got -0\.1"),
        ("dale", {"alpha": 0.0}, r"option alpha .* got 0\.0"),
        ("ctrnn", {"activation": "sigmoid"}, r"option activation must be one of 'tanh', 'relu', 'softplus', got 'sigmoid'"),
        ("dale", {"activation": "tanh"}, r"option activation must be one of 'relu', 'softplus', got 'tanh'"),
        ("lowrank", {"activation": "elu"}, r"option activation must be one of .*got 'elu'"),
        ("ctrnn", {"gain": 0}, r"option gain must be a number > 0, got 0"),
        ("ugrnn", {"weight_init": "identity"}, r"option weight_init must be one of 'normal', 'orthogonal', got 'identity'"),
        ("dale", {"e_fraction": 1.5}, r"option e_fraction .*must be a number in \(0, 1\), got 1\.5 .*e_fraction=0\.8"),
        ("dale", {"e_fraction": 0.99}, r"e_fraction=0\.99 .*gives 10 excitatory and 0 inhibitory units; both must be at least 1"),
        ("lowrank", {"rank": 0}, r"option rank must be an integer >= 1, got 0"),
        ("lowrank", {"rank": 11}, r"rank must be an integer in \[1, n_hidden=10\], got 11"),
        ("lowrank", {"rank": 1.0}, r"model 'lowrank': option rank must be an integer >= 1, got 1\.0 \(float\); e\.g\. rank=1"),
        ("lowrank", {"bulk_gain": -1.0}, r"option bulk_gain .*must be a number >= 0, got -1\.0"),
        ("lowrank", {"train_bulk": True}, r"train_bulk=True needs a random bulk; set bulk_gain > 0"),
        ("lstm", {"forget_bias": "1"}, r"option forget_bias must be a number, got '1'"),
        ("ugrnn", {"gate_bias": None}, r"option gate_bias must be a number, got None"),
    ],
)
def test_bad_hyperparameters_raise_config_error(name: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        models.get(name, **SIZES, **options)
    assert isinstance(info.value, DynascopeError)


def test_bad_sizes_raise_config_error() -> None:
    with pytest.raises(ConfigError, match=r"model 'lstm': option n_hidden must be an integer > 0, got 0"):
        models.get("lstm", n_inputs=2, n_hidden=0, n_outputs=1)
    with pytest.raises(ConfigError, match=r"option n_inputs must be an integer > 0, got 2\.0 \(float\)"):
        models.get("lstm", n_inputs=2.0, n_hidden=4, n_outputs=1)


def _wrong_value(hint: object) -> object:
    """A value of the wrong type for a field annotated `hint` (a string for numbers, a number otherwise)."""
    return 3.5 if hint in (str, bool) else "abc"


@pytest.mark.parametrize("name", models.names())
def test_every_option_of_every_model_refuses_a_value_of_the_wrong_type(name: str) -> None:
    import dataclasses
    import typing

    cls = type(models.get(name, **SIZES))
    hints = typing.get_type_hints(cls)
    options = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in SIZES]
    for option in options:
        value = _wrong_value(hints[option])
        with pytest.raises(ConfigError, match=rf"model '{name}': option {option} .*must be .*, got {value!r}"):
            models.get(name, **SIZES, **{option: value})


def test_option_types_follow_the_annotations() -> None:
    with pytest.raises(ConfigError, match=r"option gain must be a number, got 'abc' \(str\); e\.g\. gain=1\.0 \(the default\)"):
        models.get("vanilla", **SIZES, gain="abc")
    with pytest.raises(ConfigError, match=r"option autapses must be true or false, got 1 \(int\)"):
        models.get("dale", **SIZES, autapses=1)
    with pytest.raises(ConfigError, match=r"option activation must be one of 'tanh', 'relu', 'softplus', got 2 \(int\)"):
        models.get("ctrnn", **SIZES, activation=2)
    assert isinstance(models.get("vanilla", **SIZES, gain=2).gain, float)  # an integer is a number, stored as a float
    import numpy as np

    assert models.get("lowrank", **SIZES, rank=np.int64(2)).rank == 2  # a NumPy integer is an integer
