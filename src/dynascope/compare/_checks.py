"""Checks every compare metric runs on its inputs at the API boundary: non-empty, finite, enough samples.

Finiteness is checked only on concrete arrays: inside `jax.jit` / `jax.vmap` (e.g. under
`pairwise_distances`, which checks the whole population once before compiling) values are not known.
Shapes are known while tracing too, so the sample-count warning is raised there as well.

The samples-to-units rule. Centred over n samples, a set of states spans at most n − 1 dimensions; once
a set has as many units as that, its span is the whole sample space and every other set looks identical
to it (CCA distance exactly 0; with 2 samples every geometry metric is 0). Well before that, independent
data look alike: for independent Gaussian sets of 20 units, the CCA distance is 0 at 20 samples, 0.35 at
40 and 0.73 at 200 (it tends to 1). So every geometry metric warns with `FewSamplesWarning` when a set
has fewer than `MIN_SAMPLES_PER_UNIT` samples (conditions × time) per unit, and its distances should
not be read as similarity.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.errors import DataError, ShapeError

#: Below this many samples per unit (in either set) a geometry metric warns with `FewSamplesWarning`.
MIN_SAMPLES_PER_UNIT = 2


class FewSamplesWarning(UserWarning):
    """A set of states has fewer than `MIN_SAMPLES_PER_UNIT` samples per unit: geometry distances between
    such sets are biased towards 0 (independent data look alike). Record more trials or time steps."""


def is_concrete(x: object) -> bool:
    """Whether `x` holds values now (not a tracer inside jit/vmap)."""
    return not isinstance(x, jax.core.Tracer)


def check_finite(x: jax.Array | np.ndarray, name: str) -> None:
    """DataError naming `name` and the first non-finite entry if concrete `x` holds NaN or ±inf."""
    if not is_concrete(x):
        return
    if isinstance(x, jax.Array):
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            return
        # Count on the device; copy to the host only to report the first bad entry.
        if int(x.size - jnp.isfinite(x).sum()) == 0:
            return
    host = np.asarray(x)
    if not np.issubdtype(host.dtype, np.inexact):
        return
    bad = ~np.isfinite(host)
    n_bad = int(bad.sum())
    if n_bad == 0:
        return
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    raise DataError(
        f"{name} holds {n_bad} non-finite value{'s' if n_bad > 1 else ''} (NaN or ±inf), the first at index "
        f"{first} of shape {tuple(host.shape)} (value {host[first]}); only finite data can be compared. "
        f"Leave out the networks or samples that diverged (a diverged network has no geometry or dynamics "
        f"to compare)."
    )


def check_population_finite(xs: jax.Array, name: str = "Xs") -> None:
    """DataError listing the networks (leading axis of concrete `xs [n, ...]`) that hold NaN or ±inf."""
    if not is_concrete(xs) or not jnp.issubdtype(xs.dtype, jnp.inexact) or xs.shape[0] == 0:
        return
    finite = np.asarray(jnp.isfinite(xs).reshape(xs.shape[0], -1).all(axis=1))
    if finite.all():
        return
    bad = np.flatnonzero(~finite).tolist()
    shown = ", ".join(map(str, bad[:10])) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
    raise DataError(
        f"{name}: network{'s' if len(bad) > 1 else ''} {shown} (of {xs.shape[0]}) hold NaN or ±inf values; "
        f"only finite data can be compared. Leave them out (a diverged network has no geometry or dynamics "
        f"to compare), e.g. keep the networks where np.isfinite(states).all()."
    )


def check_not_empty(shape: tuple[int, ...], name: str, min_samples: int = 2) -> None:
    """ShapeError unless `shape [samples, units]` has at least `min_samples` samples and one unit."""
    samples, units = shape
    if samples < min_samples or units < 1:
        raise ShapeError(
            f"{name} has {samples} samples of {units} units (shape {shape}); comparing needs at least "
            f"{min_samples} samples (conditions × time) and 1 unit. Pass the states of a non-empty recording."
        )


def warn_few_samples(samples: int, units: int, name: str) -> None:
    """FewSamplesWarning if `samples < MIN_SAMPLES_PER_UNIT · units` (see the module docstring)."""
    if samples < MIN_SAMPLES_PER_UNIT * units:
        warnings.warn(
            f"{name} has {samples} samples for {units} units, fewer than {MIN_SAMPLES_PER_UNIT} per unit: "
            f"geometry distances are then biased towards 0 (at samples <= units even independent data "
            f"score as identical). Use more trials or time steps, or fewer units.",
            FewSamplesWarning,
            stacklevel=4,
        )
