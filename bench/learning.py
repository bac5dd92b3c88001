"""Learning curves against env steps and wall clock: PoliGen at several population sizes, and the baselines.

    python -m bench.learning --tasks inverted_pendulum mountain_car --populations 1 8 64 --seeds 0 1 2
    python -m bench.learning --tasks inverted_pendulum mountain_car --algos poligen ars ddpg udrl --populations 1

Each (task, algorithm, P, seed) is a full ``fastgen.run`` training run in
``<runs-dir>/<task>-P<P>-seed<seed>`` (PoliGen) or ``<runs-dir>/<task>-<algo>-seed<seed>`` (a
baseline, whose P its own settings fix);
finished runs are read back, killed ones resumed, so the sweep can be stopped and restarted. With
``--time-limit`` every run stops after that much training wall time; a run it stopped counts as
unfinished in the table (``finished``, ``env_steps``) and is resumed by a later sweep with a larger
limit or none. Writes
``bench/results/reproduction/learning_<tasks>[_algos].json`` (per-run summaries and curves, and a table per
task, algorithm and P: final return beside the paper's, best return, env steps and wall clock to
the task's threshold) and one PNG per task with return against env steps and against wall-clock
seconds (each seed thin, their mean bold where every seed's run reaches).
"""

import dataclasses
import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro

from bench.common import RESULTS, machine, table, write_json
from fastgen import extras, runtime
from fastgen.config import Config
from fastgen.run import train
from fastgen.runs.rundir import final_return, read_metrics, within_budget
from fastgen.runs.stop import StopSignals, never

# Evaluation return a run must reach: the bar, ~the paper's final returns less one std.
THRESHOLDS = {"inverted_pendulum": 900.0, "mountain_car": 90.0, "swimmer": 300.0, "hopper": 2000.0}
# Paper Table 1: final return (mean of the last 20 evaluations: ``rundir.final_return``), mean +- std over 20 runs.
PAPER = {
    "swimmer": {"poligen": "334 +- 16", "ars": "342 +- 21", "ddpg": "129 +- 25", "udrl": "78 +- 17"},
    "mountain_car": {"poligen": "93 +- 1", "ars": "55 +- 33", "ddpg": "-1 +- 0.01", "udrl": "-3 +- 0.3"},
    "hopper": {"poligen": "2589 +- 300", "ars": "2340 +- 199", "ddpg": "1634 +- 1036", "udrl": "1010 +- 78"},
    "inverted_pendulum": {"poligen": "980 +- 40", "ars": "936 +- 42", "ddpg": "960 +- 175", "udrl": "219 +- 299"},
}


@dataclass
class Settings:
    tasks: tuple[str, ...] = ("inverted_pendulum", "mountain_car")
    """Tasks to train on."""
    algos: tuple[str, ...] = ("poligen",)
    """Algorithms: poligen, ars, ddpg, udrl."""
    populations: tuple[int, ...] = (1, 8, 64)
    """PoliGen population sizes P to compare (the baselines' P is fixed by their settings)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds per (task, P)."""
    total_steps: int | None = None
    """Env-step budget per run (default: the task's, 100k for inverted_pendulum/mountain_car)."""
    time_limit: float | None = None
    """Training wall-clock seconds per run before it is stopped (unfinished, resumable)."""
    runs_dir: str = "runs/learning"
    """Where the run directories live."""
    name: str = ""
    """Result name (default: learning_<tasks>, plus _algos when baselines are included)."""
    only_existing: bool = False
    """Train nothing: tabulate the runs that already have a summary.json (a partial sweep)."""


def run_dir(task: str, algo: str, P: int | None, seed: int, settings: Settings) -> Path:
    name = f"{task}-P{P}-seed{seed}" if algo == "poligen" else f"{task}-{algo}-seed{seed}"
    return Path(settings.runs_dir) / name


def run_one(task: str, algo: str, P: int | None, seed: int, settings: Settings) -> dict:
    out = run_dir(task, algo, P, seed, settings)
    cfg = Config(algo=algo, env=task, num_envs=P, seed=seed, total_steps=settings.total_steps, out=str(out),
                 time_limit=settings.time_limit)
    return {"task": task, "algo": algo, "P": cfg.population, "seed": seed,
            **ensure_run(cfg, train_if_needed=not settings.only_existing)}


