"""A k-bit flip-flop written in closed form: k decoupled bistable units, so its 2^k attractors are known."""

from __future__ import annotations

import dataclasses
import itertools
import math

import jax
import numpy as np
from scipy.integrate import quad

from dynascope._registry import option
from dynascope.data._base import GroundTruthSystem, Skeleton
from dynascope.data._registry import register_system
from dynascope.errors import ConfigError

#: The smallest pulse amplitude that removes the opposite well of x - x^3 + A (a saddle-node at 2/(3*sqrt 3)).
FLIP_THRESHOLD = 2.0 / (3.0 * math.sqrt(3.0))


def pattern_label(signs: np.ndarray) -> str:
    """'+-+' for the bit signs (+1, -1, +1)."""
    return "".join("+" if s > 0 else "-" for s in signs)


@register_system("flipflop")
@dataclasses.dataclass(frozen=True)
class BistableFlipFlop(GroundTruthSystem):
    """k independent memory bits: tau * dx_i/dt = x_i - x_i^3 + amplitude * u_i.

    Under zero input each bit has stable points at ±1 and an unstable one at 0 (slopes -2/tau and +1/tau), so
    the flow has 3^k fixed points: the 2^k corners (stable) and, for a point with m zero coordinates, m
    unstable directions (k = 3: 8 stable, 12 with one, 6 with two, 1 with three — the cube a trained 3-bit
    flip-flop network shows). Trial: every bit is set by a pulse of `pulse_steps` bins at t = 0 (a start
    pattern), and with `switch` a second pulse on every bit at the middle bin sets a second pattern; the
    condition is 'start>end' ('+-+>--+'), 4^k conditions (2^k without `switch`), dealt out in turn so
    they are balanced. `n_bits`: the number of bits k. Reference: Sussillo & Barak 2013, "Opening the black
    box", Neural Comput.
    """

    n_bits: int = option(3, gt=0)
    tau: float = option(0.05, gt=0, doc="time constant in seconds")
    amplitude: float = option(2.0, gt=FLIP_THRESHOLD, doc="pulse strength")
    pulse_steps: int = option(5, gt=0, doc="bins a pulse lasts")
    switch: bool = True

    @property
    def n_latents(self) -> int:
        return self.n_bits

    @property
    def n_inputs(self) -> int:
        return self.n_bits

    def flip_time(self) -> float:
        """Seconds a pulse needs to carry a bit from -1 across 0 (tau * integral of dx / (x - x^3 + A))."""
        value, _ = quad(lambda x: 1.0 / (x - x**3 + self.amplitude), -1.0, 0.0)
        return self.tau * value

    def validate(self) -> None:
        needed = self.flip_time()
        if self.pulse_steps * self.dt < 1.2 * needed:
            steps = math.ceil(1.2 * needed / self.dt)
            raise ConfigError(
                f"system 'flipflop': a pulse of pulse_steps={self.pulse_steps} bins ({self.pulse_steps * self.dt:.3g} s) "
                f"is too short to flip a bit (it needs {needed:.3g} s with amplitude={self.amplitude}, "
                f"tau={self.tau}); use pulse_steps >= {steps} or a larger amplitude.")
        last = self.n_time // 2 if self.switch else 0
        if last + self.pulse_steps >= self.n_time:
            raise ConfigError(f"system 'flipflop': n_time={self.n_time} bins leave no time after the "
                              f"{'second ' if self.switch else ''}pulse of {self.pulse_steps} bins; "
                              f"use n_time >= {2 * (last + self.pulse_steps) + 2}.")

    def flow(self, state: jax.Array, inputs: jax.Array) -> jax.Array:
        return (state - state**3 + self.amplitude * inputs) / self.tau

    def design(self, rng: np.random.Generator, n_trials: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        k = self.n_bits
        corners = np.array(list(itertools.product((-1.0, 1.0), repeat=k)))  # [2^k, k]
        n_end = len(corners) if self.switch else 1
        # Balanced conditions: trial b gets condition b mod n_conditions, in a random order.
        n_conditions = len(corners) * n_end
        which = rng.permutation(np.arange(n_trials) % n_conditions)
        start = corners[which // n_end]
        end = corners[which % n_end] if self.switch else start
        pulses = np.zeros((n_trials, self.n_time, k), np.float32)
        pulses[:, : self.pulse_steps] = start[:, None, :]
        if self.switch:
            mid = self.n_time // 2
            pulses[:, mid : mid + self.pulse_steps] = end[:, None, :]
        labels = [pattern_label(a) for a in start]
        ends = [pattern_label(b) for b in end]
        conditions = {
            "condition": np.array([f"{a}>{b}" if self.switch else a for a, b in zip(labels, ends)]),
            "start_pattern": np.array(labels),
            "end_pattern": np.array(ends),
        }
        return pulses, np.zeros((n_trials, k), np.float32), conditions

    def skeleton(self) -> Skeleton:
        points = np.array(list(itertools.product((-1.0, 0.0, 1.0), repeat=self.n_bits)))
        n_unstable = (points == 0).sum(axis=1)  # slope +1/tau at 0, -2/tau at ±1, per decoupled bit
        return Skeleton(points, n_unstable, np.zeros(len(points), np.int64), None)
