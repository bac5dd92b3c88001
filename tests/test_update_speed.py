"""bench.update_speed's shape-aware floor: it finds the update's matrix products and times them alone."""

import pytest
import torch

from bench import update_speed


def test_gemm_calls_are_the_products_the_update_runs_each_counted_when_repeated():
    torch.manual_seed(0)
    a, b, bias = torch.randn(64, 32), torch.randn(32, 16), torch.randn(16)

    def update():
        h = torch.addmm(bias, a, b).relu()
        return torch.bmm(h.view(4, 16, 16), h.view(4, 16, 16)).sum() + (a @ a.t()).sum()

    calls = update_speed.gemm_calls(update)
    assert calls == [("aten::addmm", ((16,), (64, 32), (32, 16))), ("aten::bmm", ((4, 16, 16), (4, 16, 16))),
                     ("aten::mm", ((64, 32), (32, 64)))]
    alone = update_speed.gemms_alone_seconds(calls + calls[:1], torch.device("cpu"), repeats=5)
    once = update_speed.gemms_alone_seconds(calls[:1], torch.device("cpu"), repeats=5)
    assert alone > once > 0  # a repeated call counts again


@pytest.mark.slow  # ~10 s: the default suite is near its 15-minute limit
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_update_rows_carry_both_floors(precision):
    rows = update_speed.time_updates("inverted_pendulum", torch.device("cpu"), repeats=2, precision=precision)
    assert [(r["update"], r["precision"]) for r in rows] == [("evaluator", precision), ("generator", precision)]
    for row in rows:
        assert row["gflop"] > 0 and 0 < row["gemm_alone_ms"] and 0 < row["of_gemm_alone"] < 2
