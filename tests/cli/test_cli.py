"""The command line: happy paths in-process, user errors as one line with exit code 2 and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dynascope.cli import app

runner = CliRunner()


TINY = ["--task", "flipflop", "--task-opt", "n_bits=2", "--task-opt", "n_time=16", "--arch", "vanilla",
        "--n-hidden", "6", "--n-networks", "2", "--steps", "30", "--batch", "8", "--lr", "0.01"]


def dynascope(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynascope", *args], capture_output=True, text=True, timeout=300)


def test_tasks_and_models_list_the_registries():
    from dynascope import models, tasks

    out = runner.invoke(app, ["tasks"], terminal_width=200)
    assert out.exit_code == 0 and all(n in out.stdout for n in tasks.names())
    out = runner.invoke(app, ["models"], terminal_width=200)
    assert out.exit_code == 0 and all(n in out.stdout for n in models.names())
    # One entry in full: each option's type (from its annotation and declared constraint), default and meaning.
    out = runner.invoke(app, ["tasks", "flipflop"], terminal_width=200)
    assert out.exit_code == 0 and "pulse_prob" in out.stdout and "a number in (0, 1]" in out.stdout
    assert "pulse probability per step" in out.stdout and "0.05" in out.stdout
    out = runner.invoke(app, ["models", "vanilla"], terminal_width=200)
    assert out.exit_code == 0 and "one of 'tanh', 'relu'" in out.stdout
    out = runner.invoke(app, ["models", "gru"], terminal_width=200)
    assert out.exit_code == 0 and "no options besides its sizes" in out.stdout


def test_train_then_show_and_runs(tmp_path):
    out = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path / "r")], terminal_width=200)
    assert out.exit_code == 0, out.stdout
    assert "vanilla-6/s000" in out.stdout and "final loss" in out.stdout
    out = runner.invoke(app, ["show", str(tmp_path / "r")], terminal_width=200)
    assert out.exit_code == 0 and "sweep.archs" in out.stdout
    out = runner.invoke(app, ["runs", str(tmp_path)], terminal_width=200)
    assert out.exit_code == 0 and "flipflop" in out.stdout
    # A second train into the same folder without --resume is refused; with --resume it is a no-op.
    again = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path / "r"), "--resume"], terminal_width=200)
    assert again.exit_code == 0, again.stdout
    # The flags' old spellings (one release) name the same config, with a deprecation line.
    old_flags = [{"--n-hidden": "--hidden", "--n-networks": "--seeds"}.get(a, a) for a in TINY]
    again = runner.invoke(app, ["train", *old_flags, "--out", str(tmp_path / "r"), "--resume"], terminal_width=200)
    assert again.exit_code == 0, again.output
    assert "deprecated: --hidden is now --n-hidden" in again.output and "--seeds is now --n-networks" in again.output


# The refused commands below: each in a folder of its own, all in ONE child process (the console script's
# `main`, as `python -m dynascope` runs it), so the suite starts one Python with JAX instead of one per case.
# A marker line on stderr after each command splits the output; a command's exit code is its SystemExit's.
REFUSED_IN_ONE_CHILD = """
import os, sys
from dynascope.cli import main

for i, argv in enumerate({argvs!r}):
    os.chdir({root!r} + f"/{{i}}")
    sys.argv = ["dynascope", *argv]
    try:
        main()
        code = 0
    except SystemExit as done:
        code = 0 if done.code is None else done.code if isinstance(done.code, int) else 1
    sys.stdout.flush()
    print(f"-- dynascope refused: {{code}}", file=sys.stderr, flush=True)
