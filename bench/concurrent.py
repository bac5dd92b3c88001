"""Two trainings on one machine: each run's wall clock alone and beside another, three ways.

    python -m bench.concurrent                      # swimmer, 10 episodes per run, on this machine's cores

- ``alone``: one ``fastgen.run`` with every core (the default threads).
- ``split``: two runs at once, each pinned to its own half of the cores (``taskset``) and so, by
  ``fastgen.runtime``, running that many threads: what the README tells a user to do.
- ``oversubscribed``: two runs at once, each with every core's worth of threads (``--threads`` set to
  all cores, no pinning): what happens without it (OpenMP barriers wait for threads the other
  process holds).

Each run trains a fresh PoliGen run of ``--episodes`` episodes (the paper's schedule, 25 updates per
episode) in a temporary directory; the time is the process's wall clock. ``vs_alone`` is each run's
time over the alone run's (2 would be a fair share of the machine). Writes
``bench/results/throughput/concurrent_<device>.json``.
"""

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import tyro

from bench.common import RESULTS, device_tag, machine, table, write_json
from envs.tasks import TASKS
from fastgen import runtime


@dataclass
class Settings:
    env: str = "swimmer"
    """Task."""
    episodes: int = 10
    """Episodes per run (P = 1): its budget is this many full-length episodes."""


def _command(settings: Settings, out: str, threads: int | None) -> list[str]:
    horizon = TASKS[settings.env].spec.horizon
    steps = settings.episodes * horizon
    command = [sys.executable, "-m", "fastgen.run", "--env", settings.env, "--num-envs", "1", "--engine", "cpu",
               "--device", "cpu", "--total-steps", str(steps), "--eval.every", str(steps), "--eval.episodes", "1",
               "--generator.snapshots", "0", "--out", out]
    return command + (["--threads", str(threads)] if threads is not None else [])


def _run_together(commands: list[list[str]], cpu_sets: list[list[int] | None]) -> list[float]:
    """Start every command at once (pinned where a cpu set is given); -> each one's wall seconds."""
    start, procs = time.perf_counter(), []
    for command, cpus in zip(commands, cpu_sets):
        preexec = (lambda c=cpus: os.sched_setaffinity(0, c)) if cpus is not None else None
        procs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      preexec_fn=preexec))
    ends = [None] * len(procs)
    while any(e is None for e in ends):
        for i, proc in enumerate(procs):
            if ends[i] is None and proc.poll() is not None:
                if proc.returncode != 0:
                    raise SystemExit(f"run {' '.join(commands[i])} failed with exit code {proc.returncode}")
                ends[i] = time.perf_counter()
        time.sleep(0.05)
    return [e - start for e in ends]


def main(settings: Settings) -> dict:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit(f"needs at least 2 cores, this process may use {len(cores)}")
    halves = [cores[: len(cores) // 2], cores[len(cores) // 2:]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = lambda name: os.path.join(tmp, name)  # noqa: E731
        (alone,) = _run_together([_command(settings, out("alone"), None)], [None])
        rows.append({"mode": "alone", "runs": 1, "threads_each": len(cores), "wall_s": alone, "vs_alone": 1.0})
        for mode, threads, pins in (("split", None, halves), ("oversubscribed", len(cores), [None, None])):
            walls = _run_together([_command(settings, out(f"{mode}{i}"), threads) for i in range(2)], pins)
            for i, wall in enumerate(walls):
                rows.append({"mode": mode, "run": i, "runs": 2, "threads_each": threads or len(halves[i]),
                             "wall_s": wall, "vs_alone": wall / alone})
            print(table(rows, ["mode", "run", "threads_each", "wall_s", "vs_alone"]), flush=True)
    payload = {"benchmark": "concurrent", "machine": machine(), "settings": vars(settings), "rows": rows}
    print(f"wrote {write_json(f'concurrent_{device_tag()}.json', payload, RESULTS / 'throughput')}")
    return payload


if __name__ == "__main__":
    runtime.configure()
    main(tyro.cli(Settings))
