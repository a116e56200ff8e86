"""Learning as a process, solved exactly: deep linear networks and the linear teacher–student.

`modes`: the closed-form learning trajectory of each singular mode of a deep linear network (Saxe,
McClelland & Ganguli 2014) and its time to learn; `deeplinear`: populations of deep linear networks trained
by full-batch gradient descent on a map given by its correlations, with the theory's quantities recorded,
and the depth × initial-scale scan; `hierarchy`: the tree-structured item × feature dataset whose singular
modes are its levels (Saxe, McClelland & Ganguli 2019); `generalization`: the high-dimensional linear
teacher–student (Advani, Saxe & Sompolinsky 2020) — simulated train/test error over time and against
α = P/N beside the Marchenko–Pastur theory and the min-norm asymptote with its double-descent peak at α = 1;
`twin`: a deep linear network and its tanh twin trained from the same initial weights, and where they split;
`replay`: daily batches of a teacher–student task learned online or by replaying a stored buffer, and the map
of where replay helps, does not matter or overtrains; `reservoir`: echo-state reservoirs with a ridge readout,
FORCE learning (recursive least squares with output feedback), and a reservoir against a trained network
(dimensionality, CKA, fixed points of the closed loop and of the network by index);
`tradeoff`: the initial weight scale trading learning speed for generalization (the frozen subspace).

The two simulators are `deeplinear.simulate` and `generalization.simulate` (not re-exported here, where one
name would hide the other). Everything returns plain NumPy arrays in small frozen dataclasses, which a figure
can draw directly: the simulation and the theory on the same axes.
"""

from dynascope.theory import deeplinear, generalization, replay, reservoir, tradeoff
from dynascope.theory.deeplinear import INITS, DeepLinearRun, DepthScan, depth_scan, scaling_exponent
from dynascope.theory.generalization import (
    MinNormSweep,
    TeacherStudentRun,
    learning_curves,
    marchenko_pastur_density,
    min_norm_sweep,
    min_norm_test_error,
    min_norm_train_error,
)
from dynascope.theory.hierarchy import Hierarchy, hierarchical_dataset
from dynascope.theory.modes import METHODS, crossing_time, mode_strength, time_to_learn
from dynascope.theory.tradeoff import InitScaleScan, init_scale_scan
from dynascope.theory.twin import Split, TwinRun, twin

__all__ = [
    "INITS",
    "METHODS",
    "DeepLinearRun",
    "DepthScan",
    "Hierarchy",
    "InitScaleScan",
    "MinNormSweep",
    "Split",
    "TeacherStudentRun",
    "TwinRun",
    "crossing_time",
    "deeplinear",
    "depth_scan",
    "generalization",
    "hierarchical_dataset",
    "init_scale_scan",
    "learning_curves",
    "marchenko_pastur_density",
    "min_norm_sweep",
    "min_norm_test_error",
    "min_norm_train_error",
    "mode_strength",
    "replay",
    "reservoir",
    "scaling_exponent",
    "time_to_learn",
    "tradeoff",
    "twin",
]
