"""`score` and `dynascope score`: a network scored against a recording of its own activity (Poisson spikes
through `dynascope.data`'s observation functions, written as NWB) reaches the ceiling, one scored against an
unrelated system's recording does not; the ceiling is Spearman-Brown applied to the split-half similarity;
bad recordings and bad input are refused naming the field (CLI: one line, exit code 2)."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import kendalltau

from dynascope import data, models, pipeline, store, tasks
from dynascope.errors import DataError, DynascopeError
from dynascope.pipeline import SweepConfig
from dynascope.pipeline.benchmarks import Benchmark, get_benchmark, register_benchmark
from dynascope.pipeline.score import ScoreOptions, score, similarity
from dynascope.store.schema import ScoreAgreementRows, ScoreRows
from dynascope.train import Population, TrainOptions

pytest.importorskip("pynwb")
T, DT, PER_CONDITION = 12, 0.05, 16
CONFIG = SweepConfig(task="flipflop", archs=("vanilla", "gru"), n_hidden=(5,), n_networks=2, steps=1,
                     task_options={"n_bits": 2, "n_time": T}, train=TrainOptions(batch_size=4))
FAST = ScoreOptions(n_bootstrap=8, n_seed_bootstrap=200, trained_only=False)
METRICS = ("cca", "shape", "rsa")


def _design() -> tuple[np.ndarray, np.ndarray]:
    """8 conditions of 2-bit flip-flop pulses (a start pattern, and in half of them a flip at the middle)."""
    patterns = np.array(list(itertools.product((-1.0, 1.0), repeat=2)))
    labels = np.repeat(np.arange(8), PER_CONDITION)
    inputs = np.zeros((len(labels), T, 2), np.float32)
    inputs[:, :2] = patterns[labels % 4][:, None, :]
    inputs[:, 6:8] = -patterns[labels % 4][:, None, :] * (labels >= 4)[:, None, None]
    return labels, inputs


def _record(latents: np.ndarray, labels: np.ndarray, inputs: np.ndarray, path, *, key: jax.Array,
            baseline_hz: float = 40.0) -> None:
    """Observe `latents [trials, T, d]` through Poisson neurons (12 per latent, ± weights: an isometric, nearly
    linear embedding on the softplus link) and write the NWB file."""
    d = latents.shape[-1]
    weights = np.kron(np.eye(d), np.tile([0.7, -0.7], 6))  # [d, 12 d]: each neuron reads one latent
    flat = latents.reshape(-1, d)
    embedding = data.Embedding(weights, np.full(weights.shape[1], 5.0), flat.mean(0), np.full(d, flat.std()),
                               baseline_hz, "softplus")
    k_count, k_time = jax.random.split(key)
    rates = np.asarray(embedding.rates(jnp.asarray(latents, jnp.float32)))
    counts = data.spike_counts(rates, DT, key=k_count)
    starts = np.arange(len(labels)) * (T * DT + 0.5)
    rec = data.SyntheticRecording(
        counts=counts, labels=np.array([f"c{label}" for label in labels]), inputs=inputs, bin_width=DT,
        source="synthetic:network", system="network", options={}, latents=latents.astype(np.float32), rates=rates,
        spike_times=tuple(data.spike_times(counts, starts, DT, key=k_time)),
        trials={"start_time": starts, "stop_time": starts + T * DT,
                "condition": np.array([f"c{label}" for label in labels])},
        skeleton=data.Skeleton(np.zeros((1, d)), np.zeros(1, np.int64), np.zeros(1, np.int64)), embedding=embedding)
    data.write_nwb(rec, path)


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """A run of 2 vanilla and 2 GRU networks (initial weights: scoring does not care how they were made), a
    recording of the first GRU's own activity and one of an unrelated system on the same trials."""
    root = tmp_path_factory.mktemp("score")
    run = pipeline.prepare_run(CONFIG, root / "run")
    task = tasks.get("flipflop", n_bits=2, n_time=T)
    for i, arch in enumerate(CONFIG.archs):
        model = models.get(arch, n_inputs=2, n_hidden=5, n_outputs=2)
        params = jax.vmap(model.init)(jax.random.split(jax.random.key(i), 2))
        n = 2
        pipeline.save_population(run, f"{arch}-5", Population(
            task=task, model=model, params=params, seeds=np.arange(n), learning_rates=np.full(n, 1e-3),
            loss_history=np.zeros((n, 1), np.float32), final_loss=np.ones(n), metric=np.zeros(n),
            trained=np.zeros(n, bool), diverged=np.zeros(n, bool), stopped_at=np.ones(n, np.int64), seconds=0.0,
            options=CONFIG.train))
    labels, inputs = _design()
    own = pipeline.load_group(run, "gru-5")
    states, _ = own.model.run(own.network(0), jnp.asarray(inputs))
    _record(np.asarray(own.model.activity(states), np.float64), labels, inputs, root / "self.nwb",
            key=jax.random.key(1))
    _record(np.asarray(own.model.activity(states), np.float64), labels, inputs, root / "self_noisy.nwb",
            key=jax.random.key(3), baseline_hz=15.0)
    walks = np.tanh(np.cumsum(np.random.default_rng(0).standard_normal((8, T, 5)), axis=1) * 0.3)
    _record(walks[labels], labels, inputs, root / "other.nwb", key=jax.random.key(2))
    return root


