"""Every option a user can get wrong raises a ConfigError / UnknownNameError that says how to fix it."""

from __future__ import annotations

import pytest

from dynascope import models, tasks
from dynascope.errors import ConfigError, DynascopeError, UnknownNameError


def test_unknown_task_name_suggests_a_close_match():
    with pytest.raises(UnknownNameError, match=r"unknown task 'flipflopp'\. Did you mean 'flipflop'\?.*sinewave"):
        tasks.get("flipflopp")


def test_task_name_must_be_a_string():
    with pytest.raises(ConfigError, match=r"task name must be a string, got 3"):
        tasks.get(3)  # type: ignore[arg-type]


def test_unknown_option_lists_the_options():
    with pytest.raises(ConfigError, match=r"task 'flipflop' has no option 'n_bit'; its options are: .*n_bits.*'n_bits'\?"):
        tasks.get("flipflop", n_bit=3)


def test_errors_are_dynascope_errors():
    assert issubclass(ConfigError, DynascopeError) and issubclass(UnknownNameError, DynascopeError)


# Each message is matched on the option's name, what is expected where that is the point, and the value
# received (issue 10: not on whole sentences).
BAD_OPTIONS = [
    # name, options, message
    ("flipflop", {"n_bits": 0}, r"option n_bits must be an integer > 0, got 0"),
    ("flipflop", {"n_bits": 2.5}, r"task 'flipflop': option n_bits must be an integer .*got 2\.5 \(float\); e\.g\. n_bits=3"),
    ("flipflop", {"pulse_prob": 0.0}, r"option pulse_prob .*in \(0, 1\], got 0\.0"),
    ("flipflop", {"n_time": -1}, r"option n_time .*> 0, got -1"),
    ("flipflop", {"dt": 0.0}, r"option dt \(milliseconds per step\) must be a number > 0, got 0\.0"),
    ("flipflop", {"dt": "10"}, r"task 'flipflop': option dt .*must be a number.*, got '10' \(str\)"),
    ("sinewave", {"n_frequencies": 0}, r"option n_frequencies must be an integer > 0, got 0"),
    ("sinewave", {"freq_min_hz": 0.0}, r"option freq_min_hz \(Hz\) must be a number > 0, got 0\.0"),
    ("sinewave", {"freq_max_hz": 0.5}, r"freq_max_hz must be >= freq_min_hz=1\.0 Hz, got 0\.5"),
    ("sinewave", {"freq_max_hz": 1.0}, r"would all be the same; pass a larger freq_max_hz or n_frequencies=1"),
    ("sinewave", {"freq_max_hz": 50.0}, r"at or above the Nyquist frequency 50 Hz of dt=10\.0 ms; pass freq_max_hz < 50"),
    ("cdi", {"coherences": ()}, r"option coherences must be a non-empty list of numbers >= 0, got \(\)"),
    ("cdi", {"coherences": (0.1, -0.2)}, r"option coherences .*>= 0, got \(0\.1, -0\.2\) \(tuple; -0\.2 is not >= 0\)"),
    ("cdi", {"noise_std": -1.0}, r"option noise_std must be a number >= 0, got -1\.0"),
    ("cdi", {"n_time": 70}, r"n_time=70 steps leaves no response epoch for cdi: .* take 70 steps .*pass n_time >= 71"),
    ("cdi", {"stimulus_ms": 2.0}, r"stimulus_ms must last at least one step of dt=10\.0 ms, got 2\.0"),
    ("rsg", {"n_time": 60}, r"n_time=60 steps is too short for rsg: the latest Go .* falls on step 95 .*pass n_time >= 96"),
    ("rsg", {"intervals": (1000.0,)}, r"pass n_time >= 116"),
    ("rsg", {"intervals": ()}, r"option intervals .*must be a non-empty list of numbers > 0, got \(\)"),
    ("rsg", {"gains": (0.0,)}, r"option gains must be a non-empty list of numbers > 0, got \(0\.0,\) \(tuple; 0\.0 is not > 0\)"),
    ("rsg", {"intervals": (5.0,)}, r"the shortest interval to measure or produce, 5 ms, is under one step of dt=20\.0 ms"),
    ("rsg", {"ready_ms": (300.0, 100.0)}, r"ready_ms must be an \(earliest, latest\) pair .*got \(300\.0, 100\.0\)"),
    ("rsg", {"ready_ms": (-10.0, 100.0)}, r"option ready_ms .*must be a list of 2 numbers >= 0, got \(-10\.0, 100\.0\)"),
    ("rsg", {"pulse_ms": 5.0}, r"pulse_ms must last at least one step of dt=20\.0 ms, got 5\.0"),
    ("delayed_match", {"n_stimuli": 1}, r"option n_stimuli must be an integer >= 2, got 1"),
    ("delayed_match", {"match_prob": 1.5}, r"option match_prob must be a number in \[0, 1\], got 1\.5"),
    ("delayed_match", {"delay_ms": 2000.0}, r"leaves no response epoch for delayed_match: .*pass n_time >= 126"),
    ("perceptual_dm", {"coherences": (150.0,)}, r"option coherences .*in \[0, 100\], got \(150\.0,\) \(tuple; 150\.0 is not"),
    ("perceptual_dm", {"noise_std": "high"}, r"option noise_std must be a number >= 0, got 'high' \(str\); e\.g\. noise_std=0\.2"),
    ("perceptual_dm", {"fixation_ms": 0.0}, r"fixation_ms must last at least one step of dt=20\.0 ms, got 0\.0"),
]


