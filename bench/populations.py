"""Populations that learn: PoliGen with P policies per iteration against the paper's one-episode schedule.

    python -m bench.populations --tasks mountain_car --variants P1 P64-s1-a0.5-b0 P64-s0-a0-b0 --seeds 0 1 2

A variant is ``P<P>-s<spread>-a<alpha>-b<beta>``: P policies per iteration (``--num-envs``), their
commands spread over best + drive x [1 - spread, 1 + spread] (``--command.spread``), 5 + 20 updates
per episode scaled to ``(5 + 20) x P^alpha`` per iteration (``--scaling.updates-exponent``) on
batches of ``16 x P^beta`` (``--scaling.batch-exponent``); ``P1`` is the paper's schedule
(``--schedule paper``). ``+section.field=value`` after it sets an option on top; every other option a task's
population default sets stays at the paper's value, so a name means the same run whatever the defaults are.
The buffer always weighs the P entries of one iteration equally.

Each (task, variant, seed) is one ``fastgen.run`` run in ``<runs-dir>/<task>-<variant>-seed<seed>``
(``P1``: ``<task>-P1-seed<seed>``, the directory ``bench.learning`` and ``bench.paper`` use; a name too long for a
file name keeps the variant's first 200 characters and a digest of the rest, ``run_name``), trained
alone so that its wall clock is its own; finished runs are read back, stopped ones resumed, and runs whose
directory is gone are taken from the JSON of the sweep that recorded them (``--recorded-json``).

Per (task, variant): final return (``rundir.final_return``: the evaluations in the last 20 x
eval-every env steps, the same stretch for every P) mean +- std over seeds and how many evaluations
it averaged; seeds whose evaluation return reached the bar (the paper's PoliGen mean less one std)
and the median env steps to it; wall clock per run; updates per env step (the GPU proxy: a GPU
update costs about the same at batch 16 or 64). The decision rule of issue 12: a task's default is
the cheapest variant (wall clock per run) whose final return is within one paper std of ``P1`` run
here (or the P = 1 runs of earlier JSONs given with ``--reference-json``, when P = 1 runs are too
dear to repeat; their ``source`` column names them). Writes ``bench/results/populations/<name>.{json,md}`` and
``<name>_<task>.png`` (return
against env steps and against wall clock, mean over seeds with a 95% bootstrap CI).
"""

import dataclasses
import hashlib
import json
import re
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro

from bench.common import RESULTS, machine, table, write_json
from bench.learning import ensure_run, first_reach
from bench.paper import paper_number, plot
from envs.tasks import TASKS
from fastgen import runtime
from fastgen.config import Config
from fastgen.poligen import settings as poligen
from fastgen.poligen.settings import CommandConfig, ScalingConfig
from fastgen.runs.rundir import final_return

VARIANT = re.compile(r"^P(\d+)(?:-s([\d.]+)-a([\d.]+)-b([\d.]+))?$")


