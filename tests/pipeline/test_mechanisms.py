"""The mechanism registry: every mechanism's arms build, differ only where the mechanism says, share the
initial weights where their shapes allow, and a mechanism refuses an architecture it does not apply to."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from dynascope import models
from dynascope.errors import ConfigError, UnknownNameError
from dynascope.pipeline import AblationConfig, Arm, Mechanism, get_mechanism, mechanism_names, option, register_mechanism
from dynascope.pipeline.ablation import size_key


@pytest.mark.parametrize("name", mechanism_names())
def test_every_mechanism_gives_two_arms_that_build(name):
    mech = get_mechanism(name)
    arch = "lif" if mech.archs is None else mech.archs[0]
    # An option of the user's that the arms must carry through (the spiking models' readout filter).
    base = {"tau_out": 10.0} if any(o.name == "tau_out" for o in models.options(arch)) else {}
    with_, without = mech.arms(arch, base)
    for arm in (with_, without):
        models.get(arm.arch, n_inputs=2, n_hidden=8, n_outputs=1, **arm.options)
    assert (with_ == without) == (name == "none")


def test_each_mechanism_changes_only_what_it_names():
    base = {"tau_out": 10.0}
    assert get_mechanism("hetero_tau", spread=0.3).arms("lif", base) == (
        Arm("lif", {**base, "tau_spread": 0.3}), Arm("lif", {**base, "tau_spread": 0.0}))
    assert get_mechanism("learned_tau").arms("alif", base) == (
        Arm("alif", {**base, "learn_tau": True}), Arm("alif", {**base, "learn_tau": False}))
    assert get_mechanism("adaptation").arms("lif", base) == (
        Arm("alif", {**base, "adaptive_fraction": 0.5}), Arm("lif", base))
    assert get_mechanism("adaptation").arms("alif", base)[1] == Arm("alif", {**base, "adaptive_fraction": 0.0})
    assert get_mechanism("dale").arms("lif", base)[1] == Arm("lif", {**base, "dale": False})
    assert get_mechanism("inter_module", fraction=0.2).arms("modular_lif", base) == (
        Arm("modular_lif", {**base, "inter_fraction": 0.2}), Arm("modular_lif", {**base, "inter_fraction": 0.0}))
    assert get_mechanism("sparsity", connectivity=0.1).arms("lif", base) == (
        Arm("lif", {**base, "connectivity": 0.1}), Arm("lif", {**base, "connectivity": 1.0}))
    # sparse storage is for the sparse arm only: the dense arm has every connection (sparse would be refused)
    assert get_mechanism("sparsity", connectivity=0.1).arms("lif", {**base, "sparse": True}) == (
        Arm("lif", {**base, "sparse": True, "connectivity": 0.1}), Arm("lif", {**base, "connectivity": 1.0}))
    # spiking vs rate: a ctrnn of the same size whose Euler step is the membrane's dt / tau_mem
    assert get_mechanism("spiking").arms("lif", {"tau_mem": 40.0, "dt": 2.0})[1] == Arm("ctrnn", {"alpha": 0.05})


def test_a_mechanism_that_does_not_apply_is_refused_naming_it_and_the_architecture():
    with pytest.raises(ConfigError, match="mechanism 'hetero_tau' does not apply to architecture 'gru': it applies "
                                          "to lif, alif"):
        get_mechanism("hetero_tau").arms("gru")
    with pytest.raises(ConfigError, match="mechanism 'dale' does not apply to architecture 'ctrnn'"):
        AblationConfig(arch="ctrnn", mechanism="dale").validate()
    with pytest.raises(UnknownNameError, match="unknown mechanism 'hetro_tau'. Did you mean 'hetero_tau'?"):
        get_mechanism("hetro_tau")
    with pytest.raises(ConfigError, match="spread"):
        get_mechanism("hetero_tau", spread=-1.0)


def test_a_user_registers_a_mechanism_with_one_decorator():
    @register_mechanism("test_slow_membrane")
    @dataclasses.dataclass(frozen=True)
    class SlowMembrane(Mechanism):
        archs = ("lif",)
        tau: float = option(60.0, gt=0)

        def split(self, arch, options):
            return Arm(arch, {**options, "tau_mem": self.tau}), Arm(arch, dict(options))

    assert "test_slow_membrane" in mechanism_names()
    config = AblationConfig(arch="lif", mechanism="test_slow_membrane", mechanism_options={"tau": 80.0}, sizes=(4, 8),
                            n_networks=2, steps=1)
    config.validate()
    assert [g for g, *_ in config.groups()] == ["lif.test_slow_membrane-4", "lif.no_test_slow_membrane-4",
                                                "lif.test_slow_membrane-8", "lif.no_test_slow_membrane-8"]
    assert config.arms()["with"].options == {"tau_mem": 80.0}


@pytest.mark.parametrize(("arch", "mechanism"), [("alif", "adaptation"), ("lif", "learned_tau")])
def test_both_arms_of_a_size_start_from_the_same_weights_where_shapes_allow(arch, mechanism):
    config = AblationConfig(task="flipflop", arch=arch, mechanism=mechanism, sizes=(4, 8), n_networks=2, steps=1)
    task = config.build_task()
    keys = {}
    params = {}
    for group, side, arm, n in config.groups():
        keys[group] = size_key(config.seed, n)
        if n == 8:
            # network 1's init key as train_population derives it from the group's key and the seed
            init_key = jax.random.split(jax.random.fold_in(keys[group], 1))[0]
            params[side] = config.build_model(task, arm, n).init(init_key)
    assert jax.random.key_data(keys[config.group("with", 8)]).tolist() == \
        jax.random.key_data(keys[config.group("without", 8)]).tolist()
    shared = [k for k in params["with"] if k in params["without"] and params["with"][k].shape == params["without"][k].shape]
    assert {"W_in", "W_rec", "W_out", "b_out"} <= set(shared)
    for k in shared:
        if mechanism == "learned_tau":
            # τ = 20 ms reaches the learned arm through its bounded (sigmoid) parametrisation, the fixed arm as the
            # constant itself: compiled (as the trainer does), the weights scaled by τ agree to rounding only
            np.testing.assert_allclose(params["with"][k], params["without"][k], rtol=1e-5, atol=0, err_msg=k)
        else:
            np.testing.assert_array_equal(params["with"][k], params["without"][k], err_msg=k)


def test_sparse_storage_is_given_to_the_sparse_arm_only():
    """`--model-opt sparse=true` with `--mechanism sparsity`: lif refuses sparse storage at connectivity 1 on its
    own, but each arm builds (sparse arm stored sparse, dense arm dense); options no arm can take stay refused."""
    arms = AblationConfig(arch="lif", mechanism="sparsity", model_options={"sparse": True}, sizes=(4, 8)).arms()
    assert arms["with"] == Arm("lif", {"sparse": True, "connectivity": 0.2})
    assert arms["without"] == Arm("lif", {"connectivity": 1.0})
    with pytest.raises(ConfigError, match="connectivity=1 .the default."):
        AblationConfig(arch="lif", mechanism="dale", model_options={"sparse": True}, sizes=(4, 8)).arms()
