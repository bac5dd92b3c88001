"""P > 1 policies per iteration: the final return by env steps, update and batch scaling, spread commands."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from fastgen.config import Config
from fastgen.poligen import settings as poligen
from fastgen.poligen import trainer
from fastgen.poligen.settings import BufferConfig, CommandConfig, EvaluatorConfig, GeneratorConfig, ScalingConfig
from fastgen.runs.rundir import final_return


def _rows(steps, returns=None):
    returns = returns if returns is not None else [float(s) for s in steps]
    return [{"env_steps": s, "eval/return": r} for s, r in zip(steps, returns)]


def test_final_return_of_a_one_episode_schedule_is_its_last_20_evaluations():
    steps = list(range(0, 3_000_001, 10_000))  # swimmer, P = 1: an evaluation at every 10k
    rows = _rows(steps, [float(i) for i in range(len(steps))])
    mean, count = final_return(rows, 3_000_000, 10_000)
    assert count == 20 and mean == pytest.approx(sum(range(len(steps) - 20, len(steps))) / 20)
    ragged = [0] + [k * 10_000 + 37 * (k % 5) + 1 for k in range(1, 301)]  # hopper: evaluated where an episode ends
    assert final_return(_rows(ragged), 3_000_000, 10_000)[1] == 20


def test_final_return_averages_the_same_stretch_of_env_steps_for_any_population():
    big = list(range(0, 3_000_001 + 64_000, 64_000))  # swimmer, P = 64: one evaluation per 64k-step iteration
    mean, count = final_return(_rows(big), 3_000_000, 10_000)
    window = [s for s in big if s >= 2_810_000]
    assert count == len(window) == 4 and mean == pytest.approx(sum(window) / 4)
    cut = final_return(_rows(list(range(0, 50_001, 10_000))), 3_000_000, 10_000)  # stopped early: its own last 200k
    assert cut[1] == 6


def test_a_run_continued_past_the_budget_reads_as_it_stood_at_the_budget(tmp_path):
    """A 300k run continued to 600k: its final return at 300k averages the evaluations of 110k-300k only (steps as
    returns: their mean is 205k), and bench's record of it (curve, summary counters) stops at the 300k row."""
    from bench.learning import ensure_run

    rows = [{"env_steps": s, "wall_s": s / 100, "episodes": s // 100, "iterations": s // 6400, "eval/return": float(s)}
            for s in range(0, 600_001, 10_000)]
    assert final_return(rows, 300_000, 10_000) == (pytest.approx(205_000.0), 20)
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "summary.json").write_text(json.dumps({"env_steps": 600_000, "wall_s": 6_000.0, "episodes": 6_000,
                                                       "iterations": 93, "finished": True}))
    record = ensure_run(Config(env="hopper", total_steps=300_000, out=str(tmp_path)), train_if_needed=False)
    assert record["curve"][-1]["env_steps"] == 300_000 and record["final_return"] == pytest.approx(205_000.0)
    assert {k: record["summary"][k] for k in ("env_steps", "wall_s", "episodes", "iterations")} == {
        "env_steps": 300_000, "wall_s": 3_000.0, "episodes": 3_000, "iterations": 46}
    assert record["summary"]["continued_past_budget"] and "iterations_after_budget" not in record["summary"]


