"""``fastgen.engines.resolve_engine``: ``auto`` takes MJX only with a GPU and a population large enough."""

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


def test_threshold_is_above_the_documented_break_even():
    # 10 x eta x cores with eta = 0.64 (measured) on the 32-core end of GPU hosts: 205 environments
    assert MJX_MIN_POPULATION > 10 * 0.64 * 32


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
