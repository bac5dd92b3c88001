"""--generator.average-decay: evaluations use a moving average of the generator's weights; training is unchanged."""

import dataclasses

import numpy as np
import pytest
import torch

from fastgen import trained
from fastgen.config import Config
from fastgen.poligen import checkpoint, learner, snapshots, trainer
from fastgen.poligen.settings import BufferConfig, EvaluatorConfig, GeneratorConfig


def _cfg(decay=0.9, lr=2e-6, **changes) -> Config:
    base = Config(env="mountain_car", num_envs=4, engine="cpu", device="cpu",
                  generator=GeneratorConfig(updates_per_episode=1, average_decay=decay, lr=lr),
                  evaluator=EvaluatorConfig(updates_per_episode=1), buffer=BufferConfig(size=50))
    return dataclasses.replace(base, **changes)


def test_the_average_follows_every_generator_update_by_its_decay(monkeypatch):
    state = trainer.init(_cfg(decay=0.9, lr=1e-2))  # steps large enough that a wrong decay shows
    shared, seen = state.learner, []
    expected = shared.generator_weights.flat[0].clone()
    step = learner.generator_step

    def recorded(*args):
        losses = step(*args)
        seen.append(shared.generator_weights.flat[0].clone())
        return losses

    monkeypatch.setattr(learner, "generator_step", recorded)
    trainer.iteration(state)
    trainer.iteration(state)
    assert len(seen) == 2 * 2  # 1 update per episode x P^0.5 = 2 per iteration at P = 4
    for weights in seen:
        expected = 0.9 * expected + 0.1 * weights
    assert (seen[-1] - seen[0]).abs().max() > 1e-2
    torch.testing.assert_close(shared.generator_average[0], expected, rtol=1e-6, atol=1e-6)
    assert not torch.equal(shared.generator_average[0], shared.generator_weights.flat[0])


def test_training_is_unchanged_and_evaluations_ask_the_average_and_then_the_generator_on_the_same_starts(monkeypatch):
    plain, averaged = trainer.init(_cfg(decay=0.0)), trainer.init(_cfg(decay=0.99))
    assert plain.learner.generator_average is None
    for _ in range(1):
        trainer.iteration(plain)
        trainer.iteration(averaged)
        trainer.evaluate(plain)
        asked = []
        simulate = trainer._simulate
        monkeypatch.setattr(trainer, "_simulate", lambda states, theta, keys, episodes=1: (
            asked.append((theta.clone(), [np.asarray(k) for k in map(__import__("jax").random.key_data, keys)]))
            or simulate(states, theta, keys, episodes)))
        metrics = trainer.evaluate(averaged)
        monkeypatch.undo()
        command = torch.tensor([[averaged.best_return]])
        torch.testing.assert_close(asked[0][0], learner.generate(averaged.learner, [0], command, average=True))
        torch.testing.assert_close(asked[1][0], learner.generate(averaged.learner, [0], command))
        assert np.array_equal(asked[0][1][0], asked[1][1][0])  # the same reset keys
        assert set(metrics) >= {"eval/return", "eval/live_return"} and "eval/live_return" not in trainer.evaluate(plain)
    trainer.iteration(plain)
    trainer.iteration(averaged)
    assert torch.equal(plain.learner.generator_weights.flat, averaged.learner.generator_weights.flat)
    assert torch.equal(plain.buffer.returns, averaged.buffer.returns) and plain.best_return == averaged.best_return


def test_an_averaged_run_resumes_exactly_and_its_snapshots_and_analysis_use_the_average(tmp_path):
    cfg = dataclasses.replace(_cfg(), out=str(tmp_path))
    state = trainer.init(cfg)
    for _ in range(2):
        checkpoint.save(trainer.iteration(state)[0], tmp_path)
    resumed = checkpoint.load(trainer.init(cfg), tmp_path)
    assert torch.equal(resumed.learner.generator_average, state.learner.generator_average)
    trainer.iteration(state)
    trainer.iteration(resumed)
    assert torch.equal(resumed.learner.generator_average, state.learner.generator_average)
    average = state.learner.average_state_dict(0)
    assert all(torch.equal(snapshots.evaluated_generator(state)[n], average[n]) for n in average)
    checkpoint.save(state, tmp_path)
    (tmp_path / "config.json").write_text(__import__("json").dumps(dataclasses.asdict(cfg)))
    loaded = trained.load(tmp_path)
    assert all(torch.equal(loaded.generator.state_dict()[n], average[n]) for n in average)


@pytest.mark.parametrize("decay", [-0.1, 1.0])
def test_a_bad_average_decay_is_one_line(decay):
    with pytest.raises(ValueError, match=rf"--generator.average-decay must be 0 \(no average\) or in \(0, 1\), got {decay}"):
        _cfg(decay=decay).validate()


def test_the_papers_schedule_has_no_average():
    assert Config(env="swimmer", schedule="paper").resolved()["average_decay"] == 0.0


def test_averaged_seeds_in_a_batch_average_exactly_as_alone():
    batch = trainer.init_batch([_cfg(seed=0), _cfg(seed=1)])
    alone = [trainer.init(_cfg(seed=seed)) for seed in (0, 1)]
    trainer.iteration_batch(batch)
    for state in alone:
        trainer.iteration(state)
    for k, state in enumerate(alone):
        assert torch.equal(batch[k].learner.generator_average[k], state.learner.generator_average[0])
    assert trainer.evaluate_batch(batch)[1] == trainer.evaluate(alone[1])
