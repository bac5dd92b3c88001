"""Every GPU measurement in one process (one device lease): ``python -m bench.gpu``.

    XLA_PYTHON_CLIENT_PREALLOCATE=false python -m bench.gpu --deadline-s 470   # fits a 15-minute lease

On a lease the missing packages travel as wheels: see ``bench/results/gpu/gpu_nvidia-h200.md``.

Five parts (``--parts`` picks some), each a list of rows in one JSON (``bench/results/gpu/gpu_<device>.json``)
that names the device, the CPU beside it and the library versions:

- ``throughput``: env-steps/s of ``envs.rollout`` on ``mjx`` for hopper and swimmer at P = 64 ...
  16384 and on ``warp`` (MuJoCo Warp on the device, the ``[warp]`` extra) at P = 1024 ... 16384, under each
  physics profile (``--physics``) and slot fraction (``--slot-fractions``), beside the ``cpu`` engine on all of
  the machine's cores and on fewer (``--cpu-threads``; ``bench.throughput.engine_rows``), compile time apart;
- ``updates``: one evaluator and one generator update of K seeds (K = 1, 8, 20) on the torch device,
  mapped over seeds three ways: ``loop`` (one seed after another), ``vmap`` (one batched computation,
  the CUDA default) and ``graphed`` (the vmapped update captured once as a CUDA graph and replayed:
  what a one-launch update would cost; CUDA only, and checked against the eager update's result);
- ``protocol``: a slice of the hopper Table 1 protocol (K seeds, P = 1, the paper's schedule) run for
  ``--protocol-seconds`` as one ``--seeds`` batch, with the full 3M-step protocol's wall clock
  extrapolated two ways that bound it (episodes as short as in the slice; every episode 1000 steps);
- ``step``: one jitted mjx env step of B environments (no policy) per task at each B of ``--step-batches``,
  then under the ``fast`` physics profile and with JAX's default matmul precision: whether the step is bound by
  launches and loops or by arithmetic, and what the solver's loops and the precision cost;
- ``parity``: ``mjx`` in float32 on this device against C MuJoCo (the ``cpu`` engine) from the same
  reset states: full episodes of random MLP policies, relative return error and equal lengths.

The parts run in the order updates, parity, step, throughput, protocol, and the JSON is rewritten after each
(``complete`` false until the last), so a lease that ends early still returns what was measured. A part
that raises is recorded with its error and the next part runs. ``--deadline-s`` bounds the whole run:
throughput skips the (task, P) rows it has no time left for once only ``--protocol-seconds`` remain
(listed in ``skipped``; rows run in the order of ``--mjx-populations``, largest first, and a row is
skipped when its engine's previous row took longer than the time left), and the protocol slice shrinks
to the time that is left.

``--toy`` shrinks every part to seconds (the CPU test runs it so the script cannot rot). Without a
GPU it runs on the CPU (``mjx`` on XLA:CPU) and says so in the JSON; such numbers are not GPU numbers.
"""

import dataclasses
import json
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import torch
import tyro

import envs
from bench.common import RESULTS, machine, table, write_json
from bench.throughput import Config as ThroughputConfig
from bench.throughput import engine_rows, warp_installed
from bench.update_speed import median_time
from envs import mjx_env
from envs.policy import random_params
from envs.tasks import TASKS
from envs.tasks.base import MujocoTask
from fastgen import runtime
from fastgen.config import Config
from fastgen.engines import resolve_engine
from fastgen.poligen import learner, trainer
from fastgen.run import seed_configs, train_seeds