@dataclass
class Settings:
    tasks: tuple[str, ...] = ("inverted_pendulum", "mountain_car")
    """Tasks."""
    variants: tuple[str, ...] = ("P1", "P8-s1-a0.5-b0", "P64-s0-a0.5-b0", "P64-s1-a0.5-b0", "P64-s1-a0-b0")
    """Variants P<P>-s<spread>-a<alpha>-b<beta> (P1: the paper's schedule)."""
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Seeds per (task, variant)."""
    total_steps: int | None = None
    """Env-step budget per run (default: the task's)."""
    time_limit: float | None = None
    """Training wall-clock seconds per run before it stops (resumed by a later sweep)."""
    runs_dir: str = "runs/learning"
    """Where the run directories live (shared with bench.learning and bench.paper)."""
    reference_json: tuple[str, ...] = ()
    """bench.learning / bench.paper / bench.end_to_end JSONs whose PoliGen P = 1 runs stand in for P1 where this
    sweep has none (P = 1 runs cost ~8-60x a P = 64 run)."""
    recorded_json: tuple[str, ...] = ()
    """Earlier ``bench.populations`` JSONs whose recorded runs stand in for (task, variant, seed) runs whose
    directory is not under --runs-dir (a machine is not always handed back with its files); their ``source``
    column names the file. Only finished records are taken, and a run directory that exists always wins."""
    threads: int | None = None
    """torch and cpu-engine threads per run (default: the cores this process may use)."""
    bootstrap: int = 2000
    """Bootstrap resamples of the 95% confidence intervals."""
    only_existing: bool = False
    """Train nothing: report the runs that already have a summary.json."""
    confirmations: tuple[str, ...] = ()
    """JSONs of sweeps of these variants on other seeds (``--name populations_confirm_<task>`` with ``--bar``): a
    task's default must hold on every confirming seed (``decide``)."""
    bar: float | None = None
    """The evaluation return a run must reach (default: the paper's PoliGen mean less one std; e.g. 1000 to screen
    hopper's first 300k env steps)."""
    rule: str = "p1"
    """How a variant qualifies for a task's default (``decide``): p1 (final return within one paper std of P1's;
    every confirming seed at --bar), mean-bar (mean final return at --bar on the deciding seeds and on the
    confirming ones: issue 37's bars for swimmer, and hopper's at 3M) or reach-bar (every seed's evaluation
    reaches --bar within the run, deciding and confirming: hopper's 1000 by 300k env steps)."""
    name: str = "populations"
    """Result file name."""
    results_dir: str = str(RESULTS / "populations")
    """Where the table, JSON and PNGs go."""


def parse_variant(variant: str) -> dict:
    """``"P64-s1-a0.5-b0"`` -> ``{"P": 64, "spread": 1.0, "alpha": 0.5, "beta": 0.0, "changes": {}}`` (``"P1"``: the
    paper's schedule); a ``+section.field=value`` suffix (repeatable) sets a named option on top, e.g.
    ``P64-s1-a0.5-b0+generator.command_input=symlog``."""
    base, *extra = variant.split("+")
    match = VARIANT.match(base)
    if match is None or (match.group(2) is None and match.group(1) != "1"):
        raise SystemExit(f"unknown variant {variant!r}; write P1 or P<P>-s<spread>-a<alpha>-b<beta>, e.g. P64-s1-a0.5-b0, "
                         "optionally followed by +section.field=value")
    changes = dict(_change(variant, text) for text in extra)
    if match.group(2) is None:
        return {"P": 1, "spread": 0.0, "alpha": 1.0, "beta": 0.0, "changes": changes}
    return {"P": int(match.group(1)), "spread": float(match.group(2)), "alpha": float(match.group(3)),
            "beta": float(match.group(4)), "changes": changes}


def _change(variant: str, text: str) -> tuple[str, object]:
    """``"generator.command_width=400"`` -> ``("generator.command_width", 400.0)``, typed as the field is declared
    (``int | None`` gives an int, ``float`` a float, ``bool`` true/false)."""
    name, _, value = text.partition("=")
    section, _, field = name.partition(".")
    owner = getattr(Config(), section, None) if field else Config()
    key = field or section
    if not value or owner is None or not dataclasses.is_dataclass(owner) or not hasattr(owner, key):
        raise SystemExit(f"variant {variant!r}: {text!r} is not section.field=value of a fastgen.run option")
    hint = typing.get_type_hints(type(owner))[key]
    kinds = typing.get_args(hint) or (hint,)
    if bool in kinds:
        return name, value.lower() in ("1", "true", "yes")
    for kind in (int, float):
        if kind in kinds:
            try:
                return name, kind(value)
            except ValueError:
                raise SystemExit(f"variant {variant!r}: {text!r} needs a number ({kind.__name__})") from None
    return name, value


NAME_MAX = 255  # bytes in one file name on Linux file systems


def run_name(task: str, variant: str, seed: int) -> str:
    """The run directory's name, ``<task>-<variant>-seed<seed>``; where that is longer than a file name may be,
    the variant's first 200 characters and a digest of all of it (``~<12 hex>``) stand for the variant."""
    name = f"{task}-{variant}-seed{seed}"
    if len(name.encode()) <= NAME_MAX:
        return name
    return f"{task}-{variant[:200]}~{hashlib.sha1(variant.encode()).hexdigest()[:12]}-seed{seed}"


def make_config(task: str, variant: str, seed: int, settings: Settings) -> Config:
    """The run of ``variant`` on ``task``: every option a task's population default sets is at the paper's value
    unless the variant changes it, so a variant's name says all it runs whatever the task's default is."""
    v = parse_variant(variant)
    common = dict(env=task, seed=seed, total_steps=settings.total_steps, time_limit=settings.time_limit,
                  threads=settings.threads, out=str(Path(settings.runs_dir) / run_name(task, variant, seed)))
    if v["P"] == 1:
        cfg = Config(schedule="paper", **common)
    else:
        cfg = Config(num_envs=v["P"], command=CommandConfig(spread=v["spread"]),
                     scaling=ScalingConfig(updates_exponent=v["alpha"], batch_exponent=v["beta"]), **common)
        for key, fields in poligen.RESOLVED_FROM.items():
            if key in poligen.PAPER_SCHEDULE:
                cfg = _set(cfg, fields[0], poligen.PAPER_SCHEDULE[key])
    for option, value in v["changes"].items():
        cfg = _set(cfg, option, value)
    cfg.validate()
    return cfg


def _set(cfg: Config, option: str, value) -> Config:
    """``cfg`` with ``option`` ("section.field" or a top-level field) set to ``value``."""
    section, _, field = option.partition(".")
    if not field:
        return dataclasses.replace(cfg, **{section: value})
    return dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), **{field: value})})


