"""Optional dependencies: a feature whose extra is not installed says so in one line, naming the extra, before
any work; a run without TensorBoard trains and writes everything but its event files."""

import json
import subprocess
import sys

import pytest

from tests.tiny import TINY

# Hides a module as if it were not installed, then runs a fastgen entry point's main with the given arguments.
_WITHOUT = """
import sys
sys.modules[sys.argv[1]] = None
import importlib
main = importlib.import_module(sys.argv[2]).main
sys.exit(main(sys.argv[3:]))
"""


def _run_without(module: str, entry: str, args: list[str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _WITHOUT, module, entry, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.mark.parametrize("module, entry, args, extra", [
    ("stable_baselines3", "fastgen.run", ["--algo", "ddpg", "--env", "inverted_pendulum"], "ddpg"),
    ("matplotlib", "fastgen.sweep", ["no_such_run"], "plots"),
    ("matplotlib", "fastgen.atlas", ["no_such_run"], "plots"),
])
def test_a_missing_extra_is_one_line_naming_it(tmp_path, module, entry, args, extra):
    done = _run_without(module, entry, [*args, "--out", str(tmp_path / "out")] if entry == "fastgen.run" else args,
                        tmp_path)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert f'pip install -e ".[{extra}]"' in lines[0] and module in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_a_run_without_tensorboard_writes_its_files_and_says_so_once(tmp_path):
    out = tmp_path / "run"
    done = _run_without("tensorboard", "fastgen.run", [*TINY, "--total-steps", "200", "--out", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if "TensorBoard" in line]
    assert len(notes) == 1 and 'pip install -e ".[tensorboard]"' in notes[0], done.stderr
    assert json.loads((out / "summary.json").read_text())["finished"]
    assert not list(out.glob("events.out.tfevents.*"))
