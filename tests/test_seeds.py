"""K seeds trained as one batch (``--seeds``) against the same seeds trained alone.

A seed's run in the batch draws the same random numbers from the same streams as its single-seed
run and is updated by the same code (``fastgen.poligen.learner``, a single run being a batch of one); on the
CPU the seeds' products are the same kernels on the same shapes, on a GPU they are vmapped and round
differently (~1e-7). So over a short run the two must agree to round-off amplified by a few updates
(asserted: 1e-6 relative on every evaluation), with identical schedules: the same env steps at every
evaluation, the same files, the same config but for the run directory.
"""

import dataclasses
import json

import numpy as np
import pytest
import torch

from fastgen import run
from fastgen.config import Config, EvalConfig, parse_seeds
from fastgen.poligen import learner, trainer
from fastgen.poligen.settings import BufferConfig, CommandConfig, EvaluatorConfig, GeneratorConfig
from fastgen.run import seed_configs, train_seeds

RTOL = 1e-6
# Evaluation returns of a batch's seeds come from one rollout of all seeds' policies, whose float32 forward
# rounds differently from one policy's alone: up to 8.6e-7 apart, measured on mountain_car returns of ~1 and
# near 0, where a relative tolerance alone means nothing. The networks after an iteration are compared in
# test_one_batched_iteration_is_each_seeds_iteration.
EVAL_ATOL = 1e-5


def _cfg(tmp_path, **changes) -> Config:
    base = Config(env="mountain_car", num_envs=1, engine="cpu", device="cpu", total_steps=3000,
                  generator=GeneratorConfig(updates_per_episode=2, snapshots=2),
                  evaluator=EvaluatorConfig(updates_per_episode=1), buffer=BufferConfig(size=20),
                  eval=EvalConfig(every=1000, episodes=2), out=str(tmp_path / "batch"))
    return dataclasses.replace(base, **changes)


