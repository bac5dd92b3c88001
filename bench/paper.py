"""The paper's evaluation protocol (Table 1, Fig. 3) and its ablations (Fig. 4, 8) from full training runs.

    python -m bench.paper --tasks inverted_pendulum mountain_car --seeds 0 1 2 3 4
    python -m bench.paper --preset ablations --tasks mountain_car --seeds 0 1 2 3 4

Each (task, variant, seed) is one ``fastgen.run`` training run at the task's budget in
``<runs-dir>/<task>-<variant>-seed<seed>`` (default PoliGen: ``<task>-P<P>-seed<seed>``, the
directories ``bench.learning`` uses, so the two share runs). Finished runs are read back, killed
or time-limited ones resumed: a sweep stopped half way continues where it was.

Per task and variant: final return = ``rundir.final_return`` (the mean of the evaluations in the
last 20 x eval-every env steps of the budget: a P = 1 run's last 20), mean +- std over seeds,
beside the paper's Table 1 where it has one; learning curves of evaluation return against env
steps and against training wall-clock, the mean over seeds with a 95% bootstrap confidence
interval (seeds resampled), drawn where every seed's run got that far. Writes
``bench/results/reproduction/paper_<preset>_<tasks>.{json,md}`` and ``..._<task>.png``.

Variants: ``poligen`` (the paper's schedule, ``--schedule paper``: P = 1, 5 + 20 updates per
episode, whatever fastgen's per-task defaults), ``ars``, ``ddpg``, ``udrl`` (preset ``table1``);
``poligen-default`` (fastgen's per-task default P and update scaling, bench/results/populations/populations.md);
the ablations ``poligen-no-output-scaling`` (Fig. 4), ``poligen-uniform-buffer`` (Fig. 4: no recency
weighting) and ``poligen-drive-0`` (Fig. 8: command = best return, no drive), each on the paper's
schedule, beside ``poligen`` (preset ``ablations``); ``poligen-bfloat16``: the paper's schedule with the
updates' matrix products in bfloat16 (``--precision bfloat16``), beside ``poligen`` in preset ``bfloat16``:
the learning check of that option.

Jobs and Ray: a job is one (task, variant) and a group of its seeds (``--seeds-per-job``, default all
of them), done by ``run_group``. Without ``--ray`` the jobs run here one after another; with
``--ray local`` (a local Ray cluster) or ``--ray auto`` / ``--ray ray://host:10001`` (a running one)
each job is a Ray task reserving ``--ray-cpus-per-job`` CPUs (bench.cluster). A job writes only its
own run directories, so ``--runs-dir`` must be on a filesystem every Ray node shares (it is made
absolute for the workers), and every node needs this repository installed (``pip install -e .``).
A job that fails is reported in one line and the others' results still go into the table; the
sweep then exits non-zero, and running it again retries only what is not done.

Run directories lost with a machine: ``--carry-over bench/results/reproduction/paper_<...>.json`` takes the runs an
earlier report holds for (task, variant, seed)s that have no run directory here (a run directory here,
however short, wins), and the table lists them as carried. Carried runs cannot be resumed.
"""

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro

from bench.cluster import run_jobs
from bench.common import RESULTS, machine, table, write_json
from bench.learning import PAPER, ensure_run, needs_training, to_continue, until_signal
from envs.tasks import TASKS
from fastgen import algorithms, extras, report, runtime
from fastgen.config import Config
from fastgen.run import train_batch
from fastgen.runs.rundir import final_return

# variant -> (algo, config changes as "field" or "section.field": value). PoliGen's Table 1 row and its
# ablations use the paper's schedule (P = 1, 5 + 20 updates per episode) whatever the per-task defaults;
# poligen-default is fastgen's default (P and update scaling per task, bench/results/populations/populations.md).
VARIANTS = {
    "poligen": ("poligen", {"schedule": "paper"}),
    "poligen-default": ("poligen", {}),
    "ars": ("ars", {}),
    "ddpg": ("ddpg", {}),
    "udrl": ("udrl", {}),
    "poligen-no-output-scaling": ("poligen", {"schedule": "paper", "generator.output_scaling": False}),
    "poligen-uniform-buffer": ("poligen", {"schedule": "paper", "buffer.recency_power": 0.0}),
    "poligen-drive-0": ("poligen", {"schedule": "paper", "command.drive": 0.0}),
    "poligen-bfloat16": ("poligen", {"schedule": "paper", "precision": "bfloat16"}),
}
PRESETS = {"table1": algorithms.NAMES,  # the paper's four algorithms, fastgen's registry
           "ablations": ("poligen", "poligen-no-output-scaling", "poligen-uniform-buffer", "poligen-drive-0"),
           "bfloat16": ("poligen", "poligen-bfloat16")}


