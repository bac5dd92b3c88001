"""One PoliGen iteration on a cheap task: what it stores, counts and updates."""

import dataclasses
import math

import numpy as np
import pytest
import torch

import envs
from fastgen import runtime
from fastgen.config import Config, EvalConfig
from fastgen.poligen import learner, trainer
from fastgen.poligen.settings import BufferConfig, EvaluatorConfig, GeneratorConfig


def _cfg(**changes) -> Config:
    base = Config(env="mountain_car", num_envs=3, engine="cpu", device="cpu",
                  generator=GeneratorConfig(updates_per_episode=1), evaluator=EvaluatorConfig(updates_per_episode=1),
                  buffer=BufferConfig(size=50))
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize("engine", ["cpu", "mjx"])
def test_iteration_stores_counts_and_updates(engine):
    state = trainer.init(_cfg(engine=engine))
    assert state.env.engine == engine
    assert state.command == 0.0  # first command (paper)
    generator_before = state.learner.generator_weights.flat.clone()
    state, metrics = trainer.iteration(state)
    assert len(state.buffer) == 3 and state.episodes == 3 and state.iterations == 1
    assert state.env_steps == state.obs_stats.count == 3 * 999  # random cars rarely reach the goal
    assert state.best_return == metrics["train/best_return"] == pytest.approx(metrics["train/max_return"])
    assert state.command == pytest.approx(state.best_return + 20.0)
    assert not torch.equal(generator_before, state.learner.generator_weights.flat)
    assert all(np.isfinite(v) for v in metrics.values())


def test_generator_updates_leave_the_evaluator_frozen():
    state = trainer.init(_cfg(evaluator=EvaluatorConfig(updates_per_episode=0)))
    before = state.learner.evaluator_weights.flat.clone()
    generator_before = state.learner.generator_weights.flat.clone()
    trainer.iteration(state)
    assert torch.equal(before, state.learner.evaluator_weights.flat)  # probing states included
    assert not torch.equal(generator_before, state.learner.generator_weights.flat)


@pytest.mark.parametrize("map_seeds", ["loop", "vmap"])
def test_bfloat16_updates_round_only_the_products(monkeypatch, map_seeds):
    """--precision bfloat16: the same updates as float32 within bfloat16's rounding, yet not bit-equal (the
    products really run in bfloat16); weights, Adam's moments and the losses stay float32."""
    monkeypatch.setattr(learner, "MAP_SEEDS", map_seeds)  # vmap: the GPU path, here on the CPU
    losses = {}
    for precision in ("float32", "bfloat16"):
        state = trainer.init(_cfg(precision=precision, seed=3))
        before = state.learner.generator_weights.flat.clone()
        for _ in range(2):
            state, metrics = trainer.iteration(state)
        losses[precision] = np.array([metrics["train/evaluator_loss"], metrics["train/generator_loss"]])
        shared = state.learner
        for tensor in (shared.generator_weights.flat, shared.evaluator_weights.flat, shared.generator_opt.exp_avg_sq,
                       shared.evaluator_opt.exp_avg):
            assert tensor.dtype == torch.float32 and torch.isfinite(tensor).all()
        assert not torch.equal(before, shared.generator_weights.flat)
    assert (losses["bfloat16"] != losses["float32"]).all()
    np.testing.assert_allclose(losses["bfloat16"], losses["float32"], rtol=0.01)


def test_bfloat16_on_a_cpu_without_bfloat16_hardware_says_so(tmp_path, monkeypatch, capsys):
    for flags, native in (("fpu avx2 avx512f", False), ("fpu avx512f avx512_bf16", True), ("fpu amx_tile amx_bf16", True)):
        (tmp_path / "cpuinfo").write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        assert runtime.native_bfloat16(str(tmp_path / "cpuinfo")) is native
    assert runtime.native_bfloat16(str(tmp_path / "missing")) is False
    monkeypatch.setattr(runtime, "native_bfloat16", lambda: False)
    trainer.init(_cfg(precision="bfloat16"))
    assert "--precision bfloat16 on a CPU without AMX or AVX-512 BF16" in capsys.readouterr().err
    trainer.init(_cfg())
    assert capsys.readouterr().err == ""


