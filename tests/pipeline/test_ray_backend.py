"""The Ray backend (`dynascope.scale`): the shard plan, damaged shards, the one-line error without Ray, and
the cluster cases (ray_cluster_cases.py), run in a pytest process of their own so that Ray is never
imported into this suite's workers."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dynascope import scale
from dynascope.errors import ConfigError
from dynascope.scale import Shard
from tests.pipeline.ray_sweep import CONFIG, GROUP

CASES = Path(__file__).with_name("ray_cluster_cases.py")


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs Ray (pip install 'dynascope[scale]')")
def test_the_cluster_cases_pass_in_a_process_of_their_own(tmp_path):
    root = Path(__file__).parents[2]
    res = subprocess.run(
        [sys.executable, "-m", "pytest", str(CASES), "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
         "--basetemp", str(tmp_path / "cases")],
        cwd=root, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-8000:] + res.stderr[-4000:]
    assert "9 passed" in res.stdout, res.stdout[-4000:]


def test_shards_plan_only_the_missing_networks():
    # A gap between finished shards is never bridged: network 3 is trained once, in a shard of its own.
    assert scale.cut_shards(GROUP, [0, 1, 2, 4, 5, 6, 7], 2) == [
        Shard(GROUP, 0, 2), Shard(GROUP, 2, 3), Shard(GROUP, 4, 6), Shard(GROUP, 6, 8)]
    assert scale.cut_shards(GROUP, [], 3) == []


def test_a_damaged_or_unfinished_shard_is_not_a_finished_one(tmp_path):
    group = tmp_path / scale.SHARDS / GROUP
    (group / "0000000-0000002").mkdir(parents=True)  # a shard folder without its files (damaged by hand)
    (group / "0000000-0000002" / "config.toml").write_text("not = [toml")
    (group / ".0000002-0000004.1f2e.tmp").mkdir()  # an attempt that never committed
    done, notes = scale.finished_shards(tmp_path, GROUP)
    assert done == [] and len(notes) == 1 and f"shard {GROUP}[0:2] is damaged" in notes[0]
    assert not (group / "0000000-0000002").exists()  # deleted, so the shard is trained again


def test_without_ray_the_backend_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ConfigError, match=r"backend: 'ray' needs Ray.*pip install 'dynascope\[scale\]'"):
        scale.run_sweep_ray(CONFIG, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_analysis_and_study_without_ray_say_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)
    for step in (scale.analyze_run_ray, scale.study_ray):
        with pytest.raises(ConfigError, match=r"backend: 'ray' needs Ray.*pip install 'dynascope\[scale\]'"):
            step(None)  # refused before the run folder is looked at


def test_blocks_of_pairs_cover_the_upper_triangle_in_order():
    n = 5
    iu, ju = np.triu_indices(n, k=1)
    blocks = scale.cut_shards("cka", list(range(iu.size)), 4)  # 10 pairs: 4 + 4 + 2
    assert [(b.start, b.stop) for b in blocks] == [(0, 4), (4, 8), (8, 10)]
    joined = np.concatenate([scale.pair_block(n, b.start, b.stop) for b in blocks])
    np.testing.assert_array_equal(joined, np.stack([iu, ju], axis=1))
    assert (joined[:, 0] < joined[:, 1]).all()


def test_shards_of_other_options_or_items_are_never_reused():
    from dynascope.compare import get_metric
    from dynascope.pipeline import AnalysisOptions

    assert scale.analysis_stage(AnalysisOptions()) == scale.analysis_stage(AnalysisOptions())
    assert scale.analysis_stage(AnalysisOptions()) != scale.analysis_stage(AnalysisOptions(n_initial_states=64))
    items = [np.zeros((2, 3, 4), np.float32), np.ones((2, 3, 5), np.float32)]
    cka = get_metric("cka")
    assert scale.compare_stage(cka, items) == scale.compare_stage(cka, [x.copy() for x in items])
    assert scale.compare_stage(cka, items) != scale.compare_stage(cka, items[::-1])
    assert scale.compare_stage(cka, items) != scale.compare_stage(get_metric("procrustes"), items)


def test_the_commands_without_ray_are_one_line_with_exit_code_2(tmp_path):
    # The real commands in a process where `import ray` fails, as on a machine without the extra: one
    # process runs the three (through the entry point's error handling), a marker line between them.
    run = str(tmp_path / "run")
    argvs = [["train", "--backend", "ray", "--out", run], ["analyze", run, "--backend", "ray"],
             ["compare", run, "--backend", "ray"]]
    script = ("import sys; sys.modules['ray'] = None; from dynascope.cli._app import _run\n"
              f"for argv in {argvs!r}:\n"
              "    sys.argv = ['dynascope', *argv]; code = _run(); print(f'-- {code}', file=sys.stderr, flush=True)")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and not res.stdout.strip(), res.stderr
    said: list[list[str]] = [[]]
    codes: list[int] = []
    for line in filter(str.strip, res.stderr.splitlines()):
        if line.startswith("-- "):
            codes.append(int(line[3:]))
            said.append([])
        else:
            said[-1].append(line)
    assert codes == [2, 2, 2], res.stderr
    for lines in said[:-1]:
        assert len(lines) == 1 and "pip install 'dynascope[scale]'" in lines[0], res.stderr
    assert not (tmp_path / "run").exists()
