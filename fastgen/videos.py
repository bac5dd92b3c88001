"""``--eval.video``: a short clip of the policy an evaluation ran, every ``--eval.video-every`` evaluations, into
``RUN_DIR/videos/eval_<env steps>.gif`` and TensorBoard (``fastgen.runs.report``). The clip is one episode from
a reset key of its own (the run's seed and the evaluation's number), drawn by ``fastgen.render`` at 160 x 120,
at most ``FRAMES`` frames."""

from pathlib import Path

from envs.render import Renderer
from fastgen.render import Tiles, film, gif_bytes

WIDTH, HEIGHT, FPS, FRAMES = 160, 120, 30, 200
_renderers: dict[tuple[str, str], Renderer] = {}  # one GL context per task in a process


def due(state) -> bool:
    """Whether the evaluation just logged (``state.evaluations`` counts it) gets a clip."""
    return bool(state.cfg.eval.video) and (state.evaluations - 1) % state.cfg.eval.video_every == 0


def write_clip(algo, state, reporter) -> Path:
    """Draw ``algo.evaluated_policy(state)`` and write it: the GIF's path."""
    act, label = algo.evaluated_policy(state)
    cfg = state.cfg
    what = Tiles(cfg.env, cfg.physics, act, [f"{label}, {state.env_steps:,} steps"])
    key = (cfg.env, cfg.physics)
    if key not in _renderers:
        _renderers[key] = Renderer(cfg.env, WIDTH, HEIGHT, cfg.physics)
    seed = (cfg.seed + 1) * 100_003 + state.evaluations  # its own reset key: training's streams are not touched
    frames, _ = film(what, seed, WIDTH, HEIGHT, FPS, FRAMES, _renderers[key])
    data = gif_bytes(frames, FPS)
    path = Path(cfg.run_dir) / "videos" / f"eval_{state.env_steps:09d}.gif"
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    reporter.video("eval/video", data, frames.shape[1], frames.shape[2], state.env_steps)
    return path
