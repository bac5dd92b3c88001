"""Scaling with the number of seeds K trained together and the population P: env-steps/s and updates/s.

    python -m bench.scale                               # hopper, this machine (CPU here; GPU when present)
    python -m bench.scale --seeds 1 4 16 --populations 1 8 64 --iteration-populations 1 8

Three measurements, each the median of ``--repeats`` timed calls after a warm-up:

- ``rollout``: one ``envs.rollout_groups`` call simulating the ``K x P`` policies of an iteration
  (K untrained generators' G(c) + noise, each seed's own key and normalisation), one episode each:
  env-steps/s, and the rollout's ``seconds`` per iteration.
- ``updates``: one batched evaluator update and one batched generator update of K seeds
  (``fastgen.poligen.learner``, batch 16 from each seed's buffer): seconds per call, and seed-updates/s
  (K updates per call); K = 1 is a single-seed run's update.
- ``iteration``: a whole ``trainer.iteration_batch`` (rollout, bookkeeping, 5P evaluator and 20P
  generator updates per seed): env-steps/s of training and iterations/s.

Writes ``bench/results/throughput/scale_<device>.json`` (machine, settings, every row) and prints the tables.

``--protocol-tasks mountain_car --protocol-seeds 20`` instead trains the Table 1 PoliGen protocol
for those tasks at their full budgets, all seeds of a task as one ``--seeds`` batch in
``runs/scale/<task>-seeds0-<K-1>`` (read back when done, resumed when interrupted), and reports
the batch's wall clock and the final returns beside the paper's, in
``bench/results/throughput/scale_protocol_<device>.json``.
"""

import dataclasses
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
import torch
import tyro

from bench.common import RESULTS, device_tag, machine, table, write_json
from bench.learning import PAPER, needs_training
from fastgen import runtime
from fastgen.config import Config
from fastgen.engines import resolve_engine
from fastgen.poligen import learner, trainer
from fastgen.run import seed_configs, train_seeds
from fastgen.runs.rundir import final_return, read_metrics


@dataclass
class Settings:
    env: str = "hopper"
    """Task."""
    seeds: tuple[int, ...] = (1, 2, 4, 8, 16)
    """K values: seeds trained together."""
    populations: tuple[int, ...] = (1, 8, 64)
    """P values for the rollout rows."""
    iteration_populations: tuple[int, ...] = (1,)
    """P values for the whole-iteration rows (their updates grow with P: 25 P per seed)."""
    iteration_seeds: tuple[int, ...] = (1, 4)
    """K values for the whole-iteration rows."""
    engine: str = "auto"
    """Simulation engine (auto: mjx on a GPU, else cpu)."""
    device: str = "auto"
    """Torch device (auto: cuda if available)."""
    repeats: int = 5
    """Timed calls per row (median reported)."""
    protocol_tasks: tuple[str, ...] = ()
    """Train the Table 1 PoliGen protocol on these tasks instead of the speed rows."""
    protocol_seeds: int = 20
    """Seeds per protocol task (the paper: 20), trained as one batch."""


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up: compilation, thread pools, allocator
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _batch(settings: Settings, K: int, P: int) -> list[trainer.TrainState]:
    cfgs = [Config(env=settings.env, seed=s, num_envs=P, engine=settings.engine, device=settings.device)
            for s in range(K)]
    return trainer.init_batch(cfgs)


def rollout_rows(settings: Settings) -> list[dict]:
    rows = []
    for K in settings.seeds:
        for P in settings.populations:
            states = _batch(settings, K, P)
            device = states[0].device
            mean = learner.generate(states[0].learner, list(range(K)), torch.zeros(K, P, device=device))
            theta = mean + 0.1 * torch.randn(mean.shape, device=device)
            keys = [jax.random.key(s) for s in range(K)]
            steps = []

            def call():
                results = trainer._simulate(states, theta, keys)
                steps.append(sum(r.obs_count for r in results))

            seconds = _timed(call, settings.repeats, device)
            rows.append({"kind": "rollout", "K": K, "P": P, "policies": K * P, "seconds": seconds,
                         "env_steps": int(np.median(steps)), "env_steps_per_s": np.median(steps) / seconds})
            print(table(rows[-1:], ["kind", "K", "P", "policies", "seconds", "env_steps_per_s"]), flush=True)
    return rows


