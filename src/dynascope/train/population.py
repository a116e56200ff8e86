"""Train every network of one shape in one compiled program (vmap over stacked params and keys)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dynascope._compile import once
from dynascope.errors import ConfigError, RunFolderError, check_positive_int
from dynascope.models import Model, Params
from dynascope.tasks import Task, Trials
from dynascope.train import checkpoint
from dynascope.train.eprop import check_rule, eprop_value_and_grad
from dynascope.train.memory import check_training_memory, networks_per_chunk
from dynascope.train.options import TrainOptions
from dynascope.train.remat import run_checkpointed

Progress = Callable[[int, np.ndarray], None]


@dataclasses.dataclass(frozen=True)
class Population:
    """A trained population of `n` networks of one model: params stacked along a leading axis.

    params: pytree with leaves `[n, ...]`. seeds `[n]`, learning_rates `[n]`.
    loss_history `[n, steps]`: training loss (before the update) at each step.
    final_loss `[n]`: `task.loss` (masked MSE by default) on a fresh evaluation batch. metric `[n]`: task score in [0, 1].
    trained `[n]`: metric ≥ task.criterion and not diverged. diverged `[n]`: the training loss went
    non-finite or exploded past `TrainOptions.divergence_factor` × the network's reference loss (the larger
    of the task's zero-output loss and the network's loss at step 0); its params are frozen from that step
    on (finite: those whose loss went bad, or the last ones before an update that would have made them
    non-finite), and later code (analysis, report, comparison) leaves it out. stopped_at `[n]`: step at which the early-stop
    criterion was met (−1 if never).
    seconds: wall-clock time of the whole group (all networks trained together). options: the
    `TrainOptions` it was trained with.
    snapshot_steps `[m]` and snapshots (pytree with leaves `[m, n, ...]`): the params at those steps, kept when
    `TrainOptions.snapshot_every` > 0 (m = 0 and None otherwise); the last is the final `params`.
    """

    task: Task
    model: Model
    params: Params
    seeds: np.ndarray
    learning_rates: np.ndarray
    loss_history: np.ndarray
    final_loss: np.ndarray
    metric: np.ndarray
    trained: np.ndarray
    diverged: np.ndarray
    stopped_at: np.ndarray
    seconds: float
    options: TrainOptions
    snapshot_steps: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
    snapshots: Params | None = None

    def snapshot(self, j: int) -> Params:
        """The stacked params of every network at step `snapshot_steps[j]`."""
        if self.snapshots is None:
            raise ConfigError("this population kept no snapshots; train with snapshot_every > 0.")
        return jax.tree_util.tree_map(lambda a: a[j], self.snapshots)

    def __len__(self) -> int:
        return int(self.seeds.shape[0])

    def network(self, i: int) -> Params:
        """The params of network `i` (unstacked)."""
        return jax.tree_util.tree_map(lambda a: a[i], self.params)


class _State(NamedTuple):
    step: jax.Array  # scalar int32: steps completed
    params: Params
    opt_state: Any
    diverged: jax.Array  # [n] bool
    stopped_at: jax.Array  # [n] int32, -1 while training
    loss_history: jax.Array | None  # [n, steps] float32 in a checkpoint; None on the device (kept on the host)


def masked_mse(outputs: jax.Array, trials: Trials) -> jax.Array:
    """Mean squared error over the scored entries (mask = 1) of a batch.

    Args:
        outputs: the network's outputs `[B, T, O]`.
        trials: the batch (`Trials`), whose `targets` (the shape of `outputs`) and `mask` (broadcastable
            to it; `[B, T, O]` for a task's `Trials`) are used.

    Returns:
        Scalar array: Σ mask·(outputs − targets)² / max(Σ mask, 1).
    """
    m = trials.mask
    return (m * (outputs - trials.targets) ** 2).sum() / jnp.maximum(m.sum(), 1.0)


def _loss_fn(task: Task, model: Model, opts: TrainOptions) -> Callable[..., jax.Array]:
    def loss(params: Params, trials: Trials, noise_key: jax.Array) -> jax.Array:
        if opts.checkpoint_steps:  # checkpointed through time: no states stacked, only outputs (train.remat)
            outputs, mean_sq_activity = run_checkpointed(model, params, trials.inputs, noise_key=noise_key,
                                                         noise_std=opts.state_noise,
                                                         checkpoint_steps=opts.checkpoint_steps)
        else:
            states, outputs = model.run(params, trials.inputs, noise_key=noise_key, noise_std=opts.state_noise)
        total = task.loss(outputs, trials)
        if opts.l2_weight:
            total = total + opts.l2_weight * sum(jnp.mean(params[k] ** 2) for k in model.weight_names(params))
        if opts.l2_activity:
            activity = mean_sq_activity if opts.checkpoint_steps else jnp.mean(model.activity(states) ** 2)
            total = total + opts.l2_activity * activity
        return total

    return loss


def _optimizer(opts: TrainOptions) -> optax.GradientTransformation:
    parts = [optax.clip_by_global_norm(opts.grad_clip)] if opts.grad_clip else []
    if opts.optimizer == "adam":
        parts.append(optax.scale_by_adam())
    # The learning rate is applied per network outside the transformation, so one compiled program
    # serves a whole learning-rate sweep.
    return optax.chain(*parts) if parts else optax.identity()


def _all_finite(tree: Any) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]))


def _make_chunk(task: Task, model: Model, opts: TrainOptions, length: int) -> Callable[..., tuple[_State, jax.Array]]:
    """A jitted function advancing every network `length` steps (cached: one compile per configuration)."""
    # Only the options the program reads are part of the cache key: the learning rates are an argument of
    # it, and where checkpoints and snapshots fall or how large the evaluation batch is only decide where a
    # chunk ends, so runs that differ in those share one compiled program per chunk length.
    program_opts = dataclasses.replace(opts, learning_rate=0.0, checkpoint_every=1, snapshot_every=0, eval_batch=1)
    cache_key = ("chunk", task, model, program_opts, length)
    return _cached(cache_key, lambda: _build_chunk(task, model, program_opts, length))


#: Compiled programs, keyed by everything they close over (tasks, models and options are frozen).
_CHUNKS: dict[Any, Callable[..., Any]] = {}


def _build_chunk(task: Task, model: Model, opts: TrainOptions, length: int) -> Callable[..., tuple[_State, jax.Array]]:
    # BPTT differentiates the loss through the whole trial; e-prop gets (loss, grads) from one forward pass.
    if opts.rule == "eprop":
        value_and_grad = eprop_value_and_grad(task, model, opts)
    else:
        value_and_grad = jax.value_and_grad(_loss_fn(task, model, opts))
    opt = _optimizer(opts)

    def net_step(params, opt_state, diverged, stopped_at, reference, key, lr, t, baseline):
        k = jax.random.fold_in(key, t)
        k_data, k_noise = jax.random.split(k)
        trials = task.sample(k_data, opts.batch_size)
        value, grads = value_and_grad(params, trials, k_noise)
        # optax mixes int32 step counts with Python floats, which strict promotion rejects.
        with jax.numpy_dtype_promotion("standard"):
            updates, new_opt = opt.update(grads, opt_state, params)
        new_params = jax.tree_util.tree_map(lambda p, u: p - lr * u, params, updates)
        active = ~diverged & (stopped_at < 0)
        # The reference loss is fixed at step 0: the larger of the task's zero-output loss and this
        # network's first loss (fmax skips a NaN first loss, which the finiteness test flags anyway).
        reference = jnp.where(t == 0, jnp.fmax(baseline, value), reference)
        finite = jnp.isfinite(value) & _all_finite(grads) & _all_finite(new_params)
        healthy = finite & (value <= opts.divergence_factor * reference)
        reached = healthy & (value < opts.stop_loss) if opts.stop_loss is not None else jnp.zeros((), bool)
        take = active & healthy & ~reached
        pick = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(take, a, b), new, old)  # noqa: E731
        return (
            pick(new_params, params),
            pick(new_opt, opt_state),
            diverged | (active & ~healthy),
            jnp.where(active & reached, t, stopped_at),
            reference,
            value,
        )

    batched = jax.vmap(net_step, in_axes=(0, 0, 0, 0, 0, 0, 0, None, None))

    def run_chunk(
        state: _State, first_loss: jax.Array, keys: jax.Array, lrs: jax.Array, baseline: jax.Array
    ) -> tuple[_State, jax.Array]:
        """Advance `state` (without its loss history) `length` steps; returns it and the losses `[n, length]`.
        The history stays on the host so that the program does not depend on the total number of steps."""
        def body(carry, t):
            params, opt_state, div, stopped, ref = carry
            params, opt_state, div, stopped, ref, value = batched(
                params, opt_state, div, stopped, ref, keys, lrs, t, baseline
            )
            return (params, opt_state, div, stopped, ref), value

        ts = state.step + jnp.arange(length, dtype=jnp.int32)
        # Each network's reference loss, kept in no state of its own: it follows from its first loss
        # (`first_loss`, NaN before step 0 has run), so a resumed run recovers it from the stored history.
        ref = jnp.fmax(baseline, first_loss)
        (params, opt_state, div, stopped, _), values = jax.lax.scan(
            body, (state.params, state.opt_state, state.diverged, state.stopped_at, ref), ts
        )
        return _State(state.step + length, params, opt_state, div, stopped, None), values.T

    return jax.jit(run_chunk, donate_argnums=0)


def _cached(cache_key: Any, build: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
    try:
        if cache_key not in _CHUNKS:
            _CHUNKS[cache_key] = build()
        return _CHUNKS[cache_key]
    except TypeError:  # unhashable options: compile without caching
        return build()


def _evaluate(task: Task, model: Model, params: Params, key: jax.Array, batch: int) -> tuple[jax.Array, jax.Array]:
    def build() -> Callable[..., Any]:
        def evaluate(params: Params, key: jax.Array) -> tuple[jax.Array, jax.Array]:
            trials = task.sample(key, batch)

            def one(p: Params) -> tuple[jax.Array, jax.Array]:
                _, outputs = model.run(p, trials.inputs)
                return task.loss(outputs, trials), task.metric(outputs, trials).mean()

            return jax.vmap(one)(params)

        return once(evaluate)

    return _cached(("evaluate", task, model, batch), build)(params, key)


def zero_output_loss(task: Task, key: jax.Array, batch: int) -> float:
    """The loss (`task.loss`) of a network that outputs 0 everywhere on `batch` trials drawn from `key` — for
    the default masked MSE, the mean squared target over the scored entries (the scale against which a loss
    counts as exploded)."""

    def build() -> Callable[..., Any]:
        def zero_loss(key: jax.Array) -> jax.Array:
            trials = task.sample(key, batch)
            return task.loss(jnp.zeros_like(trials.targets), trials)

        return once(zero_loss)

    return float(_cached(("zero_loss", task, batch), build)(key))


def _checkpointed(state: _State, snapshots: Params | None) -> Any:
    """What a checkpoint holds: the training state, with the snapshot buffer when snapshots are kept (the
    state alone otherwise, under the names checkpoints have always had)."""
    return state if snapshots is None else (state, snapshots)


def fingerprint(task: Task, model: Model, n_networks: int, steps: int, seeds: tuple[int, ...], key: jax.Array, opts: TrainOptions) -> str:
    """A hash of everything that determines the training result (used to refuse a mismatched resume)."""
    desc = {
        "task": [task.name, task.options()],
        "model": [model.name, model.n_inputs, model.n_hidden, model.n_outputs, model.options()],
        "n": n_networks,
        "steps": steps,
        "seeds": list(seeds),
        "key": np.asarray(jax.random.key_data(key)).tolist(),
        # A BPTT run's options hash as they did before `rule` existed, so its checkpoints still resume.
        # Likewise for `checkpoint_steps`.
        "options": {k: v for k, v in opts.to_dict().items() if (k, v) not in (("rule", "bptt"), ("checkpoint_steps", 0))},
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def train_population(
    task: Task,
    model: Model,
    n_networks: int,
    steps: int,
    key: jax.Array,
    *,
    seeds: tuple[int, ...] | None = None,
    checkpoint_dir: str | Path | None = None,
    progress: Progress | None = None,
    memory_budget: int | str | None = None,
    **options: Any,
) -> Population:
    """Train `n_networks` copies of `model` on `task` for `steps` optimizer steps, all at once.

    Network i is initialised and fed trials from keys derived from `key` and its seed `seeds[i]`, so
    its result does not depend on which other networks share the program. With `checkpoint_dir`, the
    state is saved every `checkpoint_every` steps and a later call with the same arguments resumes from
    it and ends with the same parameters as an uninterrupted run (bit-identical on CPU).

    Memory: a population whose estimated training memory (`train.memory`) exceeds the budget's usable
    share is trained in chunks of networks, one compiled program after another, each network with the
    keys and learning rate it gets unchunked (the same result to float rounding: XLA may reduce a batch
    of another size in another order). With `checkpoint_dir`, each chunk checkpoints into its own
    subfolder `networks-<start>-<stop>`, and a call resumed under the same budget continues every chunk
    where it stopped (one resumed under another budget starts the chunks afresh).

    Args:
        task: the `Task` (from `dynascope.tasks.get`).
        model: the `Model` (from `dynascope.models.get`), with the task's input and output sizes.
        n_networks: networks trained together (≥ 1).
        steps: optimizer steps (≥ 1).
        key: JAX PRNG key from which every network's keys are derived.
        seeds: one distinct integer seed per network (None: 0..n−1).
        checkpoint_dir: folder to checkpoint into and resume from (None: no checkpoints).
        progress: called as `progress(steps_done, losses [n])` after every chunk of steps; when the
            networks are trained in chunks, with the population's share of steps and the latest loss of
            every network (NaN for those not started).
        memory_budget: bytes or a size such as '2GB' (None: $DYNASCOPE_MEMORY_BUDGET, else half the
            device's memory; see `dynascope._memory`).
        **options: `TrainOptions` fields (batch_size, learning_rate, optimizer, ...).

    Returns:
        `Population` with params stacked on a leading network axis `[n, ...]`.

    Raises:
        ConfigError: `task`/`model` of the wrong type or mismatched sizes, `n_networks`/`steps` not
        positive, `seeds` not one distinct seed per network, a bad training option (`rule='eprop'` on a model
        or task it cannot train, `eprop.check_rule`), or a single network
        too large for the memory budget (refused before anything is compiled).
    """
    if not isinstance(task, Task):
        raise ConfigError(f"task must be a dynascope Task (from dynascope.tasks.get), got {type(task).__name__}.")
    if not isinstance(model, Model):
        raise ConfigError(f"model must be a dynascope Model (from dynascope.models.get), got {type(model).__name__}.")
    n_networks = check_positive_int("n_networks", n_networks)
    steps = check_positive_int("steps", steps)
    if (model.n_inputs, model.n_outputs) != (task.n_inputs, task.n_outputs):
        raise ConfigError(
            f"model has {model.n_inputs} inputs and {model.n_outputs} outputs but task {task.name!r} has "
            f"{task.n_inputs} and {task.n_outputs}; build the model with "
            f"models.get(..., n_inputs={task.n_inputs}, n_outputs={task.n_outputs})."
        )
    opts = TrainOptions.from_dict(options) if options else TrainOptions()
    opts.validate(n_networks)
    check_rule(task, model, opts)
    seeds = tuple(range(n_networks)) if seeds is None else tuple(int(s) for s in seeds)
    if len(seeds) != n_networks:
        raise ConfigError(f"seeds has {len(seeds)} entries but n_networks is {n_networks}; give one seed per network.")
    if len(set(seeds)) != len(seeds):
        raise ConfigError("seeds must be distinct: two networks with one seed would be identical copies.")
    # Before anything is allocated or compiled: a network too large for the device fails here, at once.
    sizes = dict(batch_size=opts.batch_size, optimizer=opts.optimizer, budget=memory_budget, rule=opts.rule,
                 checkpoint_steps=opts.checkpoint_steps)
    check_training_memory(task, model, n_networks, steps, **sizes)
    per_chunk = networks_per_chunk(task, model, n_networks, steps, **sizes)
    lrs = np.asarray(opts.learning_rates(n_networks), np.float32)
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if per_chunk >= n_networks:
        return _train_networks(task, model, steps, key, seeds, lrs, opts, ckpt, progress)
    t0 = time.perf_counter()

    bounds = [(a, min(a + per_chunk, n_networks)) for a in range(0, n_networks, per_chunk)]
    latest = np.full(n_networks, np.nan, np.float32)
    parts = []
    for j, (a, b) in enumerate(bounds):
        def chunk_progress(done: int, losses: np.ndarray, j: int = j, a: int = a, b: int = b) -> None:
            latest[a:b] = losses
            progress((j * steps + done) // len(bounds), latest.copy())

        parts.append(_train_networks(
            task, model, steps, key, seeds[a:b], lrs[a:b], opts,
            None if ckpt is None else ckpt / f"networks-{a}-{b}", chunk_progress if progress is not None else None,
        ))
    return _joined(parts, seconds=time.perf_counter() - t0)


def _joined(parts: list[Population], *, seconds: float) -> Population:
    """One population of the networks of `parts` (trained in chunks, same task, model, options and steps)."""
    first = parts[0]
    cat = lambda axis: lambda *xs: jnp.concatenate(xs, axis=axis)  # noqa: E731
    fields = {f: np.concatenate([getattr(p, f) for p in parts]) for f in (
        "seeds", "learning_rates", "loss_history", "final_loss", "metric", "trained", "diverged", "stopped_at")}
    return dataclasses.replace(
        first,
        params=jax.tree_util.tree_map(cat(0), *[p.params for p in parts]),
        snapshots=None if first.snapshots is None else jax.tree_util.tree_map(
            lambda *xs: np.concatenate(xs, axis=1), *[p.snapshots for p in parts]),
        seconds=seconds,
        **fields,
    )


def _train_networks(
    task: Task, model: Model, steps: int, key: jax.Array, seeds: tuple[int, ...], lrs: np.ndarray,
    opts: TrainOptions, ckpt: Path | None, progress: Progress | None,
) -> Population:
    """Train the networks `seeds` (learning rates `lrs [n]`) in one compiled program, checkpointing into
    `ckpt`; arguments checked by `train_population`."""
    t0 = time.perf_counter()
    n_networks = len(seeds)
    net_keys = jnp.stack([jax.random.fold_in(key, s) for s in seeds])
    init_keys, train_keys = jax.vmap(jax.random.split, out_axes=1)(net_keys)
    params = _cached(("init", model), lambda: once(jax.vmap(model.init)))(init_keys)
    opt_state = jax.vmap(_optimizer(opts).init)(params)
    lrs = jnp.asarray(lrs, jnp.float32)
    state = _State(
        jnp.zeros((), jnp.int32),
        params,
        opt_state,
        jnp.zeros(n_networks, bool),
        jnp.full(n_networks, -1, jnp.int32),
        np.full((n_networks, steps), np.nan, np.float32),  # host-side: no program per number of steps
    )

    # Snapshots live on the host in a buffer sized for the whole schedule, saved with each checkpoint (one
    # commit point), so a resumed run ends with the same snapshots as an uninterrupted one.
    snap_steps = opts.snapshot_steps(steps)
    snaps = jax.tree_util.tree_map(lambda a: np.zeros((len(snap_steps), *a.shape), a.dtype), params) if snap_steps else None

    fp = fingerprint(task, model, n_networks, steps, seeds, key, opts)
    if ckpt is not None:
        restored = checkpoint.load(ckpt, _checkpointed(state, snaps))
        if restored is not None:
            (loaded, loaded_snaps), meta = restored if snaps is not None else ((restored[0], None), restored[1])
            if meta.get("fingerprint") != fp:
                raise RunFolderError(
                    f"checkpoint in {ckpt} was written by a different configuration; resume with the "
                    "original arguments, or delete that folder to start over."
                )
            state = jax.tree_util.tree_map(jnp.asarray, loaded)
            snaps = loaded_snaps
    history = np.array(state.loss_history)
    state = state._replace(loss_history=None)

    def keep_snapshot(done: int) -> None:
        if done in snap_steps:
            j = snap_steps.index(done)
            jax.tree_util.tree_map(lambda buf, a: buf.__setitem__(j, np.asarray(a)), snaps, state.params)

    eval_key = jax.random.fold_in(key, 2**31 - 1)
    baseline = jnp.asarray(zero_output_loss(task, eval_key, opts.eval_batch), jnp.float32)
    chunks: dict[int, Callable[..., tuple[_State, jax.Array]]] = {}
    if int(state.step) == 0 and snaps is not None:
        keep_snapshot(0)
    while int(state.step) < steps:
        start = int(state.step)
        # A chunk ends at the next checkpoint or snapshot step, whichever comes first (compiled per length).
        stops = [steps, (start // opts.checkpoint_every + 1) * opts.checkpoint_every]
        stops += [t for t in snap_steps if t > start][:1]
        length = min(stops) - start
        if length not in chunks:
            chunks[length] = _make_chunk(task, model, opts, length)
        state, losses = chunks[length](state, jnp.asarray(history[:, 0]), train_keys, lrs, baseline)
        done = int(state.step)
        history[:, start:done] = np.asarray(losses)
        if snaps is not None:
            keep_snapshot(done)
        if ckpt is not None and (done % opts.checkpoint_every == 0 or done == steps):
            checkpoint.save(ckpt, _checkpointed(state._replace(loss_history=history), snaps),
                            {"fingerprint": fp, "step": done, "steps": steps})
        if progress is not None:
            progress(done, history[:, done - 1].copy())

    final_loss, metric = _evaluate(task, model, state.params, eval_key, opts.eval_batch)
    metric = np.asarray(metric)
    diverged = np.asarray(state.diverged)
    return Population(
        task=task,
        model=model,
        params=state.params,
        seeds=np.asarray(seeds, np.int64),
        learning_rates=np.asarray(lrs),
        loss_history=history,
        final_loss=np.asarray(final_loss),
        metric=metric,
        trained=(metric >= task.criterion) & ~diverged,
        diverged=diverged,
        stopped_at=np.asarray(state.stopped_at),
        seconds=time.perf_counter() - t0,
        options=opts,
        snapshot_steps=np.asarray(snap_steps, np.int64),
        snapshots=snaps,
    )
