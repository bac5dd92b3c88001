"""--generator.anchor-lr: the policies that set the newest bests so far, and the anchor steps that pull G's actions
towards theirs."""

import dataclasses

import numpy as np
import pytest
import torch

import envs
from fastgen import policy
from fastgen.config import Config
from fastgen.poligen import checkpoint, learner, settings, trainer
from fastgen.poligen.buffer import RecordAnchors
from fastgen.poligen.settings import BufferConfig, CommandConfig, EvaluatorConfig, GeneratorConfig


def _cfg(anchor_lr=1e-3, **changes) -> Config:
    base = Config(env="mountain_car", num_envs=4, engine="cpu", device="cpu",
                  generator=GeneratorConfig(updates_per_episode=1, anchor_lr=anchor_lr),
                  evaluator=EvaluatorConfig(updates_per_episode=1), buffer=BufferConfig(size=50))
    return dataclasses.replace(base, **changes)


def _episodes(returns) -> envs.RolloutResult:
    returns = np.asarray(returns, np.float64)[:, None]
    return envs.RolloutResult.from_episodes(returns, returns, np.full(returns.shape, 10), 10 * len(returns),
                                            np.zeros(2), np.zeros(2))


def _policies(state, count: int) -> torch.Tensor:
    """Policy i: every weight i, ``[count, D]``."""
    return torch.arange(float(count))[:, None].expand(count, state.buffer.params.shape[1]).contiguous()


def test_each_new_best_and_only_a_new_best_becomes_an_anchor_keeping_the_newest():
    state = trainer.init(_cfg())
    theta = _policies(state, 4)
    for returns in ([5, 40, 10, 30], [41, 0, 0, 0], [0, 0, 0, 39], [0, 50, 0, 0], [0, 0, 60, 0], [0, 0, 0, 70]):
        trainer.record(state, theta, _episodes(returns))
    assert state.best_return == 70
    assert settings.ANCHORS == 4 and state.anchors.returns.tolist() == [41, 50, 60, 70]  # 40 dropped, 39 no record
    assert state.anchors.theta[:, 0].tolist() == [0, 1, 2, 3] and torch.equal(state.anchors.theta[3], theta[3])


def test_a_verified_record_is_anchored_with_the_mean_of_its_reruns(monkeypatch):
    state = trainer.init(_cfg(command=CommandConfig(verify=3)))
    theta = _policies(state, 4)
    again = {1.0: [10, 20, 30], 2.0: [30, 36, 30], 3.0: [0, 0, 3]}

    def simulate(states, candidates, keys, episodes):
        returns = np.asarray([again[float(candidates[0, 0, 0])]], np.float64)
        return [envs.RolloutResult.from_episodes(returns, returns, np.full((1, 3), 7), 21, np.zeros(2), np.zeros(2))]

    monkeypatch.setattr(trainer, "_simulate", simulate)
    for returns in ([5, 40, 10, 30], [20, 19, 26, 1], [0, 0, 0, 100]):  # the last verifies at 1: no new best
        trainer.record(state, theta, _episodes(returns))
        trainer.verify_records([state], theta[None], [np.asarray(returns, np.float64)])
    assert state.best_return == 32
    assert state.anchors.returns.tolist() == [20, 32] and state.anchors.theta[:, 0].tolist() == [1, 2]


def test_anchors_pad_to_their_capacity_with_a_mask():
    anchors = RecordAnchors(3, 2)
    anchors.add(torch.tensor([1.0, 2.0]), 5.0)
    returns, theta, mask = anchors.padded()
    assert returns.tolist() == [5, 0, 0] and theta.tolist() == [[1, 2], [0, 0], [0, 0]] and mask.tolist() == [1, 0, 0]


def _generated(shared, slot: int, commands: list[float]) -> torch.Tensor:
    return learner.generate(shared, [slot], torch.tensor([commands]))[0]


