"""What ``--physics fast`` changes against Gymnasium's own settings: returns, episode lengths, speed, and whether a
policy trained on it works on the real task.

    python -m bench.physics                              # every MuJoCo task, ARS trained where missing
    python -m bench.physics --tasks hopper swimmer --runs-dir /work/runs/physics

Per task, on the cpu engine with one thread (``envs.physics`` for the two profiles):
- ``fidelity``: the same policies from the same reset states (one JAX key) under ``gymnasium`` and ``fast``:
  ``--random`` random MLP policies (PyTorch's default initialisation; one episode each) and the final policies
  of ARS trained on ``gymnasium`` for ``--ars-steps`` env steps, seeds ``--trained-seeds`` (``--episodes`` episodes
  each). Reported per group: the mean return under each profile, the median over policies of
  ``|R_fast - R_gym| / max(|R_gym|, 1% of the task's return range)`` (a policy's mean return), the relative error
  of the group's mean return, and the share of episodes whose lengths agree.
- ``speed``: env-steps/s of those rollouts under each profile (the physics dominates the cpu engine's step).
- ``transfer`` (``--transfer-tasks``): ARS trained on ``fast`` with the same seeds and budget, its final policy
  evaluated under both profiles, beside the ARS trained on ``gymnasium``; training wall clock of each.

Training runs live in ``--runs-dir`` (``<task>-ars-<physics>-seed<s>``) and are resumed or reused, so the
benchmark can be stopped and restarted. Writes ``bench/results/physics/physics_profiles.{json,md}``.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
import tyro

import envs
from bench.common import RESULTS, machine, table, write_json
from bench.learning import ensure_run
from envs import policy
from envs.physics import PROFILES
from envs.tasks import TASKS, MujocoTask
from fastgen import runtime
from fastgen.config import Config
from fastgen.normalizer import ObsStats
from fastgen.runs.checkpoint import read_checkpoint

MUJOCO_TASKS = tuple(name for name, task in TASKS.items() if isinstance(task, MujocoTask))
# ARS budgets for "trained" policies: enough to leave the random regime on each task (hopper passes 1000 by
# 72-265k, docs/results/reproduction.md), small enough for one core.
ARS_STEPS = {"hopper": 300_000, "swimmer": 300_000, "walker2d": 300_000, "half_cheetah": 300_000, "ant": 300_000,
             "reacher": 100_000, "inverted_pendulum": 30_000}


@dataclass
class Settings:
    tasks: tuple[str, ...] = MUJOCO_TASKS
    """MuJoCo tasks to measure (mountain_car has no MuJoCo physics: both profiles are the same)."""
    random: int = 64
    """Random MLP policies per task."""
    trained_seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds of the ARS runs whose final policies are the trained ones."""
    episodes: int = 5
    """Episodes per trained policy and profile."""
    transfer_tasks: tuple[str, ...] = ("hopper",)
    """Tasks where ARS is also trained on fast physics and evaluated on both."""
    runs_dir: str = "runs/physics"
    """Where the ARS runs are trained (or found)."""
    only_existing: bool = False
    """Read the ARS runs in --runs-dir as they are; train none."""
    seed: int = 0
    """Seed of the random policies and of every reset key."""
    out: str = "physics_profiles"
    """Result name under bench/results/physics/."""


def episodes(name: str, physics: str, params: np.ndarray, obs_mean, obs_std, key, count: int) -> dict:
    """``count`` episodes of each policy ``params [N, D]`` under ``physics`` -> returns and lengths ``[N, count]``,
    env steps and seconds."""
    env = envs.make(name, "cpu", physics=physics, nthread=1)
    envs.rollout(env, params.astype(np.float32), obs_mean, obs_std, key, episodes=count)  # warm-up (pools, shapes)
    start = time.perf_counter()
    result = envs.rollout(env, params.astype(np.float32), obs_mean, obs_std, key, episodes=count)
    seconds = time.perf_counter() - start
    return {"returns": result.episode_returns, "lengths": result.episode_lengths, "env_steps": result.env_steps,
            "seconds": seconds}


