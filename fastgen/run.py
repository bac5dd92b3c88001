"""``python -m fastgen.run --env hopper --num-envs 64``: train a PoliGen generator (or ``--algo`` a baseline).

Run directory (docs/architecture.md): ``config.json``, TensorBoard event files, ``metrics.jsonl`` (one line
per evaluation), ``checkpoint.pt`` (+ ``buffer/`` chunks) and ``summary.json`` after every evaluation and
at the end (also when ``--time-limit`` or a signal stopped the run early: ``finished`` says which), and for
PoliGen ``snapshots/`` (generator snapshots over training, for ``fastgen.atlas``). ``--resume``
continues a killed or time-limited run from its last checkpoint. ``--seeds 0-19`` trains several seeds in
one process, one such run directory per seed (``<out>/seed<s>``), as one batch (``fastgen.loop``).
"""

import contextlib
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path

from fastgen import algorithms, cli, loop, runtime
from fastgen.config import Config, parse_seeds
from fastgen.errors import RunDirError, TrainingError
from fastgen.runs.rundir import check_run_dir, run_dir_lock
from fastgen.runs.stop import StopSignals, never


def train(cfg: Config, stop: Callable[[], bool] = never) -> dict:
    """Run (or resume) training to ``cfg.budget`` env steps, or until ``stop()`` says so after an iteration
    (then checkpoint); -> the summary written to summary.json (``--seeds``: ``{"seeds": [summary, ...]}``)."""
    cfg.validate()
    if cfg.seeds is None:
        return train_batch([cfg], stop)[0]
    return {"seeds": train_batch(seed_configs(cfg), stop)}


def train_seeds(cfg: Config, stop: Callable[[], bool] = never) -> dict:
    """``train`` of a ``--seeds`` config: ``{"seeds": [summary, ...]}``."""
    if cfg.seeds is None:
        raise ValueError("train_seeds needs --seeds")
    return train(cfg, stop)


def seed_configs(cfg: Config) -> list[Config]:
    """One single-seed config per seed of ``cfg.seeds``, each with its own run directory ``<out>/seed<s>``
    (default out: ``runs/<env>-seeds<SEEDS>``)."""
    root = Path(cfg.out if cfg.out is not None else f"runs/{cfg.env}-seeds{cfg.seeds}")
    return [dataclasses.replace(cfg, seed=seed, seeds=None, out=str(root / f"seed{seed}"))
            for seed in parse_seeds(cfg.seeds)]


def train_batch(cfgs: list[Config], stop: Callable[[], bool] = never) -> list[dict]:
    """Train single-seed configs, equal but for ``seed``, ``out`` and ``resume``, as one batch (each resumed from
    its checkpoint where its ``resume`` says so) until done or ``stop()``; -> their summaries."""
    common = {json.dumps(dataclasses.asdict(dataclasses.replace(c, seed=0, out=None, resume=False))) for c in cfgs}
    if len(common) > 1:
        raise ValueError("a batch of seeds needs configs that differ only in seed, out and resume")
    for c in cfgs:
        c.validate()
        check_run_dir(c)
    algo = algorithms.get(cfgs[0].algo)
    states = algo.init_batch(cfgs)
    with contextlib.ExitStack() as locks:
        for c in cfgs:
            locks.enter_context(run_dir_lock(Path(c.run_dir)))
        states = [algo.load(s, Path(s.cfg.run_dir)) if s.cfg.resume else s for s in states]
        return loop.train(algo, states, stop)


def main(argv: list[str] | None = None) -> int:
    cfg = cli.parse(Config, argv, "fastgen.run", __doc__.splitlines()[0])
    with StopSignals() as stop:
        try:
            runtime.configure(cfg.threads)
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
