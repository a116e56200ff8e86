"""Generalization in the high-dimensional linear teacher–student: simulation and exact theory.

Setting (Advani, Saxe & Sompolinsky 2020, in this normalisation). A teacher w* ∈ R^N with entries drawn
i.i.d. N(0, r²/N) labels inputs x ~ N(0, I_N) as y = w*·x + ε, ε ~ N(0, σ²): r² = `teacher_variance` is the
signal's variance, σ² = `noise_variance` the label noise. A linear student ŷ = w·x starts at w(0) with
entries N(0, σ0²/N) (σ0² = `init_variance`) and is trained by gradient descent on P = α N examples,
X `[P, N]`, with loss L = (1/2P) ‖y − X w‖², i.e. w ← w − η (C w − b), C = XᵀX / P, b = Xᵀy / P. Time is the
gradient-flow time t = η·step. Errors are mean squared errors (no ½):

    train error = (1/P) ‖y − X w‖²,       test error = E_(x,y)[(y − w·x)²] = ‖w − w*‖² + σ²,

the test error taken exactly over fresh inputs (x is isotropic), on noisy labels.

Exact dynamics. In the eigenbasis of C (eigenvalues λ_i) each component of the error e = w − w* relaxes on
its own, e_i(t) = e_i(0) e^{−λ_i t} + n_i (1 − e^{−λ_i t}) / λ_i, with n_i the noise's projection
(variance σ² λ_i / P), while components with λ_i = 0 stay frozen at their initial value. Averaging,

    test(t)  = σ² + (r² + σ0²) [ (1 − α)₊ + ∫ρ(λ) e^{−2λt} dλ ] + (σ²/α) ∫ρ(λ) (1 − e^{−λt})² / λ dλ,
    train(t) = (σ²/α) ∫ρ(λ) e^{−2λt} dλ + (r² + σ0²) ∫ρ(λ) λ e^{−2λt} dλ + σ² (1 − 1/α)₊,

where ρ is the continuous part of the Marchenko–Pastur law of C (ratio N/P = 1/α, support
[(1 − α^{−1/2})², (1 + α^{−1/2})²], mass min(1, α)); the point mass (1 − α)₊ at λ = 0 is the frozen
subspace that the data never reach. `learning_curves` evaluates these integrals by Gauss–Legendre
quadrature after λ = 1 + 1/α + 2 α^{−1/2} cos θ, which removes the square-root edges.

Min-norm asymptote (t → ∞, the interpolating solution closest to w(0), which gradient descent reaches):
using E‖(I − Π)w‖² = (1 − P/N)‖w‖² for the projection Π on X's row space and the inverse-Wishart means
E[(XXᵀ)⁻¹] = I/(N − P − 1), E[(XᵀX)⁻¹] = I/(P − N − 1),

    α < 1:  test = σ² + (r² + σ0²)(1 − α) + σ² α / (1 − α),      train = 0,
    α > 1:  test = σ² + σ² / (α − 1),                             train = σ² (1 − 1/α),

(finite N: replace (1 − α) by (1 − P/N), α/(1 − α) by P/(N − P − 1) and 1/(α − 1) by N/(P − N − 1)). With
label noise the test error diverges at α = 1, the interpolation threshold: the peak of double descent,
whose height is set by σ²; without noise the peak vanishes.

Reference: Advani, Saxe & Sompolinsky 2020, "High-dimensional dynamics of generalization error in neural
networks" (Neural Networks 132:428–446); Marchenko & Pastur 1967 (Math. USSR-Sbornik 1:457).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.theory._checks import (
    nonnegative,
    positive,
    positive_array,
    positive_int,
    prng_key,
    record_interval,
    time_points,
)

__all__ = [
    "MinNormSweep",
    "TeacherStudentRun",
    "learning_curves",
    "marchenko_pastur_density",
    "min_norm_sweep",
    "min_norm_test_error",
    "min_norm_train_error",
    "simulate",
]

# Gauss–Legendre nodes for the spectrum integrals: the integrands are smooth in θ, so a few hundred nodes
# reach ~1e-10 relative for the times of interest (t up to ~1e3 / λ_max); raise `n_nodes` for longer times.
_NODES = 512


# -- the analytic side ---------------------------------------------------------------------------------------
def _alphas(alpha: Any) -> np.ndarray:
    return positive_array("alpha", alpha)


def min_norm_test_error(
    alpha: Any,
    noise_variance: float,
    teacher_variance: float = 1.0,
    init_variance: float = 0.0,
    *,
    n_inputs: int | None = None,
) -> np.ndarray:
    """Expected test error of the minimum-norm least-squares student (module docstring), against α = P/N.

    Args:
        alpha: examples per parameter α = P/N > 0, scalar or `[A]`.
        noise_variance: σ² ≥ 0, label-noise variance.
        teacher_variance: r² ≥ 0, the teacher's signal variance E[(w*·x)²].
        init_variance: σ0² ≥ 0, variance E‖w(0)‖² of the initial student (its frozen part stays).
        n_inputs: N; None gives the N → ∞ limit, an integer the exact expectation for Gaussian inputs at that
            N (P = α N rounded), defined for |P − N| ≥ 2.

    Returns:
        float64 of `alpha`'s shape: E[(y − w·x)²] on fresh noisy examples; inf at the threshold α = 1 (or
        |P − N| < 2 at finite N) when σ² > 0.

    Reference: Advani, Saxe & Sompolinsky 2020 (Neural Networks), section 3; the inverse-Wishart mean.
    """
    a = _alphas(alpha)
    noise = nonnegative("noise_variance", noise_variance)
    signal = nonnegative("teacher_variance", teacher_variance) + nonnegative("init_variance", init_variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        if n_inputs is None:
            frac, under, over, singular = a, a / (1.0 - a), 1.0 / (a - 1.0), a == 1.0
        else:
            n = float(positive_int("n_inputs", n_inputs))
            p = np.rint(a * n)
            # The inverse-Wishart means exist only for |P − N| ≥ 2.
            frac, under, over, singular = p / n, p / (n - p - 1.0), n / (p - n - 1.0), np.abs(p - n) < 2
        noise_factor = np.where(singular, np.inf, np.where(frac < 1.0, under, over))
    frozen = signal * np.maximum(0.0, 1.0 - frac)  # the part of w* (and of w(0)) the data never reach
    return noise + frozen + (noise * noise_factor if noise > 0 else 0.0)


def min_norm_train_error(alpha: Any, noise_variance: float) -> np.ndarray:
    """Expected training error (1/P)‖y − X w‖² of the minimum-norm student.

    0 for α ≤ 1 (it interpolates), σ² (1 − 1/α) above; exact at any N.

    Args:
        alpha: the load α = P/N, a number > 0 or an array of them.
        noise_variance: σ², the label noise variance (≥ 0).

    Returns:
        Float64 array of `alpha`'s shape.

    Raises:
        ConfigError: `alpha` not positive, or `noise_variance` negative or not finite.

    Reference: Advani, Saxe & Sompolinsky 2020 (Neural Networks), section 3.
    """
    a = _alphas(alpha)
    noise = nonnegative("noise_variance", noise_variance)
    return np.where(a > 1.0, noise * (1.0 - 1.0 / a), 0.0)


def marchenko_pastur_density(eigenvalues: Any, alpha: float) -> np.ndarray:
    """Continuous part of the Marchenko–Pastur density of C = XᵀX/P at the given eigenvalues.

    X `[P, N]` has unit-variance entries and ratio N/P = 1/α; the continuous part integrates to
    min(1, α), the rest being the atom (1 − α)₊ at zero.

    Args:
        eigenvalues: where to evaluate the density, any shape.
        alpha: the load α = P/N (> 0).

    Returns:
        Float64 density, the shape of `eigenvalues` (0 outside the support).

    Raises:
        ConfigError: `alpha` not a finite number > 0.

    Reference: Marchenko & Pastur 1967 (Math. USSR-Sbornik 1:457).
    """
    a = positive("alpha", alpha)
    lam = np.asarray(eigenvalues, dtype=np.float64)
    gamma = 1.0 / a
    lo, hi = (1.0 - np.sqrt(gamma)) ** 2, (1.0 + np.sqrt(gamma)) ** 2
    inside = (lam > lo) & (lam < hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.sqrt((hi - lam) * (lam - lo)) / (2.0 * np.pi * gamma * lam)
    return np.where(inside, value, 0.0)


def _spectrum_nodes(alpha: float, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues λ_k and weights w_k with Σ_k w_k f(λ_k) ≈ ∫ρ(λ) f(λ) dλ over the continuous MP part."""
    gamma = 1.0 / alpha
    centre, half = 1.0 + gamma, 2.0 * np.sqrt(gamma)
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    theta = 0.5 * np.pi * (x + 1.0)
    lam = centre + half * np.cos(theta)
    # ρ(λ) dλ = half² sin²θ / (2π γ λ) dθ; at α = 1 the lower edge is 0 and this stays finite (1 − cos θ)/π.
    weights = 0.5 * np.pi * w * half**2 * np.sin(theta) ** 2 / (2.0 * np.pi * gamma * lam)
    return lam, weights