@dataclass
class Settings:
    preset: str = "table1"
    """table1 (PoliGen and the three baselines), ablations (PoliGen and its three ablations) or bfloat16 (PoliGen
    in float32 and with --precision bfloat16)."""
    variants: tuple[str, ...] = ()
    """Variants to run instead of the preset's (see VARIANTS)."""
    tasks: tuple[str, ...] = ("inverted_pendulum", "mountain_car")
    """Tasks (budgets: 3M hopper/swimmer, 100k inverted_pendulum/mountain_car)."""
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Seeds per (task, variant); the paper used 20."""
    total_steps: int | None = None
    """Env-step budget per run (default: the task's)."""
    time_limit: float | None = None
    """Training wall-clock seconds per run before it stops (unfinished, resumed by a later sweep)."""
    runs_dir: str = "runs/learning"
    """Where the run directories live (shared with bench.learning)."""
    bootstrap: int = 2000
    """Bootstrap resamples for the 95% confidence intervals."""
    only_existing: bool = False
    """Train nothing: report the runs that already have a summary.json (read here, even with --ray)."""
    seeds_per_job: int | None = None
    """Seeds per job, the unit handed to Ray: each (task, variant)'s seeds cut into groups of this many
    (default: all in one job)."""
    ray: str | None = None
    """Run the jobs on Ray: "local" starts a local cluster, anything else is ray.init's address
    ("auto" for the cluster `ray start` began, "ray://host:10001"). Default: in this process."""
    threads: int | None = None
    """Threads of the cpu engine in each run (default: all cores; with --ray, --ray-cpus-per-job)."""
    ray_cpus_per_job: float = 1.0
    """With --ray: CPUs each job reserves, and the torch and cpu-engine threads it trains with (at least 1)."""
    ray_gpus_per_job: float = 0.0
    """With --ray: GPUs each job reserves, a fraction to share one (e.g. 0.25: four jobs per GPU;
    JAX then must not preallocate, which fastgen arranges); 0 trains on the CPU."""
    results_dir: str = str(RESULTS / "reproduction")
    """Where the table, JSON and PNGs go."""
    report: bool = False
    """Also write every run's report.html (fastgen.report) and an index page linking them:
    <runs-dir>/index.html."""
    carry_over: str | None = None
    """An earlier report's JSON (``paper_*.json``): the runs it holds that this report asks for but finds no
    run directory of are taken from it, marked as carried (a machine that lost its run directories keeps
    their results)."""

    def validate(self) -> None:
        if self.preset not in PRESETS:
            raise SystemExit(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        for variant in self.variants:
            if variant not in VARIANTS:
                raise SystemExit(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
        for task in self.tasks:
            if task not in TASKS:
                raise SystemExit(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
        if not self.seeds or self.bootstrap < 1:
            raise SystemExit(f"need at least one seed and one bootstrap resample, got {self.seeds}, {self.bootstrap}")
        if self.seeds_per_job is not None and self.seeds_per_job < 1:
            raise SystemExit(f"--seeds-per-job must be >= 1, got {self.seeds_per_job}")
        if self.ray_cpus_per_job <= 0:
            raise SystemExit(f"--ray-cpus-per-job must be > 0, got {self.ray_cpus_per_job}")
        if self.ray_gpus_per_job < 0:
            raise SystemExit(f"--ray-gpus-per-job must be >= 0, got {self.ray_gpus_per_job}")
        if self.carry_over is not None and not Path(self.carry_over).is_file():
            raise SystemExit(f"--carry-over {self.carry_over!r} is not a file; give an earlier report's paper_*.json")

    @property
    def chosen(self) -> tuple[str, ...]:
        return self.variants or PRESETS[self.preset]


def make_config(task: str, variant: str, seed: int, settings: Settings) -> Config:
    algo, changes = VARIANTS[variant]
    cfg = Config(algo=algo, env=task, seed=seed, total_steps=settings.total_steps, time_limit=settings.time_limit)
    for name, value in changes.items():
        if "." not in name:
            cfg = dataclasses.replace(cfg, **{name: value})
            continue
        section, field = name.split(".")
        cfg = dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), **{field: value})})
    name = f"{task}-P{cfg.population}-seed{seed}" if variant == "poligen" else f"{task}-{variant}-seed{seed}"
    return dataclasses.replace(cfg, out=str(Path(settings.runs_dir) / name))


