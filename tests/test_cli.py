"""``python -m fastgen.run`` end to end in a subprocess: run directory, bad input, kill and resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fastgen import run
from tests.tiny import TINY


def _run(args, **kwargs):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "fastgen.run", *args], capture_output=True, text=True, env=env,
                          timeout=600, **kwargs)


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_tiny_run_writes_the_run_directory(tmp_path):
    out = tmp_path / "run"
    done = _run([*TINY, "--total-steps", "600", "--out", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["env"] == "inverted_pendulum" and config["resolved"]["engine"] == "cpu"
    rows = _metrics(out)
    assert rows[0]["env_steps"] == 0 and rows[-1]["env_steps"] >= 600
    assert [r["env_steps"] for r in rows] == sorted(r["env_steps"] for r in rows)
    for key in ("env_steps", "wall_s", "eval/return", "train/best_return"):
        assert key in rows[-1]
    saved = torch.load(out / "checkpoint.pt", weights_only=False)
    for key in ("generator", "evaluator", "generator_opt", "evaluator_opt", "buffer", "obs_stats", "rng", "counters"):
        assert key in saved
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env_steps"] == rows[-1]["env_steps"] and summary["evaluations"] == len(rows)
    n = summary["final_return_evaluations"]  # the evaluations at or after step 600 - 19 x 200: all of them here
    assert n == len(rows) and summary["final_return"] == pytest.approx(sum(r["eval/return"] for r in rows) / n)
    assert list(out.glob("events.out.tfevents.*"))


def test_hopper_metrics_report_the_bonus_free_return(tmp_path):
    out = tmp_path / "hop"
    args = ["--env", "hopper", "--num-envs", "2", "--engine", "cpu", "--device", "cpu", "--total-steps", "50",
            "--eval.episodes", "1", "--generator.updates-per-episode", "1", "--evaluator.updates-per-episode", "1"]
    done = _run([*args, "--out", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    row = _metrics(out)[-1]
    assert row["eval/return"] - row["eval/return_no_bonus"] == pytest.approx(row["eval/length"], abs=1e-6)


def test_bad_input_from_the_shell_is_one_line_and_nonzero(tmp_path):
    done = _run(["--env", "walker", "--out", str(tmp_path / "bad")])
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("fastgen.run: error")]
    assert len(lines) == 1 and "unknown env 'walker'" in lines[0], done.stderr[-2000:]
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("args, fragment", [  # through main(argv) in this process: the same code, no start-up
    (["--num-envs", "0"], "--num-envs must be >= 1, got 0"),
    (["--engine", "tpu"], "unknown engine 'tpu'"),
    (["--physics", "quick"], "unknown physics profile 'quick'; choose one of gymnasium, fast"),
    (["--time-limit", "0"], "--time-limit must be > 0 seconds, got 0"),
    (["--generator.command-width", "0"], "--generator.command-width must be > 0, got 0.0"),
    (["--precision", "float16"], "unknown precision 'float16'; choose one of float32, bfloat16"),
    (["--algo", "ars", "--precision", "bfloat16"], "--precision bfloat16 sets PoliGen's updates; --algo ars trains"),
    (["--algo", "sac"], "unknown algo 'sac'; choose one of poligen, ars, ddpg, udrl"),
    (["--algo", "ars", "--env", "hopper", "--num-envs", "5"], "--num-envs 5 must be even for --algo ars"),
    (["--algo", "ddpg", "--engine", "mjx"], "--algo ddpg steps one env through the Gymnasium API on the cpu engine"),
    (["--algo", "ars", "--ars.elite", "3", "--env", "inverted_pendulum"], "--ars.elite 3 must be <= --ars.directions 1"),
])
def test_bad_input_is_one_line_and_nonzero(tmp_path, capsys, args, fragment):
    threads = torch.get_num_threads()
    try:
        code = run.main([*args, "--out", str(tmp_path / "bad")])
    finally:
        torch.set_num_threads(threads)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("fastgen.run: error")]
    assert code == 2 and len(lines) == 1 and fragment in lines[0], err[-2000:]
    assert not (tmp_path / "bad").exists()


def test_kill_then_resume_finishes_consistently(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "fastgen.run", *TINY, "--total-steps", "100000", "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 300
    while time.time() < deadline and len(_lines(out)) < 2:  # the second evaluation: a checkpoint after training
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_rows = _metrics(out)
    assert len(killed_rows) >= 2
    checkpoint_steps = torch.load(out / "checkpoint.pt", weights_only=False)["counters"]["env_steps"]
    budget = str(checkpoint_steps + 400)

    wrong_env = _run(["--env", "mountain_car", "--out", str(out), "--resume"])
    assert wrong_env.returncode != 0 and "checkpoint is from env 'inverted_pendulum'" in wrong_env.stderr
    assert _metrics(out) == killed_rows  # a refused resume writes nothing

    done = _run([*TINY, "--total-steps", budget, "--out", str(out), "--resume"])
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _metrics(out)
    steps = [r["env_steps"] for r in rows]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    assert rows[: len(killed_rows)][0] == killed_rows[0]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env_steps"] >= int(budget) and summary["evaluations"] == len(rows)
    assert summary["episodes"] * 1 >= len(rows)
    iterations = [r["iterations"] for r in rows]  # the counters at each evaluation, as the run stood there
    assert iterations == sorted(iterations) and iterations[-1] <= summary["iterations"]


def _lines(run_dir: Path) -> list[str]:
    path = run_dir / "metrics.jsonl"
    return path.read_text().splitlines() if path.exists() else []


def test_time_limit_stops_early_and_resume_finishes(tmp_path):
    out = tmp_path / "run"
    done = _run([*TINY, "--total-steps", "100000", "--time-limit", "1e-9", "--out", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    stopped = json.loads((out / "summary.json").read_text())
    assert not stopped["finished"] and stopped["iterations"] == 1 and stopped["env_steps"] < 100000
    rows = _metrics(out)
    assert rows[-1]["env_steps"] == stopped["env_steps"]  # evaluated and checkpointed where it stopped
    done = _run([*TINY, "--total-steps", "600", "--out", str(out), "--resume"])
    assert done.returncode == 0, done.stderr[-3000:]
    finished = json.loads((out / "summary.json").read_text())
    assert finished["finished"] and finished["env_steps"] >= 600 and finished["iterations"] > 1
    assert _metrics(out)[:len(rows)] == rows


# algo -> (its flags, first budget, resumed budget, eval every): small budgets with >= 3 evaluations before the
# resume; DDPG acts in iterations of 1000 env steps and makes few gradient updates before the resume.
BASELINES = {
    "ars": ([], 600, 1000, 200),
    "udrl": (["--udrl.warm-up-episodes", "2", "--udrl.episodes-per-iteration", "2", "--udrl.updates-per-iteration", "2"],
             600, 1000, 200),
    "ddpg": (["--ddpg.start-steps", "100", "--ddpg.update-after", "1200"], 1500, 2500, 500),
}


# ddpg's ~21 s run with -m slow: test_baselines.py checks its checkpoint, ars and udrl the CLI's resume
@pytest.mark.parametrize("algo", [pytest.param(a, marks=pytest.mark.slow) if a == "ddpg" else a for a in BASELINES])
def test_baselines_write_the_same_run_directory_and_resume(tmp_path, algo):
    out = tmp_path / algo
    flags, first, second, every = BASELINES[algo]
    args = ["--algo", algo, "--env", "inverted_pendulum", "--engine", "cpu", "--device", "cpu", "--eval.every", str(every),
            "--eval.episodes", "2", *flags, "--out", str(out)]
    done = _run([*args, "--total-steps", str(first)])
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _metrics(out)
    assert rows[0]["env_steps"] == 0 and rows[-1]["env_steps"] >= first and len(rows) >= 3
    for row in rows:
        for key in ("env_steps", "wall_s", "episodes", "eval/return", "eval/return_std", "eval/length",
                    "train/best_return"):
            assert key in row, (algo, key)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["algo"] == algo and summary["finished"] and summary["evaluations"] == len(rows)
    assert torch.load(out / "checkpoint.pt", weights_only=False)["algo"] == algo
    done = _run([*args, "--total-steps", str(second), "--resume"])
    assert done.returncode == 0, done.stderr[-3000:]
    resumed = _metrics(out)
    assert resumed[: len(rows)] == rows and resumed[-1]["env_steps"] >= second


def test_resume_refuses_a_checkpoint_of_another_algo(tmp_path):
    out = tmp_path / "ars"
    done = _run(["--algo", "ars", "--env", "inverted_pendulum", "--engine", "cpu", "--total-steps", "300",
                 "--out", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    before = (out / "checkpoint.pt").read_bytes()
    done = _run(["--algo", "udrl", "--env", "inverted_pendulum", "--engine", "cpu", "--total-steps", "600",
                 "--out", str(out), "--resume"])
    lines = [line for line in done.stderr.splitlines() if line.startswith("fastgen.run: error")]
    assert done.returncode != 0 and len(lines) == 1 and "checkpoint is from algo 'ars', not 'udrl'" in lines[0]
    assert (out / "checkpoint.pt").read_bytes() == before