def test_anchor_steps_pull_g_of_the_anchor_return_to_its_policy_and_touch_nothing_else():
    states = trainer.init_batch([_cfg(seed=0, anchor_lr=1e-5), _cfg(seed=1, anchor_lr=1e-5)])
    shared = states[0].learner
    target = _generated(shared, 0, [50.0])[0] + 0.1 * torch.randn(states[0].buffer.params.shape[1],
                                                                  generator=torch.Generator().manual_seed(3))
    states[0].anchors.add(target, 50.0)
    other_seed = shared.generator_weights.flat[1].clone()
    moments = shared.generator_opt.exp_avg.clone(), shared.generator_opt.exp_avg_sq.clone()
    def action_gap():
        return (policy.forward(torch.stack([_generated(shared, 0, [50.0])[0], target]), shared.anchor_states,
                               states[0].spec).diff(dim=0)).pow(2).mean()

    start = action_gap()
    assert shared.anchor_states.shape == (learner.ANCHOR_STATES, states[0].spec.obs_dim)
    losses = []
    for _ in range(30):
        returns, theta, mask = (part[None] for part in states[0].anchors.padded())
        losses.append(float(learner.anchor_step(shared, [0], returns, theta, mask)[0]))
    assert losses[0] == pytest.approx(float(start), rel=1e-4)  # the padding rows count for nothing
    assert action_gap() < 0.5 * start
    assert torch.equal(shared.generator_weights.flat[1], other_seed)
    assert torch.equal(shared.generator_opt.exp_avg, moments[0]) and torch.equal(shared.generator_opt.exp_avg_sq,
                                                                                 moments[1])
    assert float(shared.anchor_opt.steps[0]) == 30 and float(shared.anchor_opt.steps[1]) == 0


def test_an_anchored_iteration_moves_only_the_generator_and_without_anchors_nothing_changes():
    plain, anchored = trainer.init(_cfg(anchor_lr=0.0)), trainer.init(_cfg())
    assert plain.anchors is None and plain.learner.anchor_opt is None
    trainer.iteration(plain)
    trainer.iteration(anchored)
    assert len(anchored.anchors) == 1 and anchored.anchors.returns[0] == anchored.best_return == plain.best_return
    assert torch.equal(plain.learner.evaluator_weights.flat, anchored.learner.evaluator_weights.flat)
    assert not torch.equal(plain.learner.generator_weights.flat, anchored.learner.generator_weights.flat)
    assert float(anchored.learner.anchor_opt.steps[0]) == settings.update_counts(anchored.cfg)[1]


def test_an_anchored_run_resumes_exactly(tmp_path):
    state = trainer.init(_cfg())
    for _ in range(2):
        checkpoint.save(trainer.iteration(state)[0], tmp_path)
    resumed = checkpoint.load(trainer.init(_cfg()), tmp_path)
    assert torch.equal(resumed.anchors.theta, state.anchors.theta)
    assert torch.equal(resumed.anchors.returns, state.anchors.returns)
    for name in ("exp_avg", "exp_avg_sq", "steps"):
        assert torch.equal(getattr(resumed.learner.anchor_opt, name), getattr(state.learner.anchor_opt, name)), name
    trainer.iteration(state)
    trainer.iteration(resumed)
    assert torch.equal(resumed.learner.generator_weights.flat, state.learner.generator_weights.flat)


@pytest.mark.parametrize("changes, message", [
    ({"anchor_lr": -1e-6}, r"--generator.anchor-lr must be 0 \(no anchor\) or a learning rate > 0, got -1e-06"),
    ({"anchor_lr": float("nan")}, r"--generator.anchor-lr must be a finite number"),
    ({"command": CommandConfig(best_window=2)}, r"--generator.anchor-lr 0.001 anchors the generator to the records of the "
                                                r"best so far over every iteration; it needs --command.best-window 0, got 2"),
])
def test_bad_anchor_settings_are_one_line(changes, message):
    with pytest.raises(ValueError, match=message):
        if "anchor_lr" in changes:
            _cfg(anchor_lr=changes["anchor_lr"]).validate()
        else:
            _cfg(**changes).validate()


def test_the_papers_schedule_has_no_anchor():
    cfg = Config(env="hopper", schedule="paper")
    assert cfg.resolved()["anchor_lr"] == 0.0 and trainer.init(dataclasses.replace(cfg, engine="cpu")).anchors is None