@pytest.mark.parametrize(("name", "options", "message"), BAD_OPTIONS, ids=[f"{n}-{next(iter(o))}" for n, o, _ in BAD_OPTIONS])
def test_bad_option_message(name, options, message):
    with pytest.raises(ConfigError, match=message):
        tasks.get(name, **options)


@pytest.mark.parametrize("name", tasks.names())
def test_every_option_of_every_task_refuses_a_value_of_the_wrong_type(name):
    import dataclasses
    import typing

    cls = type(tasks.get(name))
    hints = typing.get_type_hints(cls)
    for field in (f for f in dataclasses.fields(cls) if f.init):
        hint = hints[field.name]
        value = 3.5 if hint in (str, bool) or str in typing.get_args(hint) else "abc"
        with pytest.raises(ConfigError, match=rf"task '{name}': option {field.name} .*must be .*, got {value!r}"):
            tasks.get(name, **{field.name: value})


def test_option_types_follow_the_annotations():
    with pytest.raises(ConfigError, match=r"task 'flipflop': option pulse_prob .*must be a number in \(0, 1\], got 'abc' "
                                          r"\(str\); e\.g\. pulse_prob=0\.05 \(the default\)"):
        tasks.get("flipflop", pulse_prob="abc")
    with pytest.raises(ConfigError, match=r"option coherences must be a non-empty list of numbers >= 0, got \[0\.1, 'x'\]"):
        tasks.get("cdi", coherences=[0.1, "x"])
    with pytest.raises(ConfigError, match=r"option ready_ms .*must be a list of 2 numbers >= 0, got \[100\.0\] \(list\)"):
        tasks.get("rsg", ready_ms=[100.0])
    with pytest.raises(ConfigError, match=r"option set_at_start must be true or false, got 'no' \(str\)"):
        tasks.get("flipflop", set_at_start="no")
    # TOML and JSON have lists, not tuples: a list is taken for a tuple field, and the task stays hashable.
    task = tasks.get("cdi", coherences=[0.1, 0.2])
    assert task.coherences == (0.1, 0.2) and task == tasks.get("cdi", coherences=(0.1, 0.2)) and hash(task)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_options_are_refused(value):
    # NaN silently poisons every network, and a stored NaN never equals itself, so --resume could never match.
    with pytest.raises(ConfigError, match=r"option pulse_prob .*must be a number in \(0, 1\] \(NaN and inf are not allowed\), got"):
        tasks.get("flipflop", pulse_prob=value)
    with pytest.raises(ConfigError, match=r"option gain must be a number \(NaN and inf are not allowed\), got"):
        models.get("vanilla", n_inputs=1, n_hidden=2, n_outputs=1, gain=value)
