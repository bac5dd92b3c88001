"""``python -m bench.gpu --toy`` on the CPU: every part runs and its rows say something true, so the one
script a GPU lease runs cannot rot between leases."""

import json

import pytest
import torch

from bench import gpu
from envs.cpu import rollout_threads
from fastgen import runtime


@pytest.mark.slow  # ~13 s; run it (-m slow) before a GPU lease, where bench.gpu must not fail
def test_bench_gpu_toy_runs_every_part(tmp_path):
    payload = gpu.main(gpu.Settings(toy=True, runs_dir=str(tmp_path / "runs"), results_dir=str(tmp_path)))
    written = json.loads((tmp_path / "gpu_cpu_toy.json").read_text())
    assert written["machine"]["toy"] and written["machine"]["cuda"] is None and written["complete"]
    for part in ("throughput", "updates", "protocol", "parity", "step"):
        assert written[part] == json.loads(json.dumps(payload[part]))

    engines = {r["engine"] for r in payload["throughput"]}
    assert "cpu" in engines and "warp" in engines and any(e.startswith("mjx") for e in engines)
    # threads the rollouts used: 1 where the engine was allowed 1, else rollout_threads' share of the cores
    assert sorted(r["threads"] for r in payload["throughput"] if r["engine"] == "cpu") == \
        [1, rollout_threads(4, runtime.usable_cores())]
    assert all(r["env_steps_per_s"] > 0 for r in payload["throughput"])

    updates = payload["updates"]
    assert {(r["K"], r["mode"]) for r in updates} == {(1, "loop"), (1, "vmap"), (2, "loop"), (2, "vmap")}
    assert all("error" not in r and r["generator_ms"] > 0 and r["evaluator_ms"] > 0 for r in updates)

    (protocol,) = payload["protocol"]
    assert protocol["K"] == 2 and protocol["env_steps"] >= 2 * 999 and protocol["episodes"] >= 2
    assert protocol["full_protocol_s_if_episodes_stay_this_short"] >= protocol["full_protocol_s_if_every_episode_1000_steps"]

    step = payload["step"]  # mountain_car has no MuJoCo solver to cap: B = 2, 4, then the precision variant
    assert [(r["B"], r["variant"]) for r in step] == [(2, "as the engine runs it"), (4, "as the engine runs it"),
                                                      (2, "default matmul precision")]
    assert all("error" not in r and r["ms_per_env_step"] > 0 for r in step)

    (parity,) = payload["parity"]  # float32 MJX vs C MuJoCo: a termination step may move by round-off
    assert parity["equal_lengths"] >= 0.5 and parity["median_relative_return_error"] < 1e-3


def test_bench_gpu_deadline_skips_what_it_has_no_time_for(tmp_path):
    settings = gpu.Settings(runs_dir=str(tmp_path / "runs")).toy_sized()
    rows = gpu.throughput_rows(settings, time_left=lambda: 0.0)
    assert [(r["task"], r["engine"], r["P"], r["threads"], r["skipped"]) for r in rows] == \
        [("mountain_car", "cpu", 4, None, "deadline"), ("mountain_car", "cpu", 4, 1, "deadline"),
         ("mountain_car", "mjx", 4, None, "deadline"), ("mountain_car", "warp", 4, None, "deadline")]
    assert all(r["skipped"] == "deadline" for r in gpu.step_rows(settings, time_left=lambda: 0.0))
    (protocol,) = gpu.protocol_rows(settings, torch.device("cpu"), time_left=lambda: 0.2)
    assert "0 s left" in protocol["skipped"] and not (tmp_path / "runs").exists()


def test_bench_gpu_says_when_warp_rows_cannot_run(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu, "warp_installed", lambda: False)
    settings = gpu.Settings(runs_dir=str(tmp_path / "runs")).toy_sized()
    rows = gpu.throughput_rows(settings, time_left=lambda: 0.0)
    assert {"part": "throughput", "engine": "warp", "skipped": "the [warp] extra is not installed"} in rows
    assert not any(r["engine"] == "warp" and r["skipped"] == "deadline" for r in rows)


def test_bench_gpu_runs_only_the_parts_asked_and_names_an_unknown_one(tmp_path):
    settings = gpu.Settings(toy=True, parts=("step",), runs_dir=str(tmp_path / "runs"), results_dir=str(tmp_path))
    payload = gpu.main(settings)
    assert "step" in payload and not {"updates", "parity", "throughput", "protocol"} & set(payload)
    with pytest.raises(SystemExit, match=r"unknown part\(s\) \['steps'\]"):
        gpu.main(gpu.Settings(toy=True, parts=("steps",), results_dir=str(tmp_path)))