"""


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
    """`refusals(args) -> (exit code, stderr, the folder it ran in)` for every command refused in this module's
    tests (USER_ERRORS and USAGE_ERRORS), all run in one child process the first time one is asked for."""
    argvs = [list(args) for args, _ in USER_ERRORS + USAGE_ERRORS]
    root = tmp_path_factory.mktemp("refused")
    for i in range(len(argvs)):
        (root / str(i)).mkdir()
    res = subprocess.run([sys.executable, "-c", REFUSED_IN_ONE_CHILD.format(argvs=argvs, root=str(root))],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    said, codes = [[]], []
    for line in res.stderr.splitlines(keepends=True):
        if line.startswith("-- dynascope refused: "):
            codes.append(int(line.split(": ")[1]))
            said.append([])
        else:
            said[-1].append(line)
    assert len(codes) == len(argvs) and said[-1] == [], res.stderr
    results = {tuple(a): (c, "".join(lines), root / str(i)) for i, (a, c, lines) in enumerate(zip(argvs, codes, said))}
    return lambda args: results[tuple(args)]


USER_ERRORS = [
    (["train", "--task", "flipflp", "--out", "x"], "unknown task 'flipflp'. Did you mean 'flipflop'?"),
    (["train", "--arch", "gru,lstn", "--out", "x"], "unknown model 'lstn'. Did you mean 'lstm'?"),
    (["train", "--n-hidden", "sixty", "--out", "x"], "--n-hidden must be a comma-separated list of ints"),
    (["train", "--task-opt", "n_bits", "--out", "x"], "--task-opt takes KEY=VALUE"),
    (["train", "--task-opt", "bits=3", "--out", "x"], "task 'flipflop' has no option 'bits'"),
    (["train", "--n-networks", "0", "--out", "x"], "--n-networks (n_networks) must be a positive integer, got 0"),
    (["train", "--seeds", "2", "--n-networks", "3", "--out", "x"],
     "--seeds is the old name of --n-networks; give only --n-networks."),
    (["show", "no/such/run"], "run folder no/such/run does not exist"),
    (["train", "--arch", "vanilla", "--model-opt", "gain=abc", "--out", "x"],
     "model 'vanilla': option gain must be a number, got 'abc' (str); e.g. gain=1.0 (the default)."),
    (["train", "--task-opt", "pulse_prob=abc", "--out", "x"],
     "task 'flipflop': option pulse_prob (pulse probability per step) must be a number in (0, 1], got 'abc' (str)"),
    (["train", "--n-hidden", "100000", "--out", "x"],
     "training one gru network of 100000 units needs about 632.8 GB of memory"),
]


@pytest.mark.parametrize(("args", "message"), USER_ERRORS)
def test_user_errors_are_one_line_with_exit_code_2(args, message, refusals):
    code, stderr, cwd = refusals(args)
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], stderr
    assert not (cwd / "x").exists()


def test_the_command_keeps_compiled_programs_where_it_is_told(tmp_path):
    from dynascope import compilation_cache_dir

    assert compilation_cache_dir({"DYNASCOPE_CACHE_DIR": "off"}) is None
    assert compilation_cache_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/dynascope/jax")
    assert compilation_cache_dir({"DYNASCOPE_CACHE_DIR": str(tmp_path), "XDG_CACHE_HOME": "/c"}) == tmp_path
    cache = tmp_path / "cache"
    env = {**os.environ, "DYNASCOPE_CACHE_DIR": str(cache)}
    res = subprocess.run([sys.executable, "-m", "dynascope", "train", *TINY, "--out", str(tmp_path / "r")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    assert len(list(cache.iterdir())) > 0  # the training program was written to the cache


def test_resume_of_a_different_config_is_refused(tmp_path):
    out = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path / "r")], terminal_width=200)
    assert out.exit_code == 0
    res = subprocess.run([sys.executable, "-m", "dynascope", "train", *TINY[:-2], "--lr", "0.02", "--out",
                          str(tmp_path / "r"), "--resume"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "created with a different config" in res.stderr
    assert "Traceback" not in res.stderr and len([ln for ln in res.stderr.splitlines() if ln.strip()]) == 1
    assert res.stdout.strip() == ""  # refused before any progress bar is drawn
    again = subprocess.run([sys.executable, "-m", "dynascope", "train", *TINY, "--out", str(tmp_path / "r")],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "already holds a run; pass --resume" in again.stderr
    assert again.stdout.strip() == ""


USAGE_ERRORS = [
    (["train", "--bogus"], "error: No such option: --bogus"),
    (["train", "--lrr", "0.1", "--out", "x"], "error: No such option: --lrr. Did you mean --lr or --l2? "
                                              "See `dynascope train --help`."),
    (["train", "--n-networks", "abc", "--out", "x"], "error: Invalid value for '--n-networks': "),
    (["train", "--out"], "error: Option '--out' requires an argument; see `dynascope train --help`."),
    (["nosuch"], "error: No such command 'nosuch'"),
    (["trian", "--out", "x"], "error: No such command 'trian'. Did you mean 'train'? See `dynascope --help`."),
    (["compare"], "error: Missing argument 'RUN'; see `dynascope compare --help`."),
    (["train"], "error: Missing option '--out'; see `dynascope train --help`."),
]


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS)
def test_usage_errors_are_one_line_naming_the_command_s_help_with_exit_code_2(args, message, refusals):
    code, stderr, cwd = refusals(args)
    assert code == 2, stderr
    assert "Traceback" not in stderr and "Usage:" not in stderr  # not click's usage block
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0] and lines[0].endswith(" --help`."), stderr
    assert f"dynascope {args[0]} --help" in lines[0] or "No such command" in lines[0]
    assert not (cwd / "x").exists()


def test_help_and_a_bare_command_still_print_the_help(dynascope_main, capsys):
    assert dynascope_main("train", "--help") == 0
    assert "Usage: dynascope train [OPTIONS]" in capsys.readouterr().out
    assert dynascope_main() == 2  # no command: the help text, as click prints it, with click's exit code
    said = capsys.readouterr()
    assert "Usage: dynascope [OPTIONS] COMMAND [ARGS]..." in said.out + said.err


def test_the_python_api_keeps_compiled_programs_too_unless_the_user_chose_a_cache(tmp_path):
    program = ("import jax, jax.numpy as jnp, dynascope.dynamics; "
               "jax.jit(lambda a: a * 2)(jnp.ones(3)).block_until_ready(); "
               "print(jax.config.jax_compilation_cache_dir)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    ours = tmp_path / "ours"
    res = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300,
                         env={**env, "DYNASCOPE_CACHE_DIR": str(ours)})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(ours) and len(list(ours.iterdir())) > 0
    # a folder the user set in JAX's config before importing dynascope is left alone
    theirs = tmp_path / "theirs"
    first = f"import jax; jax.config.update('jax_compilation_cache_dir', {str(theirs)!r}); "
    res = subprocess.run([sys.executable, "-c", first + program], capture_output=True, text=True, timeout=300,
                         env={**env, "DYNASCOPE_CACHE_DIR": str(ours)})
    assert res.returncode == 0 and res.stdout.strip() == str(theirs), res.stderr
    # and 'off' turns it off
    res = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300,
                         env={**env, "DYNASCOPE_CACHE_DIR": "off"})
    assert res.returncode == 0 and res.stdout.strip() == "None", res.stderr


def test_version_names_dynascope_jax_and_python():
    from importlib.metadata import version

    import dynascope

    out = runner.invoke(app, ["--version"])
    assert out.exit_code == 0
    assert out.output.strip() == (f"dynascope {dynascope.__version__} (jax {version('jax')}, jaxlib {version('jaxlib')}, "
                                  f"Python {sys.version.split()[0]})")


def test_an_unwritable_cache_folder_is_one_warning_and_no_cache(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    program = ("import warnings, jax, jax.numpy as jnp, dynascope.dynamics; "
               "jax.jit(lambda a: a * 2)(jnp.ones(3)).block_until_ready(); "
               "print(jax.config.jax_compilation_cache_dir)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    res = subprocess.run([sys.executable, "-W", "default", "-c", program], capture_output=True, text=True,
                         timeout=300, env={**env, "DYNASCOPE_CACHE_DIR": str(blocker / "cache")})
    assert res.returncode == 0 and res.stdout.strip() == "None", res.stderr
    assert res.stderr.count("cannot be created or written") == 1 and "Traceback" not in res.stderr
