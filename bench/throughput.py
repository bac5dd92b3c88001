"""Env-steps/s of the population rollout, beside a Gymnasium loop and the all-core physics bound.

    python -m bench.throughput                 # all tasks, P = 64 and 256 on cpu, mjx at P = 64
    python -m bench.throughput --tasks hopper --mjx-populations 1024 16384   # on a GPU

Rows per task:
- ``gym-loop``: one ``gymnasium.make(...)`` env in a Python loop, the same 256-256 MLP (numpy).
- ``bound``: raw ``mj_step`` in C on all cores (``mujoco.rollout``), no policy and no Python in
  between: 256 environments x 200 env steps from reset states under random controls (held for
  ``frame_skip`` substeps, as an env step does). Random MLP policies mostly fall within ~200 steps
  on hopper, so this covers the same kind of states. mountain_car has no MuJoCo physics: no bound.
- ``cpu P=..``: ``envs.rollout`` of P distinct random policies (PyTorch-default init), one episode
  each, with the time split into policy forward and physics step (incl. the task's reward code).
- ``mjx P=..``: the same on MJX, one compiled call per rollout; compile time reported apart.
- ``warp P=..``: the same on MuJoCo Warp (``envs.warp_env``: the cpu engine's loop, Warp's physics on its default
  device), kernel compilation and graph capture in the first, untimed call.
- ``physics``: the ``envs.physics`` profile of every row (``--physics gymnasium fast`` measures both).
- ``solver`` rows (``--solver-states``, MuJoCo tasks): Newton iterations per substep and line-search trips per
  iteration, MJX's beside C MuJoCo's on the same visited states (``bench.solver_work``): under ``vmap`` a batch
  pays MJX's maximum over its environments, and MJX's line search always runs ``ls_iterations`` trips.
- ``slots`` and ``useful_share``: the environments stepped at once (``envs.rollout(..., slots=)``, as a fraction
  of P with ``--slot-fractions``) and the share of their slot-steps that counted (env steps / slot-steps, the
  environments stepped summed over loop steps): below 1 where finished episodes keep their slots (mjx steps
  them anyway, in batches that shrink for the last episodes, ``stages``; cpu skips them, its slot-steps are
  each shard's slots x loop steps).

Timings are medians over repeats of whole rollouts (each a new key), wall clock, after a warm-up.
"""

import importlib.util
import os
import time
from dataclasses import dataclass

import jax
import mujoco
import mujoco.rollout
import numpy as np
import tyro

import envs
from bench.common import RESULTS, device_tag, machine, table, write_json
from bench.solver_work import solver_row
from envs import policy
from envs.cpu import rollout_threads
from envs.physics import check_profile
from envs.tasks import TASKS, MujocoTask
from fastgen import runtime


@dataclass
class Config:
    tasks: tuple[str, ...] = tuple(TASKS)
    """Tasks to measure."""
    populations: tuple[int, ...] = (64, 256)
    """Population sizes P for the cpu engine."""
    mjx_populations: tuple[int, ...] = (64,)
    """Population sizes P for the mjx engine (empty: skip mjx). Use up to 16384 on a GPU."""
    warp_populations: tuple[int, ...] = (64,)
    """Population sizes P for the warp engine (MuJoCo Warp; empty, or the [warp] extra missing: skip)."""
    physics: tuple[str, ...] = ("gymnasium",)
    """envs.physics profiles to measure, a row each (gymnasium, fast)."""
    solver_states: int = 4
    """Visited states per MuJoCo task and profile on which MJX's and C MuJoCo's solver iterations are counted
    (MJX's run eagerly: seconds each); 0 skips."""
    slot_fractions: tuple[float, ...] = (1.0,)
    """Slots per rollout as fractions of P (1: one per episode, the engines' default), a row each."""
    repeats: int = 3
    """Timed rollouts per row (median reported)."""
    gym_steps: int = 3000
    """Env steps of the single-Gymnasium-env loop."""
    bound_envs: int = 256
    """Environments in the physics-bound measurement."""
    bound_steps: int = 200
    """Env steps per environment in the physics-bound measurement."""
    seed: int = 0
    """Seed for policies and keys."""
    out: str = ""
    """JSON file name under bench/results/throughput/ (default: throughput_<device>.json)."""


