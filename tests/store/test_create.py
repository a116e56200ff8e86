"""Creating a run folder: every file follows the umask (a run folder is shared), config.toml is written only
after every option is validated and the folder found writable, and our own leftovers (a killed process's
temp file, a lock file) never make a folder unusable."""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
import tempfile

import numpy as np
import pytest

from dynascope import pipeline, store
from dynascope.errors import ConfigError, RunFolderError
from tests.store.tiny import TINY



@pytest.fixture
def umask():
    old = os.umask(0o022)

    def set_to(value: int) -> None:
        os.umask(value)

    yield set_to
    os.umask(old)


def _write_everything(path):
    folder = store.RunFolder.create(path, TINY.to_dict())
    folder.write("g", store.LossRows(network=["a"], loss=[np.zeros(2, np.float32)]))
    folder.write_weights("g", {"W": np.zeros((1, 2, 2), np.float32)}, {"arch": "vanilla"})
    return sorted(p for p in path.rglob("*") if p.is_file() and p.name != ".dynascope.lock")


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600), (0o027, 0o640)])
def test_every_file_follows_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    files = _write_everything(tmp_path / "r")
    assert [p.name for p in files] == ["g.parquet", "config.toml", "manifest.json", "g.safetensors"]
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {p.name: oct(mode) for p in files}


def test_safetensors_alone_would_write_0600(tmp_path, umask):
    # The reference behaviour our chmod corrects: safetensors creates its file 0600 whatever the umask.
    from safetensors.numpy import save_file

    save_file({"W": np.zeros(2, np.float32)}, str(tmp_path / "w.safetensors"))
    assert stat.S_IMODE((tmp_path / "w.safetensors").stat().st_mode) == 0o600


def test_no_config_is_written_before_every_option_is_valid(tmp_path):
    bad = dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, batch_size=0))
    with pytest.raises(ConfigError, match=r"--batch \(batch_size\) must be a positive integer, got 0"):
        pipeline.run_sweep(bad, tmp_path / "r")
    assert not (tmp_path / "r").exists()
    with pytest.raises(ConfigError, match="unknown task option|has no option"):
        pipeline.run_sweep(dataclasses.replace(TINY, task_options={"bits": 2}), tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_no_config_is_written_into_a_folder_that_cannot_be_written(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # injected: what a read-only disk answers
    with pytest.raises(RunFolderError, match=r"is not writable: read-only file system"):
        pipeline.run_sweep(TINY, tmp_path / "r")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("leftover", [".config.toml.tmp", ".manifest.json.tmp", ".dynascope.lock", ".dynascope.lock.json"])
def test_our_own_leftovers_do_not_make_a_folder_unusable(tmp_path, leftover):
    out = tmp_path / "r"
    out.mkdir()
    (out / leftover).write_text("half a file from a killed process")
    folder = store.RunFolder.create(out, TINY.to_dict())
    assert store.open(out).config["sweep"]["task"] == "flipflop"
    assert not (folder.path / ".config.toml.tmp").exists() and not (folder.path / ".manifest.json.tmp").exists()


def test_a_users_file_still_makes_a_folder_foreign(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / ".config.toml.tmp").write_text("ours")
    (out / "notes.tmp").write_text("not ours: no leading dot")
    with pytest.raises(RunFolderError, match="already holds other files"):
        store.RunFolder.create(out, TINY.to_dict())
    assert (out / "notes.tmp").read_text() == "not ours: no leading dot"


def test_out_under_a_file_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError) as err:
        store.RunFolder.create(tmp_path / "notes.txt" / "a" / "run", TINY.to_dict())
    assert str(err.value) == (f"{tmp_path / 'notes.txt' / 'a' / 'run'} cannot be created: {tmp_path / 'notes.txt'} "
                              "is a file, not a folder; choose a folder that is not inside a file (e.g. runs/NAME).")