def _rows(board, metric: str, network: str):
    s = board.scores
    i = next(k for k, (m, lvl, n) in enumerate(zip(s.metric, s.level, s.network))
             if m == metric and lvl == "network" and n == network)
    return s.raw[i], s.ceiling[i], s.normalised[i], s.low[i], s.high[i]


def test_a_network_scores_at_the_ceiling_against_its_own_recording_and_below_against_another(scored):
    run = store.open(scored / "run")
    own = score(run, Benchmark("self", "1", scored / "self.nwb", metrics=METRICS), FAST)
    other = score(run, Benchmark("other", "1", scored / "other.nwb", metrics=METRICS), FAST)
    for metric in METRICS:
        raw, ceiling, normalised, low, high = _rows(own, metric, "gru-5/s000")
        assert normalised == pytest.approx(raw / ceiling)
        assert abs(normalised - 1) < 0.05 and low - 0.02 <= 1 <= high + 0.02, (metric, normalised, low, high)
        best = max(_rows(other, metric, n)[2] for n in set(other.scores.network) if "/" in n)
        assert best < 0.5, (metric, best)  # an unrelated system's recording: clearly below its ceiling
        # the network is its own recording's best model, under every metric
        s = own.scores
        top = [n for m, lvl, n, r in zip(s.metric, s.level, s.network, s.rank) if m == metric and lvl == "network"
               and r == 1]
        assert top == ["gru-5/s000"]
    # the leaderboard is in the catalog, per network and per group, with the agreement between metrics
    stored = run.read(ScoreRows, shard="self@1")
    assert sorted(set(zip(stored.level, stored.network))) == sorted(
        [("group", "gru-5"), ("group", "vanilla-5")] + [("network", f"{a}-5/s00{i}") for a in ("gru", "vanilla")
                                                          for i in (0, 1)])
    agree = run.read(ScoreAgreementRows, shard="self@1")
    assert list(zip(agree.metric_a, agree.metric_b)) == [("cca", "shape"), ("cca", "rsa"), ("shape", "rsa")]
    nets = {m: [x for mm, lvl, x in zip(stored.metric, stored.level, stored.normalised) if mm == m and lvl == "network"]
            for m in METRICS}
    assert agree.kendall_tau[0] == pytest.approx(kendalltau(nets["cca"], nets["shape"]).statistic)
    assert len(own.statements()) == 3 and all(("agree" in t) for t in own.statements())


