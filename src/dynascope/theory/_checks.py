"""Argument checks at the boundary of the theory layer: each names the argument, the value received and the
fix, and returns the value in the form the inner code trusts (a float, an int, a float64 array)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dynascope.errors import ConfigError, DataError, ShapeError, check_positive_int

__all__ = [
    "choice", "correlation_pair", "nonnegative", "positive", "positive_array", "positive_int", "prng_key",
    "record_interval", "time_points",
]


def _as_float(name: str, value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name} must be {what}, got {value!r} ({type(value).__name__}); pass a number.")
    out = float(value)
    if not math.isfinite(out):
        raise ConfigError(f"{name} must be {what} (NaN and inf are not allowed), got {value!r}.")
    return out


def positive(name: str, value: Any) -> float:
    """`value` as a float if it is a finite number > 0, else ConfigError naming `name`."""
    out = _as_float(name, value, "a finite number > 0")
    if out <= 0:
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}; pass a positive value.")
    return out


def nonnegative(name: str, value: Any) -> float:
    """`value` as a float if it is a finite number ≥ 0, else ConfigError naming `name`."""
    out = _as_float(name, value, "a finite number >= 0")
    if out < 0:
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}; pass zero or a positive value.")
    return out


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """`value` as an int if it is an integer ≥ `minimum` (≥ 1), else ConfigError naming `name`."""
    out = check_positive_int(name, value)
    if out < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {name}={value!r}.")
    return out


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """`value` if it is one of `allowed`, else ConfigError listing them."""
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}.")
    return str(value)


def time_points(name: str, value: Any) -> np.ndarray:
    """Times `[T]` (a scalar becomes `[1]`) as float64, finite and ≥ 0, else ConfigError/ShapeError."""
    t = np.asarray(value, dtype=np.float64)
    if t.ndim > 1:
        raise ShapeError(f"{name} must be a scalar or a 1-D array of times, got shape {t.shape}; flatten it.")
    t = np.atleast_1d(t)
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ConfigError(f"{name} must hold finite times >= 0, got {value!r}.")
    return t


def correlation_pair(sigma_xx: Any, sigma_yx: Any) -> tuple[np.ndarray, np.ndarray]:
    """Σ_xx `[n_in, n_in]` (symmetric, positive semi-definite) and Σ_yx `[n_out, n_in]` as float64 arrays,
    else ShapeError/DataError naming the argument."""
    xx = np.asarray(sigma_xx, dtype=np.float64)
    yx = np.asarray(sigma_yx, dtype=np.float64)
    if xx.ndim != 2 or xx.shape[0] != xx.shape[1] or xx.shape[0] == 0:
        raise ShapeError(f"sigma_xx must be a square [n_in, n_in] matrix, got shape {xx.shape}.")
    if yx.ndim != 2 or yx.shape[1] != xx.shape[0] or yx.shape[0] == 0:
        raise ShapeError(
            f"sigma_yx must be [n_out, n_in] with n_in = {xx.shape[0]} (sigma_xx's size), got shape {yx.shape}."
        )
    for name, m in (("sigma_xx", xx), ("sigma_yx", yx)):
        if not np.all(np.isfinite(m)):
            raise DataError(f"{name} holds NaN or inf; pass finite correlations.")
    if not np.allclose(xx, xx.T, rtol=1e-6, atol=1e-9 * max(1.0, float(np.abs(xx).max()))):
        raise DataError("sigma_xx must be symmetric (an input correlation E[x xᵀ]); got a non-symmetric matrix.")
    lowest = float(np.linalg.eigvalsh(xx).min())
    if lowest < -1e-8 * max(1.0, float(np.abs(xx).max())):
        raise DataError(
            f"sigma_xx must be positive semi-definite (an input correlation E[x xᵀ]); its lowest eigenvalue is "
            f"{lowest:.3g}."
        )
    return xx, yx


def positive_array(name: str, value: Any) -> np.ndarray:
    """`value` (a number or an array) as float64 if every entry is finite and > 0, else ConfigError naming
    `name` and the first offending entry."""
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number > 0 or an array of them, got {value!r}.") from None
    bad = ~np.isfinite(out) | (out <= 0)
    if np.any(bad):
        first = out[bad].flat[0] if out.ndim else out
        raise ConfigError(f"{name} must be finite and > 0, got {name}={float(first)!r}; pass positive values.")
    return out


def prng_key(value: Any) -> Any:
    """`value` if it is one JAX PRNG key (a typed `jax.random.key(seed)` or a legacy uint32 `[2]` key), else
    ConfigError: randomness comes only from an explicit key."""
    import jax
    import jax.numpy as jnp

    typed = isinstance(value, jax.Array) and jnp.issubdtype(value.dtype, jax.dtypes.prng_key) and value.shape == ()
    legacy = isinstance(value, jax.Array) and value.dtype == jnp.uint32 and value.shape == (2,)
    if not (typed or legacy):
        raise ConfigError(
            f"key must be one JAX PRNG key, got {value!r}; pass key=jax.random.key(seed) (split it for several)."
        )
    return value


def record_interval(steps: int, record_every: Any) -> int:
    """Steps between records of a training run of `steps` steps: `record_every` if it divides `steps` (so the
    last step is recorded), or for None the smallest divisor giving at most 500 records (enough to draw a
    sigmoid); else ConfigError."""
    if record_every is None:
        return next(d for d in range(1, steps + 1) if steps % d == 0 and steps // d <= 500)
    every = positive_int("record_every", record_every)
    if steps % every:
        raise ConfigError(
            f"record_every must divide steps so the last step is recorded, got record_every={every} for "
            f"steps={steps}; pass a divisor of {steps} or leave record_every=None."
        )
    return every