def ensure_run(cfg: Config, train_if_needed: bool = True) -> dict:
    """Train ``cfg`` in ``cfg.out`` unless a run there is done (resuming a killed or shorter one), or
    with ``train_if_needed=False`` read whatever summary is there;
    -> ``{"summary": summary.json, "final_return", "final_evaluations" (``rundir.final_return``),
    "curve": [{env_steps, wall_s, eval/return}, ...]}``; a run that evaluated an averaged generator
    (``--generator.average-decay``) adds ``"live_final_return"``, the final return of the generator's own policy
    (``eval/live_return``, same evaluations), and ``eval/live_return`` to its curve."""
    out = Path(cfg.out)
    summary_path = out / "summary.json"
    if train_if_needed and needs_training(cfg):
        until_signal(lambda stop: train(to_continue(cfg), stop), str(out))
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    rows = read_metrics(out)
    curve = within_budget(rows, cfg.budget)
    if summary is not None and len(curve) < len(rows):
        summary = at_budget(summary, curve[-1])
    final, averaged = final_return(curve, cfg.budget, cfg.eval_every)
    live = all("eval/live_return" in row for row in curve)
    keys = ("env_steps", "wall_s", "eval/return", *(("eval/live_return",) if live else ()))
    record = {"summary": summary, "final_return": final, "final_evaluations": averaged,
              "curve": [{k: row[k] for k in keys} for row in curve]}
    if live:
        record["live_final_return"] = final_return([{**row, "eval/return": row["eval/live_return"]} for row in curve],
                                                   cfg.budget, cfg.eval_every)[0]
    return record


def at_budget(summary: dict, row: dict) -> dict:
    """The summary of a run continued past the budget asked for, as it stood at its evaluation ``row`` there:
    counters and wall clock from the row (iterations only in rows written since they were logged: an older run
    keeps its whole run's, and says so with ``"iterations_after_budget": true``)."""
    counters = {k: row[k] for k in ("env_steps", "wall_s", "episodes", "iterations") if k in row}
    return {**summary, **counters, "finished": True, "continued_past_budget": True,
            **({} if "iterations" in row else {"iterations_after_budget": True})}


def until_signal(train_with_stop, where: str) -> None:
    """``train_with_stop(stop)`` with SIGINT/SIGTERM asking it to stop after its iteration and checkpoint;
    if a signal came, exit with 128 + its number (a sweep stops rather than starting its next run). Off the
    main thread (where Python cannot take signals) it trains without."""
    if threading.current_thread() is not threading.main_thread():
        train_with_stop(never)
        return
    with StopSignals() as signals:
        train_with_stop(signals.requested)
    if signals.requested():
        print(f"stopped by signal; checkpoints in {where}; the same command resumes", file=sys.stderr, flush=True)
        raise SystemExit(signals.exit_code)


def needs_training(cfg: Config) -> bool:
    """No summary in ``cfg.out``, or one of a run stopped short of what ``cfg`` asks."""
    path = Path(cfg.out) / "summary.json"
    return not path.exists() or not _done(json.loads(path.read_text()), cfg.budget, cfg.time_limit)


def to_continue(cfg: Config) -> Config:
    """``cfg`` resuming the run in ``cfg.out`` if it has a checkpoint, else starting it afresh (dropping the
    metrics line of a run killed between its first evaluation and its first checkpoint)."""
    out = Path(cfg.out)
    if (out / "checkpoint.pt").exists():
        return dataclasses.replace(cfg, resume=True)
    (out / "metrics.jsonl").unlink(missing_ok=True)
    return dataclasses.replace(cfg, resume=False)


def _done(summary: dict, budget: int, time_limit: float | None) -> bool:
    """Finished a budget at least this sweep's, or trained for at least this sweep's time limit (a run stopped by
    a signal, by a smaller limit, or finished at a smaller budget is not done)."""
    if summary.get("finished", True):  # summaries without the field were written at the budget
        return summary.get("budget", budget) >= budget
    return time_limit is not None and summary["wall_s"] >= time_limit


def first_reach(curve: list[dict], threshold: float, key: str) -> float | None:
    return next((row[key] for row in curve if row["eval/return"] >= threshold), None)


