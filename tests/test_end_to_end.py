"""bench.end_to_end: the floor of a run counts the highest matmul rate sampled during its training."""

import json

import pytest
import torch

from bench import end_to_end


def test_the_floor_uses_the_highest_rate_sampled_before_during_and_after_training(monkeypatch, tmp_path):
    rates = iter([200e9, 100e9, 400e9] + [150e9] * 1000)  # a fast phase mid-run must raise the bar of the whole run
    drawn = []

    def rate(device, dtype=torch.float32):
        drawn.append(next(rates) / 1e9)
        return drawn[-1] * 1e9

    monkeypatch.setattr(end_to_end, "matmul_rate", rate)
    monkeypatch.setattr(end_to_end, "RESULTS", tmp_path)
    monkeypatch.setattr(end_to_end, "write_json", lambda name, payload: tmp_path / name)
    settings = end_to_end.Settings(env="mountain_car", total_steps=1000, eval_every=1000, rate_every=0.0,
                                   out=str(tmp_path / "run"))
    payload = end_to_end.main(settings)
    session, = payload["sessions"]
    assert session["matmul_gflops_samples"] == drawn and len(drawn) >= 4  # before, one per iteration or more, after
    assert session["matmul_gflops"] == 400.0 and payload["result"]["matmul_gflops"] == pytest.approx(400.0)
    result, iterations = payload["result"], payload["summary"]["iterations"]
    flop = (result["generator_updates"] * result["generator_gflop"] + result["evaluator_updates"] * result["evaluator_gflop"])
    assert iterations >= 1 and result["floor_s"] == pytest.approx(flop / 400.0)
    written = json.loads((tmp_path / "run" / "end_to_end_sessions.json").read_text())
    assert written[0]["matmul_gflops_samples"] == drawn  # on disk too, for a resumed run's floor