def compare(name: str, gym: dict, fast: dict) -> dict:
    """One fidelity row from the two profiles' episodes of the same policies."""
    low, high = TASKS[name].spec.return_range
    floor = 0.01 * (high - low)
    gym_mean, fast_mean = gym["returns"].mean(axis=1), fast["returns"].mean(axis=1)
    relative = np.abs(fast_mean - gym_mean) / np.maximum(np.abs(gym_mean), floor)
    return {"policies": int(gym_mean.size), "return_gymnasium": float(gym_mean.mean()),
            "return_fast": float(fast_mean.mean()), "median_rel_error": float(np.median(relative)),
            "max_rel_error": float(relative.max()),
            "rel_error_of_mean": float(abs(fast_mean.mean() - gym_mean.mean()) / max(abs(gym_mean.mean()), floor)),
            "equal_lengths": float(np.mean(gym["lengths"] == fast["lengths"])),
            "mean_length_gymnasium": float(gym["lengths"].mean()), "mean_length_fast": float(fast["lengths"].mean())}


def ars_run(name: str, physics: str, seed: int, settings: Settings) -> tuple[np.ndarray, ObsStats, dict]:
    """ARS on ``name`` under ``physics`` for its ARS_STEPS budget (trained unless done) -> (theta ``[D]``, observation
    statistics, summary.json)."""
    out = Path(settings.runs_dir) / f"{name}-ars-{physics}-seed{seed}"
    cfg = Config(algo="ars", env=name, seed=seed, total_steps=ARS_STEPS[name], physics=physics, threads=1,
                 out=str(out))
    if settings.only_existing and not (out / "summary.json").exists():
        raise SystemExit(f"{out} has no finished run; drop --only-existing to train it")
    run = ensure_run(cfg, train_if_needed=not settings.only_existing)
    saved, _ = read_checkpoint(out)
    return np.asarray(saved["theta"], np.float64), ObsStats.from_state_dict(saved["obs_stats"]), run["summary"]


def task_rows(name: str, settings: Settings, rng) -> list[dict]:
    spec = TASKS[name].spec
    key = jax.random.key(settings.seed)
    rows = []
    params = policy.random_params(rng, settings.random, spec.obs_dim, spec.act_dim)
    mean, std = np.zeros(spec.obs_dim), np.ones(spec.obs_dim)
    runs = {p: episodes(name, p, params, mean, std, key, 1) for p in PROFILES}
    rows.append({"task": name, "policies_from": "random", **compare(name, runs["gymnasium"], runs["fast"]),
                 **{f"env_steps_per_s_{p}": runs[p]["env_steps"] / runs[p]["seconds"] for p in PROFILES}})
    trained_on = ("gymnasium", "fast") if name in settings.transfer_tasks else ("gymnasium",)
    for physics in trained_on:
        per_seed = []
        for seed in settings.trained_seeds:
            theta, stats, summary = ars_run(name, physics, seed, settings)
            runs = {p: episodes(name, p, theta[None], stats.mean, stats.std, key, settings.episodes) for p in PROFILES}
            per_seed.append({"seed": seed, **{f"return_{p}": float(runs[p]["returns"].mean()) for p in PROFILES},
                             "train_wall_s": summary["wall_s"], "train_env_steps": summary["env_steps"], "runs": runs})
        merged = {p: {k: np.concatenate([s["runs"][p][k] for s in per_seed]) for k in ("returns", "lengths")}
                  for p in PROFILES}
        for p in PROFILES:
            merged[p].update(env_steps=sum(s["runs"][p]["env_steps"] for s in per_seed),
                             seconds=sum(s["runs"][p]["seconds"] for s in per_seed))
        rows.append({"task": name, "policies_from": f"ARS on {physics}", **compare(name, merged["gymnasium"],
                                                                                   merged["fast"]),
                     **{f"env_steps_per_s_{p}": merged[p]["env_steps"] / merged[p]["seconds"] for p in PROFILES},
                     "ars_steps": ARS_STEPS[name],
                     "per_seed": [{k: v for k, v in s.items() if k != "runs"} for s in per_seed]})
    return rows


