"""A trained `lif` network exported to NIR, written and read by the nir package, and imported back spikes exactly
as before; NIR's own parameters (r, v_leak) are read by their equations; what NIR cannot express is refused."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import nir
import numpy as np
import pytest

from dynascope import models, tasks
from dynascope.errors import ConfigError
from dynascope.interop import from_nir, to_nir
from dynascope.train import train_population

TASK = tasks.get("flipflop", n_bits=2, n_time=20)
LONG = tasks.get("flipflop", n_bits=2, n_time=120)  # the trials the exported networks are run on


@pytest.fixture(scope="module")
def trained() -> tuple[models.Model, dict]:
    """A lif network trained a little (so h0 and the weights are no longer their init), with heterogeneous time
    constants, a sparse mask and Dale's law."""
    model = models.get("lif", n_inputs=2, n_hidden=12, n_outputs=2, reset="zero", tau_spread=0.3,
                       connectivity=0.5, dale=True, e_fraction=0.75, dt=0.5)
    pop = train_population(TASK, model, 1, 30, jax.random.key(0), batch_size=8, learning_rate=1e-2, checkpoint_every=30)
    params = pop.network(0)
    assert np.abs(np.asarray(params["h0"])).max() > 0
    return model, params


def spikes_and_outputs(model: models.Model, params: dict, inputs: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    states, outputs = jax.jit(model.run)(params, inputs)
    return np.asarray(model.spikes(states)), np.asarray(outputs)


def test_export_write_read_import_reproduces_the_spike_trains_exactly(trained, tmp_path: Path) -> None:
    model, params = trained
    path = tmp_path / "lif.nir"
    nir.write(path, to_nir(model, params))
    graph = nir.read(path)
    assert {type(n).__name__ for n in graph.nodes.values()} == {"Input", "Affine", "LIF", "Linear", "LI", "Output"}
    back, back_params = from_nir(graph)
    assert back.name == "lif" and back.dt == model.dt and back.reset == "zero"
    np.testing.assert_allclose(np.asarray(back.effective_weights(back_params)), np.asarray(model.effective_weights(params)))

    inputs = LONG.sample(jax.random.key(7), 16).inputs
    z0, y0 = spikes_and_outputs(model, params, inputs)
    z1, y1 = spikes_and_outputs(back, back_params, inputs)
    assert z0.sum() > 100
    np.testing.assert_array_equal(z1, z0)
    np.testing.assert_allclose(y1, y0, rtol=1e-5, atol=1e-5)


def test_nir_resistances_and_leak_are_read_by_their_equations(trained) -> None:
    """NIR's LIF is τ_m v̇ = (v_leak − v) + r·(inputs) and its LI τ İ = (v_leak − I) + r·(inputs), a spike being a
    Dirac delta. Doubling the LIF's r (which scales the synaptic current it receives too) while halving the input
    Affine's weight and bias, moving part of the bias into v_leak (r·b' + v_leak = b), dividing the synapse LI's
    r by 4 while doubling W_rec (jump r_lif·r_syn/τ_syn·W unchanged) and halving its initial state, and
    multiplying the trace LI's r by 4 while dividing W_out by 4, describe the same network: the same spikes."""
    model, params = trained
    g = to_nir(model, params)
    lif, syn, trace = g.nodes["lif"], g.nodes["synapse"], g.nodes["trace"]
    h = model.n_hidden
    leak = np.linspace(-0.2, 0.3, h).astype(np.float32)
    g.nodes["lif"] = nir.LIF(tau=lif.tau, r=2 * lif.r, v_leak=leak, v_threshold=lif.v_threshold,
                             v_reset=lif.v_reset, metadata=lif.metadata)
    g.nodes["W_in"] = nir.Affine(weight=g.nodes["W_in"].weight / 2, bias=(g.nodes["W_in"].bias - leak) / 2)
    g.nodes["synapse"] = nir.LI(tau=syn.tau, r=syn.r / 4, v_leak=syn.v_leak,
                                metadata={"initial_state": syn.metadata["initial_state"] / 2})
    g.nodes["W_rec"] = nir.Linear(weight=g.nodes["W_rec"].weight * 2)
    g.nodes["trace"] = nir.LI(tau=trace.tau, r=trace.r * 4, v_leak=trace.v_leak,
                              metadata={"initial_state": trace.metadata["initial_state"] * 4})
    g.nodes["W_out"] = nir.Affine(weight=g.nodes["W_out"].weight / 4, bias=g.nodes["W_out"].bias)
    back, back_params = from_nir(g)
    inputs = LONG.sample(jax.random.key(8), 16).inputs
    z0, y0 = spikes_and_outputs(model, params, inputs)
    z1, y1 = spikes_and_outputs(back, back_params, inputs)
    # The same network up to the float32 rounding of (b − v_leak)/2·2 + v_leak: a spike may flip only where v
    # grazes the threshold; every trial whose spikes agree must give the same outputs.
    assert z0.sum() > 100 and (z0 != z1).sum() <= 2, (z0 != z1).sum()
    same = np.all(z0 == z1, axis=(1, 2))
    assert same.sum() >= 12
    np.testing.assert_allclose(y1[same], y0[same], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("name", "options", "pattern"),
    [
        ("alif", {}, r"cannot export an 'alif' network: NIR has no node with an adaptive threshold"),
        ("lif", {"reset": "subtract"}, r"cannot export reset='subtract'"),
        ("lif", {"reset": "zero", "refractory": 2.0}, r"cannot export refractory=2\.0 \(2 steps\)"),
        ("vanilla", {}, r"exports 'lif' \(and 'modular_lif'\) spiking networks, got model 'vanilla'"),
    ],
)
def test_what_nir_cannot_express_is_refused(name: str, options: dict, pattern: str) -> None:
    model = models.get(name, n_inputs=2, n_hidden=4, n_outputs=1, **options)
    with pytest.raises(ConfigError, match=pattern):
        to_nir(model, model.init(jax.random.key(0)))


def test_import_refuses_other_graphs_and_a_missing_dt(trained) -> None:
    model, params = trained
    g = to_nir(model, params)
    g.metadata = {}
    with pytest.raises(ConfigError, match=r"has no 'dt' in its metadata.*pass dt="):
        from_nir(g)
    assert from_nir(g, dt=2.0)[0].dt == 2.0
    h = model.n_hidden
    cuba = nir.NIRGraph.from_list(
        nir.Affine(weight=np.ones((h, 2), np.float32), bias=np.zeros(h, np.float32)),
        nir.CubaLIF(tau_syn=np.ones(h), tau_mem=np.ones(h), r=np.ones(h), v_leak=np.zeros(h), v_threshold=np.ones(h)),
    )
    with pytest.raises(ConfigError, match=r"CubaLIF node, whose every input passes through its synapse"):
        from_nir(cuba, dt=1.0)
    lif = g.nodes["lif"]
    g.nodes["lif"] = nir.LIF(tau=lif.tau, r=lif.r, v_leak=lif.v_leak, v_threshold=lif.v_threshold,
                             v_reset=np.full(h, 0.1, np.float32))
    with pytest.raises(ConfigError, match=r"v_reset must be 0"):
        from_nir(g, dt=1.0)
    with pytest.raises(ConfigError, match=r"expects a nir.NIRGraph .*got dict"):
        from_nir({"nodes": {}}, dt=1.0)
