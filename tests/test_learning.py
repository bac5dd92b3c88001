"""Learning checks (slow: deselected by default, run with ``pytest -m slow``).

The short version of ``bench/learning.py``: PoliGen with the paper's schedule on mountain_car,
P = 1. Measured in bench/results/learning_mountain_car.json: all 3 seeds first reach an evaluation
return >= 90 within ~3k env steps and end at 92.6 +- 0.8 after 100k (the paper: 93 +- 1).
"""

import json

import pytest

from fastgen.config import Config
from fastgen.run import train


@pytest.mark.slow
def test_mountain_car_reaches_90_quickly(tmp_path):
    out = tmp_path / "mc"
    train(Config(env="mountain_car", num_envs=1, seed=0, total_steps=20_000, engine="cpu", device="cpu", out=str(out)))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(row["eval/return"] for row in rows) >= 90.0
