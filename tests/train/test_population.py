"""Population trainer: learning, early stop, divergence isolation, checkpoint/resume, errors."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import jax
import numpy as np
import pytest
from safetensors import SafetensorError

from dynascope import models, tasks
from dynascope.errors import ConfigError, RunFolderError
from dynascope.train import checkpoint, train_population
from dynascope.train.memory import estimate_training_memory

TASK = tasks.get("flipflop", n_bits=2, n_time=24)
FAST = dict(batch_size=16, learning_rate=1e-2, checkpoint_every=50)


def tiny(arch: str = "vanilla", hidden: int = 12):
    return models.get(arch, n_inputs=TASK.n_inputs, n_hidden=hidden, n_outputs=TASK.n_outputs)


#: XLA compilations in this process so far (a count the tests may assert on; never a timing).
COMPILES = [0]
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: COMPILES.__setitem__(0, COMPILES[0] + (event == "/jax/core/compile/backend_compile_duration")))


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


# The runs below take 50 or 100 steps, whole chunks of FAST's checkpoint_every=50: they share the one compiled
# 50-step program of each population size instead of also compiling a 10- or 20-step remainder (none of these
# checks depends on the step count; chunk boundaries are covered by the resume tests).
def test_same_key_same_population(key):
    a = train_population(TASK, tiny(), 2, 50, key, **FAST)
    b = train_population(TASK, tiny(), 2, 50, key, **FAST)
    assert leaves_equal(a.params, b.params)
    np.testing.assert_array_equal(a.loss_history, b.loss_history)


def test_a_network_depends_on_its_seed_not_on_its_neighbours(key):
    alone = train_population(TASK, tiny(), 1, 50, key, seeds=(7,), **FAST)
    crowd = train_population(TASK, tiny(), 3, 50, key, seeds=(2, 7, 9), **FAST)
    for k in alone.params:
        np.testing.assert_allclose(alone.params[k][0], crowd.params[k][1], rtol=1e-4, atol=1e-5)


def test_a_population_larger_than_the_memory_budget_is_trained_in_chunks(key, tmp_path):
    # A budget of two networks' estimated memory: three networks train as chunks [0, 2) and [2, 3), 50-step
    # programs of sizes 2 and 1 that the tests around compile anyway. Each network keeps its seed's keys and
    # its own learning rate, so it ends where it ends in the one program of all three.
    lrs = {**FAST, "learning_rate": (1e-2, 2e-2, 5e-3)}
    two = 2 * estimate_training_memory(tiny(), 1, batch_size=16, n_time=TASK.n_time, n_outputs=2, steps=50).total
    whole = train_population(TASK, tiny(), 3, 50, key, **lrs)
    seen = []

    def die(step, losses):
        seen.append((step, np.isfinite(losses).tolist()))
        raise Interrupt  # after the first chunk's last checkpoint

    with pytest.raises(Interrupt):
        train_population(TASK, tiny(), 3, 50, key, checkpoint_dir=tmp_path, progress=die, memory_budget=two, **lrs)
    # Progress: the population's share of steps, and the latest loss of every network (NaN before it starts).
    assert seen == [(25, [True, True, False])]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["networks-0-2"]
    seen.clear()
    chunked = train_population(TASK, tiny(), 3, 50, key, checkpoint_dir=tmp_path, memory_budget=two,
                               progress=lambda step, losses: seen.append(step), **lrs)
    assert seen == [50]  # the finished chunk was kept, not trained again; only the second one ran
    again = train_population(TASK, tiny(), 3, 50, key, memory_budget=f"{two}B", **lrs)
    assert leaves_equal(chunked.params, again.params)  # resumed = uninterrupted, bit for bit
    # Chunked = unchunked to float rounding (XLA may reduce a batch of 2 in another order than one of 3).
    for k in whole.params:
        np.testing.assert_allclose(chunked.params[k], whole.params[k], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(chunked.loss_history, whole.loss_history, rtol=1e-5)
    np.testing.assert_array_equal(chunked.seeds, whole.seeds)
    np.testing.assert_array_equal(chunked.learning_rates, whole.learning_rates)
    np.testing.assert_allclose(chunked.final_loss, whole.final_loss, rtol=1e-5)
    assert chunked.trained.tolist() == whole.trained.tolist() and len(chunked) == 3


def test_a_diverging_network_is_frozen_and_leaves_the_others_untouched(key):
    clean = train_population(TASK, tiny(), 3, 50, key, **{**FAST, "learning_rate": (1e-2, 1e-2, 1e-2)})
    # An infinite learning rate makes network 2's first update non-finite.
    broken = train_population(TASK, tiny(), 3, 50, key, **{**FAST, "learning_rate": (1e-2, 1e-2, float("inf"))})
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


def zero_output_loss(key, eval_batch: int = 256) -> float:
    """The masked MSE of outputs that are 0 everywhere, by NumPy, on the trainer's evaluation trials."""
    trials = TASK.sample(jax.random.fold_in(key, 2**31 - 1), eval_batch)
    t, m = np.asarray(trials.targets, np.float64), np.asarray(trials.mask, np.float64)
    return float((m * t**2).sum() / m.sum())


