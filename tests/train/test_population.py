"""Population trainer: learning, early stop, divergence isolation, checkpoint/resume, errors."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from dynascope import models, tasks
from dynascope.errors import ConfigError, RunFolderError
from dynascope.train import train_population

TASK = tasks.get("flipflop", n_bits=2, n_time=24)
FAST = dict(batch_size=16, learning_rate=1e-2, checkpoint_every=50)


def tiny(arch: str = "vanilla", hidden: int = 12):
    return models.get(arch, n_inputs=TASK.n_inputs, n_hidden=hidden, n_outputs=TASK.n_outputs)


def leaves_equal(a, b) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("arch", models.names())
def test_training_lowers_the_loss_for_every_architecture(arch, key):
    pop = train_population(TASK, tiny(arch, 16), 2, 300, key, **FAST)
    first = pop.loss_history[:, :20].mean(axis=1)
    last = pop.loss_history[:, -20:].mean(axis=1)
    assert np.all(last < 0.6 * first), (arch, first, last)
    assert not pop.diverged.any()
    assert pop.loss_history.shape == (2, 300)


def test_same_key_same_population(key):
    a = train_population(TASK, tiny(), 2, 60, key, **FAST)
    b = train_population(TASK, tiny(), 2, 60, key, **FAST)
    assert leaves_equal(a.params, b.params)
    np.testing.assert_array_equal(a.loss_history, b.loss_history)


def test_a_network_depends_on_its_seed_not_on_its_neighbours(key):
    alone = train_population(TASK, tiny(), 1, 60, key, seeds=(7,), **FAST)
    crowd = train_population(TASK, tiny(), 3, 60, key, seeds=(2, 7, 9), **FAST)
    for k in alone.params:
        np.testing.assert_allclose(alone.params[k][0], crowd.params[k][1], rtol=1e-4, atol=1e-5)


def test_a_diverging_network_is_frozen_and_leaves_the_others_untouched(key):
    clean = train_population(TASK, tiny(), 3, 60, key, **{**FAST, "learning_rate": (1e-2, 1e-2, 1e-2)})
    # An infinite learning rate makes network 2's first update non-finite.
    broken = train_population(TASK, tiny(), 3, 60, key, **{**FAST, "learning_rate": (1e-2, 1e-2, float("inf"))})
    assert broken.diverged.tolist() == [False, False, True]
    assert not broken.trained[2]
    for k in clean.params:
        np.testing.assert_array_equal(clean.params[k][:2], broken.params[k][:2])
    np.testing.assert_array_equal(clean.loss_history[:2], broken.loss_history[:2])
    np.testing.assert_array_equal(clean.final_loss[:2], broken.final_loss[:2])
    np.testing.assert_array_equal(clean.metric[:2], broken.metric[:2])
    initial = jax.vmap(tiny().init)(
        jax.vmap(jax.random.split, out_axes=1)(jax.numpy.stack([jax.random.fold_in(key, s) for s in range(3)]))[0]
    )
    for k in clean.params:
        np.testing.assert_allclose(broken.params[k][2], initial[k][2], rtol=1e-6, atol=1e-7)  # its initial params
        assert np.all(np.isfinite(broken.params[k]))


def test_early_stop_freezes_a_network_once_it_reaches_the_loss(key):
    free = train_population(TASK, tiny(), 2, 120, key, **FAST)
    stop = train_population(TASK, tiny(), 2, 120, key, stop_loss=0.5, **FAST)
    assert np.all(stop.stopped_at >= 0)
    s = int(stop.stopped_at[0])
    assert stop.loss_history[0, s] < 0.5 and np.all(stop.loss_history[0, :s] >= 0.5)
    assert not leaves_equal(free.params, stop.params)


def test_l2_weight_adds_the_mean_squared_weights_to_the_loss(key):
    # A vanishing SGD step leaves the initial weights in place, so the first loss of each run is taken
    # on the same weights and the same trials: the two differ by exactly the penalty, computed here.
    still = dict(batch_size=16, optimizer="sgd", grad_clip=0.0, learning_rate=1e-30, checkpoint_every=2)
    plain = train_population(TASK, tiny(), 2, 2, key, **still)
    l2 = train_population(TASK, tiny(), 2, 2, key, l2_weight=0.5, **still)
    assert leaves_equal(plain.params, l2.params)
    weights = [np.asarray(plain.params[k], np.float64) for k in ("W", "U", "W_out")]  # every matrix of 'vanilla'
    penalty = 0.5 * sum((w**2).mean(axis=(1, 2)) for w in weights)
    np.testing.assert_allclose(l2.loss_history[:, 0] - plain.loss_history[:, 0], penalty, rtol=1e-5)


def test_activity_penalty_lowers_activity_and_state_noise_is_seeded(key):
    quiet = train_population(TASK, tiny(), 2, 100, key, l2_activity=1.0, **FAST)
    free = train_population(TASK, tiny(), 2, 100, key, **FAST)
    trials = TASK.sample(jax.random.key(1), 32)

    def mean_square_activity(pop):
        states, _ = jax.vmap(pop.model.run, in_axes=(0, None))(pop.params, trials.inputs)
        return np.mean(np.asarray(states) ** 2, axis=(1, 2, 3))

    assert np.all(mean_square_activity(quiet) < 0.7 * mean_square_activity(free))
    # 50 steps: one chunk of the length the other FAST runs compile already.
    noisy = train_population(TASK, tiny(), 2, 50, key, state_noise=0.5, **FAST)
    again = train_population(TASK, tiny(), 2, 50, key, state_noise=0.5, **FAST)
    clean = train_population(TASK, tiny(), 2, 50, key, **FAST)
    np.testing.assert_array_equal(noisy.loss_history, again.loss_history)  # the noise comes from the key
    assert np.all(noisy.loss_history[:, 0] != clean.loss_history[:, 0])


class Interrupt(Exception):
    pass


KILLED_RUN = """
import os, signal, sys
import jax
jax.config.update("jax_numpy_dtype_promotion", "strict")
from dynascope import models, tasks
from dynascope.train import train_population

