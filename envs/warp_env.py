"""The ``warp`` engine: MuJoCo Warp (``mujoco_warp``, NVIDIA Warp kernels) for the physics, the ``cpu`` engine's
step loop for everything else (``envs.make(name, "warp")``; the optional extra ``[warp]``).

``WarpEnv`` is a ``CpuEnv`` whose MuJoCo simulations are ``_WarpSims``: B worlds of one ``mujoco_warp`` model
and data on Warp's default device (a CUDA GPU where Warp sees one, else its CPU device, which runs it too).
Policies, observations, rewards, termination, slot refill and rollout bookkeeping are the ``cpu`` engine's own
code, so a rollout means the same on all engines; only the physics differs: float32 (as ``mjx`` in float32),
and the solver exits once every world has converged (what MJX's ``vmap`` cannot do). One env step replays a
graph of ``frame_skip`` ``mujoco_warp.step`` calls captured once per batch (Warp captures graphs on CPU too:
without it the Python launch overhead of ~10 ms per step dominates small batches).

On a GPU every env step copies qpos/qvel in and out of device memory (the loop runs on the host); it is
correct there but not yet a GPU-resident rollout. All worlds of a batch are stepped; a slot that has no job
left is stepped idle, its state unused.
"""

import mujoco
import numpy as np

from envs.cpu import CpuEnv
from envs.physics import check_profile
from envs.tasks.base import Frame, MujocoTask

# Per-world allocation of contacts and constraint rows. The classic tasks need at most ~10 contacts (a fallen
# hopper or walker on its side) and ~60 rows; a step that overflows raises instead of dropping contacts.
CONTACTS_PER_WORLD = 32
ROWS_PER_WORLD = 192


def import_warp():
    """``(warp, mujoco_warp)`` on a Warp device, or a one-line ValueError naming the ``[warp]`` extra or the device."""
    try:
        import mujoco_warp
        import warp
    except ImportError:
        raise ValueError('--engine warp needs warp-lang and mujoco-warp, which are not installed: '
                         'pip install -e ".[warp]"') from None
    warp.config.quiet = True  # no line per compiled kernel module
    try:
        warp.get_device()
    except Exception as error:  # Warp's CPU device needs no driver; this is a broken install, said in one line
        raise ValueError(f"--engine warp: Warp has no usable device ({str(error).splitlines()[0]})") from None
    return warp, mujoco_warp


