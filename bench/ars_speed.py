"""Env-steps/s of whole ARS V2-t iterations, and where an iteration's time goes.

    python -m bench.ars_speed                          # hopper and swimmer on the cpu engine
    python -m bench.ars_speed --engines cpu mjx        # add MJX (compile time reported apart)

One iteration = sample N directions over the ~70k flat weights, roll out the 2N policies
theta +- nu delta in one ``envs.rollout`` (the tasks' tuned presets: N = 8 on hopper and swimmer,
so 16 episodes), absorb the visited states into the normalisation, and make the top-b step.
Rows per (task, engine): env-steps/s over the timed iterations, the rollout's share of the time
(the rest is direction sampling, the statistics and the step), and the ratio to one Gymnasium env
stepped in Python with the same MLP (``bench.throughput``'s gym-loop), the way a serial ARS worker
runs. Training starts from PyTorch-default weights, so early hopper episodes are short; the timed
iterations follow ``warmup`` untimed ones.
"""

import time
from dataclasses import dataclass

import numpy as np
import tyro

from bench.common import RESULTS, device_tag, machine, table, write_json
from bench.throughput import gym_loop
from envs.tasks import TASKS
from fastgen import runtime
from fastgen.baselines import ars
from fastgen.config import Config


@dataclass
class Settings:
    tasks: tuple[str, ...] = ("hopper", "swimmer")
    """Tasks to measure (their ARS presets fix directions, elite and noise)."""
    engines: tuple[str, ...] = ("cpu",)
    """Simulation engines: cpu, mjx."""
    iterations: int = 20
    """Timed ARS iterations per row."""
    warmup: int = 2
    """Untimed iterations first (MJX compiles in the first)."""
    gym_steps: int = 3000
    """Env steps of the single-Gymnasium-env reference loop."""
    seed: int = 0


def measure(task: str, engine: str, settings: Settings) -> dict:
    state = ars.init(Config(algo="ars", env=task, engine=engine, seed=settings.seed))
    start = time.perf_counter()
    for _ in range(settings.warmup):
        state, _ = ars.iteration(state)
    warmup_s = time.perf_counter() - start
    steps0, rollout_s = state.env_steps, 0.0
    start = time.perf_counter()
    for _ in range(settings.iterations):
        state, metrics = ars.iteration(state)
        rollout_s += metrics["perf/rollout_s"]
    seconds = time.perf_counter() - start
    steps = state.env_steps - steps0
    s = state.settings
    return {"task": task, "engine": state.env.engine,
            "policies": 2 * s.directions, "iterations": settings.iterations, "env_steps": steps,
            "mean_episode": steps / (settings.iterations * 2 * s.directions),
            "env_steps_per_s": steps / seconds, "ms_per_iteration": seconds / settings.iterations * 1e3,
            "rollout_share": rollout_s / seconds, "warmup_s": warmup_s}


def main(settings: Settings) -> dict:
    for task in settings.tasks:
        if task not in TASKS:
            raise SystemExit(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    if settings.iterations <= 0 or settings.warmup < 0:
        raise SystemExit(f"iterations must be > 0 and warmup >= 0, got {settings.iterations}, {settings.warmup}")
    rows = []
    for task in settings.tasks:
        gym_sps = gym_loop(task, settings.gym_steps, np.random.default_rng(settings.seed))
        for engine in settings.engines:
            row = measure(task, engine, settings)
            row["vs_gym_loop"] = row["env_steps_per_s"] / gym_sps
            rows.append(row)
            print(table([row], COLUMNS), flush=True)
    payload = {"benchmark": "ars_speed", "machine": machine(), "config": vars(settings), "rows": rows}
    path = write_json(f"ars_speed_{device_tag()}.json", payload, RESULTS / "throughput")
    print(f"\n{table(rows, COLUMNS)}\nwrote {path}")
    return payload


COLUMNS = ["task", "engine", "policies", "mean_episode", "env_steps_per_s", "ms_per_iteration", "rollout_share",
           "vs_gym_loop", "warmup_s"]

if __name__ == "__main__":
    runtime.configure()
    main(tyro.cli(Settings))
