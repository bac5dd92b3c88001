"""Does the generator's slope step climb from its own policy, and at which exploration noise?
``python -m bench.slope_climb RUN_DIR ... --noises 0.1 0.03``

At a run's last checkpoint (no other training: no evaluator, no generator updates through it), starting from G(best so
far), ``--iterations`` times: ``--pairs`` mirrored pairs G(best) +- eps (eps ~ N(0, sigma^2) per weight, the paper's
flat layout), one episode each, and one step up the slope they measured, taken two ways:

- ``slope``: the generator's own slope step, exactly as ``--generator.slope-lr`` takes it in training
  (``fastgen.poligen.learner.slope_step`` with ``trainer.slope_weights``, its own Adam of ``--slope-lr``);
- ``weights``: the same measured slope added to the policy's weights themselves, as ARS does
  (theta += 2 alpha / sigma x mean_i w_i eps_i, alpha = ``--step-size``, ARS's hopper/swimmer preset 0.01): what the
  population's slope is worth to a learner that can take any step.

After every ``--every`` iterations the return of the centre (G(best) for ``slope``) over ``--episodes`` fresh
episodes. Each (run, mode, sigma) starts from the checkpoint's generator. Returns are of the kind the run trained on.
Writes ``bench/results/analysis/slope_climb_<task>.{json,md,png}`` (or ``--name``).
"""

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import numpy as np
import torch
import tyro

from bench.common import RESULTS, machine, measure_runs, table, write_report
from fastgen import runtime
from fastgen import trained as trained_run
from fastgen.poligen import learner as learner_module
from fastgen.poligen import trainer
from fastgen.sweep import achieved_returns, return_kind

MODES = ("slope", "weights")