def run_record(cfg: Config, train_if_needed: bool) -> dict:
    record = ensure_run(cfg, train_if_needed)
    summary = record["summary"]
    updates = summary["iterations"] * sum(poligen.update_counts(cfg))
    return {"seed": cfg.seed, "run_dir": cfg.out, "budget": cfg.budget, "updates": updates,
            "updates_per_env_step": updates / summary["env_steps"], "batch": poligen.batch_size(cfg), **record}


def recorded_runs(paths: typing.Sequence[str], task: str, variant: str) -> dict[int, dict]:
    """Finished runs of (``task``, ``variant``) recorded in earlier bench.populations JSONs -> ``{seed: record}``,
    each with its ``source`` (the file's name, or the one the record already names, as P1's reference runs do); a
    seed recorded twice is an error."""
    found = {}
    for path in paths:
        for r in json.loads(Path(path).read_text())["runs"]:
            if r["task"] != task or r["variant"] != variant or not r["summary"].get("finished", True):
                continue
            if r["seed"] in found:
                raise SystemExit(f"--recorded-json: {task} {variant} seed {r['seed']} is recorded twice "
                                 f"({found[r['seed']]['source']} and {Path(path).name}); give one")
            found[r["seed"]] = {"source": Path(path).name,  # unless it names the file it came from itself
                                **{k: v for k, v in r.items() if k not in ("task", "variant")}}
    return found


def reference_runs(path: str, task: str) -> list[dict]:
    """PoliGen P = 1 runs of ``task`` recorded in a bench.learning / bench.paper / bench.end_to_end JSON, as this
    sweep's records."""
    payload = json.loads(Path(path).read_text())
    if payload.get("benchmark") == "end_to_end":
        result = payload["result"]
        payload = {"runs": [{"task": result["env"], "P": result["P"], "algo": "poligen", "seed": result["seed"],
                             "summary": payload["summary"], "curve": payload["curve"]}]}
    runs = [r for r in payload["runs"] if r.get("task") == task and r.get("P", 1) == 1
            and r.get("algo", r.get("variant")) == "poligen"]
    cfg = Config(env=task, schedule="paper")
    out = []
    for r in runs:
        final, averaged = final_return(r["curve"], cfg.budget, cfg.eval_every)
        updates = r["summary"]["iterations"] * sum(poligen.update_counts(cfg))
        out.append({"seed": r["seed"], "run_dir": None, "budget": cfg.budget, "updates": updates,
                    "updates_per_env_step": updates / r["summary"]["env_steps"], "batch": 16,
                    "summary": r["summary"], "final_return": final, "final_evaluations": averaged,
                    "curve": [{k: row[k] for k in ("env_steps", "wall_s", "eval/return")} for row in r["curve"]],
                    "source": Path(path).name})
    return out


def aggregate(task: str, variant: str, runs: list[dict], bar: float | None = None) -> dict:
    finals = np.array([r["final_return"] for r in runs])
    mean, std = paper_number(task, "poligen")
    bar = mean - std if bar is None else bar
    steps = [first_reach(r["curve"], bar, "env_steps") for r in runs]
    reached = [s for s in steps if s is not None]
    return {"task": task, "variant": variant, **parse_variant(variant), "seeds": len(runs),
            "final_mean": float(finals.mean()), "final_std": float(finals.std()),
            "final_evaluations": float(np.mean([r["final_evaluations"] for r in runs])),
            "paper": f"{mean:g} +- {std:g}", "bar": bar, "reached": f"{len(reached)}/{len(runs)}",
            "best_eval": float(np.mean([max(row["eval/return"] for row in r["curve"]) for r in runs])),
            "finals_at_bar": f"{int(np.sum(finals >= bar))}/{len(runs)}",  # runs whose final return reached the bar
            "steps_to_bar": float(np.median(reached)) if reached else None,
            "wall_s_per_run": float(np.mean([r["summary"]["wall_s"] for r in runs])),
            "updates_per_env_step": float(np.mean([r["updates_per_env_step"] for r in runs])),
            # the CPU's cost grows with the samples an update touches, a GPU's hardly: both, per env step
            "samples_per_env_step": float(np.mean([r["updates_per_env_step"] * r["batch"] for r in runs])),
            "finished": f"{sum(r['summary'].get('finished', True) for r in runs)}/{len(runs)}",
            "source": ", ".join(dict.fromkeys(r.get("source", "this sweep") for r in runs)),
            # runs that evaluated an averaged generator: the final return of the generator's own policy beside it
            **({"live_final_mean": float(np.mean([r["live_final_return"] for r in runs])),
                "live_final_std": float(np.std([r["live_final_return"] for r in runs]))}
               if all("live_final_return" in r for r in runs) else {})}


