"""Task collection: pure-JAX trial generators found by name."""

from dynascope.tasks._base import Task, Trials
from dynascope._registry import option  # a field with a declared constraint, for new tasks
from dynascope.tasks._registry import get, names, options, register

# Importing a task module registers it.
from dynascope.tasks.cdi import ContextDependentIntegration
from dynascope.tasks.delayed_match import DelayedMatch
from dynascope.tasks.flipflop import FlipFlop
from dynascope.tasks.neurogym import NeuroGymTask  # not registered: `get("neurogym:<EnvName>")`
from dynascope.tasks.perceptual_dm import PerceptualDecision
from dynascope.tasks.rsg import ReadySetGo
from dynascope.tasks.sign_match import SignMatch
from dynascope.tasks.sinewave import SineWave
from dynascope.tasks.spike_pattern import SpikePattern

__all__ = [
    "ContextDependentIntegration",
    "DelayedMatch",
    "FlipFlop",
    "NeuroGymTask",
    "PerceptualDecision",
    "ReadySetGo",
    "SignMatch",
    "SineWave",
    "SpikePattern",
    "Task",
    "Trials",
    "get",
    "names",
    "option",
    "options",
    "register",
]
