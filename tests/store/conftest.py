"""Fixtures for storage failures: a real tiny or read-only tmpfs where this machine lets us mount one (root
with CAP_SYS_ADMIN, as in CI's container); tests that need it are skipped elsewhere, and each failure is also
tested by injecting the OSError the kernel would raise, which runs everywhere."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def _mount(where: Path, options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    return done.returncode == 0


def _unmount(where: Path) -> None:
    if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=True)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs: a disk that fills up after a few small files."""
    where = tmp_path / "tiny"
    if not _mount(where, "size=64k"):
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN); the injected-ENOSPC tests cover this")
    yield where
    _unmount(where)


@pytest.fixture
def read_only_disk(tmp_path):
    """A tmpfs remounted read-only; `remount(ro)` switches it (files can be put there while it is writable)."""
    where = tmp_path / "ro"
    if not _mount(where, "size=4m"):
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN); the injected-EROFS tests cover this")

    def remount(read_only: bool) -> None:
        mode = "ro" if read_only else "rw"
        subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], capture_output=True, check=True)

    yield where, remount
    remount(False)
    _unmount(where)