class _WarpSims:
    """N worlds of a MuJoCo task in one ``mujoco_warp`` data, with the ``_MujocoSims`` interface of ``envs.cpu``.

    State rows: ``[time, qpos (nq), qvel (nv), qacc_warmstart (nv), tracked body positions]`` (time, qpos and qvel
    where ``CpuEnv.physical_state`` reads them). Arrays are float32 on the device, float64 in the task's code.
    """

    def __init__(self, task: MujocoTask, model: mujoco.MjModel, n: int):
        self.wp, self.mjw = import_warp()
        self.task, self.n = task, n
        self.nq, self.nv = model.nq, model.nv
        self.dt = model.opt.timestep * task.frame_skip
        self.body_ids = [model.body(name).id for name in task.bodies]
        with self.wp.ScopedDevice(None):
            self.model = self.mjw.put_model(model)
            self.model.opt.warn_overflow = 0  # checked after every step below, without Warp's prints
            self.data = self.mjw.put_data(model, mujoco.MjData(model), nworld=n, nconmax=CONTACTS_PER_WORLD,
                                          njmax=ROWS_PER_WORLD)
            self._capture()
        self.tracked = np.zeros((n, len(task.bodies), 3))
        memory = self.mjw.OverflowType.ALL & ~(self.mjw.OverflowType.ITERATIONS | self.mjw.OverflowType.LS_ITERATIONS)
        self._memory_overflow = int(memory)

    def _capture(self) -> None:
        """The graph of one env step (``frame_skip`` substeps), recorded once: replays run it without Python."""
        self.mjw.step(self.model, self.data)  # compiles the kernels before the capture (a capture cannot)
        with self.wp.ScopedCapture() as capture:
            for _ in range(self.task.frame_skip):
                self.mjw.step(self.model, self.data)
        self.graph = capture.graph

    def _host(self, name: str) -> np.ndarray:
        return getattr(self.data, name).numpy().astype(np.float64)

    def set_physical_state(self, qpos, qvel) -> None:
        """Gymnasium's reset sequence in every world: reset the data, write qpos/qvel, forward."""
        self.mjw.reset_data(self.model, self.data)
        self.data.qpos.assign(np.asarray(qpos, np.float32))
        self.data.qvel.assign(np.asarray(qvel, np.float32))
        self.mjw.forward(self.model, self.data)
        self._track(slice(None))

    def _track(self, ids) -> None:
        if self.body_ids:
            self.tracked[ids] = self._host("xpos")[ids][:, self.body_ids]

    def frame(self, ids, copy: bool = False) -> Frame:
        del copy  # host copies already
        xpos = self.tracked[ids].copy() if self.body_ids else None
        return Frame(self._host("qpos")[ids], self._host("qvel")[ids], xpos)

    def observe(self, ids):
        return self.task.observe(self.frame(ids), np)

    def advance(self, ids, action, first):
        """Step every world (``ids``' with ``action [len(ids), act_dim]``, the others idle); -> reward, no-bonus
        reward, terminated, obs of ``ids``."""
        del first
        before = self.frame(ids)
        ctrl = np.zeros((self.n, self.task.spec.act_dim), np.float32)
        ctrl[ids] = action
        self.data.ctrl.assign(ctrl)
        self.wp.capture_launch(self.graph)
        overflow = self.data.overflow.numpy()
        if (overflow & self._memory_overflow).any():
            raise RuntimeError(f"MuJoCo Warp ran out of contact or constraint memory (overflow flags "
                               f"{int(np.bitwise_or.reduce(overflow))}); raise envs.warp_env.CONTACTS_PER_WORLD or "
                               "ROWS_PER_WORLD")
        self._track(ids)
        return self.task.outcome(before, self.frame(ids), action, self.dt, np)

    def rows(self) -> np.ndarray:
        parts = [self._host("time")[:, None], self._host("qpos"), self._host("qvel"), self._host("qacc_warmstart"),
                 self.tracked.reshape(self.n, -1)]
        return np.concatenate(parts, axis=1)

    def load_rows(self, rows, ids=slice(None)) -> None:
        """Worlds ``ids`` (default all) take the state rows ``rows [k, width]``."""
        rows = np.asarray(rows)
        nq, nv = self.nq, self.nv
        for name, start, width in (("time", 0, 1), ("qpos", 1, nq), ("qvel", 1 + nq, nv),
                                   ("qacc_warmstart", 1 + nq + nv, nv)):
            values = getattr(self.data, name).numpy()  # a view on Warp's CPU device, a copy from a GPU
            block = rows[:, start:start + width].astype(np.float32)
            updated = values.copy()
            updated[ids] = block[:, 0] if name == "time" else block
            getattr(self.data, name).assign(updated)
        if self.body_ids:
            self.tracked[ids] = rows[:, 1 + nq + 2 * nv:].reshape(-1, *self.tracked.shape[1:])


class WarpEnv(CpuEnv):
    """A task on MuJoCo Warp (``envs.make(name, engine="warp")``): ``CpuEnv``'s API and rollout, Warp's physics.
    One shard per rollout (Warp parallelises over worlds itself); mountain_car, which has no MuJoCo physics,
    runs as on the cpu engine."""

    engine = "warp"

    def __init__(self, task, physics: str = "gymnasium"):
        check_profile(physics)
        import_warp()
        super().__init__(task, nthread=1, physics=physics)

    def _new_sims(self, n: int, nthread: int):
        del nthread
        if isinstance(self.task, MujocoTask):
            return _WarpSims(self.task, self._model, n)
        return super()._new_sims(n, 1)
