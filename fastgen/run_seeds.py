"""``python -m fastgen.run --env mountain_car --seeds 0-19``: K PoliGen seeds in one process, one batch.

Seed s's run is ``<out>/seed<s>/``, laid out exactly as a single-seed run with ``--seed s --out
<out>/seed<s>`` (config.json, metrics.jsonl, TensorBoard, checkpoint.pt, snapshots/, summary.json),
so every tool reads it alike and ``fastgen.run --seed s --out <out>/seed<s> --resume`` could carry
it on alone. Every seed follows its own schedule (evaluations at its own env steps, stops at its
own budget or time limit); the computation is shared (``fastgen.trainer.iteration_batch``). One progress bar
shows all seeds; ``--resume`` continues every seed from its last checkpoint.
"""

import contextlib
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from fastgen import poligen, snapshots, trainer
from fastgen.config import Config, parse_seeds
from fastgen.report import SeedsBar
from fastgen.rundir import check_run_dir, log_evaluation, open_run_dir, out_of_time, run_dir_lock, write_summary
from fastgen.stop import never


def seed_configs(cfg: Config) -> list[Config]:
    """One single-seed config per seed of ``cfg.seeds``, each with its own run directory."""
    root = Path(cfg.out if cfg.out is not None else f"runs/{cfg.env}-seeds{cfg.seeds}")
    return [dataclasses.replace(cfg, seed=seed, seeds=None, out=str(root / f"seed{seed}"))
            for seed in parse_seeds(cfg.seeds)]


def train_seeds(cfg: Config, stop: Callable[[], bool] = never) -> dict:
    """Train (or resume) every seed of ``cfg.seeds`` to its budget, or until ``stop()`` says so after an
    iteration (then checkpoint every seed); -> ``{"seeds": [summary, ...]}``."""
    cfg.validate()
    return {"seeds": train_batch(seed_configs(cfg), stop)}


def train_batch(cfgs: list[Config], stop: Callable[[], bool] = never) -> list[dict]:
    """Train single-seed PoliGen configs, equal but for ``seed``, ``out`` and ``resume``, as one batch
    (each resumed from its checkpoint where its ``resume`` says so) until done or ``stop()``; -> their
    summaries."""
    common = {json.dumps(dataclasses.asdict(dataclasses.replace(c, seed=0, out=None, resume=False))) for c in cfgs}
    if len(common) > 1:
        raise ValueError("a batch of seeds needs configs that differ only in seed, out and resume")
    for c in cfgs:
        c.validate()
        check_run_dir(c)
    states = trainer.init_batch(cfgs)
    with contextlib.ExitStack() as locks:
        for c in cfgs:
            locks.enter_context(run_dir_lock(Path(c.run_dir)))
        for state in states:
            if state.cfg.resume:
                poligen.load(state, Path(state.cfg.run_dir))
        return _train_batch(states, stop)


def _train_batch(states: list[trainer.TrainState], stop: Callable[[], bool]) -> list[dict]:
    cfgs = [s.cfg for s in states]
    reporters = [open_run_dir(s, progress=False) for s in states]
    bar = SeedsBar(Path(cfgs[0].run_dir).parent.name, reporters, [c.budget for c in cfgs],
                   [s.env_steps for s in states])
    next_eval = [0] * len(states)
    try:
        _snapshot(states)
        _evaluate([s for s in states if s.evaluations == 0], reporters, next_eval)
        next_eval = [(s.env_steps // s.cfg.eval_every + 1) * s.cfg.eval_every for s in states]
        while (active := [s for s in states if s.env_steps < s.cfg.budget and not out_of_time(s)]) and not stop():
            metrics = trainer.iteration_batch(active, progress=bar.updating)
            for s, m in zip(active, metrics):
                reporters[s.slot].iteration(s.env_steps, m)
            bar.update([s.env_steps for s in states], sum(m["perf/sps"] for m in metrics),
                       [s.best_return for s in states if s.best_return is not None], metrics[0])
            _snapshot(active)
            _evaluate([s for s in active if s.env_steps >= next_eval[s.slot] or s.env_steps >= s.cfg.budget
                       or out_of_time(s)], reporters, next_eval)
        if stop():
            for state in states:
                poligen.save(state, Path(state.cfg.run_dir))
    finally:
        bar.close()
        for reporter in reporters:
            reporter.close()
    return [write_summary(s) for s in states]


def _snapshot(states: list[trainer.TrainState]) -> None:
    for state in states:
        snapshots.take_due(state, Path(state.cfg.run_dir))


def _evaluate(states: list[trainer.TrainState], reporters, next_eval: list[int]) -> None:
    """Evaluate ``states`` together, log each, checkpoint each (with its summary)."""
    if not states:
        return
    for state, metrics in zip(states, trainer.evaluate_batch(states)):
        log_evaluation(state, metrics, reporters[state.slot])
        poligen.save(state, Path(state.cfg.run_dir))
        write_summary(state)
        next_eval[state.slot] = (state.env_steps // state.cfg.eval_every + 1) * state.cfg.eval_every
