"""Model zoo: pure step functions of rate, gated and constrained recurrent networks."""

from dynascope.models._base import Model, Params
from dynascope._registry import option  # a field with a declared constraint, for new models
from dynascope.models._registry import get, names, options, register
from dynascope.models._modules import module_mask
from dynascope.models._surrogate import spike
from dynascope.models._spiking import spike_input
from dynascope.models.vanilla import Vanilla
from dynascope.models.ctrnn import CTRNN
from dynascope.models.gru import GRU
from dynascope.models.lstm import LSTM
from dynascope.models.ugrnn import UGRNN
from dynascope.models.lowrank import LowRank
from dynascope.models.dale import Dale
from dynascope.models.lif import LIF
from dynascope.models.alif import ALIF
from dynascope.models.modular import Modular
from dynascope.models.modular_lif import ModularLIF

__all__ = [
    "CTRNN",
    "GRU",
    "LSTM",
    "UGRNN",
    "Dale",
    "LowRank",
    "Model",
    "Modular",
    "ModularLIF",
    "Params",
    "Vanilla",
    "get",
    "module_mask",
    "names",
    "option",
    "options",
    "register",
    "spike",
    "spike_input",
]
