"""How many constraint-solver iterations a substep really takes: MJX against C MuJoCo on the same states.

Under ``vmap`` MJX's Newton solver is a ``while_loop`` that runs until the slowest environment of the batch has
converged, and each iteration's line search is a ``scan`` of exactly ``opt.ls_iterations`` trips whatever it
needs (mujoco/mjx/_src/solver.py, ``_while_loop_scan``; under ``vmap`` its ``cond`` computes both branches). C
MuJoCo stops each environment's solver and line search on their own. This measures both on states a random
policy visits: ``--physics`` profiles change ``opt.iterations`` and ``opt.ls_iterations``.

MJX's count is taken by running ``mjx.step`` eagerly (``jax.disable_jit``) on one state at a time and counting
the calls of its own ``solve`` and ``_linesearch`` (one line search per Newton iteration): seconds per state, so
``states`` is small. C's ``solver_niter`` and the line search's cost evaluations (``solver[i].neval``) are read
after ``mj_step`` of the same state; with RK4 C keeps the counts of the step's last solve, so that is what the
MJX column beside it takes too.
"""

from contextlib import contextmanager

import jax
import mujoco
import numpy as np
from mujoco import mjx
from mujoco.mjx._src import solver as mjx_solver

from envs.tasks import TASKS


@contextmanager
def _counting_mjx_solves():
    """Within the block, ``counts`` (yielded) gets one entry per MJX solve: the Newton iterations it ran."""
    counts: list[int] = []
    solve, linesearch = mjx_solver.solve, mjx_solver._linesearch

    def counted_solve(*args, **kwargs):
        counts.append(0)
        return solve(*args, **kwargs)

    def counted_linesearch(*args, **kwargs):
        counts[-1] += 1
        return linesearch(*args, **kwargs)

    mjx_solver.solve, mjx_solver._linesearch = counted_solve, counted_linesearch
    try:
        yield counts
    finally:
        mjx_solver.solve, mjx_solver._linesearch = solve, linesearch


def visited_states(name: str, physics: str, count: int, seed: int) -> list[mujoco.MjData]:
    """``count`` states (with their controls) of random-action episodes, spread over the episodes' substeps."""
    task = TASKS[name]
    model = task.load_model(physics)
    rng = np.random.default_rng(seed)
    data, states = mujoco.MjData(model), []
    bound = task.spec.action_bound
    while len(states) < count:
        mujoco.mj_resetData(model, data)
        data.qpos[:] += rng.uniform(-task.reset_noise, task.reset_noise, model.nq)
        for _ in range(int(rng.integers(1, 60))):  # a random point of an early episode (random hoppers fall by ~40)
            data.ctrl[:] = rng.uniform(-bound, bound, model.nu)
            for _ in range(task.frame_skip):
                mujoco.mj_step(model, data)
        snapshot = mujoco.MjData(model)
        mujoco.mj_copyData(snapshot, model, data)
        states.append(snapshot)
    return states


def solver_row(name: str, physics: str, states: int = 8, seed: int = 0) -> dict:
    """Solver work per substep on ``states`` visited states: C MuJoCo's and MJX's Newton iterations (mean, max over the
    states: what a batch of them would pay under ``vmap``), their line-search trips per iteration."""
    model = TASKS[name].load_model(physics)
    mjx_model = mjx.put_model(model, impl="jax")
    c_iters, c_evals, mjx_last, mjx_all = [], [], [], []
    for data in visited_states(name, physics, states, seed):
        with _counting_mjx_solves() as counts, jax.disable_jit():
            mjx.step(mjx_model, mjx.put_data(model, data, impl="jax"))
        mjx_last.append(counts[-1])
        mjx_all += counts
        mujoco.mj_step(model, data)
        niter = int(data.solver_niter[0])
        c_iters.append(niter)
        c_evals += [int(data.solver[i].neval) for i in range(min(niter, model.opt.iterations))]
    return {"task": name, "physics": physics, "states": states, "iterations_cap": int(model.opt.iterations),
            "c_iterations_mean": float(np.mean(c_iters)), "c_iterations_max": int(np.max(c_iters)),
            "mjx_iterations_mean": float(np.mean(mjx_last)), "mjx_iterations_max": int(np.max(mjx_last)),
            "mjx_solves_per_step": len(mjx_all) / states, "mjx_iterations_per_step": float(np.sum(mjx_all) / states),
            "c_linesearch_evals_per_iteration": float(np.mean(c_evals)) if c_evals else 0.0,
            "mjx_linesearch_trips_per_iteration": int(model.opt.ls_iterations)}
