"""Reading a trained run back: snapshots, ``fastgen.sweep``, ``fastgen.atlas``, ``fastgen.export`` + its loader."""

import dataclasses
import json
import re
import shutil
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest
import torch

from envs.tasks import TASKS
from fastgen import atlas, export, policy, policy_file, sweep, trained
from fastgen.config import Config, from_dict
from fastgen.poligen import snapshots
from fastgen.run import train
from fastgen.runs.checkpoint import check_compatible
from tests.reference import gym_episode, make_gym, mlp_action, physical_state

FAST = dict(engine="cpu", device="cpu")


@pytest.fixture(scope="module")
def mc_run(tmp_path_factory) -> Path:
    """mountain_car, 3k env steps (~4 episodes of up to 999 steps), 4 snapshots."""
    out = tmp_path_factory.mktemp("mc") / "run"
    cfg = Config(env="mountain_car", num_envs=1, total_steps=3000, out=str(out), **FAST)
    train(dataclasses.replace(cfg, generator=dataclasses.replace(cfg.generator, snapshots=4)))
    return out


@pytest.fixture(scope="module")
def ip_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ip") / "run"
    cfg = Config(env="inverted_pendulum", num_envs=4, total_steps=300, out=str(out), **FAST)
    train(dataclasses.replace(cfg, generator=dataclasses.replace(cfg.generator, updates_per_episode=1.0)))
    return out


def test_config_round_trips_through_config_json(mc_run):
    cfg = Config(env="swimmer", seed=3, time_limit=5.0)
    cfg = dataclasses.replace(cfg, command=dataclasses.replace(cfg.command, drive=0.0),
                              buffer=dataclasses.replace(cfg.buffer, recency_power=0.0))
    assert from_dict(json.loads(json.dumps(dataclasses.asdict(cfg)))) == cfg
    assert trained.load_config(mc_run).generator.snapshots == 4


def test_resume_accepts_settings_added_later_but_not_changed_ones():
    cfg = Config(env="mountain_car")
    old = dataclasses.asdict(cfg)
    del old["generator"]["snapshots"]  # a checkpoint written before the field existed
    saved = {"format": 1, "algo": "poligen", "env": "mountain_car", "config": old}
    check_compatible(saved, cfg)
    check_compatible(saved, dataclasses.replace(cfg, generator=dataclasses.replace(cfg.generator, snapshots=3)))
    changed = dataclasses.replace(cfg, generator=dataclasses.replace(cfg.generator, lr=1e-3))
    with pytest.raises(ValueError, match="different generator.lr"):
        check_compatible(saved, changed)
    del old["physics"]  # a checkpoint from before physics profiles: it ran Gymnasium's models
    check_compatible(saved, cfg)
    with pytest.raises(ValueError, match="different physics: checkpoint has 'gymnasium', this run 'fast'"):
        check_compatible({**saved, "config": dataclasses.asdict(cfg)}, dataclasses.replace(cfg, physics="fast"))


@pytest.mark.parametrize("algo", ["poligen", "ars", "ddpg", "udrl"])
def test_resume_ignores_the_settings_of_other_algorithms(algo):
    """A default of one baseline that changed (DDPG's replay: 1M -> 100k) does not block other runs' resumes."""
    cfg = Config(algo=algo, env="swimmer")
    old = dataclasses.asdict(dataclasses.replace(cfg, ddpg=dataclasses.replace(cfg.ddpg, buffer_size=1_000_000)))
    saved = {"format": 1, "algo": algo, "env": "swimmer", "config": old}
    if algo == "ddpg":
        with pytest.raises(ValueError, match="different ddpg.buffer_size: checkpoint has 1000000, this run 100000"):
            check_compatible(saved, cfg)
    else:
        check_compatible(saved, cfg)


def test_resume_refuses_a_run_whose_defaults_resolved_differently():
    """A run begun at P = 1 by default is not silently continued at a later default P."""
    began = Config(env="inverted_pendulum", num_envs=1)
    saved = {"format": 1, "algo": "poligen", "env": "inverted_pendulum", "resolved": began.resolved(),
             "config": dataclasses.asdict(dataclasses.replace(began, num_envs=None))}
    with pytest.raises(ValueError, match="different population .*checkpoint has 1, this run 64"):
        check_compatible(saved, Config(env="inverted_pendulum"))
    check_compatible(saved, began)
    del saved["resolved"]  # written before checkpoints recorded it: only the config is compared
    check_compatible(saved, Config(env="inverted_pendulum"))


