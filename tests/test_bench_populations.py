"""bench.populations: variant names, a tiny sweep that trains, tabulates and decides, and the P1 stand-in."""

import dataclasses
import json
from pathlib import Path

import pytest

from bench import populations
from fastgen.poligen import settings as poligen


def test_variant_names_parse_and_bad_ones_are_named():
    assert populations.parse_variant("P64-s1-a0.5-b0") == {"P": 64, "spread": 1.0, "alpha": 0.5, "beta": 0.0,
                                                           "changes": {}}
    assert populations.parse_variant("P1")["P"] == 1
    for bad in ("P64", "Q8-s1-a1-b0", "P8-s1-a-b0"):
        with pytest.raises(SystemExit, match=f"unknown variant '{bad}'"):
            populations.parse_variant(bad)


def test_variants_set_what_their_names_say(tmp_path):
    settings = populations.Settings(runs_dir=str(tmp_path))
    cfg = populations.make_config("swimmer", "P64-s0.5-a0.5-b0.5", 3, settings)
    assert cfg.population == 64 and poligen.command_spread(cfg) == 0.5 and poligen.update_counts(cfg) == (40, 160)
    assert poligen.batch_size(cfg) == 128 and cfg.seed == 3 and cfg.out.endswith("swimmer-P64-s0.5-a0.5-b0.5-seed3")
    paper = populations.make_config("swimmer", "P1", 0, settings)
    assert paper.schedule == "paper" and paper.population == 1 and paper.out.endswith("swimmer-P1-seed0")


def test_a_variant_too_long_for_a_file_name_gets_a_short_distinct_run_directory(tmp_path):
    settings = populations.Settings(runs_dir=str(tmp_path))
    base = "P64-s1-a0.5-b0+generator.command_input=symlog+evaluator.updates_per_episode=40" + \
        "+generator.updates_per_episode=40+generator.noise_free=8+generator.antithetic=True+command.verify=4" + \
        "+buffer.keep_behaviour=True+generator.anchor_lr=2e-06"
    long_a, long_b = base + "+generator.anchor_after=5", base + "+generator.anchor_after=6"
    assert len(f"hopper-{long_a}-seed1") > 255
    paths = [Path(populations.make_config("hopper", v, 1, settings).out) for v in (long_a, long_b)]
    assert all(len(p.name.encode()) <= 255 for p in paths) and paths[0] != paths[1]
    assert all(p.name.startswith("hopper-" + base[:100]) and p.name.endswith("-seed1") for p in paths)
    for p in paths:
        p.mkdir()  # the file system takes it
    short = populations.make_config("hopper", "P64-s1-a0.5-b0+command.verify=4", 2, settings)
    assert Path(short.out).name == "hopper-P64-s1-a0.5-b0+command.verify=4-seed2"


def test_a_variant_can_set_named_options_on_top(tmp_path):
    settings = populations.Settings(runs_dir=str(tmp_path))
    cfg = populations.make_config("hopper", "P64-s1-a0.5-b0+generator.command_input=symlog+command.bonus_free=false",
                                  1, settings)
    assert cfg.generator.command_input == "symlog" and cfg.command.bonus_free is False and cfg.population == 64
    width = populations.make_config("hopper", "P1+generator.command_width=400", 0, settings)
    assert width.generator.command_width == 400.0 and width.schedule == "paper"
    assert width.out.endswith("hopper-P1+generator.command_width=400-seed0")
    typed = populations.make_config("swimmer", "P64-s1-a0.5-b0+buffer.archive_buckets=20+generator.updates_per_episode=40"
                                    "+generator.noise_layout=fan-in+generator.lr=8e-6", 0, settings)
    assert (typed.buffer.archive_buckets, typed.generator.updates_per_episode, typed.generator.noise_layout,
            typed.generator.lr) == (20, 40.0, "fan-in", 8e-6) and type(typed.buffer.archive_buckets) is int
    with pytest.raises(SystemExit, match=r"'buffer.archive_buckets=many' needs a number \(int\)"):
        populations.parse_variant("P64-s1-a0.5-b0+buffer.archive_buckets=many")
    for bad in ("P64-s1-a0.5-b0+nosuch.field=1", "P64-s1-a0.5-b0+generator.command_input"):
        with pytest.raises(SystemExit, match="is not section.field=value"):
            populations.parse_variant(bad)
    with pytest.raises(ValueError, match="unknown --generator.command-input 'cubic'"):
        populations.make_config("hopper", "P1+generator.command_input=cubic", 0, settings)


