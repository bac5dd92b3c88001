"""What a run's record returns are worth: ``python -m bench.lucky_records RUN_DIR ...``

    python -m bench.lucky_records /work/runs/s20/runs/hopper-...-seed2 --episodes 10

PoliGen's "best so far", which every command and evaluation starts from, is the highest single-episode return of any
policy the run has tried: with P = 64 policies per iteration, the highest of tens of thousands of one-episode
measurements. This re-runs, from a run's last checkpoint, the policies behind those numbers for ``--episodes`` fresh
episodes each (new starts, the checkpoint's observation statistics, returns of the kind the run trained on):

- the last iteration's P policies (stored one iteration ago, so they ran under nearly these statistics: the clean
  comparison): how well one episode ranks them (correlation of stored return and fresh mean), what the highest of
  them really earns, and the best fresh mean among them;
- the buffer's ``--top`` highest returns, the run's records (stored long ago, under older statistics: their fresh
  means mix luck with that drift).

Writes ``bench/results/analysis/lucky_records_<task>.{json,md,png}`` (or ``--name``).
"""

from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import numpy as np
import torch
import tyro

from bench.common import RESULTS, machine, measure_runs, table, write_report
from fastgen import runtime
from fastgen import trained as trained_run
from fastgen.poligen import settings as poligen_settings
from fastgen.sweep import achieved_returns


@dataclass
class Options:
    run_dirs: tyro.conf.Positional[tuple[str, ...]]
    """PoliGen run directories with a checkpoint, all of one task."""
    episodes: int = 10
    """Fresh episodes per policy."""
    top: int = 8
    """The buffer's highest returns to re-run."""
    seed: int = 0
    """Seed of the fresh episodes' starts."""
    name: str | None = None
    """Output name (default: lucky_records_<task>)."""
    out: str = str(RESULTS / "analysis")
    """Directory of the JSON, table and plot."""

    def validate(self) -> None:
        if self.episodes < 1 or self.top < 1:
            raise ValueError(f"--episodes and --top must be >= 1, got {self.episodes} and {self.top}")


def held_returns(run_dir: Path) -> torch.Tensor:
    """The replay buffer's returns at the last checkpoint, oldest first ``[n]`` (params not read: chunks are mmapped)."""
    return torch.cat([returns for _, returns in trained_run.buffer_chunks(run_dir)])


def held_params(run_dir: Path, rows: torch.Tensor) -> torch.Tensor:
    """The params ``[len(rows), D]`` of the buffer's entries ``rows`` (indices into ``held_returns``), read chunk by
    chunk: a full hopper buffer is 2.8 GB, and only these rows are needed."""
    picked, first = None, 0
    for params, _ in trained_run.buffer_chunks(run_dir):
        inside = (rows >= first) & (rows < first + len(params))
        picked = params.new_empty(len(rows), params.shape[1]) if picked is None else picked
        picked[inside] = params[rows[inside] - first]
        first += len(params)
    return picked


def measure_run(run_dir: Path, options: Options, key: jax.Array) -> dict:
    """One run's row: the last iteration's and the records' stored returns against their fresh means."""
    run = trained_run.load(run_dir)
    population = poligen_settings.population(run.cfg)
    stored = held_returns(run_dir)
    last = torch.arange(len(stored) - population, len(stored))
    top = torch.topk(stored, min(options.top, len(stored))).indices
    fresh_last = achieved_returns(run, held_params(run_dir, last), options.episodes, "cpu", key).mean(1)  # [P]
    fresh_top = achieved_returns(run, held_params(run_dir, top), options.episodes, "cpu", key).mean(1)  # [top]
    last_stored = stored[last].numpy().astype(np.float64)
    highest = int(np.argmax(last_stored))
    return {"run": str(run_dir), "seed": run.cfg.seed, "env_steps": run.env_steps, "record": run.best_return,
            "population": population,
            "last_stored_mean": float(last_stored.mean()), "last_fresh_mean": float(fresh_last.mean()),
            "last_correlation": float(np.corrcoef(last_stored, fresh_last)[0, 1]),
            "last_highest_stored": float(last_stored[highest]), "last_highest_fresh": float(fresh_last[highest]),
            "last_best_fresh": float(fresh_last.max()), "record_minus_best_fresh": run.best_return - float(fresh_last.max()),
            "top_stored": stored[top].tolist(), "top_fresh": fresh_top.tolist(),
            "last_stored": last_stored.tolist(), "last_fresh": fresh_last.tolist()}


def measure(options: Options) -> dict:
    options.validate()
    key = jax.random.key(options.seed)
    task, rows = measure_runs(options.run_dirs, lambda run_dir: measure_run(run_dir, options, key), COLUMNS)
    return {"benchmark": "lucky_records", "task": task, "machine": machine(), "settings": asdict(options), "rows": rows}


COLUMNS = ["seed", "env_steps", "record", "last_stored_mean", "last_fresh_mean", "last_correlation",
           "last_highest_stored", "last_highest_fresh", "last_best_fresh", "record_minus_best_fresh"]


def top_table(rows: list[dict]) -> str:
    """Each run's records: stored return -> fresh mean."""
    lines = []
    for r in rows:
        pairs = ", ".join(f"{s:.0f} -> {f:.0f}" for s, f in zip(r["top_stored"], r["top_fresh"]))
        lines.append(f"seed {r['seed']}, {r['env_steps'] / 1e3:.0f}k env steps: {pairs}")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    fig, axes = plt.subplots(1, len(rows), figsize=(3.4 * len(rows), 3.4), squeeze=False)
    for ax, r in zip(axes[0], rows):
        ax.plot(r["last_stored"], r["last_fresh"], "o", ms=3, label="last iteration")
        ax.plot(r["top_stored"], r["top_fresh"], "x", label=f"{len(r['top_stored'])} highest in the buffer")
        high = max(max(r["top_stored"]), max(r["last_fresh"]), r["record"])
        low = min(min(r["last_stored"]), min(r["last_fresh"]))
        ax.plot([low, high], [low, high], "k:", lw=0.8, label="fresh = stored")
        ax.axvline(r["record"], color="r", lw=0.8, label="record (best so far)")
        ax.set_title(f"seed {r['seed']}, {r['env_steps'] / 1e3:.0f}k env steps", fontsize=8)
        ax.set_xlabel("stored return (one episode)", fontsize=8)
    axes[0][0].set_ylabel(f"mean of {result['settings']['episodes']} fresh episodes", fontsize=8)
    axes[0][0].legend(fontsize=6)
    fig.suptitle(f"{result['task']}: what the stored returns are worth", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    options = tyro.cli(Options, args=argv)
    runtime.configure(1)  # one core: it runs beside training
    result = measure(options)
    out = Path(options.out)
    name = options.name or f"lucky_records_{result['task']}"
    write_report(out, name, result,
                 f"{options.episodes} fresh episodes per policy.\n\n```\n{table(result['rows'], COLUMNS)}\n```\n\n"
                 f"The buffer's highest returns, stored -> fresh mean:\n\n```\n{top_table(result['rows'])}\n```\n",
                 {"": plot})
    print(table(result["rows"], COLUMNS))
    return result


if __name__ == "__main__":
    main()
