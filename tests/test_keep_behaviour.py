"""--buffer.keep-behaviour: stored policies act as they did when they earned their returns, whatever the
observation statistics have become since."""

import dataclasses

import numpy as np
import pytest
import torch

import envs
from envs.tasks import TASKS
from fastgen import policy, trained
from fastgen.config import Config
from fastgen.poligen import settings, trainer
from fastgen.poligen.settings import BufferConfig, CommandConfig, GeneratorConfig
from fastgen.run import train
from fastgen.runs.checkpoint import check_compatible


def _actions(params: torch.Tensor, raw: torch.Tensor, stats, spec) -> torch.Tensor:
    """Actions ``[N, S, act]`` of ``params [N, D]`` on raw observations ``[S, obs]`` normalised with ``stats``."""
    mean, std = (torch.as_tensor(s, dtype=torch.float32) for s in stats)
    return policy.forward(params, (raw - mean) / std, spec)


def test_a_reframed_policy_acts_on_the_same_raw_observations_as_before():
    spec = TASKS["hopper"].spec
    g = torch.Generator().manual_seed(0)
    theta = 0.2 * torch.randn(3, policy.num_params(spec), generator=g)
    before = (torch.randn(spec.obs_dim, generator=g).numpy(), (0.5 + torch.rand(spec.obs_dim, generator=g)).numpy())
    after = (before[0] + 0.7, before[1] * np.linspace(0.5, 3.0, spec.obs_dim))
    raw = 2.0 * torch.randn(64, spec.obs_dim, generator=g) + 1.0
    acted = _actions(theta, raw, before, spec)
    moved = policy.reframe(theta, before, after, spec)
    torch.testing.assert_close(_actions(moved, raw, after, spec), acted, atol=2e-5, rtol=0)
    assert (_actions(theta, raw, after, spec) - acted).abs().max() > 0.1  # unreframed, it would act otherwise
    torch.testing.assert_close(policy.forward(policy.reframe(theta, before, None, spec), raw, spec), acted,
                               atol=2e-5, rtol=0)  # None: raw observations
    first = spec.obs_dim * 256 + 256
    assert torch.equal(moved[:, first:], theta[:, first:]) and not torch.equal(moved[:, :first], theta[:, :first])
    assert torch.equal(policy.reframe(theta, before, before, spec), theta)


def _cfg(keep: bool = True) -> Config:
    return Config(env="mountain_car", num_envs=4, engine="cpu", device="cpu",
                  generator=GeneratorConfig(updates_per_episode=1, anchor_lr=2e-6, anchor_after=0),
                  command=CommandConfig(verify=2), buffer=BufferConfig(size=50, keep_behaviour=keep))


def _watched(monkeypatch, state):
    """Every rollout's policies, the statistics they ran with and their keys; every evaluator batch and anchor
    batch."""
    seen = {"rollouts": [], "evaluator": [], "anchors": []}
    simulate, evaluator_step, anchor_step = trainer._simulate, trainer.learner.evaluator_step, trainer.learner.anchor_step

    def rollouts(states, theta, keys, episodes=1):
        seen["rollouts"].append((theta.clone(), state.obs_stats.mean.copy(), state.obs_stats.std.copy(), keys,
                                 episodes))
        return simulate(states, theta, keys, episodes)

    monkeypatch.setattr(trainer, "_simulate", rollouts)
    monkeypatch.setattr(trainer.learner, "evaluator_step", lambda learner, slots, theta, returns: seen[
        "evaluator"].append(theta.clone()) or evaluator_step(learner, slots, theta, returns))
    monkeypatch.setattr(trainer.learner, "anchor_step", lambda learner, slots, returns, theta, mask: seen[
        "anchors"].append((returns.clone(), theta.clone(), mask.clone())) or anchor_step(learner, slots, returns,
                                                                                          theta, mask))
    return seen