def test_a_run_with_an_averaged_generator_also_reports_the_final_return_of_the_generators_own_policy(tmp_path):
    from bench.learning import ensure_run
    from bench.populations import aggregate

    rows = [{"env_steps": s, "wall_s": s / 100, "episodes": s // 100, "eval/return": float(s),
             "eval/live_return": float(s) - 7.0} for s in range(0, 300_001, 10_000)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "summary.json").write_text(json.dumps({"env_steps": 300_000, "wall_s": 3_000.0, "iterations": 46}))
    record = ensure_run(Config(env="hopper", total_steps=300_000, out=str(tmp_path)), train_if_needed=False)
    assert record["final_return"] == pytest.approx(205_000.0)  # steps 110k-300k as returns
    assert record["live_final_return"] == pytest.approx(205_000.0 - 7.0)
    assert record["curve"][-1]["eval/live_return"] == 300_000.0 - 7.0
    runs = [{**record, "updates_per_env_step": 0.01, "batch": 16}, {**record, "live_final_return": 205_000.0 - 9.0,
                                                                   "updates_per_env_step": 0.01, "batch": 16}]
    row = aggregate("hopper", "P64-s1-a0.5-b0", runs)
    assert (row["live_final_mean"], row["live_final_std"]) == (pytest.approx(205_000.0 - 8.0), pytest.approx(1.0))
    plain = [{k: v for k, v in r.items() if k != "live_final_return"} for r in runs]
    assert "live_final_mean" not in aggregate("hopper", "P64-s1-a0.5-b0", plain)