@dataclass
class Settings:
    tasks: tuple[str, ...] = ("hopper", "swimmer")
    """Tasks of the throughput part."""
    parity_tasks: tuple[str, ...] = ("hopper", "swimmer")
    """Tasks of the parity part."""
    mjx_populations: tuple[int, ...] = (16384, 4096, 1024, 256, 64)
    """P values for mjx throughput, largest first (what a deadline cuts is the small ones)."""
    warp_populations: tuple[int, ...] = (16384, 4096, 1024)
    """P values for warp throughput, largest first (without the [warp] extra: one skipped row)."""
    slot_fractions: tuple[float, ...] = (1.0, 0.25)
    """mjx and warp throughput rows per P: slots as these fractions of P (1: one per episode; fewer: refilled as
    episodes end, bench.throughput's useful_share)."""
    physics: tuple[str, ...] = ("fast", "gymnasium")
    """envs.physics profiles of the mjx and warp throughput rows (fast first: the rows a deadline keeps)."""
    cpu_populations: tuple[int, ...] = (256, 64)
    """P values for the cpu engine beside it."""
    step_batches: tuple[int, ...] = (1024, 16384)
    """B values of the mjx step part (one jitted env step of B environments, no policy)."""
    step_repeats: int = 20
    """Env steps timed per row of the step part."""
    cpu_threads: tuple[int, ...] = (0, 4, 1)
    """Threads of the cpu engine rows (0: every core): where threads waiting on each other cost more than
    they add, fewer run faster."""
    update_env: str = "hopper"
    """Task whose networks the update rows use."""
    update_seeds: tuple[int, ...] = (1, 8, 20)
    """K values of the update rows."""
    repeats: int = 10
    """Timed repeats per throughput and update row (median reported)."""
    protocol_env: str = "hopper"
    """Task of the protocol slice."""
    protocol_seeds: int = 20
    """K seeds of the protocol slice."""
    protocol_seconds: float = 170.0
    """Training wall clock of the protocol slice."""
    parity_policies: int = 16
    """Random MLP policies per task in the parity part."""
    runs_dir: str = "runs/gpu"
    """Where the protocol slice's run directories go (deleted first)."""
    out: str = ""
    """JSON file name (default: gpu_<device>.json)."""
    results_dir: str = str(RESULTS / "gpu")
    """Directory of the JSON."""
    deadline_s: float = 0.0
    """Seconds after the start by which every part must have ended (0: no deadline)."""
    protocol_min_seconds: float = 60.0
    """The protocol slice is skipped if less than this is left before the deadline."""
    parts: tuple[str, ...] = ("updates", "parity", "step", "throughput", "protocol")
    """Parts to run, in this order (a lease that measured some already can leave them out)."""
    toy: bool = False
    """Tiny sizes everywhere (a smoke test of this script, seconds on a CPU)."""

    def toy_sized(self) -> "Settings":
        return dataclasses.replace(self, tasks=("mountain_car",), parity_tasks=("mountain_car",),
                                   mjx_populations=(4,), warp_populations=(4,), slot_fractions=(1.0,), physics=("fast",),
                                   cpu_populations=(4,),
                                   cpu_threads=(0, 1),
                                   step_batches=(2, 4), step_repeats=2,
                                   update_env="inverted_pendulum", update_seeds=(1, 2), repeats=2,
                                   protocol_env="mountain_car", protocol_seeds=2, protocol_seconds=1.0, protocol_min_seconds=0.5,
                                   parity_policies=2)


def throughput_rows(settings: Settings, time_left) -> list[dict]:
    """Rows of every (engine, P, task) in the order given, each run only if the time left exceeds what the
    engine's previous row took (a smaller P costs no more, so list the largest first)."""
    cfg = ThroughputConfig(repeats=max(1, min(settings.repeats, 3)))
    cases = [(task, "cpu", P, t or None, "gymnasium", 1.0) for P in settings.cpu_populations
             for t in settings.cpu_threads for task in settings.tasks]
    batched = [("mjx", settings.mjx_populations)] + ([("warp", settings.warp_populations)] if warp_installed() else [])
    for engine, populations in batched:
        cases += [(task, engine, P, None, physics, f) for P in populations for physics in settings.physics
                  for f in settings.slot_fractions for task in settings.tasks]
    rows, last_cost = [], {}
    if settings.warp_populations and not warp_installed():
        rows.append({"part": "throughput", "engine": "warp", "skipped": "the [warp] extra is not installed"})
    for task, engine, P, threads, physics, *fraction in cases:
        if time_left() <= last_cost.get(engine, 0.0):
            rows.append({"part": "throughput", "task": task, "engine": engine, "physics": physics, "P": P,
                         "threads": threads, "skipped": "deadline"})
            continue
        start = time.perf_counter()
        (row,) = engine_rows(task, engine, (P,), dataclasses.replace(cfg, slot_fractions=tuple(fraction)),
                             np.random.default_rng(P), nthread=threads, physics=physics)
        last_cost[engine] = time.perf_counter() - start
        rows.append({"part": "throughput", **row, "row_s": last_cost[engine]})
        print(table(rows[-1:], ["task", "engine", "physics", "P", "slots", "useful_share", "threads", "env_steps_per_s",
                                "compile_s",
                                      "row_s"]), flush=True)
    return rows


