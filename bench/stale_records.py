"""What a run's best stored policies earn under the observation statistics of each moment of the run:
``python -m bench.stale_records RUN_DIR ...``

    python -m bench.stale_records /work/runs/s21/runs/swimmer-...-seed4 --top 4 --episodes 4

A policy acts on observations normalised with the run's running statistics, and those keep moving while the
buffer keeps the policy with the return it earned once. This takes a run's ``--top`` highest stored returns and
runs their policies ``--episodes`` fresh episodes under the statistics of every snapshot the run kept
(``--generator.snapshots``) and of its last checkpoint (when later than the last snapshot): the policy the buffer
would hand the evaluator at that moment. Without ``--buffer.keep-behaviour`` that is the stored weights themselves;
with it, the stored policy re-expressed for those statistics (so its returns should not move). Needs snapshots; no
training.

Writes ``bench/results/analysis/stale_records_<task>.{json,md,png}`` (or ``--name``).
"""

from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import numpy as np
import torch
import tyro

import envs
from bench.common import RESULTS, machine, measure_runs, table, write_report
from bench.lucky_records import held_params, held_returns
from fastgen import policy, runtime
from fastgen import trained as trained_run
from fastgen.normalizer import ObsStats
from fastgen.poligen import settings as poligen_settings
from fastgen.poligen import snapshots


@dataclass
class Options:
    run_dirs: tyro.conf.Positional[tuple[str, ...]]
    """PoliGen run directories with a checkpoint and snapshots, all of one task."""
    top: int = 4
    """The buffer's highest returns to re-run."""
    episodes: int = 4
    """Fresh episodes per policy and set of statistics."""
    seed: int = 0
    """Seed of the fresh episodes' starts (the same starts under every set of statistics)."""
    name: str | None = None
    """Output name (default: stale_records_<task>)."""
    out: str = str(RESULTS / "analysis")
    """Directory of the JSON, table and plot."""

    def validate(self) -> None:
        if self.episodes < 1 or self.top < 1:
            raise ValueError(f"--episodes and --top must be >= 1, got {self.episodes} and {self.top}")


def fresh_returns(run: trained_run.Trained, params: torch.Tensor, stats: tuple[np.ndarray, np.ndarray],
                  episodes: int, key: jax.Array) -> np.ndarray:
    """Mean return ``[N]`` (of the kind the run trained on) of ``params [N, D]`` acting with ``stats``."""
    env = envs.make(run.cfg.env, "cpu", physics=run.cfg.physics)
    result = envs.rollout(env, params.float().numpy(), stats[0], stats[1], key, episodes=episodes)
    return poligen_settings.training_returns(run.cfg, result.episode_returns, result.episode_returns_no_bonus).mean(1)


def measure_run(run_dir: Path, options: Options, key: jax.Array) -> dict:
    """One run: its top policies' fresh returns under each snapshot's statistics and the checkpoint's."""
    run = trained_run.load(run_dir)
    kept = snapshots.load_all(run_dir)
    if not kept:
        raise ValueError(f"{run_dir} kept no snapshots (--generator.snapshots 0): no earlier statistics to run under")
    stored = held_returns(run_dir)
    top = torch.topk(stored, min(options.top, len(stored))).indices
    params = held_params(run_dir, top)  # for the checkpoint's statistics (trained.buffer_chunks)
    final = (run.obs_mean, run.obs_std)
    keep = poligen_settings.keep_behaviour(run.cfg)
    moments = [(s["env_steps"], ObsStats.from_state_dict(s["obs_stats"])) for s in kept]
    if moments[-1][0] != run.env_steps:  # the checkpoint's own, unless the last snapshot was taken with it
        moments.append((run.env_steps, ObsStats.from_state_dict(torch.load(
            Path(run_dir) / "checkpoint.pt", weights_only=False, map_location="cpu", mmap=True)["obs_stats"])))
    under = []
    for env_steps, stats in moments:
        then = (stats.mean, stats.std)
        drawn = policy.reframe(params, final, then, run.spec) if keep else params
        under.append({"env_steps": env_steps, "fresh": fresh_returns(run, drawn, then, options.episodes, key).tolist()})
    fresh = np.array([u["fresh"] for u in under])  # [moments, top]
    return {"run": str(run_dir), "seed": run.cfg.seed, "keep_behaviour": keep, "env_steps": run.env_steps,
            "stored": stored[top].tolist(), "under": under,
            "stored_mean": float(stored[top].mean()), "best_moment_mean": float(fresh.max(0).mean()),
            "final_mean": float(fresh[-1].mean()), "spread_mean": float((fresh.max(0) - fresh.min(0)).mean())}


def measure(options: Options) -> dict:
    options.validate()
    key = jax.random.key(options.seed)
    task, rows = measure_runs(options.run_dirs, lambda run_dir: measure_run(run_dir, options, key), COLUMNS)
    return {"benchmark": "stale_records", "task": task, "machine": machine(), "settings": asdict(options),
            "rows": rows}


COLUMNS = ["seed", "keep_behaviour", "env_steps", "stored_mean", "best_moment_mean", "final_mean", "spread_mean"]


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    fig, axes = plt.subplots(1, len(rows), figsize=(3.6 * len(rows), 3.4), squeeze=False)
    for ax, r in zip(axes[0], rows):
        steps = [u["env_steps"] / 1e6 for u in r["under"]]
        fresh = np.array([u["fresh"] for u in r["under"]])
        for i, stored in enumerate(r["stored"]):
            line, = ax.plot(steps, fresh[:, i], "o-", ms=3, lw=1)
            ax.axhline(stored, color=line.get_color(), ls=":", lw=0.8)
        ax.set_title(f"seed {r['seed']}{', keep-behaviour' if r['keep_behaviour'] else ''}", fontsize=8)
        ax.set_xlabel("statistics of env step (M)", fontsize=8)
    axes[0][0].set_ylabel(f"mean of {result['settings']['episodes']} fresh episodes\n(dotted: stored return)",
                          fontsize=8)
    fig.suptitle(f"{result['task']}: the buffer's highest returns under the statistics of each moment", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(result: dict) -> str:
    lines = [f"{result['settings']['episodes']} fresh episodes per policy under each set of statistics; "
             "best_moment_mean: the mean over the policies of their best, spread_mean: of their highest minus lowest.",
             "", "```", table(result["rows"], COLUMNS), "```", ""]
    for r in result["rows"]:
        lines.append(f"seed {r['seed']} (stored {', '.join(f'{s:.0f}' for s in r['stored'])}):")
        lines += [f"  statistics of {u['env_steps']:>9,}: {', '.join(f'{f:.0f}' for f in u['fresh'])}" for u in r["under"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    options = tyro.cli(Options, args=argv)
    runtime.configure(1)  # one core: it runs beside training
    result = measure(options)
    name = options.name or f"stale_records_{result['task']}"
    write_report(Path(options.out), name, result, markdown(result), {"": plot})
    print(table(result["rows"], COLUMNS))
    return result


if __name__ == "__main__":
    main()