def _rows(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _assert_runs_agree(batched_dir, single_dir):
    a, b = _rows(batched_dir), _rows(single_dir)
    assert [r["env_steps"] for r in a] == [r["env_steps"] for r in b]
    for x, y in zip(a, b):
        assert set(x) == set(y)
        for key in ("eval/return", "eval/command", "train/best_return", "eval/length"):
            np.testing.assert_allclose(x[key] if x[key] is not None else np.nan,
                                       y[key] if y[key] is not None else np.nan, rtol=RTOL, atol=EVAL_ATOL,
                                       err_msg=key)
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (batched_dir, single_dir))
    assert set(sa) == set(sb) and sa["env_steps"] == sb["env_steps"] and sa["iterations"] == sb["iterations"]
    ca, cb = (json.loads((d / "config.json").read_text()) for d in (batched_dir, single_dir))
    for key in ("out", "resume"):
        ca.pop(key), cb.pop(key)
    assert ca == cb
    assert sorted(p.name for p in (batched_dir / "snapshots").iterdir()) == \
        sorted(p.name for p in (single_dir / "snapshots").iterdir())
    assert {p.name for p in batched_dir.iterdir()} >= {"checkpoint.pt", "buffer", "config.json", "summary.json"}


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("5") == [5]
    assert parse_seeds("0-1, 7,9-10") == [0, 1, 7, 9, 10]
    for bad in ("", "a-b", "3,3", "-1", "4-2"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


def test_seeds_are_validated(tmp_path):
    with pytest.raises(ValueError, match="--seeds 'x'"):
        Config(env="mountain_car", seeds="x").validate()
    with pytest.raises(ValueError, match="--threads must be >= 1, got 0"):
        Config(env="mountain_car", threads=0).validate()
    cfgs = seed_configs(_cfg(tmp_path, seeds="2,4"))
    assert [c.seed for c in cfgs] == [2, 4] and [c.out for c in cfgs] == [str(tmp_path / "batch" / f"seed{s}")
                                                                         for s in (2, 4)]
    assert all(c.seeds is None for c in cfgs)


def test_stacked_adam_is_torch_adam_per_seed():
    torch.manual_seed(0)
    K, steps = 3, 6
    modules = [torch.nn.Linear(5, 4) for _ in range(K)]
    stack = learner.WeightStack(modules)
    opt = learner.StackedAdam(stack.flat, lr=1e-2)
    plain = [torch.optim.Adam(m.parameters(), lr=1e-2) for m in modules]
    for t in range(steps):
        seeds = [0, 2] if t % 2 else list(range(K))  # seed 1 sits out every other step
        grad = torch.randn(len(seeds), stack.flat.shape[1])
        before = stack.flat[1].clone()
        opt.step(grad, seeds)
        for i, k in enumerate(seeds):
            for p, g in zip(modules[k].parameters(), grad[i].split(stack.sizes)):
                p.grad = g.view(p.shape).clone()
            plain[k].step()
        if t % 2:
            assert torch.equal(stack.flat[1], before)  # untouched, bit for bit
    for k in range(K):
        for name, view in stack.seed(k).items():
            torch.testing.assert_close(view, dict(modules[k].named_parameters())[name].detach(), rtol=1e-6, atol=1e-7)
    assert opt.steps.tolist() == [6, 3, 6]
    # the moments survive a round trip through a plain torch Adam state dict (checkpoints are single-seed files)
    saved = opt.state_dict(1, modules[1], stack)
    torch.testing.assert_close(saved["state"][0]["exp_avg"], plain[1].state_dict()["state"][0]["exp_avg"])
    other = learner.StackedAdam(torch.zeros_like(stack.flat), lr=1e-2)
    other.load_state_dict(1, saved, stack)
    assert other.steps[1] == 3 and other.steps[0] == 0
    assert torch.equal(other.exp_avg[1], opt.exp_avg[1]) and torch.equal(other.exp_avg_sq[1], opt.exp_avg_sq[1])
    assert not other.exp_avg[0].any()


def test_batched_seeds_equal_their_single_seed_runs(tmp_path):
    cfg = _cfg(tmp_path, seeds="0-2")
    result = train_seeds(cfg)
    assert [s["seed"] for s in result["seeds"]] == [0, 1, 2]
    for seed in (0, 1, 2):
        single = run.train(dataclasses.replace(cfg, seeds=None, seed=seed, out=str(tmp_path / f"single{seed}")))
        assert single["finished"]
        _assert_runs_agree(tmp_path / "batch" / f"seed{seed}", tmp_path / f"single{seed}")
    # the seeds differ from each other (not one run written three times)
    assert len({json.dumps(_rows(tmp_path / "batch" / f"seed{s}")[-1]["eval/return"]) for s in (0, 1, 2)}) == 3


def test_batched_run_resumes_and_a_seed_can_continue_alone(tmp_path):
    short = _cfg(tmp_path, seeds="0-1", total_steps=1500)
    train_seeds(short)
    with pytest.raises(ValueError, match="already holds a run"):
        train_seeds(short)
    train_seeds(dataclasses.replace(short, total_steps=3000, resume=True))
    straight = _cfg(tmp_path, seeds="0-1", out=str(tmp_path / "straight"))
    train_seeds(straight)
    for seed in (0, 1):
        _assert_runs_agree(tmp_path / "batch" / f"seed{seed}", tmp_path / "straight" / f"seed{seed}")
    # one seed of the batch carried on by a plain single-seed run, from the batch's checkpoint
    alone = dataclasses.replace(short, seeds=None, seed=1, total_steps=4500, resume=True,
                                out=str(tmp_path / "straight" / "seed1"))
    summary = run.train(alone)
    assert summary["finished"] and summary["env_steps"] >= 4500
    assert len(_rows(tmp_path / "straight" / "seed1")) > len(_rows(tmp_path / "straight" / "seed0"))


def test_cli_seeds_writes_one_directory_per_seed(tmp_path):
    out = tmp_path / "cli"
    code = run.main(["--env", "mountain_car", "--seeds", "3,5", "--num-envs", "1", "--engine", "cpu", "--device", "cpu",
                     "--total-steps", "1000", "--generator.updates-per-episode", "1", "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["seed3", "seed5"]
    assert [json.loads((out / d / "summary.json").read_text())["seed"] for d in ("seed3", "seed5")] == [3, 5]
    assert run.main(["--env", "mountain_car", "--seeds", "1-0", "--out", str(out)]) == 2


@pytest.mark.parametrize("engine, map_seeds, verify", [("cpu", "loop", 0), ("cpu", "vmap", 0), ("mjx", "auto", 0),
                                                        ("cpu", "loop", 2)])
def test_one_batched_iteration_is_each_seeds_iteration(tmp_path, monkeypatch, engine, map_seeds, verify):
    """Verify 2: a record's policy runs 2 more episodes in one rollout of the seeds that set one."""
    monkeypatch.setattr(learner, "MAP_SEEDS", map_seeds)  # vmap: the GPU path, here on the CPU
    command = CommandConfig(verify=verify)
    cfgs = [dataclasses.replace(_cfg(tmp_path, engine=engine, num_envs=3, command=command), seed=s) for s in (4, 7)]
    states = trainer.init_batch(cfgs)
    batched = trainer.iteration_batch(states)
    for cfg, metrics, state in zip(cfgs, batched, states):
        single = run.algorithms.get("poligen").init(cfg)
        _, expected = run.algorithms.get("poligen").iteration(single)
        assert state.env_steps == single.env_steps and len(state.buffer) == len(single.buffer) == 3
        assert state.episodes == single.episodes == 3 + verify  # the first iteration always sets a record
        assert state.best_return == single.best_return
        np.testing.assert_allclose(state.obs_stats.mean, single.obs_stats.mean, rtol=1e-5, atol=1e-8)
        for key in ("train/command", "train/mean_return", "train/max_return", "train/evaluator_loss",
                    "train/generator_loss"):
            np.testing.assert_allclose(metrics[key], expected[key], rtol=RTOL, err_msg=key)
        batched_weights = state.learner.state_dict(state.slot)
        single_weights = single.learner.state_dict(single.slot)
        for part in ("generator", "evaluator"):
            for name, value in batched_weights[part].items():
                torch.testing.assert_close(value, single_weights[part][name], rtol=1e-5, atol=1e-7, msg=name)
    # a seed left out of an iteration is not touched
    before = states[1].learner.generator_weights.flat[1].clone()
    trainer.iteration_batch([states[0]])
    assert torch.equal(states[1].learner.generator_weights.flat[1], before)
    assert states[1].iterations == 1 and states[0].iterations == 2


def test_a_baseline_trains_seeds_one_after_another_in_one_loop(tmp_path):
    """--seeds for ARS: each seed's run directory is the one a --seed run of it writes, bit for bit in its metrics."""
    args = ["--algo", "ars", "--env", "mountain_car", "--engine", "cpu", "--total-steps", "3000", "--eval.every", "1000",
            "--eval.episodes", "2"]
    assert run.main([*args, "--seeds", "0-1", "--out", str(tmp_path / "batch")]) == 0
    assert run.main([*args, "--seed", "1", "--out", str(tmp_path / "alone")]) == 0
    batch, alone = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("batch/seed1", "alone"))
    assert batch["seed"] == alone["seed"] == 1 and batch["finished"]
    keep = ("env_steps", "eval/return", "train/best_return")
    rows = [[{k: json.loads(line)[k] for k in keep} for line in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
            for d in ("batch/seed1", "alone")]
    assert rows[0] == rows[1] and len(rows[0]) >= 3
