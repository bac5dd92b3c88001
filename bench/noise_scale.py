"""How often a population beats its own generator, by exploration noise: ``python -m bench.noise_scale RUN_DIR ...``

    python -m bench.noise_scale /work/runs/s11/hopper-...-seed0 --snapshots 1 4 10 --noise 0.1 0.05 0.025

PoliGen explores with ``theta = G(c) + sigma eps`` (the paper: sigma = 0.1 per weight of the flat policy vector)
and learns from the returns those policies earn; "best so far", and so every command, is the highest of them. On
hopper at P = 64 the population's mean return stays far below what G(c) earns itself (docs/results/populations.md),
so the question is how much of a population beats its centre at each sigma. For generator snapshots of PoliGen
runs (``--generator.snapshots``) this draws one iteration's P policies as the run would (commands
``best + drive x u_i``, u_i evenly spaced over ``[1 - spread, 1 + spread]``, the snapshot's best return and
observation statistics) at several noise scales, with the same eps for every scale, and runs one episode of each
and of its noise-free centre ``G(c_i)`` from the same start (same reset key), with each noise layout
(``--generator.noise-layout``: flat, sigma on every weight; fan-in, sigma x the generator's output scaling
2 / sqrt(fan-in) of the weight's layer, the size of the generated weights themselves: hopper's hidden layers
sigma / 8). Returns are the kind the run trained on (hopper: bonus-free).

Per (run, snapshot, noise): the centres' mean return, the noisy policies' mean, 90th percentile, second highest
and highest, and the share that beat their own centre from the same start. With ``--final``, each run's final
checkpoint too, with what its evaluator predicts: the mean of V(theta) - return over the centres and over the
noisy policies (the evaluator learns only from noisy ones; does it rate the generator's own policies as well?). Writes
``bench/results/analysis/noise_scale_<task>.{json,md,png}`` (or ``--name``).
"""

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import numpy as np
import torch
import tyro

from bench.common import RESULTS, machine, table, write_report
from fastgen import runtime
from fastgen import trained as trained_run
from fastgen.poligen import settings as poligen_settings
from fastgen.poligen import snapshots
from fastgen.poligen.generator import NOISE_LAYOUTS, WEIGHT_LAYOUTS, population_std
from fastgen.sweep import achieved_returns


@dataclass
class Options:
    run_dirs: tyro.conf.Positional[tuple[str, ...]]
    """PoliGen run directories with generator snapshots, all of one task."""
    snapshots: tuple[int, ...] = (1, 4, 10)
    """Snapshot numbers k (snapshots/<k>.pt) to measure; a run without one of them is skipped for it."""
    noise: tuple[float, ...] = (0.1, 0.05, 0.025)
    """Noise scales sigma per weight."""
    layouts: tuple[str, ...] = WEIGHT_LAYOUTS
    """Noise layouts (--generator.noise-layout): flat (sigma per weight) and fan-in (sigma x 2 / sqrt(fan-in)) by
    default; mixed (alternate pairs of the population flat and fan-in) on request."""
    population: int = 64
    """Policies per iteration P."""
    final: bool = False
    """Measure each run's final checkpoint as well (snapshot "final"), with its evaluator's predictions: how far
    V(theta) lies above the true return for the centres and for the noisy policies (snapshots keep no evaluator)."""
    seed: int = 0
    """Seed of eps and of the episodes' starts."""
    name: str | None = None
    """Output name (default: noise_scale_<task>)."""
    out: str = str(RESULTS / "analysis")
    """Directory of the JSON, table and plot."""

    def validate(self) -> None:
        if not self.snapshots and not self.final:
            raise ValueError("nothing to measure: give --snapshots K ... or --final")
        if self.population < 2:
            raise ValueError(f"--population must be >= 2 (the second highest is reported), got {self.population}")
        if not self.layouts or set(self.layouts) - set(NOISE_LAYOUTS):
            raise ValueError(f"--layouts must be one or more of {', '.join(NOISE_LAYOUTS)}, got {self.layouts}")
        if not self.noise or any(not (math.isfinite(s) and s > 0) for s in self.noise):
            raise ValueError(f"--noise must be one or more scales > 0, got {self.noise}")


