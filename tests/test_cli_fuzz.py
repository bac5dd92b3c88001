"""Every flag of ``fastgen.run`` with values at and past its edges: a bad one gets exit 2 and at most two lines
on stderr, never a traceback; nothing is trained (``train`` is replaced by validation only)."""

import dataclasses
import types
import typing

import pytest
import torch

from fastgen import run
from fastgen.config import Config

# floats: every edge; ints: the edges their parser lets through (nan, inf and 1e30 are one parse error,
# checked on two int flags below).
EDGES = {float: ["0", "-1", "nan", "inf", "-inf", "1e30"], int: ["0", "-1", "1000000000000"]}
CHOICES = {"algo", "env", "schedule", "engine", "device", "udrl.activation", "seeds"}


def _flags(cls=Config, prefix=""):
    """(flag, base type) of every numeric and string field, nested sections included."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        base = args[0] if typing.get_origin(kind) in (typing.Union, types.UnionType) else kind
        name = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(base):
            yield from _flags(base, f"{name}.")
        elif base in (int, float, str):
            yield name.replace("_", "-"), base


FLAGS = sorted(_flags())
CASES = [(flag, value) for flag, kind in FLAGS if kind is not str for value in EDGES[kind]] + \
        [(flag, "bogus") for flag, kind in FLAGS if kind is str and flag.replace("-", "_") in CHOICES] + \
        [("num-envs", "nan"), ("seed", "inf"), ("total-steps", "1e30")]


def test_the_fuzz_covers_every_section():
    sections = {flag.split(".")[0] for flag, _ in FLAGS if "." in flag}
    assert sections >= {"generator", "evaluator", "command", "buffer", "scaling", "eval", "ars", "ddpg", "udrl"}
    assert len(CASES) > 150


@pytest.fixture
def validate_only(monkeypatch):
    """``fastgen.run.main`` as users call it, but validating instead of training; torch's threads restored."""
    threads = torch.get_num_threads()
    def validate(cfg, stop):
        cfg.validate()
        return {"env_steps": 0, "finished": True} if cfg.seeds is None else {"seeds": []}

    monkeypatch.setattr(run, "train", validate)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("flag, value", CASES)
def test_a_value_at_or_past_the_edge_is_taken_or_refused_in_one_line(validate_only, capsys, tmp_path, flag, value):
    try:
        code = run.main([f"--{flag}", value, "--out", str(tmp_path / "run")])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert 1 <= len(lines) <= 2 and all(line.startswith("fastgen.run: ") for line in lines), err
        assert f"--{flag}" in lines[0] or value in lines[0], lines[0]
    if value in ("nan", "inf", "-inf", "bogus"):  # never a setting of anything
        assert code == 2, f"--{flag} {value} was accepted"