def test_the_ceiling_is_spearman_brown_of_the_split_half_similarity():
    # Spearman-Brown closed form: doubling a test of reliability r gives 2r / (1 + r); r = 0.6 -> 0.75.
    assert data.spearman_brown(0.6) == pytest.approx(0.75)
    assert data.spearman_brown(np.array([0.0, 1.0])).tolist() == [0.0, 1.0]
    # A distance becomes a similarity: cos for angles, 1 - d otherwise.
    from dynascope.compare import get_metric

    assert similarity(get_metric("shape"), np.array([np.pi / 3]))[0] == pytest.approx(0.5)
    assert similarity(get_metric("cca"), np.array([0.25]))[0] == pytest.approx(0.75)


def test_each_metric_ceiling_is_the_closed_form_of_its_split_halves(scored):
    run = store.open(scored / "run")
    board = score(run, Benchmark("self", "1", scored / "self.nwb", metrics=("cca", "rsa")), FAST)
    for metric in ("cca", "rsa"):
        r = board.split_similarity[metric].mean()
        ceiling = next(c for m, c in zip(board.scores.metric, board.scores.ceiling) if m == metric)
        # the closed form, not the library's function: a correlation with the whole recording is bounded by the
        # square root of its reliability, which is Spearman-Brown's of the halves' agreement
        assert ceiling == pytest.approx(np.sqrt(2 * r / (1 + r)))
        assert 0.5 < r < ceiling < 1  # Poisson noise: halves agree less than the whole does with itself
    # The recording's pooled reliability is split_half_ceiling's, and Spearman-Brown of its split-half value.
    assert board.reliability.pooled == pytest.approx(2 * board.reliability.split_half_pooled
                                                     / (1 + board.reliability.split_half_pooled))


def test_a_perfect_model_of_a_noisy_recording_scores_at_its_ceiling(scored):
    # 15 Hz neurons (the main recording's are at 40): the halves agree less than the whole recording agrees with
    # the signal. The network that generated the spikes is a perfect model; it scores 1 with the square-root
    # ceiling, and more than 1 with Spearman-Brown alone. (Far sparser, the recording's principal axes are
    # themselves noisy and every score errs low: RESULTS §14b.)
    run = store.open(scored / "run")
    board = score(run, Benchmark("noisy", "1", scored / "self_noisy.nwb", metrics=("cca", "shape")), FAST)
    for metric in ("cca", "shape"):
        raw, ceiling, normalised, low, high = _rows(board, metric, "gru-5/s000")
        r = board.split_similarity[metric].mean()
        assert r < 0.9 and abs(normalised - 1) < 0.03 and low - 0.01 <= 1 <= high + 0.01, (metric, r, normalised)
        assert raw / (2 * r / (1 + r)) > 1.03  # Spearman-Brown alone: a perfect model "above the ceiling"


def _broken(path, what: str):
    """A copy of a recording with one thing wrong, written with pynwb."""
    import pynwb

    from dynascope.data.nwb import SESSION_START

    nwb = pynwb.NWBFile(session_description="broken", identifier=what, session_start_time=SESSION_START)
    starts = np.arange(8) * 1.0
    if what != "no_trials":
        nwb.add_trial_column(name="condition", description="condition")
        for i, s in enumerate(starts):
            nwb.add_trial(start_time=float("nan") if (what == "nan_times" and i == 3) else float(s),
                          stop_time=float(s) + 0.6, condition=f"c{i % 2}")
    nwb.add_unit(spike_times=np.sort(np.random.default_rng(0).uniform(0, 8, 200)))
    if what == "silent_unit":
        nwb.add_unit(spike_times=np.zeros(0))
    if what == "one_condition":
        nwb.trials.condition.data[:] = ["c0"] * 8  # hdmf keeps the list: every trial the same condition
    channels = 3 if what == "wrong_inputs" else 2
    nwb.add_acquisition(pynwb.TimeSeries(name="stimulus", data=np.zeros((800, channels), np.float32), unit="a.u.",
                                         starting_time=0.0, rate=100.0))
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