def test_stored_policies_earn_their_returns_again_after_the_statistics_moved(monkeypatch):
    """Real simulation: the second iteration's policies, drawn from the buffer after a third iteration moved the
    statistics, replay their episodes (same starts) with the current statistics and earn their stored returns."""
    state = trainer.init(_cfg())
    seen = _watched(monkeypatch, state)
    for _ in range(3):
        trainer.iteration(state)
    training = [r for r in seen["rollouts"] if r[4] == 1]
    theta, mean, std, keys, _ = training[1]
    assert not np.allclose(mean, state.obs_stats.mean) and not np.allclose(std, state.obs_stats.std)
    stored = state.buffer.params[4:8]  # the second iteration's block (buffer of 50: slots 4 .. 7)
    now = trainer.current_form(state, stored)
    g = torch.Generator().manual_seed(1)
    raw = torch.as_tensor(mean, dtype=torch.float32) + 3 * torch.randn(32, 2, generator=g)
    torch.testing.assert_close(_actions(now, raw, (state.obs_stats.mean, state.obs_stats.std), state.spec),
                               _actions(theta[0], raw, (mean, std), state.spec), atol=2e-5, rtol=0)
    again = envs.rollout(state.env, now.numpy(), state.obs_stats.mean, state.obs_stats.std, keys[0])
    np.testing.assert_allclose(again.returns, state.buffer.returns[4:8].numpy(), rtol=1e-3, atol=1e-3)
    stale = envs.rollout(state.env, stored.numpy(), state.obs_stats.mean, state.obs_stats.std, keys[0])
    assert not np.allclose(stale.returns, again.returns, rtol=1e-3, atol=1e-3)  # the stored form is not a policy

    # verification runs the record as it acted; anchors and evaluator batches get policies for the statistics
    verifying = [r for r in seen["rollouts"] if r[4] == 2]
    assert verifying
    for acted, v_mean, v_std, _, _ in verifying:
        ran = _actions(acted[0], raw, (v_mean, v_std), state.spec)  # [1, S, act]
        gaps = [(_actions(t[0], raw, (m, s), state.spec) - ran).abs().amax((1, 2)).min() for t, m, s, _, _ in training]
        assert min(gaps) < 2e-5, "a verification ran a policy that no training rollout ran"
    returns, anchored, mask = seen["anchors"][-1]
    held = trainer.current_form(state, state.anchors.theta)
    torch.testing.assert_close(anchored[0, :len(state.anchors)], held)
    batches = torch.cat(seen["evaluator"][-settings.update_counts(state.cfg)[0]:])  # the last iteration's
    drawn = trainer.current_form(state, state.buffer.params[:len(state.buffer)])
    nearest = torch.cdist(batches.reshape(-1, batches.shape[-1]).double(), drawn.double()).min(1).values
    assert nearest.max() < 1e-4


def test_without_it_the_buffer_holds_the_policies_as_they_ran(monkeypatch):
    state = trainer.init(_cfg(keep=False))
    seen = _watched(monkeypatch, state)
    for _ in range(2):
        trainer.iteration(state)
    training = [r for r in seen["rollouts"] if r[4] == 1]
    assert torch.equal(state.buffer.params[4:8], training[1][0][0])
    assert torch.equal(trainer.current_form(state, state.buffer.params[:8]), state.buffer.params[:8])


def test_a_run_directorys_buffer_reads_back_as_policies_for_its_last_statistics(tmp_path):
    out = tmp_path / "run"
    cfg = dataclasses.replace(_cfg(), total_steps=3000, out=str(out))
    train(cfg)
    run = trained.load(out)
    params = torch.cat([p for p, _ in trained.buffer_chunks(out)])
    saved = torch.load(out / "checkpoint.pt", weights_only=False)
    assert saved["buffer"]["stored"] == params.shape[0]
    raw_stored = torch.cat([torch.load(out / "buffer" / f"{a}-{b}.pt")["params"] for a, b in saved["buffer"]["chunks"]])
    torch.testing.assert_close(params, policy.reframe(raw_stored, None, (run.obs_mean, run.obs_std), run.spec))
    assert not torch.allclose(params, raw_stored)


def test_keep_behaviour_is_a_population_default_off_in_the_papers_schedule_and_fixed_for_a_run():
    assert settings.keep_behaviour(Config(env="swimmer", schedule="paper")) is False
    assert settings.keep_behaviour(Config(env="swimmer")) is True  # swimmer's default (populations_hopper_swimmer.md)
    assert settings.keep_behaviour(Config(env="hopper")) is False
    off = Config(env="swimmer", num_envs=64, buffer=BufferConfig(keep_behaviour=False))
    assert off.resolved()["keep_behaviour"] is False
    saved = {"format": 1, "algo": "poligen", "env": "swimmer", "resolved": off.resolved(),
             "config": dataclasses.asdict(off)}
    with pytest.raises(ValueError, match="keep_behaviour"):
        check_compatible(saved, Config(env="swimmer", num_envs=64))


@pytest.mark.parametrize("value", [True, False])
def test_the_cli_takes_keep_behaviour(value):
    from fastgen import cli
    cfg = cli.parse(Config, ["--env", "swimmer", "--buffer.keep-behaviour", str(value)], "fastgen.run", "")
    assert cfg.buffer.keep_behaviour is value
