"""bench.update_speed's shape-aware floor (the update's matrix products timed alone) and its split of an update's time."""

import time

import pytest
import torch

from bench import update_speed


def test_gemm_calls_are_the_products_the_update_runs_each_counted_when_repeated():
    torch.manual_seed(0)
    a, b, bias = torch.randn(64, 32), torch.randn(32, 16), torch.randn(16)

    def update():
        h = torch.addmm(bias, a, b).relu()
        layer = torch.baddbmm(bias.view(1, 16, 1), h.view(4, 16, 16), h.view(4, 16, 16))  # a policy layer's product
        return torch.bmm(h.view(4, 16, 16), h.view(4, 16, 16)).sum() + (a @ a.t()).sum() + layer.sum()

    calls = update_speed.gemm_calls(update)
    assert calls == [("aten::addmm", ((16,), (64, 32), (32, 16))),
                     ("aten::baddbmm", ((1, 16, 1), (4, 16, 16), (4, 16, 16))),
                     ("aten::bmm", ((4, 16, 16), (4, 16, 16))), ("aten::mm", ((64, 32), (32, 64)))]
    alone = update_speed.gemms_alone_seconds(calls + calls[:1], torch.device("cpu"), repeats=5)
    once = update_speed.gemms_alone_seconds(calls[:1], torch.device("cpu"), repeats=5)
    assert alone > once > 0  # a repeated call counts again


@pytest.mark.slow  # ~10 s: the default suite is near its 15-minute limit
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_update_rows_carry_both_floors(precision):
    rows = update_speed.time_updates("inverted_pendulum", torch.device("cpu"), repeats=2, precision=precision)
    assert [(r["update"], r["precision"]) for r in rows] == [("evaluator", precision), ("generator", precision)]
    for row in rows:
        # no upper bound on of_gemm_alone: beside another job the timings vary by several times
        assert row["gflop"] > 0 and 0 < row["gemm_alone_ms"] and 0 < row["of_gemm_alone"]
        assert row["products_ms"] > 0 and row["other_ops_ms"] > 0 and row["top_other_ops"]


def test_op_split_puts_products_other_ops_and_the_rest_where_they_belong():
    a, b = torch.randn(16, 16), torch.randn(16, 16)  # ops of microseconds, single-threaded: no timing noise to speak of

    def update():
        h = (a @ b).relu()  # one product, one other op
        time.sleep(0.02)  # 20 ms outside any op: the rest's
        return h.sum()

    ms = update_speed.median_time(update, 3, torch.device("cpu")) * 1e3
    split = update_speed.op_split(update, repeats=3)
    ops = {row["op"]: row for row in split["top_other_ops"]}
    assert split["products_ms"] > 0 and {"aten::relu", "aten::sum"} <= set(ops) and "aten::mm" not in ops
    assert ops["aten::relu"]["calls"] == 1 and ops["aten::relu"]["shapes"] == ((16, 16),)
    assert split["other_ops_ms"] == pytest.approx(sum(row["ms"] for row in split["top_other_ops"]))
    assert split["products_ms"] + split["other_ops_ms"] < ms - 15.0  # the sleep is no op's


def test_the_floor_uses_the_highest_matmul_rate_sampled_during_the_run(monkeypatch, tmp_path):
    # a slow phase of a shared VM (the second sample) must not lower the bar for any row
    float32_rates = iter([200e9, 100e9, 300e9, 150e9, 250e9])
    monkeypatch.setattr(update_speed, "matmul_rate",
                        lambda device, dtype=torch.float32: 900e9 if dtype == torch.bfloat16 else next(float32_rates))
    monkeypatch.setattr(update_speed, "time_updates", lambda env, device, repeats, precision: [
        {"env": env, "precision": precision, "update": "generator", "ms": 10.0, "gflop": 1.5}])
    monkeypatch.setattr(update_speed, "write_json", lambda name, payload: tmp_path / name)
    payload = update_speed.main(update_speed.Settings(envs=("hopper", "swimmer"), devices=("cpu",)))
    assert payload["matmul_gflops_samples"] == {"cpu": [200.0, 100.0, 300.0, 150.0, 250.0]}
    assert len(payload["rows"]) == 4
    for row in payload["rows"]:
        assert row["matmul_gflops"] == 300.0
        assert row["floor_ms"] == pytest.approx(5.0) and row["of_floor"] == pytest.approx(0.5)
