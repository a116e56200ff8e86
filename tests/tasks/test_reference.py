"""Targets recomputed by independent NumPy loops from each trial's generative description.

Each test reads what the sampler drew off the inputs (pulses, levels, cues), rebuilds the targets and
mask step by step as the task's docstring describes them, and compares.
"""

from __future__ import annotations

import jax
import numpy as np
from scipy.stats import norm

from dynascope import tasks


def _sample(task, key, batch_size):
    """NumPy copies of `task.sample(key, batch_size)`, compiled (one compile beats eager op-by-op dispatch)."""
    return tuple(np.asarray(a) for a in jax.jit(task.sample, static_argnums=1)(key, batch_size))


def test_flipflop_targets_follow_the_last_pulse(key):
    task = tasks.get("flipflop", n_bits=3, n_time=64, pulse_prob=0.05)
    x, y, m = _sample(task, key, 64)
    want_y, want_m = np.zeros_like(y), np.zeros_like(m)
    for b in range(x.shape[0]):
        for i in range(x.shape[2]):
            state = 0.0
            for t in range(x.shape[1]):
                if x[b, t, i] != 0:
                    state = x[b, t, i]
                want_y[b, t, i] = state
                want_m[b, t, i] = float(state != 0)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(m, want_m)
    assert set(np.unique(x)) == {-1.0, 0.0, 1.0}
    assert (x[:, 0] != 0).all(), "set_at_start pulses every bit at t = 0"
    # Pulse rate after t = 0: 64·63·3 Bernoulli(0.05) draws, standard error ~0.002.
    assert abs((x[:, 1:] != 0).mean() - 0.05) < 0.01


def test_flipflop_without_set_at_start_leaves_unset_bits_unscored(key):
    task = tasks.get("flipflop", n_bits=2, n_time=40, pulse_prob=0.02, set_at_start=False)
    x, y, m = _sample(task, key, 32)
    first = np.array([[np.flatnonzero(x[b, :, i])[:1].tolist() or [40] for i in range(2)] for b in range(32)])[..., 0]
    t = np.arange(40)[None, :, None]
    np.testing.assert_array_equal(m, (t >= first[:, None, :]).astype(np.float32))
    assert (m == 0).any()


def test_sinewave_matches_the_closed_form(key):
    k, f_lo, f_hi, dt = 51, 1.0, 6.0, 10.0
    task = tasks.get("sinewave", n_frequencies=k, freq_min_hz=f_lo, freq_max_hz=f_hi, dt=dt, n_time=100)
    x, y, m = _sample(task, key, 32)
    assert (x == x[:, :1]).all(), "the frequency cue is static"
    j = np.rint((x[:, 0, 0] - 0.25) * k).astype(int)  # level j/K + 0.25, j = 1..K
    assert ((j >= 1) & (j <= k)).all()
    f = f_lo + (j - 1) * (f_hi - f_lo) / (k - 1)
    t_sec = np.arange(100) * dt / 1000.0
    np.testing.assert_allclose(y[..., 0], np.sin(2 * np.pi * f[:, None] * t_sec[None, :]), atol=2e-5)
    assert (m == 1).all()
    np.testing.assert_allclose(np.asarray(task.frequencies_hz()), np.linspace(f_lo, f_hi, k), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(task.analysis_inputs())[:, 0], np.arange(1, k + 1) / k + 0.25, rtol=1e-6)


def test_cdi_noise_free_targets(key):
    dt = 10.0
    task = tasks.get("cdi", coherences=(0.1, 0.3), noise_std=0.0, fixation_ms=100.0, stimulus_ms=600.0, n_time=90, dt=dt)
    x, y, m = _sample(task, key, 64)
    stim_on, resp_on = 10, 70  # 100 ms and 100 + 600 ms at 10 ms per step
    for b in range(x.shape[0]):
        ctx = x[b, :, 2:]
        assert (ctx == ctx[0]).all() and sorted(ctx[0]) == [0.0, 1.0]
        relevant = int(np.argmax(ctx[0]))
        for t in range(x.shape[1]):
            stim = x[b, t, :2]
            if stim_on <= t < resp_on:
                assert np.isclose(np.abs(stim)[:, None], [0.1, 0.3]).any(axis=1).all()
                np.testing.assert_array_equal(stim, x[b, stim_on, :2])
            else:
                assert (stim == 0).all()
            want = np.sign(x[b, stim_on, relevant]) if t >= resp_on else 0.0
            assert y[b, t, 0] == want
            assert m[b, t, 0] == float(t < stim_on or t >= resp_on)
    # Both contexts, and trials where the two streams disagree (the irrelevant one must be ignored).
    contexts = np.argmax(x[:, 0, 2:], axis=1)
    assert set(contexts) == {0, 1}
    assert (np.sign(x[:, stim_on, 0]) != np.sign(x[:, stim_on, 1])).any()


