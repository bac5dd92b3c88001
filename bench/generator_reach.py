"""How far the generator gets on the data it has: ``python -m bench.generator_reach RUN_DIR ... --lrs 2e-6 2e-5``

    python -m bench.generator_reach /work/runs/s21/runs/hopper-...-seed1 --lrs 2e-6 2e-5 1e-4 --iterations 3

From a PoliGen run's last checkpoint, with its buffer and evaluator held fixed (no new episodes, no evaluator
update), this runs ``--iterations`` iterations' worth of the paper's generator updates (MSE of V(G(c)) on c, the
run's own update count and batch, commands drawn from the buffer as training draws them) at each generator learning
rate of ``--lrs``, and after each iteration's worth evaluates G(best so far) as training does (``--eval.episodes``
noise-free episodes, the run's evaluation starts; returns with the survival bonus and without). It separates "the
generator cannot follow its commands" into "the data and the evaluator do not say where to go" (no learning rate
helps) and "the generator moves too little per iteration" (a larger one does).

Writes ``bench/results/analysis/generator_reach_<task>.{json,md,png}`` (or ``--name``).
"""

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import tyro

from bench.common import RESULTS, machine, table, write_report
from fastgen import runtime
from fastgen.config import from_dict
from fastgen.poligen import checkpoint, learner, settings, trainer


@dataclass
class Options:
    run_dirs: tyro.conf.Positional[tuple[str, ...]]
    """PoliGen run directories with a checkpoint, all of one task."""
    lrs: tuple[float, ...] = (2e-6, 2e-5)
    """Generator learning rates (the paper: 2e-6)."""
    iterations: int = 3
    """Iterations' worth of generator updates, each followed by an evaluation."""
    name: str | None = None
    """Output name (default: generator_reach_<task>)."""
    out: str = str(RESULTS / "analysis")
    """Directory of the JSON, table and plot."""

    def validate(self) -> None:
        if self.iterations < 1:
            raise ValueError(f"--iterations must be >= 1, got {self.iterations}")
        if not self.lrs or any(not (math.isfinite(lr) and lr >= 0) for lr in self.lrs):
            raise ValueError(f"--lrs must be one or more learning rates >= 0, got {self.lrs}")


def restored(run_dir: Path) -> trainer.TrainState:
    """The run's state at its last checkpoint (networks, optimisers, buffer, statistics, counters)."""
    cfg = from_dict(json.loads((run_dir / "config.json").read_text()))
    state = trainer.init(cfg)
    checkpoint.load(state, run_dir)
    return state


def reach(run_dir: Path, lr: float, iterations: int) -> list[dict]:
    """G(best)'s evaluation before and after each of ``iterations`` iterations' worth of updates at ``lr``."""
    state = restored(run_dir)
    state.learner.generator_opt.lr = lr
    _, updates = settings.update_counts(state.cfg)
    rows, start = [], time.perf_counter()
    for done in range(iterations + 1):
        if done:
            for _ in range(updates):
                learner.generator_step(state.learner, [state.slot], trainer._commands([state]))
        state.evaluations = 0  # every evaluation from the same starts
        metrics = trainer.evaluate(state)
        rows.append({"run": str(run_dir), "seed": state.cfg.seed, "env_steps": state.env_steps, "lr": lr,
                     "updates": done * updates, "command": metrics["eval/command"], "return": metrics["eval/return"],
                     "return_no_bonus": metrics.get("eval/return_no_bonus", metrics["eval/return"]),
                     "length": metrics["eval/length"],
                     "seconds": time.perf_counter() - start})
        print(table([rows[-1]], COLUMNS), flush=True)
    return rows


COLUMNS = ["seed", "env_steps", "lr", "updates", "command", "return", "return_no_bonus", "length", "seconds"]


def measure(options: Options) -> dict:
    options.validate()
    rows, task = [], None
    for run_dir in options.run_dirs:
        cfg = from_dict(json.loads((Path(run_dir) / "config.json").read_text()))
        task = task or cfg.env
        if cfg.env != task:
            raise ValueError(f"{run_dir} trained {cfg.env}, the runs before it {task}: one task per table")
        for lr in options.lrs:
            rows += reach(Path(run_dir), lr, options.iterations)
    return {"benchmark": "generator_reach", "task": task, "machine": machine(), "settings": asdict(options),
            "rows": rows}


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = list(dict.fromkeys(r["run"] for r in result["rows"]))
    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.4), squeeze=False)
    for ax, run in zip(axes[0], runs):
        mine = [r for r in result["rows"] if r["run"] == run]
        for lr in dict.fromkeys(r["lr"] for r in mine):
            line = [r for r in mine if r["lr"] == lr]
            ax.plot([r["updates"] for r in line], [r["return_no_bonus"] for r in line], "o-", label=f"lr {lr:g}")
        ax.axhline(mine[0]["command"], color="k", lw=0.8, ls=":", label="command (best so far)")
        ax.set_title(f"seed {mine[0]['seed']}, {mine[0]['env_steps'] / 1e3:.0f}k env steps", fontsize=8)
        ax.set_xlabel("generator updates on the held data", fontsize=8)
    axes[0][0].set_ylabel("G(best): bonus-free return", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{result['task']}: the generator on fixed data and a fixed evaluator", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    options = tyro.cli(Options, args=argv)
    runtime.configure(1)  # one core: it runs beside training
    result = measure(options)
    out = Path(options.out)
    name = options.name or f"generator_reach_{result['task']}"
    write_report(out, name, result, f"```\n{table(result['rows'], COLUMNS)}\n```\n", {"": plot})
    return result


if __name__ == "__main__":
    main()
