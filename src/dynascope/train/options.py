"""Training hyperparameters shared by every network of a population."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from dynascope.errors import ConfigError, check_positive_int

OPTIMIZERS = ("adam", "sgd")
#: Learning rules: backpropagation through time, or e-prop (`dynascope.train.eprop`, spiking models only).
RULES = ("bptt", "eprop")


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """Hyperparameters of `train_population` (one value for the whole population unless noted).

    batch_size: trials per step. learning_rate: a float, or one per network (a sweep).
    optimizer: 'adam' (Kingma & Ba 2015) or 'sgd'. grad_clip: global-norm clip (0 = off).
    l2_weight: penalty on the squared weight matrices. l2_activity: penalty on mean squared activity.
    state_noise: std of Gaussian state noise while training (scaled by sqrt(alpha) for flows).
    stop_loss: a network whose training loss falls below it stops updating (early stop); None = never.
    checkpoint_every: steps per compiled chunk; the checkpoint and progress granularity.
    snapshot_every: keep every network's parameters at step 0, every `snapshot_every` steps and at the end
    (`Population.snapshots`), for analysing the dynamics over training; 0 (the default) keeps none.
    eval_batch: trials used for the final loss and task metric.
    rule: how the gradient is computed: 'bptt' (backpropagation through time, exact through the surrogate
    derivative) or 'eprop' (Bellec et al. 2020: one forward pass carrying eligibility traces, memory
    independent of the trial length; `lif`/`alif` models only, see `dynascope.train.eprop`).
    checkpoint_steps: with 'bptt', K > 0 checkpoints through time (`dynascope.train.remat`): the backward pass
    keeps the state every K steps and recomputes the steps between, so memory grows as T/K + K instead of T,
    for one more forward pass; the same gradient to float rounding. 0 (the default): plain BPTT.
    divergence_factor: a network has diverged (and is frozen, flagged `diverged`, never `trained`) once its
    training loss is non-finite or exceeds `divergence_factor` times its reference loss: the larger of the
    task's zero-output loss (the mean squared target over the scored entries of the evaluation trials: what a
    network that outputs nothing scores) and the network's own loss at step 0. The default 1e6 flags a
    network a million times worse than silence, which no run that is still learning reaches (a run whose
    loss merely stalls stays well below it), while an exploding one passes it within a few steps.
    """

    batch_size: int = 128
    learning_rate: float | tuple[float, ...] = 1e-3
    optimizer: str = "adam"
    grad_clip: float = 1.0
    l2_weight: float = 0.0
    l2_activity: float = 0.0
    state_noise: float = 0.0
    stop_loss: float | None = None
    checkpoint_every: int = 100
    snapshot_every: int = 0
    eval_batch: int = 256
    divergence_factor: float = 1e6
    rule: str = "bptt"
    checkpoint_steps: int = 0

    def validate(self, n_networks: int) -> None:
        """Raise ConfigError naming the first bad option."""
        # A message names the option as the command line spells it and, in parentheses, as the Python API and
        # config.toml do ("--batch (batch_size)"): the same check answers both.
        check_positive_int("--batch (batch_size)", self.batch_size)
        check_positive_int("--checkpoint-every (checkpoint_every)", self.checkpoint_every)
        check_positive_int("eval_batch", self.eval_batch)
        se = self.snapshot_every
        if isinstance(se, bool) or not isinstance(se, int) or se < 0:
            raise ConfigError(f"--snapshot-every (snapshot_every) must be an integer ≥ 0 (steps between parameter "
                              f"snapshots; 0: none), got {se!r}.")
        if self.rule not in RULES:
            raise ConfigError(f"--rule (rule) must be one of {', '.join(map(repr, RULES))} (the learning rule), got "
                              f"{self.rule!r}; e.g. --rule eprop (rule='eprop') for e-prop on a lif network.")
        k = self.checkpoint_steps
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ConfigError(f"--checkpoint-steps (checkpoint_steps) must be an integer ≥ 0 (steps between the "
                              f"states BPTT keeps; 0: every step, plain BPTT), got {k!r}; e.g. --checkpoint-steps 25 "
                              "for trials of ~500 steps.")
        if k and self.rule != "bptt":
            raise ConfigError(f"--checkpoint-steps {k} (checkpoint_steps={k}) checkpoints backpropagation through "
                              f"time, but --rule {self.rule} (rule={self.rule!r}) has no backward pass to checkpoint; "
                              f"use --checkpoint-steps 0 with --rule {self.rule}, or --rule bptt.")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}.")
        lrs = self.learning_rates(n_networks)
        if any(not (lr > 0) for lr in lrs):
            raise ConfigError(f"--lr (learning_rate) must be positive, got {self.learning_rate!r}.")
        for name, flag in (("grad_clip", ""), ("l2_weight", "--l2"), ("l2_activity", "--l2-activity"),
                           ("state_noise", "--noise")):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 <= v < math.inf):
                named = f"{flag} ({name})" if flag else name  # grad_clip has no flag
                raise ConfigError(f"{named} must be a finite number ≥ 0, got {v!r}.")
        f = self.divergence_factor
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 1 < f < math.inf:
            raise ConfigError(
                f"divergence_factor must be a number > 1 (a multiple of the reference loss), got {f!r}; "
                "the default is 1e6."
            )
        if self.stop_loss is not None and not self.stop_loss > 0:
            raise ConfigError(f"--stop-loss (stop_loss) must be positive (or None: no early stop), got "
                              f"{self.stop_loss!r}.")

    def snapshot_steps(self, steps: int) -> tuple[int, ...]:
        """The steps at which `train_population` keeps the parameters: 0, every `snapshot_every`, and `steps`
        (none when `snapshot_every` is 0)."""
        if not self.snapshot_every:
            return ()
        return tuple(sorted({*range(0, steps, self.snapshot_every), steps}))

    def learning_rates(self, n_networks: int) -> tuple[float, ...]:
        """One learning rate per network."""
        lr = self.learning_rate
        if isinstance(lr, (int, float)):
            return (float(lr),) * n_networks
        lr = tuple(float(v) for v in lr)
        if len(lr) != n_networks:
            raise ConfigError(
                f"learning_rate has {len(lr)} values but there are {n_networks} networks; "
                "give one value, or one per network."
            )
        return lr

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (TOML-friendly: None becomes absent)."""
        d = dataclasses.asdict(self)
        if isinstance(d["learning_rate"], tuple):
            d["learning_rate"] = list(d["learning_rate"])
        return {k: v for k, v in d.items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainOptions":
        """Inverse of `to_dict`; unknown keys raise ConfigError."""
        fields = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(d) - fields)
        if bad:
            raise ConfigError(f"unknown training option(s) {', '.join(bad)}; known: {', '.join(sorted(fields))}.")
        d = dict(d)
        if isinstance(d.get("learning_rate"), list):
            d["learning_rate"] = tuple(d["learning_rate"])
        return cls(**d)
