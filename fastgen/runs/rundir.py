"""A run directory (docs/architecture.md), the same for every algorithm and for each seed of a ``--seeds`` batch:
checking it before a run starts, ``config.json``, ``metrics.jsonl`` lines, ``summary.json``."""

import contextlib
import dataclasses
import fcntl
import json
import os
import tempfile
from pathlib import Path

from fastgen.runs.checkpoint import CHECKPOINT, PREVIOUS
from fastgen.config import Config
from fastgen.runs.report import Reporter

# A directory holding one of these is a project's source tree (this repository, when --out is "." in a clone):
# a run would scatter checkpoint.pt, metrics.jsonl, buffer/ and snapshots/ among its files.
SOURCE_TREE_MARKERS = (".git", "pyproject.toml")


def check_run_dir(cfg: Config) -> None:
    """A fresh run needs an unused directory, ``--resume`` one with a checkpoint, both one this process can
    write in (one-line ValueError, before any work; nothing is left behind)."""
    run_dir = Path(cfg.run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--out {run_dir} is a file, not a directory; choose a directory for the run")
    if any((run_dir / marker).exists() for marker in SOURCE_TREE_MARKERS):
        held = ", ".join(m for m in SOURCE_TREE_MARKERS if (run_dir / m).exists())
        raise ValueError(f"--out {run_dir} is a source tree (it holds {held}); "
                         "choose a directory of its own for the run, e.g. runs/<name>")
    has_checkpoint = any((run_dir / name).exists() for name in (CHECKPOINT, PREVIOUS))
    if cfg.resume and not has_checkpoint:
        raise ValueError(f"--resume: no checkpoint.pt in {run_dir}")
    if not cfg.resume and (has_checkpoint or (run_dir / "metrics.jsonl").exists()):
        raise ValueError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
    _check_writable(run_dir)


def _check_writable(run_dir: Path) -> None:
    missing = [d for d in (run_dir, *run_dir.parents) if not d.exists()]  # deepest first
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=run_dir):
            pass
    except OSError as error:
        raise ValueError(f"--out {run_dir}: cannot write there ({error.strerror or error})") from None
    finally:
        for directory in missing:
            with contextlib.suppress(OSError):
                directory.rmdir()


@contextlib.contextmanager
def run_dir_lock(run_dir: Path):
    """Hold ``run_dir/.lock`` while training: a second process on the same directory is refused in one line.
    An flock, so the operating system releases it when its process ends, killed or not."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise ValueError(f"--out {run_dir} is in use by another fastgen process (pid {handle.read().strip() or '?'});"
                             " wait for it to end or choose another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_run_dir(state, progress: bool = True) -> Reporter:
    """Write ``config.json`` (dropping metrics lines a resumed checkpoint does not know of); -> the run's Reporter."""
    cfg, run_dir = state.cfg, Path(state.cfg.run_dir)
    if cfg.resume:
        _truncate_metrics(run_dir, state.evaluations)
    run_dir.mkdir(parents=True, exist_ok=True)
    config_text = json.dumps({**dataclasses.asdict(cfg), "resolved": _resolved(cfg, state)}, indent=2)
    (run_dir / "config.json").write_text(config_text + "\n")
    return Reporter(run_dir, cfg.budget, state.env_steps, config_text, cfg.resume, progress)


def out_of_time(state) -> bool:
    return state.cfg.time_limit is not None and state.wall_s >= state.cfg.time_limit


def log_evaluation(state, metrics: dict, reporter: Reporter) -> None:
    reporter.evaluation({"env_steps": state.env_steps, "wall_s": state.wall_s, "episodes": state.episodes,
                         "iterations": state.iterations, "train/best_return": state.best_return, **metrics})


def _truncate_metrics(run_dir: Path, evaluations: int) -> None:
    """Keep the metrics lines the checkpoint knows of (a kill between the two writes leaves one more)."""
    path = run_dir / "metrics.jsonl"
    if path.exists():
        lines = path.read_text().splitlines(keepends=True)[:evaluations]
        path.write_text("".join(lines))


def _resolved(cfg: Config, state) -> dict:
    """``Config.resolved`` and what else the run's defaults came to: its budget, evaluation period, engine, device."""
    return {**cfg.resolved(), "total_steps": cfg.budget, "eval_every": cfg.eval_every, "engine": state.env.engine,
            "device": str(state.device)}


FINAL_EVALUATIONS = 20  # the paper's final return: the mean of the last 20 evaluations (200k of 3M, 20k of 100k)


def within_budget(rows: list[dict], budget: int) -> list[dict]:
    """The evaluation rows of a run up to ``budget`` env steps: every row before it and the first at or past it
    (where a run given that budget stopped), so that a run continued to a larger budget reads as it stood then."""
    last = next((i for i, r in enumerate(rows) if r["env_steps"] >= budget), len(rows) - 1)
    return rows[:last + 1]


def final_return(rows: list[dict], budget: int, eval_every: int) -> tuple[float, int]:
    """The run's final return at ``budget``, defined by env steps so that every P and algorithm averages the same
    stretch of training: the mean ``eval/return`` of the evaluations made at or after env step
    ``min(budget, steps reached) - 19 x eval_every`` and no later than ``within_budget`` (a P = 1 run: exactly its
    last 20 evaluations; P = 64 on swimmer, whose iterations are 64k steps: the 3-4 made in its last 200k; a run
    continued past ``budget``: as it stood there); -> (mean, how many)."""
    rows = within_budget(rows, budget)
    end = min(budget, rows[-1]["env_steps"])
    window = [r["eval/return"] for r in rows if r["env_steps"] >= end - (FINAL_EVALUATIONS - 1) * eval_every]
    return sum(window) / len(window), len(window)


def read_metrics(run_dir) -> list[dict]:
    """The rows of ``run_dir/metrics.jsonl``, one per evaluation."""
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def write_summary(state) -> dict:
    """``summary.json`` as of ``state``: written with every checkpoint and when the run stops (budget reached,
    out of time or stopped; ``finished`` says which), atomically, so that a live or killed run's summary always
    matches its metrics and its last checkpoint; -> its contents."""
    run_dir = Path(state.cfg.run_dir)
    rows = read_metrics(run_dir)
    last = rows[-FINAL_EVALUATIONS:]
    final, averaged = final_return(rows, state.cfg.budget, state.cfg.eval_every)
    summary = {"algo": state.cfg.algo, "env": state.cfg.env, "seed": state.cfg.seed,
               "finished": state.env_steps >= state.cfg.budget, "budget": state.cfg.budget,
               "time_limit": state.cfg.time_limit, "env_steps": state.env_steps, "episodes": state.episodes,
               "iterations": state.iterations, "evaluations": state.evaluations, "wall_s": state.wall_s,
               "best_train_return": state.best_return, "final_eval_return": rows[-1]["eval/return"],
               "final_return": final, "final_return_evaluations": averaged,
               "mean_last_20_eval_return": sum(r["eval/return"] for r in last) / len(last),
               "max_eval_return": max(r["eval/return"] for r in rows)}
    tmp = run_dir / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(tmp, run_dir / "summary.json")
    return summary