RULES = ("p1", "mean-bar", "reach-bar")


def decide(rows: list[dict], confirmations: list[dict] = (), rule: str = "p1") -> dict[str, dict]:
    """Per task: the cheapest finished variant (wall clock per run) that qualifies, with the P1 row it was held to;
    -> ``{task: {"chosen": row, "reference": row}}``. P1, the paper's schedule, always qualifies: it is what a task
    falls back to.

    ``rule`` "p1": a variant qualifies when its final return is within one paper std of P1's and, where the task has
    ``confirmations`` (rows of the same variants run on other seeds: a ``--name populations_confirm_<task>`` sweep
    with its ``--bar``), every confirming run's final return reached the bar (``finals_at_bar`` n/n). "mean-bar":
    when its mean final return over at least 3 finished seeds reaches its row's bar on the deciding seeds and, where
    the task has confirmations, on at least 3 finished confirming seeds too (issue 37's bars for swimmer and hopper,
    e.g. >= 318 at 3M over >= 3 seeds). "reach-bar": when on at least 3 finished seeds every run's evaluation
    reached its row's bar, deciding and (where given) confirming (hopper's >= 1000 by 300k env steps)."""
    if rule not in RULES:
        raise ValueError(f"unknown decision rule {rule!r}; choose one of {', '.join(RULES)}")
    decisions = {}
    for task in dict.fromkeys(r["task"] for r in rows):
        task_rows = [r for r in rows if r["task"] == task]
        reference = next((r for r in task_rows if r["variant"] == "P1"), None)
        if reference is None:
            continue
        std = paper_number(task, "poligen")[1]
        finished = [r for r in task_rows if _all(r["finished"])]
        if rule == "p1":
            good = [r for r in finished if r["final_mean"] >= reference["final_mean"] - std]
        else:
            good = [r for r in finished if r is reference or _holds(r, rule)]
        checks = [c for c in confirmations if c["task"] == task]
        if checks:
            held = {c["variant"] for c in checks
                    if (_all(c["finals_at_bar"]) if rule == "p1" else _all(c["finished"]) and _holds(c, rule))}
            good = [r for r in good if r["variant"] in held or r is reference]  # the paper's schedule needs none
        if not good:
            continue
        chosen = min(good, key=lambda r: r["wall_s_per_run"])
        decisions[task] = {"chosen": chosen, "reference": reference, "paper_std": std, "rule": rule,
                           "confirmed_by": [c for c in checks if c["variant"] == chosen["variant"]],
                           "confirmations": checks}
    return decisions


def _holds(row: dict, rule: str) -> bool:
    """Whether a row of at least 3 seeds meets its bar by ``rule`` "mean-bar" (mean final return) or "reach-bar"
    (every run's evaluation reached it)."""
    met = row["final_mean"] >= row["bar"] if rule == "mean-bar" else _all(row["reached"])
    return row["seeds"] >= 3 and met


def _all(count: str) -> bool:
    """``"n/n"`` (every run) -> True, ``"k/n"`` with k < n -> False."""
    done, of = count.split("/")
    return done == of


