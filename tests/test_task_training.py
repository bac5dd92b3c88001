"""walker2d, half_cheetah, ant and reacher train end to end through ``fastgen.run`` (PoliGen and ARS at tiny
budgets): the run directory, metrics with the bonus-free return where the task has a survival bonus, a summary."""

import json

import pytest
import torch

from fastgen import run

NEW_TASKS = ["walker2d", "half_cheetah", "ant", "reacher"]
SMALL = ["--engine", "cpu", "--device", "cpu", "--eval.episodes", "1", "--threads", "1"]
ALGOS = {
    "poligen": ["--num-envs", "2", "--generator.updates-per-episode", "1", "--evaluator.updates-per-episode", "1"],
    "ars": ["--num-envs", "4"],
}


@pytest.fixture
def torch_threads_restored():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("algo", list(ALGOS))
@pytest.mark.parametrize("name", NEW_TASKS)
def test_trains_end_to_end(tmp_path, torch_threads_restored, name, algo):
    out = tmp_path / f"{name}-{algo}"
    code = run.main(["--algo", algo, "--env", name, *SMALL, *ALGOS[algo], "--total-steps", "100", "--out", str(out)])
    assert code == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["env_steps"] == 0 and rows[-1]["env_steps"] >= 100
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] and summary["env_steps"] == rows[-1]["env_steps"]
    assert json.loads((out / "config.json").read_text())["env"] == name
    for row in rows:
        assert 1 <= row["eval/length"] <= (50 if name == "reacher" else 1000)
        if name in ("walker2d", "ant"):  # +1 per step of survival bonus in the env's own return
            assert row["eval/return"] - row["eval/return_no_bonus"] == pytest.approx(row["eval/length"], abs=1e-6)
        else:
            assert "eval/return_no_bonus" not in row
