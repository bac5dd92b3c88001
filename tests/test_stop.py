"""Ctrl-C and SIGTERM: the run finishes its iteration, checkpoints, says how to resume and exits 128 + signal;
a second signal stops at once; a resumed run's metrics continue without a duplicate or a gap."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fastgen.runs.stop import StopSignals
from tests.tiny import TINY


def _start(args, module: str = "fastgen.run") -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _signal_after_evaluations(process: subprocess.Popen, run_dirs: list[Path], signum: int,
                              evaluations: int = 2, then_s: float = 0.0) -> tuple[int, str]:
    """Send ``signum`` ``then_s`` after every run has logged ``evaluations`` evaluations; -> (exit code, stderr)."""
    return _signal_once(process, lambda: all(len(_metrics(d)) >= evaluations for d in run_dirs), signum, then_s)


def _signal_once(process: subprocess.Popen, ready, signum: int, then_s: float) -> tuple[int, str]:
    """Send ``signum`` ``then_s`` after ``ready()``; -> (exit code, stderr)."""
    deadline = time.time() + 300
    while time.time() < deadline and not ready():
        assert process.poll() is None, process.communicate()[1][-3000:]
        time.sleep(0.05)
    time.sleep(then_s)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr


def _checkpoint_steps(run_dir: Path) -> int:
    return torch.load(run_dir / "checkpoint.pt", weights_only=False)["counters"]["env_steps"]


def test_first_signal_asks_and_a_second_stops_at_once():
    # The handlers from before, restored on exit: Python's default for SIGINT, or SIG_IGN where the shell
    # started pytest in the background.
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with StopSignals() as stop:
        assert not stop.requested()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested() and stop.exit_code == 143
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_ctrl_c_checkpoints_after_the_iteration_and_the_resumed_metrics_continue(tmp_path):
    out = tmp_path / "run"
    code, stderr = _signal_after_evaluations(_start([*TINY, "--total-steps", "1000000", "--out", str(out)]), [out],
                                             signal.SIGINT)
    lines = [line for line in stderr.splitlines() if line.startswith("fastgen.run")]
    assert code == 130 and "Traceback" not in stderr, stderr[-3000:]
    steps = _checkpoint_steps(out)
    assert lines[-1] == f"fastgen.run: stopped at env step {steps}; resume with --resume --out {out}"
    stopped = _metrics(out)
    summary = json.loads((out / "summary.json").read_text())
    assert not summary["finished"] and summary["env_steps"] == steps >= stopped[-1]["env_steps"]

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, "-m", "fastgen.run", *TINY, "--total-steps", str(steps + 300), "--out",
                           str(out), "--resume"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _metrics(out)
    assert rows[:len(stopped)] == stopped and len(rows) > len(stopped)
    windows = [r["env_steps"] // 200 for r in rows[:-1]]  # one per 200 env steps as unbroken, and one at the end
    assert windows == sorted(set(windows)) and rows[-1]["env_steps"] >= steps + 300 > rows[-2]["env_steps"]


@pytest.mark.parametrize("args, dirs", [
    (["--seeds", "0-1"], ["seed0", "seed1"]),
    (["--algo", "ars"], [""]),
])
def test_sigterm_stops_a_seeds_batch_or_a_baseline_with_every_run_checkpointed(tmp_path, args, dirs):
    out = tmp_path / "run"
    run_dirs = [out / d for d in dirs]
    code, stderr = _signal_after_evaluations(_start([*TINY, *args, "--total-steps", "1000000", "--out", str(out)]),
                                             run_dirs, signal.SIGTERM)
    assert code == 143 and "Traceback" not in stderr, stderr[-3000:]
    steps = [_checkpoint_steps(d) for d in run_dirs]
    for d, s in zip(run_dirs, steps):
        assert json.loads((d / "summary.json").read_text())["env_steps"] == s >= _metrics(d)[-1]["env_steps"]
    seeds = " --seeds 0-1" if "--seeds" in args else ""
    assert stderr.splitlines()[-1] == (f"fastgen.run: stopped at env step {', '.join(map(str, steps))}; "
                                       f"resume with --resume{seeds} --out {out}")


def test_sigterm_stops_a_paper_sweep_with_a_checkpoint_that_the_same_command_resumes(tmp_path):
    from bench.learning import needs_training, to_continue
    from bench.paper import Settings, make_config

    runs = tmp_path / "runs"
    args = ["--variants", "poligen", "--tasks", "inverted_pendulum", "--seeds", "0", "--total-steps", "1000000",
            "--time-limit", "10000", "--threads", "1", "--runs-dir", str(runs), "--results-dir", str(tmp_path / "out")]
    cfg = make_config("inverted_pendulum", "poligen", 0, Settings(total_steps=1_000_000, time_limit=10000,
                                                                    runs_dir=str(runs)))
    run_dir = Path(cfg.out)
    # Inside the first iteration: the summary is the last thing written before the loop starts (a fixed delay
    # after the first metrics line could land before the loop on a loaded machine).
    code, stderr = _signal_once(_start(args, "bench.paper"), lambda: (run_dir / "summary.json").exists(),
                                signal.SIGTERM, then_s=0.2)
    assert code == 143 and "Traceback" not in stderr, stderr[-3000:]
    assert "the same command resumes" in stderr.splitlines()[-1]
    steps = _checkpoint_steps(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert steps > 0 and summary["env_steps"] == steps and not summary["finished"]
    # Stopped well inside its time limit: the same command trains on from the checkpoint.
    assert needs_training(cfg) and to_continue(cfg).resume
    # A run finished at a smaller budget is continued to a larger one, not taken as done.
    summary_path = run_dir / "summary.json"
    summary_path.write_text(json.dumps({**summary, "finished": True, "budget": 1_000_000}))
    assert not needs_training(cfg)
    summary_path.write_text(json.dumps({**summary, "finished": True, "budget": 500_000}))
    assert needs_training(cfg) and to_continue(cfg).resume


@pytest.mark.parametrize("args, dirs", [([], [""]),
                                        pytest.param(["--seeds", "0-1"], ["seed0", "seed1"], marks=pytest.mark.slow)])
def test_a_killed_run_leaves_the_summary_of_its_last_evaluation(tmp_path, args, dirs):
    # summary.json is rewritten with every checkpoint, so a report of live runs (bench.paper --only-existing)
    # and a run killed without warning read a summary that agrees with the metrics it covers.
    out = tmp_path / "run"
    run_dirs = [out / d for d in dirs]
    evaluated_twice = lambda: all((d / "summary.json").exists()  # noqa: E731
                                  and json.loads((d / "summary.json").read_text())["evaluations"] >= 2 for d in run_dirs)
    code, _ = _signal_once(_start([*TINY, *args, "--total-steps", "1000000", "--out", str(out)]), evaluated_twice,
                           signal.SIGKILL, then_s=0.0)
    assert code == -signal.SIGKILL
    for d in run_dirs:
        summary, rows = json.loads((d / "summary.json").read_text()), _metrics(d)
        covered = rows[:summary["evaluations"]]
        assert len(covered) == summary["evaluations"] >= 2 and not summary["finished"]
        assert summary["env_steps"] == covered[-1]["env_steps"] <= _checkpoint_steps(d)
        assert summary["max_eval_return"] == max(r["eval/return"] for r in covered)
        assert summary["final_eval_return"] == covered[-1]["eval/return"]
        assert not list(d.glob("*.tmp"))
