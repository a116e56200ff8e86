"""The catalog tables as declared once in `store.schema`: the run-folder format they pin, the typed rows, and
`RunFolder.read` checked against DuckDB's SQL on the same shards."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pytest

from dynascope import store
from dynascope.errors import ConfigError, RunFolderError
from dynascope.store import DistanceRows, LossRows, NetworkRows, SummaryRows
from tests.store.tiny import TINY

#: The run-folder format: every table's columns and Arrow types, as run folders written since the first
#: release hold them. Changing a table's class changes this, and needs a format migration.
FORMAT = {
    "networks": [("network", pa.string()), ("group", pa.string()), ("index", pa.int64()), ("arch", pa.string()),
                 ("n_hidden", pa.int64()), ("seed", pa.int64()), ("learning_rate", pa.float64()),
                 ("task", pa.string()), ("steps", pa.int64()), ("final_loss", pa.float64()),
                 ("metric", pa.float64()), ("trained", pa.bool_()), ("diverged", pa.bool_()),
                 ("stopped_at", pa.int64()), ("train_seconds", pa.float64())],
    "losses": [("network", pa.string()), ("loss", pa.list_(pa.float32()))],
    "fixed_points": [("network", pa.string()), ("group", pa.string()), ("input_index", pa.int64()),
                     ("input", pa.list_(pa.float64())), ("state", pa.list_(pa.float64())), ("q", pa.float64()),
                     ("status", pa.string()), ("n_unstable", pa.int64()), ("is_stable", pa.bool_()),
                     ("outside_reachable", pa.bool_()), ("eig_real", pa.list_(pa.float64())),
                     ("eig_imag", pa.list_(pa.float64()))],
    "skeletons": [("network", pa.string()), ("group", pa.string()), ("input_index", pa.int64()),
                  ("n_stable", pa.int64()), ("n_saddles", pa.int64()), ("index_counts", pa.string()),
                  ("n_slow", pa.int64()), ("n_outside", pa.int64()), ("n_cycles", pa.int64()),
                  ("wl_hash", pa.string()), ("signature", pa.string())],
    # added with the energy counts; a run analysed before has no shard of it and reads it as empty
    "energy": [("network", pa.string()), ("group", pa.string()), ("arch", pa.string()), ("spiking", pa.bool_()),
               ("n_trials", pa.int64()), ("operations_per_trial", pa.float64()),
               ("operations_per_step", pa.float64()), ("mean_rate_hz", pa.float64()), ("score", pa.float64())],
    # added with `dynascope ablate`: one row per arm and size of an ablation
    "ablation": [("group", pa.string()), ("mechanism", pa.string()), ("arm", pa.string()), ("arch", pa.string()),
                 ("model_options", pa.string()), ("n_hidden", pa.int64()), ("n_networks", pa.int64()),
                 ("n_scored", pa.int64()), ("score_mean", pa.float64()), ("score_low", pa.float64()),
                 ("score_high", pa.float64()), ("operations_per_trial", pa.float64()),
                 ("mean_rate_hz", pa.float64())],
    # added with `dynascope specialize`: the three specialization measures per network, step, module and sub-task
    "specialization": [("network", pa.string()), ("group", pa.string()), ("arch", pa.string()),
                       ("n_hidden", pa.int64()), ("inter_fraction", pa.float64()), ("modularity", pa.float64()),
                       ("step", pa.int64()), ("measure", pa.string()), ("module", pa.int64()),
                       ("subtask", pa.string()), ("score", pa.float64())],
    "distances": [("metric", pa.string()), ("a", pa.string()), ("b", pa.string()), ("distance", pa.float64())],
    "embedding": [("metric", pa.string()), ("network", pa.string()), ("x", pa.float64()), ("y", pa.float64()),
                  ("cluster", pa.int64())],
    "summary": [("metric", pa.string()), ("quantity", pa.string()), ("arch", pa.string()), ("value", pa.float64())],
    # added with `dynascope score`: the leaderboard against a benchmark recording, and where metrics disagree
    "scores": [("benchmark", pa.string()), ("version", pa.string()), ("metric", pa.string()), ("level", pa.string()),
               ("network", pa.string()), ("group", pa.string()), ("arch", pa.string()), ("raw", pa.float64()),
               ("ceiling", pa.float64()), ("normalised", pa.float64()), ("low", pa.float64()),
               ("high", pa.float64()), ("rank", pa.int64())],
    "score_agreement": [("benchmark", pa.string()), ("metric_a", pa.string()), ("metric_b", pa.string()),
                        ("kendall_tau", pa.float64()), ("p_value", pa.float64()), ("disagree", pa.bool_())],
    # added with `analyze --over-training`: the skeleton at each parameter snapshot kept during training
    "training_skeletons": [("network", pa.string()), ("group", pa.string()), ("step", pa.int64()),
                           ("input_index", pa.int64()), ("n_stable", pa.int64()), ("n_saddles", pa.int64()),
                           ("index_counts", pa.string()), ("n_slow", pa.int64()), ("wl_hash", pa.string())],
    # added with fits to recordings: the CtDB scores of each fitted network
    "fit_scores": [("network", pa.string()), ("group", pa.string()), ("arch", pa.string()), ("co_bps", pa.float64()),
                   ("co_bps_true", pa.float64()), ("rate_r2", pa.float64()), ("latent_r2", pa.float64()),
                   ("n_stable", pa.int64()), ("n_stable_true", pa.int64()), ("skeleton_match", pa.bool_()),
                   ("train_metric", pa.float64()), ("index_counts", pa.string()),
                   ("index_counts_true", pa.string()), ("skeleton_distance", pa.float64())],
}


def test_every_table_keeps_the_run_folder_format():
    assert list(store.TABLES) == list(FORMAT)
    for name, rows in store.TABLES.items():
        assert rows.TABLE == name
        assert rows.SCHEMA.equals(pa.schema(FORMAT[name])), name
        shard = "benchmark" if name in ("scores", "score_agreement") else "group"
        assert rows.SHARD == ("metric" if name in ("distances", "embedding", "summary") else shard)


def test_rows_are_built_by_column_name_only():
    with pytest.raises(TypeError, match="netwrk"):
        LossRows(netwrk=["a"], loss=[[1.0]])
    with pytest.raises(TypeError, match="loss"):
        LossRows(network=["a"])
    with pytest.raises((TypeError, pa.ArrowInvalid, pa.ArrowTypeError)):
        SummaryRows(metric=["m"], quantity=["q"], arch=["all"], value=["not a number"]).to_arrow()


def test_rows_select_concatenate_and_convert():
    a = SummaryRows(metric=["m", "m"], quantity=["q1", "q2"], arch=["all", "gru"], value=[1.0, 2.0])
    b = SummaryRows(metric=["n"], quantity=["q1"], arch=["all"], value=[np.float64(3.0)])
    both = SummaryRows.concat([a, b])
    assert len(both) == 3 and both.value == [1.0, 2.0, 3.0]
    assert both.where([v > 1.5 for v in both.value]) == SummaryRows(
        metric=["m", "n"], quantity=["q2", "q1"], arch=["gru", "all"], value=[2.0, 3.0])
    assert both.take([2, 0]).metric == ["n", "m"]
    assert both.records()[1] == {"metric": "m", "quantity": "q2", "arch": "gru", "value": 2.0}
    assert SummaryRows.from_arrow(both.to_arrow()) == both
    assert len(SummaryRows.empty()) == 0 and SummaryRows.empty().to_arrow().num_rows == 0
    # A 2-D array is a list column of one row per entry.
    losses = LossRows(network=["a", "b"], loss=np.arange(6, dtype=np.float32).reshape(2, 3))
    assert LossRows.from_arrow(losses.to_arrow()).loss == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


@pytest.fixture
def folder(tmp_path):
    run = store.RunFolder.create(tmp_path / "r", TINY.to_dict())
    rng = np.random.default_rng(3)
    for metric in ("cca", "cka"):
        pairs = [(a, b) for a in "pqrs" for b in "pqrs" if a < b]
        run.write(metric, DistanceRows(metric=[metric] * len(pairs), a=[p for p, _ in pairs],
                                       b=[q for _, q in pairs], distance=rng.random(len(pairs))))
    return run


def test_read_filters_and_sorts_as_duckdb_does(folder):
    got = folder.read(DistanceRows, where={"metric": "cca", "a": ["p", "r"]}, order_by=("distance",))
    ref = folder.sql("select metric, a, b, distance from distances where metric = 'cca' and a in ('p', 'r') "
                     "order by distance").fetchall()
    assert list(zip(*got.columns().values())) == ref
    assert len(folder.read(DistanceRows)) == 12
    assert folder.read(DistanceRows, shard="cka").metric == ["cka"] * 6
    assert len(folder.read(DistanceRows, where={"a": []})) == 0
    assert folder.count(DistanceRows, where={"b": "s"}) == folder.sql(
        "select count(*) from distances where b = 's'").fetchall()[0][0] == 6
    assert folder.distinct(DistanceRows, "a", where={"metric": "cka"}) == [
        a for (a,) in folder.sql("select distinct a from distances where metric = 'cka' order by a").fetchall()]


def test_read_sees_every_write_including_another_handles(folder):
    assert len(folder.read(SummaryRows)) == 0
    other = store.open(folder.path)
    other.write("cca", SummaryRows(metric=["cca"], quantity=["q"], arch=["all"], value=[0.5]))
    assert folder.read(SummaryRows).value == [0.5]  # a shard another handle wrote is read, not a stale cache
    other.write("cca", SummaryRows(metric=["cca"], quantity=["q"], arch=["all"], value=[0.25]))
    assert folder.read(SummaryRows).value == [0.25]


def test_read_names_a_bad_column_or_a_missing_shard(folder):
    with pytest.raises(ConfigError, match=r"where: 'netwrk' is not a column of the 'networks' table"):
        folder.read(NetworkRows, where={"netwrk": "x"})
    with pytest.raises(ConfigError, match=r"order_by: 'size' is not a column of the 'distances' table"):
        folder.read(DistanceRows, order_by=("size",))
    with pytest.raises(ConfigError, match=r"column: 'size' is not a column of the 'distances' table"):
        folder.distinct(DistanceRows, "size")
    with pytest.raises(RunFolderError, match=r"catalog shard .*summary/dsa.parquet does not exist"):
        folder.read(SummaryRows, shard="dsa")


def test_a_written_shard_replaces_the_old_one(folder):
    rows = folder.read(DistanceRows, shard="cca")
    folder.write("cca", dataclasses.replace(rows, distance=[0.0] * len(rows)))
    assert folder.read(DistanceRows, where={"metric": "cca"}).distance == [0.0] * 6
    assert len(folder.read(DistanceRows)) == 12
