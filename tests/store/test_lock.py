"""One writer per run folder: a second process is refused at once with a message naming the holder, the lock
is released when its holder exits or is killed, and the holder's own nested writes are not refused."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dynascope import pipeline, store
from dynascope.errors import RunFolderError
from tests.store.tiny import TINY

ROW = {"network": ["a"], "loss": [np.zeros(2, np.float32)]}

HOLD = """
import sys
from pathlib import Path
from dynascope.store import RunFolder
with RunFolder(Path(sys.argv[1])).writing("dynascope analyze " + sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()
"""

TRAIN = """
import sys
from dynascope import pipeline
from dynascope.pipeline import SweepConfig
config = SweepConfig.from_dict({config!r})
def pause_once(group, step, losses, paused=[]):
    if not paused:
        paused.append(step)
        print("training", flush=True)
        sys.stdin.readline()
pipeline.run_sweep(config, sys.argv[1], progress=pause_once)
print("finished", flush=True)
"""


def _start(script: str, *args: str) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return child


def _wait_for(child: subprocess.Popen, word: str) -> None:
    line = child.stdout.readline()
    assert line.strip() == word, (line, child.stderr.read() if child.poll() is not None else "")


def test_a_second_process_is_refused_naming_the_holder_until_it_exits(tmp_path):
    folder = store.RunFolder.create(tmp_path / "r", TINY.to_dict())
    holder = _start(HOLD, str(folder.path))
    try:
        _wait_for(holder, "locked")
        info = json.loads((folder.path / ".dynascope.lock.json").read_text())
        assert info["pid"] == holder.pid and info["host"] == socket.gethostname()
        with pytest.raises(RunFolderError) as err:
            with folder.writing():
                pass
        text = str(err.value)
        assert text.startswith(f"{folder.path} is being written by pid {holder.pid} on host {socket.gethostname()} "
                               f"running `dynascope analyze {folder.path}` since ")
        assert "only one command may write a run folder at a time" in text and "\n" not in text
        with pytest.raises(RunFolderError, match=f"being written by pid {holder.pid}"):
            folder.write("g", store.LossRows(**ROW))  # a bare write is refused too
        assert folder.shards(store.LossRows) == []
    finally:
        holder.communicate("\n", timeout=60)
    assert holder.returncode == 0
    assert not (folder.path / ".dynascope.lock.json").exists()
    folder.write("g", store.LossRows(**ROW))  # free once the holder is done
    assert len(folder.read(store.LossRows)) == 1


def test_the_lock_of_a_killed_holder_is_free(tmp_path):
    folder = store.RunFolder.create(tmp_path / "r", TINY.to_dict())
    holder = _start(HOLD, str(folder.path))
    _wait_for(holder, "locked")
    os.kill(holder.pid, signal.SIGKILL)
    holder.communicate(timeout=60)
    assert (folder.path / ".dynascope.lock.json").exists()  # the dead holder's note is left behind ...
    with folder.writing("mine"):  # ... but its lock died with it
        assert json.loads((folder.path / ".dynascope.lock.json").read_text())["command"] == "mine"
        folder.write("g", store.LossRows(**ROW))  # nested: the holder's own writes are not refused
        with folder.writing():
            folder.write("h", store.LossRows(**ROW))
    assert [p.stem for p in folder.shards(store.LossRows)] == ["g", "h"]


@pytest.mark.slow  # a real training child process: import, compile, train (~20 s on 2 busy cores)
def test_two_trains_into_one_new_folder_the_second_is_refused(tmp_path):
    out = tmp_path / "r"
    first = _start(TRAIN.format(config=TINY.to_dict()), str(out))
    try:
        _wait_for(first, "training")
        # Not "pass --resume" (which would only wait on the first): who is writing it.
        with pytest.raises(RunFolderError, match=f"is being written by pid {first.pid} on host .* choose another --out"):
            pipeline.run_sweep(TINY, out)
        with pytest.raises(RunFolderError, match=f"is being written by pid {first.pid} on host"):
            pipeline.run_sweep(TINY, out, resume=True)
        assert not (out / "weights").exists()  # the refused writer wrote nothing
    finally:
        stdout, stderr = first.communicate("\n", timeout=300)
    assert first.returncode == 0 and stdout.strip() == "finished", stderr
    steps = []
    pipeline.run_sweep(TINY, out, resume=True, progress=lambda g, s, losses: steps.append(s))
    assert steps == [] and store.open(out).groups() == ["vanilla-4"]  # the first one finished the work
    with pytest.raises(RunFolderError, match="already holds a run; pass --resume"):  # nobody writing it now
        pipeline.run_sweep(TINY, out)
