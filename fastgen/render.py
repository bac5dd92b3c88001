"""``python -m fastgen.render RUN_DIR --out grid.gif``: what the generator does, side by side, one tile per command.

    python -m fastgen.render runs/hopper-seed0 --commands 500 1500 3000 --out hopper.mp4
    python -m fastgen.render --policy policy.npz --out policy.gif          # an exported policy
    python -m fastgen.render runs/hopper-ars-seed0 --out ars.gif            # a baseline's final policy

For a PoliGen run: one episode of G(c) without noise per command (default: five commands evenly over the run's
achievable range, the sweep's when ``sweep.json`` exists, else the returns its buffer holds), all from the same
reset key (``--seed``), drawn in a grid (``envs.render``), each tile labelled with its command and the return
the episode earned; an episode that has ended stays on its last frame, dimmed. A baseline's run draws the policy
its evaluations run (ARS's theta, DDPG's actor, UDRL's behaviour function under its evaluation command; UDRL also
takes ``--commands``, desired returns). Hopper's commands are
bonus-free, as the generator was trained; the labelled return is the task's own (with the bonus). The output is
``.gif`` or ``.mp4`` (imageio; the MP4 through the ffmpeg that imageio-ffmpeg ships), written atomically.
"""

import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
import tyro

import envs
from envs import policy as flat_policy
from envs.render import Renderer, record
from envs.tasks import TASKS
from fastgen import algorithms, extras, runtime
from fastgen import trained as trained_run
from fastgen.errors import RunDirError
from fastgen.policy_file import load as load_policy_file

SUFFIXES = (".gif", ".mp4")
MAX_FRAMES = 400  # longer episodes are drawn every k-th step (and play faster than real time)


@dataclass
class RenderConfig:
    run_dir: tyro.conf.Positional[str | None] = None
    """A run directory, PoliGen or a baseline (or leave it out and give --policy)."""
    out: str = "render.gif"
    """Output file: .gif or .mp4."""
    commands: tuple[float, ...] | None = None
    """PoliGen and UDRL: the commands, one tile each (PoliGen's default: five over the achievable range; UDRL's:
    its evaluation command)."""
    policy: str | None = None
    """An exported policy (python -m fastgen.export) instead of a run: one tile."""
    seed: int = 0
    """Key of the episodes' reset noise."""
    width: int = 240
    """Width of a tile in pixels (even)."""
    height: int = 180
    """Height of a tile in pixels (even)."""
    fps: int = 30
    """Frames per second of the output; every k-th env step is drawn so that it plays at about real time."""
    snapshot: int | None = None
    """PoliGen: use generator snapshot k instead of the final generator."""
    max_frames: int = MAX_FRAMES
    """At most this many frames: a longer episode is drawn every k-th step more (and plays faster)."""


Controller = Callable[[envs.State], np.ndarray]  # envs.play's: the batch's state -> actions [B, act_dim]


@dataclass
class Tiles:
    """What to draw: one episode per label, side by side, ``act`` choosing the actions of all of them."""

    env: str
    physics: str
    act: Controller
    labels: list[str]


def check(cfg: RenderConfig) -> None:
    """One-line ValueErrors for bad arguments, before anything is loaded or written."""
    if Path(cfg.out).suffix.lower() not in SUFFIXES:
        raise ValueError(f"--out {cfg.out!r} must end in {' or '.join(SUFFIXES)}")
    if (cfg.run_dir is None) == (cfg.policy is None):
        raise ValueError("give a run directory or --policy FILE (one of them)")
    if cfg.commands is not None and (not cfg.commands or not all(math.isfinite(c) for c in cfg.commands)):
        raise ValueError(f"--commands must be one or more finite returns, got {list(cfg.commands)}")
    if cfg.width < 16 or cfg.height < 16 or cfg.width % 2 or cfg.height % 2:
        raise ValueError(f"--width and --height must be even and >= 16, got {cfg.width} x {cfg.height}")
    if cfg.fps < 1 or cfg.max_frames < 2:
        raise ValueError(f"--fps must be >= 1 and --max-frames >= 2, got {cfg.fps} and {cfg.max_frames}")


def default_commands(run_dir: Path, count: int = 5) -> np.ndarray:
    """``count`` commands evenly over the run's achievable range: the sweep's, else the buffer's returns."""
    sweep = run_dir / "sweep.json"
    if sweep.exists():
        follow = json.loads(sweep.read_text())["follow"]
        low, high = follow["achievable_low"], follow["achievable_high"]
    else:
        from fastgen.sweep import buffer_return_range

        low, high = buffer_return_range(run_dir)
    return np.linspace(low, high, count)


def tiles(cfg: RenderConfig) -> Tiles:
    if cfg.policy is not None:
        loaded = load_policy_file(cfg.policy)
        flat = np.concatenate([np.ravel(piece) for pair in loaded.weights for piece in pair])[None]
        return Tiles(loaded.env, "gymnasium", flat_policy.controller(flat, loaded.obs_mean[None], loaded.obs_std[None],
                                                            TASKS[loaded.env].spec),
                     [f"{Path(cfg.policy).name}: c {loaded.command:.0f}"])
    run_dir = Path(cfg.run_dir)
    run_cfg = trained_run.load_config(run_dir)
    if run_cfg.algo != "poligen":
        return baseline_tiles(run_cfg, run_dir, cfg.commands)
    run = trained_run.load(run_dir, cfg.snapshot)
    commands = np.asarray(cfg.commands if cfg.commands is not None else default_commands(run_dir), np.float64)
    count = len(commands)
    act = flat_policy.controller(run.policies(commands).numpy(), np.repeat(np.asarray(run.obs_mean)[None], count, 0),
                        np.repeat(np.asarray(run.obs_std)[None], count, 0), run.spec)
    return Tiles(run_cfg.env, run_cfg.physics, act, [f"c {c:.0f}" for c in commands])


