"""``python -m fastgen.run --env hopper --num-envs 64``: train a PoliGen generator (or ``--algo`` a baseline).

Run directory (docs/architecture.md): ``config.json``, TensorBoard event files, ``metrics.jsonl`` (one line
per evaluation), ``checkpoint.pt`` (+ ``buffer/`` chunks) and ``summary.json`` after every evaluation and
at the end (also when ``--time-limit`` or a signal stopped the run early: ``finished`` says which), and for
PoliGen ``snapshots/`` (generator snapshots over training, for ``fastgen.atlas``). ``--resume``
continues a killed or time-limited run from its last checkpoint. ``--seeds 0-19`` trains several
PoliGen seeds as one batch, one such run directory per seed (``fastgen.run_seeds``).
"""

import json
import sys
from collections.abc import Callable
from pathlib import Path

from fastgen import algorithms, cli, runtime
from fastgen.config import Config
from fastgen.errors import RunDirError, TrainingError
from fastgen.report import Reporter
from fastgen.run_seeds import seed_configs, train_seeds
from fastgen.rundir import check_run_dir, log_evaluation, open_run_dir, out_of_time, run_dir_lock, write_summary
from fastgen.stop import StopSignals, never


def train(cfg: Config, stop: Callable[[], bool] = never) -> dict:
    """Run (or resume) training to ``cfg.budget`` env steps, or until ``stop()`` says so after an iteration
    (then checkpoint); -> the summary written to summary.json."""
    cfg.validate()
    run_dir = Path(cfg.run_dir)
    check_run_dir(cfg)
    algo = algorithms.get(cfg.algo)
    state = algo.init(cfg)
    with run_dir_lock(run_dir):
        if cfg.resume:
            state = algo.load(state, run_dir)
        return _train(algo, state, run_dir, stop)


def _train(algo, state, run_dir: Path, stop: Callable[[], bool]) -> dict:
    cfg = state.cfg
    reporter = open_run_dir(state)
    snapshot = getattr(algo, "snapshot", lambda state, run_dir: None)
    try:
        snapshot(state, run_dir)
        if state.evaluations == 0:
            _evaluate(algo, state, reporter, run_dir)
        next_eval = (state.env_steps // cfg.eval_every + 1) * cfg.eval_every
        while state.env_steps < cfg.budget and not out_of_time(state) and not stop():
            state, metrics = algo.iteration(state, progress=reporter.updating)
            reporter.iteration(state.env_steps, metrics)
            snapshot(state, run_dir)
            if state.env_steps >= next_eval or state.env_steps >= cfg.budget or out_of_time(state):
                _evaluate(algo, state, reporter, run_dir)
                next_eval = (state.env_steps // cfg.eval_every + 1) * cfg.eval_every
        if stop():
            algo.save(state, run_dir)
    finally:
        reporter.close()
    return write_summary(state)


def _evaluate(algo, state, reporter: Reporter, run_dir: Path) -> None:
    log_evaluation(state, algo.evaluate(state), reporter)
    algo.save(state, run_dir)
    write_summary(state)


def main(argv: list[str] | None = None) -> int:
    cfg = cli.parse(Config, argv, "fastgen.run", __doc__.splitlines()[0])
    with StopSignals() as stop:
        try:
            runtime.configure(cfg.threads)
            if cfg.seeds is not None:
                summary = train_seeds(cfg, stop.requested)
            else:
                summary = train(cfg, stop.requested)
        except (ValueError, TrainingError, RunDirError) as error:
            print(f"fastgen.run: error: {error}", file=sys.stderr)
            return 2
        except OSError as error:  # a full disk or a lost directory while writing config, metrics or summary
            print(f"fastgen.run: error: could not write {error.filename or 'the run directory'} "
                  f"({error.strerror or error}); the last checkpoint is kept: {_resume_hint(cfg)}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"fastgen.run: stopped at once; the last checkpoint is kept: {_resume_hint(cfg)}", file=sys.stderr)
            return stop.exit_code
    summaries = summary["seeds"] if cfg.seeds is not None else [summary]
    if stop.requested() and not all(s["finished"] for s in summaries):
        steps = ", ".join(str(s["env_steps"]) for s in summaries)
        print(f"fastgen.run: stopped at env step {steps}; {_resume_hint(cfg)}", file=sys.stderr)
        return stop.exit_code
    print(json.dumps(summary))
    return 0


def _resume_hint(cfg: Config) -> str:
    """How to continue: ``--out`` names the run's directory, or a ``--seeds`` batch's root."""
    if cfg.seeds is None:
        return f"resume with --resume --out {cfg.run_dir}"
    return f"resume with --resume --seeds {cfg.seeds} --out {Path(seed_configs(cfg)[0].out).parent}"


if __name__ == "__main__":
    sys.exit(main())
