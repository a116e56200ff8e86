"""Static figures and the per-network view, checked against NumPy, scikit-learn and the raw Parquet shards."""

from __future__ import annotations

import jax
import numpy as np
import pyarrow.parquet as pq
import pytest
from matplotlib.collections import PathCollection
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgba
from sklearn.decomposition import PCA

from dynascope import pipeline, store
from dynascope.errors import ConfigError
from dynascope.report import PALETTE, NetworkView, figures, network_view, pca, write_figures


@pytest.fixture(scope="module")
def run(full_run):
    return store.open(full_run)


@pytest.fixture(scope="module")
def vanilla_view(run):
    return network_view(run, "vanilla-8/s000", n_trials=4, key=jax.random.key(0))


def _is_safe_colour(c) -> bool:
    """An Okabe–Ito palette colour or a grey (black, white): what a colour-blind reader tells apart."""
    r, g, b, a = to_rgba(c)
    return a == 0 or to_hex((r, g, b)) in {p.lower() for p in PALETTE} or np.ptp([r, g, b]) < 1e-6


def check_layout(fig) -> None:
    """Drawn, every title, label and legend lies inside the figure (nothing clipped at the edges), no legend
    covers a plotting area, and every colour is colour-blind safe (Okabe–Ito or grey; images in viridis)."""
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox.padded(1)
    main = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    texts = [t for ax in main for t in (ax.title, ax.xaxis.label, ax.yaxis.label) if t.get_text()]
    for artist in texts + legends:
        box = artist.get_window_extent(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, artist
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in main:
            assert not box.overlaps(ax.get_window_extent(renderer)), (legend, ax.get_title())
    for ax in main:
        for line in ax.get_lines():
            assert _is_safe_colour(line.get_color()), line
        for coll in ax.collections:
            if isinstance(coll, PathCollection):
                assert all(_is_safe_colour(c) for c in coll.get_facecolors()), coll
        for image in ax.get_images():
            assert image.get_cmap().name in ("viridis", "cividis")


def report_section(page: str, sid: str) -> str:
    """The `<section id=sid>` of a rendered report page (`render_report`), up to its end."""
    start = page.index(f'<section id="{sid}"')
    return page[start:page.index("</section>", start)]


def check_accessible(fig) -> None:
    """A title, axis labels with units in parentheses, and a legend or colour bar on the main axes; laid out
    as `check_layout` demands."""
    check_layout(fig)
    main = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert main and any(ax.get_title() for ax in main)
    for ax in main:
        # stacked panels sharing the time axis label it once, on the bottom panel
        xlabel = ax.get_xlabel() or next((o.get_xlabel() for o in ax.get_shared_x_axes().get_siblings(ax)
                                          if o.get_xlabel()), "")
        labels = [xlabel, ax.get_ylabel()] + ([ax.get_zlabel()] if hasattr(ax, "get_zlabel") else [])
        assert all("(" in s and ")" in s for s in labels), labels
    assert any(ax.get_legend() is not None for ax in main) or fig.legends


def test_pca_matches_scikit_learn():
    x = np.random.default_rng(0).normal(size=(200, 6)) @ np.diag([3.0, 2.0, 1.0, 0.5, 0.2, 0.1])
    mean, comps, ratio = pca(x)
    ref = PCA(n_components=3).fit(x)
    np.testing.assert_allclose(mean, ref.mean_)
    np.testing.assert_allclose(ratio, ref.explained_variance_ratio_, rtol=1e-10)
    np.testing.assert_allclose(np.abs(np.sum(comps * ref.components_, axis=1)), 1.0, rtol=1e-10)
    # fewer dimensions than components: zero rows, no variance
    _, comps2, ratio2 = pca(x[:, :2])
    assert comps2.shape == (3, 2) and np.all(comps2[2] == 0) and ratio2[2] == 0 and ratio2.sum() == pytest.approx(1)


def test_network_view_matches_a_numpy_simulation_and_jacobian(run, vanilla_view):
    """Vanilla RNN h' = tanh(W h + U x + b): trajectories simulated in NumPy and PCA'd by scikit-learn; the
    origin saddle's unstable direction from NumPy's eig of the hand-written Jacobian diag(1 − tanh²(b)) W."""
    import jax

    group = pipeline.load_group(run, "vanilla-8")
    p = {k: np.asarray(v, float) for k, v in group.network(0).items()}
    x = np.asarray(group.task.sample(jax.random.key(0), 4).inputs, float)
    h = np.broadcast_to(p["h0"], (4, 8))
    states = []
    for t in range(x.shape[1]):
        h = np.tanh(h @ p["W_rec"].T + x[:, t] @ p["W_in"].T + p["b"])
        states.append(h)
    states = np.stack(states, axis=1)  # [B, T, S]
    ref = PCA(n_components=3).fit(states.reshape(-1, 8))
    proj = ref.transform(states.reshape(-1, 8)).reshape(4, -1, 3)
    signs = np.sign(np.sum(proj * vanilla_view.trajectories, axis=(0, 1)))
    np.testing.assert_allclose(vanilla_view.trajectories, proj * signs, atol=1e-4)
    np.testing.assert_allclose(vanilla_view.explained, ref.explained_variance_ratio_, rtol=1e-4)

    # the catalog's converged points inside the reachable region: 4 stable, 3 index-1, 1 index-2
    assert sorted(vanilla_view.n_unstable.tolist()) == [0, 0, 0, 0, 1, 1, 1, 2]
    assert vanilla_view.n_hidden_points == 2 and vanilla_view.analysed
    origin = ref.transform(np.zeros((1, 8)))[0] * signs
    mids = vanilla_view.segments.mean(axis=1)
    at_origin = vanilla_view.segments[np.all(np.abs(mids - origin) < 1e-6, axis=1)]
    jac = (1 - np.tanh(p["b"]) ** 2)[:, None] * p["W_rec"]
    w, v = np.linalg.eig(jac)
    unstable = np.abs(w) > 1
    assert len(at_origin) == int(unstable.sum()) >= 1
    for seg in at_origin:
        d = seg[1] - seg[0]
        expected = [(ref.components_ @ np.real(v[:, j])) * signs for j in np.nonzero(unstable)[0]]
        cos = [abs(d @ e) / (np.linalg.norm(d) * np.linalg.norm(e)) for e in expected]
        assert max(cos) == pytest.approx(1.0, abs=1e-5)
    # By hand, the segment's ends: x* ± length·v̂ (v̂ the unit eigenvector of a real unstable mode), length 0.15
    # of the widest span of the visited states, then projected; and each segment carries its saddle's index.
    length = 0.15 * np.max(np.ptp(states.reshape(-1, 8), axis=0))
    real_modes = [j for j in np.nonzero(unstable)[0] if np.isreal(w[j])]
    assert real_modes
    for seg in at_origin:
        ends = []
        for j in real_modes:
            u = np.real(v[:, j]) / np.linalg.norm(np.real(v[:, j]))
            for s in (1.0, -1.0):
                ends.append(np.stack([ref.transform((-s * length * u)[None])[0], ref.transform((s * length * u)[None])[0]]) * signs)
        assert min(np.max(np.abs(seg - e)) for e in ends) < 1e-4
    origin_index = vanilla_view.n_unstable[np.all(np.abs(vanilla_view.fixed_points - origin) < 1e-6, axis=1)]
    at = np.all(np.abs(mids - origin) < 1e-6, axis=1)
    assert origin_index.tolist() == [int(unstable.sum())] and np.all(vanilla_view.segment_index[at] == origin_index[0])


def test_loss_curves_median_is_the_median_of_the_stored_losses(run, full_run):
    # The tiny run trains 30 steps: no network reaches the criterion, so each architecture's curve is the
    # dashed median of its untrained networks, and no band is drawn.
    fig = figures.loss_curves(run)
    check_accessible(fig)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert not ax.collections  # bands are for trained networks only
    for arch, colour in (("vanilla", PALETTE[0]), ("gru", PALETTE[1])):
        losses = np.array(pq.read_table(full_run / "catalog" / "losses" / f"{arch}-8.parquet").column("loss").to_pylist())
        line = next(ln for ln in ax.get_lines() if ln.get_label().startswith(f"{arch} untrained, median"))
        np.testing.assert_allclose(line.get_ydata(), np.median(losses, axis=0), rtol=1e-6)
        assert to_hex(line.get_color()) == colour.lower() and line.get_linestyle() == "--"


def test_distance_matrix_is_the_symmetric_catalog_matrix_ordered_by_architecture(run, full_run):
    fig = figures.distance_matrix(run, "cca")
    check_accessible(fig)
    rows = pq.read_table(full_run / "catalog" / "distances" / "cca.parquet").to_pylist()
    ids = ["vanilla-8/s000", "vanilla-8/s001", "gru-8/s000", "gru-8/s001"]  # config order: vanilla, gru
    expected = np.zeros((4, 4))
    for r in rows:
        i, j = ids.index(r["a"]), ids.index(r["b"])
        expected[i, j] = expected[j, i] = r["distance"]
    np.testing.assert_allclose(fig.axes[0].get_images()[0].get_array(), expected)
    # one tick per network, named and coloured by its architecture (config order: vanilla blue, gru orange)
    ticks = fig.axes[0].get_xticklabels()
    assert [t.get_text() for t in ticks] == ids == [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert [to_hex(t.get_color()) for t in ticks] == [PALETTE[0].lower()] * 2 + [PALETTE[1].lower()] * 2


def test_embedding_points_are_the_stored_coordinates(run, full_run):
    fig = figures.embedding(run, "topology")
    check_accessible(fig)
    stored = pq.read_table(full_run / "catalog" / "embedding" / "topology.parquet").to_pylist()
    drawn = np.concatenate([c.get_offsets() for c in fig.axes[0].collections if isinstance(c, PathCollection)])
    expected = np.array([[r["x"], r["y"]] for r in stored])
    assert sorted(map(tuple, np.round(drawn, 12))) == sorted(map(tuple, np.round(expected, 12)))


def test_state_space_trial_skeleton_and_spectrum_are_labelled(run, vanilla_view):
    for fig in (figures.state_space(vanilla_view), figures.trial(run, key=jax.random.key(0)), figures.skeleton_graph(vanilla_view),
                figures.eigenvalue_spectrum(vanilla_view)):
        check_accessible(fig)
    spectrum = figures.eigenvalue_spectrum(vanilla_view)
    circle = spectrum.axes[0].get_lines()[0]
    np.testing.assert_allclose(np.hypot(circle.get_xdata(), circle.get_ydata()), 1.0)
    drawn = np.concatenate([c.get_offsets() for c in spectrum.axes[0].collections])
    assert len(drawn) == vanilla_view.eigvals.size


def test_flow_spectrum_uses_the_imaginary_axis():
    eig = np.array([[-1.0 + 2.0j, -1.0 - 2.0j, 0.5 + 0.0j]])
    view = NetworkView(
        network="ctrnn-3/s000", arch="ctrnn", continuous=True, dt=10.0, trajectories=np.zeros((1, 5, 3)),
        explained=np.array([0.5, 0.3, 0.2]), fixed_points=np.zeros((1, 3)), n_unstable=np.array([1]),
        input_index=np.array([0]), eigvals=eig, segments=np.zeros((0, 2, 3)), segment_index=np.zeros(0, int),
        skeletons=[], n_hidden_points=0, analysed=True,
    )
    fig = figures.eigenvalue_spectrum(view)
    check_accessible(fig)
    boundary = fig.axes[0].get_lines()[0]
    assert list(boundary.get_xdata()) == [0.0, 0.0] and "1/τ" in fig.axes[0].get_xlabel()
    np.testing.assert_allclose(fig.axes[0].collections[0].get_offsets(), [[-1, 2], [-1, -2], [0.5, 0]])
    check_accessible(figures.skeleton_graph(view))  # no skeleton catalogued: says so, still labelled


def test_errors_name_the_bad_argument(run, tmp_path):
    with pytest.raises(ConfigError, match=r"no distances for metric 'nope'; stored: \['cca', 'topology'\]"):
        figures.distance_matrix(run, "nope")
    with pytest.raises(ConfigError, match=r"no embedding for metric 'nope'"):
        figures.embedding(run, "nope")
    with pytest.raises(ConfigError, match=r"network 'lstm-8/s000' is not in this run"):
        network_view(run, "lstm-8/s000", key=jax.random.key(0))
    with pytest.raises(ConfigError, match=r"formats must be some of png, svg, pdf, got \('jpg',\)"):
        write_figures(run, tmp_path, formats=("jpg",))


def test_interactive_figures_are_labelled_in_safe_colours(run, vanilla_view):
    """The plotly twins (3-D state space, MDS scatter): a title, axis titles with units, a legend, and only
    Okabe–Ito or grey colours; the 3-D scene keeps equal scales on its PCs."""
    from dynascope.report import embedding_figure, state_space_figure

    space = state_space_figure(vanilla_view)
    emb = embedding_figure(run, "cca")
    scene = space.layout.scene
    axes = [scene.xaxis, scene.yaxis, scene.zaxis], [emb.layout.xaxis, emb.layout.yaxis]
    for fig, fig_axes in zip((space, emb), axes):
        assert fig.layout.title.text
        assert all("(" in a.title.text and ")" in a.title.text for a in fig_axes)
        assert fig.layout.showlegend is not False and len({t.name for t in fig.data}) == len(fig.data) >= 2
        for trace in fig.data:
            colour = (trace.marker.color if trace.mode == "markers" else trace.line.color).lower()
            assert _is_safe_colour(colour), (trace.name, colour)
    assert scene.aspectmode == "data"
    assert "unitless" in emb.layout.xaxis.title.text


def test_every_study_metric_says_what_it_measures_and_its_unit():
    """Every registered metric's description and unit come from its registration, not the generic fallback;
    a metric nothing registered (a user's own, in an old catalog) gets the fallback."""
    from dynascope.compare import metrics

    for metric in metrics():
        assert figures.metric_units(metric.name) == (metric.description, metric.units)
        assert metric.units and metric.description != f"{metric.name} distance"
    assert figures.metric_units("dsa")[1] == "rad" and figures.metric_units("cca")[1] == "unitless"
    assert figures.metric_units("not_registered") == ("not_registered distance", "metric units")