def learning_curves(
    time: Any,
    alpha: float,
    noise_variance: float,
    teacher_variance: float = 1.0,
    init_variance: float = 0.0,
    *,
    learning_rate: float | None = None,
    n_nodes: int = _NODES,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected train and test error of the gradient-trained student over training time (N → ∞).

    Evaluates the Marchenko–Pastur integrals of the module docstring.

    Args:
        time: times t = η·step `[T]` (≥ 0).
        alpha: examples per parameter α = P/N > 0.
        noise_variance, teacher_variance, init_variance: σ², r², σ0² (≥ 0).
        learning_rate: None for gradient flow (e^{−λt}); η for gradient descent with that step, whose
            factor per step is exactly 1 − ηλ, so e^{−λt} becomes (1 − ηλ)^{t/η} (t/η rounded to whole steps)
            — the expectation of what `simulate` records, without the O(ηλ) discretization error.
        n_nodes: Gauss–Legendre nodes over the spectrum.

    Returns:
        (train `[T]`, test `[T]`), float64. At t = 0 both equal r² + σ0² + σ²; as t → ∞ they approach
        `min_norm_train_error` and `min_norm_test_error` (the test error diverges at α = 1 only as t → ∞).

    Reference: Advani, Saxe & Sompolinsky 2020 (Neural Networks), section 4 (the Marchenko–Pastur
    integral of the error dynamics).
    """
    t = time_points("time", time)
    a = positive("alpha", alpha)
    noise = nonnegative("noise_variance", noise_variance)
    signal = nonnegative("teacher_variance", teacher_variance) + nonnegative("init_variance", init_variance)
    lam, weights = _spectrum_nodes(a, positive_int("n_nodes", n_nodes))
    if learning_rate is None:
        decay = np.exp(-np.outer(t, lam))  # [T, K]
        # (1 − e^{−λt})² / λ through expm1, finite where λ → 0 (α = 1): it tends to λ t² there.
        rise = np.expm1(-np.outer(t, lam)) ** 2 / lam
    else:
        eta = positive("learning_rate", learning_rate)
        decay = np.power(1.0 - eta * lam, np.rint(t / eta)[:, None])  # whole steps: a negative base is fine
        rise = (1.0 - decay) ** 2 / lam
    decayed = decay**2 @ weights
    test = noise + signal * (max(0.0, 1.0 - a) + decayed) + noise / a * (rise @ weights)
    train = noise / a * decayed + signal * (decay**2 @ (weights * lam)) + noise * max(0.0, 1.0 - 1.0 / a)
    return train, test


# -- the simulated side --------------------------------------------------------------------------------------
def _draw(key: jax.Array, n_inputs: int, n_examples: int, noise: Any, teacher: Any, init: Any) -> dict[str, jax.Array]:
    k_teacher, k_x, k_noise, k_init = jax.random.split(key, 4)
    n = jnp.float32(n_inputs)
    noise, teacher, init = (jnp.asarray(v, jnp.float32) for v in (noise, teacher, init))
    w_star = jnp.sqrt(teacher / n) * jax.random.normal(k_teacher, (n_inputs,), jnp.float32)
    x = jax.random.normal(k_x, (n_examples, n_inputs), jnp.float32)
    y = x @ w_star + jnp.sqrt(noise) * jax.random.normal(k_noise, (n_examples,), jnp.float32)
    w0 = jnp.sqrt(init / n) * jax.random.normal(k_init, (n_inputs,), jnp.float32)
    return {"w_star": w_star, "x": x, "y": y, "w0": w0}


@functools.partial(jax.jit, static_argnames=("n_inputs", "n_examples"))
def _draw_networks(
    keys: jax.Array, noise: Any, teacher: Any, init: Any, *, n_inputs: int, n_examples: int
) -> dict[str, jax.Array]:
    return jax.vmap(lambda k: _draw(k, n_inputs, n_examples, noise, teacher, init))(keys)


@functools.partial(jax.jit, static_argnames=("n_inputs", "n_examples", "n_records", "record_every"))
def _gradient_descent(
    keys: jax.Array,
    noise: jax.Array,
    teacher: jax.Array,
    init: jax.Array,
    learning_rate: jax.Array,
    *,
    n_inputs: int,
    n_examples: int,
    n_records: int,
    record_every: int,
) -> tuple[jax.Array, jax.Array]:
    def one(key: jax.Array) -> tuple[jax.Array, jax.Array]:
        d = _draw(key, n_inputs, n_examples, noise, teacher, init)
        x, y, w_star = d["x"], d["y"], d["w_star"]
        c = x.T @ x / n_examples
        b = x.T @ y / n_examples

        def errors(w: jax.Array) -> tuple[jax.Array, jax.Array]:
            return jnp.mean((y - x @ w) ** 2), jnp.sum((w - w_star) ** 2) + noise

        def block(w: jax.Array, _: None) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
            w = jax.lax.fori_loop(0, record_every, lambda _, v: v - learning_rate * (c @ v - b), w)
            return w, errors(w)

        _, (train, test) = jax.lax.scan(block, d["w0"], None, length=n_records - 1)
        train0, test0 = errors(d["w0"])
        return jnp.concatenate([train0[None], train]), jnp.concatenate([test0[None], test])

    return jax.vmap(one)(keys)


@dataclasses.dataclass(frozen=True)
class TeacherStudentRun:
    """Errors over gradient-descent training, R records at steps 0, record_every, …, steps.

    steps `[R]` int; time `[R]` = η·steps (the flow time of `learning_curves`).
    train_error `[n_networks, R]`: (1/P)‖y − Xw‖². test_error `[n_networks, R]`: ‖w − w*‖² + σ².
    diverged `[n_networks]` bool: an error became non-finite (lower the learning rate below 2/λ_max, with
        λ_max ≈ (1 + α^{−1/2})²).
    alpha, n_inputs, n_examples, noise_variance, teacher_variance, init_variance, learning_rate: the settings.
    """

    steps: np.ndarray
    time: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    diverged: np.ndarray
    alpha: float
    n_inputs: int
    n_examples: int
    noise_variance: float
    teacher_variance: float
    init_variance: float
    learning_rate: float


def simulate(
    n_inputs: int,
    n_examples: int,
    *,
    noise_variance: float,
    learning_rate: float,
    steps: int,
    key: jax.Array,
    teacher_variance: float = 1.0,
    init_variance: float = 0.0,
    n_networks: int = 1,
    record_every: int | None = None,
) -> TeacherStudentRun:
    """Train `n_networks` linear students by full-batch gradient descent, each on its own teacher and data.

    Args:
        n_inputs: N, the number of parameters (input dimension).
        n_examples: P, training examples (α = P/N).
        noise_variance, teacher_variance, init_variance: σ², r², σ0² ≥ 0 (module docstring).
        learning_rate: η > 0, stable below 2/λ_max ≈ 2/(1 + (N/P)^{1/2})².
        steps: gradient-descent steps.
        key: JAX PRNG key (split into one per network: teacher, inputs, noise and initial weights).
        n_networks: independent repetitions, vmapped in one program.
        record_every: steps between records, dividing `steps` (default: at most 500 records).

    Returns:
        A `TeacherStudentRun`, to draw against `learning_curves(run.time, run.alpha, ...)`.

    Reference: Advani, Saxe & Sompolinsky 2020 (Neural Networks).
    """
    n = positive_int("n_inputs", n_inputs)
    p = positive_int("n_examples", n_examples)
    noise = nonnegative("noise_variance", noise_variance)
    teacher = nonnegative("teacher_variance", teacher_variance)
    init = nonnegative("init_variance", init_variance)
    eta = positive("learning_rate", learning_rate)
    steps = positive_int("steps", steps)
    every = record_interval(steps, record_every)
    keys = jax.random.split(prng_key(key), positive_int("n_networks", n_networks))
    n_records = steps // every + 1
    train, test = _gradient_descent(
        keys, jnp.float32(noise), jnp.float32(teacher), jnp.float32(init), jnp.float32(eta),
        n_inputs=n, n_examples=p, n_records=n_records, record_every=every,
    )
    train, test = np.asarray(train), np.asarray(test)
    record_steps = np.arange(n_records) * every
    return TeacherStudentRun(
        steps=record_steps, time=record_steps * eta, train_error=train, test_error=test,
        diverged=~(np.all(np.isfinite(train), axis=1) & np.all(np.isfinite(test), axis=1)),
        alpha=p / n, n_inputs=n, n_examples=p, noise_variance=noise, teacher_variance=teacher,
        init_variance=init, learning_rate=eta,
    )


@dataclasses.dataclass(frozen=True)
class MinNormSweep:
    """Errors of the minimum-norm student against the number of examples.

    alpha `[A]` = n_examples / n_inputs; n_examples `[A]`.
    train_error `[A, n_networks]`, test_error `[A, n_networks]` (as in `TeacherStudentRun`).
    n_inputs, noise_variance, teacher_variance, init_variance: the settings.
    """

    alpha: np.ndarray
    n_examples: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    n_inputs: int
    noise_variance: float
    teacher_variance: float
    init_variance: float


def min_norm_sweep(
    n_inputs: int,
    n_examples: Any,
    *,
    noise_variance: float,
    key: jax.Array,
    teacher_variance: float = 1.0,
    init_variance: float = 0.0,
    n_networks: int = 1,
) -> MinNormSweep:
    """Monte Carlo errors of the student gradient descent converges to: w = w(0) + X⁺(y − X w(0)).

    The data are drawn with JAX from `key` once, at the largest size: every smaller training set is the first
    P examples of the larger ones (the same teacher, the same initial student), so the curve against α is
    smooth within a network. The pseudo-inverse is taken on the host in float64 (NumPy's SVD), which stays
    accurate at the threshold P = N where X is nearly singular.

    Args:
        n_inputs: N.
        n_examples: training-set sizes P `[A]` (each ≥ 1).
        noise_variance, teacher_variance, init_variance: σ², r², σ0² ≥ 0.
        key: JAX PRNG key (split into one per network).
        n_networks: repetitions per size.

    Returns:
        A `MinNormSweep`, to draw against `min_norm_test_error(sweep.alpha, ...)`.

    Reference: Advani, Saxe & Sompolinsky 2020 (Neural Networks), section 3.
    """
    n = positive_int("n_inputs", n_inputs)
    sizes = [positive_int("n_examples", p) for p in np.atleast_1d(np.asarray(n_examples)).tolist()]
    noise = nonnegative("noise_variance", noise_variance)
    teacher = nonnegative("teacher_variance", teacher_variance)
    init = nonnegative("init_variance", init_variance)
    keys = jax.random.split(prng_key(key), positive_int("n_networks", n_networks))
    # One draw at the largest size; each smaller training set is its first P examples (nested data sets).
    draws = _draw_networks(keys, noise, teacher, init, n_inputs=n, n_examples=max(sizes))
    x_all, y_all, w_star, w0 = (np.asarray(draws[name], np.float64) for name in ("x", "y", "w_star", "w0"))
    train = np.empty((len(sizes), keys.shape[0]))
    test = np.empty_like(train)
    for i, p in enumerate(sizes):
        for j in range(keys.shape[0]):
            x, y = x_all[j, :p], y_all[j, :p]
            w = w0[j] + np.linalg.pinv(x) @ (y - x @ w0[j])
            train[i, j] = np.mean((y - x @ w) ** 2)
            test[i, j] = np.sum((w - w_star[j]) ** 2) + noise
    return MinNormSweep(
        alpha=np.asarray(sizes, dtype=np.float64) / n, n_examples=np.asarray(sizes), train_error=train,
        test_error=test, n_inputs=n, noise_variance=noise, teacher_variance=teacher, init_variance=init,
    )