def population_commands(best: float, drive: float, spread: float, population: int) -> np.ndarray:
    """``best + drive x u_i``, u_i evenly spaced over ``[1 - spread, 1 + spread]`` ``[P]``, as training asks."""
    return best + drive * (1.0 + spread * np.linspace(-1.0, 1.0, population))


def summarise(centre: np.ndarray, noisy: np.ndarray) -> dict:
    """Returns of the centres ``[P]`` and of the noisy policies ``[P]`` (same starts) -> the table's numbers."""
    ranked = np.sort(noisy)
    return {"centre_mean": float(centre.mean()), "noisy_mean": float(noisy.mean()),
            "noisy_p90": float(np.percentile(noisy, 90)), "noisy_second": float(ranked[-2]),
            "noisy_max": float(ranked[-1]), "beats_centre": float((noisy > centre).mean())}


def overrated(run: trained_run.Trained, params: torch.Tensor, returns: np.ndarray) -> float:
    """Mean of V(theta) - the true return over the policies ``params [N, D]`` with returns ``[N]``."""
    with torch.no_grad():
        return float((run.evaluator(params).numpy() - returns).mean())


def measure_snapshot(run: trained_run.Trained, options: Options, key: jax.Array, evaluator: bool = False) -> list[dict]:
    """Every noise row of one snapshot (its generator and statistics already in ``run``); ``evaluator``: ``run``'s
    evaluator is of the same moment, and its over-rating of centres and noisy policies is added."""
    cfg = run.cfg
    best = run.best_return if run.best_return is not None else cfg.command.first
    commands = population_commands(best, cfg.command.drive, poligen_settings.command_spread(cfg), options.population)
    centre_params = run.policies(commands)
    eps = torch.randn(centre_params.shape, generator=torch.Generator().manual_seed(options.seed))
    centre = achieved_returns(run, centre_params, 1, "cpu", key)[:, 0]
    rows = []
    for sigma in options.noise:
        for layout in options.layouts:
            noise = population_std(run.spec, sigma, layout, len(eps)) * eps
            noisy = achieved_returns(run, centre_params + noise, 1, "cpu", key)[:, 0]
            rows.append({"sigma": sigma, "layout": layout, "noise_rms": float(noise.pow(2).mean().sqrt()),
                         **summarise(centre, noisy)})
            if evaluator:
                rows[-1].update(centre_overrated=overrated(run, centre_params, centre),
                                noisy_overrated=overrated(run, centre_params + noise, noisy))
    return rows


def measure(options: Options) -> dict:
    options.validate()
    key = jax.random.key(options.seed)
    rows, task = [], None
    for run_dir in options.run_dirs:
        final = trained_run.load(Path(run_dir))
        task = task or final.cfg.env
        if final.cfg.env != task:
            raise ValueError(f"{run_dir} trained {final.cfg.env}, the runs before it {task}: one task per table")
        kept = {s["k"]: s for s in snapshots.load_all(Path(run_dir))}
        moments = [(k, kept.get(k)) for k in options.snapshots] + ([("final", None)] if options.final else [])
        for k, snapshot in moments:
            if k != "final" and snapshot is None:
                print(f"{run_dir}: no snapshot {k} (has {sorted(kept)}), skipped")
                continue
            run = final if k == "final" else final.with_snapshot(snapshot)
            for row in measure_snapshot(run, options, key, evaluator=k == "final"):
                rows.append({"run": str(run_dir), "seed": final.cfg.seed, "snapshot": k,
                             "env_steps": run.env_steps, "best_return": run.best_return, **row})
                print(table([rows[-1]], COLUMNS), flush=True)
    return {"benchmark": "noise_scale", "task": task, "machine": machine(),
            "settings": asdict(options), "rows": rows, "summary": summary(rows)}


