"""Trained 3-bit flip-flop networks kept as test data, and the code that made them.

The fixed-point tests that need "a trained network" to hold against a reference computed on the same weights
(SciPy's roots in tests/dynamics/test_scipy_reference.py, the task's cube of fixed points in
tests/dynamics/test_trained_flipflop.py) load these weights instead of training the network on every run:
compiling the training program was a third of those tests' time, and neither reference depends on how the
weights were obtained. Training itself is tested in tests/train/.

Each `.npz` next to this file holds the params of ONE network, made by `train(name)` below (dynascope's own
trainer, deterministic on CPU). Regenerate them all, e.g. after a change to a model's parameters, with

    .venv/bin/python -m tests.data.trained_weights
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from dynascope import models, tasks
from dynascope.models import Model
from dynascope.tasks import Task

N_BITS = 3
HERE = Path(__file__).parent

#: name: (arch, n_hidden, steps, checkpoint_every, training key); batch 32, Adam at 1e-2, 48-step trials.
NETWORKS = {
    "flipflop3_vanilla16_300steps": ("vanilla", 16, 300, 300, 3),
    "flipflop3_gru16_300steps": ("gru", 16, 300, 300, 3),
    "flipflop3_vanilla16_500steps": ("vanilla", 16, 500, 250, 3),
}


def task_and_model(name: str) -> tuple[Task, Model]:
    arch, n_hidden, *_ = NETWORKS[name]
    task = tasks.get("flipflop", n_bits=N_BITS, n_time=48)
    return task, models.get(arch, n_inputs=N_BITS, n_hidden=n_hidden, n_outputs=N_BITS)


def train(name: str) -> dict[str, np.ndarray]:
    """Train network `name` as its tests used to, and return its params (float32 NumPy arrays)."""
    from dynascope.train import train_population  # only the regeneration trains

    _, _, steps, every, key = NETWORKS[name]
    task, model = task_and_model(name)
    pop = train_population(task, model, 1, steps, jax.random.key(key), batch_size=32, learning_rate=1e-2,
                           checkpoint_every=every)
    assert pop.trained.all(), (name, pop.metric)
    return {k: np.asarray(v, np.float32) for k, v in pop.network(0).items()}


def path(name: str) -> Path:
    return HERE / f"{name}.npz"


def load(name: str) -> tuple[Task, Model, dict[str, jax.Array]]:
    """The task, the model and the stored params of network `name`; the params must fit the model's own
    `init` (names, shapes, dtypes), so a change to the model's parameters asks for a regeneration."""
    task, model = task_and_model(name)
    with np.load(path(name)) as stored:
        params = {k: jnp.asarray(stored[k]) for k in stored.files}
    fresh = model.init(jax.random.key(0))
    layout = lambda p: {k: (tuple(v.shape), str(v.dtype)) for k, v in p.items()}  # noqa: E731
    assert layout(params) == layout(fresh), (
        f"{path(name)} no longer fits models.get({model.name!r}); regenerate it: python -m tests.data.trained_weights"
    )
    return task, model, params


if __name__ == "__main__":
    import os

    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    for name in NETWORKS:
        np.savez(path(name), **train(name))
        print("wrote", path(name))