def divergence_rule(loss_history: np.ndarray, key, factor: float = 1e6) -> np.ndarray:
    """The documented rule recomputed with NumPy from the recorded losses: for each network, the first step
    whose loss is non-finite or above factor × max(zero-output loss, loss at step 0), or −1."""
    zero = zero_output_loss(key)
    first = []
    for row in loss_history.astype(np.float64):
        bad = ~np.isfinite(row) | (row > factor * max(zero, row[0]))
        first.append(int(np.argmax(bad)) if bad.any() else -1)
    return np.asarray(first)


def test_an_exploding_network_is_flagged_frozen_and_leaves_the_others_untouched(key):
    # The same population as the non-finite test above, with network 2 exploding to losses of ~1e9
    # instead (finite: before the rule, such networks were flagged healthy).
    clean = train_population(TASK, tiny(), 3, 50, key, **{**FAST, "learning_rate": (1e-2, 1e-2, 1e-2)})
    boom = train_population(TASK, tiny(), 3, 50, key, **{**FAST, "learning_rate": (1e-2, 1e-2, 1e4)})
    assert np.all(np.isfinite(boom.loss_history)) and boom.loss_history[2].max() > 1e8
    assert boom.diverged.tolist() == [False, False, True] and not boom.trained[2]
    for k in clean.params:
        np.testing.assert_array_equal(clean.params[k][:2], boom.params[k][:2])
    np.testing.assert_array_equal(clean.loss_history[:2], boom.loss_history[:2])
    np.testing.assert_array_equal(clean.final_loss[:2], boom.final_loss[:2])
    first = divergence_rule(boom.loss_history, key)
    assert first.tolist()[:2] == [-1, -1] and first[2] >= 1
    # Frozen from the step whose loss exploded: its params are those after `first` updates.
    short = train_population(TASK, tiny(), 3, int(first[2]), key,
                             **{**FAST, "learning_rate": (1e-2, 1e-2, 1e4), "checkpoint_every": int(first[2])})
    assert not short.diverged[2]
    for k in boom.params:
        np.testing.assert_allclose(boom.params[k][2], short.params[k][2], rtol=1e-6)


def test_the_divergence_flag_follows_the_documented_rule_and_survives_a_resume(key, tmp_path):
    # A network trained with a large learning rate whose loss rises past a chosen factor only after the
    # checkpoint at step 50: the resumed run must recover its reference loss from the stored history.
    # (lr 3.2: at the key of conftest, the second network's loss peaks after step 50 — 28.7 against an early
    # maximum of 19.5; the probe's assertion below says so if a change to the model's arithmetic moves it)
    sgd = {**FAST, "learning_rate": (1e-2, 3.2), "optimizer": "sgd"}
    probe = train_population(TASK, tiny(), 2, 100, key, **sgd)
    assert not probe.diverged.any()
    hist = probe.loss_history[1].astype(np.float64)
    scale = max(zero_output_loss(key), hist[0])
    factor = float(hist[:51].max() / scale) * 1.0001  # crossed by no loss up to step 50
    assert hist[51:].max() > factor * scale, "the probe's loss must rise past its early maximum later on"

    def die(step, losses):
        if step == 50:
            raise Interrupt

    opts = {**sgd, "divergence_factor": factor}
    with pytest.raises(Interrupt):
        train_population(TASK, tiny(), 2, 100, key, checkpoint_dir=tmp_path, progress=die, **opts)
    resumed = train_population(TASK, tiny(), 2, 100, key, checkpoint_dir=tmp_path, **opts)
    full = train_population(TASK, tiny(), 2, 100, key, **opts)
    first = divergence_rule(full.loss_history, key, factor=factor)
    assert first[0] == -1 and first[1] > 50
    assert full.diverged.tolist() == [False, True] == resumed.diverged.tolist()
    assert leaves_equal(full.params, resumed.params)
    np.testing.assert_array_equal(full.loss_history, resumed.loss_history)
    np.testing.assert_array_equal(full.loss_history[:, : first[1] + 1], probe.loss_history[:, : first[1] + 1])


