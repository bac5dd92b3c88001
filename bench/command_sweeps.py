"""How well generators follow low commands, compared across settings: ``python -m bench.command_sweeps``

    python -m bench.command_sweeps archive=runs/a/sweep.json archive=runs/b/sweep.json p1=runs/c/sweep.json \\
        --band 20 150 --name command_sweeps_swimmer

Reads ``fastgen.sweep`` results (one per trained run, labelled ``LABEL=PATH``; several paths under one label are
its seeds) and measures, per sweep, how the generator answers the commands in ``--band`` (swimmer's 20-150: where
the paper's schedule at 3M answered every command with a policy earning -37 to -6, docs/results/reproduction.md):
the band's mean absolute error, mean signed error (achieved - command) and Spearman rank correlation, beside the
sweep's own Spearman and error over the buffer's achievable range. Per label: mean +- std over its sweeps.
Writes ``bench/results/analysis/<name>.{json,md,png}`` (the PNG: achieved against commanded return, one panel per
label, one line per sweep).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro

from bench.common import RESULTS, machine, table, write_json
from fastgen.sweep import follow_metrics


@dataclass
class Options:
    sweeps: tyro.conf.Positional[tuple[str, ...]]
    """LABEL=PATH of a fastgen.sweep JSON, one per sweep; repeat a label for each of its seeds."""
    band: tuple[float, float] = (20.0, 150.0)
    """Lowest and highest command of the band measured."""
    name: str = "command_sweeps"
    """Output name (bench/results/analysis/<name>.{json,md,png})."""
    out: str = str(RESULTS / "analysis")
    """Directory of the JSON, table and plot."""

    def labelled(self) -> list[tuple[str, Path]]:
        """``[(label, path)]``, one line errors for what is not ``LABEL=PATH`` of an existing file or an empty band."""
        low, high = self.band
        if not high > low:
            raise ValueError(f"--band must be LOW HIGH with HIGH > LOW, got {low} {high}")
        pairs = []
        for item in self.sweeps:
            label, sep, path = item.partition("=")
            if not sep or not label or not path:
                raise ValueError(f"a sweep must be LABEL=PATH (a fastgen.sweep JSON), got {item!r}")
            if not Path(path).is_file():
                raise ValueError(f"no sweep JSON at {path!r} (label {label!r})")
            pairs.append((label, Path(path)))
        return pairs


def band_metrics(commands: np.ndarray, achieved: np.ndarray, low: float, high: float) -> dict:
    """Over the commands in ``[low, high]``: their number, mean absolute error and Spearman rank correlation of
    command and achieved return (``fastgen.sweep.follow_metrics``), and mean signed error (achieved - command)."""
    inside = (commands >= low) & (commands <= high)
    if not inside.any():
        raise ValueError(f"no command of the sweep lies in the band [{low}, {high}]")
    follow = follow_metrics(commands, achieved, low, high)
    return {"band_commands": follow["achievable_commands"], "band_mae": follow["mean_abs_error"],
            "band_signed_error": float((achieved[inside] - commands[inside]).mean()),
            "band_spearman": follow["spearman"]}


def measure_sweep(label: str, path: Path, band: tuple[float, float]) -> dict:
    sweep = json.loads(path.read_text())
    commands, achieved = np.asarray(sweep["commands"], float), np.asarray(sweep["achieved_mean"], float)
    return {"label": label, "sweep": str(path), "run_dir": sweep["run_dir"], "env": sweep["env"],
            "env_steps": sweep["env_steps"], **band_metrics(commands, achieved, *band),
            "spearman": sweep["spearman"], "mae": sweep["mean_abs_error"],
            "achievable_commands": sweep["achievable_commands"],
            "commands": commands.tolist(), "achieved": achieved.tolist()}


SUMMED = ("band_mae", "band_signed_error", "band_spearman", "spearman", "mae")


def summary(rows: list[dict]) -> list[dict]:
    """Per label (in the order first seen): the number of sweeps and mean +- std of each metric in ``SUMMED``
    over the sweeps where it is defined ("nan" where it is on none)."""
    out = []
    for label in dict.fromkeys(r["label"] for r in rows):
        mine = [r for r in rows if r["label"] == label]
        entry = {"label": label, "sweeps": len(mine)}
        for metric in SUMMED:
            values = np.array([r[metric] for r in mine], float)
            values = values[~np.isnan(values)]  # a sweep without rank order in the band has no Spearman
            entry[metric] = f"{values.mean():.2f} +- {values.std():.2f}" if len(values) else "nan"
        out.append(entry)
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [s["label"] for s in result["summary"]]
    fig, axes = plt.subplots(1, len(labels), figsize=(4.2 * len(labels), 4.0), squeeze=False, sharey=True)
    low, high = result["settings"]["band"]
    for ax, label in zip(axes[0], labels):
        for row in (r for r in result["rows"] if r["label"] == label):
            ax.plot(row["commands"], row["achieved"], marker=".", lw=1, label=Path(row["run_dir"]).name[-6:])
        commands = result["rows"][0]["commands"]
        ax.plot(commands, commands, color="grey", ls="--", lw=1)
        ax.axvspan(low, high, color="0.92")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("command c")
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("achieved return (mean of the sweep's episodes)")
    fig.suptitle(f"{result['rows'][0]['env']}: command against achieved return (band {low:g}-{high:g} shaded)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


COLUMNS = ["label", "sweeps", *SUMMED]
ROW_COLUMNS = ["label", "run_dir", "env_steps", "band_commands", *SUMMED]


def main(argv: list[str] | None = None) -> dict:
    options = tyro.cli(Options, args=argv)
    try:
        pairs = options.labelled()
        rows = [measure_sweep(label, path, options.band) for label, path in pairs]
    except ValueError as error:
        raise SystemExit(f"bench.command_sweeps: error: {error}")
    if len({r["env"] for r in rows}) != 1:
        raise SystemExit(f"bench.command_sweeps: error: sweeps of several tasks: {sorted({r['env'] for r in rows})}")
    result = {"benchmark": "command_sweeps", "machine": machine(),
              "settings": {"band": list(options.band)}, "summary": summary(rows), "rows": rows}
    out = Path(options.out)
    write_json(f"{options.name}.json", result, out)
    (out / f"{options.name}.md").write_text(
        f"# {options.name}\n\nCommands in the band {options.band[0]:g}-{options.band[1]:g}: mean absolute error, mean "
        f"signed error (achieved - command), Spearman; beside each sweep's Spearman and MAE over its buffer's "
        f"achievable range. Mean +- std over each label's sweeps:\n\n```\n{table(result['summary'], COLUMNS)}\n```\n\n"
        f"Each sweep:\n\n```\n{table(rows, ROW_COLUMNS)}\n```\n")
    plot(result, out / f"{options.name}.png")
    print(table(result["summary"], COLUMNS))
    return result


if __name__ == "__main__":
    main()
