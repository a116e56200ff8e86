"""config.toml is validated when a run folder is opened with `pipeline.open_run`: nonsense values are refused
naming the key and value."""

from __future__ import annotations

import tomllib

import pytest
import tomli_w

from dynascope import pipeline, store
from dynascope.errors import RunFolderError
from dynascope.pipeline import SweepConfig
from dynascope.train import TrainOptions

TINY = SweepConfig(
    task="flipflop",
    archs=("vanilla", "gru"),
    n_hidden=(4,),
    n_networks=2,
    steps=20,
    task_options={"n_bits": 1, "n_time": 8},
    train=TrainOptions(batch_size=4),
)


@pytest.fixture
def folder(tmp_path):
    return store.RunFolder.create(tmp_path / "r", TINY.to_dict()).path


def _edit(folder, section: str, key: str, value) -> None:
    doc = tomllib.loads((folder / "config.toml").read_text())
    if key is None:
        del doc[section]
    else:
        doc.setdefault(section, {})[key] = value
    (folder / "config.toml").write_text(tomli_w.dumps(doc))


def test_a_valid_config_opens(folder):
    assert SweepConfig.from_dict(pipeline.open_run(folder).config) == TINY


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("sweep", "task", "nosuchtask", r"invalid config: unknown task 'nosuchtask'"),
        ("sweep", "n_networks", -7, r"invalid config: --n-networks \(n_networks\) must be a positive integer, got -7\."),
        ("sweep", "steps", 0, r"invalid config: --steps must be a positive integer, got 0\."),
        ("sweep", "n_hidden", ["big", 8], r"sweep.n_hidden = \['big', 8\] is not a list of integers"),
        ("sweep", "n_hidden", [-3], r"invalid config: --n-hidden \(n_hidden\) must be a positive integer, got -3\."),
        ("sweep", "archs", "gru", r"sweep.archs = 'gru' is not a list of architecture names"),
        ("sweep", "archs", ["gru", "nosucharch"], r"invalid config: unknown model 'nosucharch'"),
        ("sweep", "n_networks", "ten", r"sweep.n_networks = 'ten' is not an integer"),
        ("sweep", "n_networks", True, r"sweep.n_networks = True is not an integer"),
        ("sweep", "seed", 1.5, r"sweep.seed = 1.5 is not an integer"),
        ("task_options", "n_bits", -1, r"invalid config: .*n_bits"),
        ("train", "batch_size", 0, r"invalid config: --batch \(batch_size\) must be a positive integer, got 0\."),
        ("train", "optimizer", "magic", r"invalid config: optimizer must be one of .* got 'magic'"),
        ("train", "warp", 9, r"the \[train\] section is invalid \(unknown training option\(s\) warp"),
    ],
)
def test_nonsense_values_are_refused_at_open(folder, section, key, value, message):
    _edit(folder, section, key, value)
    with pytest.raises(RunFolderError, match=message) as err:
        pipeline.open_run(folder)
    assert "\n" not in str(err.value)


def test_a_missing_key_or_section_is_refused(folder):
    doc = tomllib.loads((folder / "config.toml").read_text())
    del doc["sweep"]["n_hidden"]
    (folder / "config.toml").write_text(tomli_w.dumps(doc))
    with pytest.raises(RunFolderError, match=r"\[sweep\] lacks 'n_hidden' \(a list of integers\)"):
        pipeline.open_run(folder)
    _edit(folder, "sweep", None, None)
    with pytest.raises(RunFolderError, match=r"has no \[sweep\] section"):
        pipeline.open_run(folder)


def test_model_options_must_be_tables(folder):
    doc = tomllib.loads((folder / "config.toml").read_text())
    doc["model_options"] = {"gru": 3}
    (folder / "config.toml").write_text(tomli_w.dumps(doc))
    with pytest.raises(RunFolderError, match=r"model_options.gru = 3 is not a table of options"):
        pipeline.open_run(folder)


def test_a_folder_written_before_the_vocabulary_change_still_opens(folder):
    # Folders trained before `n_hidden`/`n_networks` hold [sweep] hidden/seeds; they open under the new names.
    doc = tomllib.loads((folder / "config.toml").read_text())
    doc["sweep"]["hidden"] = doc["sweep"].pop("n_hidden")
    doc["sweep"]["seeds"] = doc["sweep"].pop("n_networks")
    (folder / "config.toml").write_text(tomli_w.dumps(doc))
    assert SweepConfig.from_dict(pipeline.open_run(folder).config) == TINY