def _groups(runs: list[dict], task: str) -> list[tuple[str, int, list[dict]]]:
    """(algo, P, runs) of one task, in the order the runs were listed."""
    keys = list(dict.fromkeys((r["algo"], r["P"]) for r in runs if r["task"] == task))
    return [(algo, P, [r for r in runs if r["task"] == task and r["algo"] == algo and r["P"] == P]) for algo, P in keys]


def aggregate(runs: list[dict]) -> list[dict]:
    rows = []
    for task in dict.fromkeys(r["task"] for r in runs):
        for algo, P, group in _groups(runs, task):
            finals = [r["final_return"] for r in group]
            best = [r["summary"]["max_eval_return"] for r in group]
            threshold = THRESHOLDS[task]
            steps = [first_reach(r["curve"], threshold, "env_steps") for r in group]
            walls = [first_reach(r["curve"], threshold, "wall_s") for r in group]
            reached = [s for s in steps if s is not None]
            rows.append({"task": task, "algo": algo, "P": P, "seeds": len(group), "final_mean": float(np.mean(finals)),
                         "final_std": float(np.std(finals)), "paper": PAPER.get(task, {}).get(algo),
                         "best_mean": float(np.mean(best)),
                         "threshold": threshold, "reached": f"{len(reached)}/{len(group)}",
                         "steps_to_threshold": float(np.median(reached)) if reached else None,
                         "wall_s_to_threshold": float(np.median([w for w in walls if w is not None])) if reached else None,
                         "finished": f"{sum(r['summary'].get('finished', True) for r in group)}/{len(group)}",
                         "env_steps": float(np.mean([r["summary"]["env_steps"] for r in group])),
                         "wall_s_per_run": float(np.mean([r["summary"]["wall_s"] for r in group]))})
    return rows


def plot(task: str, runs: list[dict], path: Path) -> None:
    plt = extras.pyplot("bench.learning")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for algo, P, group in _groups(runs, task):
        for ax, key in zip(axes, ("env_steps", "wall_s")):
            grid = np.linspace(0, max(row[key] for r in group for row in r["curve"]), 200)
            # A run contributes only up to its last evaluation (a time-limited run is not extended).
            curves = np.array([np.interp(grid, [row[key] for row in r["curve"]],
                                         [row["eval/return"] for row in r["curve"]], right=np.nan) for r in group])
            everyone = ~np.isnan(curves).any(0)
            line, = ax.plot(grid[everyone], curves[:, everyone].mean(0), label=f"{algo} P={P} ({len(group)} seeds)")
            for curve in curves:
                ax.plot(grid, curve, color=line.get_color(), alpha=0.35, linewidth=0.8)
    for ax, label in zip(axes, ("env steps", "wall-clock seconds")):
        ax.axhline(THRESHOLDS[task], color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel(label)
        ax.set_ylabel("evaluation return")
        ax.legend()
    fig.suptitle(f"{task}: evaluation return per seed (thin) and mean where all seeds got that far (bold)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(settings: Settings) -> dict:
    grid = [(task, algo, P, seed) for task in settings.tasks for algo in settings.algos
            for P in (settings.populations if algo == "poligen" else (None,)) for seed in settings.seeds]
    if settings.only_existing:
        grid = [job for job in grid if (run_dir(*job, settings) / "summary.json").exists()]
    runs = [run_one(*job, settings) for job in grid]
    rows = aggregate(runs)
    print(table(rows, ["task", "algo", "P", "seeds", "final_mean", "final_std", "paper", "best_mean", "reached",
                       "steps_to_threshold", "wall_s_to_threshold", "finished", "env_steps", "wall_s_per_run"]))
    name = settings.name or "learning_" + "_".join(settings.tasks) + ("" if settings.algos == ("poligen",) else "_algos")
    out = RESULTS / "reproduction"
    out.mkdir(parents=True, exist_ok=True)
    for task in settings.tasks:
        plot(task, runs, out / f"{name}_{task}.png")
    payload = {"benchmark": "learning", "machine": machine(), "settings": dataclasses.asdict(settings),
               "table": rows, "runs": runs}
    path = write_json(f"{name}.json", payload, out)
    print(f"wrote {path}")
    return payload


if __name__ == "__main__":
    runtime.configure()
    main(tyro.cli(Settings))
