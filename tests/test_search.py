"""--generator.search-pairs: mirrored pairs drawn about the record, their centre moved up the slope they measure."""

import dataclasses

import numpy as np
import pytest
import torch

import envs
from fastgen.config import Config
from fastgen.poligen import checkpoint, settings, trainer
from fastgen.poligen.settings import BufferConfig, EvaluatorConfig, GeneratorConfig


def _cfg(pairs=2, keep_behaviour=True, **changes) -> Config:
    generator = GeneratorConfig(updates_per_episode=1, search_pairs=pairs, antithetic=True, noise_free=1)
    base = Config(env="hopper", num_envs=8, engine="cpu", device="cpu", generator=generator,
                  evaluator=EvaluatorConfig(updates_per_episode=1),
                  buffer=BufferConfig(size=80, keep_behaviour=keep_behaviour))
    return dataclasses.replace(base, **changes)


def _dim(state) -> int:
    return envs.num_params(state.spec.obs_dim, state.spec.act_dim)


def _statistics(state, seed: int = 3) -> None:
    """Observation statistics far from (0, 1), so that stored and acting forms of a policy differ."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(2.0, 3.0, size=(500, state.spec.obs_dim))
    state.obs_stats.update(len(obs), obs.sum(0), (obs ** 2).sum(0))


def test_pairs_mirror_the_acting_centre_and_the_first_centre_is_the_generators_policy():
    state = trainer.init(_cfg(pairs=3))
    _statistics(state)
    policies, delta = trainer.search_population([state])
    assert policies.shape == (1, 6, _dim(state)) and delta.shape == (1, 3, _dim(state))
    centre = trainer.current_form(state, state.search_centre[None])[0]
    made = trainer.learner.generate(state.learner, [0], torch.tensor([[state.command]]))[0, 0]
    assert torch.allclose(centre, made, atol=1e-4)  # no best so far: about G(command)
    assert torch.allclose(policies[0, :3] + policies[0, 3:], 2 * centre.expand(3, -1), atol=1e-4)
    assert torch.allclose(policies[0, :3] - centre, 0.05 * delta[0], atol=1e-5)


def test_the_centre_steps_its_distance_up_the_measured_slope_in_the_acting_frame():
    """Returns linear in the acting weights, r = <g, theta>: the centre must move exactly --generator.search-step
    along the pairs' estimate of g (in the acting frame, though it is kept in stored form), closer to g's direction
    than any single draw, and not at all in an iteration where a pair set a new best."""
    cfg = _cfg(pairs=16, generator=GeneratorConfig(search_pairs=16, search_step=1.5, updates_per_episode=1))
    state = trainer.init(cfg)
    _statistics(state)
    state.best_return = 5.0
    state.search_centre = trainer.stored_form(state, torch.randn(1, _dim(state),
                                                                 generator=torch.Generator().manual_seed(1)))[0]
    before = trainer.current_form(state, state.search_centre[None])[0]
    policies, delta = trainer.search_population([state])
    g = torch.randn(_dim(state), generator=torch.Generator().manual_seed(7))
    returns = (policies[0] @ g).numpy()
    kept = trainer.stored_form(state, policies[0])[None]
    trainer.move_search([state], kept, [returns], delta, [state.search_centre])
    step = trainer.current_form(state, state.search_centre[None])[0] - before
    assert float(step.norm()) == pytest.approx(1.5, rel=1e-3)
    unit = (torch.as_tensor(returns[:16] - returns[16:])[:, None] * delta[0]).sum(0)
    assert torch.allclose(step, 1.5 * unit / unit.norm(), atol=1e-3)
    cosine = torch.nn.functional.cosine_similarity
    assert cosine(step, g, 0) > cosine(delta[0], g[None]).abs().max()
    moved_from, record = state.search_centre, torch.randn(_dim(state))
    trainer.new_best(state, record, 9.0, searched=True)  # a pair set a record this iteration
    trainer.move_search([state], kept, [returns], delta, [moved_from])
    assert torch.equal(state.search_centre, record)  # the centre stays on it


def test_the_centre_moves_to_the_pairs_records_and_not_to_the_generators():
    state = trainer.init(_cfg())
    theta, made = torch.randn(_dim(state)), torch.randn(_dim(state))
    trainer.new_best(state, theta, 12.0, searched=True)
    assert torch.equal(state.search_centre, theta) and state.best_return == 12.0
    trainer.new_best(state, made, 15.0)  # the generator's record: the best so far moves, the centre does not
    assert torch.equal(state.search_centre, theta) and state.best_return == 15.0


def test_an_iteration_keeps_all_p_episodes_and_the_generator_makes_p_less_the_pairs():
    cfg = _cfg(pairs=2)
    assert settings.generated(cfg) == 4 and len(trainer.population_commands(trainer.init(cfg))) == 4
    state, metrics = trainer.iteration(trainer.init(cfg))
    assert state.buffer.stored == 8 and state.episodes >= 8
    assert "train/search_mean_return" in metrics and state.search_centre is not None


def test_a_searching_run_resumes_exactly(tmp_path):
    state = trainer.init(_cfg())
    for _ in range(2):
        checkpoint.save(trainer.iteration(state)[0], tmp_path)
    resumed = checkpoint.load(trainer.init(_cfg()), tmp_path)
    assert torch.equal(resumed.search_centre, state.search_centre)
    trainer.iteration(state)
    trainer.iteration(resumed)
    assert torch.equal(resumed.search_centre, state.search_centre)
    assert torch.equal(resumed.learner.generator_weights.flat, state.learner.generator_weights.flat)


def test_searching_seeds_train_in_a_batch_exactly_as_alone():
    batch = trainer.init_batch([_cfg(seed=0), _cfg(seed=1)])
    alone = [trainer.init(_cfg(seed=seed)) for seed in (0, 1)]
    for _ in range(2):
        trainer.iteration_batch(batch)
        for state in alone:
            trainer.iteration(state)
    for k, state in enumerate(alone):
        assert torch.equal(batch[k].search_centre, state.search_centre)
        assert batch[k].best_return == state.best_return


@pytest.mark.parametrize("generator, message", [
    ({"search_pairs": 4}, r"--generator.search-pairs must be an integer 0 .. 3 \(2 x pairs < P = 8"),
    ({"search_pairs": -1}, r"--generator.search-pairs must be an integer 0 .. 3 .*got -1"),
    ({"search_pairs": 1.5}, r"--generator.search-pairs must be an integer .*got 1.5"),
    ({"search_pairs": 2, "search_std": 0.0}, r"--generator.search-std must be a finite number > 0 with "
                                             r"--generator.search-pairs 2, got 0.0"),
    ({"search_pairs": 2, "search_step": -2.0}, r"--generator.search-step must be a finite number > 0 .*got -2.0"),
    ({"search_pairs": 2, "search_step": float("inf")}, r"--generator.search-step must be a finite number"),
    ({"search_pairs": 3, "noise_free": 2}, r"--generator.noise-free must be 0 .. P - 7 = 1 \(--num-envs 8, "
                                           r"--generator.search-pairs 3\), got 2"),
])
def test_bad_search_settings_are_one_line(generator, message):
    with pytest.raises(ValueError, match=message):
        _cfg(generator=GeneratorConfig(updates_per_episode=1, **generator)).validate()


def test_the_papers_schedule_does_not_search():
    cfg = Config(env="hopper", schedule="paper")
    assert cfg.resolved()["search_pairs"] == 0 and settings.generated(cfg) == 1
    assert trainer.init(dataclasses.replace(cfg, engine="cpu")).search_centre is None


def test_a_default_search_is_a_share_of_the_population(monkeypatch):
    """A task whose default searches with 8 pairs of 64 policies searches with P // 8 pairs at any other --num-envs
    (so --num-envs 16 is not refused for asking 16 of 16 policies), an explicit count as given."""
    monkeypatch.setitem(settings.POPULATION_DEFAULTS, "walker2d",
                        {**settings.PAPER_SCHEDULE, "num_envs": 64, "search_pairs": 8})
    assert [settings.search_pairs(Config(env="walker2d", num_envs=p)) for p in (None, 1, 16, 100)] == [8, 0, 2, 12]
    Config(env="walker2d", num_envs=16).validate()
    assert settings.search_pairs(Config(env="walker2d", num_envs=16, generator=GeneratorConfig(search_pairs=5))) == 5