task = tasks.get("flipflop", n_bits=2, n_time=24)
model = models.get("vanilla", n_inputs=2, n_hidden=12, n_outputs=2)

def die_at_100(step, losses):
    if step == 100:  # after the checkpoint at step 100: SIGKILL, no cleanup, no exception handlers
        os.kill(os.getpid(), signal.SIGKILL)

train_population(task, model, 2, 150, jax.random.key(0), batch_size=16, learning_rate=1e-2,
                 checkpoint_every=50, checkpoint_dir=sys.argv[1], progress=die_at_100)
"""


def test_kill_and_resume_gives_identical_parameters(key, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, str(tmp_path)], env=env, capture_output=True,
                            text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    seen = []
    resumed = train_population(TASK, tiny(), 2, 150, key, checkpoint_dir=tmp_path,
                               progress=lambda step, losses: seen.append(step), **FAST)
    assert seen == [150]  # it went on from the checkpoint at step 100, not from scratch
    full = train_population(TASK, tiny(), 2, 150, key, **FAST)
    assert leaves_equal(full.params, resumed.params)
    np.testing.assert_array_equal(full.loss_history, resumed.loss_history)


def test_resume_with_a_different_config_is_refused(key, tmp_path):
    def die(step, losses):
        raise Interrupt

    with pytest.raises(Interrupt):
        train_population(TASK, tiny(), 2, 100, key, checkpoint_dir=tmp_path, progress=die, **FAST)
    with pytest.raises(RunFolderError, match="different configuration"):
        train_population(TASK, tiny(), 2, 100, key, checkpoint_dir=tmp_path, **{**FAST, "learning_rate": 3e-2})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(n_networks=0), "n_networks must be a positive integer, got 0"),
        (dict(steps=-3), "steps must be a positive integer, got -3"),
        (dict(learning_rate=(1e-3, 1e-3)), "learning_rate has 2 values but there are 3 networks"),
        (dict(learning_rate=-1.0), "learning_rate must be positive"),
        (dict(optimizer="adagrad"), "optimizer must be one of adam, sgd, got 'adagrad'"),
        (dict(batch_size=0), "batch_size must be a positive integer"),
        (dict(seeds=(1, 1, 2)), "seeds must be distinct"),
        (dict(l2_weight=-0.1), "l2_weight must be a number ≥ 0"),
        (dict(momentum=0.9), "unknown training option"),
    ],
)
def test_bad_options_name_the_problem(kwargs, message, key):
    args = dict(n_networks=3, steps=10)
    args.update({k: kwargs.pop(k) for k in list(kwargs) if k in args})
    with pytest.raises(ConfigError, match=message):
        train_population(TASK, tiny(), args["n_networks"], args["steps"], key, **kwargs)


def test_model_task_size_mismatch_says_how_to_fix(key):
    wrong = models.get("vanilla", n_inputs=5, n_hidden=8, n_outputs=2)
    with pytest.raises(ConfigError, match=r"models.get\(\.\.\., n_inputs=2, n_outputs=2\)"):
        train_population(TASK, wrong, 2, 10, key)