def test_an_older_run_continued_past_the_budget_says_its_iterations_are_the_whole_runs(tmp_path):
    from bench.learning import ensure_run

    rows = [{"env_steps": s, "wall_s": s / 100, "episodes": s // 100, "eval/return": 1.0} for s in (0, 300_000, 600_000)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "summary.json").write_text(json.dumps({"env_steps": 600_000, "wall_s": 6_000.0, "iterations": 93}))
    summary = ensure_run(Config(env="hopper", total_steps=300_000, out=str(tmp_path)), train_if_needed=False)["summary"]
    assert summary["iterations"] == 93 and summary["iterations_after_budget"] and summary["env_steps"] == 300_000


def test_update_counts_and_batch_grow_with_the_population_as_configured():
    assert Config(env="walker2d").population == 1 and poligen.update_counts(Config(env="walker2d", num_envs=64)) == (40, 160)
    base = Config(env="walker2d", num_envs=64, scaling=ScalingConfig(updates_exponent=1.0))
    assert poligen.update_counts(base) == (5 * 64, 20 * 64) and poligen.batch_size(base) == 16  # the paper's per-episode schedule
    sqrt = dataclasses.replace(base, scaling=ScalingConfig(updates_exponent=0.5, batch_exponent=0.5))
    assert poligen.update_counts(sqrt) == (40, 160) and poligen.batch_size(sqrt) == 128
    flat = dataclasses.replace(base, scaling=ScalingConfig(updates_exponent=0.0, batch_exponent=0.0))
    assert poligen.update_counts(flat) == (5, 20)
    paper = Config(env="swimmer", schedule="paper", scaling=ScalingConfig(updates_exponent=0.3, batch_exponent=2.0),
                   command=CommandConfig(spread=1.0))
    assert paper.population == 1 and poligen.update_counts(paper) == (5, 20) and poligen.batch_size(paper) == 16


@pytest.mark.parametrize("changes, fragment", [
    ({"schedule": "fast"}, "unknown schedule 'fast'"),
    ({"schedule": "paper", "num_envs": 8}, "--num-envs 8 contradicts it"),
    ({"command": CommandConfig(spread=-0.5)}, "--command.spread must be >= 0, got -0.5"),
    ({"scaling": ScalingConfig(updates_exponent=float("nan"))}, "--scaling.updates-exponent must be a finite number, got nan"),
    ({"scaling": ScalingConfig(batch_exponent=-1.0)}, "--scaling.batch-exponent must be >= 0, got -1.0"),
])
def test_bad_population_settings_name_the_value(changes, fragment):
    with pytest.raises(ValueError, match=fragment.replace("+", r"\+").replace(".", r"\.")):
        dataclasses.replace(Config(env="mountain_car"), **changes).validate()


def _state(P: int, spread: float) -> trainer.TrainState:
    cfg = Config(env="mountain_car", num_envs=P, engine="cpu", device="cpu", command=CommandConfig(spread=spread),
                 generator=GeneratorConfig(updates_per_episode=1), evaluator=EvaluatorConfig(updates_per_episode=1),
                 buffer=BufferConfig(size=50))
    return trainer.init(cfg)


def test_spread_commands_fan_out_around_best_plus_drive():
    state = _state(5, 1.0)
    assert torch.equal(trainer.population_commands(state), torch.zeros(5))  # the first command before any episode
    state.best_return = 50.0
    torch.testing.assert_close(trainer.population_commands(state), torch.tensor([50.0, 60.0, 70.0, 80.0, 90.0]))
    one = _state(1, 1.0)
    one.best_return = 50.0
    assert trainer.population_commands(one).tolist() == [70.0]  # P = 1: the paper's command


def test_an_iteration_asks_each_policy_for_its_own_command(monkeypatch):
    state = _state(4, 0.5)
    trainer.iteration(state)
    asked = []
    original = trainer.learner.generate
    monkeypatch.setattr(trainer.learner, "generate", lambda *a: asked.append(a[2].clone()) or original(*a))
    trainer.iteration(state)
    best = asked[0].new_tensor(state.buffer.returns[:4].max().item())
    torch.testing.assert_close(asked[0], (best + 20.0 * torch.tensor([0.5, 5 / 6, 7 / 6, 1.5]))[None])


RESULTS = Path(__file__).parents[1] / "bench/results/populations"
HARD_TASKS = ("hopper", "swimmer")  # decided by issue 37's table, populations_hopper_swimmer.json


def _assert_default_is(task: str, chosen_row: dict) -> None:
    from bench.populations import parse_variant
    chosen, default = parse_variant(chosen_row["variant"]), poligen.POPULATION_DEFAULTS[task]
    assert default["num_envs"] == chosen["P"], task
    if chosen["P"] > 1:
        assert (default["spread"], default["updates_exponent"], default["batch_exponent"]) == (
            chosen["spread"], chosen["alpha"], chosen["beta"]), task
    assert Config(env=task).population == chosen["P"] and Config(env=task, schedule="paper").population == 1
    paper = Config(env=task, schedule="paper").resolved()
    for key in DEFAULTED_OPTIONS:  # what the chosen variant sets on top, else the paper's value
        option, = poligen.RESOLVED_FROM[key]
        assert default[key] == chosen["changes"].get(option, paper[key]), (task, key)


def test_population_defaults_are_the_choices_of_the_committed_grid():
    """DEFAULT P, spread, update exponent and command input of the easy tasks are what bench.populations decides
    from the committed grid (populations.json, seeds 0-4) and its confirmations on other seeds
    (populations_confirm_*.json)."""
    from bench.populations import decide
    rows = json.loads((RESULTS / "populations.json").read_text())["table"]
    confirmations = [row for path in sorted(RESULTS.glob("populations_confirm_*.json"))
                     for row in json.loads(path.read_text())["table"]]
    decisions = decide([r for r in rows if r["task"] not in HARD_TASKS], confirmations)
    assert {"inverted_pendulum", "mountain_car"} <= set(decisions)
    for task, decision in decisions.items():
        _assert_default_is(task, decision["chosen"])


def test_hopper_and_swimmer_defaults_are_the_choices_of_their_table():
    """Hopper's and swimmer's defaults are what bench.populations decides by issue 37's bars (--rule mean-bar: the
    mean final return at 3M at the bar on the deciding seeds 0-4 and on the confirming seeds 5-9) from
    populations_hopper_swimmer.json and populations_confirm_hopper_swimmer.json."""
    from bench.populations import decide
    table = json.loads((RESULTS / "populations_hopper_swimmer.json").read_text())
    confirmations = json.loads((RESULTS / "populations_confirm_hopper_swimmer.json").read_text())["table"]
    assert table["settings"]["rule"] == "mean-bar"
    decisions = decide(table["table"], confirmations, "mean-bar")
    assert "swimmer" in decisions and set(decisions) <= set(HARD_TASKS)
    for task, decision in decisions.items():
        _assert_default_is(task, decision["chosen"])


# every option a population default sets on top of P, its spread and its exponents (so none can be left unchecked)
DEFAULTED_OPTIONS = tuple(key for key in poligen.RESOLVED_FROM
                          if key not in ("population", "update_counts", "batch_size", "command_spread"))


def test_population_defaults_reach_the_run_and_the_paper_schedule_keeps_the_papers(monkeypatch):
    set_on_top = {"generator_updates_per_episode": 40.0, "evaluator_updates_per_episode": 10.0, "archive_buckets": 20,
                  "noise_layout": "fan-in", "best_window": 5, "noise_free": 8, "antithetic": True, "verify": 4,
                  "noise_target": 0.2, "bonus_share": 0.1, "bonus_cap": 300.0, "anchor_lr": 2e-6,
                  "average_decay": 0.999, "top_share": 0.25, "anchor_after": 5, "keep_behaviour": True,
                  "slope_lr": 1e-4, "search_pairs": 4, "search_after": 5}
    assert set(set_on_top) == set(DEFAULTED_OPTIONS) - {"command_input"}
    monkeypatch.setitem(poligen.POPULATION_DEFAULTS, "swimmer",
                        {**poligen.POPULATION_DEFAULTS["swimmer"], "num_envs": 64, **set_on_top})
    run, paper = Config(env="swimmer").resolved(), Config(env="swimmer", schedule="paper").resolved()
    assert {k: run[k] for k in set_on_top} == set_on_top
    assert run["update_counts"] == [80, 320]  # x 64^0.5
    assert {k: paper[k] for k in set_on_top} == {"generator_updates_per_episode": 20.0,
                                                "evaluator_updates_per_episode": 5.0, "archive_buckets": 0,
                                                "noise_layout": "flat", "best_window": 0, "noise_free": 0,
                                                "antithetic": False, "verify": 0, "noise_target": 0.0,
                                                "bonus_share": 0.0, "bonus_cap": 0.0, "anchor_lr": 0.0,
                                                "average_decay": 0.0, "top_share": 0.0, "anchor_after": 0,
                                                "keep_behaviour": False, "slope_lr": 0.0, "search_pairs": 0,
                                                "search_after": 0}
    mine = Config(env="swimmer", generator=GeneratorConfig(updates_per_episode=20.0, noise_layout="flat"),
                  buffer=BufferConfig(archive_buckets=0), command=CommandConfig(best_window=0))
    assert (mine.resolved()["generator_updates_per_episode"], mine.resolved()["archive_buckets"],
            mine.resolved()["noise_layout"], mine.resolved()["best_window"]) == (20.0, 0, "flat", 0)
    state = trainer.init(dataclasses.replace(Config(env="swimmer", engine="cpu", device="cpu"), num_envs=2))
    assert state.buffer.archive is not None and state.buffer.archive.buckets == 20


def test_a_default_noise_free_count_is_a_share_of_the_population(monkeypatch):
    """A task whose default sets 8 noise-free policies of 64 runs P // 8 of them at any other --num-envs (so
    --num-envs 4 is not refused for asking 8 of 4), an explicit count as given, the paper's schedule none."""
    monkeypatch.setitem(poligen.POPULATION_DEFAULTS, "walker2d",
                        {**poligen.POPULATION_DEFAULTS["walker2d"], "num_envs": 64, "noise_free": 8})
    assert [poligen.noise_free(Config(env="walker2d", num_envs=p)) for p in (None, 1, 4, 8, 100, 128)] == [8, 0, 0, 1, 12, 16]
    Config(env="walker2d", num_envs=4).validate()
    assert poligen.noise_free(Config(env="walker2d", num_envs=4, generator=GeneratorConfig(noise_free=3))) == 3
    assert poligen.noise_free(Config(env="walker2d", schedule="paper")) == 0
    with pytest.raises(ValueError, match=r"--generator.noise-free must be 0 .. P - 1 = 3 \(--num-envs 4\), got 8"):
        Config(env="walker2d", num_envs=4, generator=GeneratorConfig(noise_free=8)).validate()


def test_a_run_that_stored_the_papers_update_rate_resumes_until_the_default_moves(monkeypatch):
    """Checkpoints written when --generator.updates-per-episode defaulted to 20 (a number in their config, no
    resolved key for it) resume while the default resolves to 20, and are refused once it resolves to more."""
    from fastgen.runs.checkpoint import check_compatible
    now = Config(env="walker2d", num_envs=64)
    saved_config = dataclasses.asdict(now)
    saved_config["generator"]["updates_per_episode"] = 20.0
    resolved = {k: v for k, v in now.resolved().items() if k != "generator_updates_per_episode"}
    saved = {"format": 1, "algo": "poligen", "env": "walker2d", "resolved": resolved, "config": saved_config}
    check_compatible(saved, now)
    monkeypatch.setitem(poligen.POPULATION_DEFAULTS, "walker2d",
                        {**poligen.POPULATION_DEFAULTS["walker2d"], "generator_updates_per_episode": 40.0})
    with pytest.raises(ValueError, match="different generator.updates_per_episode: checkpoint has 20.0, this run 40.0"):
        check_compatible(saved, now)


def test_the_command_input_default_is_the_tasks_and_the_paper_schedule_keeps_the_linear_one(monkeypatch):
    symlog = {**poligen.POPULATION_DEFAULTS["hopper"], "command_input": "symlog"}
    monkeypatch.setitem(poligen.POPULATION_DEFAULTS, "hopper", symlog)
    assert poligen.command_input(Config(env="hopper")) == "symlog"
    assert poligen.command_input(Config(env="hopper", schedule="paper")) == "linear"
    assert poligen.command_input(Config(env="hopper", generator=GeneratorConfig(command_input="linear"))) == "linear"


def test_a_resume_after_the_command_input_default_changed_is_refused(monkeypatch):
    from fastgen.runs.checkpoint import check_compatible
    began = Config(env="hopper", num_envs=64)
    saved = {"format": 1, "algo": "poligen", "env": "hopper", "resolved": began.resolved(),
             "config": dataclasses.asdict(began)}
    check_compatible(saved, began)
    symlog = {**poligen.POPULATION_DEFAULTS["hopper"], "command_input": "symlog"}
    monkeypatch.setitem(poligen.POPULATION_DEFAULTS, "hopper", symlog)
    with pytest.raises(ValueError, match="different command_input .*checkpoint has 'linear', this run 'symlog'"):
        check_compatible(saved, began)
    # a checkpoint written before the resolved settings named it, with the input in its config
    older = {**saved, "resolved": {k: v for k, v in saved["resolved"].items() if k != "command_input"},
             "config": {**saved["config"], "generator": {**saved["config"]["generator"], "command_input": "linear"}}}
    with pytest.raises(ValueError, match="different generator.command_input: checkpoint has 'linear', this run 'symlog'"):
        check_compatible(older, began)


def test_the_bonus_share_default_is_the_tasks_and_the_paper_schedule_keeps_none(monkeypatch):
    monkeypatch.setitem(poligen.POPULATION_DEFAULTS, "hopper", {**poligen.POPULATION_DEFAULTS["hopper"],
                                                                "bonus_share": 0.1})
    assert Config(env="hopper").resolved()["bonus_share"] == 0.1
    assert Config(env="hopper", schedule="paper").resolved()["bonus_share"] == 0.0
    assert Config(env="hopper", command=CommandConfig(bonus_share=0.3)).resolved()["bonus_share"] == 0.3


def test_the_bonus_cap_default_is_the_tasks_and_the_paper_schedule_keeps_none(monkeypatch):
    monkeypatch.setitem(poligen.POPULATION_DEFAULTS, "hopper", {**poligen.POPULATION_DEFAULTS["hopper"],
                                                                "bonus_share": 0.1, "bonus_cap": 300.0})
    assert Config(env="hopper").resolved()["bonus_cap"] == 300.0
    assert Config(env="hopper", schedule="paper").resolved()["bonus_cap"] == 0.0
    assert Config(env="hopper", command=CommandConfig(bonus_cap=50.0)).resolved()["bonus_cap"] == 50.0
