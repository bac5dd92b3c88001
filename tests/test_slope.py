"""--generator.slope-lr: the generator's step up the return's slope that its population measured."""

import dataclasses

import numpy as np
import pytest
import torch

from fastgen.config import Config
from fastgen.poligen import checkpoint, learner, settings, trainer
from fastgen.poligen.settings import BufferConfig, EvaluatorConfig, GeneratorConfig


def _cfg(slope_lr=1e-4, **changes) -> Config:
    base = Config(env="mountain_car", num_envs=4, engine="cpu", device="cpu",
                  generator=GeneratorConfig(updates_per_episode=1, slope_lr=slope_lr),
                  evaluator=EvaluatorConfig(updates_per_episode=1), buffer=BufferConfig(size=50))
    return dataclasses.replace(base, **changes)


def test_weights_are_scale_free_zero_for_noise_free_policies_and_leave_the_pair_difference():
    returns, free = np.array([3.0, -1.0, 7.0, 10.0, 2.0]), np.array([False, False, True, False, False])
    weights = trainer.slope_weights(returns, free)
    assert weights[2] == 0 and weights[~free].mean() == pytest.approx(0) and weights[~free].std() == pytest.approx(1)
    assert np.allclose(trainer.slope_weights(4.0 * returns - 30.0, free), weights)  # the returns' units do not matter
    assert np.argsort(weights[~free]).tolist() == np.argsort(returns[~free]).tolist()
    pair = trainer.slope_weights(np.array([5.0, 1.0, 9.0, 9.0]), np.zeros(4, bool))
    assert pair[0] - pair[1] == pytest.approx(4.0 / np.std([5.0, 1.0, 9.0, 9.0]))  # the mean cancels in a pair
    assert not trainer.slope_weights(np.full(4, 2.0), np.zeros(4, bool)).any()  # no slope where all earn the same


def test_slope_steps_climb_a_return_and_touch_nothing_else():
    """Synthetic return: minus the squared distance of a policy's weights to target policies that G can make (its own
    outputs with slightly other parameters). Slope steps from mirrored draws around G(c) must bring G(c) closer to
    them, steps with the weights negated must not, and only this seed's generator row and slope moments move."""
    P = 32
    commands = torch.linspace(10.0, 30.0, P)[None]

    def climb(sign: float) -> tuple[float, float]:
        states = trainer.init_batch([_cfg(seed=0, slope_lr=1e-5), _cfg(seed=1, slope_lr=1e-5)])
        shared = states[0].learner
        own = shared.generator_weights.flat[0].clone()
        shared.generator_weights.flat[0] += 3e-3 * torch.randn(own.shape, generator=torch.Generator().manual_seed(5))
        target = learner.generate(shared, [0], commands)[0]
        shared.generator_weights.flat[0].copy_(own)

        def distance():
            return float((learner.generate(shared, [0], commands)[0] - target).pow(2).sum(1).mean())

        before = distance()
        other, moments = shared.generator_weights.flat[1].clone(), shared.generator_opt.exp_avg.clone()
        rng = torch.Generator().manual_seed(2)
        for _ in range(20):
            eps = 0.1 * torch.randn(P // 2, target.shape[1], generator=rng)
            noise = torch.cat([eps, -eps])
            returns = -(learner.generate(shared, [0], commands)[0] + noise - target).pow(2).sum(1)
            weights = sign * trainer.slope_weights(returns.numpy(), np.zeros(P, bool))
            learner.slope_step(shared, [0], commands, noise[None], torch.as_tensor(weights, dtype=torch.float32)[None])
        assert torch.equal(shared.generator_weights.flat[1], other) and torch.equal(shared.generator_opt.exp_avg, moments)
        assert float(shared.slope_opt.steps[0]) == 20 and float(shared.slope_opt.steps[1]) == 0
        return before, distance()

    before, after = climb(1.0)
    assert after < 0.9 * before
    assert climb(-1.0)[1] > before


def test_an_iteration_takes_one_slope_step_on_the_generator_only():
    plain, sloped = trainer.init(_cfg(slope_lr=0.0)), trainer.init(_cfg())
    assert plain.learner.slope_opt is None and sloped.learner.slope_opt is not None
    trainer.iteration(plain)
    trainer.iteration(sloped)
    assert plain.best_return == sloped.best_return
    assert torch.equal(plain.learner.evaluator_weights.flat, sloped.learner.evaluator_weights.flat)
    assert not torch.equal(plain.learner.generator_weights.flat, sloped.learner.generator_weights.flat)
    assert float(sloped.learner.slope_opt.steps[0]) == 1


def test_a_sloped_run_resumes_exactly(tmp_path):
    state = trainer.init(_cfg())
    for _ in range(2):
        checkpoint.save(trainer.iteration(state)[0], tmp_path)
    resumed = checkpoint.load(trainer.init(_cfg()), tmp_path)
    for name in ("exp_avg", "exp_avg_sq", "steps"):
        assert torch.equal(getattr(resumed.learner.slope_opt, name), getattr(state.learner.slope_opt, name)), name
    trainer.iteration(state)
    trainer.iteration(resumed)
    assert torch.equal(resumed.learner.generator_weights.flat, state.learner.generator_weights.flat)


def test_sloped_seeds_train_in_a_batch_exactly_as_alone():
    batch = trainer.init_batch([_cfg(seed=0), _cfg(seed=1)])
    alone = [trainer.init(_cfg(seed=seed)) for seed in (0, 1)]
    trainer.iteration_batch(batch)
    for state in alone:
        trainer.iteration(state)
    for k, state in enumerate(alone):
        assert torch.equal(batch[k].learner.generator_weights.flat[k], state.learner.generator_weights.flat[0])


@pytest.mark.parametrize("changes, message", [
    ({"slope_lr": -1e-4}, r"--generator.slope-lr must be 0 \(no slope step\) or a learning rate > 0, got -0.0001"),
    ({"slope_lr": float("nan")}, r"--generator.slope-lr must be a finite number"),
    ({"noise_free": 3}, r"--generator.slope-lr 0.0001 measures the return's slope from the noisy policies of each "
                        r"iteration; it needs at least 2 of them, got 4 policies with 3 noise-free"),
])
def test_bad_slope_settings_are_one_line(changes, message):
    generator = GeneratorConfig(updates_per_episode=1, **{"slope_lr": 1e-4, **changes})
    with pytest.raises(ValueError, match=message):
        _cfg(generator=generator).validate()


def test_the_papers_schedule_takes_no_slope_step():
    cfg = Config(env="hopper", schedule="paper")
    assert cfg.resolved()["slope_lr"] == 0.0 and settings.PAPER_SCHEDULE["slope_lr"] == 0.0
    assert trainer.init(dataclasses.replace(cfg, engine="cpu")).learner.slope_opt is None
