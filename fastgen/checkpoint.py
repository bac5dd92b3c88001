"""Checkpoints: everything a run needs to continue, written atomically (temp file + rename).

``checkpoint.pt`` holds networks, optimisers, statistics, RNG states, counters and the config. The
replay buffer (up to 10k x ~70k floats) is not rewritten every time: each checkpoint adds one
chunk file under ``buffer/`` with the entries stored since the previous one, and ``checkpoint.pt``
lists the chunks that make up its buffer. Chunks are deleted only after a new ``checkpoint.pt`` no
longer needs them, so a run killed at any moment resumes from a consistent last checkpoint.
"""

import dataclasses
import os
from pathlib import Path

import jax
import numpy as np
import torch

from fastgen.config import RESUMABLE_CHANGES
from fastgen.normalizer import ObsStats
from fastgen.trainer import TrainState

FORMAT = 1


def atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save(state: TrainState, run_dir: Path) -> None:
    """Write the buffer chunk of new entries, then ``checkpoint.pt``, then drop unneeded chunks."""
    run_dir, chunk_dir = Path(run_dir), Path(run_dir) / "buffer"
    chunk_dir.mkdir(parents=True, exist_ok=True)
    previous = _chunks_on_record(run_dir)
    last_saved = previous[-1][1] if previous else 0
    buffer = state.buffer
    chunks = list(previous)
    if buffer.stored > last_saved:
        params, returns = buffer.entries(last_saved + 1)
        first = buffer.stored - params.shape[0] + 1
        atomic_save({"params": params.cpu(), "returns": returns.cpu()}, chunk_dir / f"{first}-{buffer.stored}.pt")
        chunks.append((first, buffer.stored))
    oldest_needed = buffer.stored - len(buffer) + 1
    chunks = [(a, b) for a, b in chunks if b >= oldest_needed]
    atomic_save({
        "format": FORMAT,
        "env": state.cfg.env,
        "config": dataclasses.asdict(state.cfg),
        "generator": state.generator.state_dict(),
        "evaluator": state.evaluator.state_dict(),
        "generator_opt": state.generator_opt.state_dict(),
        "evaluator_opt": state.evaluator_opt.state_dict(),
        "buffer": {"chunks": chunks, "stored": buffer.stored},
        "obs_stats": state.obs_stats.state_dict(),
        "rng": state.rng.get_state(),
        "key": np.asarray(jax.random.key_data(state.key)),
        "counters": {"env_steps": state.env_steps, "episodes": state.episodes, "iterations": state.iterations,
                     "evaluations": state.evaluations, "best_return": state.best_return, "wall_s": state.wall_s},
    }, run_dir / "checkpoint.pt")
    keep = {f"{a}-{b}.pt" for a, b in chunks}
    for path in chunk_dir.glob("*.pt"):
        if path.name not in keep:
            path.unlink()


def _chunks_on_record(run_dir: Path) -> list[tuple[int, int]]:
    path = run_dir / "checkpoint.pt"
    if not path.exists():
        return []
    return [tuple(c) for c in torch.load(path, weights_only=False)["buffer"]["chunks"]]


def check_compatible(saved: dict, cfg) -> None:
    """One-line ValueError if the checkpoint belongs to another env or an incompatible config."""
    if saved.get("format") != FORMAT:
        raise ValueError(f"checkpoint format {saved.get('format')!r} is not {FORMAT}")
    if saved["env"] != cfg.env:
        raise ValueError(f"checkpoint is from env {saved['env']!r}, not {cfg.env!r}")
    current = dataclasses.asdict(cfg)
    for name, value in saved["config"].items():
        if name not in RESUMABLE_CHANGES and current.get(name) != value:
            raise ValueError(f"--resume with a different {name}: checkpoint has {value!r}, this run {current.get(name)!r}")


def load(state: TrainState, run_dir: Path) -> TrainState:
    """Restore ``state`` (made by ``trainer.init`` with the same config) from ``run_dir``."""
    run_dir = Path(run_dir)
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=False, map_location=state.device)
    check_compatible(saved, state.cfg)
    state.generator.load_state_dict(saved["generator"])
    state.evaluator.load_state_dict(saved["evaluator"])
    state.generator_opt.load_state_dict(saved["generator_opt"])
    state.evaluator_opt.load_state_dict(saved["evaluator_opt"])
    chunks = [torch.load(run_dir / "buffer" / f"{a}-{b}.pt", weights_only=False) for a, b in saved["buffer"]["chunks"]]
    if chunks:
        params = torch.cat([c["params"] for c in chunks])
        returns = torch.cat([c["returns"] for c in chunks])
        keep = min(params.shape[0], state.buffer.capacity)
        state.buffer.restore(params[-keep:], returns[-keep:], saved["buffer"]["stored"])
    state.obs_stats = ObsStats.from_state_dict(saved["obs_stats"])
    state.rng.set_state(saved["rng"].cpu() if hasattr(saved["rng"], "cpu") else saved["rng"])
    state.key = jax.random.wrap_key_data(saved["key"])
    counters = saved["counters"]
    state.env_steps, state.episodes = counters["env_steps"], counters["episodes"]
    state.iterations, state.evaluations = counters["iterations"], counters["evaluations"]
    state.best_return, state.wall_s = counters["best_return"], counters["wall_s"]
    return state