def step_rows(settings: Settings, time_left) -> list[dict]:
    """ms per jitted mjx env step of B environments (``env.step``: frame_skip substeps, observation, reward; a
    fixed action, no policy) for each task: at each B of ``step_batches`` as the engine runs it, then at the
    first B under ``--physics fast`` (envs.physics) and with JAX's default matmul precision instead of the
    engine's full float32. If the time does not grow with B the step is bound by launches and loop trips,
    not arithmetic; the two variants say how much the solver's loops and the precision cost. A row is
    skipped when the previous one took longer than the time left."""
    rows, last = [], 0.0
    for task in settings.tasks:
        first_B = settings.step_batches[0]
        cases = [(B, "as the engine runs it") for B in settings.step_batches]
        if isinstance(TASKS[task], MujocoTask):
            cases.append((first_B, "physics fast (solver 4 / 8, ground contacts, no eulerdamp)"))
        cases.append((first_B, "default matmul precision"))
        for B, variant in cases:
            row = {"part": "step", "task": task, "B": B, "variant": variant}
            if time_left() <= last:
                rows.append({**row, "skipped": "deadline"})
                continue
            start = time.perf_counter()
            try:
                row.update(_time_env_step(task, B, variant, settings))
            except Exception as error:  # recorded: the next row may still run
                row["error"] = f"{type(error).__name__}: {error}"[:300]
            last = time.perf_counter() - start
            rows.append({**row, "row_s": last})
            print(table(rows[-1:], ["task", "B", "variant", "ms_per_env_step", "env_steps_per_s", "compile_s"]),
                  flush=True)
    return rows


def _time_env_step(task: str, B: int, variant: str, settings: Settings) -> dict:
    spec = TASKS[task]
    env = envs.make(task, "mjx", physics="fast" if variant.startswith("physics fast") else "gymnasium")
    state = env.reset(jax.random.key(0), B)
    action = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (B, env.spec.act_dim)), env.dtype) \
        * env.spec.action_bound
    saved = mjx_env.MATMUL_PRECISION
    if variant == "default matmul precision":  # read while the step is traced, i.e. in its first call
        mjx_env.MATMUL_PRECISION = "default"
    try:
        start = time.perf_counter()
        jax.block_until_ready(env.step(state, action))
        compile_s = time.perf_counter() - start
    finally:
        mjx_env.MATMUL_PRECISION = saved
    start = time.perf_counter()
    for _ in range(settings.step_repeats):
        state = env.step(state, action)
    jax.block_until_ready(state)
    seconds = (time.perf_counter() - start) / settings.step_repeats
    return {"ms_per_env_step": seconds * 1e3, "env_steps_per_s": B / seconds, "compile_s": compile_s,
            "frame_skip": getattr(spec, "frame_skip", 1)}


def update_rows(settings: Settings, device: torch.device) -> list[dict]:
    rows = []
    for K in settings.update_seeds:
        states = trainer.init_batch([Config(env=settings.update_env, seed=s, num_envs=1, engine="cpu",
                                            device=str(device)) for s in range(K)])
        for state in states:  # a buffer of random policies to sample from
            state.buffer.add(0.05 * torch.randn(256, state.buffer.params.shape[1], device=device),
                             100 * torch.rand(256, device=device))
        shared, slots = states[0].learner, list(range(K))
        theta, returns = trainer._samples(states)
        commands = trainer._commands(states)
        modes = ["loop", "vmap"] + (["graphed"] if device.type == "cuda" else [])
        for mode in modes:
            row = {"part": "updates", "env": settings.update_env, "device": str(device), "K": K, "mode": mode}
            try:
                evaluator_s, generator_s = _time_updates(shared, slots, theta, returns, commands, mode,
                                                         settings.repeats, device)
                row.update(evaluator_ms=evaluator_s * 1e3, generator_ms=generator_s * 1e3,
                           evaluator_seed_updates_per_s=K / evaluator_s, generator_seed_updates_per_s=K / generator_s)
            except Exception as error:  # a capture that fails is a result, recorded, not a crash
                row["error"] = f"{type(error).__name__}: {error}"[:300]
            rows.append(row)
            print(table(rows[-1:], ["K", "mode", "evaluator_ms", "generator_ms", "generator_seed_updates_per_s",
                                    "error"]),
                  flush=True)
    return rows


