"""The baselines: update math on tiny problems, one iteration on a cheap task, checkpoints, settings."""

import dataclasses

import numpy as np
import pytest
import torch

from fastgen.baselines import ars, ars_settings, udrl, udrl_settings
from fastgen.baselines.ars_settings import ArsConfig
from fastgen.baselines.ddpg_settings import DdpgConfig
from fastgen.baselines.udrl_settings import UdrlConfig
from fastgen.config import Config


# -- ARS -------------------------------------------------------------------------------------------
def test_ars_step_uses_the_top_directions_and_their_return_std():
    theta = np.zeros(2)
    directions = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    r_plus, r_minus = np.array([1.0, 5.0, 2.0]), np.array([0.0, 3.0, 4.0])
    new, sigma = ars.ars_step(theta, directions, r_plus, r_minus, elite=2, step_size=0.5)
    # top 2 by max(r+, r-): direction 1 (5) and direction 2 (4)
    expected_sigma = np.std([5.0, 2.0, 3.0, 4.0])
    assert sigma == pytest.approx(expected_sigma)
    expected = 0.5 / (2 * expected_sigma) * ((5 - 3) * directions[1] + (2 - 4) * directions[2])
    np.testing.assert_allclose(new, expected)


def test_ars_step_is_zero_when_all_returns_are_equal():
    new, sigma = ars.ars_step(np.ones(3), np.eye(3), np.full(3, 7.0), np.full(3, 7.0), elite=3, step_size=1.0)
    assert sigma == 0.0 and np.array_equal(new, np.ones(3))


def test_ars_step_climbs_a_quadratic():
    rng = np.random.default_rng(0)
    target = rng.normal(size=20)
    theta = np.zeros(20)
    reward = lambda x: -np.sum((x - target) ** 2, axis=-1)  # noqa: E731
    start = reward(theta)
    # Until within 1% of the optimum (from -||target||^2), not a fixed step count: the fixed-size steps then
    # jitter about the optimum (after 300 steps, 0.1%-1% of the start over seeds 0-29). It takes 22-48 steps.
    for step in range(1000):
        deltas = rng.normal(size=(8, 20))
        theta, _ = ars.ars_step(theta, deltas, reward(theta + 0.05 * deltas), reward(theta - 0.05 * deltas), 4, 0.05)
        if reward(theta) > 0.01 * start:
            break
    assert reward(theta) > 0.01 * start, f"still {reward(theta) / start:.1%} of the start after {step + 1} steps"


def _ars_cfg(**changes):
    return dataclasses.replace(Config(algo="ars", env="inverted_pendulum", engine="cpu", device="cpu"), **changes)