def test_cdi_noise_statistics_and_zero_coherence(key):
    task = tasks.get("cdi", coherences=(0.4,), noise_std=0.5, score_fixation=False)
    x, y, m = _sample(task, key, 256)
    stim = x[:, 10:70, :2]
    resid = stim - stim.mean(axis=1, keepdims=True)
    assert abs(resid.std() * np.sqrt(60 / 59) - 0.5) < 0.02
    relevant = np.argmax(x[:, 0, 2:], axis=1)
    mean_rel = stim.mean(axis=1)[np.arange(256), relevant]
    # 0.4·√60/0.5 ≈ 6.2 standard errors: the sample mean's sign is the answer on every trial.
    np.testing.assert_array_equal(np.sign(mean_rel), y[:, -1, 0])
    assert (m[:, :70] == 0).all() and (m[:, 70:] == 1).all()
    zero = tasks.get("cdi", coherences=(0.0,), noise_std=0.0)
    x0, y0, _ = _sample(zero, key, 64)
    assert (x0[..., :2] == 0).all()
    assert set(np.unique(y0[:, -1, 0])) == {-1.0, 1.0}


def test_rsg_ramp_is_rebuilt_from_the_pulses(key):
    dt, intervals, gains = 20.0, (480.0, 640.0, 800.0), (1.0, 1.5)
    task = tasks.get("rsg", intervals=intervals, gains=gains, ready_ms=(100.0, 300.0), pulse_ms=40.0, n_time=120, dt=dt)
    x, y, m = _sample(task, key, 64)
    seen = set()
    for b in range(x.shape[0]):
        ready = np.flatnonzero(x[b, :, 0])
        set_ = np.flatnonzero(x[b, :, 1])
        assert len(ready) == 2 and len(set_) == 2 and np.all(np.diff(ready) == 1) and np.all(np.diff(set_) == 1)
        r, s = ready[0], set_[0]
        assert 5 <= r <= 15
        t_s = (s - r) * dt
        gain = x[b, 0, 2]
        assert t_s in intervals and gain in gains and (x[b, :, 2] == gain).all()
        seen.add((t_s, float(gain)))
        n_p = round(gain * t_s / dt)
        for t in range(x.shape[1]):
            want = 0.0 if t <= s else min(1.0, (t - s) / n_p)
            assert abs(y[b, t, 0] - want) < 1e-6, (b, t)
    assert len(seen) >= 5
    assert (m == 1).all()
    np.testing.assert_array_equal(np.asarray(task.analysis_inputs()), [[0, 0, 1.0], [0, 0, 1.5]])


def test_rsg_metric_hand_worked(key):
    task = tasks.get("rsg")
    trials = jax.jit(task.sample, static_argnums=1)(key, 16)
    x, y, _ = (np.asarray(a) for a in trials)
    shift = 4
    late = np.concatenate([np.zeros_like(y[:, :shift]), y[:, :-shift]], axis=1)
    s = np.argmax(x[:, :, 1] > 0, axis=1)
    t_target = np.array([np.flatnonzero((y[b, :, 0] >= 0.9) & (np.arange(y.shape[1]) > s[b]))[0] for b in range(16)])
    want = 1.0 - shift / (t_target - s)
    np.testing.assert_allclose(np.asarray(jax.jit(task.metric)(jax.numpy.asarray(late), trials)), want, rtol=1e-6)
    never = np.full_like(y, 0.5)
    np.testing.assert_array_equal(np.asarray(jax.jit(task.metric)(jax.numpy.asarray(never), trials)), 0.0)


