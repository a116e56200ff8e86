"""Functional specialization of the modules of a network for the sub-tasks of a task, by three measures that
work by different means, each normalised to [0, 1], and how well the three agree across networks.

For module m and sub-task k each measure gives a score in [0, 1] (how much module m serves sub-task k):

- `decodability`: a narrow readout (logistic or ridge regression, scikit-learn) trained on half the trials
  from module m's activity alone to sub-task k's latent variable, scored on the other half;
- `lesion_damage`: how much silencing module m (`compare.lesion.run_silenced`) costs a ridge readout of
  sub-task k trained on the intact network's activity — the loss increase as a fraction of the way to chance;
- `latent_correlation`: the mean over module m's units of their squared Pearson correlation with sub-task
  k's latent variable.

`specialization(scores)` turns the `[modules, sub-tasks]` scores of one measure into one number per module,
max − min over its sub-tasks: 1 when it fully serves one sub-task and not at all another, 0 when it serves
all alike (whether well or not at all).
`rank_agreement` is the Spearman correlation of the three measures across a population of networks.

Scores are computed on one time step of each trial (`time`, default the last), on the host for the readouts
(NumPy at the edge, as scikit-learn needs). A sweep over networks or training checkpoints calls
`specialization_measures` once per network (and checkpoint).

Reference: Béna & Goodman 2025, "Dynamics of specialization in neural modules under resource constraints",
Nat. Commun. (the three kinds of measure, and the finding that they agree qualitatively).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.compare._checks import check_finite
from dynascope.compare.lesion import run_silenced
from dynascope.errors import ConfigError, DataError, ShapeError

READOUTS = ("logistic", "ridge")
#: Ridge penalty of the lesion readout, as a fraction of the total variance of the activity it reads.
LESION_RIDGE = 0.01


class Specialization(NamedTuple):
    """The three measures of one network, each `[modules, sub-tasks]` in [0, 1], and their indices.

    decodability: `decodability` (a readout from each module alone). lesion: `lesion_damage` (the damage
    silencing each module does). correlation: `latent_correlation` (units' r² with each latent).
    """

    decodability: np.ndarray
    lesion: np.ndarray
    correlation: np.ndarray

    def index(self) -> np.ndarray:
        """`specialization` of every module by every measure, `[3, modules]` (rows in field order)."""
        return np.stack([specialization(s) for s in self])


def _checked(activity: Any, latents: Any, modules: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Host copies of `activity [B, H]`, `latents [B, K]` (a `[B]` vector becomes `[B, 1]`), `modules [H]`."""
    a, z, m = np.asarray(activity, np.float64), np.asarray(latents, np.float64), np.asarray(modules)
    if z.ndim == 1:
        z = z[:, None]
    if a.ndim != 2:
        raise ShapeError(f"activity must be [trials, units], got shape {a.shape}; take one time step, e.g. states[:, -1].")
    if z.ndim != 2 or z.shape[0] != a.shape[0]:
        raise ShapeError(f"latents must be [trials, sub-tasks] with {a.shape[0]} trials like activity, got shape {z.shape}.")
    if m.shape != (a.shape[1],):
        raise ShapeError(f"modules must hold one label per unit, shape ({a.shape[1]},), got shape {m.shape}.")
    check_finite(a, "activity")
    check_finite(z, "latents")
    return a, z, m


def _split(n: int, test_fraction: float, key: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) of a random split of n trials drawn from `key`."""
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must lie in (0, 1), got {test_fraction!r}.")
    order = np.asarray(jax.random.permutation(key, n))
    n_test = int(round(test_fraction * n))
    if n_test < 2 or n - n_test < 2:
        raise DataError(f"{n} trials split with test_fraction={test_fraction} leave fewer than 2 on a side; pass more trials.")
    return order[n_test:], order[:n_test]


def _decode(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, readout: str) -> float:
    """Held-out score in [0, 1] of one readout: chance-corrected balanced accuracy (logistic), or R² (ridge)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import balanced_accuracy_score, r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if readout == "logistic":
        classes = np.unique(y_train)
        if classes.size < 2:
            return 0.0
        fit = make_pipeline(StandardScaler(), LogisticRegression()).fit(x_train, y_train)
        acc = balanced_accuracy_score(y_test, fit.predict(x_test))
        chance = 1.0 / classes.size
        return float(np.clip((acc - chance) / (1.0 - chance), 0.0, 1.0))
    fit = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(x_train, y_train)
    if np.var(y_test) == 0:
        return 0.0
    return float(np.clip(r2_score(y_test, fit.predict(x_test)), 0.0, 1.0))


def decodability(
    activity: jax.Array | np.ndarray,
    latents: jax.Array | np.ndarray,
    modules: jax.Array | np.ndarray,
    *,
    key: jax.Array,
    readout: str = "logistic",
    test_fraction: float = 0.5,
) -> np.ndarray:
    """How well each module's activity alone predicts each sub-task's latent variable, `[modules, sub-tasks]`.

    A readout is trained from the module's units to the latent on a random part of the trials (`key`) and
    scored on the rest: 'logistic' (a categorical latent, e.g. ±1 signs) scores the balanced accuracy a,
    normalised to (a − 1/C)/(1 − 1/C) over C classes and clipped to [0, 1] (chance → 0, perfect → 1);
    'ridge' (a continuous latent) scores R², clipped to [0, 1]. Units are standardised first.

    Args:
        activity: `[trials, units]` activity at one time step.
        latents: `[trials, sub-tasks]` (or `[trials]`) latent variable of each sub-task.
        modules: `[units]` module label of each unit; rows of the result follow `np.unique(modules)`.
        key: draws the train/test split.
        readout: 'logistic' or 'ridge'.
        test_fraction: fraction of trials held out.
    """
    if readout not in READOUTS:
        raise ConfigError(f"readout must be one of {', '.join(map(repr, READOUTS))}, got {readout!r}.")
    a, z, m = _checked(activity, latents, modules)
    train, test = _split(a.shape[0], test_fraction, key)
    out = np.zeros((np.unique(m).size, z.shape[1]))
    for i, label in enumerate(np.unique(m)):
        x = a[:, m == label]
        for k in range(z.shape[1]):
            out[i, k] = _decode(x[train], z[train, k], x[test], z[test, k], readout)
    return out


def latent_correlation(
    activity: jax.Array | np.ndarray, latents: jax.Array | np.ndarray, modules: jax.Array | np.ndarray
) -> np.ndarray:
    """How strongly each module's units, one at a time, follow each sub-task's latent variable.

    The mean over each module's units of the squared Pearson correlation r² of the unit with the latent
    across trials (a unit or latent that never varies: r = 0). No readout is fitted.

    Args:
        activity: `[trials, units]` activity at one time step.
        latents: `[trials, sub-tasks]` (or `[trials]`) latent variable of each sub-task.
        modules: `[units]` module label of each unit; rows of the result follow `np.unique(modules)`.

    Returns:
        `np.ndarray [modules, sub-tasks]` in [0, 1].

    Raises:
        ShapeError: `activity`, `latents` or `modules` of the wrong shape or disagreeing in trials/units.
    """
    a, z, m = _checked(activity, latents, modules)
    ac, zc = a - a.mean(axis=0), z - z.mean(axis=0)
    sa, sz = np.sqrt((ac**2).sum(axis=0)), np.sqrt((zc**2).sum(axis=0))
    denom = np.outer(sa, sz)
    r = np.divide(ac.T @ zc, denom, out=np.zeros_like(denom), where=denom > 0)  # [units, sub-tasks]
    return np.stack([np.mean(r[m == label] ** 2, axis=0) for label in np.unique(m)])


@functools.lru_cache(maxsize=32)
def _activity_at(model: Any, time: int) -> Any:
    """Compiled (params, inputs `[B, T, I]`, silenced `[H]`) -> activity `[B, H]` at step `time`, one per model:
    the intact run is the lesioned run with nothing silenced, so measuring all three compiles it once."""
    return jax.jit(lambda p, x, s: model.activity(run_silenced(model, p, x, s)[0][:, time]))


def lesion_damage(
    model: Any,
    params: dict[str, jax.Array],
    inputs: jax.Array,
    latents: jax.Array | np.ndarray,
    modules: jax.Array | np.ndarray,
    *,
    key: jax.Array,
    time: int = -1,
    test_fraction: float = 0.5,
) -> np.ndarray:
    """How much silencing each module costs a readout of each sub-task, `[modules, sub-tasks]` in [0, 1].

    For sub-task k a ridge readout is trained on part of the trials (`key`) from the intact network's activity
    to the latent (penalty `LESION_RIDGE` × the activity's total variance over the training trials), then
    frozen. On the held-out trials its mean squared error is
    L₀ intact, L_m with module m silenced (`run_silenced`) and L_c for the best constant (the training
    mean: chance). The damage is (L_m − L₀)/(L_c − L₀), clipped to [0, 1]: 0 when the lesion costs nothing,
    1 when it brings the readout to chance or worse; 0 when the intact readout is no better than chance.

    Args:
        model, params: the network (a model of the zoo whose state is made of `[H]` blocks).
        inputs: `[trials, time, inputs]` the trials to run.
        latents: `[trials, sub-tasks]` (or `[trials]`) latent variable of each sub-task.
        modules: `[units]` module label of each unit; rows follow `np.unique(modules)`.
        key: draws the train/test split.
        time: the time step whose activity is read out (default the last).
        test_fraction: fraction of trials held out.
    """
    from sklearn.linear_model import Ridge

    inputs = jnp.asarray(inputs)
    run = _activity_at(model, time)
    intact = run(params, inputs, jnp.zeros(model.n_hidden, bool))
    a, z, m = _checked(intact, latents, modules)
    train, test = _split(a.shape[0], test_fraction, key)
    labels = np.unique(m)
    lesioned = [np.asarray(run(params, inputs, jnp.asarray(m == label)), np.float64) for label in labels]
    out = np.zeros((labels.size, z.shape[1]))
    # A penalty of LESION_RIDGE × the training activity's total variance keeps the readout on the activity's
    # large (signal) directions; a barely penalised fit leans on cancelling weights in low-variance directions,
    # which any lesion unbalances whatever it removes (a random half of an unstructured network then looks
    # specialised).
    centred = a[train] - a[train].mean(axis=0)
    alpha = max(LESION_RIDGE * float(np.sum(centred**2)), 1e-12)
    for k in range(z.shape[1]):
        fit = Ridge(alpha=alpha).fit(a[train], z[train, k])
        y = z[test, k]
        loss0 = np.mean((fit.predict(a[test]) - y) ** 2)
        chance = np.mean((z[train, k].mean() - y) ** 2)
        if chance - loss0 <= 0:
            continue
        for i, act in enumerate(lesioned):
            loss = np.mean((fit.predict(act[test]) - y) ** 2)
            out[i, k] = np.clip((loss - loss0) / (chance - loss0), 0.0, 1.0)
    return out


def specialization(scores: np.ndarray) -> np.ndarray:
    """Specialization of each module `[modules]` in [0, 1] from one measure's `[modules, sub-tasks]` scores in
    [0, 1]: max − min over the sub-tasks (for two, |s₀ − s₁|).

    A difference rather than a ratio (|s₀ − s₁|/(s₀ + s₁)): a module that serves neither sub-task much would
    have its ratio set by the estimation noise of two small scores.
    """
    s = np.asarray(scores, np.float64)
    if s.ndim != 2 or s.shape[1] < 2:
        raise ShapeError(f"scores must be [modules, sub-tasks] with at least 2 sub-tasks, got shape {s.shape}.")
    return s.max(axis=1) - s.min(axis=1)


def specialization_measures(
    model: Any,
    params: dict[str, jax.Array],
    inputs: jax.Array,
    latents: jax.Array | np.ndarray,
    modules: jax.Array | np.ndarray,
    *,
    key: jax.Array,
    time: int = -1,
    readout: str = "logistic",
) -> Specialization:
    """The three measures of one network on one batch of trials (see the module docstring).

    Args:
        model: the network's model.
        params: the network's parameters (one network, no leading network axis).
        inputs: `[trials, time, inputs]`, e.g. `task.sample(k, n).inputs`.
        latents: `[trials, sub-tasks]`, e.g. `task.latents(k, n)`.
        modules: `[units]` module label of each unit, e.g. `model.modules`.
        key: JAX PRNG key (keyword-only), split between the decoders' train/test split and the lesion
            measure.
        time: the time step read out (default: the last).
        readout: 'logistic' (categorical latents) or 'ridge' (continuous), as in `decodability`.

    Returns:
        `Specialization(decodability, lesion, correlation)`, each `[modules, sub-tasks]` in [0, 1].

    Raises:
        ConfigError: an unknown `readout`; ShapeError/DataError: as `decodability` and `lesion_damage`.
    """
    k_dec, k_les = jax.random.split(key)
    activity = _activity_at(model, time)(params, jnp.asarray(inputs), jnp.zeros(model.n_hidden, bool))
    return Specialization(
        decodability=decodability(activity, latents, modules, key=k_dec, readout=readout),
        lesion=lesion_damage(model, params, inputs, latents, modules, key=k_les, time=time),
        correlation=latent_correlation(activity, latents, modules),
    )


def rank_agreement(measures: np.ndarray) -> np.ndarray:
    """Spearman rank correlation `[n_measures, n_measures]` between measures across networks.

    Args:
        measures: `[n_networks, n_measures]`, e.g. each network's mean specialization by each of the three
            measures (`Specialization.index().mean(axis=1)`).

    Reference: Spearman 1904; computed by `scipy.stats.spearmanr`.
    """
    from scipy.stats import spearmanr

    x = np.asarray(measures, np.float64)
    if x.ndim != 2 or x.shape[0] < 3 or x.shape[1] < 2:
        raise ShapeError(f"measures must be [n_networks >= 3, n_measures >= 2], got shape {x.shape}.")
    check_finite(x, "measures")
    constant = [j for j in range(x.shape[1]) if np.all(x[:, j] == x[0, j])]
    if constant:
        raise DataError(
            f"measures column(s) {constant} hold the same value for every network, so their rank agreement is "
            "undefined; compare networks that differ in that measure, or leave the column out."
        )
    rho = spearmanr(x).statistic
    return np.asarray(rho if np.ndim(rho) == 2 else [[1.0, rho], [rho, 1.0]], np.float64)