def baseline_tiles(run_cfg, run_dir: Path, commands: tuple[float, ...] | None) -> Tiles:
    """A baseline's run restored from its checkpoint (``init`` then ``load``, as a resume does): the policy its
    evaluations run, or UDRL's behaviour function under each of ``commands``."""
    if not (run_dir / "checkpoint.pt").exists():
        raise ValueError(f"{run_dir} has no checkpoint.pt yet")
    algo = algorithms.get(run_cfg.algo)
    if commands is not None and not hasattr(algo, "commanded_policy"):
        raise ValueError(f"--commands: a --algo {run_cfg.algo} policy takes no command (PoliGen and UDRL runs do)")
    state = algo.load(algo.init_batch([run_cfg])[0], run_dir)
    if commands is not None:
        act, labels = algo.commanded_policy(state, np.asarray(commands, np.float64))
        return Tiles(run_cfg.env, run_cfg.physics, act, labels)
    act, label = algo.evaluated_policy(state)
    return Tiles(run_cfg.env, run_cfg.physics, act, [f"{label}, final"])


def film(what: Tiles, seed: int, width: int, height: int, fps: int, max_frames: int = MAX_FRAMES,
         renderer: Renderer | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One episode per tile from reset key ``seed``, drawn at about ``fps`` real time (every k-th step; no more than
    ``max_frames`` frames: a longer episode plays faster) -> (frames ``[F, rows x height, cols x width, 3]`` uint8,
    returns ``[B]``). ``renderer``: one made before for this task and size (making one costs a GL context)."""
    env = envs.make(what.env, "cpu", physics=what.physics, nthread=1)
    qpos, qvel, alive, result = record(env, what.act, jax.random.key(seed), len(what.labels))
    renderer = renderer or Renderer(what.env, width, height, what.physics)
    dt = getattr(env.task, "frame_skip", 1) * (renderer.model.opt.timestep if hasattr(renderer, "model") else 0.02)
    every = max(1, round(1.0 / (fps * dt)), math.ceil(qpos.shape[0] / max_frames))
    labels = [f"{label} -> return {r:.0f}" for label, r in zip(what.labels, result.returns)]
    frames = [grid(renderer.frames(qpos[t], qvel[t]), alive[t] | (t == 0), labels)
              for t in range(0, qpos.shape[0], every)]
    return np.stack(frames), result.returns


def grid(images: np.ndarray, alive: np.ndarray, labels: list[str]) -> np.ndarray:
    """``images [B, h, w, 3]`` into rows of up to three tiles, each labelled; ended episodes dimmed."""
    extras.require("PIL", "drawing videos")
    from PIL import Image, ImageDraw

    count, h, w = images.shape[:3]
    cols = min(count, 3)
    rows = math.ceil(count / cols)
    canvas = np.zeros((rows * h, cols * w, 3), np.uint8)
    for i, image in enumerate(images):
        tile = Image.fromarray(image if alive[i] else (image * 0.45).astype(np.uint8))
        draw = ImageDraw.Draw(tile)
        draw.rectangle([0, 0, w, 13], fill=(0, 0, 0))
        draw.text((3, 1), labels[i], fill=(255, 255, 255))
        r, c = divmod(i, cols)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = np.asarray(tile)
    return canvas


def gif_bytes(frames: np.ndarray, fps: int) -> bytes:
    """``frames [F, H, W, 3]`` as an animated GIF, looping."""
    extras.require("imageio", "writing videos")
    import imageio.v2 as imageio

    return imageio.mimwrite("<bytes>", list(frames), format="GIF", duration=1000.0 / fps, loop=0)


def write(frames: np.ndarray, out: Path, fps: int) -> None:
    """``frames [F, H, W, 3]`` to ``out`` (.gif or .mp4), through a temporary file in the same folder."""
    extras.require("imageio", "writing videos")
    import imageio.v2 as imageio

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    if out.suffix.lower() == ".gif":
        tmp.write_bytes(gif_bytes(frames, fps))
    else:
        imageio.mimsave(tmp, list(frames), fps=fps, codec="libx264", macro_block_size=2, quality=7)
    tmp.replace(out)


def render(cfg: RenderConfig) -> dict:
    check(cfg)
    what = tiles(cfg)
    frames, returns = film(what, cfg.seed, cfg.width, cfg.height, cfg.fps, cfg.max_frames)
    write(frames, Path(cfg.out), cfg.fps)
    return {"out": cfg.out, "env": what.env, "tiles": what.labels, "returns": returns.tolist(),
            "frames": int(frames.shape[0]), "size": list(frames.shape[1:3])}


def main(argv: list[str] | None = None) -> int:
    cfg = tyro.cli(RenderConfig, args=argv, description=__doc__.splitlines()[0])
    runtime.configure()
    try:
        done = render(cfg)
    except (ValueError, RunDirError, RuntimeError) as error:  # extras.MissingExtra is a ValueError
        print(f"fastgen.render: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {done['out']}: {done['env']}, {len(done['tiles'])} tiles, {done['frames']} frames of "
          f"{done['size'][1]} x {done['size'][0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
