"""Synthetic ground-truth recordings and noise ceilings.

Systems whose mechanism is known (a line-attractor integrator, a Hopf limit cycle, a k-bit flip-flop with its
2^k attractors in closed form; add your own with `register_system`) are simulated in JAX, observed through a
random embedding into spiking neurons (`synthesize`), written as NWB files with their ground truth
(`write_nwb`, `read_synthetic`; pynwb is the optional `nwb` extra), and any recording's reliability across
trials is measured by `split_half_ceiling`. Reading recorded NWB files is `dynascope.interop.load_recordings`.
Networks are fitted to a recording's spikes by `fit_recording` (Poisson likelihood of the held-in neurons on the
training trials, through the population trainer) and scored by `score_fit` (co-smoothing bits per spike, rate
and latent R², stable points against the ground truth; the metrics themselves in `fit_metrics`). Every consumer
takes one recording type, `TrialRecording` (`read_trials` of any NWB file; a `SyntheticRecording` is one with its
ground truth). The registered task `recording` fits a recording through an ordinary sweep into a run folder. A
small recording ships with the package (`shipped_recording`).
"""

from dynascope.data._base import GroundTruthSystem, Latents, Skeleton, rk4_step
from dynascope._registry import option  # a field with a declared constraint, for new systems
from dynascope.data._registry import get_system, register_system, system_names, system_options
from dynascope.data.flipflop import BistableFlipFlop
from dynascope.data.integrator import LineAttractor
from dynascope.data.oscillator import HopfOscillator
from dynascope.data.observation import Embedding, random_embedding, spike_counts, spike_times
from dynascope.data.recording import TrialRecording
from dynascope.data.synthetic import SyntheticRecording, synthesize
from dynascope.data.nwb import read_synthetic, write_nwb
from dynascope.data.trials import read_trials
from dynascope.data.shipped import SHIPPED, shipped_names, shipped_recording, write_shipped
from dynascope.data.ceiling import NoiseCeiling, spearman_brown, split_half_ceiling
from dynascope.data.recording_task import RecordingTask, Split, make_split, poisson_nll
from dynascope.data.fit_metrics import bits_per_spike, fit_poisson_readout, linear_r2, poisson_log_likelihood, r2
from dynascope.data.fit import Fit, FitScores, fit_recording, score_fit, score_networks

__all__ = [
    "BistableFlipFlop",
    "Embedding",
    "Fit",
    "FitScores",
    "GroundTruthSystem",
    "HopfOscillator",
    "Latents",
    "LineAttractor",
    "NoiseCeiling",
    "RecordingTask",
    "SHIPPED",
    "Skeleton",
    "Split",
    "SyntheticRecording",
    "TrialRecording",
    "bits_per_spike",
    "fit_poisson_readout",
    "fit_recording",
    "get_system",
    "linear_r2",
    "make_split",
    "option",
    "poisson_log_likelihood",
    "poisson_nll",
    "r2",
    "random_embedding",
    "read_synthetic",
    "read_trials",
    "register_system",
    "rk4_step",
    "score_fit",
    "score_networks",
    "shipped_names",
    "shipped_recording",
    "spearman_brown",
    "spike_counts",
    "spike_times",
    "split_half_ceiling",
    "synthesize",
    "system_names",
    "system_options",
    "write_nwb",
    "write_shipped",
]
