"""``python -m fastgen.run --env hopper --num-envs 64``: train a PoliGen generator (or ``--algo`` a baseline).

Run directory (DESIGN.md): ``config.json``, TensorBoard event files, ``metrics.jsonl`` (one line
per evaluation), ``checkpoint.pt`` (+ ``buffer/`` chunks) after every evaluation, ``summary.json``
at the end (also when ``--time-limit`` stopped the run early: ``finished`` says which), and for
PoliGen ``snapshots/`` (generator snapshots over training, for ``fastgen.atlas``). ``--resume``
continues a killed or time-limited run from its last checkpoint. ``--seeds 0-19`` trains several
PoliGen seeds as one batch, one such run directory per seed (``fastgen.run_seeds``).
"""

import json
import sys
from pathlib import Path

import tyro

from fastgen import algorithms, runtime
from fastgen.config import Config
from fastgen.errors import TrainingError
from fastgen.report import Reporter
from fastgen.rundir import check_run_dir, log_evaluation, open_run_dir, out_of_time, write_summary
from fastgen.run_seeds import train_seeds


def train(cfg: Config) -> dict:
    """Run (or resume) training to ``cfg.budget`` env steps; -> the summary written to summary.json."""
    cfg.validate()
    run_dir = Path(cfg.run_dir)
    check_run_dir(cfg)
    algo = algorithms.get(cfg.algo)
    state = algo.init(cfg)
    if cfg.resume:
        state = algo.load(state, run_dir)
    reporter = open_run_dir(state)
    snapshot = getattr(algo, "snapshot", lambda state, run_dir: None)
    try:
        snapshot(state, run_dir)
        if state.evaluations == 0:
            _evaluate(algo, state, reporter, run_dir)
        next_eval = (state.env_steps // cfg.eval_every + 1) * cfg.eval_every
        while state.env_steps < cfg.budget and not out_of_time(state):
            state, metrics = algo.iteration(state, progress=reporter.updating)
            reporter.iteration(state.env_steps, metrics)
            snapshot(state, run_dir)
            if state.env_steps >= next_eval or state.env_steps >= cfg.budget or out_of_time(state):
                _evaluate(algo, state, reporter, run_dir)
                next_eval = (state.env_steps // cfg.eval_every + 1) * cfg.eval_every
    finally:
        reporter.close()
    return write_summary(state)


def _evaluate(algo, state, reporter: Reporter, run_dir: Path) -> None:
    log_evaluation(state, algo.evaluate(state), reporter)
    algo.save(state, run_dir)


def main(argv: list[str] | None = None) -> int:
    cfg = tyro.cli(Config, args=argv, description=__doc__.splitlines()[0])
    try:
        runtime.configure(cfg.threads)
        if cfg.seeds is not None:
            summary = train_seeds(cfg)
        else:
            summary = train(cfg)
    except (ValueError, TrainingError) as error:
        print(f"fastgen.run: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
