"""--evaluator.top-share: a share of every evaluator batch from the buffer's highest returns."""

import dataclasses

import numpy as np
import pytest
import torch

import envs
from fastgen.config import Config
from fastgen.poligen import settings, trainer
from fastgen.poligen.buffer import ReplayBuffer, ReturnArchive
from fastgen.poligen.settings import BufferConfig, EvaluatorConfig, GeneratorConfig


def _buffer(returns, archive=None, archive_share=0.0) -> ReplayBuffer:
    """One block of policies whose every weight is their return."""
    returns = torch.as_tensor(returns, dtype=torch.float32)
    buffer = ReplayBuffer(100, 3, archive=archive, archive_share=archive_share)
    buffer.add(returns[:, None].expand(len(returns), 3).contiguous(), returns)
    return buffer


def test_the_top_share_of_a_batch_is_drawn_uniformly_from_the_highest_returns():
    buffer = _buffer(torch.randperm(40).float())  # returns 0 .. 39 in random slots
    rng = torch.Generator().manual_seed(0)
    drawn = torch.stack([buffer.sample(rng, 16, top_share=0.25, top_count=5)[1] for _ in range(4000)])
    assert drawn[:, 12:].min() == 35  # the last 4 of every batch: the 5 highest returns only
    counts = torch.bincount(drawn[:, 12:].long().flatten() - 35, minlength=5).double()
    assert (counts / counts.sum() - 0.2).abs().max() < 0.02  # each equally likely
    assert drawn[:, :12].min() < 35  # the rest by recency, over every entry
    params, returns = buffer.sample(rng, 16, top_share=0.25, top_count=5)
    assert torch.equal(params[:, 0], returns)  # returns and params of the same entries


def test_a_new_higher_return_enters_the_top_at_once():
    buffer = _buffer([1.0, 2.0, 3.0])
    assert sorted(buffer.returns[buffer.top_index(2)].tolist()) == [2.0, 3.0]
    buffer.add(torch.full((1, 3), 9.0), torch.tensor([9.0]))
    assert sorted(buffer.returns[buffer.top_index(2)].tolist()) == [3.0, 9.0]
    assert len(buffer.top_index(64)) == 4  # fewer held than asked: all of them


def test_no_top_share_is_the_papers_draw_and_the_generators_commands_are_unchanged():
    buffer = _buffer(torch.arange(30.0))
    a, b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    for _ in range(3):
        assert torch.equal(buffer.sample(a, 16, top_share=0.0, top_count=5)[1], buffer.sample(b, 16)[1])
    shared = torch.Generator().manual_seed(6)
    commands = buffer.sample_returns(shared, 4000)
    assert (commands < 25).float().mean() > 0.5  # sample_returns has no top share: mostly the recent bulk


def test_the_top_share_keeps_one_recent_entry_and_comes_before_the_archive():
    archive = ReturnArchive(4, 8, 3, 0.0, 40.0)
    buffer = _buffer(torch.arange(40.0), archive=archive, archive_share=0.5)
    rng = torch.Generator().manual_seed(1)
    drawn = torch.stack([buffer.sample(rng, 4, top_share=0.9, top_count=2)[1] for _ in range(500)])
    # 4 = 1 by recency (at least one) + 1 of the top (capped at 4 - 2 - 1) + 2 of the archive
    assert set(drawn[:, 1].tolist()) <= {38.0, 39.0}
    assert len(set(drawn[:, 0].tolist())) > 5 and len(set(drawn[:, 2:].flatten().tolist())) > 5


def _cfg(**changes) -> Config:
    base = Config(env="mountain_car", num_envs=4, engine="cpu", device="cpu",
                  generator=GeneratorConfig(updates_per_episode=1), buffer=BufferConfig(size=50),
                  evaluator=EvaluatorConfig(updates_per_episode=4, top_share=0.5, top_count=2))
    return dataclasses.replace(base, **changes)


def test_the_evaluators_batches_carry_the_top_share_and_the_generators_do_not(monkeypatch):
    state = trainer.init(_cfg())
    script = iter([[5.0, 9.0, 1.0, 2.0], [3.0, 8.0, 1.0, 0.0]])

    def simulate(states, theta, keys, episodes=1):
        returns = np.asarray(next(script), np.float64)[:, None]
        return [envs.RolloutResult.from_episodes(returns, returns, np.full(returns.shape, 10), 40, np.zeros(2),
                                                 np.zeros(2))]

    monkeypatch.setattr(trainer, "_simulate", simulate)
    evaluated, commanded = [], []
    evaluator_step, generator_step = trainer.learner.evaluator_step, trainer.learner.generator_step
    monkeypatch.setattr(trainer.learner, "evaluator_step",
                        lambda learner, slots, theta, returns: evaluated.append(returns.clone())
                        or evaluator_step(learner, slots, theta, returns))
    monkeypatch.setattr(trainer.learner, "generator_step",
                        lambda learner, slots, commands: commanded.append(commands.clone())
                        or generator_step(learner, slots, commands))
    for _ in range(2):
        trainer.iteration(state)
    batch, updates = settings.batch_size(state.cfg), settings.update_counts(state.cfg)[0]
    evaluated = torch.cat(evaluated)  # [2 x updates, B]
    for rows, highest in ((evaluated[:updates], {5.0, 9.0}), (evaluated[updates:], {8.0, 9.0})):
        assert set(rows[:, batch // 2:].flatten().tolist()) == highest  # the buffer's 2 highest at the time
    assert set(evaluated[:, :batch // 2].flatten().tolist()) - {5.0, 8.0, 9.0}  # the rest by recency
    assert set(torch.cat(commanded).flatten().tolist()) - {5.0, 8.0, 9.0}


def test_the_top_share_is_a_population_default_and_off_in_the_papers_schedule():
    assert settings.top_share(Config(env="swimmer", schedule="paper")) == 0.0
    assert Config(env="swimmer", evaluator=EvaluatorConfig(top_share=0.25)).resolved()["top_share"] == 0.25


@pytest.mark.parametrize("evaluator, message", [
    (EvaluatorConfig(top_share=1.0), r"--evaluator.top-share must be in \[0, 1\) \(a share of every evaluator "
                                     r"batch\), got 1.0"),
    (EvaluatorConfig(top_share=float("nan")), r"--evaluator.top-share must be .*, got nan"),
    (EvaluatorConfig(top_share=-0.1), r"--evaluator.top-share must be in \[0, 1\) .*got -0.1"),
    (EvaluatorConfig(top_count=0), r"--evaluator.top-count must be >= 1, got 0"),
])
def test_bad_top_share_or_count_is_one_line(evaluator, message):
    with pytest.raises(ValueError, match=message):
        Config(env="swimmer", evaluator=evaluator).validate()
