"""``fastgen.engines.resolve_engine``: ``auto`` takes MJX only with a GPU and a population large enough."""

import json
from pathlib import Path

import pytest

from fastgen import engines
from fastgen.engines import MJX_MIN_POPULATION, resolve_engine


@pytest.fixture
def gpu(monkeypatch):
    """Pretend JAX sees a GPU."""
    monkeypatch.setattr(engines, "gpu_visible", lambda: True)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(engines, "gpu_visible", lambda: False)


def test_auto_with_a_gpu_switches_to_mjx_at_the_threshold(gpu):
    assert resolve_engine("auto", 1) == "cpu"
    assert resolve_engine("auto", MJX_MIN_POPULATION - 1) == "cpu"
    assert resolve_engine("auto", MJX_MIN_POPULATION) == "mjx"
    assert resolve_engine("auto", 16 * 4096) == "mjx"


def test_auto_without_a_gpu_is_always_cpu(no_gpu):
    for population in (1, MJX_MIN_POPULATION, 16 * 4096):
        assert resolve_engine("auto", population) == "cpu"


@pytest.mark.parametrize("visible", [True, False])
@pytest.mark.parametrize("engine", ["cpu", "mjx"])
def test_explicit_engines_pass_through(monkeypatch, visible, engine):
    monkeypatch.setattr(engines, "gpu_visible", lambda: visible)
    for population in (1, MJX_MIN_POPULATION, 10**6):
        assert resolve_engine(engine, population) == engine


def test_threshold_is_above_the_measured_break_even():
    """B > S x C: S = C-MuJoCo core-steps one batched MJX swimmer step costs (the H200 lease), C = 16 cores."""
    results = Path(__file__).resolve().parent.parent / "bench" / "results"
    gpu = json.loads((results / "gpu" / "gpu_nvidia-h200.json").read_text())
    (mjx,) = [r for r in gpu["throughput"] if r["task"] == "swimmer" and r["engine"] == "mjx-float32" and "skipped" not in r]
    cpu = json.loads((results / "throughput" / "throughput_cpu.json").read_text())
    (core,) = [r for r in cpu["rows"] if r["task"] == "swimmer" and r["engine"] == "cpu" and r["P"] == 256]
    per_core = core["env_steps_per_s"] / cpu["machine"]["cores"]
    core_steps_per_mjx_step = mjx["P"] / mjx["env_steps_per_s"] * per_core
    assert 100 < core_steps_per_mjx_step < 5000  # the measurement is what the docstring says it is (~560)
    assert MJX_MIN_POPULATION > core_steps_per_mjx_step * 16


@pytest.mark.parametrize("engine, population, message", [
    ("gpu", 300, "unknown engine 'gpu'"), ("auto", 0, "population must be >= 1, got 0"),
])
def test_bad_input_is_refused(no_gpu, engine, population, message):
    with pytest.raises(ValueError, match=message):
        resolve_engine(engine, population)


def test_gpu_visible_is_false_where_jax_has_only_the_cpu():
    import jax

    if {d.platform for d in jax.devices()} != {"cpu"}:
        pytest.skip("this process sees an accelerator")
    assert engines.gpu_visible() is False