def test_same_seed_same_run_other_seed_other_run():
    runs = []
    for seed in (0, 0, 1):
        state = trainer.init(_cfg(seed=seed))
        trainer.iteration(state)
        _, metrics = trainer.iteration(state)
        runs.append(metrics["train/mean_return"])
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_nan_return_is_a_training_error(monkeypatch):
    state = trainer.init(_cfg())
    original = trainer.envs.rollout_groups

    def poisoned(*args, **kwargs):
        results = original(*args, **kwargs)
        results[0].returns_no_bonus[0] = np.nan
        return results

    monkeypatch.setattr(trainer.envs, "rollout_groups", poisoned)
    with pytest.raises(trainer.TrainingError, match="non-finite training return"):
        trainer.iteration(state)


def test_evaluation_uses_best_command_without_noise():
    state = trainer.init(_cfg())
    trainer.iteration(state)
    metrics = trainer.evaluate(state)
    assert metrics["eval/command"] == state.best_return
    assert metrics["eval/length"] <= 999 and state.evaluations == 1


@pytest.mark.parametrize("bonus", [True, False])
def test_evaluation_return_with_or_without_the_survival_bonus(bonus):
    cfg = _cfg(env="hopper", num_envs=2, eval=EvalConfig(episodes=2, bonus=bonus))
    metrics = trainer.evaluate(trainer.init(cfg))
    chosen = metrics["eval/return_with_bonus"] if bonus else metrics["eval/return_no_bonus"]
    assert metrics["eval/return"] == chosen
    assert metrics["eval/return_with_bonus"] - metrics["eval/return_no_bonus"] == pytest.approx(metrics["eval/length"])


def test_a_checkpoint_keeps_the_population_blocks_of_the_buffer(tmp_path):
    from fastgen.poligen import checkpoint

    state = trainer.init(_cfg(buffer=BufferConfig(size=7)))  # blocks of 3 in 7 slots: one block is cut short
    for _ in range(3):
        checkpoint.save(trainer.iteration(state)[0], tmp_path)
    assert state.buffer.weights().unique().numel() == 3
    resumed = checkpoint.load(trainer.init(_cfg(buffer=BufferConfig(size=7))), tmp_path)
    assert torch.equal(resumed.buffer.weights(), state.buffer.weights())
    for chunk in (tmp_path / "buffer").glob("*.pt"):  # a run saved before blocks existed: one block per entry
        saved = torch.load(chunk, weights_only=False)
        torch.save({k: v for k, v in saved.items() if k != "blocks"}, chunk)
    legacy = checkpoint.load(trainer.init(_cfg(buffer=BufferConfig(size=7))), tmp_path)
    assert legacy.buffer.weights().unique().numel() == 7


def test_a_run_with_a_return_archive_resumes_exactly(tmp_path):
    from fastgen.poligen import checkpoint

    archived = BufferConfig(size=5, archive_buckets=4, archive_per_bucket=2, archive_share=0.25)
    state = trainer.init(_cfg(buffer=archived))
    for _ in range(3):
        checkpoint.save(trainer.iteration(state)[0], tmp_path)
    assert len(state.buffer.archive) > 0 and state.buffer.archive.offered.sum() == 9
    resumed = checkpoint.load(trainer.init(_cfg(buffer=archived)), tmp_path)
    for name in ("params", "returns", "offered"):
        assert torch.equal(getattr(resumed.buffer.archive, name), getattr(state.buffer.archive, name)), name
    _, going_on = trainer.iteration(state)
    _, after_resume = trainer.iteration(resumed)
    assert going_on["train/generator_loss"] == after_resume["train/generator_loss"]
    assert going_on["train/evaluator_loss"] == after_resume["train/evaluator_loss"]