def update_rows(settings: Settings) -> list[dict]:
    rows = []
    for K in settings.seeds:
        states = _batch(settings, K, 1)
        for state in states:  # a buffer of 256 random policies to sample from
            state.buffer.add(0.1 * torch.randn(256, state.buffer.params.shape[1], device=state.device),
                             100 * torch.randn(256, device=state.device))
        device, shared, slots = states[0].device, states[0].learner, list(range(K))
        evaluator = _timed(lambda: learner.evaluator_step(shared, slots, *trainer._samples(states)), settings.repeats,
                           device)
        generator = _timed(lambda: learner.generator_step(shared, slots, trainer._commands(states)),
                           settings.repeats, device)
        rows.append({"kind": "updates", "K": K, "evaluator_s": evaluator, "generator_s": generator,
                     "evaluator_updates_per_s": K / evaluator, "generator_updates_per_s": K / generator})
        print(table(rows[-1:], ["kind", "K", "evaluator_s", "generator_s", "evaluator_updates_per_s",
                                "generator_updates_per_s"]), flush=True)
    return rows


def iteration_rows(settings: Settings) -> list[dict]:
    rows = []
    for K in settings.iteration_seeds:
        for P in settings.iteration_populations:
            states = _batch(settings, K, P)
            device = states[0].device
            before = []

            def call():
                before.append(sum(s.env_steps for s in states))
                trainer.iteration_batch(states)
                before[-1] = sum(s.env_steps for s in states) - before[-1]

            seconds = _timed(call, settings.repeats, device)
            steps = float(np.median(before))
            rows.append({"kind": "iteration", "K": K, "P": P, "seconds": seconds, "env_steps": steps,
                         "env_steps_per_s": steps / seconds, "iterations_per_s": 1 / seconds,
                         "seed_iterations_per_s": K / seconds})
            print(table(rows[-1:], ["kind", "K", "P", "seconds", "env_steps_per_s", "seed_iterations_per_s"]), flush=True)
    return rows


def protocol_rows(settings: Settings) -> list[dict]:
    rows = []
    for task in settings.protocol_tasks:
        K = settings.protocol_seeds
        cfg = Config(env=task, seeds=f"0-{K - 1}", engine=settings.engine, device=settings.device,
                     out=f"runs/scale/{task}-seeds0-{K - 1}")
        configs = seed_configs(cfg)
        dirs = [Path(c.out) for c in configs]
        if any(needs_training(c) for c in configs):
            train_seeds(dataclasses.replace(cfg, resume=(dirs[0] / "checkpoint.pt").exists()))
        summaries = [json.loads((d / "summary.json").read_text()) for d in dirs]
        finals = np.array([final_return(read_metrics(d), cfg.budget, cfg.eval_every)[0] for d in dirs])
        rows.append({"kind": "protocol", "task": task, "K": K, "budget": cfg.budget, "P": cfg.population,
                     "batch_wall_s": max(s["wall_s"] for s in summaries), "final_mean": float(finals.mean()),
                     "final_std": float(finals.std()), "paper": PAPER[task]["poligen"],
                     "env_steps": sum(s["env_steps"] for s in summaries),
                     "finished": f"{sum(s['finished'] for s in summaries)}/{K}"})
        print(table(rows[-1:], ["task", "K", "budget", "batch_wall_s", "final_mean", "final_std", "paper",
                                "finished"]), flush=True)
    return rows


def main(settings: Settings) -> dict:
    torch.manual_seed(0)
    engine = resolve_engine(settings.engine, max(settings.seeds) * max(settings.populations))
    device = trainer.resolve_device(settings.device)
    info = {**machine(), "engine": engine, "torch_device": str(device), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if device.type == "cuda" else None}
    if settings.protocol_tasks:
        rows = protocol_rows(settings)
        payload = {"benchmark": "scale_protocol", "machine": info, "settings": dataclasses.asdict(settings),
                   "rows": rows}
        print(f"wrote {write_json(f'scale_protocol_{device_tag()}.json', payload, RESULTS / 'throughput')}")
        return payload
    print(f"{settings.env}: engine {engine}, torch device {device}, {torch.get_num_threads()} torch threads", flush=True)
    rows = rollout_rows(settings) + update_rows(settings) + iteration_rows(settings)
    print()
    print(table([r for r in rows if r["kind"] == "rollout"], ["K", "P", "policies", "seconds", "env_steps_per_s"]))
    print(table([r for r in rows if r["kind"] == "updates"],
                ["K", "evaluator_s", "generator_s", "evaluator_updates_per_s", "generator_updates_per_s"]))
    print(table([r for r in rows if r["kind"] == "iteration"],
                ["K", "P", "seconds", "env_steps_per_s", "seed_iterations_per_s"]))
    payload = {"benchmark": "scale", "machine": info, "settings": dataclasses.asdict(settings), "rows": rows}
    path = write_json(f"scale_{device_tag()}.json", payload, RESULTS / "throughput")
    print(f"wrote {path}")
    return payload


if __name__ == "__main__":
    runtime.configure()
    main(tyro.cli(Settings))
