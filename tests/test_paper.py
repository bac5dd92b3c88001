"""``bench.paper``: run grid, ablation configs, bootstrap intervals, resuming a partial sweep."""

import dataclasses
import json

import numpy as np
import pytest

from bench import paper


def test_variants_change_exactly_their_setting(tmp_path):
    settings = paper.Settings(runs_dir=str(tmp_path))
    base = paper.make_config("mountain_car", "poligen", 3, settings)
    assert base.out == str(tmp_path / "mountain_car-P1-seed3")  # shared with bench.learning
    changed = {"poligen-no-output-scaling": ("generator", "output_scaling", False),
               "poligen-uniform-buffer": ("buffer", "recency_power", 0.0),
               "poligen-drive-0": ("command", "drive", 0.0)}
    for variant, (section, field, value) in changed.items():
        cfg = paper.make_config("mountain_car", variant, 3, settings)
        assert getattr(getattr(cfg, section), field) == value != getattr(getattr(base, section), field)
        assert cfg.out == str(tmp_path / f"mountain_car-{variant}-seed3")
        for other in ("generator", "buffer", "command", "evaluator"):
            if other != section:
                assert getattr(cfg, other) == getattr(base, other)
    assert paper.make_config("hopper", "ars", 0, settings).algo == "ars"


def test_poligen_rows_use_the_papers_schedule_and_default_uses_fastgens(tmp_path, monkeypatch):
    from fastgen.poligen import settings as poligen
    settings = paper.Settings(runs_dir=str(tmp_path))
    defaults = {task: dict(values, num_envs=64) for task, values in poligen.POPULATION_DEFAULTS.items()}
    monkeypatch.setattr(poligen, "POPULATION_DEFAULTS", defaults)  # a task whose default P is not 1
    for variant in ("poligen", "poligen-no-output-scaling", "poligen-uniform-buffer", "poligen-drive-0"):
        cfg = paper.make_config("mountain_car", variant, 0, settings)
        assert cfg.schedule == "paper" and cfg.population == 1 and poligen.update_counts(cfg) == (5, 20)
    default = paper.make_config("mountain_car", "poligen-default", 0, settings)
    assert default.schedule == "default" and default.population == 64
    assert default.out == str(tmp_path / "mountain_car-poligen-default-seed0")


def test_bootstrap_interval_holds_the_mean_and_vanishes_without_spread():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(5, 3)) + np.array([0.0, 10.0, 20.0])
    low, high = paper.bootstrap_mean_ci(values, 4000, rng)
    assert np.all(low <= values.mean(0)) and np.all(values.mean(0) <= high) and np.all(high - low > 0)
    # a normal mean's 95% interval is ~ +-1.96 sd/sqrt(n); the bootstrap's is a little narrower for n = 5
    assert np.all(high - low < 2 * 1.96 * values.std(0, ddof=1) / np.sqrt(5) * 1.2)
    flat = np.tile([1.0, 2.0], (4, 1))
    low, high = paper.bootstrap_mean_ci(flat, 100, rng)
    np.testing.assert_array_equal(low, [1.0, 2.0])
    np.testing.assert_array_equal(high, [1.0, 2.0])


def test_curves_end_where_a_run_ends():
    runs = [{"curve": [{"env_steps": 0, "eval/return": 0.0}, {"env_steps": 100, "eval/return": 10.0}]},
            {"curve": [{"env_steps": 0, "eval/return": 0.0}, {"env_steps": 50, "eval/return": 20.0}]}]
    grid, values = paper.curves(runs, "env_steps", points=11)
    np.testing.assert_allclose(values[0], np.linspace(0, 10, 11))
    assert np.isnan(values[1, 6:]).all() and values[1, 5] == 20.0


def test_aggregate_reports_ci_steps_reached_and_seeds_of_partial_runs():
    runs = [{"seed": seed, "budget": 3_000_000, "final_return": final,
             "summary": {"env_steps": steps, "max_eval_return": final + 5, "finished": steps >= 3_000_000, "wall_s": 10.0}}
            for seed, final, steps in [(0, 300.0, 3_000_000), (1, 320.0, 3_000_000), (4, 250.0, 1_200_000)]]
    row = paper.aggregate("swimmer", "poligen", runs, resamples=500)
    assert row["seed_list"] == [0, 1, 4] and row["finished"] == "2/3"
    assert (row["env_steps_min"], row["env_steps_max"]) == (1_200_000, 3_000_000)
    assert 250.0 <= row["final_ci_low"] < row["final_mean"] < row["final_ci_high"] <= 320.0
    assert row["vs_paper"] == pytest.approx(row["final_mean"] - 334.0)
    line = paper.markdown([row]).splitlines()[-1]
    assert "| 3 (0,1,4) | 1.20M-3.00M (3.00M) |" in line and "| 2/3 |" in line