def test_early_stop_freezes_a_network_once_it_reaches_the_loss(key):
    # Both networks reach the loss within ~10 steps: 100 steps leave plenty of training after the stop.
    free = train_population(TASK, tiny(), 2, 100, key, **FAST)
    stop = train_population(TASK, tiny(), 2, 100, key, stop_loss=0.5, **FAST)
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
    weights = [np.asarray(plain.params[k], np.float64) for k in ("W_rec", "W_in", "W_out")]  # every matrix of 'vanilla'
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
        (dict(learning_rate=-1.0), r"--lr \(learning_rate\) must be positive"),
        (dict(optimizer="adagrad"), "optimizer must be one of adam, sgd, got 'adagrad'"),
        (dict(batch_size=0), r"--batch \(batch_size\) must be a positive integer"),
        (dict(seeds=(1, 1, 2)), "seeds must be distinct"),
        (dict(l2_weight=-0.1), r"--l2 \(l2_weight\) must be a finite number ≥ 0"),
        (dict(grad_clip=float("nan")), "grad_clip must be a finite number ≥ 0, got nan"),  # NaN < 0 is False
        (dict(momentum=0.9), "unknown training option"),
        (dict(divergence_factor=0.5), "divergence_factor must be a number > 1"),
        (dict(snapshot_every=-1), r"--snapshot-every \(snapshot_every\) must be an integer ≥ 0"),
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


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "
                         "\"No space left on device\" })  (os error 28)"),
         r"no space left on device \(ENOSPC\); free space on that disk, then call again with the same arguments"),
        (OSError(errno.EROFS, os.strerror(errno.EROFS)),
         r"read-only file system \(EROFS\); the disk is read-only: remount it read-write or give a checkpoint_dir"),
    ],
    ids=["disk-full", "read-only"],
)
def test_a_failed_checkpoint_write_is_one_line_keeps_the_last_checkpoint_and_resumes(failure, message, key, tmp_path,
                                                                                      monkeypatch):
    # The kernel's answers, injected (the tests run as root, which ignores permission bits): the second
    # checkpoint (step 100) cannot be written.
    real, saves = checkpoint.save_file, []

    def fail_on_the_second(tensors, where, *args, **kwargs):
        saves.append(where)
        if len(saves) == 2:
            Path(where).write_bytes(b"half a file")  # as a full disk leaves it
            raise failure
        return real(tensors, where, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "save_file", fail_on_the_second)
    with pytest.raises(RunFolderError, match=message) as err:
        train_population(TASK, tiny(), 2, 150, key, checkpoint_dir=tmp_path, **FAST)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith(f"cannot write checkpoint {tmp_path / checkpoint.STATE_FILE}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == [checkpoint.META_FILE, checkpoint.STATE_FILE]  # no temp file
    monkeypatch.setattr(checkpoint, "save_file", real)
    seen = []
    resumed = train_population(TASK, tiny(), 2, 150, key, checkpoint_dir=tmp_path,
                               progress=lambda step, losses: seen.append(step), **FAST)
    assert seen == [100, 150]  # from the intact checkpoint at step 50
    full = train_population(TASK, tiny(), 2, 150, key, **FAST)
    assert leaves_equal(full.params, resumed.params)


def test_snapshots_are_the_params_a_shorter_training_ends_with_and_survive_a_resume(key, tmp_path):
    # Snapshot steps (0, 20, 40, 45) fall between checkpoints (every 50 → 30 here): each snapshot must equal
    # the params of an independent training stopped at that step, and the last the final params.
    opts = {**FAST, "checkpoint_every": 30}
    pop = train_population(TASK, tiny(hidden=5), 2, 45, key, snapshot_every=20, **opts)
    assert pop.snapshot_steps.tolist() == [0, 20, 40, 45]
    # Taking snapshots must not perturb training: a 20-step run without them ends where the first snapshot
    # is, and compiles nothing new (where snapshots and checkpoints fall is not part of the chunk program).
    before = COMPILES[0]
    assert leaves_equal(pop.snapshot(1), train_population(TASK, tiny(hidden=5), 2, 20, key, **opts).params)
    assert COMPILES[0] == before
    # The 40-step run also snapshots every 20 so that its chunks (20, 10, 10) are the programs compiled above.
    assert leaves_equal(pop.snapshot(2), train_population(TASK, tiny(hidden=5), 2, 40, key, snapshot_every=20,
                                                          **opts).params)
    assert leaves_equal(pop.snapshot(-1), pop.params)
    init = jax.jit(jax.vmap(tiny(hidden=5).init))(jax.vmap(lambda s: jax.random.split(jax.random.fold_in(key, s))[0])(
        np.arange(2)))
    assert leaves_equal(pop.snapshot(0), init)
    assert train_population(TASK, tiny(hidden=5), 2, 5, key, **opts).snapshots is None  # off by default

    def die(step, losses):
        if step == 30:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_population(TASK, tiny(hidden=5), 2, 45, key, snapshot_every=20, checkpoint_dir=tmp_path, progress=die,
                         **opts)
    resumed = train_population(TASK, tiny(hidden=5), 2, 45, key, snapshot_every=20, checkpoint_dir=tmp_path, **opts)
    assert leaves_equal(resumed.snapshots, pop.snapshots)
