"""The Task contract, checked for every registered task (a new task file is tested without a new test)."""

from __future__ import annotations

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import tasks

BATCH = 8


@functools.cache
def _compiled(name: str):
    """(task, jitted sample with batch_size static, jitted metric), built once per task for the module."""
    task = tasks.get(name)
    return task, jax.jit(task.sample, static_argnums=1), jax.jit(task.metric)


@pytest.fixture(params=tasks.names())
def task_and_fns(request):
    return _compiled(request.param)


def test_registry_holds_the_documented_tasks():
    assert {"flipflop", "sinewave", "cdi", "rsg", "delayed_match", "perceptual_dm"} <= set(tasks.names())


def test_sample_shapes_dtypes_and_finiteness(task_and_fns, key):
    task, sample, _ = task_and_fns
    trials = sample(key, BATCH)
    assert trials.inputs.shape == (BATCH, task.n_time, task.n_inputs)
    assert trials.targets.shape == (BATCH, task.n_time, task.n_outputs)
    assert trials.mask.shape == (BATCH, task.n_time, task.n_outputs)
    for a in trials:
        assert a.dtype == jnp.float32
        assert bool(jnp.isfinite(a).all())
    m = np.asarray(trials.mask)
    assert set(np.unique(m)) <= {0.0, 1.0}
    assert (m.sum(axis=(1, 2)) > 0).all(), "every trial must score at least one step"


def test_same_key_same_trials_and_different_keys_differ(task_and_fns, key):
    task, sample, _ = task_and_fns
    a, b = sample(key, BATCH), sample(key, BATCH)
    c = sample(jax.random.key(1), BATCH)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(np.asarray(a.inputs), np.asarray(c.inputs)) or not np.array_equal(
        np.asarray(a.targets), np.asarray(c.targets)
    )


def test_analysis_inputs_shape(task_and_fns):
    task, _, _ = task_and_fns
    u = task.analysis_inputs()
    assert u.ndim == 2 and u.shape[1] == task.n_inputs and u.shape[0] >= 1
    assert u.dtype == jnp.float32
    assert bool(jnp.isfinite(u).all())


def test_metric_is_one_on_targets_and_low_on_wrong_outputs(task_and_fns, key):
    task, sample, metric = task_and_fns
    trials = sample(key, BATCH)
    perfect = metric(task.outputs_for(trials.targets), trials)
    assert perfect.shape == (BATCH,)
    np.testing.assert_allclose(np.asarray(perfect), 1.0, atol=1e-6)
    wrong = np.asarray(metric(task.outputs_for(-trials.targets), trials))
    assert ((wrong >= 0) & (wrong <= 1)).all()
    assert wrong.mean() < task.criterion
    noisy = np.asarray(metric(task.outputs_for(trials.targets) + jax.random.normal(key, trials.targets.shape), trials))
    assert ((noisy >= 0) & (noisy <= 1)).all()


def test_criterion_and_names(task_and_fns):
    task, _, _ = task_and_fns
    assert 0.0 < task.criterion <= 1.0
    if task.input_names:
        assert len(task.input_names) == task.n_inputs
    if task.output_names:
        assert len(task.output_names) == task.n_outputs


def test_docstring_cites_a_paper(task_and_fns):
    task, _, _ = task_and_fns
    doc = type(task).__doc__ or ""
    assert re.search(r"(19|20)\d\d", doc), f"{task.name} docstring must cite a paper (authors, year)"


def test_options_rebuild_the_same_task(task_and_fns):
    task, _, _ = task_and_fns
    again = tasks.get(task.name, **task.options())
    assert again == task and hash(again) == hash(task)  # hashable: usable as a static jit argument

