"""A limit-cycle generator: the Hopf normal form, whose cycle radius and period are known in closed form."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from dynascope._registry import option
from dynascope.data._base import GroundTruthSystem, Skeleton
from dynascope.data._registry import register_system


@register_system("oscillator")
@dataclasses.dataclass(frozen=True)
class HopfOscillator(GroundTruthSystem):
    """The supercritical Hopf normal form: dr/dt = r (mu - r^2), dtheta/dt = omega (in Cartesian coordinates).

    Every trajectory but the origin's winds onto the circle r = sqrt(mu) at angular speed omega, so the limit
    cycle has period 2 pi / omega; the origin is the one fixed point, unstable in both directions (eigenvalues
    mu ± i omega). Trial: starts at one of `n_phases` evenly spaced angles (the condition, dealt out in
    turn) at radius sqrt(mu) * (1 + `radius_jitter` * U(-1, 1)). Reference: Strogatz, "Nonlinear Dynamics and
    Chaos", section 8.2.
    """

    mu: float = option(1.0, gt=0, doc="squared radius of the cycle")
    frequency: float = option(2.0, gt=0, doc="cycles per second (omega / 2 pi)")
    n_phases: int = option(8, gt=0, doc="starting angles, one condition each")
    radius_jitter: float = option(0.2, ge=0, lt=1, doc="relative spread of the starting radius")

    @property
    def n_latents(self) -> int:
        return 2

    @property
    def n_inputs(self) -> int:
        return 0

    @property
    def omega(self) -> float:
        return 2.0 * math.pi * self.frequency

    def flow(self, state: jax.Array, inputs: jax.Array) -> jax.Array:
        x, y = state[0], state[1]
        r2 = x * x + y * y
        return jnp.stack([(self.mu - r2) * x - self.omega * y, self.omega * x + (self.mu - r2) * y])

    def design(self, rng: np.random.Generator, n_trials: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        which = rng.permutation(np.arange(n_trials) % self.n_phases)
        angle = 2.0 * np.pi * which / self.n_phases
        radius = math.sqrt(self.mu) * (1.0 + self.radius_jitter * rng.uniform(-1.0, 1.0, n_trials))
        x0 = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
        conditions = {"condition": np.array([f"phase{k}" for k in which]), "start_angle": angle}
        return np.zeros((n_trials, self.n_time, 0), np.float32), x0.astype(np.float32), conditions

    def skeleton(self) -> Skeleton:
        return Skeleton(np.zeros((1, 2)), np.array([2]), np.array([0]), 2.0 * math.pi / self.omega)