@pytest.mark.parametrize("algo, num_envs, population", [("ars", 4, 4), ("ars", 32, 32), ("udrl", 7, 7), ("ddpg", 1, 1)])
def test_num_envs_sets_each_baselines_population(algo, num_envs, population):
    cfg = Config(algo=algo, env="hopper", num_envs=num_envs)
    cfg.validate()
    assert cfg.population == population
    if algo == "ars":  # P / 2 directions; the tuned elite (4 of 8) never exceeds them
        assert (ars_settings.settings(cfg).directions, ars_settings.settings(cfg).elite) == (num_envs // 2, min(4, num_envs // 2))
    if algo == "udrl":
        assert udrl_settings.settings(cfg).episodes_per_iteration == num_envs


def test_baselines_without_num_envs_keep_their_papers_populations():
    assert [Config(algo=a, env="hopper").population for a in ("ars", "udrl", "ddpg")] == [16, 20, 1]
    assert Config(algo="ars", env="inverted_pendulum").population == 2


@pytest.mark.parametrize("changes, fragment", [
    ({"algo": "ars", "num_envs": 7}, "--num-envs 7 must be even for --algo ars"),
    ({"algo": "ars", "num_envs": 6, "ars": ArsConfig(directions=4)}, "--num-envs 6 does not fit --algo ars"),
    ({"algo": "udrl", "num_envs": 6, "udrl": UdrlConfig(episodes_per_iteration=5)}, "--num-envs 6 does not fit --algo udrl"),
    ({"algo": "ddpg", "num_envs": 4}, "--num-envs 4 is not supported by --algo ddpg"),
])
def test_num_envs_that_a_baseline_cannot_honour_is_refused(changes, fragment):
    with pytest.raises(ValueError, match=fragment):
        dataclasses.replace(Config(env="hopper"), **changes).validate()


def test_ars_iteration_counts_and_moves_theta():
    state = ars.init(_ars_cfg(ars=ArsConfig(directions=3, elite=2)))
    assert state.settings.step_size == 0.001 and state.settings.noise == 0.025  # paper A.1 preset
    before = state.theta.copy()
    state, metrics = ars.iteration(state)
    assert state.episodes == 6 and state.iterations == 1
    assert state.env_steps == state.obs_stats.count > 0
    assert not np.array_equal(before, state.theta) or metrics["train/return_std_elite"] == 0
    assert metrics["train/best_return"] == state.best_return


def test_ars_checkpoint_continues_exactly(tmp_path):
    cfg = _ars_cfg()
    state = ars.init(cfg)
    for _ in range(3):
        ars.iteration(state)
    ars.save(state, tmp_path)
    ars.iteration(state)
    resumed = ars.load(ars.init(cfg), tmp_path)
    assert resumed.iterations == 3
    ars.iteration(resumed)
    np.testing.assert_array_equal(resumed.theta, state.theta)
    assert resumed.env_steps == state.env_steps
    np.testing.assert_array_equal(resumed.obs_stats.mean, state.obs_stats.mean)


# -- UDRL ------------------------------------------------------------------------------------------
def _episode(rewards, tag):
    """An episode whose observation at step t is ``100 * tag + t``."""
    n = len(rewards)
    return {"obs": (100.0 * tag + np.arange(n, dtype=np.float32))[:, None], "actions": np.zeros((n, 1), np.float32),
            "rewards": np.asarray(rewards, np.float32)}


def test_udrl_buffer_keeps_the_best_and_samples_returns_to_go():
    buffer = udrl.EpisodeBuffer(capacity=2)
    episodes = {0: [1.0, 2.0, 3.0], 1: [0.0], 2: [10.0, -1.0]}
    buffer.add([_episode(rewards, tag) for tag, rewards in episodes.items()])
    assert sorted(float(e["rewards"].sum()) for e in buffer.episodes) == [6.0, 9.0]
    obs, command, _ = (x.numpy() for x in buffer.sample(np.random.default_rng(0), 500))
    seen = set()
    for o, (to_go, left) in zip(obs[:, 0], command):
        tag, t = divmod(int(o), 100)
        rewards = episodes[tag]
        assert tag != 1 and to_go == pytest.approx(sum(rewards[t:])) and left == len(rewards) - t
        seen.add((tag, t))
    assert seen == {(0, 0), (0, 1), (0, 2), (2, 0), (2, 1)}
    mean, std, length = buffer.command(last_few=2)
    assert (mean, std, length) == (pytest.approx(7.5), pytest.approx(1.5), 2.5)


class _Batch:
    def __init__(self, steps, reward, n=2):
        self.steps, self.reward, self.obs = np.full(n, steps), np.full(n, reward), np.zeros((n, 4))


def test_udrl_commands_follow_rewards_and_horizon_floors_at_one():
    state = udrl.init(Config(algo="udrl", env="inverted_pendulum", engine="cpu", device="cpu"))
    act = udrl._Commanded(state, np.array([10.0, 3.0]), np.array([2.0, 2.0]), sample=False, max_return=5.0)
    act(_Batch(0, 0.0))
    assert np.array_equal(act.d_r, [10.0, 3.0]) and np.array_equal(act.d_h, [2.0, 2.0])
    act(_Batch(1, 1.0))
    act(_Batch(2, 1.0))
    act(_Batch(3, 1.0))
    assert np.array_equal(act.d_r, [7.0, 0.0]) and np.array_equal(act.d_h, [1.0, 1.0])


def test_udrl_behaviour_function_learns_a_command_dependent_action():
    """B(s, c) fits an action set by the command alone: d_r = 100 -> +0.6, d_r = 0 -> -0.6, over random states.

    Trained until its NLL is under -1 (std ~0.1-0.2 at the targets; 33-52 Adam steps over seeds 0-29 on an
    AMD EPYC), not for a fixed number of steps: how far a fixed budget gets depends on the BLAS/CPU.
    The NLL of these noiseless targets oscillates once the std collapses, so the first crossing is used.
    A network could also fit the 256 training states from the observation alone, so the command's effect
    is checked on fresh states: the same state under the two commands must give the two actions.
    """
    torch.manual_seed(0)
    net = udrl.BehaviourNet(obs_dim=3, act_dim=1, activation="relu", scales=(0.02, 0.01))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    obs = torch.randn(256, 3)
    d_r = torch.where(torch.rand(256) < 0.5, 100.0, 0.0)
    command = torch.stack([d_r, torch.full((256,), 50.0)], 1)
    target = torch.where(d_r > 50, 0.6, -0.6)[:, None]
    for step in range(2000):  # a cap ~40x the steps needed
        loss = udrl.nll(net, obs, command, target)
        if loss.item() < -1.0:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < -1.0, f"NLL still {loss.item():.3f} after {step + 1} Adam steps"
    with torch.no_grad():
        mean, _ = net(obs, command)
        fresh = torch.randn(512, 3)
        high, _ = net(fresh, torch.tensor([[100.0, 50.0]]).expand(512, 2))
        low, _ = net(fresh, torch.tensor([[0.0, 50.0]]).expand(512, 2))
    assert (torch.sign(mean) == torch.sign(target)).all()  # every training state on its command's side
    # measured over seeds 0-29: group means beyond +-0.48, every fresh state's gap >= 0.70 (targets +-0.6, gap
    # 1.2); with the command ignored (scales 0) the gap is 0 and all 30 seeds fail
    assert high.mean() > 0.3 and low.mean() < -0.3
    assert (high - low).min() > 0.4


def test_udrl_warm_up_then_updates_and_exploration():
    cfg = Config(algo="udrl", env="inverted_pendulum", engine="cpu", device="cpu",
                 udrl=UdrlConfig(warm_up_episodes=4, episodes_per_iteration=3, updates_per_iteration=2, batch_size=8))
    state = udrl.init(cfg)
    assert state.settings.activation == "tanh" and state.settings.last_few == 1  # paper A.1 preset
    state, _ = udrl.iteration(state)
    assert state.episodes == 4 and len(state.buffer.episodes) == 4
    assert state.env_steps == sum(len(e["rewards"]) for e in state.buffer.episodes)
    before = [p.clone() for p in state.net.parameters()]
    state, metrics = udrl.iteration(state)
    assert state.episodes == 7 and np.isfinite(metrics["train/loss"])
    assert any(not torch.equal(a, b) for a, b in zip(before, state.net.parameters()))


# -- DDPG ------------------------------------------------------------------------------------------
def _ddpg(**changes):
    from fastgen.baselines import ddpg

    cfg = Config(algo="ddpg", env="inverted_pendulum", engine="cpu", device="cpu", total_steps=1000,
                 ddpg=DdpgConfig(**changes))
    return ddpg, ddpg.init(cfg)


def test_ddpg_has_the_papers_settings():
    _, state = _ddpg()
    model = state.model
    assert model.batch_size == 128 and model.tau == pytest.approx(0.005) and model.gamma == 0.99
    assert model.learning_starts == 1000 and model.start_steps == 10_000
    assert model.train_freq.frequency == 50 and model.gradient_steps == 50
    assert model.replay_buffer.buffer_size == 1000  # capped at the budget
    assert DdpgConfig().buffer_size == 100_000  # the paper's replay size (A.1)
    linear = [m for m in model.actor.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linear] == [256, 256, 1]
    assert np.allclose(model.action_noise._sigma, 0.1 / 3.0)  # 0.1 in env units; the bound is 3


def test_ddpg_steps_with_fused_adam_also_after_resuming_an_older_checkpoint(tmp_path):
    ddpg, state = _ddpg(start_steps=60, update_after=50, update_every=10)
    optimizers = (state.model.actor.optimizer, state.model.critic.optimizer)
    assert all(group["fused"] for opt in optimizers for group in opt.param_groups)
    state.model.learn(total_timesteps=60, progress_bar=False)
    for opt in optimizers:  # as a checkpoint written before fused Adam was asked for
        for group in opt.param_groups:
            group["fused"] = None
    ddpg.save(state, tmp_path)
    _, fresh = _ddpg(start_steps=60, update_after=50, update_every=10)
    fresh = ddpg.load(fresh, tmp_path)
    for opt, saved in zip((fresh.model.actor.optimizer, fresh.model.critic.optimizer), optimizers):
        assert all(group["fused"] for group in opt.param_groups)
        assert opt.state_dict()["state"][0]["step"] == saved.state_dict()["state"][0]["step"] > 0


def test_ddpg_random_phase_ignores_noise_and_updates_start_after_update_after():
    ddpg, state = _ddpg(start_steps=100, update_after=50, update_every=25)
    model = state.model

    class Push:
        def __call__(self):
            return np.array([0.9])

        def reset(self):
            pass

    model.action_noise = Push()
    model._last_obs = model.env.reset()
    random_phase = np.array([model._sample_action(50, model.action_noise)[1][0, 0] for _ in range(200)])
    assert random_phase.min() < -0.5  # uniform in [-1, 1]: no +0.9 push
    model.num_timesteps = 100
    acting = np.array([model._sample_action(50, model.action_noise)[1][0, 0] for _ in range(5)])
    assert acting.min() > -0.2  # policy output (|.| < ~0.1 at init) + 0.9
    _, fresh = _ddpg(start_steps=100, update_after=50, update_every=25)
    fresh.model.learn(total_timesteps=75, progress_bar=False)
    assert fresh.model._n_updates == 25  # one round of 25 after step 50, none before


def test_ddpg_target_networks_move_by_polyak_averaging():
    ddpg, state = _ddpg(start_steps=60, update_after=50, update_every=10)
    model = state.model
    model.learn(total_timesteps=55, progress_bar=False)
    old_target = [p.detach().clone() for p in model.critic_target.parameters()]
    model.train(gradient_steps=1, batch_size=16)
    for old, online, new in zip(old_target, model.critic.parameters(), model.critic_target.parameters()):
        torch.testing.assert_close(new, 0.995 * old + 0.005 * online.detach())


# -- every algorithm on every task -----------------------------------------------------------------
@pytest.mark.parametrize("algo", ["ars", "ddpg", "udrl"])
@pytest.mark.parametrize("task", ["hopper", "swimmer", "inverted_pendulum", "mountain_car"])
def test_one_iteration_and_evaluation_on_every_task(algo, task):
    from fastgen import algorithms

    module = algorithms.get(algo)
    cfg = Config(algo=algo, env=task, engine="cpu", device="cpu", total_steps=1000,
                 eval=dataclasses.replace(Config().eval, episodes=2), udrl=UdrlConfig(warm_up_episodes=2))
    state = module.init(cfg)
    state, metrics = module.iteration(state)
    assert state.env_steps > 0 and state.iterations == 1 and np.isfinite(metrics["train/best_return"])
    row = module.evaluate(state)
    assert np.isfinite(row["eval/return"]) and state.evaluations == 1
    assert ("eval/return_no_bonus" in row) == (task == "hopper")


def test_ddpg_iterations_leave_no_logger_folders_in_the_temp_directory(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ddpg, state = _ddpg(start_steps=10, update_after=10, update_every=10)
    for _ in range(2):
        state, _ = ddpg.iteration(state)
    assert state.env_steps > 0 and list(tmp_path.iterdir()) == []
