"""E-prop: the loss gradient of a spiking network from one forward pass carrying eligibility traces.

Backpropagation through time keeps every step of a trial for its backward pass, so its memory grows with the
trial length. E-prop (Bellec et al. 2020) runs forward only: each synapse (post j, pre i) carries an
*eligibility vector* ε_ji, the derivative of neuron j's hidden state with respect to w_ji along the neuron's
own dynamics, and the gradient is accumulated step by step as Σ_t L_j^t · ē_ji^t, a *learning signal* L_j^t
(how the loss at step t changes with neuron j's output) times the *eligibility trace*. What e-prop drops is
every path by which w_ji reaches the loss through the spikes of *other* neurons (the recurrent credit
assignment); with no recurrent connections it is the exact gradient.

Adapted to the current-based LIF neuron of `lif`/`alif` (`models.Spiking`), whose hidden state is
(v, I) (and the adaptation a for `alif`), one step with pre-reset potential
v'_j = f_j (α_m v_j + (1 − α_m)(W_in x + b)_j + κ I_j) + (1 − f_j) v_j  (f_j = 1 if not refractory) gives
the eligibility vector's exact per-step recursion (the derivatives of v', z, I, a, u with respect to w_ji,
holding the other neurons' spikes fixed):

    ∂v'  = f (α_m ε_v + κ ε_I + (1 − α_m) c_v) + (1 − f) ε_v        c_v = x_i (W_in), 1 (b), 0 (W_rec)
    ∂z   = ψ_j (∂v' − β_j ε_a)                                      ψ_j = f_j · surrogate'(v'_j − A_j)
    ε_I ← α_s ε_I + W_jj ∂z + c_I                                   c_I = z_i^t (W_rec), 0 otherwise
    ε_v ← ∂v' − z_j β_j ε_a  ('subtract' reset)   or   (1 − z_j) ∂v'  ('zero' reset)
    ε_a ← ρ ε_a + (1 − ρ) ∂z                                        (`alif`; β_j = 0 and no ε_a for `lif`)
    ē   ← α_o ē + ∂z                                                the eligibility trace, filtered like u

where A_j = θ + β_j a_j is the threshold and the reset passes no surrogate gradient (as in the model). The
neuron's own spike feeding back through its self-connection W_jj is kept (it is part of neuron j's own
dynamics); the filter α_o = exp(−dt/τ_out) is the readout's, since the network is read out through the trace
u (Bellec et al.'s leaky readout: ē is the eligibility trace filtered by the readout's kernel). The learning
signal is the derivative of the masked MSE (`Task.loss`) with respect to the outputs, sent back through the
readout weights (symmetric e-prop, B = W_outᵀ):

    L_j^t = Σ_k W_out,kj · 2 m_k^t (y_k^t − y*_k^t) / max(Σ m, 1)   (+ 2 λ_act u_j^t / (B·T·H) with l2_activity)

and dL/dw_ji ≈ Σ_batch Σ_t L_j^t ē_ji^t. W_out and b_out get their exact gradient (they are not recurrent);
W_in, W_rec (through the model's effective weights: Dale signs and fixed masks are respected) and b get
e-prop's. Parameters e-prop does not cover get zero gradient: the trained initial state h0 and frozen
per-neuron time constants (which get none under BPTT either). Learned time constants (`learn_tau`) and
synaptic delays (`max_delay` > 0) are refused (`check_rule`). State noise is drawn exactly as `Model.run`
draws it, so both rules see the same trials.

Memory: the traces are O(B·(H² + H·I)) numbers per network (three or four arrays the size of each weight
matrix, per trial of the batch), independent of the trial length T; nothing is stacked over time.

References: Bellec, Scherr, Subramoney, Hajek, Salaj, Legenstein & Maass 2020, "A solution to the learning
dilemma for recurrent networks of spiking neurons", Nat. Commun. 11, 3625 (e-prop, leaky readouts, ALIF
eligibility vectors).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp

from dynascope.errors import ConfigError
from dynascope.models import ALIF, LIF, Model, Params, spike
from dynascope.models._spiking import psp
from dynascope.tasks import Task, Trials
from dynascope.train.options import TrainOptions

__all__ = ["check_rule", "eprop_value_and_grad", "supports_eprop", "trace_size"]

ValueAndGrad = Callable[[Params, Trials, jax.Array], tuple[jax.Array, Params]]


def supports_eprop(model: Model) -> bool:
    """Whether `model` can be trained with `rule='eprop'`: a `lif` or `alif` network (or one built on them).

    Args:
        model: any `Model`.
    """
    return isinstance(model, (LIF, ALIF))


def check_rule(task: Task, model: Model, opts: TrainOptions) -> None:
    """Raise ConfigError if `opts.rule` cannot train `model` on `task` (nothing to check for 'bptt').

    Args:
        task: the task trained on (e-prop's learning signal is the derivative of the default masked MSE).
        model: the model trained (e-prop needs `lif` or `alif`, without learned time constants or delays).
        opts: the training options, whose `rule` is checked.
    """
    if opts.rule != "eprop":
        return
    if not supports_eprop(model):
        raise ConfigError(
            f"--rule eprop (rule='eprop') trains the spiking models lif and alif (and models built on them), got "
            f"{model.name!r}; use --arch lif or alif with --rule eprop, or --rule bptt (rule='bptt') for "
            f"{model.name!r}."
        )
    if model.learn_tau:
        raise ConfigError(
            f"--rule eprop (rule='eprop') does not train time constants (learn_tau=True on {model.name!r}); set "
            "--model-opt learn_tau=false (per-neuron time constants via tau_spread stay frozen and work), or use "
            "--rule bptt (rule='bptt')."
        )
    if model.max_delay > 0:
        raise ConfigError(
            f"--rule eprop (rule='eprop') does not support synaptic delays (max_delay={model.max_delay} on "
            f"{model.name!r}); set --model-opt max_delay=0, or use --rule bptt (rule='bptt')."
        )
    if model.input_encoding != "current":
        raise ConfigError(
            f"--rule eprop (rule='eprop') takes the input as a current, got input_encoding="
            f"{model.input_encoding!r} on {model.name!r}; set input_encoding='current', or use --rule bptt."
        )
    if type(task).loss is not Task.loss:
        raise ConfigError(
            f"--rule eprop (rule='eprop') sends back the derivative of the masked mean squared error, but task "
            f"{task.name!r} has its own loss; use --rule bptt (rule='bptt') for it."
        )


def trace_size(model: Model) -> int:
    """Numbers of eligibility state one trial of e-prop carries for `model` (`lif`/`alif`): three arrays (four
    with adaptation) the size of W_in, W_rec and b each, plus the network state.

    Args:
        model: a `lif` or `alif` model.
    """
    h, i = model.n_hidden, model.n_inputs
    per_weight = 4 if isinstance(model, ALIF) else 3
    return per_weight * (h * h + h * i + h) + model.n_state


def _effective(model: Model, params: Params) -> tuple[jax.Array, jax.Array]:
    """The input and recurrent matrices the step uses, as functions of the params (for the chain rule)."""
    return model.effective_inputs(params), model.effective_weights(params)


def eprop_value_and_grad(task: Task, model: Model, opts: TrainOptions) -> ValueAndGrad:
    """A function `(params, trials, noise_key) -> (loss, grads)` with the contract of
    `jax.value_and_grad(loss)(params, trials, noise_key)` of the BPTT trainer, whose gradient is e-prop's.

    The loss value is the trainer's (the task's masked MSE, plus the `l2_weight` and `l2_activity` penalties)
    on the same forward pass (`Model.run`'s steps and state noise); the gradient of W_out and b_out is exact,
    that of W_in, W_rec and b is e-prop's (see the module docstring), that of h0 and frozen time constants 0.

    Args:
        task: the task (its `loss` must be the default masked MSE; `check_rule`).
        model: a `lif` or `alif` model without learned time constants or delays (`check_rule`).
        opts: training options (`state_noise`, `l2_weight`, `l2_activity` are used).

    Returns:
        The function; for trials `inputs [B, T, I]` it keeps O(B·(H² + H·I)) numbers, whatever T.

    References: Bellec et al. 2020, "A solution to the learning dilemma for recurrent networks of spiking
    neurons", Nat. Commun.
    """
    check_rule(task, model, dataclasses.replace(opts, rule="eprop"))
    adaptive = isinstance(model, ALIF)
    subtract = model.reset == "subtract"
    a_o = math.exp(-model.dt / model.tau_out)
    rho = math.exp(-model.dt / model.tau_adapt) if adaptive else 0.0
    step = jax.vmap(model.step, in_axes=(None, 0, 0))
    noise = opts.state_noise

    def value_and_grad(params: Params, trials: Trials, noise_key: jax.Array) -> tuple[jax.Array, Params]:
        batch, n_time, _ = trials.inputs.shape
        h = model.n_hidden
        dtype = trials.inputs.dtype
        (w_in, w_rec), pull_back = jax.vjp(lambda p: _effective(model, p), params)
        w_in, w_rec = jax.lax.stop_gradient(w_in), jax.lax.stop_gradient(w_rec)
        w_self = jnp.diagonal(w_rec)
        tau_m, tau_s = jax.lax.stop_gradient(model.time_constants(params))
        a_m, a_s = jnp.exp(-model.dt / tau_m), jnp.exp(-model.dt / tau_s)
        kappa = psp(jnp.asarray(model.dt, a_m.dtype), tau_m, tau_s)
        col = lambda q: jnp.asarray(q)[..., None]  # noqa: E731  per-neuron [.., H] -> [.., H, 1]
        a_m_c, a_s_c, kappa_c, in_c = col(a_m), col(a_s), col(kappa), col(1.0 - a_m)
        if adaptive:
            beta = jnp.where(jnp.arange(h) < model.n_adaptive, model.beta, 0.0).astype(dtype)
        w_out, b_out, b = params["W_out"], params["b_out"], params["b"]
        norm = jnp.maximum(trials.mask.sum(), 1.0)
        n_act = float(batch * n_time * h)  # a float: past 2³¹ for large networks, no int32 operand holds it

        def advance(e: tuple[jax.Array, ...], f: jax.Array, psi: jax.Array, z: jax.Array, c_v: Any, c_i: Any):
            """One step of the eligibility vectors (ε_v, ε_I[, ε_a]) and the filtered trace ē of one weight."""
            ev, ei, eu = e[0], e[1], e[-1]
            dvp = f * (a_m_c * ev + kappa_c * ei + c_v) + (1.0 - f) * ev
            if adaptive:
                ea = e[2]
                dz = psi * (dvp - col(beta) * ea)
            else:
                dz = psi * dvp
            ei = a_s_c * ei + col(w_self) * dz + c_i
            if subtract:
                ev = dvp - z * col(beta) * ea if adaptive else dvp
            else:
                ev = (1.0 - z) * dvp
            eu = a_o * eu + dz
            return (ev, ei, rho * ea + (1.0 - rho) * dz, eu) if adaptive else (ev, ei, eu)

        def body(carry, xs):
            t, s, e_in, e_rec, e_b, g_in, g_rec, g_b, g_out, g_bout, sq, act = carry
            key = xs
            # Read step t of the batch in place: time-major copies of the trials would grow with T.
            x, target = trials.inputs[:, t], trials.targets[:, t]
            mask = jnp.broadcast_to(trials.mask, trials.targets.shape)[:, t]
            n = model.neurons(s)
            threshold = model.threshold + beta * model.adaptation(s) if adaptive else model.threshold
            f = (n.refractory <= 0).astype(dtype)
            # The step's pre-reset potential, as `Spiking.advance` computes it (the zero reset loses it).
            drive = x @ w_in.T + b
            vp = jnp.where(f > 0, a_m * n.v + (1.0 - a_m) * drive + kappa * n.i, n.v)
            _, psi = jax.jvp(lambda u: spike(u, model.surrogate, model.surrogate_scale), (vp - threshold,),
                             (jnp.ones_like(vp),))
            psi = psi * f
            s = step(params, s, x)
            z = model.spikes(s)
            if noise:
                s = s + noise * jax.random.normal(key, s.shape, s.dtype)
            u = model.activity(s)
            diff = u @ w_out.T + b_out - target
            dy = 2.0 * mask * diff / norm  # dE/dy of the masked MSE
            signal = dy @ w_out  # [B, H]: the learning signal, B = W_outᵀ
            sq = sq + (mask * diff**2).sum()
            if opts.l2_activity:
                signal = signal + (2.0 * opts.l2_activity / n_act) * u
                act = act + (u**2).sum()
            fc, pc, zc = col(f), col(psi), col(z)
            e_in = advance(e_in, fc, pc, zc, in_c * x[:, None, :], 0.0)
            e_rec = advance(e_rec, fc, pc, zc, 0.0, z[:, None, :])
            e_b = advance(e_b, fc, pc, zc, in_c, 0.0)
            g_in = g_in + jnp.einsum("bj,bji->ji", signal, e_in[-1])
            g_rec = g_rec + jnp.einsum("bj,bji->ji", signal, e_rec[-1])
            g_b = g_b + jnp.einsum("bj,bj->j", signal, e_b[-1][..., 0])
            g_out = g_out + dy.T @ u
            g_bout = g_bout + dy.sum(axis=0)
            return (t + 1, s, e_in, e_rec, e_b, g_in, g_rec, g_b, g_out, g_bout, sq, act), None

        k = 4 if adaptive else 3
        zeros = lambda *shape: jnp.zeros(shape, dtype)  # noqa: E731
        s0 = jnp.broadcast_to(model.initial_state(params), (batch, model.n_state))
        carry = (
            jnp.zeros((), jnp.int32),  # the step, counted in the carry (no [T] array of step numbers)
            s0,
            (zeros(batch, h, model.n_inputs),) * k,
            (zeros(batch, h, h),) * k,
            (zeros(batch, h, 1),) * k,
            jnp.zeros_like(w_in), jnp.zeros_like(w_rec), jnp.zeros_like(b), jnp.zeros_like(w_out),
            jnp.zeros_like(b_out), zeros(), zeros(),
        )
        # The state noise is drawn as `Model.run` draws it (one key per step; none without noise).
        keys = jax.random.split(noise_key, n_time) if noise else None
        carry, _ = jax.lax.scan(body, carry, keys, length=n_time)
        *_, g_in, g_rec, g_b, g_out, g_bout, sq, act = carry
        (grads,) = pull_back((g_in, g_rec))
        grads = dict(grads, b=grads["b"] + g_b, W_out=grads["W_out"] + g_out, b_out=grads["b_out"] + g_bout)
        loss = sq / norm
        if opts.l2_activity:
            loss = loss + opts.l2_activity * act / n_act
        if opts.l2_weight:
            def penalty(p: Params) -> jax.Array:
                return opts.l2_weight * sum(jnp.mean(p[name] ** 2) for name in model.weight_names(p))

            value, extra = jax.value_and_grad(penalty)(params)
            loss = loss + value
            grads = jax.tree_util.tree_map(jnp.add, grads, extra)
        return loss, grads

    return value_and_grad
