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


def _stalled(state, iterations: int) -> None:
    """As if the generator's own policies had set no record for ``iterations`` iterations."""
    state.generator_rose_at = state.iterations - iterations


def _rigged(monkeypatch, slot: int, value: float = 1e6) -> list:
    """Every later rollout's policy ``slot`` earns ``value`` (so it sets the record); -> the acting policies each
    rollout ran, ``[Ks, P, D]`` per call."""
    ran, simulate = [], trainer._simulate

    def rigged(states, theta, keys, episodes=1):
        results = simulate(states, theta, keys, episodes)
        if episodes == 1:  # an iteration's population, not a record's verification
            ran.append(theta.clone())
            for result in results:
                result.returns[slot] = result.returns_no_bonus[slot] = value
        return results
    monkeypatch.setattr(trainer, "_simulate", rigged)
    return ran


def _after(k: int, **changes) -> Config:
    return _cfg(generator=GeneratorConfig(updates_per_episode=1, search_pairs=2, antithetic=True, noise_free=1,
                                          search_after=k, slope_lr=3e-5), **changes)


def test_before_a_stall_the_run_is_exactly_the_one_without_pairs():
    """--generator.search-after: while the generator sets records (or before K iterations) it makes all P
    policies, drawn from the same streams as a run without search pairs."""
    waiting_cfg = _after(100)
    without = trainer.init(dataclasses.replace(waiting_cfg, generator=dataclasses.replace(
        waiting_cfg.generator, search_pairs=0, search_after=0)))
    waiting = trainer.init(waiting_cfg)
    for _ in range(3):
        trainer.iteration(without)
        _, metrics = trainer.iteration(waiting)
        assert metrics["train/searching"] == 0.0 and "train/search_mean_return" not in metrics
    assert len(trainer.population_commands(waiting)) == 8 and waiting.search_centre is None
    assert torch.equal(waiting.buffer.entries(1)[0], without.buffer.entries(1)[0])
    assert torch.equal(waiting.learner.generator_weights.flat, without.learner.generator_weights.flat)
    assert waiting.best_return == without.best_return


def test_a_stall_starts_the_search_from_the_record(monkeypatch):
    state = trainer.init(_after(2))
    trainer.iteration(state)  # the first record is the generator's: no search yet
    assert not trainer.search_due(state) and state.record is not None
    _stalled(state, 2)
    assert trainer.search_due(state)
    ran = _rigged(monkeypatch, slot=0, value=-1e6)  # no record this time
    record = trainer.current_form(state, state.record[None])[0]
    _, metrics = trainer.iteration(state)
    pairs = ran[0][0, 4:]  # the generator made the first 8 - 2 x 2
    assert metrics["train/searching"] == 1.0 and len(trainer.population_commands(state)) == 4
    torch.testing.assert_close(pairs[:2] + pairs[2:], 2 * record.expand(2, -1), atol=1e-4, rtol=0)
    assert not torch.allclose(pairs[0], record, atol=1e-3)  # drawn about it, not on it


def test_a_pairs_record_keeps_the_search_and_a_generators_record_ends_it(monkeypatch):
    state = trainer.init(_after(2))
    trainer.iteration(state)
    _stalled(state, 2)
    ran = _rigged(monkeypatch, slot=5)  # a pair's policy
    trainer.iteration(state)
    assert state.best_return == 1e6 and state.searching and trainer.search_due(state)
    assert torch.equal(state.search_centre, state.record)  # the centre moved onto the pair's record
    monkeypatch.undo()
    ran = _rigged(monkeypatch, slot=1, value=2e6)  # one of the generator's
    trainer.iteration(state)
    assert state.best_return == 2e6 and not trainer.search_due(state)
    trainer.iteration(state)  # the generator makes all P again and the old centre is dropped
    assert not state.searching and state.search_centre is None and ran[-1].shape[1] == 8
    _stalled(state, 2)  # the next stall starts from the newest record, the generator's
    record = trainer.current_form(state, state.record[None])[0]
    trainer.iteration(state)
    torch.testing.assert_close(ran[-1][0, 4:6] + ran[-1][0, 6:], 2 * record.expand(2, -1), atol=1e-4, rtol=0)


def test_seeds_searching_and_not_train_in_a_batch_exactly_as_alone():
    """A batch where one seed searches and the other does not (the generator makes 4 and 8 of their policies)."""
    batch = trainer.init_batch([_after(2, seed=0), _after(2, seed=1)])
    alone = [trainer.init(_after(2, seed=seed)) for seed in (0, 1)]
    trainer.iteration_batch(batch)
    for state in alone:
        trainer.iteration(state)
    _stalled(batch[0], 2)
    _stalled(alone[0], 2)
    flags = []
    for _ in range(2):
        trainer.iteration_batch(batch)
        for state in alone:
            trainer.iteration(state)
        flags.append([s.searching for s in batch])
    assert flags[0] == [True, False]
    for k, state in enumerate(alone):
        assert batch[k].searching == state.searching and batch[k].best_return == state.best_return
        assert torch.equal(batch[k].buffer.entries(1)[0], state.buffer.entries(1)[0])
        assert torch.equal(batch[k].learner.generator_weights.flat[k], state.learner.generator_weights.flat[0])


def test_a_stalled_search_resumes_exactly(tmp_path):
    state = trainer.init(_after(1))
    trainer.iteration(state)
    _stalled(state, 1)
    checkpoint.save(trainer.iteration(state)[0], tmp_path)
    resumed = checkpoint.load(trainer.init(_after(1)), tmp_path)
    assert torch.equal(resumed.record, state.record) and resumed.generator_rose_at == state.generator_rose_at
    for _ in range(2):
        trainer.iteration(state)
        trainer.iteration(resumed)
        assert resumed.searching == state.searching
    assert torch.equal(resumed.buffer.entries(1)[0], state.buffer.entries(1)[0])
    assert torch.equal(resumed.learner.generator_weights.flat, state.learner.generator_weights.flat)


@pytest.mark.parametrize("after, pairs, message", [
    (-1, 2, r"--generator.search-after must be an integer >= 0 .*got -1"),
    (1.5, 2, r"--generator.search-after must be an integer >= 0 .*got 1.5"),
    (3, 0, r"--generator.search-after .* only with --generator.search-pairs >= 1 \(got 0\), got 3"),
])
def test_bad_search_after_is_one_line(after, pairs, message):
    with pytest.raises(ValueError, match=message):
        _cfg(generator=GeneratorConfig(updates_per_episode=1, search_pairs=pairs, search_after=after)).validate()
