"""``python -m fastgen.sweep RUN_DIR``: ask a trained generator for a range of returns (paper Fig. 6).

N commands evenly spaced over the task's return range (docs/paper.md; hopper's is bonus-free,
as its commands are), the generator's policy G(c) for each without noise, K episodes of each on
``--engine`` (default ``cpu``: MuJoCo's C engine) with the run's observation statistics. Reported
per command: the achieved return (mean +- std over the K episodes, of the kind the generator was
trained on: bonus-free on hopper) and the evaluator's prediction V(G(c)). How well commands are
followed is measured over the achievable range, the commands between the lowest and the highest
training return in the run's buffer: Spearman rank correlation of command and achieved return,
and their mean absolute error. Writes ``sweep.json`` and ``sweep.png`` into RUN_DIR (or ``--out``).
"""

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
import torch
import tyro

import envs
from fastgen import extras, runtime
from fastgen import trained as trained_run
from fastgen.poligen import settings


@dataclass
class SweepConfig:
    run_dir: tyro.conf.Positional[str]
    """A PoliGen run directory (python -m fastgen.run --out)."""
    commands: int = 20
    """Number of commands, evenly spaced over the return range."""
    low: float | None = None
    """Lowest command (default: the task's minimum return, docs/paper.md)."""
    high: float | None = None
    """Highest command (default: the task's maximum return)."""
    episodes: int = 10
    """Evaluation episodes per command."""
    engine: str = "cpu"
    """Engine the policies run on: cpu (MuJoCo's C engine) or mjx."""
    seed: int = 0
    """Seed of the episodes' reset noise."""
    snapshot: int | None = None
    """Sweep generator snapshot k (see snapshots/) instead of the final generator."""
    out: str | None = None
    """Output prefix (default: RUN_DIR/sweep, giving sweep.json and sweep.png)."""

    def validate(self) -> None:
        if self.commands < 2:
            raise ValueError(f"--commands must be >= 2, got {self.commands}")
        if self.episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {self.episodes}")
        if self.engine not in envs.ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose one of {', '.join(envs.ENGINES)}")


def achieved_returns(run: trained_run.Trained, params: torch.Tensor, episodes: int, engine: str,
                     key: jax.Array) -> np.ndarray:
    """Per-episode returns ``[N, episodes]`` of the policies ``params [N, D]``, of the kind the run trained on."""
    env = envs.make(run.cfg.env, engine, physics=run.cfg.physics)
    result = envs.rollout(env, params.numpy(), run.obs_mean, run.obs_std, key, episodes=episodes)
    return settings.training_returns(run.cfg, result.episode_returns, result.episode_returns_no_bonus)


def return_kind(cfg, spec) -> str:
    """Which return the run trained on, and the sweep measures: env (the task's own), no_bonus, or
    "no_bonus + S x bonus" (--command.bonus-share S), "no_bonus + S x min(bonus, C)" (and --command.bonus-cap C)."""
    if not (cfg.command.bonus_free and spec.has_survival_bonus):
        return "env"
    share, cap = settings.bonus_share(cfg), settings.bonus_cap(cfg)
    if not share:
        return "no_bonus"
    return f"no_bonus + {share:g} x min(bonus, {cap:g})" if cap else f"no_bonus + {share:g} x bonus"


def buffer_return_range(run_dir: Path) -> tuple[float, float]:
    """Lowest and highest training return held in the run's buffer."""
    returns = torch.cat([r for _, r in trained_run.buffer_chunks(run_dir)])
    return float(returns.min()), float(returns.max())


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (ties get their average rank); nan if either side is constant."""
    rx, ry = _ranks(np.asarray(x, float)), _ranks(np.asarray(y, float))
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=float)
    for value in np.unique(values):  # average the ranks of ties
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def follow_metrics(commands: np.ndarray, achieved: np.ndarray, low: float, high: float) -> dict:
    """Spearman and mean absolute error over the commands in ``[low, high]``."""
    inside = (commands >= low) & (commands <= high)
    n = int(inside.sum())
    return {"achievable_low": low, "achievable_high": high, "achievable_commands": n,
            "spearman": spearman(commands[inside], achieved[inside]) if n >= 2 else float("nan"),
            "mean_abs_error": float(np.abs(achieved[inside] - commands[inside]).mean()) if n else float("nan")}


def sweep(cfg: SweepConfig) -> dict:
    cfg.validate()
    run = trained_run.load(Path(cfg.run_dir), cfg.snapshot)
    low, high = run.spec.return_range
    low = low if cfg.low is None else cfg.low
    high = high if cfg.high is None else cfg.high
    if not high > low:
        raise ValueError(f"--high {high} must be above --low {low}")
    commands = np.linspace(low, high, cfg.commands)
    params = run.policies(commands)
    with torch.no_grad():
        predicted = run.evaluator(params).numpy()
    episodes = achieved_returns(run, params, cfg.episodes, cfg.engine, jax.random.key(cfg.seed))
    achieved = episodes.mean(axis=1)
    follow = follow_metrics(commands, achieved, *buffer_return_range(Path(cfg.run_dir)))
    return {"run_dir": cfg.run_dir, "env": run.cfg.env, "env_steps": run.env_steps, "snapshot": cfg.snapshot,
            "engine": cfg.engine, "episodes": cfg.episodes, "seed": cfg.seed,
            "return_kind": return_kind(run.cfg, run.spec),
            "commands": commands.tolist(), "achieved_mean": achieved.tolist(),
            "achieved_std": episodes.std(axis=1).tolist(), "predicted": predicted.tolist(), **follow}


def plot(result: dict, path: Path) -> None:
    plt = extras.pyplot("fastgen.sweep")
    commands = np.array(result["commands"])
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.axvspan(result["achievable_low"], result["achievable_high"], color="0.92", label="buffer's return range")
    ax.plot(commands, commands, color="grey", linestyle="--", linewidth=1, label="identity")
    ax.errorbar(commands, result["achieved_mean"], yerr=result["achieved_std"], marker="o", capsize=3,
                label=f"achieved ({result['episodes']} episodes, {result['engine']})")
    ax.plot(commands, result["predicted"], marker="x", linestyle=":", label="evaluator V(G(c))")
    ax.set_xlabel("command c")
    ax.set_ylabel({"no_bonus": "return (no survival bonus)", "env": "return"}.get(result["return_kind"],
                                                                                  f"return ({result['return_kind']})"))
    ax.set_title(f"{result['env']} at {result['env_steps']:,} env steps: Spearman {result['spearman']:.2f}, "
                 f"MAE {result['mean_abs_error']:.1f}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    cfg = tyro.cli(SweepConfig, args=argv, description=__doc__.splitlines()[0])
    runtime.configure()
    try:
        extras.require("matplotlib", "fastgen.sweep")  # its PNG: say so before any work
        result = sweep(cfg)
    except ValueError as error:
        print(f"fastgen.sweep: error: {error}", file=sys.stderr)
        return 2
    prefix = Path(cfg.out) if cfg.out else Path(cfg.run_dir) / "sweep"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, prefix.with_suffix(".png"))
    for c, a, s, p in zip(result["commands"], result["achieved_mean"], result["achieved_std"], result["predicted"]):
        print(f"command {c:9.1f}   achieved {a:9.1f} +- {s:7.1f}   predicted {p:9.1f}")
    print(f"achievable [{result['achievable_low']:.1f}, {result['achievable_high']:.1f}]: "
          f"{result['achievable_commands']} commands, Spearman {result['spearman']:.3f}, "
          f"MAE {result['mean_abs_error']:.1f}\nwrote {prefix.with_suffix('.json')} and {prefix.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
