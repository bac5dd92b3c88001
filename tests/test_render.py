"""Rendering (``envs.render``) and ``python -m fastgen.render``: every task draws, a tiny trained run renders a GIF
and an MP4 grid of three commands that decode with the expected frames and layout, and bad input is one line with
nothing written."""

import json
import os
import subprocess
import sys

import imageio.v2 as imageio
import jax
import numpy as np
import pytest

import envs
from envs.render import Renderer
from fastgen import render, run
from tests.tiny import TINY


@pytest.mark.parametrize("name", envs.TASK_NAMES)
def test_every_task_renders(name):
    env = envs.make(name, "cpu", nthread=1)
    qpos, qvel = env.physical_state(env.reset(jax.random.key(0), 2))
    frames = Renderer(name, 64, 48).frames(qpos, qvel)
    assert frames.shape == (2, 48, 64, 3) and frames.dtype == np.uint8
    assert frames.std() > 5  # a scene, not a blank image


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("render") / "run"
    assert run.main([*TINY, "--total-steps", "400", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_a_grid_of_three_commands(tiny_run, tmp_path, suffix):
    out = tmp_path / f"grid{suffix}"
    assert render.main([str(tiny_run), "--commands", "0", "300", "1000", "--out", str(out), "--width", "96",
                        "--height", "64", "--fps", "25"]) == 0
    frames = np.stack([frame[..., :3] for frame in imageio.mimread(out, memtest=False)])
    assert frames.shape[1:] == (64, 3 * 96, 3)  # one row of three tiles
    assert frames.shape[0] >= 2  # the reset frame and at least one step
    tiles = frames.reshape(frames.shape[0], 64, 3, 96, 3)
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 0.1, "frames do not change over time"
    assert all(np.abs(tiles[0, :, i].astype(int) - tiles[0, :, j].astype(int)).sum() > 0
               for i, j in [(0, 1), (0, 2), (1, 2)]), "tiles are identical (labels differ by command at least)"


def test_frame_count_is_the_longest_episode_plus_the_reset(tiny_run, tmp_path):
    out = tmp_path / "one.gif"
    # inverted_pendulum earns 1 per step, so an episode's return is its length; a step is 0.04 s, so at 25 fps
    # every step is drawn, after the reset state
    done = render.render(render.RenderConfig(run_dir=str(tiny_run), commands=(50.0,), out=str(out), width=32,
                                             height=32, fps=25))
    assert done["frames"] == int(done["returns"][0]) + 1  # inverted_pendulum: return = length
    assert len(imageio.mimread(out, memtest=False)) == done["frames"]


@pytest.mark.parametrize("args, fragment", [
    (["--commands", "--out", "x.gif"], "--commands must be one or more finite returns, got []"),
    (["--commands", "nan", "--out", "x.gif"], "--commands must be one or more finite returns, got [nan]"),
    (["--out", "x.avi"], "x.avi' must end in .gif or .mp4"),
])
def test_bad_arguments_are_one_line_and_write_nothing(tiny_run, tmp_path, capsys, args, fragment):
    args = [a if not a.startswith("x.") else str(tmp_path / a) for a in args]
    assert render.main([str(tiny_run), *args]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("fastgen.render: error")]
    assert len(lines) == 1 and fragment in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_a_run_directory_without_a_generator_is_one_line(tiny_run, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text((tiny_run / "config.json").read_text())
    assert render.main([str(tmp_path / "run"), "--out", str(tmp_path / "x.gif")]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("fastgen.render: error")]
    assert len(lines) == 1 and "has no checkpoint.pt" in lines[0], lines
    assert not (tmp_path / "x.gif").exists()


def test_without_opengl_the_error_names_the_packages(tiny_run, tmp_path):
    env = {**os.environ, "MUJOCO_GL": "disable"}
    done = subprocess.run([sys.executable, "-m", "fastgen.render", str(tiny_run), "--commands", "10", "--out",
                           str(tmp_path / "x.gif")], capture_output=True, text=True, env=env, timeout=300)
    lines = [line for line in done.stderr.splitlines() if line.startswith("fastgen.render: error")]
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert "libegl1 (egl) or libosmesa6 (osmesa)" in lines[0]
    assert not (tmp_path / "x.gif").exists()


def test_eval_video_writes_clips_to_the_run_and_tensorboard(tmp_path):
    out = tmp_path / "run"
    assert run.main([*TINY, "--total-steps", "1000", "--out", str(out), "--eval.video", "--eval.video-every", "2"]) == 0
    evaluations = len((out / "metrics.jsonl").read_text().splitlines())
    clips = sorted((out / "videos").glob("eval_*.gif"))
    assert len(clips) == (evaluations + 1) // 2 >= 2  # evaluations 1, 3, 5, ...
    for clip in clips:
        frames = imageio.mimread(clip, memtest=False)
        assert len(frames) >= 2 and frames[0].shape[:2] == (120, 160)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out), size_guidance={"images": 0})
    events.Reload()
    images = events.Images("eval/video")
    assert len(images) == len(clips) and images[0].encoded_image_string[:6] == b"GIF89a"


BASELINE_RUNS = {"ars": ["--ars.directions", "2", "--ars.elite", "1"], "ddpg": ["--ddpg.start-steps", "100"],
                 "udrl": []}


@pytest.mark.parametrize("algo", sorted(BASELINE_RUNS))
def test_a_baselines_final_policy_renders_and_its_evaluations_film(algo, tmp_path):
    out = tmp_path / "run"
    assert run.main(["--algo", algo, "--env", "inverted_pendulum", "--engine", "cpu", "--device", "cpu", "--total-steps",
                     "400", "--eval.every", "200", "--eval.episodes", "2", "--eval.video", "--eval.video-every", "1",
                     *BASELINE_RUNS[algo], "--out", str(out)]) == 0
    evaluations = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
                   if "eval/return" in json.loads(line)]
    assert len(sorted((out / "videos").glob("eval_*.gif"))) == len(evaluations) >= 2

    done = render.render(render.RenderConfig(run_dir=str(out), out=str(tmp_path / "final.gif"), width=32, height=32,
                                             fps=25))
    assert len(done["tiles"]) == 1 and done["tiles"][0].endswith(", final")
    # the drawn episode is the final evaluation's policy: inverted_pendulum's return is its length (frames - 1)
    assert done["frames"] == int(done["returns"][0]) + 1 == len(imageio.mimread(tmp_path / "final.gif", memtest=False))


def test_udrl_answers_commands_and_the_others_refuse_them(tmp_path, capsys):
    runs = {}
    for algo in ("udrl", "ars"):
        runs[algo] = tmp_path / algo
        assert run.main(["--algo", algo, "--env", "inverted_pendulum", "--engine", "cpu", "--device", "cpu",
                         "--total-steps", "300", *BASELINE_RUNS[algo], "--out", str(runs[algo])]) == 0
    done = render.render(render.RenderConfig(run_dir=str(runs["udrl"]), commands=(5.0, 500.0),
                                             out=str(tmp_path / "udrl.gif"), width=32, height=32))
    assert [t.split(" -> ")[0] for t in done["tiles"]] == ["c 5", "c 500"]
    assert render.main([str(runs["ars"]), "--commands", "10", "--out", str(tmp_path / "ars.gif")]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("fastgen.render: error")]
    assert len(lines) == 1 and "--commands: a --algo ars policy takes no command" in lines[0]
    assert not (tmp_path / "ars.gif").exists()