def test_snapshots_cover_the_budget_from_the_untrained_generator_to_the_last(mc_run):
    kept = snapshots.load_all(mc_run)
    steps = [s["env_steps"] for s in kept]
    assert kept[0]["k"] == 0 and steps[0] == 0 and kept[-1]["k"] == 4
    assert steps == sorted(steps) and all(s["env_steps"] >= s["k"] * 3000 // 4 for s in kept)
    # The untrained generator is the one init builds from the seed; the last is the checkpoint's.
    torch.manual_seed(0)
    from fastgen.poligen.trainer import init
    state = init(Config(env="mountain_car", num_envs=1, **FAST))
    fresh = state.learner.generator_weights.state_dict(state.slot)
    for name, value in fresh.items():
        torch.testing.assert_close(kept[0]["generator"][name], value)
    final = torch.load(mc_run / "checkpoint.pt", weights_only=False)["generator"]
    for name, value in final.items():
        torch.testing.assert_close(kept[-1]["generator"][name], value)


def test_spearman_and_follow_metrics_by_hand():
    assert sweep.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert sweep.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties share their average rank: y ranks (0.5, 0.5, 2, 3) against x ranks (0, 1, 2, 3)
    rx, ry = np.array([0, 1, 2, 3.0]), np.array([0.5, 0.5, 2, 3])
    assert sweep.spearman([1, 2, 3, 4], [5, 5, 6, 7]) == pytest.approx(np.corrcoef(rx, ry)[0, 1])
    assert np.isnan(sweep.spearman([1, 2, 3], [1, 1, 1]))
    commands, achieved = np.array([0.0, 50, 100, 150]), np.array([10.0, 40, 100, 100])
    follow = sweep.follow_metrics(commands, achieved, low=0, high=100)
    assert follow["achievable_commands"] == 3 and follow["mean_abs_error"] == pytest.approx(20 / 3)


def test_sweep_reports_each_command_and_writes_json_and_png(mc_run, tmp_path):
    prefix = tmp_path / "sw"
    assert sweep.main([str(mc_run), "--commands", "5", "--episodes", "2", "--out", str(prefix)]) == 0
    result = json.loads(prefix.with_suffix(".json").read_text())
    assert result["commands"] == pytest.approx(np.linspace(-100, 100, 5).tolist())
    assert len(result["achieved_mean"]) == len(result["predicted"]) == 5
    run = trained.load(mc_run)
    with torch.no_grad():
        predicted = run.evaluator(run.generator(torch.tensor(result["commands"], dtype=torch.float32)))
    np.testing.assert_allclose(result["predicted"], predicted.numpy(), rtol=1e-5, atol=1e-4)
    returns = torch.cat([r for _, r in trained.buffer_chunks(mc_run)])
    assert result["achievable_low"] == pytest.approx(float(returns.min()))
    assert prefix.with_suffix(".png").stat().st_size > 10_000


@pytest.mark.parametrize("args, fragment", [
    (["--commands", "1"], "--commands must be >= 2, got 1"),
    (["--engine", "gpu"], "unknown engine 'gpu'"),
    (["--snapshot", "9"], "--snapshot 9: "),
    (["--low", "5", "--high", "5"], "--high 5.0 must be above --low 5.0"),
])
def test_sweep_bad_input_is_one_line(mc_run, tmp_path, capsys, args, fragment):
    assert sweep.main([str(mc_run), *args, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0]
    assert not list(tmp_path.iterdir())


def test_sweep_refuses_what_is_not_a_poligen_run(tmp_path, capsys):
    assert sweep.main([str(tmp_path)]) == 2
    assert "no config.json" in capsys.readouterr().err
    (tmp_path / "config.json").write_text(json.dumps({"algo": "ars", "env": "mountain_car"}))
    assert sweep.main([str(tmp_path)]) == 2
    assert "is a ars run" in capsys.readouterr().err


def test_command_sensitivity_measures_the_commands_and_the_noises_reach(mc_run, tmp_path):
    from bench import command_sensitivity
    settings = command_sensitivity.Settings(tasks=("mountain_car",), seeds=(0,), run_dirs=(str(mc_run),), episodes=4,
                                            observations=50, results_dir=str(tmp_path))
    rows = command_sensitivity.main(settings)["rows"]
    assert [r["span"] for r in rows[:2]] == ["whole return range", "first 4 returns (p5-p95)"]
    whole, first, run = rows
    spec = TASKS["mountain_car"].spec
    assert (whole["c_lo"], whole["c_hi"]) == spec.return_range and whole["scaled_input_gap"] == pytest.approx(1.0)
    dims = policy.num_params(spec)
    assert whole["weight_gap_noise"] == pytest.approx(0.1 * dims ** 0.5, rel=0.05)  # |eps| of N(0, 0.01 I) in D dims
    assert first["c_lo"] <= first["c_hi"] and first["weight_norm"] == pytest.approx(whole["weight_norm"], rel=0.05)
    assert (run["c_lo"], run["c_hi"]) == sweep.buffer_return_range(mc_run) and run["span"].startswith("buffer returns")
    generator = trained.load(mc_run).generator  # no span, no gap, whatever the noise does
    same = command_sensitivity.measure(generator, spec, 10.0, 10.0, 0, 20)
    assert same["weight_gap_command"] == same["action_gap_command"] == 0.0 and same["action_gap_noise"] > 0
    assert (tmp_path / "command_sensitivity.json").exists()


def test_pca_finds_the_main_axis():
    rng = np.random.default_rng(0)
    t = rng.normal(size=500)
    points = np.outer(t, [3.0, 4.0, 0.0]) / 5 + rng.normal(scale=0.01, size=(500, 3))
    pca = atlas.Pca2(points)
    assert pca.explained[0] > 0.99
    projected = pca.project(points)[:, 0]
    assert abs(np.corrcoef(projected, t)[0, 1]) > 0.999


def test_pick_stages_spreads_from_first_to_last():
    assert atlas.pick_stages([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 5) == [0, 2, 5, 8, 10]
    assert atlas.pick_stages([0, 1, 4], 5) == [0, 1, 4]


def test_atlas_places_buffer_and_snapshot_policies(mc_run, tmp_path):
    prefix = tmp_path / "atlas"
    assert atlas.main([str(mc_run), "--commands", "4", "--stages", "3", "--episodes", "1", "--out", str(prefix)]) == 0
    result = json.loads(prefix.with_suffix(".json").read_text())
    buffer_size = sum(len(r) for _, r in trained.buffer_chunks(mc_run))
    assert result["buffer"]["count"] == buffer_size == len(result["buffer"]["xy"])
    assert [s["k"] for s in result["stages"]] == atlas.pick_stages([s["k"] for s in snapshots.load_all(mc_run)], 3)
    assert all(len(s["xy"]) == len(s["achieved"]) == 4 for s in result["stages"])
    assert prefix.with_suffix(".png").stat().st_size > 10_000


def test_atlas_ends_at_the_last_checkpoint_when_the_run_stopped_between_snapshots(mc_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(mc_run, run_dir)
    (run_dir / "snapshots" / "004.pt").unlink()  # as if --time-limit had stopped it before the last one
    assert atlas.main([str(run_dir), "--commands", "2", "--stages", "2", "--episodes", "1"]) == 0
    stages = json.loads((run_dir / "atlas.json").read_text())["stages"]
    assert [s["k"] for s in stages] == [0, "final"]
    assert stages[-1]["env_steps"] == trained.load(run_dir).env_steps


def test_atlas_needs_snapshots(ip_run, capsys):
    for path in (ip_run / "snapshots").glob("*.pt"):
        path.unlink()
    assert atlas.main([str(ip_run)]) == 2
    assert "kept no generator snapshots" in capsys.readouterr().err


def test_exported_policy_acts_like_the_generated_one(ip_run, tmp_path):
    out = tmp_path / "p.npz"
    assert export.main([str(ip_run), "--command", "500", "--out", str(out)]) == 0
    policy = policy_file.load(str(out))
    run = trained.load(ip_run)
    flat = run.policies(np.array([500.0]))[0].numpy()
    spec = TASKS["inverted_pendulum"].spec
    obs = np.random.default_rng(0).normal(size=(20, spec.obs_dim))
    for o in obs:
        normalised = ((o - run.obs_mean) / run.obs_std).astype(np.float32)
        np.testing.assert_allclose(policy(o), mlp_action(flat, normalised, spec.obs_dim, spec.act_dim,
                                                         spec.action_bound), rtol=1e-5, atol=1e-6)
    assert policy.gymnasium_id == "InvertedPendulum-v4" and policy.command == 500.0


def test_exported_policy_earns_in_plain_gymnasium_what_the_reference_loop_earns(ip_run, tmp_path):
    out = tmp_path / "p.npz"
    assert export.main([str(ip_run), "--command", "1000", "--out", str(out)]) == 0
    policy, task = policy_file.load(str(out)), TASKS["inverted_pendulum"]
    run = trained.load(ip_run)
    flat = run.policies(np.array([1000.0]))[0].numpy()
    for seed in range(3):
        env = make_gym(policy.gymnasium_id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = policy_file.run_episode(policy, env, seed=seed)
            env.reset(seed=seed)
            qpos, qvel = physical_state(env, task)
            expected = gym_episode(env, task, qpos[0], qvel[0], flat, run.obs_mean, run.obs_std)
        assert got[1] == expected[1] and got[0] == pytest.approx(expected[0], rel=1e-6)


def test_export_bad_input(ip_run, tmp_path, capsys):
    assert export.main([str(ip_run), "--command", "nan", "--out", str(tmp_path / "p.npz")]) == 2
    assert "--command must be a finite return, got nan" in capsys.readouterr().err
    assert not (tmp_path / "p.npz").exists()
    bogus = tmp_path / "bogus.npz"
    np.savez(bogus, W1=np.zeros(1))
    with pytest.raises(ValueError, match="is not a fastgen-policy-1 file"):
        policy_file.load(str(bogus))


def test_noise_scale_summarises_a_population_against_its_centres():
    from bench.noise_scale import summarise
    row = summarise(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 3.0, 5.0, 1.0]))
    assert (row["centre_mean"], row["noisy_mean"], row["noisy_second"], row["noisy_max"]) == (2.5, 2.25, 3.0, 5.0)
    assert row["beats_centre"] == 0.5


def test_noise_scale_draws_the_runs_population_at_each_scale_and_layout(mc_run, tmp_path):
    from bench import noise_scale
    tiny, real = (noise_scale.main([str(mc_run), "--snapshots", "1", "4", "--noise", str(sigma), "--population", "4",
                                    "--out", str(tmp_path)]) for sigma in (1e-6, 0.1))
    assert [(r["snapshot"], r["layout"]) for r in real["rows"]] == [(1, "flat"), (1, "fan-in"), (4, "flat"), (4, "fan-in")]
    flat, fan_in = real["rows"][:2]
    assert flat["noise_rms"] == pytest.approx(0.1, rel=0.02) and fan_in["noise_rms"] < 0.1
    for row in tiny["rows"]:  # a noise far below the weights' own scale leaves every episode as its centre's
        assert row["noisy_mean"] == pytest.approx(row["centre_mean"], abs=1e-3)
    assert [s["cases"] for s in real["summary"]] == [2, 2]
    assert (tmp_path / "noise_scale_mountain_car.png").exists() and (tmp_path / "noise_scale_mountain_car.md").exists()


def test_noise_scale_final_adds_the_evaluators_error_on_centres_and_noisy_policies(mc_run, tmp_path):
    from bench import noise_scale
    from fastgen.sweep import achieved_returns

    result = noise_scale.main([str(mc_run), "--snapshots", "1", "--final", "--noise", "0.1", "--layouts", "flat",
                               "--population", "4", "--out", str(tmp_path), "--name", "nsf"])
    snapshot, final = result["rows"]
    assert (snapshot["snapshot"], final["snapshot"]) == (1, "final") and "centre_overrated" not in snapshot
    run = trained.load(mc_run)  # by hand: V(G(c_i)) - the return of G(c_i), the commands as the benchmark drew them
    commands = noise_scale.population_commands(run.best_return, run.cfg.command.drive, 1.0, 4)
    params = run.policies(commands)
    returns = achieved_returns(run, params, 1, "cpu", jax.random.key(0))[:, 0]
    with torch.no_grad():
        expected = float((run.evaluator(params).numpy() - returns).mean())
    assert final["centre_overrated"] == pytest.approx(expected, rel=1e-5)
    assert final["centre_mean"] == pytest.approx(float(returns.mean()), rel=1e-6)
    assert np.isfinite(final["noisy_overrated"]) and final["noisy_overrated"] != final["centre_overrated"]
    assert all((tmp_path / f).exists() for f in ("nsf.json", "nsf.png", "nsf_evaluator.png"))  # --name
    assert result["summary"][0]["rated_cases"] == 1
    assert result["summary"][0]["centre_overrated"] == pytest.approx(final["centre_overrated"])


def test_noise_scale_bad_input_is_one_line(mc_run):
    from bench import noise_scale
    with pytest.raises(ValueError, match=r"--noise must be one or more scales > 0, got \(0.0,\)"):
        noise_scale.main([str(mc_run), "--noise", "0"])
    with pytest.raises(ValueError, match="nothing to measure: give --snapshots K ... or --final"):
        noise_scale.main([str(mc_run), "--snapshots"])


def test_command_sweeps_band_metrics_by_hand():
    from bench.command_sweeps import band_metrics

    got = band_metrics(np.array([0.0, 50.0, 100.0, 200.0]), np.array([10.0, 40.0, 130.0, 0.0]), 20.0, 150.0)
    assert got == pytest.approx({"band_commands": 2, "band_mae": 20.0, "band_signed_error": 10.0, "band_spearman": 1.0})
    with pytest.raises(ValueError, match=r"no command of the sweep lies in the band \[300.0, 400.0\]"):
        band_metrics(np.array([0.0, 50.0]), np.array([0.0, 50.0]), 300.0, 400.0)


def _sweep_json(path: Path, achieved: list[float], run_dir: str) -> str:
    path.write_text(json.dumps({"run_dir": run_dir, "env": "swimmer", "env_steps": 3000, "commands": [0, 50, 100, 150],
                                "achieved_mean": achieved, "spearman": 0.5, "mean_abs_error": 7.0,
                                "achievable_commands": 4}))
    return str(path)


def test_command_sweeps_summarises_each_label_over_its_sweeps(tmp_path):
    from bench import command_sweeps

    a0 = _sweep_json(tmp_path / "a0.json", [0, 60, 90, 150], "runs/a-seed0")  # band errors +10, -10
    a1 = _sweep_json(tmp_path / "a1.json", [0, 20, 70, 150], "runs/a-seed1")  # -30, -30
    b0 = _sweep_json(tmp_path / "b0.json", [0, -10, -10, 150], "runs/b-seed0")  # -60, -110
    result = command_sweeps.main([f"archive={a0}", f"archive={a1}", f"plain={b0}", "--band", "20", "120",
                                  "--name", "t", "--out", str(tmp_path)])
    assert [(s["label"], s["sweeps"]) for s in result["summary"]] == [("archive", 2), ("plain", 1)]
    assert result["summary"][0]["band_mae"] == "20.00 +- 10.00"  # seeds 10 and 30
    assert result["summary"][0]["band_signed_error"] == "-15.00 +- 15.00"
    assert result["summary"][1]["band_signed_error"] == "-85.00 +- 0.00"
    assert result["summary"][1]["band_spearman"] == "nan"  # constant achieved return: no rank order
    assert all((tmp_path / f"t.{ext}").stat().st_size > 0 for ext in ("json", "md", "png"))


@pytest.mark.parametrize("args, fragment", [
    (["nolabel.json"], "a sweep must be LABEL=PATH"),
    (["a=missing.json"], "no sweep JSON at 'missing.json' (label 'a')"),
    (["a={a}", "--band", "100", "20"], "--band must be LOW HIGH with HIGH > LOW, got 100.0 20.0"),
])
def test_command_sweeps_bad_input_is_one_line(tmp_path, args, fragment):
    from bench import command_sweeps

    a = _sweep_json(tmp_path / "a.json", [0, 50, 100, 150], "runs/a")
    with pytest.raises(SystemExit, match=re.escape(fragment)):
        command_sweeps.main([arg.format(a=a) for arg in args] + ["--out", str(tmp_path)])


def test_lucky_records_reruns_the_last_iteration_and_the_records(ip_run, tmp_path):
    from bench import lucky_records
    from fastgen.sweep import achieved_returns

    result = lucky_records.main([str(ip_run), "--episodes", "2", "--top", "3", "--out", str(tmp_path)])
    (row,) = result["rows"]
    summary = json.loads((ip_run / "summary.json").read_text())
    assert row["population"] == 4 and len(row["last_stored"]) == 4 and len(row["top_stored"]) == 3
    assert row["top_stored"][0] == pytest.approx(summary["best_train_return"])  # the record is the buffer's highest
    assert row["top_stored"] == sorted(row["top_stored"], reverse=True)
    run = trained.load(ip_run)  # by hand: the last iteration's policies, 2 fresh episodes each
    chunks = list(trained.buffer_chunks(ip_run))
    params, returns = torch.cat([p for p, _ in chunks])[-4:], torch.cat([r for _, r in chunks])[-4:]
    np.testing.assert_allclose(row["last_stored"], returns.numpy())
    fresh = achieved_returns(run, params, 2, "cpu", jax.random.key(0)).mean(1)
    np.testing.assert_allclose(row["last_fresh"], fresh, rtol=1e-6)
    assert row["last_best_fresh"] == pytest.approx(fresh.max())
    assert row["record_minus_best_fresh"] == pytest.approx(summary["best_train_return"] - fresh.max())
    assert all((tmp_path / f"lucky_records_inverted_pendulum.{ext}").exists() for ext in ("json", "md", "png"))


def test_generator_reach_evaluates_the_generator_after_updates_on_held_data(mc_run, tmp_path):
    from bench import generator_reach

    result = generator_reach.main([str(mc_run), "--lrs", "0", "1e-3", "--iterations", "2", "--out", str(tmp_path)])
    rows = result["rows"]
    updates = generator_reach.settings.update_counts(trained.load_config(mc_run))[1]
    assert [(r["lr"], r["updates"]) for r in rows] == [(lr, k * updates) for lr in (0.0, 1e-3) for k in range(3)]
    summary = json.loads((mc_run / "summary.json").read_text())
    assert all(r["command"] == pytest.approx(summary["best_train_return"]) for r in rows)
    frozen = [(r["return"], r["length"]) for r in rows[:3]]  # lr 0: the same generator, evaluated from the same starts
    assert frozen == [frozen[0]] * 3
    assert rows[3]["return"] == frozen[0][0]  # lr 1e-3 starts from the same checkpoint
    assert all((tmp_path / f"generator_reach_mountain_car.{ext}").exists() for ext in ("json", "md", "png"))
    with pytest.raises(ValueError, match=r"--lrs must be one or more learning rates >= 0, got \(-1.0,\)"):
        generator_reach.Options((str(mc_run),), lrs=(-1.0,)).validate()


@pytest.mark.parametrize("env, command, kind", [("hopper", {}, "no_bonus"), ("hopper", {"bonus_free": False}, "env"),
                                                ("hopper", {"bonus_share": 0.1}, "no_bonus + 0.1 x bonus"),
                                                ("hopper", {"bonus_share": 0.1, "bonus_cap": 300.0},
                                                 "no_bonus + 0.1 x min(bonus, 300)"),
                                                ("swimmer", {}, "env")])
def test_sweep_names_the_return_the_run_trained_on(env, command, kind):
    from envs.tasks import TASKS
    from fastgen.config import Config
    from fastgen.poligen.settings import CommandConfig
    from fastgen.sweep import return_kind

    assert return_kind(Config(env=env, command=CommandConfig(**command)), TASKS[env].spec) == kind


def test_anchor_scale_compares_gradients_by_hand_and_fits_more_at_a_higher_rate(mc_run, tmp_path):
    from bench import anchor_scale

    result = anchor_scale.main(["--runs", str(mc_run), "--task", "mountain_car", "--lrs", "1e-7", "1e-5", "--steps",
                                "30", "--command", "50", "--others", "-20", "--anchors", "2", "--trials", "1",
                                "--out", str(tmp_path)])
    slow, fast = result["fit"]
    assert 0 < slow["gap_closed"] < fast["gap_closed"] < 1
    assert slow["actions moved at 50"] < fast["actions moved at 50"]
    row, = result["gradients"]
    run = trained.load(mc_run)  # by hand: V on the buffer's two highest-return entries
    params, returns = map(torch.cat, zip(*((torch.as_tensor(p), torch.as_tensor(r))
                                           for p, r in trained.buffer_chunks(mc_run))))
    top = torch.topk(returns, 2).indices
    with torch.no_grad():
        assert row["v_on_anchors"] == pytest.approx(run.evaluator(params[top]).tolist(), rel=1e-5)
    assert row["anchor_returns"] == pytest.approx(returns[top].tolist())
    assert row["ratio"] == pytest.approx(row["grad_v"] / row["grad_anchor"]) and -1 <= row["cosine"] <= 1
    assert (tmp_path / "anchor_scale.md").exists()
    with pytest.raises(ValueError, match=r"--steps must be >= 1 and --lrs one or more rates > 0, got 0"):
        anchor_scale.main(["--steps", "0", "--out", str(tmp_path)])


def test_evaluator_top_rates_the_buffer_by_return_rank(ip_run, tmp_path):
    from bench import evaluator_top
    result = evaluator_top.main([str(ip_run), "--top", "2", "--out", str(tmp_path)])
    row, = result["rows"]
    run = trained.load(ip_run)
    params, returns = (torch.cat(parts) for parts in zip(*trained.buffer_chunks(ip_run)))
    highest = torch.argsort(returns.float(), descending=True, stable=True)[:2]  # ties: the older first
    with torch.no_grad():
        error = run.evaluator(params[highest].float()).reshape(-1) - returns[highest].float()
    assert row["top_v_minus_return"] == pytest.approx(float(error.mean()), abs=1e-4)
    assert row["record_v_minus_return"] == pytest.approx(float(error[0]), abs=1e-4)
    assert row["record_return"] == pytest.approx(float(returns.max()))
    assert row["last_return"] == pytest.approx(float(returns[-4:].float().mean()))  # P = 4
    assert all((tmp_path / f"evaluator_top_inverted_pendulum.{ext}").exists() for ext in ("json", "md", "png"))


def test_evaluator_top_bad_input_is_one_line(ip_run):
    from bench import evaluator_top
    with pytest.raises(ValueError, match="--top must be >= 1, got 0"):
        evaluator_top.main([str(ip_run), "--top", "0"])


def test_evaluator_top_labels_runs_by_what_their_names_do_not_share():
    from bench.evaluator_top import labels
    assert labels(["swim-a=1-seed0", "swim-a=2-seed3"]) == ["1-seed0", "2-seed3"]
    assert labels(["swim-seed0"]) == ["swim-seed0"] and labels(["x-seed0", "x-seed0"]) == ["x-seed0", "x-seed0"]


def test_write_report_writes_the_json_the_markdown_and_one_png_per_plot(tmp_path):
    from bench.common import write_report
    result = {"machine": {"cpu": "Some CPU"}, "rows": [{"a": 1}]}
    drawn = []
    plots = {"": lambda r, path: drawn.append((r, path)), "_detail": lambda r, path: drawn.append((r, path))}
    path = write_report(tmp_path / "new", "report", result, "body\n", plots)
    assert json.loads(path.read_text()) == result and path == tmp_path / "new" / "report.json"
    assert (tmp_path / "new" / "report.md").read_text() == "# report\n\nMachine: Some CPU\n\nbody\n"
    assert drawn == [(result, tmp_path / "new" / "report.png"), (result, tmp_path / "new" / "report_detail.png")]


def test_stale_records_reruns_the_best_policies_under_every_snapshots_statistics(mc_run, tmp_path):
    from bench import stale_records
    from envs import make, rollout
    result = stale_records.main([str(mc_run), "--top", "2", "--episodes", "2", "--out", str(tmp_path)])
    row, = result["rows"]
    kept = snapshots.load_all(mc_run)
    run = trained.load(mc_run)
    steps = [s["env_steps"] for s in kept]
    assert not row["keep_behaviour"] and [u["env_steps"] for u in row["under"]] == steps + [run.env_steps] * (
        steps[-1] != run.env_steps)
    params, returns = (torch.cat(parts) for parts in zip(*trained.buffer_chunks(mc_run)))
    top = torch.topk(returns, 2).indices
    assert row["stored"] == returns[top].tolist()
    by_hand = sweep.achieved_returns(run, params[top], 2, "cpu", jax.random.key(0)).mean(1)  # the checkpoint's
    np.testing.assert_allclose(row["under"][-1]["fresh"], by_hand, rtol=1e-6)
    untrained = rollout(make("mountain_car", "cpu"), params[top].numpy(), np.zeros(2), np.ones(2), jax.random.key(0),
                        episodes=2)  # snapshot 0: statistics before any data
    np.testing.assert_allclose(row["under"][0]["fresh"], untrained.episode_returns_no_bonus.mean(1), rtol=1e-6)
    assert all((tmp_path / f"stale_records_mountain_car.{ext}").exists() for ext in ("json", "md", "png"))
    with pytest.raises(ValueError, match="--episodes and --top must be >= 1, got 0 and 4"):
        stale_records.main([str(mc_run), "--episodes", "0"])


def test_a_run_that_keeps_behaviour_earns_the_same_under_every_snapshots_statistics(tmp_path):
    from bench import stale_records
    from fastgen.poligen.settings import BufferConfig, GeneratorConfig
    out = tmp_path / "run"
    train(Config(env="mountain_car", num_envs=4, total_steps=6000, out=str(out), **FAST,
                 generator=GeneratorConfig(updates_per_episode=1, snapshots=3), buffer=BufferConfig(keep_behaviour=True)))
    row, = stale_records.main([str(out), "--top", "3", "--episodes", "1", "--out", str(tmp_path)])["rows"]
    fresh = np.array([u["fresh"] for u in row["under"]])  # [moments, 3]
    stats = [s["obs_stats"]["mean"] for s in snapshots.load_all(out)]
    assert len(fresh) >= 3 and not np.allclose(stats[0], stats[-1])  # the statistics did move
    np.testing.assert_allclose(fresh, np.broadcast_to(fresh[-1], fresh.shape), atol=1e-3)
    assert row["keep_behaviour"] and row["spread_mean"] < 1e-3


def test_stall_slope_reach_first_step_is_one_step_up_the_direction_and_more_steps_go_further(mc_run):
    from bench import stall_slope
    run = trained.load(mc_run)
    commands = torch.tensor([0.0, 50.0, 90.0])
    options = stall_slope.Options((str(mc_run),), reach_steps=(1, 20), reach_lr=1e-4, reach_distance=0.5, seed=3)
    reach = stall_slope.generator_reach(run, commands, options)
    generator = trained._generator(run.cfg, run.spec)  # one Adam step on -<u, G(c)>, written out here
    generator.load_state_dict(run.generator.state_dict())
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-4)
    before = generator(commands).detach()
    u = torch.randn(before.shape[1], generator=torch.Generator().manual_seed(3))
    (-(generator(commands) @ u).mean()).backward()
    optimizer.step()
    change = (generator(commands).detach() - before).mean(0)
    assert reach[0]["cosine"] == pytest.approx(float(change @ u / (change.norm() * u.norm())), abs=1e-3)
    assert [r["steps"] for r in reach] == [1, 20] and 0 < reach[0]["along"] < reach[1]["along"]  # towards the target
    assert reach[1]["cosine"] > reach[0]["cosine"]  # more steps make more of the direction than one step's
    with pytest.raises(ValueError, match="--reach-steps"):
        stall_slope.Options((str(mc_run),), reach_steps=(0,)).validate()
    with pytest.raises(ValueError, match="--reach-distance"):
        stall_slope.Options((str(mc_run),), reach_distance=float("nan")).validate()


def test_stall_slope_measures_lines_from_the_record_ars_and_the_generators_reach(mc_run, tmp_path):
    from bench import stall_slope
    result = stall_slope.main([str(mc_run), "--candidates", "2", "--episodes", "2", "--distances", "1e-6", "0.01",
                               "--ars-steps", "2", "--ars-every", "1", "--reach-steps", "1", "2", "--out", str(tmp_path)])
    row = result["rows"][0]
    for name in ("evaluator", "random"):  # a step far below the weights' scale, from the same starts: the record's own
        assert row["lines"][name]["returns"][0] == pytest.approx(row["record_fresh"], abs=1e-3)
        assert row["lines"][name]["predicted"][0] == pytest.approx(row["record_predicted"], rel=1e-4, abs=1e-3)
    assert row["lines"]["evaluator"]["predicted"][1] > row["lines"]["evaluator"]["predicted"][0]  # V rises up its slope
    assert sum(g["share"] for g in row["gradient_layers"]) == pytest.approx(1.0)
    assert [a["step"] for a in row["ars_from_generator"]] == [1, 2]
    assert row["ars_from_generator"][0]["return"] != row["ars"][0]["return"]  # another centre, another climb
    assert [a["step"] for a in row["ars_from_draw"]] == [1, 2] and row["summary"]["draw"] == row["draw_fresh"]
    assert [a["step"] for a in row["ars"]] == [1, 2] and [g["steps"] for g in row["generator_reach"]] == [1, 2]
    assert all(-1 <= g["cosine"] <= 1 for g in row["generator_reach"])
    assert row["noise_norm"] == pytest.approx(0.1 * np.sqrt(trained.load(mc_run).generator(torch.zeros(1)).shape[1]))
    assert (tmp_path / "stall_slope_mountain_car.png").exists() and result["summary"][0]["seed"] == row["seed"]


def test_record_follow_measures_the_action_gap_and_closes_it_on_the_states_it_steps_on(mc_run, tmp_path):
    from bench import record_follow
    from bench.lucky_records import held_returns
    result = record_follow.main([str(mc_run), "--episodes", "1", "--steps", "1", "30", "--lr", "1e-3",
                                 "--lower", "0.5", "--out", str(tmp_path)])
    row = result["rows"][0]
    assert row["source"] == "buffer" and row["command"] == pytest.approx(float(held_returns(mc_run).max()))
    run = trained.load(mc_run)
    record, _, _ = record_follow.record_of(mc_run, run)
    made = run.policies(np.array([row["command"]], np.float32))[0]
    states = record_follow.make_anchor_states(run.spec.obs_dim)
    by_hand = (policy.forward(made[None], states, run.spec) - policy.forward(record[None], states, run.spec))
    assert row["gap_anchor"] == pytest.approx(float(by_hand.pow(2).mean()), rel=1e-5)
    assert row["visited"] >= 1 and row["gap_visited"] > 0
    for name in ("anchor", "visited"):  # steps on a state set close the gap there
        steps = row["follow"][name]
        assert [f["steps"] for f in steps] == [1, 30] and len(steps[0]["lower_returns"]) == 1
        assert steps[-1][f"gap_{name}"] < steps[0][f"gap_{name}"] < row[f"gap_{name}"]
    assert (tmp_path / "record_follow_mountain_car.png").exists() and result["summary"][0]["seed"] == row["seed"]
    for args, fragment in ((["--steps", "0"], "--steps"), (["--lr", "nan"], "--lr"), (["--lower", "-1"], "--lower"),
                           (["--episodes", "0"], "--episodes")):
        with pytest.raises(ValueError, match=fragment):
            record_follow.tyro.cli(record_follow.Options, args=[str(mc_run), *args]).validate()


def test_slope_climb_weights_step_climbs_a_linear_return():
    from bench import slope_climb
    from fastgen.poligen.trainer import slope_weights
    rng = torch.Generator().manual_seed(0)
    slope, sigma = torch.randn(50, generator=rng), 0.1
    half = sigma * torch.randn(400, 50, generator=rng)
    noise = torch.stack([half, -half], 1).reshape(800, 50)
    returns = (noise @ slope).numpy()  # a return linear in the weights: its slope is ``slope``
    weights = torch.as_tensor(slope_weights(returns, np.zeros(800, bool)), dtype=torch.float32)
    step = slope_climb.weights_step(weights, noise, sigma, 0.01)
    assert torch.nn.functional.cosine_similarity(step, slope, dim=0) > 0.9
    assert float(step @ slope) > 0 and float(slope_climb.weights_step(-weights, noise, sigma, 0.01) @ slope) < 0


def test_slope_climb_starts_every_climb_from_the_generators_policy(mc_run, tmp_path):
    from bench import slope_climb
    result = slope_climb.main([str(mc_run), "--noises", "0.1", "0.03", "--iterations", "2", "--pairs", "2",
                               "--every", "1", "--episodes", "1", "--slope-lr", "1e-3", "--out", str(tmp_path)])
    row = result["rows"][0]
    run = trained.load(mc_run)
    made = run.policies(np.array([run.best_return], np.float32))
    start = float(sweep.achieved_returns(run, made, 1, "cpu", jax.random.fold_in(jax.random.key(0), 10_000)).mean())
    assert [(c["mode"], c["sigma"]) for c in row["climbs"]] == [("slope", 0.1), ("weights", 0.1), ("slope", 0.03),
                                                                ("weights", 0.03)]
    for c in row["climbs"]:
        assert c["curve"][0]["return"] == pytest.approx(start, abs=1e-4)
        assert [p["episodes"] for p in c["curve"]] == [0, 4, 8] and all("return" in p for p in c["curve"])
    assert len(result["summary"]) == 4 and (tmp_path / "slope_climb_mountain_car.png").exists()
    for args, fragment in ((["--noises", "0"], "--noises"), (["--modes", "ars"], "--modes"),
                           (["--pairs", "0"], "--pairs"), (["--slope-lr", "nan"], "--slope-lr")):
        with pytest.raises(ValueError, match=fragment):
            slope_climb.tyro.cli(slope_climb.Options, args=[str(mc_run), *args]).validate()