@dataclass
class Options:
    run_dirs: tyro.conf.Positional[tuple[str, ...]]
    """PoliGen run directories with a checkpoint, all of one task."""
    noises: tuple[float, ...] = (0.1, 0.03)
    """Exploration noise stds per weight (0.1: the paper's)."""
    modes: tuple[str, ...] = MODES
    """slope (the generator's slope step) and/or weights (the step on the policy's weights)."""
    iterations: int = 12
    """Populations drawn, one step after each."""
    pairs: int = 32
    """Mirrored pairs per population (32: a population of 64)."""
    slope_lr: float = 3e-5
    """The slope step's Adam learning rate (the candidate's --generator.slope-lr)."""
    step_size: float = 0.01
    """alpha of the weights mode's step (ARS's)."""
    every: int = 2
    """Measure the centre's return after every this many iterations."""
    episodes: int = 8
    """Fresh episodes per measurement of the centre."""
    seed: int = 0
    """Seed of the noise and the episodes' starts (the same draws for every mode at one sigma)."""
    name: str | None = None
    """Output name (default: slope_climb_<task>)."""
    out: str = str(RESULTS / "analysis")
    """Directory of the JSON, table and plot."""

    def validate(self) -> None:
        if not self.noises or any(not (math.isfinite(s) and s > 0) for s in self.noises):
            raise ValueError(f"--noises must be one or more stds > 0, got {self.noises}")
        if not self.modes or any(m not in MODES for m in self.modes):
            raise ValueError(f"--modes must be among {', '.join(MODES)}, got {self.modes}")
        if min(self.iterations, self.pairs, self.every, self.episodes) < 1:
            raise ValueError(f"--iterations, --pairs, --every, --episodes must be >= 1, got {self.iterations}, "
                             f"{self.pairs}, {self.every}, {self.episodes}")
        for name in ("slope_lr", "step_size"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")


def weights_step(weights: torch.Tensor, noise: torch.Tensor, sigma: float, step_size: float) -> torch.Tensor:
    """The weights mode's step ``[D]``: 2 alpha / sigma x mean_i w_i eps_i for ``weights [P]`` and ``noise [P, D]``
    (with mirrored pairs and standardised returns, ARS's alpha / b x sum_k (r+_k - r-_k) / sigma_R delta_k)."""
    return (2.0 * step_size / sigma) * (weights[:, None] * noise).mean(0)


def climb(run: trained_run.Trained, mode: str, sigma: float, options: Options, key: jax.Array) -> list[dict]:
    """One (mode, sigma) climb from G(best so far): per iteration the population's mean and highest return, and
    every ``--every`` iterations the centre's return."""
    generator = trained_run._generator(run.cfg, run.spec)
    generator.load_state_dict(run.generator.state_dict())
    learner = learner_module.create([generator], [run.evaluator], 0.0, 0.0, slope_lr=options.slope_lr)
    best = run.best_return if run.best_return is not None else run.cfg.command.first
    P = 2 * options.pairs
    commands = torch.full((1, P), float(best))
    centre = learner_module.generate(learner, [0], commands[:, :1])[0, 0]
    rng = torch.Generator().manual_seed(options.seed)

    def measured(theta, k):
        return float(achieved_returns(run, theta[None], options.episodes, "cpu", jax.random.fold_in(key, 10_000 + k))
                     .mean())

    rows = [{"iteration": 0, "episodes": 0, "return": measured(centre, 0)}]
    for k in range(1, options.iterations + 1):
        half = sigma * torch.randn(options.pairs, centre.numel(), generator=rng)
        noise = torch.stack([half, -half], 1).reshape(P, -1)  # pairs side by side, as the trainer draws them
        returns = achieved_returns(run, centre[None] + noise, 1, "cpu", jax.random.fold_in(key, k))[:, 0]
        weights = torch.as_tensor(trainer.slope_weights(returns, np.zeros(P, bool)), dtype=torch.float32)
        if mode == "weights":
            centre = centre + weights_step(weights, noise, sigma, options.step_size)
        else:
            learner_module.slope_step(learner, [0], commands, noise[None], weights[None])
            centre = learner_module.generate(learner, [0], commands[:, :1])[0, 0]
        row = {"iteration": k, "episodes": k * P, "population_mean": float(returns.mean()),
               "population_max": float(returns.max())}
        if k % options.every == 0 or k == options.iterations:
            row["return"] = measured(centre, k)
        rows.append(row)
    return rows


def measure_run(run_dir: Path, options: Options, key: jax.Array) -> dict:
    run = trained_run.load(run_dir)
    climbs = [{"mode": mode, "sigma": sigma, "curve": climb(run, mode, sigma, options, key)}
              for sigma in options.noises for mode in options.modes]
    return {"run": str(run_dir), "seed": run.cfg.seed, "env_steps": run.env_steps, "best_return": run.best_return,
            "climbs": climbs, "return_kind": return_kind(run.cfg, run.spec)}


def summary_rows(row: dict) -> list[dict]:
    out = []
    for c in row["climbs"]:
        measured = [r["return"] for r in c["curve"] if "return" in r]
        out.append({"seed": row["seed"], "env_steps": row["env_steps"], "best": row["best_return"], "mode": c["mode"],
                    "sigma": c["sigma"], "start": measured[0], "end": measured[-1], "highest": max(measured),
                    "population_mean_end": c["curve"][-1]["population_mean"]})
    return out


COLUMNS = ["seed", "env_steps", "best", "mode", "sigma", "start", "end", "highest", "population_mean_end"]


def measure(options: Options) -> dict:
    options.validate()
    key = jax.random.key(options.seed)

    def measured(run_dir: Path) -> dict:
        row = measure_run(run_dir, options, key)
        return {**row, "summary": summary_rows(row)}

    task, rows = measure_runs(options.run_dirs, measured, [])
    return {"benchmark": "slope_climb", "task": task, "machine": machine(), "settings": asdict(options),
            "rows": rows, "summary": [s for r in rows for s in r["summary"]]}


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    fig, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 3.6), squeeze=False)
    for ax, r in zip(axes[0], rows):
        for c in r["climbs"]:
            points = [(p["episodes"], p["return"]) for p in c["curve"] if "return" in p]
            ax.plot(*zip(*points), "o-" if c["mode"] == "slope" else "s--", ms=3,
                    label=f"{c['mode']}, sigma {c['sigma']:g}")
        ax.set_title(f"seed {r['seed']} at {r['env_steps'] / 1e3:.0f}k (best so far {r['best_return']:.0f})", fontsize=8)
        ax.set_xlabel("episodes", fontsize=8)
    axes[0][0].set_ylabel("return of the centre (G(best) for slope)", fontsize=8)
    axes[0][0].legend(fontsize=6)
    fig.suptitle(f"{result['task']}: climbing the population's slope from the generator's own policy", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(result: dict) -> str:
    s = result["settings"]
    lines = [f"From G(best so far), {s['iterations']} populations of {s['pairs']} mirrored pairs (flat noise sigma per "
             f"weight), one step each: slope = the generator's slope step (Adam, lr {s['slope_lr']:g}), weights = the "
             f"step on the policy's weights (alpha {s['step_size']:g}). start / end / highest: the centre's return "
             f"over {s['episodes']} fresh episodes; population_mean_end: the last population's mean return.", "",
             "```", table(result["summary"], COLUMNS), "```", ""]
    for r in result["rows"]:
        for c in r["climbs"]:
            lines.append(f"seed {r['seed']}, {c['mode']}, sigma {c['sigma']:g}: " + ", ".join(
                f"{p['episodes']} ep: {p['return']:.0f}" for p in c["curve"] if "return" in p))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    options = tyro.cli(Options, args=argv)
    runtime.configure(1)  # one core: it runs beside training
    result = measure(options)
    name = options.name or f"slope_climb_{result['task']}"
    write_report(Path(options.out), name, result, markdown(result), {"": plot})
    print(table(result["summary"], COLUMNS))
    return result


if __name__ == "__main__":
    main()
