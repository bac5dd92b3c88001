"""How the evaluator rates the buffer's best policies: ``python -m bench.evaluator_top RUN_DIR ...``

    python -m bench.evaluator_top /work/runs/s21/runs/swimmer-...-seed3 --top 16

The generator is trained to make policies that the evaluator V rates at their command, and the highest command
is the best return so far; so if V rates the buffer's best policies below what they earned, the generator is
asked for returns that V rates as out of reach next to the very policies that earned them. This reads a run's
last checkpoint and rates every policy of its replay buffer with its evaluator, then reports V(theta) minus the
stored return, by where the return ranks: the highest one (the record), the ``--top`` highest, the 100 highest,
the last iteration's P, the ``--top`` highest of the last 10 iterations, and the 100 around the median. No
simulation: the stored returns are one episode each (on swimmer they repeat within ~10, docs/results/populations.md,
"Lucky records"; on hopper they do not, so there the top rows measure luck as well).

Writes ``bench/results/analysis/evaluator_top_<task>.{json,md,png}`` (or ``--name``).
"""

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import tyro

from bench.common import RESULTS, machine, measure_runs, table, write_report
from fastgen import runtime
from fastgen import trained as trained_run
from fastgen.poligen import settings as poligen_settings

GROUPS = ("record", "top", "top100", "last", "recent_top", "median")
RECENT_ITERATIONS = 10


@dataclass
class Options:
    run_dirs: tyro.conf.Positional[tuple[str, ...]]
    """PoliGen run directories with a checkpoint, all of one task."""
    top: int = 16
    """How many of the highest returns the "top" rows take."""
    name: str | None = None
    """Output name (default: evaluator_top_<task>)."""
    out: str = str(RESULTS / "analysis")
    """Directory of the JSON, table and plot."""

    def validate(self) -> None:
        if self.top < 1:
            raise ValueError(f"--top must be >= 1, got {self.top}")


def rated_buffer(run_dir: Path, run: trained_run.Trained) -> tuple[torch.Tensor, torch.Tensor]:
    """``(stored returns [n], V(theta) [n])`` of the buffer at the last checkpoint, oldest first, rated chunk by chunk
    (a full hopper buffer is 2.8 GB)."""
    stored, rated = [], []
    with torch.no_grad():
        for params, returns in trained_run.buffer_chunks(run_dir):
            stored.append(torch.as_tensor(returns, dtype=torch.float32))
            rated.append(run.evaluator(torch.as_tensor(params, dtype=torch.float32)).reshape(-1))
    return torch.cat(stored), torch.cat(rated)


def groups(stored: torch.Tensor, population: int, top: int) -> dict[str, torch.Tensor]:
    """The entries of each group in ``GROUPS``, as indices into ``stored [n]`` (oldest first; of equal returns the
    older ranks higher)."""
    n = len(stored)
    order = torch.argsort(stored, descending=True, stable=True)
    recent = torch.arange(max(0, n - RECENT_ITERATIONS * population), n)
    median = order[max(0, n // 2 - 50):n // 2 + 50]
    return {"record": order[:1], "top": order[:top], "top100": order[:100],
            "last": torch.arange(max(0, n - population), n),
            "recent_top": recent[torch.argsort(stored[recent], descending=True, stable=True)[:top]], "median": median}


def measure_run(run_dir: Path, options: Options) -> dict:
    """One run's row: per group, the mean stored return and the mean of V(theta) - stored return."""
    run = trained_run.load(run_dir)
    stored, rated = rated_buffer(run_dir, run)
    row = {"run": str(run_dir), "seed": run.cfg.seed, "env_steps": run.env_steps, "best_return": run.best_return,
           "entries": len(stored)}
    for group, index in groups(stored, poligen_settings.population(run.cfg), options.top).items():
        row[f"{group}_return"] = float(stored[index].mean())
        row[f"{group}_v_minus_return"] = float((rated[index] - stored[index]).mean())
    keep = torch.argsort(stored, descending=True)[:2000]  # the plot's points: the 2000 highest
    row["plot_stored"], row["plot_rated"] = stored[keep].tolist(), rated[keep].tolist()
    return row


def measure(options: Options) -> dict:
    options.validate()
    task, rows = measure_runs(options.run_dirs, lambda run_dir: measure_run(run_dir, options), COLUMNS[1:])
    for row, label in zip(rows, labels([Path(r).name for r in options.run_dirs])):
        row["label"] = label
    return {"benchmark": "evaluator_top", "task": task, "machine": machine(), "settings": asdict(options), "rows": rows}


def labels(names: list[str]) -> list[str]:
    """Each run directory's name without the part all of them begin with (their shared task and settings)."""
    shared = len(os.path.commonprefix(names)) if len(names) > 1 else 0
    return [name[shared:] or name for name in names]


COLUMNS = ["label", "seed", "env_steps", "best_return"] + [f"{g}_v_minus_return" for g in GROUPS]


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    columns = min(5, len(rows))
    lines = -(-len(rows) // columns)
    fig, axes = plt.subplots(lines, columns, figsize=(3.2 * columns, 3.3 * lines), squeeze=False)
    for ax in axes.flat[len(rows):]:
        ax.axis("off")
    for ax, r in zip(axes.flat, rows):
        ax.plot(r["plot_stored"], r["plot_rated"], "o", ms=1.5, alpha=0.5)
        low, high = min(r["plot_stored"]), max(r["plot_stored"])
        ax.plot([low, high], [low, high], "k:", lw=0.8, label="V = return")
        ax.axvline(r["best_return"], color="r", lw=0.8, label="best so far")
        short = r["label"].replace("generator.", "").replace("evaluator.", "").replace("+", " ")
        ax.set_title(f"{short[-38:]}\n{r['env_steps'] / 1e6:.2f}M: top {r['top_v_minus_return']:+.0f}",
                     fontsize=8)
        ax.set_xlabel("stored return", fontsize=8)
    axes[0][0].set_ylabel("V(theta)", fontsize=8)
    axes[0][0].legend(fontsize=6)
    fig.suptitle(f"{result['task']}: the evaluator on the buffer's 2000 highest returns", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    options = tyro.cli(Options, args=argv)
    runtime.configure(1)  # one core: it runs beside training
    result = measure(options)
    out = Path(options.out)
    name = options.name or f"evaluator_top_{result['task']}"
    write_report(out, name, result,
                 f"V(theta) minus the stored return, mean over: the record, the {options.top} highest, the 100 highest, "
                 f"the last iteration, the {options.top} highest of the last {RECENT_ITERATIONS} iterations, the 100 "
                 f"around the median.\n\n```\n{table(result['rows'], COLUMNS)}\n```\n", {"": plot})
    return result


if __name__ == "__main__":
    main()
