"""What `lif` and `alif` share: the current-based LIF neuron, integrated exactly over each step, its options,
parameters, flat-state layout and initialisation. A subclass supplies the firing threshold of each step."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

from dynascope._registry import option
from dynascope.errors import ConfigError
from dynascope.models._base import Model, Params
from dynascope.models._deferred import run_deferred
from dynascope.models._delays import delayed_input, draw_delays, shifted
from dynascope.models._init import readout_matrix
from dynascope.models._sparse import MAX_NEURONS, dense_weights, draw_partners, partner_index, sparse_input
from dynascope.models._surrogate import SURROGATES, check_surrogate, spike


class Neurons(NamedTuple):
    """The flat state `[S]` (or `[..., S]`) cut into its `[..., H]` blocks, in this order."""

    v: jax.Array  # membrane potentials
    i: jax.Array  # synaptic currents (recurrent spikes only; the input is injected straight into v)
    refractory: jax.Array  # steps of refractoriness left (0: free to integrate and fire)
    spikes: jax.Array  # spikes of the last step (0/1)
    trace: jax.Array  # spikes filtered by exp(−t/τ_out): what is read out


def psp(t: jax.Array, tau_mem: jax.Array, tau_syn: jax.Array) -> jax.Array:
    """Membrane response v(t) to a unit jump of the synaptic current at time 0 (v(0) = 0, no other input),
    i.e. the exact solution of τ_m v' = −v + I, τ_s I' = −I, I(0) = 1:

        v(t) = τ_s (e^(−t/τ_s) − e^(−t/τ_m)) / (τ_s − τ_m) = (t/τ_m) e^(−t/τ_m) · expm1(d)/d,  d = t(1/τ_m − 1/τ_s).

    The second form has the limit (t/τ) e^(−t/τ) when τ_s = τ_m, where the first divides 0 by 0; it is the
    one computed (with expm1(d)/d = 1 + d/2 for tiny |d|, so values and gradients stay finite).
    """
    d = t * (1.0 / tau_mem - 1.0 / tau_syn)
    small = jnp.abs(d) < 1e-4
    safe = jnp.where(small, 1.0, d)
    ratio = jnp.where(small, 1.0 + d / 2, jnp.expm1(safe) / safe)
    return t / tau_mem * jnp.exp(-t / tau_mem) * ratio


def psp_peak(dt: float, tau_mem: jax.Array, tau_syn: jax.Array) -> jax.Array:
    """The largest value of `psp` on the step grid t = k·dt, k ≥ 1 (the PSP peak a simulation can see).

    The continuous peak is at t* = τ_m ln(r)/(r − 1), r = τ_m/τ_s (t* = τ when r = 1); v(t) rises before it
    and falls after, so the grid maximum is at one of the two steps around it.
    """
    r = tau_mem / tau_syn
    near = jnp.abs(r - 1.0) < 1e-4
    t_star = tau_mem * jnp.where(near, 1.0 - (r - 1.0) / 2, jnp.log(r) / jnp.where(near, 2.0, r - 1.0))
    k = jnp.maximum(jnp.floor(t_star / dt), 1.0)
    return jnp.maximum(psp(k * dt, tau_mem, tau_syn), psp((k + 1.0) * dt, tau_mem, tau_syn))


@jax.custom_jvp
def spike_input(w: jax.Array, z: jax.Array) -> jax.Array:
    """The recurrent input `w @ z` `[H]` of spikes `z [H]` (each exactly 0 or 1) through weights `w [H, H]`, whose
    derivative keeps the spikes as bytes: the weight gradient of a step, (∂L/∂I) zᵀ, reads z from an int8
    copy (exact, since z is 0 or 1), so reverse-mode differentiation stores one byte per spike and step instead
    of four (what Spyx's bit-packed spikes save; Heckel & Nowotny 2024). The value and both derivatives are
    those of `w @ z`.

    Args:
        w: the recurrent matrix `[H, H]` (post × pre).
        z: the spikes of the step `[H]`, 0.0 or 1.0 (other values are not spikes: the weight derivative
            would read them rounded toward zero to integers).
    """
    return w @ z


def _spike_input_jvp(primals: tuple[jax.Array, jax.Array], tangents: tuple[Any, Any]) -> tuple[jax.Array, jax.Array]:
    (w, z), (dw, dz) = primals, tangents
    out = w @ z
    dout = jnp.zeros_like(out)
    if not isinstance(dz, SymbolicZero):
        dout = dout + w @ dz
    if not isinstance(dw, SymbolicZero):
        # Mixed float × int8 product: the int8 copy of z, not z, is what a reverse pass keeps for it.
        bits = z.astype(jnp.int8)
        dout = dout + jax.lax.dot_general(dw, bits, (((dw.ndim - 1,), (0,)), ((), ())), preferred_element_type=out.dtype)
    return out, dout


spike_input.defjvp(_spike_input_jvp, symbolic_zeros=True)


@dataclasses.dataclass(frozen=True)
class Spiking(Model):
    """Recurrent network of current-based leaky integrate-and-fire neurons (base of `lif` and `alif`).

    Continuous dynamics of neuron j (membrane potential v, synaptic current I, resting potential 0, unit
    membrane resistance):

        τ_m dv/dt = −v + I + I_ext,   I_ext = W_in x + b  (the task's analog input injected as a current),
        τ_s dI/dt = −I,               I ← I + W_rec z  when the presynaptic neurons spike (z = 1),

    a spike when v ≥ A (A = `threshold` θ for `lif`, an adaptive threshold for `alif`), after which v is reset
    (`reset`='subtract': v ← v − A, 'zero': v ← 0) and held there for `refractory` ms (rounded to a whole
    number of steps n_ref; the neuron cannot fire while held).

    One step of `dt` ms, in this order (Brian2's order of drive, state update, threshold, synaptic
    propagation, reset, so a Brian2 simulation of the same network gives the same spikes):
      1. the linear ODEs are integrated exactly over dt with I_ext held constant (a neuron that is refractory
         keeps its v): v ← α_m v + (1 − α_m) I_ext + κ I,  I ← α_s I, where α = exp(−dt/τ) and
         κ = `psp(dt)` is what a unit current at the start of the step adds to v by its end;
      2. z = H(v − A) for the neurons that are not refractory (`spike`: a Heaviside step whose derivative
         is replaced by the surrogate `surrogate` of sharpness `surrogate_scale`);
      3. I ← I + W_rec z (no synaptic delay beyond the step), or, with `max_delay` D > 0, I ← I + r where r
         sends each connection's spikes through its own delay d_jk ∈ [0, D] steps (`models._delays`: a
         spike-history buffer read by linear interpolation between neighbouring integer delays);
      4. reset of the neurons that fired (through `stop_gradient(z)`: the reset carries no surrogate
         gradient, as recommended by Zenke & Vogels 2021), refractory counters set to n_ref, others counted
         down; the readout trace u ← α_o u + z, α_o = exp(−dt/τ_out).

    Flat state `[S]`, blocks of `n_hidden` H (`Neurons`): v, I, refractory steps left, spikes of the last
    step z, readout trace u, then the subclass's own blocks (`alif`: adaptation), then with `max_delay` D > 0
    the spikes of the last D steps, most recent first (D blocks, `history(state)`; its first block repeats z,
    and the next step reads it as z(t−1) … z(t−D)). `spikes(state)` is z;
    `activity(state)` is u, the spike train filtered by the causal kernel exp(−t/τ_out) (each spike adds
    1, so a neuron firing at rate ρ per step has u ≈ ρ/(1 − α_o)); it is what `readout` reads out,
    y = W_out u + b_out (a leaky-integrator readout of the spikes) and what `compare` and the report see.

    Parameters: `W_in [H, I]`, `W_rec [H, H]`, `b [H]`, `W_out [O, H]`, `b_out [O]`, `h0 [S]` (the
    trained initial state; only its v, I and u blocks receive gradient), plus
      - `M_rec [H, H]` (0/1) when `connectivity` p < 1: a fixed random mask drawn per network, each
        connection present with probability p; the step sees it through `stop_gradient` and `weight_names`
        leaves it out of L2 regularisation, so training never changes it;
      - with `sparse` (and p < 1) instead: `W_rec [H, K]` and `pre_rec [H, K]`, K = round(p·H)
        (`fan_in`): neuron j receives exactly K inputs, W_rec[j, k] from neuron pre_rec[j, k], a fixed
        uniformly random set of K distinct neurons drawn per network (float-coded integers, frozen like
        `M_rec`; `models._sparse`). A copy of the recurrent weights is then H·K numbers instead of H², and
        the step's recurrent input costs H·K multiply-adds; `effective_weights` builds the dense matrix;
      - `tau_mem_raw [H]`, `tau_syn_raw [H]` when `tau_spread` > 0 or `learn_tau`: per-neuron time
        constants τ = τ_min + (τ_max − τ_min)·sigmoid(raw), which keeps them inside [`tau_min`, `tau_max`]
        however they are trained (`time_constants(params)` returns them). They are drawn at init from a
        gamma distribution with mean `tau_mem` (`tau_syn`) and coefficient of variation `tau_spread`
        (Perez-Nieves et al. 2021 draw heterogeneous time constants from gamma distributions), clipped into
        the bounds; with `learn_tau` they are trained, otherwise frozen like `M_rec`.
      - `delays [H, H]` (post × pre, in steps) when `max_delay` D > 0: per-connection delays, used as
        clip(delays, 0, D) (`delays(params)`), drawn at init as whole numbers uniform on {0, …, D} or all
        equal to `delay_init`; trained with `learn_delays`, otherwise frozen like `M_rec`; never L2-regularised.
        The history blocks of h0 get no gradient (the network starts with no spikes in flight unless h0 says so).
    With `dale`, the first round(`e_fraction`·H) neurons are excitatory and the others inhibitory: the
    recurrent matrix used is |W_rec|·D·M with D = diag(±1 by presynaptic type), so no training can flip a
    sign (`effective_weights(params)` returns it).

    Init: W_in ~ N(0, 1/I)·θ/(1 − α_m), so an input of 1 held for one step moves v by about θ/√I whatever
    dt and τ_m; W_rec ~ N(0, `gain`²/(p·H))·θ/P (P = `psp_peak`, per postsynaptic neuron), so one spike
    moves its targets' membranes by gain·θ/√(p·H) at the peak of the PSP (rms); with `dale`, |W_rec| with
    the inhibitory columns scaled by N_E/N_I so every row is balanced in expectation; b = 0; W_out ~ N(0, 1/H);
    b_out = 0; h0 = 0.

    Input (`input_encoding`): 'current' injects the task's analog input as the current I_ext = W_in x + b above.
    'delta' first turns each input channel c into the spikes of two encoder neurons (delta modulation, the
    level-crossing code of neuromorphic sensors): the up neuron fires when x_c has risen by `input_threshold`
    θ_in above its reference level r_c, the down neuron when it has fallen by θ_in below it, and each spike moves
    r_c by θ_in toward x_c (r_c starts at h0's value, 0 by default; at most one spike per neuron and step, so a
    jump of m·θ_in is sent over m steps). The 2I encoder spikes u reach the synaptic currents through
    `W_in [H, 2I]` like recurrent spikes, I ← α_s I + W_rec z + W_in u, and I_ext is b alone. The state then
    ends with the encoder's blocks, r `[I]` and u `[2I]` (`encoder(state)`, `input_spikes(state)`).

    `state_noise` in training adds Gaussian noise to every block of the state, refractory counters and
    spikes included; spiking models are meant to be trained without it.

    References: Gerstner, Kistler, Naud & Paninski 2014, "Neuronal Dynamics", ch. 1 and 5 (current-based
    LIF); Rotter & Diesmann 1999, "Exact digital simulation of time-invariant linear systems with
    applications to neuronal modeling", Biol. Cybern. (exact integration); Neftci, Mostafa & Zenke 2019
    (surrogate gradients); Zenke & Vogels 2021, "The remarkable robustness of surrogate gradient learning
    for instilling complex function in spiking neural networks", Neural Comput.; Perez-Nieves, Leung,
    Dragotti & Goodman 2021, "Neural heterogeneity promotes robust learning", Nat. Commun.
    """

    #: Spiking models are maps with a discontinuous step: they have no smooth fixed points to polish, and
    #: their Jacobian through the surrogate is not the derivative of the map (analyses select on this).
    spiking: ClassVar[bool] = True
    #: Blocks of `n_hidden` in the state beyond `Neurons`' five.
    extra_blocks: ClassVar[int] = 0

    dt: float = option(1.0, gt=0, doc="milliseconds per step")
    tau_mem: float = option(20.0, gt=0, doc="membrane time constant in ms")
    tau_syn: float = option(5.0, gt=0, doc="synaptic time constant in ms")
    tau_out: float = option(20.0, gt=0, doc="time constant in ms of the spike filter that is read out")
    threshold: float = option(1.0, gt=0, doc="firing threshold θ of the membrane potential")
    reset: str = option("subtract", choices=("subtract", "zero"), doc="after a spike: v − threshold, or v = 0")
    refractory: float = option(0.0, ge=0, doc="absolute refractory period in ms, rounded to steps")
    surrogate: str = option("fast_sigmoid", choices=tuple(SURROGATES), doc="derivative used for the spike in training")
    surrogate_scale: float | None = option(None, gt=0, doc="sharpness of the surrogate; None: its default")
    tau_spread: float = option(0.0, ge=0, doc="coefficient of variation of the per-neuron time constants")
    learn_tau: bool = option(False, doc="train per-neuron time constants within [tau_min, tau_max]")
    tau_min: float = option(1.0, gt=0, doc="lower bound in ms of per-neuron time constants")
    tau_max: float = option(200.0, gt=0, doc="upper bound in ms of per-neuron time constants")
    connectivity: float = option(1.0, gt=0, le=1, doc="probability of each recurrent connection")
    sparse: bool = option(False, doc="store only each neuron's round(connectivity·H) inputs (memory H·K, not H²)")
    dale: bool = option(False, doc="sign-constrained recurrent weights (Dale's law), e_fraction excitatory")
    e_fraction: float = option(0.8, gt=0, lt=1, doc="the fraction of excitatory neurons (with dale)")
    gain: float = option(1.0, gt=0, doc="rms size of the initial recurrent weights")
    max_delay: int = option(0, ge=0, doc="largest recurrent synaptic delay in steps (0: no delays)")
    learn_delays: bool = option(False, doc="train the recurrent delays (with max_delay > 0)")
    delay_init: float | None = option(None, ge=0, doc="initial delay in steps of every connection (None: drawn)")
    input_encoding: str = option("current", choices=("current", "delta"),
                                 doc="the task's input as a current, or as up/down spikes per change of input_threshold")
    input_threshold: float = option(0.1, gt=0, doc="input change per encoder spike (input_encoding='delta')")

    # -- options -----------------------------------------------------------------------------------
    @property
    def n_state(self) -> int:
        return (len(Neurons._fields) + self.extra_blocks + self.max_delay) * self.n_hidden + self.n_encoder_state

    @property
    def delta_input(self) -> bool:
        """Whether the input arrives as spikes of a delta-modulation encoder (`input_encoding`='delta')."""
        return self.input_encoding == "delta"

    @property
    def n_input_channels(self) -> int:
        """Columns of W_in: the task's I channels, or the encoder's 2I neurons (up and down per channel)."""
        return 2 * self.n_inputs if self.delta_input else self.n_inputs

    @property
    def n_encoder_state(self) -> int:
        """Numbers the encoder keeps in the state: each channel's reference level and the 2I spikes (3I)."""
        return 3 * self.n_inputs if self.delta_input else 0

    @property
    def n_refractory(self) -> int:
        """The refractory period in whole steps, `refractory`/`dt` rounded half up (2.5 steps hold 3)."""
        return math.floor(self.refractory / self.dt + 0.5)

    @property
    def per_neuron_tau(self) -> bool:
        """Whether the time constants are per-neuron parameters (`tau_spread` > 0 or `learn_tau`)."""
        return self.tau_spread > 0 or self.learn_tau

    @property
    def fan_in(self) -> int:
        """Inputs K per neuron with `sparse` storage: round(`connectivity`·H), at least 1."""
        return max(1, round(self.connectivity * self.n_hidden))

    @property
    def n_exc(self) -> int:
        """Number N_E of excitatory neurons (the first N_E) under `dale`."""
        return int(round(self.e_fraction * self.n_hidden))

    def validate(self) -> None:
        # Rules between options only; each option's own constraint is declared on its field.
        if not self.tau_min < self.tau_max:
            raise ConfigError(
                f"{self.name}: tau_min={self.tau_min} must be below tau_max={self.tau_max}; "
                "they bound the per-neuron time constants."
            )
        if self.per_neuron_tau:
            for opt in ("tau_mem", "tau_syn"):
                tau = getattr(self, opt)
                if not self.tau_min < tau < self.tau_max:
                    raise ConfigError(
                        f"{self.name}: {opt}={tau} must lie strictly between tau_min={self.tau_min} and "
                        f"tau_max={self.tau_max} when time constants are per neuron (tau_spread > 0 or "
                        f"learn_tau); widen the bounds or change {opt}."
                    )
        if self.dale and not 1 <= self.n_exc <= self.n_hidden - 1:
            raise ConfigError(
                f"{self.name}: dale with e_fraction={self.e_fraction} and n_hidden={self.n_hidden} gives "
                f"{self.n_exc} excitatory and {self.n_hidden - self.n_exc} inhibitory neurons; both must be "
                "at least 1. Use more hidden units or an e_fraction closer to 0.5."
            )
        if self.max_delay == 0 and (self.learn_delays or self.delay_init is not None):
            raise ConfigError(
                f"{self.name}: learn_delays={self.learn_delays} and delay_init={self.delay_init} need "
                "max_delay > 0 (got max_delay=0, no delays); set max_delay to the largest delay in steps."
            )
        if self.delay_init is not None and self.delay_init > self.max_delay:
            raise ConfigError(
                f"{self.name}: delay_init={self.delay_init} is above max_delay={self.max_delay}; delays lie in "
                f"[0, max_delay] steps. Lower delay_init or raise max_delay."
            )
        if self.sparse and self.connectivity == 1:
            raise ConfigError(
                f"{self.name}: sparse=True stores only the connections that exist, but connectivity=1 (the default) "
                "makes every connection exist; set connectivity below 1 too (e.g. --model-opt connectivity=0.1), or "
                "leave sparse off for a dense network."
            )
        if self.sparse and self.n_hidden > MAX_NEURONS:
            raise ConfigError(
                f"{self.name}: sparse storage indexes at most {MAX_NEURONS} neurons, got n_hidden={self.n_hidden}."
            )
        check_surrogate(self.surrogate, self.surrogate_scale)

    # -- the pieces of the parameters ---------------------------------------------------------------
    def time_constants(self, params: Params) -> tuple[jax.Array, jax.Array]:
        """(τ_mem, τ_syn) in ms, each `[H]` (per-neuron parameters) or a scalar, in the params' dtype."""
        if not self.per_neuron_tau:
            dtype = params["W_rec"].dtype
            return jnp.asarray(self.tau_mem, dtype), jnp.asarray(self.tau_syn, dtype)
        return self._bounded(params["tau_mem_raw"]), self._bounded(params["tau_syn_raw"])

    def _bounded(self, raw: jax.Array) -> jax.Array:
        """τ = τ_min + (τ_max − τ_min)·sigmoid(raw) `[H]`; frozen (no gradient) unless `learn_tau`."""
        raw = raw if self.learn_tau else jax.lax.stop_gradient(raw)
        return self.tau_min + (self.tau_max - self.tau_min) * jax.nn.sigmoid(raw)

    def effective_weights(self, params: Params) -> jax.Array:
        """The recurrent matrix `[H, H]` the step uses: W_rec, made sign-constrained by `dale`
        (|W_rec|·D) and masked by `M_rec` when `connectivity` < 1. With `sparse` storage, the dense matrix of
        `sparse_weights` (H² numbers: for export and analysis of networks that fit, not for the step)."""
        if self.sparse:
            return dense_weights(self.sparse_weights(params), params["pre_rec"])
        w = params["W_rec"]
        if self.dale:
            signs = jnp.where(jnp.arange(self.n_hidden) < self.n_exc, 1.0, -1.0).astype(w.dtype)
            w = jnp.abs(w) * signs[None, :]
        if self.connectivity < 1:
            w = w * jax.lax.stop_gradient(params["M_rec"])
        return w

    def sparse_weights(self, params: Params) -> jax.Array:
        """With `sparse` storage, the weights `[H, K]` the step uses: neuron j's k-th input W_rec[j, k] from
        neuron `pre_rec[j, k]`, made sign-constrained by `dale` (|W_rec| times the sign of the presynaptic
        neuron's type)."""
        w = params["W_rec"]
        if self.dale:
            excitatory = partner_index(params["pre_rec"]) < self.n_exc
            w = jnp.abs(w) * jnp.where(excitatory, 1.0, -1.0).astype(w.dtype)
        return w

    def effective_inputs(self, params: Params) -> jax.Array:
        """The input matrix `[H, I]` the step uses: W_in (a subclass may mask it)."""
        return params["W_in"]

    def delays(self, params: Params) -> jax.Array:
        """The delays `[H, H]` (post × pre, steps; `[H, K]` with `sparse` storage) the step uses: clip(delays, 0, `max_delay`); frozen (no
        gradient) unless `learn_delays`. Only for `max_delay` > 0."""
        d = params["delays"] if self.learn_delays else jax.lax.stop_gradient(params["delays"])
        return jnp.clip(d, 0.0, float(self.max_delay))

    def weight_names(self, params: Params) -> list[str]:
        """Weight matrices L2 regularisation acts on: every one with ndim ≥ 2 but the fixed mask `M_rec` and
        the delays (and, with `sparse` storage, the partner indices `pre_rec`)."""
        return [k for k, v in params.items() if v.ndim >= 2 and k not in ("M_rec", "delays", "pre_rec")]

    # -- the state ------------------------------------------------------------------------------------
    def neurons(self, state: jax.Array) -> Neurons:
        """The blocks of a state `[..., S]` named (`Neurons`), each `[..., H]`."""
        h = self.n_hidden
        return Neurons(*(state[..., k * h : (k + 1) * h] for k in range(len(Neurons._fields))))

    def extra(self, state: jax.Array, k: int = 0) -> jax.Array:
        """Extra block `k` `[..., H]` of a state `[..., S]` (after the `Neurons` blocks)."""
        h, start = self.n_hidden, (len(Neurons._fields) + k) * self.n_hidden
        return state[..., start : start + h]

    def history(self, state: jax.Array) -> jax.Array | None:
        """The spike history `[..., D·H]` of a state `[..., S]`: the spikes of the D steps that produced it, most
        recent first; None without delays."""
        if self.max_delay == 0:
            return None
        start = (len(Neurons._fields) + self.extra_blocks) * self.n_hidden
        return state[..., start : start + self.max_delay * self.n_hidden]

    def encoder(self, state: jax.Array) -> tuple[jax.Array, jax.Array] | None:
        """With `input_encoding`='delta', the encoder's blocks of a state `[..., S]`: each channel's reference
        level `[..., I]` and the input spikes of the step that produced it `[..., 2I]` (up spikes, then down
        spikes); None for current input."""
        if not self.delta_input:
            return None
        i, start = self.n_inputs, self.n_state - self.n_encoder_state
        return state[..., start : start + i], state[..., start + i :]

    def input_spikes(self, state: jax.Array) -> jax.Array | None:
        """The encoder's spikes `[..., 2I]` of the step that produced `state`; None for current input."""
        blocks = self.encoder(state)
        return None if blocks is None else blocks[1]

    def encode(self, state: jax.Array, x: jax.Array) -> jax.Array:
        """What the step injects for the task's input `x [I]`: `x` itself (current input), or the encoder's
        spikes `[2I]`: channel c's up neuron fires when x_c ≥ r_c + `input_threshold`, its down neuron when
        x_c ≤ r_c − `input_threshold`, r_c being the level of its last spike (at most one spike per neuron and
        step; `pack` moves r_c by one threshold per spike)."""
        if not self.delta_input:
            return x
        reference, _ = self.encoder(state)
        theta = self.input_threshold
        return jnp.concatenate((x - reference >= theta, reference - x >= theta)).astype(state.dtype)

    def initial_state(self, params: Params) -> jax.Array:
        """The trained initial state h0 `[S]`; its spike-history and encoder blocks pass no gradient to h0."""
        h0 = params["h0"]
        if self.max_delay == 0 and not self.delta_input:
            return h0
        core = (len(Neurons._fields) + self.extra_blocks) * self.n_hidden
        return jnp.concatenate((h0[:core], jax.lax.stop_gradient(h0[core:])))

    def pack(self, state: jax.Array, n: Neurons, *extra: jax.Array, inputs: jax.Array | None = None) -> jax.Array:
        """The next flat state `[S]`: the advanced neurons `n`, the subclass's `extra` blocks, (with delays)
        the spike history of `state` shifted by this step's spikes, and (with the delta encoder) its reference
        levels moved by this step's input spikes `inputs [2I]` (`encode`) and those spikes."""
        history = self.history(state)
        tail = () if history is None else (shifted(history, n.spikes),)
        if self.delta_input:
            reference, _ = self.encoder(state)
            i = self.n_inputs
            reference = reference + self.input_threshold * (inputs[:i] - inputs[i:])
            tail = (*tail, reference, inputs)
        return jnp.concatenate((*n, *extra, *tail))

    def spikes(self, state: jax.Array) -> jax.Array:
        """The spikes z `[..., H]` (0/1) of the step that produced `state [..., S]`."""
        return self.neurons(state).spikes

    def activity(self, state: jax.Array) -> jax.Array:
        """The readout trace u `[..., H]`: spikes filtered by exp(−t/τ_out), each spike adding 1."""
        return self.neurons(state).trace

    # -- dynamics ----------------------------------------------------------------------------------------
    def advance(
        self, params: Params, n: Neurons, x: jax.Array, threshold: jax.Array, history: jax.Array | None = None,
        probe: jax.Array | None = None,
    ) -> Neurons:
        """One step (see the class docstring) of the neurons `n` under input `x` (`encode`'s: the task's input
        `[I]`, or the encoder's spikes `[2I]`), firing at `threshold` (a scalar or `[H]`), with the spike history
        `history [D·H]` when the model has delays; `probe [H]` (zero in value) is added where the recurrent input
        enters the currents, so that its gradient is the recurrent input's (`models._deferred`)."""
        tau_m, tau_s = self.time_constants(params)
        dt = self.dt
        a_m, a_s = jnp.exp(-dt / tau_m), jnp.exp(-dt / tau_s)
        kappa = psp(jnp.asarray(dt, a_m.dtype), tau_m, tau_s)
        free = n.refractory <= 0
        # Current input drives the membrane directly; encoder spikes arrive through synapses, like recurrent ones.
        drive = params["b"] if self.delta_input else self.effective_inputs(params) @ x + params["b"]
        v = jnp.where(free, a_m * n.v + (1.0 - a_m) * drive + kappa * n.i, n.v)
        # `where` (not a product with `free` as a float) and `spike_input` (not `w @ z`) let the backward pass
        # keep the refractory mask and the spikes as bytes instead of float32 (the same gradient).
        z = jnp.where(free, spike(v - threshold, self.surrogate, self.surrogate_scale), 0.0)
        i = a_s * n.i + self.recurrent_input(params, z, history)
        if probe is not None:
            i = i + probe
        if self.delta_input:
            i = i + spike_input(self.effective_inputs(params), x)
        fired = jax.lax.stop_gradient(z)
        v = v - threshold * fired if self.reset == "subtract" else v * (1.0 - fired)
        refractory = jnp.where(fired > 0, float(self.n_refractory), jnp.maximum(n.refractory - 1.0, 0.0))
        trace = math.exp(-dt / self.tau_out) * n.trace + z
        return Neurons(v, i, refractory.astype(v.dtype), z, trace)

    def recurrent_input(self, params: Params, z: jax.Array, history: jax.Array | None) -> jax.Array:
        """What the spikes `z [H]` of this step (and, with delays, the spike history `history [D·H]`) add to
        the synaptic currents `[H]`."""
        if self.sparse:
            w, pre = self.sparse_weights(params), partner_index(params["pre_rec"])
            if history is None:
                return sparse_input(w, pre, z)
            return delayed_input(w, self.delays(params), z, history, pre)
        w = self.effective_weights(params)
        return spike_input(w, z) if history is None else delayed_input(w, self.delays(params), z, history)

    def run(
        self,
        params: Params,
        inputs: jax.Array,
        *,
        noise_key: jax.Array | None = None,
        noise_std: float = 0.0,
        initial_states: jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """`Model.run`: inputs `[B, T, I]` -> (states `[B, T, S]`, outputs `[B, T, O]`). Without noise, delays or
        sparse storage, its reverse-mode derivative forms the recurrent matrix's gradient in one product after
        the time loop rather than step by step (`models._deferred`; the same gradient to float rounding)."""
        noiseless = noise_key is None or (isinstance(noise_std, (int, float)) and noise_std == 0.0)
        if not noiseless or self.max_delay > 0 or self.sparse:
            return super().run(params, inputs, noise_key=noise_key, noise_std=noise_std, initial_states=initial_states)
        if initial_states is None:
            initial_states = jnp.broadcast_to(self.initial_state(params), (inputs.shape[0], self.n_state))
        states = run_deferred(self, params, inputs, initial_states)
        return states, self.readout(params, states)

    # -- init ----------------------------------------------------------------------------------------------
    def init(self, key: jax.Array) -> Params:  # type: ignore[override]
        k_rec, k_in, k_out, k_mask, k_mem, k_syn = jax.random.split(key, 6)
        h, i, o = self.n_hidden, self.n_inputs, self.n_outputs
        theta, p = self.threshold, self.connectivity
        params: Params = {}
        if self.per_neuron_tau:
            params["tau_mem_raw"] = self._draw_tau(k_mem, self.tau_mem)
            params["tau_syn_raw"] = self._draw_tau(k_syn, self.tau_syn)
            tau_m, tau_s = self._bounded(params["tau_mem_raw"]), self._bounded(params["tau_syn_raw"])
        else:
            tau_m, tau_s = jnp.full((h,), self.tau_mem), jnp.full((h,), self.tau_syn)
        a_m = jnp.exp(-self.dt / tau_m)
        if self.delta_input:
            # An encoder spike moves its targets' membranes by θ/√(2I) at the PSP peak (rms), as a recurrent one.
            w_in = jax.random.normal(k_in, (h, 2 * i)) / math.sqrt(2 * i) * (theta / psp_peak(self.dt, tau_m, tau_s))[:, None]
        else:
            w_in = jax.random.normal(k_in, (h, i)) / jnp.sqrt(i) * (theta / (1.0 - a_m))[:, None]
        # With sparse storage, row j holds neuron j's K inputs: drawn like the dense matrix's entries, with
        # the same rms effect per spike (K = p·H inputs, as the dense mask gives on average).
        n_pre = self.fan_in if self.sparse else h
        w_rec = jax.random.normal(k_rec, (h, n_pre)) * (self.gain / math.sqrt(p * h))
        w_rec = w_rec * (theta / psp_peak(self.dt, tau_m, tau_s))[:, None]
        # A key of its own (not a seventh split), so dense networks keep their initial weights.
        pre = draw_partners(jax.random.fold_in(key, 8), h, n_pre) if self.sparse else None
        if self.dale:
            n_e = self.n_exc
            presynaptic = jnp.arange(h)[None, :] if pre is None else pre
            w_rec = jnp.abs(w_rec) * jnp.where(presynaptic < n_e, 1.0, n_e / (h - n_e))
        params.update(
            W_in=w_in,
            W_rec=w_rec,
            b=jnp.zeros(h),
            W_out=readout_matrix(k_out, o, h),
            b_out=jnp.zeros(o),
            h0=jnp.zeros(self.n_state),
        )
        if pre is not None:
            params["pre_rec"] = pre
        elif p < 1:
            params["M_rec"] = jax.random.bernoulli(k_mask, p, (h, h)).astype(jnp.float32)
        if self.max_delay > 0:
            # A key of its own (not a seventh split), so networks without delays keep their initial weights.
            params["delays"] = draw_delays(jax.random.fold_in(key, 7), (h, n_pre), self.max_delay, self.delay_init)
        return params

    def _draw_tau(self, key: jax.Array, mean: float) -> jax.Array:
        """Unconstrained per-neuron parameters `[H]` of time constants drawn from a gamma distribution with
        mean `mean` and coefficient of variation `tau_spread` (all equal to `mean` when it is 0)."""
        h, cv = self.n_hidden, self.tau_spread
        if cv > 0:
            shape = 1.0 / cv**2
            tau = jax.random.gamma(key, shape, (h,)) * (mean / shape)
        else:
            tau = jnp.full((h,), mean)
        # Clipped a little inside the bounds, so that the logit below stays finite.
        frac = jnp.clip((tau - self.tau_min) / (self.tau_max - self.tau_min), 1e-3, 1 - 1e-3)
        return jnp.log(frac) - jnp.log1p(-frac)