@pytest.mark.parametrize(("what", "message"), [
    ("no_trials", r"no trials table \(nwb.trials\)"),
    ("nan_times", r"trials column 'start_time' holds non-finite times at trials \[3\]"),
    ("wrong_inputs", r"inputs have 3 channels but group 'gru-5' \(task 'flipflop'\) takes 2"),
    ("silent_unit", r"units \[1\] have no spike_times"),
    ("one_condition", r"trials column 'condition' has 1 condition\(s\) with two or more trials"),
])
def test_bad_recordings_are_refused_naming_the_field(scored, tmp_path, what, message):
    path = _broken(tmp_path / f"{what}.nwb", what)
    run = store.open(scored / "run")
    bench = Benchmark(what, "1", path, metrics=("cca",), inputs="stimulus", bin_width=0.05, n_bins=12)
    with pytest.raises(DataError, match=message):
        score(run, bench, FAST)
    assert not run.shards(ScoreRows) or all(p.stem != f"{what}@1" for p in run.shards(ScoreRows))


def test_a_benchmark_is_registered_once_and_checked(scored):
    bench = register_benchmark(Benchmark("mine", "2", scored / "self.nwb", metrics=("cca",)))
    assert get_benchmark("mine@2") is bench
    with pytest.raises(DynascopeError, match="registered twice"):
        register_benchmark(bench)
    with pytest.raises(DynascopeError, match="compares skeletons"):
        Benchmark("t", "1", "x.nwb", metrics=("topology",)).validate()
    with pytest.raises(DynascopeError, match="unknown metric 'ccaa'"):
        Benchmark("t", "1", "x.nwb", metrics=("ccaa",)).validate()


def _cli(dynascope_main, capsys, *args: str) -> tuple[int, str, list[str]]:
    code = dynascope_main(*args)
    out = capsys.readouterr()
    return code, out.out, [ln for ln in out.err.splitlines() if ln.strip()]


def test_cli_prints_the_leaderboard_and_refuses_bad_input_in_one_line(scored, dynascope_main, capsys):
    run = str(scored / "run")
    code, out, err = _cli(dynascope_main, capsys, "score", run, "--recordings", str(scored / "self.nwb"),
                          "--metric", "cca,rsa", "--bootstrap", "4", "--all")
    assert code == 0, err
    assert "leaderboard" in out and "gru-5/s000" in out and "cca and rsa" in out
    for args, message in [
        (["--recordings", str(scored / "missing.nwb")], "does not exist"),
        (["--recordings", str(scored / "self.nwb"), "--metric", "ccaa"], "unknown metric 'ccaa'"),
        (["--recordings", str(scored / "self.nwb"), "--bootstrap", "0"], "n_bootstrap must be a positive integer"),
        (["--recordings", str(scored / "run")], "must be an .nwb file"),
    ]:
        code, _, err = _cli(dynascope_main, capsys, "score", run, *args, "--all")
        assert code == 2 and len(err) == 1 and message in err[0], (args, err)


def test_an_interrupted_score_writes_nothing_and_the_report_shows_a_finished_one(scored, tmp_path):
    import shutil

    from dynascope.report import render_report
    from tests.report.test_figures import report_section

    shutil.copytree(scored / "run", tmp_path / "run")
    run = store.open(tmp_path / "run")
    bench = Benchmark("again", "1", scored / "self.nwb", metrics=("cca", "rsa"))

    def stop(metric: str, done: int, total: int) -> None:
        if metric == "rsa":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score(run, bench, FAST, progress=stop)
    before = render_report(run, max_networks=1, n_trials=1)  # other tests' benchmarks, if they ran first
    assert "again@1" not in [p.stem for p in run.shards(ScoreRows)] and "again@1" not in before
    run.check_intact()
    board = score(run, bench, FAST)  # the run is as it was: scoring again works
    page = report_section(render_report(run, max_networks=1, n_trials=1), "leaderboard")
    assert 'id="leaderboard"' in page and "<h3>again@1</h3>" in page and board.statements()[0] in page
    # a header and one row per score for every benchmark scored
    shards = [p.stem for p in run.shards(ScoreAgreementRows)]
    assert page.count("<tr>") == sum(1 + len(run.read(ScoreRows, shard=s)) for s in shards)