def summary(rows: list[dict]) -> list[dict]:
    """Per (sigma, layout), over every run and snapshot: how far the noisy policies' mean, 90th percentile,
    second highest and highest lie from their centres' mean, and the share that beat their own centre."""
    out = []
    for sigma, layout in dict.fromkeys((r["sigma"], r["layout"]) for r in rows):
        mine = [r for r in rows if (r["sigma"], r["layout"]) == (sigma, layout)]
        gap = lambda name: float(np.mean([r[name] - r["centre_mean"] for r in mine]))  # noqa: E731
        out.append({"sigma": sigma, "layout": layout, "cases": len(mine), "mean_minus_centre": gap("noisy_mean"),
                    "p90_minus_centre": gap("noisy_p90"), "second_minus_centre": gap("noisy_second"),
                    "max_minus_centre": gap("noisy_max"),
                    "beats_centre": float(np.mean([r["beats_centre"] for r in mine]))})
        rated = [r for r in mine if "centre_overrated" in r]  # final checkpoints (--final)
        if rated:
            out[-1].update(rated_cases=len(rated),
                           centre_overrated=float(np.mean([r["centre_overrated"] for r in rated])),
                           noisy_overrated=float(np.mean([r["noisy_overrated"] for r in rated])))
    return out


SUMMARY_COLUMNS = ["sigma", "layout", "cases", "mean_minus_centre", "p90_minus_centre", "second_minus_centre",
                   "max_minus_centre", "beats_centre", "rated_cases", "centre_overrated", "noisy_overrated"]
COLUMNS = ["seed", "snapshot", "env_steps", "best_return", "sigma", "layout", "noise_rms", "centre_mean",
           "noisy_mean", "noisy_p90", "noisy_second", "noisy_max", "beats_centre", "centre_overrated",
           "noisy_overrated"]


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    runs = list(dict.fromkeys(r["run"] for r in rows))
    snaps = sorted({r["snapshot"] for r in rows}, key=lambda k: (k == "final", 0 if k == "final" else k))
    fig, axes = plt.subplots(len(runs), len(snaps), figsize=(3.6 * len(snaps), 3.0 * len(runs)), squeeze=False)
    for i, run in enumerate(runs):
        for j, k in enumerate(snaps):
            ax, mine = axes[i][j], [r for r in rows if (r["run"], r["snapshot"]) == (run, k)]
            if not mine:
                ax.set_axis_off()
                continue
            x = np.arange(len(mine))
            for name, marker in (("noisy_mean", "o"), ("noisy_p90", "^"), ("noisy_max", "*")):
                ax.plot(x, [r[name] for r in mine], marker, label=name.replace("noisy_", "noisy "))
            ax.axhline(mine[0]["centre_mean"], color="k", lw=1, label="G(c) mean")
            ax.set_xticks(x, [f"{r['sigma']:g} {r['layout']}" for r in mine], rotation=60, fontsize=6)
            ax.set_title(f"{run[-40:]}\n{mine[0]['env_steps'] / 1e3:.0f}k env steps, best {mine[0]['best_return']:.0f}",
                         fontsize=7)
    axes[0][0].set_ylabel("return of one episode")
    axes[0][0].legend(fontsize=6)
    fig.suptitle(f"{result['task']}: P = {result['settings']['population']} policies G(c_i) + noise", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_evaluator(result: dict, path: Path) -> None:
    """Per final checkpoint (``--final``) and layout: the evaluator's mean over-rating of the centres G(c_i) and of
    the noisy policies around them."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["rows"] if "centre_overrated" in r]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(rows)), 4.2))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["centre_overrated"] for r in rows], 0.4, label="centres G(c_i)")
    ax.bar(x + 0.2, [r["noisy_overrated"] for r in rows], 0.4, label="G(c_i) + noise")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, [f"{r['run'][-24:]}\n{r['env_steps'] / 1e3:.0f}k, {r['sigma']:g} {r['layout']}" for r in rows],
                  rotation=70, fontsize=6)
    ax.set_ylabel("mean of V(theta) - return")
    ax.set_title(f"{result['task']}: the final evaluator's error on the generator's policies and on noisy ones",
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    options = tyro.cli(Options, args=argv)
    runtime.configure(1)  # one core: it runs beside training
    result = measure(options)
    out = Path(options.out)
    name = options.name or f"noise_scale_{result['task']}"
    plots = {"": plot, "_evaluator": plot_evaluator} if any("centre_overrated" in r for r in result["rows"]) else {
        "": plot}
    write_report(out, name, result, f"Over every run and snapshot:\n\n```\n{table(result['summary'], SUMMARY_COLUMNS)}"
                 f"\n```\n\nEach case:\n\n```\n{table(result['rows'], COLUMNS)}\n```\n", plots)
    print(table(result["summary"], SUMMARY_COLUMNS))
    return result


if __name__ == "__main__":
    main()
