"""Synthetic ground-truth recordings and noise ceilings.

Systems whose mechanism is known (a line-attractor integrator, a Hopf limit cycle, a k-bit flip-flop with its
2^k attractors in closed form; add your own with `register_system`) are simulated in JAX, observed through a
random embedding into spiking neurons (`synthesize`), written as NWB files with their ground truth
(`write_nwb`, `read_synthetic`; pynwb is the optional `nwb` extra), and any recording's reliability across
trials is measured by `split_half_ceiling`. Reading recorded NWB files is `dynascope.interop.load_recordings`.
"""

from dynascope.data._base import GroundTruthSystem, Latents, Skeleton, rk4_step
from dynascope.data._registry import get_system, register_system, system_names, system_options
from dynascope.data.flipflop import BistableFlipFlop
from dynascope.data.integrator import LineAttractor
from dynascope.data.oscillator import HopfOscillator
from dynascope.data.observation import Embedding, random_embedding, spike_counts, spike_times
from dynascope.data.synthetic import SyntheticRecording, synthesize
from dynascope.data.nwb import read_synthetic, write_nwb
from dynascope.data.ceiling import NoiseCeiling, spearman_brown, split_half_ceiling

__all__ = [
    "BistableFlipFlop",
    "Embedding",
    "GroundTruthSystem",
    "HopfOscillator",
    "Latents",
    "LineAttractor",
    "NoiseCeiling",
    "Skeleton",
    "SyntheticRecording",
    "get_system",
    "random_embedding",
    "read_synthetic",
    "register_system",
    "rk4_step",
    "spearman_brown",
    "spike_counts",
    "spike_times",
    "split_half_ceiling",
    "synthesize",
    "system_names",
    "system_options",
    "write_nwb",
]
