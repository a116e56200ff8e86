"""Adapter that turns a NeuroGym environment into a dynascope Task (`tasks.get("neurogym:<EnvName>")`)."""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope._registry import conform, option
from dynascope.errors import ConfigError, unknown_name
from dynascope.tasks._base import Task, Trials

#: Options the adapter itself takes; every other option of `from_env_name` goes to the environment.
ADAPTER_OPTIONS = ("n_time", "dt", "pool_size", "seed", "score_period")


#: How to install NeuroGym without downgrading numpy and matplotlib (its releases pin them exactly).
INSTALL = "pip install 'dynascope[neurogym]' && pip install --no-deps 'neurogym==2.3.1'"


@dataclasses.dataclass(frozen=True)
class _Pool:
    """Trials drawn once from the environment, padded to `n_time`: arrays `[P, n_time, ·]` float32."""

    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    analysis_inputs: np.ndarray
    discrete: bool
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class NeuroGymTask(Task):
    """A NeuroGym trial environment (Molano-Mazón et al. 2022) as a supervised dynascope task.

    `env_name`: the environment's registered name (e.g. "DelayMatchSample-v0"); `env_kwargs`: the
    keyword arguments its constructor got (but `dt`), as sorted (name, value) pairs. Build it with
    `from_env_name`.

    NeuroGym environments are NumPy generators, so `sample` cannot run them inside JAX. Instead a
    pool of `pool_size` trials is drawn once, when the task is built, from the environment seeded
    with `seed` (`env.seed(seed)` then `env.new_trial()`, reading `env.ob [T_i, I]` and
    `env.gt [T_i]`); `sample(key, B)` picks B of them uniformly with replacement using `key`, in pure
    JAX (jit-able, and the same key gives the same trials).
    Conversion: `ob` becomes the inputs; an integer `gt` (discrete action space with n actions)
    becomes one-hot targets with O = n (action 0 is usually "fixate"); a vector `gt` (Box action
    space) is the target as is. Trials are zero-padded to `n_time` (default: the longest trial in
    the pool) and padding is never scored. `score_period` says which steps are scored: "auto"
    (the environment's "decision" period if it has one, else every step), "all", or the name of a
    period. `metric`: for discrete actions, the fraction of scored steps whose largest output is the
    target action; otherwise 1 − MSE / target variance.
    `analysis_inputs`: zero input, plus the mean fixation-period input when the environment has a
    "fixation" period.
    Reference: Molano-Mazón, Barbosa, Pastor-Ciurana, Fradera, Zhang, Thomas, Yang & others 2022,
    "NeuroGym: An open resource for developing and sharing neuroscience tasks", PsyArXiv.
    """

    env_name: str = ""
    n_time: int = 0
    dt: float = 100.0
    pool_size: int = option(1024, gt=0)
    seed: int = option(0, ge=0, lt=2**32, doc="NeuroGym's seed")
    score_period: str = "auto"
    env_kwargs: tuple[tuple[str, Any], ...] = dataclasses.field(default=(), hash=False)
    pool: _Pool | None = dataclasses.field(default=None, compare=False, hash=False, repr=False)
    criterion = 0.9

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_env_name(cls, env_name: str, **options: Any) -> "NeuroGymTask":
        """Build the task for the NeuroGym environment registered as `env_name` (e.g. "DelayMatchSample-v0").

        `options` are the adapter's (`n_time`, `dt`, `pool_size`, `seed`, `score_period`) plus any keyword
        argument of the environment's constructor (e.g. `timing`, `cohs`, `sigma`); `dt` is passed to
        the environment too. Needs the optional `neurogym` dependency.
        """
        try:
            import gymnasium
            import neurogym  # noqa: F401  (registers its environments with gymnasium)
            from gymnasium.envs.registration import load_env_creator
        except ImportError as err:
            raise ConfigError(
                f"task 'neurogym:{env_name}' needs NeuroGym, which is not installed ({err}); install it without "
                "the exact numpy and matplotlib versions it pins, which would downgrade yours: "
                f"{INSTALL}."
            ) from None
        known = sorted(
            k for k, spec in gymnasium.envs.registry.items()
            if isinstance(spec.entry_point, str) and spec.entry_point.startswith("neurogym.")
        )
        if env_name not in known:
            raise unknown_name("NeuroGym environment", env_name, known)
        creator = load_env_creator(gymnasium.envs.registry[env_name].entry_point)
        env_options = {k: v for k, v in options.items() if k not in ADAPTER_OPTIONS}
        _check_env_options(env_name, creator, env_options)
        if "dt" in options:
            conform(f"task 'neurogym:{env_name}'", cls, {"dt": options["dt"]})
            env_options["dt"] = options["dt"]
        try:
            env = creator(**env_options)
        except TypeError as err:
            raise ConfigError(f"NeuroGym environment {env_name!r} could not be built with {env_options!r}: {err}.") from None
        adapter = {k: v for k, v in options.items() if k in ADAPTER_OPTIONS and k != "dt"}
        env_kwargs = tuple(sorted((k, v) for k, v in env_options.items() if k != "dt"))
        return cls.from_env(env, env_name=env_name, env_kwargs=env_kwargs, **adapter)

    @classmethod
    def from_env(
        cls,
        env: Any,
        *,
        env_name: str = "custom",
        n_time: int | None = None,
        pool_size: int = 1024,
        seed: int = 0,
        score_period: str = "auto",
        env_kwargs: tuple[tuple[str, Any], ...] = (),
    ) -> "NeuroGymTask":
        """Wrap an already-built NeuroGym `TrialEnv` (anything with `seed`, `new_trial`, `ob`, `gt`,
        `start_ind`, `end_ind`, `dt`, `action_space`); see the class docstring for the conversion."""
        given = {"pool_size": pool_size, "seed": seed, "score_period": score_period}
        checked = conform(f"task 'neurogym:{env_name}'", cls, given | ({} if n_time is None else {"n_time": n_time}))
        pool_size, seed, score_period = checked["pool_size"], checked["seed"], checked["score_period"]
        n_time = checked.get("n_time")
        obs, gts, scored, fixation = _draw(env, env_name, pool_size, seed, score_period)
        longest = max(len(o) for o in obs)
        if n_time is None:
            n_time = longest
        elif n_time < longest:
            raise ConfigError(
                f"n_time={n_time} steps is shorter than the longest of the {pool_size} pooled trials of "
                f"{env_name!r} ({longest} steps at dt={env.dt} ms); pass n_time >= {longest} or omit it."
            )
        pool = _pad(env, obs, gts, scored, fixation, n_time)
        task = cls(
            env_name=env_name, n_time=n_time, dt=float(env.dt), pool_size=pool_size, seed=seed,
            score_period=score_period, env_kwargs=env_kwargs, pool=pool,
        )
        task.validate()
        return task

    # -- the contract ----------------------------------------------------------------------------
    @property
    def name(self) -> str:  # type: ignore[override]
        return f"neurogym:{self.env_name}"

    @property
    def input_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return self._pool().input_names

    @property
    def output_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return self._pool().output_names

    @property
    def n_inputs(self) -> int:
        return int(self._pool().inputs.shape[-1])

    @property
    def n_outputs(self) -> int:
        return int(self._pool().targets.shape[-1])

    def _pool(self) -> _Pool:
        if self.pool is None:
            raise ConfigError("NeuroGymTask has no trial pool; build it with tasks.get('neurogym:<EnvName>').")
        return self.pool

    def options(self) -> dict[str, Any]:
        """Options that rebuild this task with `tasks.get(self.name, **options)`."""
        out = {k: getattr(self, k) for k in ADAPTER_OPTIONS}
        out.update(dict(self.env_kwargs))
        return out

    def validate(self) -> None:
        # The options were checked by `from_env`; what is left relates them to the pool it drew.
        pool = self._pool()
        if pool.inputs.shape[:2] != (self.pool_size, self.n_time):
            raise ConfigError(
                f"the trial pool has shape {pool.inputs.shape[:2]}, expected (pool_size, n_time) = "
                f"({self.pool_size}, {self.n_time}); build the task with tasks.get('neurogym:<EnvName>')."
            )

    def sample(self, key: jax.Array, batch_size: int) -> Trials:
        pool = self._pool()
        idx = jax.random.randint(key, (batch_size,), 0, self.pool_size)
        return Trials(jnp.asarray(pool.inputs)[idx], jnp.asarray(pool.targets)[idx], jnp.asarray(pool.mask)[idx])

    def analysis_inputs(self) -> jax.Array:
        return jnp.asarray(self._pool().analysis_inputs)

    def metric(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        """Discrete actions: fraction of scored steps whose argmax output is the target action, `[B]`."""
        if not self._pool().discrete:
            return super().metric(outputs, trials)
        scored = trials.mask[..., 0] > 0
        hit = scored & (jnp.argmax(outputs, axis=-1) == jnp.argmax(trials.targets, axis=-1))
        return (hit.sum(axis=1) / jnp.maximum(scored.sum(axis=1), 1)).astype(jnp.float32)


def _check_env_options(env_name: str, creator: Any, env_options: dict[str, Any]) -> None:
    """Raise ConfigError for an option that neither the adapter nor the environment's constructor takes."""
    init = creator.__init__ if inspect.isclass(creator) else creator
    params = inspect.signature(init).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = sorted(k for k in params if k not in ("self", "dt"))
    bad = sorted(set(env_options) - set(accepted))
    if bad:
        raise ConfigError(
            f"task 'neurogym:{env_name}' has no option {', '.join(map(repr, bad))}; adapter options: "
            f"{', '.join(ADAPTER_OPTIONS)}; environment options: {', '.join(accepted) or '(none)'}."
        )


def _draw(
    env: Any, env_name: str, pool_size: int, seed: int, score_period: str
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Draw `pool_size` trials: per trial ob `[T_i, I]`, gt `[T_i]` or `[T_i, A]`, scored steps `[T_i]` bool,
    and the fixation-period observations `[F_i, I]` (empty without a fixation period)."""
    with warnings.catch_warnings():
        # NeuroGym's collection envs (yang19.*) reach `seed` through a gymnasium wrapper attribute lookup
        # that gymnasium 0.29 flags as deprecated; the call still seeds the wrapped envs.
        warnings.filterwarnings("ignore", message=r".*to get variables from other wrappers is deprecated")
        env.seed(seed)
    obs, gts, scored, fixation = [], [], [], []
    for _ in range(pool_size):
        env.new_trial()
        ob = np.asarray(env.ob, np.float32)
        gt = np.asarray(getattr(env, "gt", np.zeros(0)))
        if ob.ndim != 2 or gt.shape[:1] != ob.shape[:1]:
            raise ConfigError(
                f"NeuroGym environment {env_name!r} gives observations of shape {ob.shape} and ground truth "
                f"of shape {gt.shape}; dynascope needs a supervised env with ob [T, I] and gt [T] or [T, A]."
            )
        periods = dict(env.start_ind)
        if score_period == "all" or (score_period == "auto" and "decision" not in periods):
            hit = np.ones(len(ob), bool)
        else:
            period = "decision" if score_period == "auto" else score_period
            if period not in periods:
                raise ConfigError(
                    f"score_period={score_period!r}: NeuroGym environment {env_name!r} has no period "
                    f"{period!r}; its periods are {', '.join(periods)}; pass one of them, 'all' or 'auto'."
                )
            hit = np.zeros(len(ob), bool)
            hit[env.start_ind[period] : env.end_ind[period]] = True
        obs.append(ob)
        gts.append(gt)
        scored.append(hit)
        fix = (env.start_ind["fixation"], env.end_ind["fixation"]) if "fixation" in periods else (0, 0)
        fixation.append(ob[fix[0] : fix[1]])
    return obs, gts, scored, fixation


def _pad(
    env: Any,
    obs: list[np.ndarray],
    gts: list[np.ndarray],
    scored: list[np.ndarray],
    fixation: list[np.ndarray],
    n_time: int,
) -> _Pool:
    """Stack the drawn trials into zero-padded `[P, n_time, ·]` float32 arrays (padding is not scored)."""
    n_actions = getattr(env.action_space, "n", None)
    discrete = n_actions is not None and gts[0].ndim == 1
    n_in = obs[0].shape[1]
    n_out = int(n_actions) if discrete else int(gts[0].reshape(len(gts[0]), -1).shape[1])
    inputs = np.zeros((len(obs), n_time, n_in), np.float32)
    targets = np.zeros((len(obs), n_time, n_out), np.float32)
    mask = np.zeros((len(obs), n_time, n_out), np.float32)
    for i, (ob, gt, hit) in enumerate(zip(obs, gts, scored)):
        t = len(ob)
        inputs[i, :t] = ob
        targets[i, :t] = np.eye(n_out, dtype=np.float32)[gt.astype(int)] if discrete else gt.reshape(t, -1)
        mask[i, :t] = hit[:, None]
    rows = [np.zeros(n_in, np.float32)]
    fixation_steps = np.concatenate(fixation, axis=0)
    if len(fixation_steps):
        rows.append(fixation_steps.mean(axis=0))
    return _Pool(
        inputs, targets, mask, np.stack(rows).astype(np.float32), discrete,
        _space_names(env.observation_space, n_in, "input"), _space_names(env.action_space, n_out, "output"),
    )


def _space_names(space: Any, n: int, kind: str) -> tuple[str, ...]:
    """Channel names from a NeuroGym space's `name` dict ({"fixation": 0, "stimulus": [1, 2]})."""
    names = [f"{kind} {i}" for i in range(n)]
    for label, where in (getattr(space, "name", None) or {}).items():
        if isinstance(where, (int, np.integer)):
            idx = [int(where)]
        elif isinstance(where, (list, tuple, range, np.ndarray)):
            idx = [int(i) for i in np.ravel(where)]
        else:
            idx = []
        for j, i in enumerate(idx):
            if 0 <= int(i) < n:
                names[int(i)] = label if len(idx) == 1 else f"{label} {j + 1}"
    return tuple(names)