def test_paper_numbers_are_table_1():
    assert paper.paper_number("hopper", "poligen") == (2589.0, 300.0)
    assert paper.paper_number("mountain_car", "ddpg") == (-1.0, 0.01)
    assert paper.paper_number("mountain_car", "poligen-drive-0") is None


def test_sweep_trains_reports_and_resumes_without_retraining(tmp_path):
    settings = paper.Settings(variants=("poligen", "poligen-drive-0"), tasks=("mountain_car",), seeds=(0, 1),
                              total_steps=500, runs_dir=str(tmp_path / "runs"), results_dir=str(tmp_path / "results"),
                              bootstrap=50)
    payload = paper.main(settings)
    assert len(payload["runs"]) == 4 and len(payload["table"]) == 2
    assert [row["variant"] for row in payload["table"]] == ["poligen", "poligen-drive-0"]
    for run in payload["runs"]:
        summary = json.loads((tmp_path / "runs" / run["run_dir"].split("/")[-1] / "summary.json").read_text())
        assert summary["env_steps"] >= 500 and run["summary"] == summary
    md = (tmp_path / "results" / "paper_custom_mountain_car.md").read_text()
    assert md.count("| mountain_car |") == 2
    assert (tmp_path / "results" / "paper_custom_mountain_car_mountain_car.png").exists()
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("summary.json")}
    again = paper.main(dataclasses.replace(settings, report=True))  # every run is done: nothing is trained again
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert again["table"] == payload["table"]
    index = (tmp_path / "runs" / "index.html").read_text()  # with --report: a page per run and an index of them
    assert index.count("<li><a href='") == 4 and "mountain_car-P1-seed1/report.html" in index
    assert all((tmp_path / "runs" / run["run_dir"].split("/")[-1] / "report.html").exists() for run in payload["runs"])

    # a machine that lost a run directory: the earlier report's record of that run is carried over
    import shutil
    report = tmp_path / "results" / "paper_custom_mountain_car.json"
    kept = tmp_path / "earlier.json"
    shutil.copy(report, kept)
    shutil.rmtree(tmp_path / "runs" / "mountain_car-P1-seed1")
    carried = paper.main(dataclasses.replace(settings, only_existing=True, carry_over=str(kept)))
    lost = [r for r in carried["runs"] if "carried_from" in r]
    assert [(r["variant"], r["seed"]) for r in lost] == [("poligen", 1)]
    assert [r["seed"] for r in carried["runs"] if r["variant"] == "poligen"] == [0, 1]
    first = {k: v for k, v in carried["table"][0].items() if k != "carried_seeds"}
    assert first == {k: v for k, v in payload["table"][0].items() if k != "carried_seeds"}
    assert carried["table"][0]["carried_seeds"] == [1] and carried["table"][1]["carried_seeds"] == []
    assert "- mountain_car poligen: seeds 1" in (tmp_path / "results" / "paper_custom_mountain_car.md").read_text()
    # a report written before runs stored their final return: computed from the run's curve, the same table
    earlier = json.loads(kept.read_text())
    for run in earlier["runs"]:
        del run["final_return"], run["final_evaluations"]
    kept.write_text(json.dumps(earlier))
    from_older = paper.main(dataclasses.replace(settings, only_existing=True, carry_over=str(kept)))
    assert from_older["table"] == carried["table"]
    without = paper.main(dataclasses.replace(settings, only_existing=True))
    assert without["table"][0]["seeds"] == 1


def test_bad_settings_name_the_value():
    with pytest.raises(SystemExit, match="unknown variant 'poligen-fast'"):
        paper.Settings(variants=("poligen-fast",)).validate()
    with pytest.raises(SystemExit, match="unknown preset 'all'"):
        paper.Settings(preset="all").validate()
    with pytest.raises(SystemExit, match="--carry-over 'nowhere.json' is not a file"):
        paper.Settings(carry_over="nowhere.json").validate()
