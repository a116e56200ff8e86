"""The two-module rate network: its masks, what each input stream reaches, and its structural modularity."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import models
from dynascope.compare.modularity import modularity
from dynascope.errors import ConfigError
from dynascope.models import module_mask


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_mask_keeps_every_within_link_and_exactly_the_asked_fraction_between(p, key):
    n = 10
    labels = models.get("modular", n_inputs=2, n_hidden=n, n_outputs=1).modules
    np.testing.assert_array_equal(labels, [0] * 5 + [1] * 5)
    mask = np.asarray(module_mask(n, p, key=key))
    same = labels[:, None] == labels[None, :]
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert mask[same].all()
    assert mask[~same].sum() == round(p * 50)
    # Two equal modules, all within links, a fraction p between, as many A -> B as B -> A: directed
    # Q = 1/(1+p) − 1/2. A random draw splits the between links unevenly, which moves Q by under 0.01 here.
    np.testing.assert_allclose(float(modularity(mask, labels)), 1 / (1 + p) - 0.5, atol=1e-6 if p in (0, 1) else 0.01)
    other = np.asarray(module_mask(n, p, key=jax.random.key(1)))
    assert np.array_equal(other, mask) == (p in (0.0, 1.0))


def test_disconnected_modules_each_see_only_their_own_stream(key):
    model = models.get("modular", n_inputs=2, n_hidden=6, n_outputs=1, inter_fraction=0.0)
    params = model.init(key)
    inputs = jax.random.normal(key, (3, 8, 2))
    run = jax.jit(model.run)  # one compilation for the three runs
    base, _ = run(params, inputs)
    a, b = model.modules == 0, model.modules == 1
    for channel, untouched, touched in ((0, b, a), (1, a, b)):
        moved, _ = run(params, inputs.at[:, :, channel].add(1.0))
        np.testing.assert_array_equal(np.asarray(moved)[..., untouched], np.asarray(base)[..., untouched])
        assert not np.allclose(np.asarray(moved)[..., touched], np.asarray(base)[..., touched])


def test_training_cannot_change_the_masks(key):
    model = models.get("modular", n_inputs=2, n_hidden=6, n_outputs=1, inter_fraction=0.5)
    params = model.init(key)
    grads = jax.grad(lambda p: jnp.sum(model.run(p, jnp.ones((2, 5, 2)))[1] ** 2))(params)
    assert not np.any(np.asarray(grads["M_rec"])) and not np.any(np.asarray(grads["M_in"]))
    assert "M_rec" not in model.weight_names(params) and "W_rec" in model.weight_names(params)


def test_bad_options_are_refused_with_the_fix():
    with pytest.raises(ConfigError, match=r"inputs_a=3 exceeds n_inputs=2"):
        models.get("modular", n_inputs=2, n_hidden=6, n_outputs=1, inputs_a=3)
    with pytest.raises(ConfigError, match=r"n_hidden >= 2"):
        models.get("modular", n_inputs=2, n_hidden=1, n_outputs=1)
    with pytest.raises(ConfigError, match=r"inter_fraction"):
        models.get("modular", n_inputs=2, n_hidden=6, n_outputs=1, inter_fraction=1.5)