def gym_loop(name: str, steps: int, rng) -> float:
    """Env-steps/s of one Gymnasium env stepped in Python with one numpy MLP policy."""
    import gymnasium

    spec = TASKS[name].spec
    env = gymnasium.make(spec.gymnasium_id)
    params = policy.random_params(rng, 1, spec.obs_dim, spec.act_dim)
    mean, std = np.zeros(spec.obs_dim), np.ones(spec.obs_dim)
    obs, _ = env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        normalised = ((obs - mean) / std).astype(np.float32)[None, None]
        action = policy.forward(params, normalised, spec.action_bound, spec.obs_dim, spec.act_dim, np)[0, 0]
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
    return steps / (time.perf_counter() - start)


def physics_bound(name: str, n_envs: int, n_steps: int, rng) -> float:
    """Env-steps/s of raw C ``mj_step`` on all cores over ``n_envs x n_steps`` env steps."""
    task = TASKS[name]
    model = task.load_model()
    cpu_env = envs.make(name, "cpu")
    qpos, qvel = cpu_env.physical_state(cpu_env.reset(jax.random.key(0), n_envs))
    data = mujoco.MjData(model)
    size = mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_FULLPHYSICS)
    initial = np.zeros((n_envs, size))
    for i in range(n_envs):
        mujoco.mj_resetData(model, data)
        data.qpos[:], data.qvel[:] = qpos[i], qvel[i]
        mujoco.mj_getState(model, data, initial[i], mujoco.mjtState.mjSTATE_FULLPHYSICS)
    bound = task.spec.action_bound
    control = np.repeat(rng.uniform(-bound, bound, (n_envs, n_steps, model.nu)), task.frame_skip, axis=1)
    nthread = os.cpu_count() or 1
    with mujoco.rollout.Rollout(nthread=nthread) as pool:
        datas = [mujoco.MjData(model) for _ in range(nthread)]
        pool.rollout(model, datas, initial, control[:, : task.frame_skip])  # warm-up
        start = time.perf_counter()
        pool.rollout(model, datas, initial, control)
        return n_envs * n_steps / (time.perf_counter() - start)


