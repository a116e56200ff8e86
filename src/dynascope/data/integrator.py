"""A line attractor: perfect integration of a noisy evidence stream, the mechanism of perceptual decisions."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from dynascope._registry import option
from dynascope.data._base import GroundTruthSystem, Skeleton
from dynascope.data._registry import register_system


@register_system("integrator")
@dataclasses.dataclass(frozen=True)
class LineAttractor(GroundTruthSystem):
    """Evidence accumulation on a line attractor: dx/dt = u, dy/dt = (u - y) / tau.

    x integrates the input stream u exactly (the line attractor: every point with y = 0 is fixed under zero
    input, with one zero eigenvalue along the line and -1/tau across it); y follows the momentary evidence,
    so the population also carries the input. Each trial draws a coherence from `coherences` (dealt out in
    turn, balanced) and streams u = coherence + `input_noise` * N(0, 1) per bin; the condition is the
    coherence. The skeleton samples the line at `n_line_points` points over the range the mean trials reach.
    Reference: Mante, Sussillo, Shenoy & Newsome 2013, Nature (context-dependent integration).
    """

    coherences: tuple[float, ...] = option((-2.0, -1.0, 0.0, 1.0, 2.0), nonempty=True, doc="mean evidence per second")
    input_noise: float = option(1.0, ge=0, doc="std of the evidence per bin")
    tau: float = option(0.1, gt=0, doc="time constant of the momentary-evidence axis, seconds")
    n_line_points: int = option(11, ge=2, doc="samples of the line in the skeleton")

    @property
    def n_latents(self) -> int:
        return 2

    @property
    def n_inputs(self) -> int:
        return 1

    def flow(self, state: jax.Array, inputs: jax.Array) -> jax.Array:
        u = inputs[0]
        return jnp.stack([u, (u - state[1]) / self.tau])

    def design(self, rng: np.random.Generator, n_trials: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        coherences = np.asarray(self.coherences, np.float64)
        coh = coherences[rng.permutation(np.arange(n_trials) % len(coherences))]
        inputs = coh[:, None, None] + self.input_noise * rng.standard_normal((n_trials, self.n_time, 1))
        conditions = {"condition": np.array([f"{c:+g}" for c in coh]), "coherence": coh}
        return inputs.astype(np.float32), np.zeros((n_trials, 2), np.float32), conditions

    def skeleton(self) -> Skeleton:
        reach = max(abs(c) for c in self.coherences) * self.n_time * self.dt or 1.0
        line = np.linspace(-reach, reach, self.n_line_points)
        points = np.stack([line, np.zeros_like(line)], axis=1)
        k = len(points)
        return Skeleton(points, np.zeros(k, np.int64), np.ones(k, np.int64), None)
