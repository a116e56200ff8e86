"""The Ray backend (`dynascope.scale`): the shard plan, damaged shards, the one-line error without Ray, and
the cluster cases (ray_cluster_cases.py), run in a pytest process of their own so that Ray is never
imported into this suite's workers."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

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
    assert "5 passed" in res.stdout, res.stdout[-4000:]


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


def test_the_command_without_ray_is_one_line_with_exit_code_2(tmp_path):
    # The real command in a process where `import ray` fails, as on a machine without the extra.
    script = ("import sys; sys.modules['ray'] = None; from dynascope.cli import main; "
              f"sys.argv = ['dynascope', 'train', '--backend', 'ray', '--out', {str(tmp_path / 'run')!r}]; main()")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "pip install 'dynascope[scale]'" in lines[0] and not res.stdout.strip()
    assert not (tmp_path / "run").exists()
