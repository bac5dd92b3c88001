"""A finished (or interrupted) PoliGen run read back for analysis: ``sweep``, ``atlas`` and ``export``.

Only what those need is loaded: the config, the generator (final, or a snapshot), the evaluator,
the observation statistics, and the buffer's (params, returns) chunks one at a time, memory-mapped.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from envs.spec import EnvSpec
from envs.tasks import TASKS
from fastgen import config as config_module
from fastgen import policy
from fastgen.config import Config
from fastgen.normalizer import ObsStats
from fastgen.poligen import settings as poligen_settings
from fastgen.poligen import snapshots
from fastgen.poligen.evaluator import Evaluator
from fastgen.poligen.generator import Generator


@dataclass
class Trained:
    cfg: Config
    spec: EnvSpec
    generator: Generator
    evaluator: Evaluator
    obs_mean: np.ndarray  # [obs_dim], the statistics the generator's policies act with
    obs_std: np.ndarray
    env_steps: int
    best_return: float | None

    def policies(self, commands: np.ndarray) -> torch.Tensor:
        """``G(c)`` without noise for ``commands [N]`` -> ``[N, D]``."""
        with torch.no_grad():
            return self.generator(torch.as_tensor(commands, dtype=torch.float32))

    def with_snapshot(self, snapshot: dict) -> "Trained":
        """The same run with the generator and statistics of one ``fastgen.poligen.snapshots`` snapshot."""
        generator = _generator(self.cfg, self.spec)
        generator.load_state_dict(snapshot["generator"])
        stats = ObsStats.from_state_dict(snapshot["obs_stats"])
        return Trained(self.cfg, self.spec, generator, self.evaluator, stats.mean, stats.std, snapshot["env_steps"],
                       snapshot["best_return"])


def load_config(run_dir: Path) -> Config:
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise ValueError(f"{run_dir} is not a run directory: no config.json")
    return config_module.from_dict(json.loads(path.read_text()))


def load(run_dir: Path, snapshot: int | None = None) -> Trained:
    """The run's last checkpoint on the CPU; ``snapshot=k``: generator and statistics of snapshot k instead."""
    run_dir = Path(run_dir)
    cfg = load_config(run_dir)
    if cfg.algo != "poligen":
        raise ValueError(f"{run_dir} is a {cfg.algo} run; only poligen runs have a generator")
    if not (run_dir / "checkpoint.pt").exists():
        raise ValueError(f"{run_dir} has no checkpoint.pt yet")
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=False, map_location="cpu", mmap=True)
    spec = TASKS[cfg.env].spec
    generator, evaluator = _generator(cfg, spec), Evaluator(spec, cfg.evaluator.probes)
    generator.load_state_dict(saved.get("generator_average", saved["generator"]))  # the one evaluations used
    evaluator.load_state_dict(saved["evaluator"])
    generator.eval(), evaluator.eval()
    stats = ObsStats.from_state_dict(saved["obs_stats"])
    trained = Trained(cfg, spec, generator, evaluator, stats.mean, stats.std, saved["counters"]["env_steps"],
                      saved["counters"]["best_return"])
    if snapshot is None:
        return trained
    kept = {s["k"]: s for s in snapshots.load_all(run_dir)}
    if snapshot not in kept:
        raise ValueError(f"--snapshot {snapshot}: {run_dir} has snapshots {sorted(kept) or 'none'}")
    return trained.with_snapshot(kept[snapshot])


def buffer_chunks(run_dir: Path):
    """Yield ``(params [n, D], returns [n])`` of the replay buffer at the last checkpoint, oldest first, as policies
    for the checkpoint's observation statistics (under --buffer.keep-behaviour the buffer keeps them for raw
    observations)."""
    run_dir = Path(run_dir)
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=False, map_location="cpu", mmap=True)
    stored, capacity = saved["buffer"]["stored"], saved["config"]["buffer"]["size"]
    oldest = stored - min(stored, capacity) + 1
    cfg = load_config(run_dir)
    stats = ObsStats.from_state_dict(saved["obs_stats"])
    for first, last in saved["buffer"]["chunks"]:
        chunk = torch.load(run_dir / "buffer" / f"{first}-{last}.pt", weights_only=False, mmap=True)
        skip = max(0, oldest - first)
        params = chunk["params"][skip:]
        if poligen_settings.keep_behaviour(cfg):
            params = policy.reframe(params, None, (stats.mean, stats.std), TASKS[cfg.env].spec)
        yield params, chunk["returns"][skip:]


def _generator(cfg: Config, spec: EnvSpec) -> Generator:
    g = cfg.generator
    return Generator(spec, g.noise_std, g.output_scaling, g.command_width, poligen_settings.command_input(cfg),
                     poligen_settings.noise_layout(cfg)).eval()