@pytest.mark.parametrize("changes, message", [
    ({"archive_buckets": -1}, "--buffer.archive-buckets must be >= 0, got -1"),
    ({"archive_per_bucket": 0}, "--buffer.archive-per-bucket must be >= 1, got 0"),
    ({"archive_share": 1.0}, r"--buffer.archive-share must be in \[0, 1\), got 1.0"),
    ({"archive_share": -0.1}, r"--buffer.archive-share must be in \[0, 1\), got -0.1"),
])
def test_bad_archive_settings_are_one_line(changes, message):
    with pytest.raises(ValueError, match=message):
        _cfg(buffer=BufferConfig(**changes)).validate()


def _episodes(returns) -> envs.RolloutResult:
    returns = np.asarray(returns, np.float64)[:, None]
    return envs.RolloutResult.from_episodes(returns, returns, np.full(returns.shape, 10), 10 * len(returns),
                                            np.zeros(2), np.zeros(2))


def test_best_rank_takes_each_iterations_kth_highest_return():
    """--command.best-rank 2: the best return so far is the highest over iterations of each one's second highest
    (the paper's 1: the highest); commands and evaluations start from it."""
    from fastgen.poligen.settings import CommandConfig

    paper, second = (trainer.init(_cfg(num_envs=4, command=CommandConfig(best_rank=rank))) for rank in (1, 2))
    theta = torch.zeros(4, paper.buffer.params.shape[1])
    for returns, best_paper, best_second in [([5, 40, 10, 30], 40, 30), ([100, 1, 2, 3], 100, 30),
                                              ([50, 45, 0, 0], 100, 45)]:
        for state in (paper, second):
            trainer.record(state, theta, _episodes(returns))
        assert (paper.best_return, second.best_return) == (best_paper, best_second)
    assert second.command == 45 + 20 and trainer.eval_command(second) == 45


@pytest.mark.parametrize("rank", [0, 4])
def test_a_best_rank_outside_1_to_p_is_one_line(rank):
    from fastgen.poligen.settings import CommandConfig

    with pytest.raises(ValueError, match=rf"--command.best-rank must be between 1 and P = 3 \(--num-envs\), got {rank}"):
        _cfg(command=CommandConfig(best_rank=rank)).validate()


def test_best_window_forgets_returns_older_than_its_iterations():
    """--command.best-window 2: the best return is the highest over the last two iterations only (of each one's
    best-rank-th highest), so a lucky return stops setting the commands two iterations later."""
    from fastgen.poligen.settings import CommandConfig

    states = {(window, rank): trainer.init(_cfg(num_envs=4, command=CommandConfig(best_window=window, best_rank=rank)))
              for window, rank in ((0, 1), (2, 1), (2, 2))}
    theta = torch.zeros(4, states[0, 1].buffer.params.shape[1])
    expected = [([5, 40, 10, 30], (40, 40, 30)), ([100, 1, 2, 3], (100, 100, 30)), ([50, 45, 0, 0], (100, 100, 45)),
                ([1, 2, 3, 4], (100, 50, 45)), ([0, 0, 0, 1], (100, 4, 3))]
    for returns, bests in expected:
        for state in states.values():
            trainer.record(state, theta, _episodes(returns))
        assert tuple(s.best_return for s in states.values()) == bests
    assert states[2, 1].command == 4 + 20 and trainer.eval_command(states[2, 2]) == 3