def engine_rows(name: str, engine: str, populations: tuple[int, ...], cfg: Config, rng,
                nthread: int | None = None, physics: str = "gymnasium") -> list[dict]:
    """One row per P: median env-steps/s over ``cfg.repeats`` rollouts after a (timed) first call
    (``nthread``: the cpu engine's threads, default all cores)."""
    env = envs.make(name, engine, physics=physics, **({} if nthread is None else {"nthread": nthread}))
    spec = env.spec
    rows = []
    for P, fraction in ((P, f) for P in populations for f in cfg.slot_fractions):
        params = policy.random_params(rng, P, spec.obs_dim, spec.act_dim)
        mean, std = np.zeros(spec.obs_dim), np.ones(spec.obs_dim)
        slots = max(1, round(P * fraction))
        start = time.perf_counter()
        envs.rollout(env, params, mean, std, jax.random.key(cfg.seed), slots=slots)  # compiles (mjx), builds pools
        first = time.perf_counter() - start
        runs = []
        for r in range(cfg.repeats):
            start = time.perf_counter()
            result = envs.rollout(env, params, mean, std, jax.random.key(cfg.seed + 1 + r), slots=slots)
            runs.append((time.perf_counter() - start, result.obs_count, getattr(env, "last_timing", {}),
                         dict(env.last_slots)))
        seconds, steps, timing, used = sorted(runs, key=lambda run: run[0] / run[1])[len(runs) // 2]
        label = f"mjx-{env.dtype}" if engine == "mjx" else engine
        row = {"task": name, "engine": label, "physics": physics, "P": P,
               "env_steps_per_s": steps / seconds, "env_steps": steps, "slots": used["slots"],
               "useful_share": used["useful_steps"] / used["slot_steps"]}
        if "stages" in used:
            row["stages"] = used["stages"]
        if engine == "cpu":
            row.update(policy_share=timing["policy_share"], physics_share=timing["physics_share"],
                       threads=rollout_threads(P, env.nthread))  # what the rollout used, not what it was allowed
        elif engine == "mjx":
            row["compile_s"] = max(first - seconds, 0.0)
        rows.append(row)
    return rows


def warp_installed() -> bool:
    return importlib.util.find_spec("mujoco_warp") is not None


def main(cfg: Config) -> dict:
    for name in cfg.tasks:
        envs.make(name, "cpu")  # fail fast on a bad name
    if any(p <= 0 for p in (*cfg.populations, *cfg.mjx_populations, *cfg.warp_populations)) or cfg.repeats <= 0:
        raise SystemExit(f"populations and repeats must be positive, got {cfg.populations}, "
                         f"{cfg.mjx_populations}, {cfg.warp_populations}, {cfg.repeats}")
    for physics in cfg.physics:
        check_profile(physics)
    if cfg.solver_states < 0:
        raise SystemExit(f"--solver-states must be >= 0, got {cfg.solver_states}")
    if not cfg.slot_fractions or any(not 0 < f <= 1 for f in cfg.slot_fractions):
        raise SystemExit(f"--slot-fractions must be in (0, 1], got {cfg.slot_fractions}")
    rng = np.random.default_rng(cfg.seed)
    rows, solver = [], []
    for name in cfg.tasks:
        gym_sps = gym_loop(name, cfg.gym_steps, rng)
        rows.append({"task": name, "engine": "gym-loop", "P": 1, "env_steps_per_s": gym_sps})
        bound = None
        if isinstance(TASKS[name], MujocoTask):
            bound = physics_bound(name, cfg.bound_envs, cfg.bound_steps, rng)
            rows.append({"task": name, "engine": "bound", "P": cfg.bound_envs, "env_steps_per_s": bound})
        task_rows = [row for physics in cfg.physics for row in (
            engine_rows(name, "cpu", cfg.populations, cfg, rng, physics=physics)
            + engine_rows(name, "mjx", cfg.mjx_populations, cfg, rng, physics=physics)
            + engine_rows(name, "warp", cfg.warp_populations if warp_installed() else (), cfg, rng, physics=physics))]
        for row in task_rows:
            if row["engine"] == "cpu":
                row["vs_gym"] = row["env_steps_per_s"] / gym_sps
                row["vs_bound"] = None if bound is None else row["env_steps_per_s"] / bound
        rows += task_rows
        print(table([r for r in rows if r["task"] == name], COLUMNS), flush=True)
        if cfg.solver_states and isinstance(TASKS[name], MujocoTask):
            solver += [solver_row(name, physics, cfg.solver_states, cfg.seed) for physics in cfg.physics]
            print(table([r for r in solver if r["task"] == name], SOLVER_COLUMNS), flush=True)
    payload = {"benchmark": "throughput", "machine": machine(), "config": vars(cfg), "rows": rows, "solver": solver}
    path = write_json(cfg.out or f"throughput_{device_tag()}.json", payload, RESULTS / "throughput")
    print(f"\nall tasks\n{table(rows, COLUMNS)}\nwrote {path}")
    return payload


SOLVER_COLUMNS = ["task", "physics", "states", "iterations_cap", "c_iterations_mean", "c_iterations_max",
                  "mjx_iterations_mean", "mjx_iterations_max", "c_linesearch_evals_per_iteration",
                  "mjx_linesearch_trips_per_iteration"]
COLUMNS = ["task", "engine", "physics", "P", "slots", "useful_share", "env_steps_per_s", "vs_bound", "vs_gym", "policy_share",
           "physics_share", "compile_s"]

if __name__ == "__main__":
    runtime.configure()
    main(tyro.cli(Config))
