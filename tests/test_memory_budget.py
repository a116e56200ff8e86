"""The memory budget in one place (`dynascope.memory`): the size parser and its refusals, where the budget
comes from (keyword, $DYNASCOPE_MEMORY_BUDGET, the device), the chunk size by hand count, and pairwise
distances that do not depend on the chunking. Chunked training is tested in tests/train/test_population.py
and chunked analysis in tests/pipeline/test_analyze.py, beside the programs they share."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from dynascope import models, tasks
from dynascope.compare import cka_distance, distances_to, pairwise_distances
from dynascope.compare.pairwise import MAX_PAIRS_PER_CHUNK, PAIR_COPIES, pair_chunk
from dynascope.dynamics._scheduler import BYTES_PER_MATRIX_ENTRY, chunk_networks
from dynascope.errors import ConfigError
from dynascope.memory import ENV_VAR, Budget, available_memory, chunk_size, memory_budget, parse_bytes
from dynascope.train import train_population


@pytest.mark.parametrize("text, expected", [
    ("200MB", 200 * 10**6), ("1.5 GB", 1_500_000_000), ("4GiB", 4 * 2**30), ("512k", 512_000),
    ("64 kib", 65_536), ("3TB", 3 * 10**12), ("1e9", 10**9), ("2e3MB", 2 * 10**9), (" 7 ", 7), ("9b", 9),
    (1000, 1000), (2.5e8, 250_000_000),
])
def test_sizes_parse_to_bytes(text, expected):
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("bad", ["", "lots", "200 parsecs", "MB", "-5MB", "0", "0.4", "1.2.3GB", "inf", True,
                                 None, float("nan"), -3, [200]])
def test_nonsense_sizes_are_refused_in_one_line(bad):
    with pytest.raises(ConfigError) as err:
        parse_bytes(bad, name="memory_budget")
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"memory_budget must be a positive memory size such as 200MB, 1.5GB or 4GiB (or a "
                           f"number of bytes), got {bad!r}")


def test_the_budget_comes_from_the_keyword_then_the_environment_then_the_device(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    machine, where = available_memory()
    measured = memory_budget()
    assert (measured.total, measured.where, measured.given) == (machine, where, False)
    assert measured.usable == int(machine * 0.5)  # a measured budget is used by half (estimates are lower bounds)
    monkeypatch.setenv(ENV_VAR, "300MB")
    assert memory_budget() == Budget(300 * 10**6, f"the memory budget (${ENV_VAR})", True)
    assert memory_budget().usable == 300 * 10**6  # a given budget is used whole
    assert memory_budget("2GiB").total == 2 * 2**30  # the keyword wins over the environment
    monkeypatch.setenv(ENV_VAR, "a lot")
    with pytest.raises(ConfigError, match=rf"^{ENV_VAR} must be a positive memory size .* got 'a lot'; fix it or "
                                          r"unset it\.$"):
        memory_budget()


def test_a_bad_budget_in_the_environment_stops_training_before_anything_compiles(monkeypatch, key):
    monkeypatch.setenv(ENV_VAR, "12 bananas")
    task = tasks.get("flipflop", n_bits=2, n_time=4)
    model = models.get("vanilla", n_inputs=2, n_hidden=4, n_outputs=2)
    with pytest.raises(ConfigError, match=f"{ENV_VAR} must be a positive memory size"):
        train_population(task, model, 2, 5, key)


def test_chunk_size_by_hand():
    # 100 items of 10 bytes in a given budget of 35 bytes: 3 per chunk (30 bytes); never 0, never more than n.
    assert chunk_size(10, 100, 35) == 3
    assert chunk_size(10, 100, 9) == 1  # one item is the smallest piece of work
    assert chunk_size(10, 2, 10**6) == 2
    assert chunk_size(10, 100, 10**6, most=64) == 64
    assert chunk_size(10, 100, Budget(None, "a device without statistics", False)) == 100  # unknown: no chunking
    assert chunk_size(10, 100, Budget(70, "a measured device", False)) == 3  # half of 70 bytes
    # The fixed-point search: K·S² float64 entries per network, BYTES_PER_MATRIX_ENTRY each.
    entries = 256 * 64 * 64
    assert chunk_networks(entries, None, 1000, budget=5 * entries * BYTES_PER_MATRIX_ENTRY) == 5
    assert chunk_networks(entries, 7, 1000, budget=1) == 7  # an explicit chunk_size wins


def test_pairs_per_chunk_from_the_shapes():
    xs = jax.numpy.zeros((10, 20, 5), jax.numpy.float32)  # 400 bytes per network
    per_pair = PAIR_COPIES * 2 * 400
    assert pair_chunk(None, xs, 45, 3 * per_pair + 1) == 3
    assert pair_chunk(None, xs, 100, 10**12) == MAX_PAIRS_PER_CHUNK
    assert pair_chunk(None, xs, 6, 10**12) == 6
    # With a `prepare`, a pair costs what the prepared items take: here 20 numbers instead of 100.
    assert pair_chunk(lambda x: x[:, 0], xs, 45, 3 * PAIR_COPIES * 2 * 80) == 3


def _numpy_cka_distance(x: np.ndarray, y: np.ndarray) -> float:
    """1 − linear CKA (Kornblith et al. 2019) in float64 NumPy: ‖YᵀX‖_F² / (‖XᵀX‖_F ‖YᵀY‖_F), centred."""
    x, y = (np.asarray(a, np.float64) - np.mean(a, axis=0) for a in (x, y))
    return 1.0 - np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def test_pairwise_distances_do_not_depend_on_the_chunking(monkeypatch):
    rng = np.random.default_rng(0)
    # Networks of 5, 6 and 7 units on the same 24 samples (zero-padded to 7 inside).
    items = [rng.normal(size=(24, 5 + i % 3)).astype(np.float32) for i in range(7)]
    reference = np.array([[_numpy_cka_distance(a, b) for b in items] for a in items])
    monkeypatch.delenv(ENV_VAR, raising=False)
    whole = np.asarray(pairwise_distances(cka_distance, items))  # 21 pairs in one chunk
    monkeypatch.setenv(ENV_VAR, "1")  # one pair per chunk
    chunked = np.asarray(pairwise_distances(cka_distance, items))
    np.testing.assert_allclose(chunked, whole, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(chunked, reference, rtol=1e-5, atol=1e-6)
    keyword = np.asarray(pairwise_distances(cka_distance, items, memory_budget=5 * PAIR_COPIES * 2 * 24 * 7 * 4))
    np.testing.assert_allclose(keyword, whole, rtol=1e-6, atol=1e-7)  # 5 pairs per chunk
    to_first = np.asarray(distances_to(cka_distance, items[0], items[1:]))
    np.testing.assert_allclose(to_first, reference[0, 1:], rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="memory_budget must be a positive memory size"):
        pairwise_distances(cka_distance, items, memory_budget="tiny")
