"""Storage failures (disk full, read-only, a path under a file) are one-line RunFolderErrors naming the file,
the cause and the fix, leave no temp file behind, and keep finished work.

Disk full and read-only are tested twice: on a real tmpfs (64 KiB, or remounted read-only; skipped where this
machine cannot mount one) and by injecting the OSError / SafetensorError the kernel and safetensors raise
(always run). Permission bits cannot be used: the tests run as root, which ignores them.
"""

from __future__ import annotations

import errno
import os
import tempfile

import numpy as np
import pytest
from safetensors import SafetensorError

from dynascope import pipeline, store
from dynascope.errors import RunFolderError
from dynascope.store import run as run_module
from dynascope.train import checkpoint
from tests.store.tiny import TINY

BIG = {"network": [f"n{i}" for i in range(64)], "loss": [np.random.default_rng(i).random(512, np.float32) for i in range(64)]}


def _leftovers(folder):
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp"))


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


# -- check_writable ------------------------------------------------------------------------------


def test_check_writable_accepts_a_writable_folder_and_a_missing_one_below_it(tmp_path):
    store.check_writable(tmp_path)
    store.check_writable(tmp_path / "not" / "yet" / "there")  # checks tmp_path, where it would be created
    assert list(tmp_path.iterdir()) == []  # the probe file is removed


def test_check_writable_refuses_a_path_under_a_file(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match=r"notes.txt is a file, not a folder; choose a folder that is not inside"):
        store.check_writable(tmp_path / "notes.txt" / "run")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_check_writable_refuses_a_read_only_disk(read_only_disk):
    where, remount = read_only_disk
    (where / "run").mkdir()
    remount(True)
    with pytest.raises(RunFolderError, match=r"run is not writable: read-only file system \(EROFS\); the disk is mounted read-only"):
        store.check_writable(where / "run")
    with pytest.raises(RunFolderError, match=r"is not writable"):
        store.check_writable(where / "new" / "run")  # its nearest existing parent is read-only


def test_check_writable_tries_a_real_write_not_the_permission_bits(tmp_path, monkeypatch):
    # Injected: the kernel's answer on a read-only mount, while os.access (bits only) still says yes.
    assert os.access(tmp_path, os.W_OK)

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(RunFolderError) as err:
        store.check_writable(tmp_path)
    assert _one_line(err).startswith(f"{tmp_path} is not writable: read-only file system (EROFS); the disk is mounted read-only")


def test_run_folder_check_writable_covers_its_catalog_folders(tmp_path, monkeypatch):
    folder = store.RunFolder.create(tmp_path / "r", TINY.to_dict())
    folder.write("g", store.LossRows(network=["a"], loss=[np.zeros(2, np.float32)]))
    folder.check_writable()
    real = tempfile.mkstemp
    blocked = folder.path / "catalog" / "losses"

    def refuse_in_losses(*args, dir=None, **kwargs):
        if str(dir) == str(blocked):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse_in_losses)
    with pytest.raises(RunFolderError, match=r"catalog/losses is not writable: permission denied \(EACCES\); make the folder writable"):
        folder.check_writable()


# -- writes --------------------------------------------------------------------------------------


def test_a_full_disk_is_one_line_naming_the_file_and_the_fix(tiny_disk):
    folder = store.RunFolder.create(tiny_disk / "r", TINY.to_dict())
    folder.write("small", store.LossRows(network=["a"], loss=[np.zeros(2, np.float32)]))
    with pytest.raises(RunFolderError) as err:
        folder.write("big", store.LossRows(**BIG))
    text = _one_line(err)
    assert f"cannot write {tiny_disk / 'r' / 'catalog' / 'losses' / 'big.parquet'}: no space left on device (ENOSPC)" in text
    assert "free space and rerun the same command; finished work is kept" in text
    with pytest.raises(RunFolderError, match=r"big.safetensors: no space left on device \(ENOSPC\); free space"):
        folder.write_weights("big", {"W": np.zeros((4, 64, 64), np.float32)}, {})
    assert _leftovers(folder.path) == []
    assert store.open(folder.path).sql("select network from losses").fetchall() == [("a",)]  # finished work kept


