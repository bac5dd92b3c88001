"""How far the command steers G(c), against the exploration noise: ``python -m bench.command_sensitivity``.

    python -m bench.command_sensitivity --tasks hopper swimmer --seeds 0 1 2
    python -m bench.command_sensitivity --run-dirs runs/hopper-P1-seed0     # a trained generator

PoliGen learns by asking G for returns. If the commands it trains on hardly move G(c), while the
exploration noise (``theta = G(c) + eps``, 0.1 per weight) moves the policy far more, then the
generator cannot tell a good command from a bad one and the episodes' returns are the noise's.
Per generator this measures, for the lowest and highest command ``c_lo``, ``c_hi`` of a span:

- in weights: ``|G(c_hi) - G(c_lo)|``, ``|G(c_lo)|`` and ``|eps|`` (L2 norms of the flat ``[D]`` vectors);
- in actions, on N(0, 1) normalised observations (the policies' input space): the mean absolute
  action difference between ``G(c_hi)`` and ``G(c_lo)`` (the command's effect), between ``G(c_lo) + eps``
  and ``G(c_lo)`` (the noise's effect), and the mean ``|a|`` of ``G(c_lo)``.

Spans: for a fresh generator (``--tasks``, seeds ``--seeds``), the task's whole return range
(docs/paper.md; the generator's scaled input moves by exactly 1 over it) and the returns its own first
``--episodes`` noisy policies earn on the ``cpu`` engine (5th to 95th percentile; hopper's bonus-free,
as PoliGen trains on them), the commands such a generator starts out with. For a run directory, the
returns in its buffer, with its observation statistics. Writes ``bench/results/analysis/command_sensitivity.json``.
"""

from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import numpy as np
import torch
import tyro

import envs
from bench.common import RESULTS, machine, table, write_json
from fastgen import policy, runtime
from fastgen import trained as trained_run
from fastgen.poligen.generator import Generator
from fastgen.sweep import buffer_return_range


@dataclass
class Settings:
    tasks: tuple[str, ...] = ("hopper", "swimmer")
    """Tasks of the fresh generators."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds of the fresh generators (torch.manual_seed before G is built)."""
    run_dirs: tuple[str, ...] = ()
    """PoliGen run directories whose trained generator is measured as well."""
    episodes: int = 200
    """Noisy episodes of a fresh generator that give its first commands."""
    observations: int = 1000
    """N(0, 1) normalised observations the actions are compared on."""
    out: str = "command_sensitivity.json"
    """JSON file name in --results-dir."""
    results_dir: str = str(RESULTS / "analysis")

    def validate(self) -> None:
        for task in self.tasks:
            if task not in envs.TASK_NAMES:
                raise SystemExit(f"unknown task {task!r}; choose from {', '.join(envs.TASK_NAMES)}")
        if self.episodes < 2 or self.observations < 1:
            raise SystemExit(f"--episodes must be >= 2 and --observations >= 1, got {self.episodes}, {self.observations}")


def measure(generator: Generator, spec, low: float, high: float, noise_seed: int, observations: int) -> dict:
    """The weight and action gaps of one generator over the command span ``[low, high]``."""
    with torch.no_grad():
        # One command per call: rows of one batched GEMM may round differently, and equal commands must give
        # equal weights.
        theta = torch.cat([generator(torch.tensor([c], dtype=torch.float32)) for c in (low, high)])  # [2, D]
        noise = generator.noise_std * torch.randn(theta.shape[1], generator=torch.Generator().manual_seed(noise_seed))
        obs = torch.randn(observations, spec.obs_dim, generator=torch.Generator().manual_seed(noise_seed + 1))
        a_lo, a_hi, a_noisy = (policy.forward(t[None], obs, spec)[0] for t in (theta[0], theta[1], theta[0] + noise))
    command_gap, noise_gap = float((a_hi - a_lo).abs().mean()), float((a_noisy - a_lo).abs().mean())
    return {"c_lo": low, "c_hi": high, "scaled_input_gap": (high - low) * generator.command_scale,
            "weight_gap_command": float((theta[1] - theta[0]).norm()), "weight_norm": float(theta[0].norm()),
            "weight_gap_noise": float(noise.norm()), "action_gap_command": command_gap,
            "action_gap_noise": noise_gap, "action_mean_abs": float(a_lo.abs().mean()),
            "noise_over_command": noise_gap / max(command_gap, 1e-12)}


def first_returns(generator: Generator, spec, env, seed: int, episodes: int) -> tuple[float, float]:
    """5th and 95th percentile of the training returns of ``episodes`` noisy policies ``G(0) + eps``."""
    with torch.no_grad():
        params = generator.sample(torch.Generator().manual_seed(seed), torch.zeros(episodes))
    result = envs.rollout(env, params.numpy(), np.zeros(spec.obs_dim), np.ones(spec.obs_dim), jax.random.key(seed))
    returns = result.returns_no_bonus if spec.has_survival_bonus else result.returns
    return float(np.percentile(returns, 5)), float(np.percentile(returns, 95))


def fresh_rows(task: str, seed: int, settings: Settings) -> list[dict]:
    env = envs.make(task, "cpu")
    spec = env.spec
    torch.manual_seed(seed)
    generator = Generator(spec)
    spans = {"whole return range": spec.return_range,
             f"first {settings.episodes} returns (p5-p95)": first_returns(generator, spec, env, seed, settings.episodes)}
    return [{"generator": f"{task} fresh", "seed": seed, "span": name,
             **measure(generator, spec, low, high, seed, settings.observations)} for name, (low, high) in spans.items()]


def run_row(run_dir: str, settings: Settings) -> dict:
    run = trained_run.load(run_dir)
    low, high = buffer_return_range(run_dir)
    return {"generator": run_dir, "seed": run.cfg.seed, "span": f"buffer returns at {run.env_steps} env steps",
            **measure(run.generator, run.spec, low, high, run.cfg.seed, settings.observations)}


def main(settings: Settings) -> dict:
    settings.validate()
    rows = [row for task in settings.tasks for seed in settings.seeds for row in fresh_rows(task, seed, settings)]
    rows += [run_row(run_dir, settings) for run_dir in settings.run_dirs]
    print(table(rows, ["generator", "seed", "span", "c_lo", "c_hi", "scaled_input_gap", "weight_gap_command",
                       "weight_norm", "weight_gap_noise", "action_gap_command", "action_gap_noise",
                       "action_mean_abs", "noise_over_command"]))
    payload = {"benchmark": "command_sensitivity", "machine": machine(), "settings": asdict(settings), "rows": rows}
    path = write_json(settings.out, payload, Path(settings.results_dir))
    print(f"wrote {path}")
    return payload


if __name__ == "__main__":
    runtime.configure(1)
    main(tyro.cli(Settings))