def test_verify_lets_a_record_count_only_as_the_mean_of_its_episodes(monkeypatch):
    """--command.verify 3: an iteration's highest return that beats the best so far sends that policy (and only it)
    to 3 more episodes, counted as env steps; the best so far rises at most to the mean of those 3 (the lucky
    episode that made it a record left out)."""
    from fastgen.poligen.settings import CommandConfig

    state = trainer.init(_cfg(num_envs=4, command=CommandConfig(verify=3)))
    theta = torch.arange(4.0)[:, None].expand(4, state.buffer.params.shape[1])  # policy i: every weight i
    asked, again = [], {}

    def simulate(states, candidates, keys, episodes):
        asked.append((candidates.clone(), episodes))
        returns = np.asarray([again[float(candidates[0, 0, 0])]], np.float64)  # [1 policy, 3 episodes]
        return [envs.RolloutResult.from_episodes(returns, returns, np.full((1, 3), 7), 21, np.zeros(2), np.zeros(2))]

    monkeypatch.setattr(trainer, "_simulate", simulate)
    for returns, rerun, best in [([5, 40, 10, 30], {1.0: [10, 20, 30]}, 20),
                                 ([20, 19, 26, 1], {2.0: [30, 36, 30]}, 32),
                                 ([28, 0, 0, 0], {}, 32),  # below the best: not run again
                                 ([0, 0, 0, 100], {3.0: [0, 0, 3]}, 32)]:  # verified at 1: the best stays
        again.clear()
        again.update(rerun)
        calls = len(asked)
        trainer.record(state, theta, _episodes(returns))
        trainer.verify_records([state], theta[None], [np.asarray(returns, np.float64)])
        assert len(asked) == calls + len(rerun) and state.best_return == best
        if rerun:
            assert torch.equal(asked[-1][0][0, 0], theta[int(next(iter(rerun)))]) and asked[-1][1] == 3
    assert state.episodes == 4 * 4 + 3 * 3 and state.env_steps == 4 * 40 + 3 * 21
    assert state.command == 32 + 20 and trainer.eval_command(state) == 32


@pytest.mark.parametrize("command, message", [
    ({"verify": -1}, r"--command.verify must be >= 0, got -1"),
    ({"verify": 2, "best_rank": 2}, r"--command.verify checks the highest return of an iteration against the best so "
                                    r"far over every iteration; it needs --command.best-rank 1 and --command.best-window "
                                    r"0, got best-rank 2 and best-window 0"),
    ({"verify": 2, "best_window": 3}, r"it needs --command.best-rank 1 and --command.best-window 0, got best-rank 1 "
                                      r"and best-window 3")])
def test_bad_verify_settings_are_one_line(command, message):
    from fastgen.poligen.settings import CommandConfig

    with pytest.raises(ValueError, match=message):
        _cfg(command=CommandConfig(**command)).validate()


@pytest.mark.parametrize("window", [-1, 17])
def test_a_best_window_beyond_the_buffer_is_one_line(window):
    from fastgen.poligen.settings import CommandConfig

    with pytest.raises(ValueError, match=rf"--command.best-window must be 0 \(every iteration\) or 1 .. 16 "
                                         rf"\(x P = 3 within --buffer.size 50\), got {window}"):
        _cfg(command=CommandConfig(best_window=window)).validate()


