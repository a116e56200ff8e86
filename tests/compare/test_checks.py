"""Every public compare metric refuses empty and non-finite input with a DynascopeError naming the argument,
and the geometry metrics warn when there are too few samples per unit to tell data apart.

Ground truth: SciPy's RSA of data with a NaN is NaN (undefined, not a number to report), and with 2
samples the centred states of any two sets are multiples of one vector, so every geometry distance is 0
whatever the data (checked here with NumPy)."""

from __future__ import annotations

import functools
import warnings

import jax
import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

from dynascope.compare import (
    MIN_SAMPLES_PER_UNIT,
    FewSamplesWarning,
    cca_correlations,
    cca_distance,
    cka_distance,
    delay_embed,
    distances_to,
    dmd_operator,
    dsa_distance,
    eigenvalue_wasserstein,
    optimal_similarity_transform,
    pairwise_distances,
    principal_basis,
    procrustes_distance,
    rdm,
    rsa_distance,
    shape_distance,
    similarity_transform_distance,
    svcca_distance,
)
from dynascope.compare.dsa import spectrum_distance
from dynascope.errors import DataError, ShapeError

PAIR_METRICS = {
    "cca": cca_distance,
    "cca_correlations": cca_correlations,
    "svcca": svcca_distance,
    "cka": cka_distance,
    "procrustes": procrustes_distance,
    "shape": functools.partial(shape_distance, alpha=0.5),
    "rsa": rsa_distance,
    "dsa": functools.partial(dsa_distance, rank=3),
}


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(6, 10, 3)).astype(np.float32), rng.normal(size=(6, 10, 3)).astype(np.float32)


def test_rsa_of_data_with_a_nan_is_refused_where_scipy_is_undefined():
    # SciPy's RSA of such data is NaN (the reference); ours returned a finite number before, now it refuses.
    x, y = _data()
    x = x.reshape(6, -1).copy()
    x[2, 4] = np.nan
    assert np.isnan(spearmanr(pdist(x, "correlation"), pdist(y.reshape(6, -1), "correlation")).statistic)
    with pytest.raises(DataError, match="x"):
        rsa_distance(x, y.reshape(6, -1))


def test_an_empty_spectrum_is_refused():
    with pytest.raises(ShapeError, match="non-empty spectrum"):
        spectrum_distance(np.zeros(0), np.ones(2))


@pytest.mark.parametrize("name", sorted(PAIR_METRICS))
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_states_are_refused_naming_the_argument(name, bad):
    metric = PAIR_METRICS[name]
    x, y = _data()
    x_bad = x.copy()
    x_bad[2, 3, 1] = bad
    with pytest.raises(DataError, match=r"X holds 1 non-finite value \(NaN or ±inf\), the first at index \(2, 3, 1\)"):
        metric(x_bad, y)
    with pytest.raises(DataError, match="Y holds 1 non-finite value"):
        metric(y, x_bad)


def test_single_set_functions_refuse_non_finite_input():
    x, _ = _data()
    x[0, 0, 0] = np.nan
    singles = (principal_basis, rdm, functools.partial(dmd_operator, rank=3), functools.partial(delay_embed, n_delays=2))
    for fn in singles:
        with pytest.raises(DataError, match=r"X holds 1 non-finite value .* first at index \(0, 0, 0\)"):
            fn(x)
    a = np.eye(3, dtype=np.float32)
    b = a.copy()
    b[1, 2] = np.nan
    for fn in (similarity_transform_distance, optimal_similarity_transform, eigenvalue_wasserstein):
        with pytest.raises(DataError, match=r"B holds 1 non-finite value .* first at index \(1, 2\)"):
            fn(a, b)
    with pytest.raises(DataError, match=r"lb holds 1 non-finite value .* first at index \(1,\)"):
        spectrum_distance(np.array([0.5, 0.1j]), np.array([0.2, np.nan]))


def test_populations_name_the_networks_that_are_not_finite():
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(5, 20, 3)).astype(np.float32)
    xs[3, 7, 0] = np.nan
    xs[1, 0, 2] = np.inf
    with pytest.raises(DataError, match=r"Xs: networks 1, 3 \(of 5\) hold NaN or ±inf values"):
        pairwise_distances(cca_distance, xs, prepare=principal_basis)
    with pytest.raises(DataError, match=r"Xs: networks 0, 2 \(of 5\)"):
        distances_to(cka_distance, xs[0], list(xs[1:]) + [xs[0]])  # positions 0, 2 of this list
    with pytest.raises(DataError, match="reference holds 1 non-finite value"):
        distances_to(cka_distance, xs[3], [xs[0], xs[2]])
    ok = np.asarray(pairwise_distances(cca_distance, xs[[0, 2, 4]], prepare=principal_basis))
    assert np.isfinite(ok).all()


@pytest.mark.parametrize("name", sorted(PAIR_METRICS))
@pytest.mark.parametrize("shape", [(0, 3), (0, 10, 3), (6, 10, 0), (6, 0, 3)])
def test_empty_states_are_a_shape_error_not_an_index_error(name, shape):
    metric = PAIR_METRICS[name]
    expected = r"X (has 0 samples|has \d+ samples of 0 units|is empty)|too short|at least 3 conditions"
    with pytest.raises(ShapeError, match=expected):
        metric(np.zeros(shape, np.float32), np.zeros(shape, np.float32))
    for fn in (similarity_transform_distance, optimal_similarity_transform):
        with pytest.raises(ShapeError, match="empty"):
            fn(np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32))


def test_a_single_sample_is_refused():
    x = np.ones((1, 3), np.float32)
    with pytest.raises(ShapeError, match=r"X has 1 samples of 3 units .* at least 2 samples"):
        cca_distance(x, x)


GEOMETRY = ("cca", "svcca", "cka", "procrustes", "shape")


@pytest.mark.parametrize("name", GEOMETRY)
def test_two_samples_make_independent_data_identical_and_warn(name):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    # NumPy: centred over 2 samples each set has rows (v, −v), so both span the one sample-space direction
    # (1, −1)/√2 and any alignment matches them exactly: every distance is 0 whatever the data.
    for z in (x, y):
        zc = z - z.mean(0)
        np.testing.assert_allclose(zc[0], -zc[1])
        assert np.linalg.matrix_rank(zc) == 1
    few = pytest.warns(FewSamplesWarning, match="[XY] has 2 samples for 4 units, fewer than 2 per unit")
    with jax.enable_x64(True), few:
        d = float(PAIR_METRICS[name](x, y))
    assert d == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name", GEOMETRY)
def test_enough_samples_do_not_warn(name):
    rng = np.random.default_rng(3)
    units = 4
    x = rng.normal(size=(MIN_SAMPLES_PER_UNIT * units, units)).astype(np.float32)
    y = rng.normal(size=(MIN_SAMPLES_PER_UNIT * units, units)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(PAIR_METRICS[name](x, y)) > 0.05
    with pytest.warns(FewSamplesWarning, match="[XY] has 7 samples for 4 units"):
        PAIR_METRICS[name](x[:7], y[:7, :])


def test_few_samples_warn_inside_a_population_too():
    rng = np.random.default_rng(4)
    xs = rng.normal(size=(3, 5, 4)).astype(np.float32)
    with pytest.warns(FewSamplesWarning, match="5 samples for 4 units"):
        pairwise_distances(cca_distance, xs, prepare=principal_basis)