def jobs(settings: Settings) -> list[tuple[str, str, list[Config]]]:
    """The sweep's jobs in table order: (task, variant, configs of one group of its seeds)."""
    size = settings.seeds_per_job or len(settings.seeds)
    return [(task, variant, [make_config(task, variant, seed, settings) for seed in settings.seeds[i:i + size]])
            for task in settings.tasks for variant in settings.chosen for i in range(0, len(settings.seeds), size)]


def run_group(configs: list[Config]) -> list[dict]:
    """One job's work: train (or resume, or read back when done) each config's run in its ``out``
    -> per config, in order, ``{"seed", "run_dir", "budget", "summary": summary.json,
    "curve": [{env_steps, wall_s, eval/return}, ...]}``.

    The configs are one (task, variant)'s seeds, identical but for ``seed`` and ``out``. PoliGen seeds
    that need training are trained together as one batch (``fastgen.run.train_batch``), the
    baselines one after another. A job whose runs are all finished returns at once. Runs where Ray
    sends it, so it writes nothing but the configs' run directories."""
    pending = [to_continue(cfg) for cfg in configs if needs_training(cfg)]
    if len(pending) > 1 and pending[0].algo == "poligen":
        until_signal(lambda stop: train_batch(pending, stop), ", ".join(cfg.out for cfg in pending))
    return [run_record(cfg, train_if_needed=True) for cfg in configs]


def run_record(cfg: Config, train_if_needed: bool) -> dict:
    """``ensure_run(cfg)`` with the run's seed, directory and budget (see ``run_group``)."""
    return {"seed": cfg.seed, "run_dir": cfg.out, "budget": cfg.budget, **ensure_run(cfg, train_if_needed)}


def carried_runs(path: str, wanted: list[tuple[str, str, int]], present: list[dict]) -> list[dict]:
    """The runs of the report at ``path`` whose (task, variant, seed) is in ``wanted`` but not in ``present``,
    each with ``carried_from: path``."""
    report = json.loads(Path(path).read_text())
    if report.get("benchmark") != "paper":
        raise SystemExit(f"--carry-over {path!r} is not a bench.paper report (its benchmark is "
                         f"{report.get('benchmark')!r})")
    have = {(r["task"], r["variant"], r["seed"]) for r in present}
    carried = [{**run, "carried_from": str(path)} for run in report["runs"]
               if (run["task"], run["variant"], run["seed"]) in set(wanted) - have]
    for run in carried:  # reports written before runs stored their final return: computed as run_record does
        if "final_return" not in run:
            eval_every = TASKS[run["task"]].spec.eval_every
            run["final_return"], run["final_evaluations"] = final_return(run["curve"], run["budget"], eval_every)
    return carried