def _first_draws(monkeypatch, generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One iteration at P = 4 with ``generator``'s settings: (G(c_i) [4, D], the stored theta [4, D])."""
    state = trainer.init(_cfg(num_envs=4, generator=generator))
    asked = []
    original = trainer.learner.generate
    monkeypatch.setattr(trainer.learner, "generate", lambda *a: asked.append(original(*a)) or asked[-1])
    trainer.iteration(state)
    monkeypatch.undo()
    return asked[0][0], state.buffer.params[:4].clone()


def test_noise_free_policies_are_the_generators_own_and_the_others_keep_their_noise(monkeypatch):
    """--generator.noise-free 2 of P = 4: policies 1 and 3 (the middle of each half of the commands) are stored
    exactly as G(c_i); policies 0 and 2 carry the same noise as without the option (same seed, same draws)."""
    from fastgen.poligen.settings import GeneratorConfig

    stored = {free: _first_draws(monkeypatch, GeneratorConfig(updates_per_episode=1, noise_free=free))
              for free in (0, 2)}
    mean, theta = stored[2]
    assert torch.equal(theta[[1, 3]], mean[[1, 3]])
    assert not torch.isclose(theta[[0, 2]], mean[[0, 2]]).all(dim=1).any()
    torch.testing.assert_close(theta[[0, 2]], stored[0][1][[0, 2]], rtol=0, atol=0)
    assert not torch.isclose(stored[0][1], stored[0][0]).all(dim=1).any()  # without it every policy is noisy


def test_antithetic_pairs_mirror_one_draw_and_keep_the_first_of_each_pair_unchanged(monkeypatch):
    """--generator.antithetic at P = 4: policy 2j + 1 carries minus the noise of policy 2j about its own centre;
    policies 0 and 2 carry exactly the noise they carry without the option (same seed, same draws)."""
    from fastgen.poligen.settings import GeneratorConfig

    stored = {mirrored: _first_draws(monkeypatch, GeneratorConfig(updates_per_episode=1, antithetic=mirrored))
              for mirrored in (False, True)}
    mean, theta = stored[True]
    eps = theta - mean
    torch.testing.assert_close(eps[[1, 3]], -eps[[0, 2]], rtol=0, atol=1e-6)
    assert eps.abs().amax(dim=1).min() > 0.1  # every policy carries noise
    torch.testing.assert_close(theta[[0, 2]], stored[False][1][[0, 2]], rtol=0, atol=0)
    plain = stored[False][1] - stored[False][0]
    assert not torch.isclose(plain[[1, 3]], -plain[[0, 2]], atol=1e-3).all(dim=1).any()  # without it: independent


def test_mixed_noise_mirrors_pairs_with_the_flat_std_then_the_fan_in_std(monkeypatch):
    """--generator.noise-layout mixed with --generator.antithetic at P = 4: pair 0 (policies 0, 1) carries the flat
    layout's noise, pair 1 (policies 2, 3) the fan-in layout's, each pair mirrored; policy 0 exactly as with flat
    noise (same seed, same draws) and policy 2 exactly as with fan-in noise."""
    from fastgen.poligen.settings import GeneratorConfig

    stored = {layout: _first_draws(monkeypatch, GeneratorConfig(updates_per_episode=1, antithetic=True,
                                                                noise_layout=layout))
              for layout in ("flat", "fan-in", "mixed")}
    mean, theta = stored["mixed"]
    eps = theta - mean
    torch.testing.assert_close(eps[[1, 3]], -eps[[0, 2]], rtol=0, atol=1e-6)
    torch.testing.assert_close(theta[0], stored["flat"][1][0], rtol=0, atol=0)
    torch.testing.assert_close(theta[2], stored["fan-in"][1][2], rtol=0, atol=0)
    hidden = eps[:, 2 * 256 + 256:2 * 256 + 256 + 256 * 256]  # mountain_car's W2, after W1 [256, 2] and b1 [256]
    assert hidden[0].std().item() == pytest.approx(0.1, rel=0.02)
    assert hidden[2].std().item() == pytest.approx(0.1 / 8, rel=0.02)  # fan-in: std x 2 / sqrt(256)


def test_the_noise_follows_the_share_of_policies_beating_their_centres(tmp_path, monkeypatch):
    """--generator.noise-target 0.2 with --generator.noise-free 1 at P = 4 (policy 2 noise-free): 1 of 3 noisy
    policies above the centre widens the noise by exp(2 x (1/3 - 0.2)), 0 of 3 narrows it by exp(-0.4), the
    multiplier stays within [1/32, 4], scales the next iteration's noise and survives a checkpoint."""
    from fastgen.poligen import checkpoint
    from fastgen.poligen.settings import GeneratorConfig

    cfg = _cfg(num_envs=4, generator=GeneratorConfig(updates_per_episode=1, noise_free=1, noise_target=0.2))
    state = trainer.init(cfg)
    trainer.adapt_noise(state, np.array([5.0, 1.0, 2.0, 0.0]))  # centre 2.0: one of 5, 1, 0 above it
    assert state.noise_multiplier == pytest.approx(math.exp(2 * (1 / 3 - 0.2)))
    trainer.adapt_noise(state, np.array([1.0, 1.0, 2.0, 2.0]))  # none above (ties do not count)
    assert state.noise_multiplier == pytest.approx(math.exp(2 * (1 / 3 - 0.2) - 0.4))
    for _ in range(20):
        trainer.adapt_noise(state, np.array([0.0, 0.0, 1.0, 0.0]))
    assert state.noise_multiplier == 1 / 32
    asked = []
    original = trainer.learner.generate
    monkeypatch.setattr(trainer.learner, "generate", lambda *a: asked.append(original(*a)) or asked[-1])
    state.noise_multiplier = multiplier = 0.5
    trainer.iteration(state)
    eps = state.buffer.params[:4] - asked[0][0]
    assert eps[2].abs().max() == 0  # the noise-free one
    assert eps[[0, 1, 3]].std().item() == pytest.approx(0.1 * multiplier, rel=0.02)
    checkpoint.save(state, tmp_path)
    assert checkpoint.load(trainer.init(cfg), tmp_path).noise_multiplier == state.noise_multiplier != multiplier


def test_noise_target_needs_noise_free_policies_and_a_share():
    from fastgen.poligen.settings import GeneratorConfig

    with pytest.raises(ValueError, match=r"--generator.noise-target 0.2 compares noisy policies with the noise-free "
                                         r"ones of the same iteration; it needs --generator.noise-free >= 1, got 0"):
        _cfg(num_envs=4, generator=GeneratorConfig(noise_target=0.2)).validate()
    with pytest.raises(ValueError, match=r"--generator.noise-target must be 0 \(fixed noise\) or a share in \(0, 1\), "
                                         r"got 1.5"):
        _cfg(num_envs=4, generator=GeneratorConfig(noise_target=1.5, noise_free=1)).validate()


def test_antithetic_with_an_odd_population_is_one_line():
    from fastgen.poligen.settings import GeneratorConfig

    with pytest.raises(ValueError, match=r"--generator.antithetic mirrors the noise of policy pairs; it needs an even "
                                         r"P \(--num-envs\), got 3"):
        _cfg(num_envs=3, generator=GeneratorConfig(antithetic=True)).validate()


@pytest.mark.parametrize("free, num_envs", [(4, 4), (1, 1), (-1, 4)])
def test_noise_free_beyond_the_population_is_one_line(free, num_envs):
    from fastgen.poligen.settings import GeneratorConfig

    with pytest.raises(ValueError, match=rf"--generator.noise-free must be 0 .. P - 1 = {num_envs - 1} "
                                         rf"\(--num-envs {num_envs}\), got {free}"):
        _cfg(num_envs=num_envs, generator=GeneratorConfig(noise_free=free)).validate()


def _record_then_verify(monkeypatch, command, again_no_bonus, again_lengths):
    """Hopper, P = 4: books episodes of bonus-free returns 10, 30, -5, 20 over 100, 20, 40, 200 steps, then verifies
    the record as if its policy ran again with ``again_no_bonus`` over ``again_lengths`` steps ``[1, K]``;
    -> (the training returns ``record`` gave [4], the buffer's copy of them [4], the state after verification)."""
    from fastgen.poligen.settings import CommandConfig

    cfg = Config(env="hopper", num_envs=4, engine="cpu", device="cpu", buffer=BufferConfig(size=50),
                 command=CommandConfig(**command, verify=again_lengths.shape[1]))
    cfg.validate()
    state = trainer.init(cfg)
    theta = torch.arange(4.0)[:, None].expand(4, state.buffer.params.shape[1])
    no_bonus, lengths = np.array([[10.0], [30.0], [-5.0], [20.0]]), np.array([[100], [20], [40], [200]])
    episodes = envs.RolloutResult.from_episodes(no_bonus + lengths, no_bonus, lengths, int(lengths.sum()),
                                                np.zeros(11), np.zeros(11))

    def simulate(states, candidates, keys, episodes):
        return [envs.RolloutResult.from_episodes(again_no_bonus + again_lengths, again_no_bonus, again_lengths,
                                                 int(again_lengths.sum()), np.zeros(11), np.zeros(11))]

    monkeypatch.setattr(trainer, "_simulate", simulate)
    returns = trainer.record(state, theta, episodes)
    booked = state.buffer.returns[:4].numpy().copy()
    trainer.verify_records([state], theta[None], [returns])
    return returns, booked, state


def test_a_bonus_share_keeps_that_share_of_the_survival_bonus_in_records_buffer_and_verified_records(monkeypatch):
    """--command.bonus-share 0.25 on hopper: every training return (buffer, best so far, the re-runs that verify a
    record) is the bonus-free return + 0.25 x the bonus (1 per step, so 0.25 x the episode's length)."""
    # the record (policy 3) again: bonus-free 8 and 12, 100 steps
    returns, booked, state = _record_then_verify(monkeypatch, {"bonus_share": 0.25}, np.array([[8.0, 12.0]]),
                                                 np.array([[100, 100]]))
    np.testing.assert_allclose(returns, [35.0, 35.0, 5.0, 70.0])  # 10 + 25, 30 + 5, -5 + 10, 20 + 50
    np.testing.assert_allclose(booked, [35.0, 35.0, 5.0, 70.0])
    assert state.best_return == pytest.approx(10.0 + 25.0)  # mean of 8 + 25 and 12 + 25


def test_a_bonus_cap_takes_the_share_of_at_most_that_much_bonus_in_records_buffer_and_verified_records(monkeypatch):
    """--command.bonus-share 0.5 --command.bonus-cap 60 on hopper: the training return is the bonus-free return +
    0.5 x the bonus (1 per step) up to 60 steps' worth, so episodes of 100 and 200 steps gain the same 30."""
    # the record (policy 3) again: 8 over 50 steps, 12 over 1000
    returns, booked, state = _record_then_verify(monkeypatch, {"bonus_share": 0.5, "bonus_cap": 60.0},
                                                 np.array([[8.0, 12.0]]), np.array([[50, 1000]]))
    np.testing.assert_allclose(returns, [40.0, 40.0, 15.0, 50.0])  # 10 + 30, 30 + 10, -5 + 20, 20 + 30
    np.testing.assert_allclose(booked, [40.0, 40.0, 15.0, 50.0])
    assert state.best_return == pytest.approx((8.0 + 25.0 + 12.0 + 30.0) / 2)


@pytest.mark.parametrize("env, command, message", [
    ("hopper", {"bonus_cap": -1.0, "bonus_share": 0.1}, r"--command.bonus-cap must be 0 \(no cap\) or a bonus > 0, "
                                                         r"got -1.0"),
    ("hopper", {"bonus_cap": float("nan"), "bonus_share": 0.1}, r"--command.bonus-cap must be a finite number, got nan"),
    ("hopper", {"bonus_cap": 300.0}, r"--command.bonus-cap 300 caps the survival bonus that --command.bonus-share keeps; "
                                     r"it needs --command.bonus-share > 0, got 0"),
    ("hopper", {"bonus_share": 1.5}, r"--command.bonus-share must be in \[0, 1\] \(the share of the survival bonus "
                                     r"kept\), got 1.5"),
    ("hopper", {"bonus_share": 0.5, "bonus_free": False}, r"--command.bonus-share 0.5 keeps part of the survival bonus "
                                                          r"that --command.no-bonus-free keeps whole; give one of them"),
    ("swimmer", {"bonus_share": 0.1}, r"--command.bonus-share 0.1: swimmer has no survival bonus to share; tasks with "
                                      r"one: hopper, walker2d, ant")])
def test_bad_bonus_share_settings_are_one_line(env, command, message):
    from fastgen.poligen.settings import CommandConfig

    with pytest.raises(ValueError, match=message):
        Config(env=env, num_envs=4, command=CommandConfig(**command)).validate()
