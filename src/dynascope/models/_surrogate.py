"""The spike nonlinearity of spiking models: a Heaviside step forward, a smooth surrogate derivative backward.

`spike(x, surrogate, scale)` returns H(x) = 1 if x ≥ 0 else 0 (x = v − threshold), so a simulation is exactly
the spiking network. Its derivative, which is zero almost everywhere, is replaced in every JVP (and so in every
gradient) by a pseudo-derivative g(x) of width ~1/scale, which lets gradient descent see how close a membrane
potential came to the threshold (surrogate-gradient learning, Neftci, Mostafa & Zenke 2019). The surrogates:

    fast_sigmoid  g(x) = 1 / (1 + s·|x|)²                   SuperSpike (Zenke & Ganguli 2018)
    arctan        g(x) = (s/2) / (1 + (π/2 · s · x)²)       Fang et al. 2021 (unit area)
    triangle      g(x) = max(0, 1 − s·|x|)                  Bellec et al. 2018 (their γ = 1, width 1/s)

`s` is the surrogate's `scale` (a sharpness); `DEFAULT_SCALES` gives the one used when none is given, chosen so
that every surrogate peaks at g(0) = 1 (fast_sigmoid s = 10, arctan s = 2, triangle s = 1).

References: Zenke & Ganguli 2018, "SuperSpike: supervised learning in multilayer spiking neural networks",
Neural Comput.; Fang et al. 2021, "Incorporating learnable membrane time constant to enhance learning of
spiking neural networks", ICCV; Bellec et al. 2018, "Long short-term memory and learning-to-learn in networks
of spiking neurons", NeurIPS; Neftci, Mostafa & Zenke 2019, "Surrogate gradient learning in spiking neural
networks", IEEE Signal Process. Mag.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import jax
import jax.numpy as jnp

from dynascope.errors import ConfigError


def _fast_sigmoid(x: jax.Array, s: float) -> jax.Array:
    return 1.0 / (1.0 + s * jnp.abs(x)) ** 2


def _arctan(x: jax.Array, s: float) -> jax.Array:
    return (s / 2) / (1.0 + (math.pi / 2 * s * x) ** 2)


def _triangle(x: jax.Array, s: float) -> jax.Array:
    return jnp.maximum(0.0, 1.0 - s * jnp.abs(x))


#: Surrogate derivative g(x, scale) by name.
SURROGATES: dict[str, Callable[[jax.Array, float], jax.Array]] = {
    "fast_sigmoid": _fast_sigmoid,
    "arctan": _arctan,
    "triangle": _triangle,
}

#: The scale each surrogate uses when none is given: every surrogate then peaks at g(0) = 1.
DEFAULT_SCALES: dict[str, float] = {"fast_sigmoid": 10.0, "arctan": 2.0, "triangle": 1.0}


def check_surrogate(name: str, scale: float | None = None) -> float:
    """The scale to use for surrogate `name` (`scale`, or the surrogate's default when None).

    Raises ConfigError naming the surrogate and listing the known ones if `name` is not one of them, or naming
    the scale if it is not a finite number > 0.
    """
    if name not in SURROGATES:
        raise ConfigError(
            f"surrogate must be one of {', '.join(map(repr, SURROGATES))}, got {name!r}; "
            "e.g. surrogate='fast_sigmoid'."
        )
    if scale is None:
        return DEFAULT_SCALES[name]
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (0 < scale < math.inf):
        raise ConfigError(f"surrogate scale must be a finite number > 0, got {scale!r}; e.g. scale=10.0.")
    return float(scale)


def spike(x: jax.Array, surrogate: str = "fast_sigmoid", scale: float | None = None) -> jax.Array:
    """Spikes H(x) (1.0 where x ≥ 0, else 0.0) whose JVP uses a surrogate derivative.

    Args:
        x: membrane potential minus threshold, `x = v − threshold`, any shape `[...]`.
        surrogate: the surrogate derivative's name (a key of `DEFAULT_SCALES`).
        scale: its sharpness (> 0; None: `DEFAULT_SCALES[surrogate]`).

    Returns:
        Spikes `[...]` in x's dtype.

    Raises:
        ConfigError: an unknown `surrogate` (listing the known ones) or a `scale` that is not a finite
        number > 0.
    """
    return _spike(jnp.asarray(x), surrogate, check_surrogate(surrogate, scale))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _spike(x: jax.Array, surrogate: str, scale: float) -> jax.Array:
    return (x >= 0).astype(x.dtype)


@_spike.defjvp
def _spike_jvp(surrogate: str, scale: float, primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    (x,), (dx,) = primals, tangents
    return _spike(x, surrogate, scale), SURROGATES[surrogate](x, scale).astype(x.dtype) * dx