def test_delayed_match_answer_is_sample_equals_test(key):
    task = tasks.get("delayed_match", n_stimuli=3, dt=20.0, n_time=65)
    x, y, m = _sample(task, key, 256)
    fix, sample_on, delay_on, test_on, resp_on = 0, 5, 15, 45, 55  # 100, 200, 600, 200 ms at 20 ms/step
    pairs = set()
    for b in range(x.shape[0]):
        np.testing.assert_array_equal(x[b, :, 0], (np.arange(65) < resp_on).astype(np.float32))
        stim = x[b, :, 1:]
        shown = np.flatnonzero(stim.any(axis=1))
        np.testing.assert_array_equal(shown, np.r_[sample_on:delay_on, test_on:resp_on])
        sample, test = np.argmax(stim[sample_on]), np.argmax(stim[test_on])
        pairs.add((int(sample), int(test)))
        want = np.where(np.arange(65) >= resp_on, 1.0 if sample == test else -1.0, 0.0)
        np.testing.assert_array_equal(y[b, :, 0], want)
    assert (m == 1).all()
    assert pairs == {(i, j) for i in range(3) for j in range(3)}, "every sample/test pair occurs"
    assert abs((y[:, -1, 0] > 0).mean() - 0.5) < 0.1


def test_perceptual_dm_noise_free_and_ideal_observer(key):
    task = tasks.get("perceptual_dm", noise_std=0.0)
    x, y, _ = _sample(task, key, 128)
    stim_on, resp_on = 5, 45  # 100 ms, then 800 ms, at 20 ms per step
    diff = x[:, stim_on, 2] - x[:, stim_on, 1]
    coh = np.abs(diff) * 100
    assert np.isclose(coh[:, None], [0.0, 3.2, 6.4, 12.8, 25.6, 51.2], atol=1e-4).any(axis=1).all()
    np.testing.assert_allclose(x[:, stim_on, 1] + x[:, stim_on, 2], 1.0, atol=1e-6)
    nonzero = coh > 1e-4
    np.testing.assert_array_equal(np.sign(diff[nonzero]), y[nonzero, -1, 0])
    assert set(y[~nonzero, -1, 0]) == {-1.0, 1.0}, "0 % coherence gets a random correct answer"
    assert (x[:, :stim_on, 1:] == 0).all() and (x[:, resp_on:] == 0).all()

    # Ideal observer (sign of the summed right − left evidence) against its closed form.
    noisy = tasks.get("perceptual_dm")
    xn, yn, _ = _sample(noisy, jax.random.key(3), 4000)
    choice = np.sign((xn[:, stim_on:resp_on, 2] - xn[:, stim_on:resp_on, 1]).sum(axis=1))
    accuracy = (choice == yn[:, -1, 0]).mean()
    cohs = np.array(noisy.coherences)
    expected = norm.cdf(cohs / 100 * np.sqrt(40 / 2) / noisy.noise_std).mean()
    assert abs(accuracy - expected) < 0.025
    assert expected > noisy.criterion


# Noise-free settings, and few enough conditions for 128 trials to show every one.
ANALYSIS_CASES = {
    "flipflop": {},
    "sinewave": {"n_frequencies": 3},
    "cdi": {"noise_std": 0.0},
    "rsg": {"gains": (1.0, 1.5), "n_time": 116},
    "delayed_match": {},
    "perceptual_dm": {"noise_std": 0.0},
    "sign_match": {"noise_std": 0.0},
    "spike_pattern": {"noise_hz": 0.0},
    "recording": {},  # zero input between the shipped flip-flop's pulses
}


def test_analysis_inputs_are_constant_inputs_the_trials_present(key):
    """Each row of `analysis_inputs()` is an input the trials hold for at least 3 consecutive steps (the
    inter-pulse silence, a cue, a context, a delay, a zero-coherence stimulus): the condition under which
    the network's fixed points mean something."""
    assert set(ANALYSIS_CASES) == set(tasks.names())  # a new task: add its case here
    for name, options in ANALYSIS_CASES.items():
        task = tasks.get(name, **options)
        x, _, _ = _sample(task, key, 128)
        for row in np.asarray(task.analysis_inputs()):
            here = np.all(np.isclose(x, row, atol=1e-6), axis=2)  # [B, T]
            held = here[:, :-2] & here[:, 1:-1] & here[:, 2:]
            assert held.any(), (name, row)