def test_anchored_seeds_train_in_a_batch_exactly_as_alone():
    batch = trainer.init_batch([_cfg(seed=0), _cfg(seed=1)])
    alone = [trainer.init(_cfg(seed=seed)) for seed in (0, 1)]
    trainer.iteration_batch(batch)  # records come before the updates: the first iteration already has anchor steps
    for state in alone:
        trainer.iteration(state)
    for k, state in enumerate(alone):
        assert torch.equal(batch[k].anchors.returns, state.anchors.returns) and len(state.anchors) >= 1
        assert torch.equal(batch[k].learner.generator_weights.flat[k], state.learner.generator_weights.flat[0])


def _scripted(monkeypatch, script):
    """Each iteration's P = 4 training returns from ``script`` (one list per iteration), not from simulation."""
    rounds = iter(script)
    monkeypatch.setattr(trainer, "_simulate", lambda states, theta, keys, episodes=1: [_episodes(next(rounds))])


def test_anchor_steps_wait_until_the_best_has_stalled_for_anchor_after_iterations(monkeypatch):
    state = trainer.init(_cfg(generator=GeneratorConfig(updates_per_episode=1, anchor_lr=1e-3, anchor_after=2)))
    n_generator = settings.update_counts(state.cfg)[1]
    #        rises     stalled 1   stalled 2   stalled 3   rises      stalled 1
    script = [[5, 9, 1, 2], [3, 8, 1, 0], [0, 1, 2, 4], [7, 8, 6, 5], [10, 0, 0, 0], [0, 0, 0, 0]]
    _scripted(monkeypatch, script)
    anchored, steps = [], []
    for _ in script:
        _, metrics = trainer.iteration(state)
        anchored.append(metrics["train/anchored"])
        steps.append(int(state.learner.anchor_opt.steps[0]))
    assert anchored == [0, 0, 1, 1, 0, 0]
    assert steps == [0, 0, n_generator, 2 * n_generator, 2 * n_generator, 2 * n_generator]
    assert state.best_return == 10 and state.best_rose_at == 5 and state.anchors.returns.tolist() == [9, 10]


def test_anchor_after_zero_anchors_every_iteration_as_before(monkeypatch):
    state = trainer.init(_cfg())
    _scripted(monkeypatch, [[5, 9, 1, 2], [3, 8, 1, 0]])
    assert [trainer.iteration(state)[1]["train/anchored"] for _ in range(2)] == [1, 1]
    assert int(state.learner.anchor_opt.steps[0]) == 2 * settings.update_counts(state.cfg)[1]


def test_a_run_resumes_with_the_iteration_its_best_last_rose(tmp_path, monkeypatch):
    def cfg():
        return _cfg(generator=GeneratorConfig(updates_per_episode=1, anchor_lr=1e-3, anchor_after=1))

    state = trainer.init(cfg())
    _scripted(monkeypatch, [[5, 9, 1, 2], [3, 8, 1, 0]])
    for _ in range(2):
        trainer.iteration(state)
    checkpoint.save(state, tmp_path)
    resumed = checkpoint.load(trainer.init(cfg()), tmp_path)
    assert resumed.best_rose_at == state.best_rose_at == 1 and resumed.iterations == 2
    _scripted(monkeypatch, [[0, 1, 2, 4], [0, 1, 2, 4]])  # the same third iteration for both
    assert [trainer.iteration(s)[1]["train/anchored"] for s in (state, resumed)] == [1, 1]
    assert torch.equal(resumed.learner.generator_weights.flat, state.learner.generator_weights.flat)


@pytest.mark.parametrize("after, anchor_lr, message", [
    (-1, 1e-3, r"--generator.anchor-after must be an integer >= 0 \(iterations\), got -1"),
    (2.5, 1e-3, r"--generator.anchor-after must be an integer >= 0 \(iterations\), got 2.5"),
    (3, 0.0, r"--generator.anchor-after 3 delays the anchor steps of --generator.anchor-lr; it needs "
             r"--generator.anchor-lr > 0, got 0"),
])
def test_bad_anchor_after_is_one_line(after, anchor_lr, message):
    with pytest.raises(ValueError, match=message):
        _cfg(generator=GeneratorConfig(updates_per_episode=1, anchor_lr=anchor_lr, anchor_after=after)).validate()