def test_a_tiny_sweep_trains_tabulates_and_decides(tmp_path):
    settings = populations.Settings(tasks=("mountain_car",), variants=("P1", "P4-s1-a0-b0"), seeds=(0,),
                                    total_steps=1000, runs_dir=str(tmp_path / "runs"), bootstrap=20, name="tiny",
                                    results_dir=str(tmp_path))
    payload = populations.main(settings)
    for run in payload["runs"]:  # 5 + 20 updates per iteration: per episode at P = 1, per 4 episodes at alpha = 0
        assert run["updates"] == 25 * run["summary"]["iterations"]
        assert run["updates_per_env_step"] == pytest.approx(run["updates"] / run["summary"]["env_steps"])
        assert run["final_evaluations"] == len(run["curve"])  # 1000 steps: every evaluation is in the last 20k
    assert payload["decisions"]["mountain_car"]["reference"]["variant"] == "P1"
    assert "mountain_car" in (tmp_path / "tiny.md").read_text() and (tmp_path / "tiny_mountain_car.png").exists()


def test_p1_rows_can_come_from_an_earlier_sweep(tmp_path):
    curve = [{"env_steps": s, "wall_s": s / 100, "eval/return": 90.0 + s / 100_000} for s in range(0, 100_001, 1000)]
    summary = {"iterations": 100, "env_steps": 100_000, "wall_s": 1000.0, "finished": True}
    (tmp_path / "old.json").write_text(json.dumps({"runs": [
        {"task": "mountain_car", "algo": "poligen", "P": 1, "seed": 0, "summary": summary, "curve": curve},
        {"task": "mountain_car", "algo": "ars", "P": 2, "seed": 0, "summary": summary, "curve": curve}]}))
    runs = populations.reference_runs(str(tmp_path / "old.json"), "mountain_car")
    assert len(runs) == 1 and runs[0]["final_evaluations"] == 20
    assert runs[0]["final_return"] == pytest.approx(90.0 + sum(range(81, 101)) / 20 / 100)
    (tmp_path / "e2e.json").write_text(json.dumps({"benchmark": "end_to_end", "summary": summary, "curve": curve,
                                                   "result": {"env": "mountain_car", "P": 1, "seed": 4}}))
    assert [r["seed"] for r in populations.reference_runs(str(tmp_path / "e2e.json"), "mountain_car")] == [4]


def test_a_variant_that_fails_its_confirmation_leaves_the_task_on_p1():
    def row(variant, final, wall, finals_at_bar="0/0"):
        return {"task": "swimmer", "variant": variant, "final_mean": final, "finished": "5/5", "wall_s_per_run": wall,
                "finals_at_bar": finals_at_bar}
    rows = [row("P1", 309.5, 11_946), row("P64-s1-a0.5-b0", 312.1, 792)]
    assert populations.decide(rows)["swimmer"]["chosen"]["variant"] == "P64-s1-a0.5-b0"
    held = [row("P64-s1-a0.5-b0", 326.9, 770, "5/5")]
    assert populations.decide(rows, held)["swimmer"]["chosen"]["variant"] == "P64-s1-a0.5-b0"
    failed = [row("P64-s1-a0.5-b0", 326.9, 770, "3/5")]
    assert populations.decide(rows, failed)["swimmer"]["chosen"]["variant"] == "P1"


def test_the_mean_bar_rule_holds_deciding_and_confirming_seeds_to_the_bar():
    """--rule mean-bar (issue 37's bars): a variant needs its mean final return at the bar on the deciding seeds and
    on the confirming ones; one confirming seed below it does not sink a variant whose mean is above."""
    def row(variant, final, wall, finished="5/5", seeds=5):
        return {"task": "swimmer", "variant": variant, "final_mean": final, "finished": finished, "bar": 318.0,
                "wall_s_per_run": wall, "finals_at_bar": "0/5", "seeds": seeds}
    rows = [row("P1", 309.5, 11_946), row("cheap", 312.1, 792), row("dear", 321.8, 1_400)]
    assert populations.decide(rows, rule="mean-bar")["swimmer"]["chosen"]["variant"] == "dear"  # cheap is below 318
    assert populations.decide(rows, [row("dear", 326.9, 1_400)], "mean-bar")["swimmer"]["chosen"]["variant"] == "dear"
    for failed in (row("dear", 317.0, 1_400), row("dear", 330.0, 1_400, finished="4/5"),
                   row("dear", 330.0, 1_400, finished="2/2", seeds=2)):  # fewer than 3 confirming seeds
        assert populations.decide(rows, [failed], "mean-bar")["swimmer"]["chosen"]["variant"] == "P1"
    two_seeds = [rows[0], row("dear", 321.8, 1_400, finished="2/2", seeds=2)]
    assert populations.decide(two_seeds, rule="mean-bar")["swimmer"]["chosen"]["variant"] == "P1"
    assert populations.decide(rows)["swimmer"]["chosen"]["variant"] == "cheap"  # the p1 rule: within one std of P1
    with pytest.raises(ValueError, match="unknown decision rule 'median'; choose one of p1, mean-bar, reach-bar"):
        populations.decide(rows, rule="median")