def markdown(rows: list[dict], settings: Settings, info: dict) -> str:
    lines = [f"Machine: {info['cpu']}, {info['cores']} cores; cpu engine, one thread; mujoco {info['mujoco']}. "
             f"Random policies: {settings.random} per task, one episode each; trained: ARS final policies, seeds "
             f"{', '.join(map(str, settings.trained_seeds))}, {settings.episodes} episodes each. Relative errors: "
             "|R_fast - R_gym| / max(|R_gym|, 1% of the return range), per policy (median, max) and of the group's "
             "mean.", "",
             "| task | policies | return (gymnasium) | return (fast) | median rel. error | max rel. error | rel. error "
             "of mean | equal lengths | env-steps/s gymnasium | env-steps/s fast | speed-up |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['policies_from']} ({r['policies']}) | {r['return_gymnasium']:.1f} | "
                     f"{r['return_fast']:.1f} | {r['median_rel_error']:.2%} | {r['max_rel_error']:.2%} | "
                     f"{r['rel_error_of_mean']:.2%} | {r['equal_lengths']:.0%} | {r['env_steps_per_s_gymnasium']:,.0f} | "
                     f"{r['env_steps_per_s_fast']:,.0f} | "
                     f"{r['env_steps_per_s_fast'] / r['env_steps_per_s_gymnasium']:.2f}x |")
    transfer = [r for r in rows if r["policies_from"].startswith("ARS on")]
    if transfer:
        lines += ["", "ARS's final policies evaluated under both profiles (mean over episodes), by seed:", "",
                  "| task | trained on | seed | env steps | return on gymnasium | return on fast | training wall clock |",
                  "|---|---|---|---|---|---|---|"]
        for r in transfer:
            for s in r["per_seed"]:
                lines.append(f"| {r['task']} | {r['policies_from'][7:]} | {s['seed']} | {s['train_env_steps']:,} | "
                             f"{s['return_gymnasium']:.1f} | {s['return_fast']:.1f} | {s['train_wall_s']:.0f} s |")
    return "\n".join(lines) + "\n"


def main(settings: Settings) -> dict:
    unknown = [t for t in (*settings.tasks, *settings.transfer_tasks) if t not in MUJOCO_TASKS]
    if unknown:
        raise SystemExit(f"unknown or non-MuJoCo task {unknown[0]!r}; choose from {', '.join(MUJOCO_TASKS)}")
    if settings.random < 1 or settings.episodes < 1 or not settings.trained_seeds:
        raise SystemExit(f"--random and --episodes must be >= 1 and --trained-seeds non-empty, got "
                         f"{settings.random}, {settings.episodes}, {settings.trained_seeds}")
    rng = np.random.default_rng(settings.seed)
    rows = []
    for name in settings.tasks:
        rows += task_rows(name, settings, rng)
        print(table([r for r in rows if r["task"] == name], COLUMNS), flush=True)
    info = machine()
    payload = {"benchmark": "physics", "machine": info, "settings": vars(settings), "ars_steps": ARS_STEPS,
               "rows": rows}
    path = write_json(f"{settings.out}.json", payload, RESULTS / "physics")
    path.with_suffix(".md").write_text(markdown(rows, settings, info))
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return payload


COLUMNS = ["task", "policies_from", "return_gymnasium", "return_fast", "median_rel_error", "rel_error_of_mean",
           "equal_lengths", "env_steps_per_s_gymnasium", "env_steps_per_s_fast"]

if __name__ == "__main__":
    runtime.configure()
    main(tyro.cli(Settings))
