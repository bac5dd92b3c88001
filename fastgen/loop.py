"""The training loop, one for every algorithm and for one run or K runs (seeds) trained together.

    snapshot; evaluate the runs not evaluated yet
    while some run has budget and time left, and no stop is asked:
        one iteration of every such run (one batched call: ``Algorithm.iteration_batch``)
        report its metrics, snapshot, and evaluate + checkpoint the runs whose evaluation is due
    on a stop: checkpoint every run;  at the end: every run's summary.json

Each run follows its own schedule: evaluations every ``eval_every`` of its own env steps (and at its budget
or time limit), stopping at its own budget. A single run shows its own progress bar; K runs share one.
"""

from collections.abc import Callable
from pathlib import Path

from fastgen import videos
from fastgen.algorithms import Algorithm, RunState
from fastgen.runs.report import Reporter, SeedsBar
from fastgen.runs.rundir import log_evaluation, open_run_dir, out_of_time, write_summary
from fastgen.runs.stop import never


def train(algo: Algorithm, states: list[RunState], stop: Callable[[], bool] = never) -> list[dict]:
    """Train ``states`` (fresh or loaded, each with its run directory locked by the caller) until each reaches
    its budget or time limit, or ``stop()`` says so after an iteration; -> their summaries."""
    single = len(states) == 1
    reporters = {id(s): open_run_dir(s, progress=single) for s in states}
    bar = None if single else SeedsBar(Path(states[0].cfg.run_dir).parent.name, list(reporters.values()),
                                       [s.cfg.budget for s in states], [s.env_steps for s in states])
    progress = reporters[id(states[0])].updating if single else bar.updating
    try:
        _snapshot(algo, states)
        _evaluate(algo, [s for s in states if s.evaluations == 0], reporters)
        while (active := [s for s in states if s.env_steps < s.cfg.budget and not out_of_time(s)]) and not stop():
            due = [_next_evaluation(s) for s in active]
            metrics = algo.iteration_batch(active, progress)
            for state, m in zip(active, metrics):
                reporters[id(state)].iteration(state.env_steps, m)
            if bar is not None:
                bar.update([s.env_steps for s in states], sum(m["perf/sps"] for m in metrics),
                           [s.best_return for s in states if s.best_return is not None], metrics[0])
            _snapshot(algo, active)
            _evaluate(algo, [s for s, at in zip(active, due) if s.env_steps >= at or s.env_steps >= s.cfg.budget
                             or out_of_time(s)], reporters)
        if stop():
            for state in states:
                algo.save(state, Path(state.cfg.run_dir))
    finally:
        if bar is not None:
            bar.close()
        for reporter in reporters.values():
            reporter.close()
    return [write_summary(s) for s in states]


def _next_evaluation(state: RunState) -> int:
    """The env step at which ``state``'s next evaluation is due: the next multiple of ``eval_every``."""
    return (state.env_steps // state.cfg.eval_every + 1) * state.cfg.eval_every


def _snapshot(algo: Algorithm, states: list[RunState]) -> None:
    for state in states:
        algo.snapshot(state, Path(state.cfg.run_dir))


def _evaluate(algo: Algorithm, states: list[RunState], reporters: dict[int, Reporter]) -> None:
    """Evaluate ``states`` together; log, checkpoint and summarise each."""
    if not states:
        return
    for state, metrics in zip(states, algo.evaluate_batch(states)):
        log_evaluation(state, metrics, reporters[id(state)])
        if videos.due(state):
            videos.write_clip(algo, state, reporters[id(state)])
        algo.save(state, Path(state.cfg.run_dir))
        write_summary(state)