def _time_updates(shared: learner.Learner, slots, theta, returns, commands, mode: str, repeats: int,
                  device: torch.device) -> tuple[float, float]:
    saved = learner.MAP_SEEDS
    learner.MAP_SEEDS = "loop" if mode == "loop" else "vmap"
    try:
        steps = [lambda: learner.evaluator_step(shared, slots, theta, returns),
                 lambda: learner.generator_step(shared, slots, commands)]
        if mode == "graphed":
            steps = [_graphed(step, shared) for step in steps]
        return tuple(median_time(step, repeats, device) for step in steps)
    finally:
        learner.MAP_SEEDS = saved


def _graphed(step, shared: learner.Learner):
    """``step`` captured as a CUDA graph (after warm-up on a side stream), checked against an eager step."""
    flats = [shared.generator_weights.flat, shared.evaluator_weights.flat, shared.generator_opt.exp_avg,
             shared.generator_opt.exp_avg_sq, shared.evaluator_opt.exp_avg, shared.evaluator_opt.exp_avg_sq,
             shared.generator_opt.steps, shared.evaluator_opt.steps]
    start = [t.clone() for t in flats]
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(stream)
    for t, s in zip(flats, start):
        t.copy_(s)
    eager = step()
    after_eager = [t.clone() for t in flats]
    for t, s in zip(flats, start):
        t.copy_(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = step()
    for t, s in zip(flats, start):
        t.copy_(s)
    graph.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(captured, eager, rtol=1e-4, atol=1e-6)
    for t, e in zip(flats, after_eager):
        torch.testing.assert_close(t, e, rtol=1e-4, atol=1e-6)
    return graph.replay


def protocol_rows(settings: Settings, device: torch.device, time_left) -> list[dict]:
    seconds = min(settings.protocol_seconds, time_left())
    if seconds < settings.protocol_min_seconds:
        return [{"part": "protocol", "env": settings.protocol_env, "K": settings.protocol_seeds,
                 "skipped": f"{seconds:.0f} s left before the deadline"}]
    root = Path(settings.runs_dir) / f"{settings.protocol_env}-protocol"
    shutil.rmtree(root, ignore_errors=True)
    K = settings.protocol_seeds
    cfg = Config(env=settings.protocol_env, seeds=f"0-{K - 1}", num_envs=1, device=str(device),
                 time_limit=seconds, out=str(root))
    start = time.perf_counter()
    train_seeds(cfg)
    elapsed = time.perf_counter() - start
    summaries = [json.loads((Path(c.out) / "summary.json").read_text()) for c in seed_configs(cfg)]
    steps = sum(s["env_steps"] for s in summaries)
    episodes = sum(s["episodes"] for s in summaries)
    budget = cfg.budget
    per_episode_s = elapsed / max(episodes, 1)  # all K seeds' episodes advance together
    mean_length = steps / max(episodes, 1)
    row = {"part": "protocol", "env": cfg.env, "K": K, "P": 1, "engine": resolve_engine(cfg.engine, K),
           "device": str(device), "slice_wall_s": elapsed, "env_steps": steps, "episodes": episodes,
           "mean_episode_length": mean_length, "seconds_per_batch_episode": per_episode_s * K,
           "budget_per_seed": budget, "time_limit_s": seconds,
           "best_train_return_per_seed": [s["best_train_return"] for s in summaries],
           "last_eval_return_per_seed": [s["final_eval_return"] for s in summaries],
           # K seeds share every iteration: the protocol takes (episodes per seed) x (seconds per iteration)
           "full_protocol_s_if_episodes_stay_this_short": budget / mean_length * per_episode_s * K,
           "full_protocol_s_if_every_episode_1000_steps": budget / 1000 * per_episode_s * K}
    print(table([row], ["env", "K", "engine", "slice_wall_s", "env_steps", "mean_episode_length",
                        "full_protocol_s_if_every_episode_1000_steps"]), flush=True)
    return [row]


def parity_rows(settings: Settings) -> list[dict]:
    rows = []
    for task in settings.parity_tasks:
        cpu_env, mjx_env = envs.make(task, "cpu"), envs.make(task, "mjx")
        spec = cpu_env.spec
        params = random_params(np.random.default_rng(7), settings.parity_policies, spec.obs_dim, spec.act_dim)
        mean, std, key = np.zeros(spec.obs_dim), np.ones(spec.obs_dim), jax.random.key(11)
        cpu = envs.rollout(cpu_env, params, mean, std, key)
        mjx = envs.rollout(mjx_env, params, mean, std, key)
        same = cpu.lengths == mjx.lengths
        relative = np.abs(mjx.returns - cpu.returns) / np.maximum(np.abs(cpu.returns), 1e-9)
        rows.append({"part": "parity", "task": task, "mjx_dtype": str(mjx_env.dtype),
                     "policies": settings.parity_policies, "equal_lengths": float(same.mean()),
                     "median_relative_return_error": float(np.median(relative[same])) if same.any() else None,
                     "max_relative_return_error": float(relative[same].max()) if same.any() else None,
                     "return_correlation": float(np.corrcoef(cpu.returns, mjx.returns)[0, 1])
                     if settings.parity_policies > 1 else None})
        print(table(rows[-1:], ["task", "mjx_dtype", "equal_lengths", "median_relative_return_error",
                                "return_correlation"]), flush=True)
    return rows


def main(settings: Settings) -> dict:
    if settings.toy:
        settings = settings.toy_sized()
    device = trainer.resolve_device("auto")
    info = {**machine(), "torch": torch.__version__, "torch_device": str(device), "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if device.type == "cuda" else None,
            "jax_default_backend": jax.default_backend(), "toy": settings.toy}
    print(f"bench.gpu on {info['cuda'] or 'no GPU'} (JAX: {info['jax_default_backend']}, torch: {device})", flush=True)
    start = time.perf_counter()

    def time_left() -> float:
        return float("inf") if settings.deadline_s <= 0 else settings.deadline_s - (time.perf_counter() - start)

    tag = "cpu" if info["cuda"] is None else info["cuda"].lower().replace(" ", "-")
    name = settings.out or f"gpu_{tag}{'_toy' if settings.toy else ''}.json"
    payload = {"benchmark": "gpu", "machine": info, "settings": dataclasses.asdict(settings), "complete": False}
    reserve = settings.protocol_seconds if "protocol" in settings.parts else 0.0
    parts = {"updates": lambda: update_rows(settings, device), "parity": lambda: parity_rows(settings),
             "step": lambda: step_rows(settings, lambda: time_left() - reserve),
             "throughput": lambda: throughput_rows(settings, lambda: time_left() - reserve),
             "protocol": lambda: protocol_rows(settings, device, time_left)}
    unknown = set(settings.parts) - set(parts)
    if unknown:
        raise SystemExit(f"unknown part(s) {sorted(unknown)}; choose from {', '.join(parts)}")
    for part, run in ((part, parts[part]) for part in settings.parts):
        part_start = time.perf_counter()
        try:
            payload[part] = run()
        except Exception as error:  # one broken part must not cost the lease the others' numbers
            payload[part] = [{"part": part, "error": f"{type(error).__name__}: {error}"[:2000]}]
            traceback.print_exc()
        print(f"{part}: {time.perf_counter() - part_start:.0f} s", flush=True)
        payload["seconds"] = time.perf_counter() - start
        path = write_json(name, payload, Path(settings.results_dir))
    payload["complete"] = True
    path = write_json(name, payload, Path(settings.results_dir))
    print(f"wrote {path}")
    return payload


if __name__ == "__main__":
    runtime.configure()
    main(tyro.cli(Settings))