def bootstrap_mean_ci(values: np.ndarray, resamples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """95% interval of the mean over seeds: ``values [seeds, points]`` -> (low ``[points]``, high ``[points]``)."""
    picks = rng.integers(0, values.shape[0], (resamples, values.shape[0]))
    means = values[picks].mean(axis=1)  # [resamples, points]
    return np.percentile(means, 2.5, axis=0), np.percentile(means, 97.5, axis=0)


def curves(runs: list[dict], key: str, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Evaluation return of each run on a common ``key`` grid: (grid ``[points]``, returns ``[runs, points]``),
    nan past a run's last evaluation."""
    grid = np.linspace(0, max(row[key] for r in runs for row in r["curve"]), points)
    values = np.array([np.interp(grid, [row[key] for row in r["curve"]], [row["eval/return"] for row in r["curve"]],
                                 right=np.nan) for r in runs])
    return grid, values


def paper_number(task: str, variant: str) -> tuple[float, float] | None:
    text = PAPER.get(task, {}).get(variant)
    if text is None:
        return None
    mean, std = text.split("+-")
    return float(mean), float(std)


def aggregate(task: str, variant: str, runs: list[dict], resamples: int) -> dict:
    """One table row: final return over seeds (mean, std, 95% bootstrap CI of the mean), the env steps
    the runs reached, the paper's number beside it."""
    finals = np.array([r["final_return"] for r in runs])
    low, high = bootstrap_mean_ci(finals[:, None], resamples, np.random.default_rng(0))
    reached = [r["summary"]["env_steps"] for r in runs]
    paper = paper_number(task, variant)
    return {"task": task, "variant": variant, "seeds": len(runs), "seed_list": [r["seed"] for r in runs],
            "budget": runs[0]["budget"], "final_mean": float(finals.mean()), "final_std": float(finals.std()),
            "final_ci_low": float(low[0]), "final_ci_high": float(high[0]),
            "env_steps_min": int(min(reached)), "env_steps_max": int(max(reached)),
            "paper_mean": paper[0] if paper else None, "paper_std": paper[1] if paper else None,
            "vs_paper": float(finals.mean() - paper[0]) if paper else None,
            "best_eval_mean": float(np.mean([r["summary"]["max_eval_return"] for r in runs])),
            "finished": f"{sum(r['summary'].get('finished', True) for r in runs)}/{len(runs)}",
            "carried_seeds": [r["seed"] for r in runs if "carried_from" in r],
            "wall_s_per_run": float(np.mean([r["summary"]["wall_s"] for r in runs]))}


def plot(task: str, groups: dict[str, list[dict]], settings: Settings, path: Path) -> None:
    plt = extras.pyplot("bench.paper")
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4 + 0.2 * len(groups)))
    for variant, runs in groups.items():
        for ax, key in zip(axes, ("env_steps", "wall_s")):
            grid, values = curves(runs, key)
            everyone = ~np.isnan(values).any(axis=0)
            low, high = bootstrap_mean_ci(values[:, everyone], settings.bootstrap, rng)
            line, = ax.plot(grid[everyone], values[:, everyone].mean(axis=0), label=f"{variant} ({len(runs)} seeds)")
            ax.fill_between(grid[everyone], low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    for ax, label in zip(axes, ("env steps", "training wall-clock seconds (log)")):
        ax.set_xlabel(label)
        ax.set_ylabel("evaluation return")
    axes[1].set_xscale("symlog", linthresh=10)
    handles, labels = axes[0].get_legend_handles_labels()  # below both panels: variant names can be long
    fig.legend(handles, labels, loc="lower center", fontsize=8, frameon=False)
    fig.suptitle(f"{task}: mean over seeds, 95% bootstrap CI (shaded), where every seed's run got that far")
    fig.tight_layout(rect=(0, 0.05 * len(labels) / (1 + 0.05 * len(groups)), 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _num(value: float) -> str:
    return f"{value:.1f}" if abs(value) >= 1 else f"{value:.2g}"


def _steps(value: int) -> str:
    return f"{value / 1e6:.2f}M" if value >= 100_000 else f"{value / 1e3:.0f}k"


def markdown(rows: list[dict]) -> str:
    lines = ["| task | algorithm | seeds | env steps reached (budget) | final return (ours) | 95% CI | paper (20 seeds) "
             "| ours - paper | best evaluation | finished | wall-clock per run |", "|" + "---|" * 11]
    for r in rows:
        paper = f"{r['paper_mean']:g} +- {r['paper_std']:g}" if r["paper_mean"] is not None else "-"
        diff = f"{r['vs_paper']:+.1f}" if r["vs_paper"] is not None else "-"
        reached = _steps(r["env_steps_min"]) if r["env_steps_min"] == r["env_steps_max"] else \
            f"{_steps(r['env_steps_min'])}-{_steps(r['env_steps_max'])}"
        seeds = ",".join(str(s) for s in r["seed_list"])
        lines.append(f"| {r['task']} | {r['variant']} | {r['seeds']} ({seeds}) | {reached} ({_steps(r['budget'])}) "
                     f"| {_num(r['final_mean'])} +- {_num(r['final_std'])} | [{_num(r['final_ci_low'])}, "
                     f"{_num(r['final_ci_high'])}] | {paper} | {diff} | {_num(r['best_eval_mean'])} | {r['finished']} "
                     f"| {r['wall_s_per_run']:.0f} s |")
    return "\n".join(lines) + "\n"


def carried_note(rows: list[dict], path: str | None) -> str:
    lines = [f"- {r['task']} {r['variant']}: seeds {', '.join(map(str, r['carried_seeds']))}"
             for r in rows if r["carried_seeds"]]
    return f"\nCarried over from {path} (run directories not on this machine):\n" + "\n".join(lines) + "\n" \
        if lines else ""


def main(settings: Settings) -> dict:
    settings.validate()
    if settings.ray is not None:  # Ray workers may start elsewhere than this process's directory
        settings = dataclasses.replace(settings, runs_dir=str(Path(settings.runs_dir).resolve()))
    todo = jobs(settings)
    threads = settings.threads
    if threads is None and settings.ray is not None:  # as many as the CPUs Ray reserved for the job
        threads = max(1, math.floor(settings.ray_cpus_per_job))
    todo = [(task, variant, [dataclasses.replace(c, threads=threads) for c in configs]) for task, variant, configs in todo]
    if settings.only_existing:  # reading summaries is no job for Ray
        outputs = [[run_record(cfg, train_if_needed=False) for cfg in configs
                    if (Path(cfg.out) / "summary.json").exists()] for _, _, configs in todo]
        failures = []
    else:
        labels = [f"{task} {variant} seeds {' '.join(str(cfg.seed) for cfg in configs)}"
                  for task, variant, configs in todo]
        outputs, failures = run_jobs(run_group, [configs for _, _, configs in todo], labels, settings.ray,
                                     settings.ray_cpus_per_job, settings.ray_gpus_per_job)
    runs = [{"task": task, "variant": variant, **run} for (task, variant, _), output in zip(todo, outputs)
            for run in output or []]  # a failed job's output is None
    if settings.carry_over:
        wanted = [(task, variant, cfg.seed) for task, variant, configs in todo for cfg in configs]
        runs = sorted(runs + carried_runs(settings.carry_over, wanted, runs),
                      key=lambda r: (settings.tasks.index(r["task"]), settings.chosen.index(r["variant"]), r["seed"]))
    results = Path(settings.results_dir)
    results.mkdir(parents=True, exist_ok=True)
    name = f"paper_{settings.preset if not settings.variants else 'custom'}_{'_'.join(settings.tasks)}"
    rows = []
    for task in settings.tasks:
        groups = {v: [r for r in runs if r["task"] == task and r["variant"] == v] for v in settings.chosen}
        groups = {v: g for v, g in groups.items() if g}
        rows += [aggregate(task, v, g, settings.bootstrap) for v, g in groups.items()]
        if groups:
            plot(task, groups, settings, results / f"{name}_{task}.png")
    if rows:
        print(table(rows, ["task", "variant", "seeds", "env_steps_min", "final_mean", "final_std", "final_ci_low",
                           "final_ci_high", "paper_mean", "paper_std", "vs_paper", "finished", "wall_s_per_run"]))
    where = machine()
    (results / f"{name}.md").write_text(f"Machine of this report: {where['cpu']}, {where['cores']} cores (each run's own "
                                        "machine is in its notes). Final return: mean of the evaluations in the last 20 x "
                                        "eval-every env steps a run reached; mean +- std over seeds, 95% bootstrap CI of "
                                        "the mean.\n\n" + markdown(rows) + carried_note(rows, settings.carry_over))
    payload = {"benchmark": "paper", "machine": where, "settings": dataclasses.asdict(settings), "table": rows,
               "runs": runs, "failures": failures}
    path = write_json(f"{name}.json", payload, results)
    print(f"wrote {path} and {name}.md")
    if settings.report:
        pages = [(f"{task} {variant} seed {cfg.seed}", report.write(Path(cfg.out))) for task, variant, configs in todo
                 for cfg in configs if (Path(cfg.out) / "config.json").exists()]
        print(f"wrote {report.index(pages, Path(settings.runs_dir) / 'index.html', f'bench.paper: {name}')}")
    if failures:
        raise SystemExit(f"{len(failures)} of {len(todo)} jobs failed ({'; '.join(f['job'] for f in failures)}); "
                         f"the table has the rest. Run the sweep again to retry them: finished runs are kept.")
    return payload


if __name__ == "__main__":
    settings = tyro.cli(Settings)
    runtime.configure(settings.threads)
    main(settings)
