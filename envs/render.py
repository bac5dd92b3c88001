"""Offscreen frames of a batch of environments, and recording the episodes to draw.

``Renderer(task)`` draws B physical states (``envs.Env.physical_state``) into ``[B, H, W, 3]`` uint8 frames:
MuJoCo's own renderer on the task's C model for the MuJoCo tasks, headless (``envs.gl`` picks EGL, else OSMesa;
mjx and warp states are host arrays by the time ``physical_state`` returns them), with a camera per task
(``CAMERAS``: tracking the torso for the locomotion tasks, Gymnasium's distances and elevations where it has
them), and a small 2-D drawing for mountain_car (the hill, the car, the flag at the goal).
``record(env, act, key, B)`` plays B episodes of any controller and keeps every physical state.
"""

import math
from dataclasses import dataclass

import numpy as np

from envs.gl import missing_message
from envs.play import play
from envs.tasks import TASKS
from envs.tasks.base import MujocoTask


@dataclass(frozen=True)
class Camera:
    distance: float
    elevation: float
    azimuth: float = 90.0
    track: str | None = "torso"  # a body the camera follows, or None for a fixed view of ``lookat``
    lookat: tuple[float, float, float] = (0.0, 0.0, 0.0)


CAMERAS = {  # Gymnasium's DEFAULT_CAMERA_CONFIG where the v4 task has one (hopper, walker2d, half_cheetah, ant)
    "hopper": Camera(3.0, -20.0, lookat=(0.0, 0.0, 1.15)),
    "walker2d": Camera(4.0, -20.0, lookat=(0.0, 0.0, 1.15)),
    "half_cheetah": Camera(4.0, -20.0),
    "ant": Camera(5.0, -35.0),
    "swimmer": Camera(4.5, -60.0),
    "inverted_pendulum": Camera(2.5, -10.0, track=None, lookat=(0.0, 0.0, 0.3)),
    "reacher": Camera(0.9, -90.0, track=None),
}

MOUNTAIN_CAR = {"low": -1.2, "high": 0.6, "goal": 0.45}  # Gymnasium's MountainCarContinuous-v0


class Renderer:
    """Frames of ``task`` at ``width x height``: ``frames(qpos, qvel) -> [B, height, width, 3]`` uint8 (mountain_car:
    ``frames(position [B], velocity [B])``). ``physics`` is the model's ``envs.physics`` profile (drawing does not
    depend on it, only on the state)."""

    def __init__(self, task: str, width: int = 240, height: int = 180, physics: str = "gymnasium"):
        if width < 16 or height < 16:
            raise ValueError(f"frames must be at least 16 x 16 pixels, got {width} x {height}")
        self.task, self.width, self.height = TASKS[task], width, height
        self.name = task
        if isinstance(self.task, MujocoTask):
            import mujoco

            self._mujoco = mujoco
            self.model = self.task.load_model(physics)
            self.model.vis.global_.offwidth = max(self.model.vis.global_.offwidth, width)
            self.model.vis.global_.offheight = max(self.model.vis.global_.offheight, height)
            self.data = mujoco.MjData(self.model)
            try:
                self._renderer = mujoco.Renderer(self.model, height, width)
            except Exception as error:  # no EGL/OSMesa library, or one that cannot make a context
                raise RuntimeError(missing_message(str(error).strip().splitlines()[0] if str(error).strip()
                                                   else type(error).__name__)) from None
            self._camera = self._make_camera(CAMERAS[task])

    def _make_camera(self, spec: Camera):
        mujoco = self._mujoco
        camera = mujoco.MjvCamera()
        camera.distance, camera.elevation, camera.azimuth = spec.distance, spec.elevation, spec.azimuth
        camera.lookat[:] = spec.lookat
        if spec.track is not None:
            camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
            camera.trackbodyid = self.model.body(spec.track).id
        else:
            camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        return camera

    def frames(self, qpos, qvel) -> np.ndarray:
        """``[B, height, width, 3]`` uint8 of B physical states."""
        qpos, qvel = np.atleast_1d(np.asarray(qpos, np.float64)), np.atleast_1d(np.asarray(qvel, np.float64))
        if not isinstance(self.task, MujocoTask):
            return np.stack([self._draw_mountain_car(float(x)) for x in qpos])
        qpos, qvel = qpos.reshape(-1, self.model.nq), qvel.reshape(-1, self.model.nv)
        out = np.empty((qpos.shape[0], self.height, self.width, 3), np.uint8)
        for i in range(qpos.shape[0]):
            self.data.qpos[:], self.data.qvel[:] = qpos[i], qvel[i]
            self._mujoco.mj_forward(self.model, self.data)
            self._renderer.update_scene(self.data, self._camera)
            out[i] = self._renderer.render()
        return out

    def _draw_mountain_car(self, position: float) -> np.ndarray:
        """The hill y = sin(3x) over Gymnasium's track, the goal flag and the car as a disc, on white."""
        w, h = self.width, self.height
        image = np.full((h, w, 3), 255, np.uint8)
        low, high = MOUNTAIN_CAR["low"], MOUNTAIN_CAR["high"]
        to_x = lambda x: (x - low) / (high - low) * (w - 1)  # noqa: E731
        to_y = lambda y: (h - 1) - (y + 1.2) / 2.6 * (h - 1)  # heights -1.2 .. 1.4 fill the frame  # noqa: E731
        xs = np.linspace(low, high, 4 * w)
        cols, rows = to_x(xs).round().astype(int), to_y(np.sin(3 * xs)).round().astype(int)
        for dy in range(-1, 2):
            image[np.clip(rows + dy, 0, h - 1), cols] = (60, 60, 60)
        goal_col, goal_row = int(round(to_x(MOUNTAIN_CAR["goal"]))), int(round(to_y(math.sin(3 * MOUNTAIN_CAR["goal"]))))
        image[max(goal_row - h // 6, 0):goal_row, max(goal_col - 1, 0):goal_col + 1] = (40, 40, 40)
        image[max(goal_row - h // 6, 0):max(goal_row - h // 6, 0) + h // 20, goal_col:goal_col + w // 25] = (230, 180, 0)
        radius = max(3, h // 25)
        cx, cy = to_x(position), to_y(math.sin(3 * position)) - radius
        yy, xx = np.mgrid[0:h, 0:w]
        image[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2] = (200, 30, 30)
        return image


def record(env, act, key, num_envs: int):
    """``num_envs`` episodes of ``act`` side by side (``envs.play``), keeping every physical state ->
    ``(qpos [T + 1, B, ...], qvel [T + 1, B, ...], alive [T + 1, B] bool, RolloutResult)``; T is the longest
    episode, row 0 the reset states, and an episode that has ended keeps its last state (alive False)."""
    first = env.physical_state(env.reset(key, num_envs))
    positions, velocities, alive = [np.asarray(first[0])], [np.asarray(first[1])], [np.ones(num_envs, bool)]

    def keep(before, actions, after, was_alive):
        del before, actions
        qpos, qvel = env.physical_state(after)
        held = was_alive.reshape(-1, *([1] * (np.ndim(qpos) - 1)))
        positions.append(np.where(held, np.asarray(qpos), positions[-1]))
        velocities.append(np.where(held, np.asarray(qvel), velocities[-1]))
        alive.append(was_alive & ~np.asarray(after.done))

    result = play(env, act, key, num_envs, on_step=keep)
    return np.stack(positions), np.stack(velocities), np.stack(alive), result
