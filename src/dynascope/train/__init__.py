"""Population training: every network of one shape in one compiled program."""

from dynascope.train.eprop import check_rule, eprop_value_and_grad, supports_eprop
from dynascope.train.options import RULES, TrainOptions
from dynascope.train.population import Population, masked_mse, train_population
from dynascope.train.remat import run_checkpointed

__all__ = [
    "RULES", "Population", "TrainOptions", "check_rule", "eprop_value_and_grad", "masked_mse", "run_checkpointed",
    "supports_eprop", "train_population",
]
