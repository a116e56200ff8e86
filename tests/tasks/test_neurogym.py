"""The NeuroGym adapter: a tiny fake TrialEnv (always), and real NeuroGym environments when installed."""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import tasks
from dynascope.errors import ConfigError, UnknownNameError
from dynascope.tasks.neurogym import NeuroGymTask


class _Discrete:
    def __init__(self, n: int, name: dict) -> None:
        self.n, self.name = n, name


class FakeEnv:
    """A NeuroGym-style 2AFC env: fixation (2 steps), stimulus (3 or 4 steps), decision (2 steps).

    ob: [fixation, evidence]; gt: 0 (fixate) then 1 + (evidence > 0) in the decision period.
    """

    dt = 100
    observation_space = type("Box", (), {"name": {"fixation": 0, "stimulus": [1]}})()
    action_space = _Discrete(3, {"fixation": 0, "choice": [1, 2]})

    def seed(self, seed: int) -> None:
        self.rng = np.random.RandomState(seed)

    def new_trial(self) -> dict:
        n_stim = int(self.rng.choice([3, 4]))
        side = int(self.rng.choice([0, 1]))
        lengths = {"fixation": 2, "stimulus": n_stim, "decision": 2}
        self.start_ind, self.end_ind, t = {}, {}, 0
        for k, n in lengths.items():
            self.start_ind[k], self.end_ind[k], t = t, t + n, t + n
        self.ob = np.zeros((t, 2), np.float32)
        self.ob[: self.end_ind["stimulus"], 0] = 1.0
        self.ob[self.start_ind["stimulus"] : self.end_ind["stimulus"], 1] = 1.0 if side else -1.0
        self.gt = np.zeros(t, np.int64)
        self.gt[self.start_ind["decision"] :] = 1 + side
        return {"ground_truth": side}


def test_fake_env_conversion_against_a_hand_built_pool(key):
    task = NeuroGymTask.from_env(FakeEnv(), env_name="Fake-v0", pool_size=16, seed=3)
    assert (task.n_time, task.n_inputs, task.n_outputs, task.dt) == (8, 2, 3, 100.0)
    assert task.input_names == ("fixation", "stimulus") and task.output_names == ("fixation", "choice 1", "choice 2")
    env = FakeEnv()
    env.seed(3)
    want_x, want_y, want_m = [], [], []
    for _ in range(16):
        env.new_trial()
        n = len(env.ob)
        x = np.zeros((8, 2), np.float32)
        x[:n] = env.ob
        y = np.zeros((8, 3), np.float32)
        m = np.zeros((8, 3), np.float32)
        for t in range(n):
            y[t, env.gt[t]] = 1.0
            m[t] = 1.0 if env.start_ind["decision"] <= t < env.end_ind["decision"] else 0.0
        want_x.append(x), want_y.append(y), want_m.append(m)
    np.testing.assert_array_equal(task.pool.inputs, np.stack(want_x))
    np.testing.assert_array_equal(task.pool.targets, np.stack(want_y))
    np.testing.assert_array_equal(task.pool.mask, np.stack(want_m))
    # Fixation-period input averaged over the pool: fixation on, evidence off.
    np.testing.assert_array_equal(np.asarray(task.analysis_inputs()), [[0.0, 0.0], [1.0, 0.0]])

    sample = jax.jit(task.sample, static_argnums=1)
    a, b, c = sample(key, 32), sample(key, 32), sample(jax.random.key(9), 32)
    np.testing.assert_array_equal(np.asarray(a.inputs), np.asarray(b.inputs))
    assert not np.array_equal(np.asarray(a.inputs), np.asarray(c.inputs))
    assert a.inputs.dtype == a.targets.dtype == a.mask.dtype == jnp.float32
    # Every sampled trial is one of the pooled trials.
    pooled = {t.tobytes() for t in task.pool.inputs}
    assert all(np.asarray(t).tobytes() in pooled for t in a.inputs)
    np.testing.assert_allclose(np.asarray(task.metric(a.targets, a)), 1.0)
    # Always answering "fixate" is wrong in every scored (decision) step.
    fixate = jnp.zeros_like(a.targets).at[..., 0].set(1.0)
    np.testing.assert_allclose(np.asarray(task.metric(fixate, a)), 0.0)


