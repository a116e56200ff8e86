"""A trained `lif` network to a NIR graph (the Neuromorphic Intermediate Representation) and back.

NIR describes a network as continuous-time equations, so the graph says exactly what `lif` computes when its
linear ODEs are solved over steps of `dt` with the input held constant during each step (the `lif` step):

    input ─▶ Affine(W_in, b) ─▶ LIF ─▶ Linear(W_rec) ─▶ LI "synapse" ─┐
                                  ▲ └────────────────────────────────┘
                                  └─▶ LI "trace" ─▶ Affine(W_out, b_out) ─▶ output

- `LIF` (τ_m, r = 1, v_leak = 0, v_threshold = θ, v_reset = 0): τ_m v̇ = −v + (sum of its inputs), the inputs
  being the injected current W_in x + b and the synaptic current. Its output is its spikes.
- `LI` "synapse" (τ_s, r = τ_s, v_leak = 0): τ_s İ = −I + τ_s·W_rec z, so a spike of weight w (a Dirac delta in
  NIR) makes I jump by w, as in `lif`. It is a node of its own because `lif` injects the task's input straight
  into the membrane, which a `CubaLIF` node (whose every input passes through its synapse) cannot express.
- `LI` "trace" (τ_out, r = τ_out, v_leak = 0): the readout filter u, each spike adding 1; y = W_out u + b_out.
- The graph's metadata holds `dt` (NIR has no time step; `lif`'s dynamics depend on it only through exact
  exponential decays, so the graph is the same network at any dt, but its spikes are those of this dt). Each
  node's metadata holds its trained initial state as `initial_state` (NIR has no initial state: another
  simulator starts from rest).

Exported as the network computes: `effective_weights` (a sparse mask and Dale's signs applied) and the time
constants of each neuron. Refused with a ConfigError instead of changing the dynamics: adaptive thresholds
(`alif`: NIR has no adaptive node), per-connection delays (`max_delay` > 0: NIR's Delay node is per channel),
reset by subtraction and refractoriness (NIR's LIF resets to v_reset and has
no refractory period), and any model that is not a spiking `lif`. The one convention that differs: NIR writes
the threshold test as v > v_threshold, `lif` as v ≥ θ; they differ only when v lands exactly on θ.

`from_nir` reads graphs of this shape back, whatever their node names, folding a LIF's r and v_leak into the
input weights and bias, and an LI's r into the jump size (r/τ per unit spike weight).

Reference: Pedersen et al. 2024, "Neuromorphic intermediate representation: a unified instruction set for
interoperable brain-inspired computing", Nat. Commun.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from dynascope import models
from dynascope.errors import ConfigError
from dynascope.models._base import Model, Params


def _import_nir() -> Any:
    try:
        import nir
    except ImportError as err:
        raise ConfigError(
            "NIR export and import need the nir package, which is not installed; install it with "
            "pip install 'dynascope[nir]' (or pip install nir)."
        ) from err
    return nir


# -- export ---------------------------------------------------------------------------------------------
def to_nir(model: Model, params: Params) -> Any:
    """The NIR graph (`nir.NIRGraph`) of the `lif` network `model` with parameters `params` (one network).

    Raises ConfigError for what NIR cannot express (see the module docstring), ShapeError if `params` is not
    a parameter set of `model`.
    """
    nir = _import_nir()
    _check_exportable(model)
    model.check_params(params)
    if np.any(np.asarray(model.neurons(params["h0"]).refractory) > 0):
        raise ConfigError(
            "to_nir cannot export an initial state with refractory neurons (h0's refractory block is > 0): NIR "
            "has no refractory period. Set that block of h0 to 0."
        )
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    h = model.n_hidden
    tau_m, tau_s = (np.broadcast_to(f32(t), (h,)).copy() for t in model.time_constants(params))
    tau_o = np.full(h, model.tau_out, np.float32)
    start = model.neurons(f32(params["h0"]))
    zeros, ones = np.zeros(h, np.float32), np.ones(h, np.float32)
    nodes = {
        "input": nir.Input(input_type=np.array([model.n_inputs])),
        "W_in": nir.Affine(weight=f32(model.effective_inputs(params)), bias=f32(params["b"])),
        "lif": nir.LIF(
            tau=tau_m, r=ones, v_leak=zeros, v_threshold=np.full(h, model.threshold, np.float32), v_reset=zeros,
            metadata={"initial_state": start.v},
        ),
        "W_rec": nir.Linear(weight=f32(model.effective_weights(params))),
        "synapse": nir.LI(tau=tau_s, r=tau_s.copy(), v_leak=zeros, metadata={"initial_state": start.i}),
        "trace": nir.LI(tau=tau_o, r=tau_o.copy(), v_leak=zeros, metadata={"initial_state": start.trace}),
        "W_out": nir.Affine(weight=f32(params["W_out"]), bias=f32(params["b_out"])),
        "output": nir.Output(output_type=np.array([model.n_outputs])),
    }
    edges = [("input", "W_in"), ("W_in", "lif"), ("lif", "W_rec"), ("W_rec", "synapse"), ("synapse", "lif"),
             ("lif", "trace"), ("trace", "W_out"), ("W_out", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": float(model.dt), "exported_by": "dynascope lif"})


def _check_exportable(model: Model) -> None:
    name = getattr(model, "name", type(model).__name__)
    if name == "alif":
        raise ConfigError(
            "to_nir cannot export an 'alif' network: NIR has no node with an adaptive threshold, and dropping the "
            "adaptation would change its spikes. Export a 'lif' network (models.get('lif', ...))."
        )
    # A modular_lif network is a lif network whose masks the exported matrices already apply; it comes back
    # from NIR as that lif network (same spikes), without the module labels.
    if name not in ("lif", "modular_lif"):
        raise ConfigError(f"to_nir exports 'lif' (and 'modular_lif') spiking networks, got model {name!r}.")
    if model.reset != "zero":
        raise ConfigError(
            f"to_nir cannot export reset={model.reset!r}: NIR's LIF node resets the membrane to v_reset after a "
            "spike and has no reset by subtraction. Train with reset='zero' to export."
        )
    if model.max_delay > 0:
        raise ConfigError(
            f"to_nir cannot export a network with recurrent delays (max_delay={model.max_delay}): each connection "
            "has its own delay, and NIR's Delay node delays a whole channel, so the graph would not spike like the "
            "network. Train with max_delay=0 to export."
        )
    if getattr(model, "input_encoding", "current") != "current":
        raise ConfigError(
            f"to_nir cannot export input_encoding={model.input_encoding!r}: NIR has no delta-modulation encoder "
            "node, and the network's input spikes would be lost. Train with input_encoding='current' to export."
        )
    if model.n_refractory > 0:
        raise ConfigError(
            f"to_nir cannot export refractory={model.refractory} ({model.n_refractory} steps): NIR's LIF node has "
            "no refractory period. Train with refractory=0 to export."
        )


# -- import ---------------------------------------------------------------------------------------------
def from_nir(graph: Any, *, dt: float | None = None) -> tuple[Model, Params]:
    """A `lif` model and its parameters from a NIR graph of the shape `to_nir` writes (module docstring).

    dt: milliseconds per step; default the graph's `dt` metadata (ConfigError if it has none).
    Time constants that differ between neurons become per-neuron parameters (`tau_spread` > 0, frozen);
    node metadata `initial_state` becomes h0 (zero where absent).
    Raises ConfigError naming what does not fit: another graph shape, a CubaLIF node, a reset potential other
    than 0, thresholds or readout time constants that differ between neurons, an LI node with a leak
    potential.
    """
    nir = _import_nir()
    if not isinstance(graph, nir.NIRGraph):
        raise ConfigError(f"from_nir expects a nir.NIRGraph (e.g. from nir.read), got {type(graph).__name__}.")
    parts = _parts(nir, graph)
    dt = _dt(graph, dt)
    lif, syn, trace = parts["lif"], parts["synapse"], parts["trace"]
    h = int(np.asarray(lif.tau).size)
    vec = lambda a: np.broadcast_to(np.asarray(a, np.float64), (h,)).copy()  # noqa: E731
    if np.any(vec(lif.v_reset) != 0):
        raise ConfigError("from_nir: the LIF node's v_reset must be 0 (lif resets to zero); got a nonzero v_reset.")
    theta = vec(lif.v_threshold)
    if np.any(theta != theta[0]) or not theta[0] > 0:
        raise ConfigError(
            f"from_nir: lif has one threshold for all neurons, > 0; the LIF node's v_threshold ranges over "
            f"[{theta.min()}, {theta.max()}]."
        )
    for label, node in (("synapse", syn), ("trace", trace)):
        if np.any(vec(node.v_leak) != 0):
            raise ConfigError(f"from_nir: the {label} LI node must have v_leak = 0 (lif has no resting current).")
    tau_o = vec(trace.tau)
    if np.any(tau_o != tau_o[0]):
        raise ConfigError(
            f"from_nir: lif's readout filter has one time constant; the trace LI node's tau ranges over "
            f"[{tau_o.min()}, {tau_o.max()}]."
        )
    # τ_m v̇ = (v_leak − v) + r·(W_in x + b + I)  ⇔  lif with W_in ← r·W_in, b ← r·b + v_leak, I ← r·I.
    r = vec(lif.r)
    tau_m, tau_s = vec(lif.tau), vec(syn.tau)
    # A spike of weight w into τ İ = −I + r·w·δ makes I jump by (r/τ)·w: lif's jump is w.
    w_rec = np.asarray(parts["W_rec"].weight, np.float64) * (r * vec(syn.r) / tau_s)[:, None]
    w_out = np.asarray(parts["W_out"].weight, np.float64) * (vec(trace.r) / tau_o)[None, :]
    w_in = np.asarray(parts["W_in"].weight, np.float64)
    b = np.asarray(getattr(parts["W_in"], "bias", np.zeros(h)), np.float64)
    n_in, n_out = w_in.shape[1], w_out.shape[0]

    options: dict[str, Any] = dict(dt=dt, threshold=float(theta[0]), reset="zero", refractory=0.0,
                                   tau_out=float(tau_o[0]), tau_mem=float(tau_m.mean()), tau_syn=float(tau_s.mean()))
    hetero = np.any(tau_m != tau_m[0]) or np.any(tau_s != tau_s[0])
    if hetero:
        low, high = min(tau_m.min(), tau_s.min()), max(tau_m.max(), tau_s.max())
        options.update(tau_spread=float(tau_m.std() / tau_m.mean()) or 1e-3,
                       tau_min=float(min(1.0, low / 2)), tau_max=float(max(200.0, 2 * high)))
    model = models.get("lif", n_inputs=n_in, n_hidden=h, n_outputs=n_out, **options)

    def initial(node: Any) -> np.ndarray:
        return vec(node.metadata.get("initial_state", np.zeros(h))) if isinstance(node.metadata, dict) else np.zeros(h)

    h0 = np.zeros(model.n_state)
    h0[:h], h0[h : 2 * h] = initial(lif), initial(syn) * r
    h0[4 * h : 5 * h] = initial(trace) * tau_o / vec(trace.r)
    params = {
        "W_in": w_in * r[:, None],
        "W_rec": w_rec,
        "b": b * r + vec(lif.v_leak),
        "W_out": w_out,
        "b_out": np.asarray(getattr(parts["W_out"], "bias", np.zeros(n_out)), np.float64),
        "h0": h0,
    }
    if hetero:
        params["tau_mem_raw"], params["tau_syn_raw"] = _raw(model, tau_m), _raw(model, tau_s)
    return model, {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}


def _raw(model: Any, tau: np.ndarray) -> np.ndarray:
    """The unconstrained parameter whose bounded sigmoid is `tau` (the inverse of `lif`'s reparametrisation)."""
    frac = (tau - model.tau_min) / (model.tau_max - model.tau_min)
    return np.log(frac) - np.log1p(-frac)


def _dt(graph: Any, dt: float | None) -> float:
    if dt is None:
        meta = graph.metadata if isinstance(graph.metadata, dict) else {}
        if "dt" not in meta:
            raise ConfigError(
                "from_nir needs the time step: the graph has no 'dt' in its metadata (NIR graphs are continuous "
                "in time); pass dt=<milliseconds per step>."
            )
        dt = float(np.asarray(meta["dt"]))
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not 0 < dt < float("inf"):
        raise ConfigError(f"from_nir: dt must be a number of milliseconds > 0, got {dt!r}.")
    return float(dt)


def _parts(nir: Any, graph: Any) -> dict[str, Any]:
    """The nodes of a graph of `to_nir`'s shape, by role; ConfigError saying what differs otherwise."""
    nodes, edges = graph.nodes, [tuple(e) for e in graph.edges]
    into = lambda name: [a for a, b in edges if b == name]  # noqa: E731
    out_of = lambda name: [b for a, b in edges if a == name]  # noqa: E731
    shape = ("a graph input ─▶ Affine ─▶ LIF, LIF ─▶ Linear ─▶ LI ─▶ LIF, LIF ─▶ LI ─▶ Affine ─▶ output "
             "(what to_nir writes)")
    if any(isinstance(n, nir.CubaLIF) for n in nodes.values()):
        raise ConfigError(
            "from_nir: the graph has a CubaLIF node, whose every input passes through its synapse; lif injects "
            f"its input straight into the membrane and is written as {shape}."
        )
    lifs = [k for k, n in nodes.items() if isinstance(n, nir.LIF)]
    if len(lifs) != 1:
        raise ConfigError(f"from_nir reads one recurrent LIF population: expected {shape}; got {len(lifs)} LIF nodes.")
    lif = lifs[0]

    def only(names: list[str], kind: Any, role: str) -> str:
        hits = [k for k in names if isinstance(nodes[k], kind)]
        if len(hits) != 1:
            raise ConfigError(f"from_nir: could not find the {role}; expected {shape}.")
        return hits[0]

    synapse = only(into(lif), nir.LI, "synaptic LI node feeding the LIF node")
    w_in = only(into(lif), nir.Affine, "input Affine node feeding the LIF node")
    w_rec = only(into(synapse), (nir.Linear, nir.Affine), "recurrent Linear node feeding the synapse")
    if out_of(w_rec) != [synapse] or into(w_rec) != [lif] or len(into(lif)) != 2:
        raise ConfigError(f"from_nir: the recurrent path is not LIF ─▶ Linear ─▶ LI ─▶ LIF; expected {shape}.")
    if isinstance(nodes[w_rec], nir.Affine) and np.any(np.asarray(nodes[w_rec].bias) != 0):
        raise ConfigError("from_nir: the recurrent Affine node has a bias; lif's recurrence has none.")
    trace = only(out_of(lif), nir.LI, "readout LI node fed by the LIF node")
    w_out = only(out_of(trace), nir.Affine, "readout Affine node")
    if not all(isinstance(nodes[k], nir.Input) for k in into(w_in)) or not into(w_in):
        raise ConfigError(f"from_nir: the input Affine node is not fed by the graph input; expected {shape}.")
    if not out_of(w_out) or not all(isinstance(nodes[k], nir.Output) for k in out_of(w_out)):
        raise ConfigError(f"from_nir: the readout Affine node does not feed the graph output; expected {shape}.")
    return {"lif": nodes[lif], "synapse": nodes[synapse], "trace": nodes[trace], "W_in": nodes[w_in],
            "W_rec": nodes[w_rec], "W_out": nodes[w_out]}
