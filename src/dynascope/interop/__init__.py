"""Bridges to other tools: import PyTorch recurrent networks (torch is imported only when used) and read
neural recordings (arrays, .npz, NWB through pynwb, imported only when used) into condition-averaged
trajectories that `dynascope.compare` metrics take like a model's states."""

from dynascope.interop.recordings import (
    Binning,
    Recordings,
    load_recordings,
    read_npz,
    read_nwb,
    recordings_from_arrays,
)
from dynascope.interop.torch import from_torch
from dynascope.interop.nir import from_nir, to_nir

__all__ = [
    "Binning",
    "Recordings",
    "from_torch",
    "load_recordings",
    "read_npz",
    "read_nwb",
    "recordings_from_arrays",
]
