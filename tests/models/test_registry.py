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
            r"alpha \(the Euler step dt/τ\) must be a number in \(0, 1\], got 0; use e\.g\. alpha=0\.1",
        ),
        ("ctrnn", {"alpha": 1.5}, r"alpha .* got 1\.5"),
        ("lowrank", {"alpha": -0.1}, r"alpha .* got -0\.1"),
        ("dale", {"alpha": 0.0}, r"alpha .* got 0\.0"),
        ("ctrnn", {"activation": "sigmoid"}, r"activation must be one of 'tanh', 'relu', 'softplus', got 'sigmoid'"),
        ("dale", {"activation": "tanh"}, r"activation must be one of 'relu', 'softplus', got 'tanh'"),
        ("lowrank", {"activation": "elu"}, r"activation must be one of .*got 'elu'"),
        ("ctrnn", {"gain": 0}, r"gain must be a positive number .*got 0"),
        ("ugrnn", {"weight_init": "identity"}, r"weight_init must be one of 'normal', 'orthogonal', got 'identity'"),
        (
            "dale",
            {"e_fraction": 1.5},
            r"e_fraction \(the fraction of excitatory units\) must be a number in \(0, 1\), got 1\.5; "
            r"Song et al\. 2016 use 0\.8",
        ),
        ("dale", {"e_fraction": 0.99}, r"gives 10 excitatory and 0 inhibitory units; both must be at least 1"),
        ("lowrank", {"rank": 0}, r"rank must be an integer in \[1, n_hidden=10\], got 0"),
        ("lowrank", {"rank": 11}, r"rank must be an integer in \[1, n_hidden=10\], got 11"),
        ("lowrank", {"rank": 1.0}, r"rank must be an integer .*got 1\.0"),
        ("lowrank", {"bulk_gain": -1.0}, r"bulk_gain must be a number ≥ 0"),
        ("lowrank", {"train_bulk": True}, r"train_bulk=True needs a random bulk; set bulk_gain > 0"),
        ("lstm", {"forget_bias": "1"}, r"forget_bias must be a number"),
        ("ugrnn", {"gate_bias": None}, r"gate_bias must be a number"),
    ],
)
def test_bad_hyperparameters_raise_config_error(name: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        models.get(name, **SIZES, **options)
    assert isinstance(info.value, DynascopeError)


def test_bad_sizes_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="n_hidden must be a positive integer, got 0"):
        models.get("lstm", n_inputs=2, n_hidden=0, n_outputs=1)
