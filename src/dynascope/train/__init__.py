"""Population training: every network of one shape in one compiled program."""

from dynascope.train.options import TrainOptions
from dynascope.train.population import Population, masked_mse, train_population

__all__ = ["Population", "TrainOptions", "masked_mse", "train_population"]