def test_the_reach_bar_rule_wants_every_seed_to_reach_the_bar():
    """--rule reach-bar (hopper's first 300k env steps): every deciding and confirming run's evaluation reaches the
    bar, on at least 3 finished seeds each; a high mean with one seed short does not qualify."""
    def row(variant, reached, wall, finished="3/3", final=500.0):
        seeds = int(finished.split("/")[1])
        return {"task": "hopper", "variant": variant, "final_mean": final, "finished": finished, "bar": 1000.0,
                "wall_s_per_run": wall, "finals_at_bar": "0/3", "seeds": seeds, "reached": reached}
    rows = [row("P1", "2/3", 19_000), row("cheap", "2/3", 900, final=1500.0), row("dear", "3/3", 1_400)]
    assert populations.decide(rows, rule="reach-bar")["hopper"]["chosen"]["variant"] == "dear"
    assert populations.decide(rows, [row("dear", "3/3", 1_500)], "reach-bar")["hopper"]["chosen"]["variant"] == "dear"
    for failed in (row("dear", "2/3", 1_500), row("dear", "3/3", 1_500, finished="2/3"),
                   row("dear", "2/2", 1_500, finished="2/2")):
        assert populations.decide(rows, [failed], "reach-bar")["hopper"]["chosen"]["variant"] == "P1"
    assert populations.decide(rows, rule="mean-bar")["hopper"]["chosen"]["variant"] == "cheap"  # its mean is 1500


def test_recorded_runs_stand_in_for_run_directories_that_are_gone(tmp_path):
    variant = "P4-s1-a0-b0"
    settings = populations.Settings(tasks=("mountain_car",), variants=(variant,), seeds=(0,), total_steps=1000,
                                    runs_dir=str(tmp_path / "runs"), bootstrap=20, name="first",
                                    results_dir=str(tmp_path), only_existing=True)
    here = tmp_path / "runs" / f"mountain_car-{variant}-seed0"  # seed 0's run directory, as a finished run left it
    here.mkdir(parents=True)
    (here / "summary.json").write_text(json.dumps({"iterations": 5, "env_steps": 1000, "wall_s": 3.0, "finished": True}))
    (here / "metrics.jsonl").write_text("".join(json.dumps({"env_steps": s, "wall_s": s / 400, "eval/return": s / 10})
                                                + "\n" for s in (0, 500, 1000)))
    kept = populations.main(settings)["runs"][0]
    earlier = [{**kept, "final_return": 1e6},  # seed 0 is here: its directory wins over its record
               {**kept, "seed": 1, "final_return": -5.0},
               {**kept, "seed": 2, "summary": {**kept["summary"], "finished": False}},  # unfinished: not taken
               {**kept, "variant": "P8-s1-a0-b0", "seed": 3},  # another variant
               {**kept, "seed": 4, "source": "table1.json"}]  # recorded from a reference run: keeps its source
    (tmp_path / "earlier.json").write_text(json.dumps({"runs": earlier}))
    again = populations.main(dataclasses.replace(settings, seeds=(0, 1, 2, 3, 4), name="second",
                                                 recorded_json=(str(tmp_path / "earlier.json"),)))
    by_seed = {run["seed"]: run for run in again["runs"]}
    assert set(by_seed) == {0, 1, 4} and by_seed[4]["source"] == "table1.json"
    assert by_seed[0]["final_return"] == pytest.approx(50.0) and "source" not in by_seed[0]
    assert by_seed[1]["final_return"] == -5.0 and by_seed[1]["source"] == "earlier.json"
    row, = again["table"]
    assert row["seeds"] == 3 and row["source"] == "this sweep, earlier.json, table1.json"
    (tmp_path / "twice.json").write_text(json.dumps({"runs": earlier[1:2] * 2}))
    with pytest.raises(SystemExit, match=f"mountain_car {variant} seed 1 is recorded twice"):
        populations.recorded_runs([str(tmp_path / "twice.json")], "mountain_car", variant)