def markdown(rows: list[dict], decisions: dict, cpu: str) -> str:
    lines = [f"Machine: {cpu}. Final return: mean of the evaluations in the last 20 x eval-every env steps "
             "(`rundir.final_return`), mean +- std over seeds; bar: the evaluation return a run must reach (the paper's "
             "mean less one std unless `--bar`); best evaluation: the mean over seeds of each run's highest.", "",
             "| task | variant | P | spread | alpha | beta | seeds | final return | evals averaged | paper | best evaluation "
             "| reached bar | final return at bar | env steps to bar (median) | wall clock per run | updates per env step "
             "| samples per env step | source |",
             "|" + "---|" * 18]
    for r in rows:
        steps = f"{r['steps_to_bar']:,.0f}" if r["steps_to_bar"] is not None else "-"
        lines.append(f"| {r['task']} | {r['variant']} | {r['P']} | {r['spread']:g} | {r['alpha']:g} | {r['beta']:g} "
                     f"| {r['seeds']} | {r['final_mean']:.1f} +- {r['final_std']:.1f} | {r['final_evaluations']:.1f} "
                     f"| {r['paper']} | {r['best_eval']:.1f} | {r['reached']} (>= {r['bar']:g}) | {r['finals_at_bar']} | {steps} "
                     f"| {r['wall_s_per_run']:.0f} s | {r['updates_per_env_step']:.3f} "
                     f"| {r['samples_per_env_step']:.2f} | {r['source']} |")
    lines.append("")
    for task, d in decisions.items():
        c, ref = d["chosen"], d["reference"]
        rule = {"p1": f"within one paper std ({d['paper_std']:g}) of P1's {ref['final_mean']:.1f}",
                "mean-bar": "whose mean final return reaches the bar on >= 3 deciding seeds and, where confirmed, on "
                            ">= 3 confirming seeds (else P1)",
                "reach-bar": "whose evaluation reaches the bar on every one of >= 3 deciding seeds and, where "
                             "confirmed, of >= 3 confirming seeds (else P1)"}[d["rule"]]
        if d.get("confirmations"):
            rule += "; confirming runs: " + "; ".join(f"{r['variant']} {r['final_mean']:.1f} +- {r['final_std']:.1f} over "
                                                      f"{r['seeds']} seeds ({r['finished']} finished)"
                                                      for r in d["confirmations"])
        lines.append(f"- {task}: cheapest variant {rule}: **{c['variant']}** ({c['final_mean']:.1f} +- "
                     f"{c['final_std']:.1f}, {c['wall_s_per_run']:.0f} s per run, {c['updates_per_env_step']:.3f} updates "
                     "per env step).")
    return "\n".join(lines) + "\n"


def main(settings: Settings) -> dict:
    for task in settings.tasks:
        if task not in TASKS:
            raise SystemExit(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    for variant in settings.variants:
        parse_variant(variant)
    if settings.rule not in RULES:
        raise SystemExit(f"unknown --rule {settings.rule!r}; choose one of {', '.join(RULES)}")
    runs = []
    for task in settings.tasks:
        for variant in settings.variants:
            configs = [make_config(task, variant, seed, settings) for seed in settings.seeds]
            recorded = recorded_runs(settings.recorded_json, task, variant)
            records = []
            for cfg in configs:
                if (Path(cfg.out) / "summary.json").exists() or (cfg.seed not in recorded and not settings.only_existing):
                    records.append(run_record(cfg, not settings.only_existing))
                elif cfg.seed in recorded:
                    records.append(recorded[cfg.seed])
            if variant == "P1" and not records:
                records = [r for path in settings.reference_json for r in reference_runs(path, task)]
            runs += [{"task": task, "variant": variant, **r} for r in records]
            if records:
                print(table([aggregate(task, variant, records, settings.bar)], ["task", "variant", "seeds", "final_mean",
                                                                  "final_std", "reached", "wall_s_per_run"]), flush=True)
    rows = [aggregate(task, variant, group, settings.bar) for task in settings.tasks for variant in settings.variants
            if (group := [r for r in runs if r["task"] == task and r["variant"] == variant])]
    confirmations = [row for path in settings.confirmations for row in json.loads(Path(path).read_text())["table"]]
    decisions = decide(rows, confirmations, settings.rule)
    print(table(rows, ["task", "variant", "seeds", "final_mean", "final_std", "final_evaluations", "reached",
                       "steps_to_bar", "wall_s_per_run", "updates_per_env_step", "finished"]))
    cpu, results = machine()["cpu"], Path(settings.results_dir)
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{settings.name}.md").write_text(markdown(rows, decisions, cpu))
    for task in settings.tasks:
        groups = {v: [r for r in runs if r["task"] == task and r["variant"] == v] for v in settings.variants}
        groups = {v: g for v, g in groups.items() if g}
        if groups:
            plot(task, groups, settings, results / f"{settings.name}_{task}.png")
    payload = {"benchmark": "populations", "machine": machine(), "settings": dataclasses.asdict(settings),
               "table": rows, "decisions": decisions, "runs": runs}
    path = write_json(f"{settings.name}.json", payload, results)
    print(f"wrote {path} and {settings.name}.md")
    return payload


if __name__ == "__main__":
    settings = tyro.cli(Settings)
    runtime.configure(settings.threads)
    main(settings)
