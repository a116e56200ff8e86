"""A ground-truth system: a continuous-time flow with a known mechanism, the inputs and conditions of its
trials, and its skeleton written in closed form. One engine (`GroundTruthSystem.simulate`) integrates every
system the same way, so a new system is a flow, a trial design and a skeleton — nothing else."""

from __future__ import annotations

import abc
import dataclasses
import functools
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from dynascope._registry import option
from dynascope.errors import ShapeError


@dataclasses.dataclass(frozen=True)
class Skeleton:
    """The known fixed-point structure of a system's flow under zero input, and its limit cycle if it has one.

    `fixed_points [K, d]`: fixed points (for a continuum, such as a line attractor, K samples of it);
    `n_unstable [K]`: eigenvalues of the flow's Jacobian there with positive real part (the stability index);
    `n_marginal [K]`: eigenvalues with zero real part (1 along a line attractor); `period`: the limit cycle's
    period in seconds, None when there is no cycle.
    """

    fixed_points: np.ndarray
    n_unstable: np.ndarray
    n_marginal: np.ndarray
    period: float | None = None

    @property
    def is_stable(self) -> np.ndarray:
        """`[K]` bool: no unstable and no marginal direction (an attractor point)."""
        return (self.n_unstable == 0) & (self.n_marginal == 0)


@dataclasses.dataclass(frozen=True)
class Latents:
    """Simulated trials of a ground-truth system.

    `states [trials, T, d]`: the latent state at the end of each bin; `inputs [trials, T, I]`: the input held
    during each bin; `conditions`: per-trial columns `{name: [trials]}`, always with `"condition"`, the label
    that trials are averaged by; `dt`: seconds per bin.
    """

    states: jax.Array
    inputs: jax.Array
    conditions: dict[str, np.ndarray]
    dt: float


@dataclasses.dataclass(frozen=True)
class GroundTruthSystem(abc.ABC):
    """Base of every ground-truth system: a frozen dataclass of options, registered by name.

    A subclass gives `n_latents`, `n_inputs`, `flow` (the vector field, per second), `design` (inputs,
    initial states and conditions of a batch of trials) and `skeleton`. `simulate` integrates the flow with
    `substeps` classical Runge-Kutta steps per bin, the input held constant over the bin, then adds
    Euler-Maruyama diffusion of `noise` (latent units per square-root second).
    """

    name: ClassVar[str]
    n_time: int = option(100, gt=0, doc="bins per trial")
    dt: float = option(0.01, gt=0, doc="seconds per bin")
    noise: float = option(0.0, ge=0, doc="latent diffusion per square-root second")
    substeps: int = option(4, gt=0, doc="Runge-Kutta steps per bin")

    @property
    @abc.abstractmethod
    def n_latents(self) -> int:
        """d, the dimension of the latent state."""

    @property
    @abc.abstractmethod
    def n_inputs(self) -> int:
        """I, the number of input channels (0 for an autonomous system)."""

    @abc.abstractmethod
    def flow(self, state: jax.Array, inputs: jax.Array) -> jax.Array:
        """dx/dt `[d]` at `state [d]` under `inputs [I]`, per second."""

    @abc.abstractmethod
    def design(self, rng: np.random.Generator, n_trials: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(`inputs [n_trials, T, I]`, `initial_states [n_trials, d]`, `conditions {name: [n_trials]}` with a
        `"condition"` label column) for `n_trials` trials, drawn from `rng` (seeded from `simulate`'s key)."""

    @abc.abstractmethod
    def skeleton(self) -> Skeleton:
        """The closed-form skeleton of the flow under zero input."""

    def validate(self) -> None:
        """Rules that relate several options; raise ConfigError. Nothing by default."""

    def options(self) -> dict[str, Any]:
        """The option values of this system, {field: value}."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def simulate(self, *, key: jax.Array, n_trials: int) -> Latents:
        """Latent trajectories of `n_trials` trials (`Latents.states [n_trials, n_time, n_latents]`).

        The trial design is drawn on the host (`host_generator(key)`), the diffusion inside the compiled
        integration from `key`; same key, same trials.
        """
        inputs, x0, conditions = self.design(host_generator(key), n_trials)
        _check_design(self, n_trials, inputs, x0, conditions)
        inputs = jnp.asarray(inputs, jnp.float32)
        states = _integrate(self, inputs, jnp.asarray(x0, jnp.float32), key)
        return Latents(states, inputs, conditions, self.dt)


def _check_design(system: GroundTruthSystem, n_trials: int, inputs: Any, x0: Any, conditions: Any) -> None:
    # A system written by a user is checked where its design first meets the engine, naming what is off.
    owner = f"system {getattr(system, 'name', type(system).__name__)!r}: design"
    want = {"inputs": (n_trials, system.n_time, system.n_inputs), "initial_states": (n_trials, system.n_latents)}
    for what, got in (("inputs", np.shape(inputs)), ("initial_states", np.shape(x0))):
        if got != want[what]:
            raise ShapeError(f"{owner} returned {what} of shape {got}, expected {want[what]} "
                             "(n_trials, n_time, n_inputs) / (n_trials, n_latents); fix the system's design.")
    if not isinstance(conditions, dict) or "condition" not in conditions:
        raise ShapeError(f"{owner} returned no 'condition' column; return {{'condition': labels [n_trials], ...}}.")
    for column, values in conditions.items():
        if np.shape(values) != (n_trials,):
            raise ShapeError(f"{owner} returned condition column {column!r} of shape {np.shape(values)}, "
                             f"expected ({n_trials},), one value per trial.")


def host_generator(key: jax.Array) -> np.random.Generator:
    """A NumPy generator whose stream is fixed by the JAX `key` (seeded with the key's bits).

    For draws made once on the host on arrays whose shapes change from call to call (trial designs, spikes):
    each eager `jax.random` call compiles for every new shape, which costs far more than the draw.
    """
    return np.random.default_rng(np.asarray(jax.random.key_data(key)).reshape(-1).tolist())


def rk4_step(flow: Any, x: jax.Array, u: jax.Array, h: float) -> jax.Array:
    """One classical Runge-Kutta step of dx/dt = flow(x, u), `u` held constant over the step.

    Args:
        flow: vector field `flow(x, u) -> dx/dt`, the shape of `x`.
        x: state `[d]` (or any shape `flow` accepts).
        u: input, held constant over the step.
        h: step size, in the time unit of `flow`.

    Returns:
        The state after the step, the shape of `x`.
    """
    k1 = flow(x, u)
    k2 = flow(x + 0.5 * h * k1, u)
    k3 = flow(x + 0.5 * h * k2, u)
    k4 = flow(x + h * k3, u)
    return x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


@functools.partial(jax.jit, static_argnums=0)
def _integrate(system: GroundTruthSystem, inputs: jax.Array, x0: jax.Array, key: jax.Array) -> jax.Array:
    flow = jax.vmap(system.flow)
    h = system.dt / system.substeps
    noise_key = jax.random.fold_in(key, 1)  # not the design's stream
    kicks = jax.random.normal(noise_key, (inputs.shape[1], *x0.shape), x0.dtype) * (system.noise * system.dt**0.5)

    def bin_step(x: jax.Array, drive: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        u, kick = drive
        x = jax.lax.fori_loop(0, system.substeps, lambda _, y: rk4_step(flow, y, u, h), x)
        x = x + kick
        return x, x

    _, states = jax.lax.scan(bin_step, x0, (jnp.swapaxes(inputs, 0, 1), kicks))
    return jnp.swapaxes(states, 0, 1)