def test_fake_env_score_period_and_n_time_options():
    every = NeuroGymTask.from_env(FakeEnv(), pool_size=8, score_period="all", n_time=10)
    lengths = (np.abs(every.pool.inputs).sum(axis=2) > 0).sum(axis=1)  # fixation is on through the stimulus
    np.testing.assert_array_equal(every.pool.mask[..., 0].sum(axis=1), lengths + 2)
    assert every.n_time == 10
    stim = NeuroGymTask.from_env(FakeEnv(), pool_size=8, score_period="stimulus")
    np.testing.assert_array_equal(stim.pool.mask[:, :2], 0.0)
    with pytest.raises(ConfigError, match=r"score_period='delay'.*has no period 'delay'; its periods are fixation, stimulus, decision"):
        NeuroGymTask.from_env(FakeEnv(), pool_size=8, score_period="delay")
    with pytest.raises(ConfigError, match=r"n_time=5 steps is shorter than the longest of the 8 pooled trials .* pass n_time >= 8"):
        NeuroGymTask.from_env(FakeEnv(), pool_size=8, n_time=5)
    with pytest.raises(ConfigError, match=r"option pool_size must be an integer > 0, got 0"):
        NeuroGymTask.from_env(FakeEnv(), pool_size=0)
    with pytest.raises(ConfigError, match=r"option seed .*must be an integer in \[0, 4294967296\), got -1"):
        NeuroGymTask.from_env(FakeEnv(), seed=-1)


def test_missing_neurogym_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "neurogym", None)  # makes `import neurogym` raise ImportError
    # The extra holds NeuroGym's dependencies; NeuroGym itself goes in without its exact numpy/matplotlib pins.
    with pytest.raises(ConfigError, match=r"pip install 'dynascope\[neurogym\]' && pip install --no-deps 'neurogym==2\.3\.1'"):
        tasks.get("neurogym:PerceptualDecisionMaking-v0")


# -- real NeuroGym -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdm():
    pytest.importorskip("neurogym")
    return tasks.get("neurogym:PerceptualDecisionMaking-v0", dt=20, pool_size=64, seed=1)


def test_real_perceptual_decision_making(pdm, key):
    import neurogym  # noqa: F401
    from neurogym.envs.native.perceptualdecisionmaking import PerceptualDecisionMaking

    assert pdm.name == "neurogym:PerceptualDecisionMaking-v0"
    assert (pdm.n_inputs, pdm.n_outputs, pdm.dt) == (3, 3, 20.0)
    # Timing 100 + 2000 + 0 + 100 ms at 20 ms per step.
    assert pdm.n_time == 110
    # Rebuild the first pooled trials from the environment directly.
    env = PerceptualDecisionMaking(dt=20)
    env.seed(1)
    for i in range(4):
        env.new_trial()
        np.testing.assert_array_equal(pdm.pool.inputs[i], env.ob)
        np.testing.assert_array_equal(pdm.pool.targets[i].argmax(axis=1), env.gt)
        dec = np.zeros(len(env.gt), bool)
        dec[env.start_ind["decision"] : env.end_ind["decision"]] = True
        np.testing.assert_array_equal(pdm.pool.mask[i, :, 0] > 0, dec)
        assert set(env.gt[dec]) <= {1, 2} and (env.gt[~dec] == 0).all()
    trials = jax.jit(pdm.sample, static_argnums=1)(key, 8)
    assert trials.inputs.shape == (8, 110, 3) and trials.targets.shape == trials.mask.shape == (8, 110, 3)
    np.testing.assert_allclose(np.asarray(pdm.metric(trials.targets, trials)), 1.0)
    assert pdm.input_names == ("fixation", "stimulus 1", "stimulus 2")
    from dynascope.report import plot_trial  # plotting lives in the report layer

    assert isinstance(plot_trial(pdm, trials), __import__("matplotlib.figure").figure.Figure)


def test_real_options_roundtrip_and_env_options(pdm):
    again = tasks.get(pdm.name, **pdm.options())
    assert again == pdm
    np.testing.assert_array_equal(again.pool.inputs, pdm.pool.inputs)
    short = tasks.get("neurogym:PerceptualDecisionMaking-v0", dt=20, pool_size=4, timing={"stimulus": 200})
    assert short.n_time == 20  # 100 + 200 + 0 + 100 ms
    assert short.options()["timing"] == {"stimulus": 200}
    assert tasks.get(short.name, **short.options()).n_time == 20


def test_real_errors(pdm):
    with pytest.raises(UnknownNameError, match=r"unknown NeuroGym environment 'PerceptualDecisionMaking-v1'\. Did you mean 'PerceptualDecisionMaking-v0'\?"):
        tasks.get("neurogym:PerceptualDecisionMaking-v1")
    with pytest.raises(ConfigError, match=r"has no option 'cohz'; adapter options: .*environment options: .*cohs"):
        tasks.get("neurogym:PerceptualDecisionMaking-v0", cohz=[1.0])
    with pytest.raises(ConfigError, match=r"task 'neurogym:PerceptualDecisionMaking-v0': option dt .*> 0, got 0"):
        tasks.get("neurogym:PerceptualDecisionMaking-v0", dt=0)
