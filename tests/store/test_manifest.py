"""The checksum manifest: flipped bytes that Parquet and safetensors read without complaint are refused with
the corrupt file and the command that rewrites it; `train --resume` retrains a damaged group; run folders
written before the manifest existed still open."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct

import numpy as np
import pyarrow.parquet as pq
import pytest
from safetensors.numpy import load_file

from dynascope import pipeline, store
from dynascope.errors import RunFolderError
from tests.store.tiny import TINY

MARK = 0.123456789  # a float32 loss value whose 4 bytes occur once in the shard


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return pipeline.run_sweep(TINY, tmp_path_factory.mktemp("runs") / "r")


def _flip(path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert data.count(old) == 1, "the pattern to corrupt must occur exactly once"
    path.write_bytes(data.replace(old, new))


def _losses_folder(tmp_path):
    folder = store.RunFolder.create(tmp_path / "r", TINY.to_dict())
    folder.write("vanilla-4", store.LossRows(network=["a", "b"], loss=[np.full(4, MARK, np.float32), np.ones(4, np.float32)]))
    return folder


def test_manifest_records_the_sha256_of_every_shard_and_weights_file(trained):
    files = json.loads((trained.path / "manifest.json").read_text())["files"]
    on_disk = sorted(p.relative_to(trained.path).as_posix() for p in trained.path.rglob("*")
                     if p.suffix in (".parquet", ".safetensors"))
    assert sorted(files) == on_disk == [
        "catalog/losses/vanilla-4.parquet", "catalog/networks/vanilla-4.parquet", "weights/vanilla-4.safetensors"]
    for rel, entry in files.items():
        data = (trained.path / rel).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert trained.verify() == {}


def test_flipped_bytes_in_a_parquet_shard_are_refused_naming_the_file_and_the_fix(tmp_path):
    folder = _losses_folder(tmp_path)
    shard = folder.path / "catalog" / "losses" / "vanilla-4.parquet"
    # Flip the value inside the column's data (its dictionary page), not the copies in the statistics.
    column = pq.ParquetFile(shard).metadata.row_group(0).column(1)
    data = bytearray(shard.read_bytes())
    at = data.index(struct.pack("<f", MARK), column.dictionary_page_offset, column.data_page_offset)
    data[at:at + 4] = struct.pack("<f", 2.7e38)
    shard.write_bytes(bytes(data))
    # Ground truth that the corruption is silent to Parquet itself: pyarrow reads the flipped value.
    losses = pq.read_table(shard).column("loss").to_pylist()
    assert losses[0][0] == pytest.approx(2.7e38, rel=1e-6)
    with pytest.raises(RunFolderError) as err:
        store.open(folder.path).sql("select * from losses")
    text = str(err.value)
    assert text.startswith(f"{shard} is corrupt: its content does not match the SHA-256 recorded in manifest.json")
    assert "rerun the training command with --resume" in text and "\n" not in text
    assert store.open(folder.path).verify() == {str(shard): text}


@pytest.mark.parametrize(
    ("table", "fix"),
    [
        ("skeletons", "delete it, then rerun `dynascope analyze {run}`"),
        ("fixed_points", "delete it and {run}/catalog/skeletons/g.parquet, then rerun `dynascope analyze {run}`"),
        ("summary", "delete it, then rerun `dynascope compare {run}`"),
        ("distances", "delete it and {run}/catalog/summary/g.parquet, then rerun `dynascope compare {run}`"),
    ],
)
def test_each_table_names_the_command_that_rewrites_it(tmp_path, table, fix):
    folder = store.RunFolder.create(tmp_path / "r", TINY.to_dict())
    shard = folder.write("g", store.TABLES[table].empty())
    shard.write_bytes(shard.read_bytes() + b"x")
    with pytest.raises(RunFolderError, match="is corrupt") as err:
        store.open(folder.path).read(store.TABLES[table])
    assert str(err.value).endswith(fix.format(run=folder.path) + ".")


def test_flipped_bytes_in_weights_are_refused_though_safetensors_reads_them(trained, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(trained.path, copy)
    path = copy / "weights" / "vanilla-4.safetensors"
    row = load_file(str(path))["W_rec"][0, 0]
    flipped = row.copy()
    flipped[0] = 3.0e38
    _flip(path, row.tobytes(), flipped.tobytes())
    assert load_file(str(path))["W_rec"][0, 0, 0] == np.float32(3.0e38)  # safetensors reads it silently
    with pytest.raises(RunFolderError, match=r"vanilla-4.safetensors is corrupt: .*rerun the training command with --resume"):
        pipeline.load_group(store.open(copy), "vanilla-4")


def test_resume_retrains_a_group_whose_weights_were_flipped(trained, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(trained.path, copy)
    path = copy / "weights" / "vanilla-4.safetensors"
    good = path.read_bytes()
    row = load_file(str(path))["W_rec"][0, 0]
    _flip(path, row.tobytes(), (row + 1).tobytes())
    assert pipeline.group_damage(store.open(copy), "vanilla-4").startswith(f"{path} is corrupt")
    steps = []
    pipeline.run_sweep(TINY, copy, resume=True, progress=lambda g, step, losses: steps.append((g, step)))
    assert steps == [("vanilla-4", 10), ("vanilla-4", 20)]  # trained again, not "done earlier"
    assert path.read_bytes() == good  # the same config reproduces the same weights
    assert store.open(copy).verify() == {}


def test_resume_retrains_a_truncated_weights_file_of_a_folder_without_manifest(trained, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(trained.path, copy)
    (copy / "manifest.json").unlink()  # written before checksums existed
    path = copy / "weights" / "vanilla-4.safetensors"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(RunFolderError, match="is corrupt or foreign .*rerun the training command with --resume"):
        pipeline.load_group(store.open(copy), "vanilla-4")
    pipeline.run_sweep(TINY, copy, resume=True)
    assert path.read_bytes() == good
    assert store.open(copy).verify() == {}
    # The manifest is started by the first write and covers what was rewritten.
    assert set(json.loads((copy / "manifest.json").read_text())["files"]) == {
        "catalog/losses/vanilla-4.parquet", "catalog/networks/vanilla-4.parquet", "weights/vanilla-4.safetensors"}


def test_a_folder_without_manifest_opens_unverified(trained, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(trained.path, copy)
    (copy / "manifest.json").unlink()
    run = store.open(copy)
    assert run.sql("select count(*) from networks").fetchall() == [(2,)]
    assert run.verify() == {}


def test_a_mangled_manifest_is_refused_at_open(trained, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(trained.path, copy)
    (copy / "manifest.json").write_text('{"files": {"weights/x.safetensors": {"sha256": 7}}}')
    with pytest.raises(RunFolderError, match=r"manifest.json is corrupt \(an entry lacks its sha256 or size\); delete it"):
        store.open(copy)


def test_a_kill_between_recording_and_renaming_leaves_a_readable_folder(tmp_path, monkeypatch):
    folder = _losses_folder(tmp_path)
    shard = folder.path / "catalog" / "losses" / "vanilla-4.parquet"

    class Killed(BaseException):
        pass

    real = os.replace

    def killed_before_renaming_the_shard(src, dst):
        if str(dst) == str(shard):
            raise Killed
        real(src, dst)

    # Killed after the manifest records the new content, before the rename: the old file must still pass.
    monkeypatch.setattr(os, "replace", killed_before_renaming_the_shard)
    with pytest.raises(Killed):
        folder.write("vanilla-4", store.LossRows(network=["c"], loss=[np.zeros(2, np.float32)]))
    monkeypatch.undo()
    assert "previous" in json.loads((folder.path / "manifest.json").read_text())["files"]["catalog/losses/vanilla-4.parquet"]
    assert store.open(folder.path).sql("select network from losses order by network").fetchall() == [("a",), ("b",)]
    # And once rewritten the new content is the only one accepted.
    folder.write("vanilla-4", store.LossRows(network=["c"], loss=[np.zeros(2, np.float32)]))
    entry = json.loads((folder.path / "manifest.json").read_text())["files"]["catalog/losses/vanilla-4.parquet"]
    assert entry == {"sha256": hashlib.sha256(shard.read_bytes()).hexdigest(), "size": shard.stat().st_size}


def test_unchanged_files_are_hashed_once_per_handle(tmp_path, monkeypatch):
    folder = _losses_folder(tmp_path)
    run = store.open(folder.path)
    hashed = []
    real = hashlib.file_digest  # what the manifest hashes a file with

    def spy(f, digest):
        hashed.append(os.path.basename(f.name))
        return real(f, digest)

    monkeypatch.setattr(hashlib, "file_digest", spy)
    run.read(store.LossRows)
    run.read(store.LossRows)
    assert hashed == ["vanilla-4.parquet"]
    shard = folder.path / "catalog" / "losses" / "vanilla-4.parquet"
    shard.write_bytes(shard.read_bytes()[:-1] + b"\x00")  # changed on disk: hashed again, and refused
    with pytest.raises(RunFolderError, match="is corrupt"):
        run.read(store.LossRows)