def test_injected_full_disk_during_each_kind_of_write(tmp_path, monkeypatch):
    folder = store.RunFolder.create(tmp_path / "r", TINY.to_dict())

    def half_then_full(table, where, **kwargs):
        with open(where, "wb") as f:
            f.write(b"PAR1 half")
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    def safetensors_full(tensors, where, metadata=None):
        with open(where, "wb") as f:
            f.write(b"half")
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(run_module.pq, "write_table", half_then_full)
    monkeypatch.setattr(run_module, "save_file", safetensors_full)
    with pytest.raises(RunFolderError) as err:
        folder.write("g", store.LossRows(network=["a"], loss=[np.zeros(2, np.float32)]))
    assert "g.parquet: no space left on device (ENOSPC); free space and rerun the same command" in _one_line(err)
    with pytest.raises(RunFolderError) as err:
        folder.write_weights("g", {"W": np.zeros((1, 2, 2), np.float32)}, {})
    assert "g.safetensors: no space left on device (ENOSPC); free space" in _one_line(err)
    assert _leftovers(folder.path) == []
    assert folder.shards(store.LossRows) == [] and folder.groups() == []


def test_a_read_only_run_folder_refuses_writes_with_the_fix(read_only_disk, monkeypatch):
    where, remount = read_only_disk
    folder = store.RunFolder.create(where / "r", TINY.to_dict())
    row = {"network": ["a"], "loss": [np.zeros(2, np.float32)]}
    remount(True)
    with pytest.raises(RunFolderError) as err:  # a write checks the folder before it takes the lock ...
        folder.write("g", store.LossRows(**row))
    assert f"{folder.path} is not writable: read-only file system (EROFS); the disk is mounted read-only: remount it read-write" in _one_line(err)
    remount(False)

    def read_only(table, where, **kwargs):  # (a mount holding our open lock file cannot be remounted: injected)
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    with folder.writing():  # ... and a disk that turns read-only during a command fails the write itself
        monkeypatch.setattr(run_module.pq, "write_table", read_only)
        with pytest.raises(RunFolderError) as err:
            folder.write("g", store.LossRows(**row))
    shard = folder.path / "catalog" / "losses" / "g.parquet"
    assert f"cannot write {shard}: read-only file system (EROFS); the disk is mounted read-only" in _one_line(err)
    remount(True)
    with pytest.raises(RunFolderError, match="is not writable"):
        folder.check_writable()
    assert store.open(where / "r").sql("select count(*) from losses").fetchall() == [(0,)]  # still readable


def test_injected_permission_denied_on_the_config(tmp_path, monkeypatch):
    real = os.replace

    def deny(src, dst):
        if str(dst).endswith("config.toml"):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
        real(src, dst)

    monkeypatch.setattr(os, "replace", deny)
    with pytest.raises(RunFolderError) as err:
        store.RunFolder.create(tmp_path / "r", TINY.to_dict())
    assert f"cannot write {tmp_path / 'r' / 'config.toml'}: permission denied (EACCES)" in _one_line(err)
    monkeypatch.setattr(os, "replace", real)
    assert _leftovers(tmp_path) == []
    store.RunFolder.create(tmp_path / "r", TINY.to_dict())  # the folder is still usable once it is writable


def test_out_under_a_file_is_one_line_before_any_work(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError) as err:
        pipeline.run_sweep(TINY, tmp_path / "notes.txt" / "run")
    assert "notes.txt is a file, not a folder" in _one_line(err)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_full_disk_while_checkpointing_keeps_finished_work_and_resumes(tmp_path, monkeypatch):
    # The failure is injected where the disk is written (safetensors' save_file inside checkpoint), so the
    # message checked is the one a real full disk produces.
    real = checkpoint.save_file
    saved = []

    def full_after_first_checkpoint(tensors, filename, *args, **kwargs):
        if saved:
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        real(tensors, filename, *args, **kwargs)
        saved.append(filename)

    monkeypatch.setattr(checkpoint, "save_file", full_after_first_checkpoint)
    with pytest.raises(RunFolderError) as err:
        pipeline.run_sweep(TINY, tmp_path / "r")
    line = _one_line(err)
    assert f"cannot write checkpoint {tmp_path / 'r' / 'checkpoints' / 'vanilla-4'}" in line
    assert "no space left on device (ENOSPC)" in line and "training resumes from the last checkpoint" in line
    assert len(saved) == 1
    monkeypatch.setattr(checkpoint, "save_file", real)
    steps = []
    run = pipeline.run_sweep(TINY, tmp_path / "r", resume=True, progress=lambda g, step, losses: steps.append(step))
    assert steps == [20]  # continued from the checkpoint at step 10: the work done before the failure was kept
    assert run.groups() == ["vanilla-4"]
