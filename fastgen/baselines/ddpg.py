"""DDPG as in the paper: Stable-Baselines3's DDPG with spinning-up's settings, on our tasks.

The agent steps one environment through ``envs.gym_env.GymEnv`` (the ``cpu`` engine, so the task
code is exactly ours). Settings (paper A.1, spinning-up defaults): 256-256 ReLU actor and critic,
uniformly random actions for the first 10k env steps, updates from 1k on, every 50 steps 50
updates of batch 128, polyak 0.995, Adam lr 1e-3 (torch's fused kernel), Gaussian action noise of std 0.1 (env units),
discount 0.99, no observation normalisation. One ``iteration`` is 1,000 env steps (less at the end
of the budget). Spinning-up's split between random-action steps and first update, which SB3 ties
together in ``learning_starts``, is restored by ``_SpinningUpDDPG``.

Resume restores networks, optimisers, replay buffer, counters and every RNG; the episode that was
running when the checkpoint was written starts over, so a resumed run is not bit-identical.
"""

import io
import math
import pickle
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from stable_baselines3 import DDPG  # the [ddpg] extra: fastgen.algorithms.get checks for it first
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.noise import NormalActionNoise

import envs
from envs.gym_env import GymEnv
from fastgen.algorithms import Counters, no_snapshot, one_at_a_time
from fastgen.config import Config
from fastgen.engines import make_env, resolve_device
from fastgen.errors import TrainingError
from fastgen.evaluation import eval_key, eval_metrics
from fastgen.runs import checkpoint

STEPS_PER_ITERATION = 1_000


class _SpinningUpDDPG(DDPG):
    """SB3 DDPG acting uniformly at random (no noise) for ``start_steps``, independent of ``learning_starts``."""

    def __init__(self, *args, start_steps: int = 10_000, **kwargs):
        self.start_steps = start_steps
        super().__init__(*args, **kwargs)

    # A private SB3 method, overridden because SB3 has no public setting for spinning-up's start_steps: its
    # learning_starts both delays the updates and makes the actions random, and the paper's DDPG (spinning-up)
    # acts at random for 10k env steps while updating after 1k (update_after).
    def _sample_action(self, learning_starts, action_noise=None, n_envs=1):
        if self.num_timesteps < self.start_steps:
            return super()._sample_action(self.start_steps, None, n_envs)
        return super()._sample_action(0, action_noise, n_envs)


@dataclass
class DdpgState(Counters):
    cfg: Config
    env: envs.Env  # the cpu-engine env, for evaluation
    gym_env: GymEnv  # what the agent trains on
    model: _SpinningUpDDPG
    device: torch.device


def init(cfg: Config) -> DdpgState:
    if cfg.engine not in ("cpu", "auto"):
        raise ValueError("--algo ddpg steps one env through the Gymnasium API on the cpu engine; use --engine cpu or auto")
    d, device = cfg.ddpg, resolve_device(cfg.device)
    gym_env = GymEnv(cfg.env, seed=cfg.seed, physics=cfg.physics)
    bound = gym_env.env.spec.action_bound
    act_dim = gym_env.env.spec.act_dim
    # SB3 adds the noise to actions scaled to [-1, 1]: std 0.1 in env units is 0.1 / bound there.
    noise = NormalActionNoise(np.zeros(act_dim), np.full(act_dim, d.action_noise / bound))
    model = _SpinningUpDDPG(
        "MlpPolicy", gym_env, start_steps=d.start_steps, learning_rate=d.lr,
        buffer_size=min(d.buffer_size, cfg.budget), learning_starts=d.update_after, batch_size=d.batch_size,
        tau=1.0 - d.polyak, gamma=d.gamma, train_freq=(d.update_every, "step"), gradient_steps=d.update_every,
        action_noise=noise, policy_kwargs={"net_arch": [256, 256], "optimizer_kwargs": {"fused": True}},
        seed=cfg.seed, device=device, verbose=0)
    # fastgen writes the run's metrics; without a logger of its own every learn() call would make an empty
    # SB3-<time> folder in the system's temp directory (one per iteration)
    model.set_logger(Logger(folder=None, output_formats=[]))
    return DdpgState(cfg, make_env(cfg, engine="cpu"), gym_env, model, device)


def _fused_adam(model: DDPG) -> None:
    """Actor and critic step with torch's fused Adam kernel: SB3 leaves CPU Adam on its per-tensor loop, which
    took 1.5 of every 5.4 s of training (swimmer, one thread, Intel Xeon)."""
    for optimizer in (model.actor.optimizer, model.critic.optimizer):
        for group in optimizer.param_groups:
            group["fused"], group["foreach"] = True, None


def iteration(state: DdpgState, progress=None) -> tuple[DdpgState, dict[str, float]]:
    """``STEPS_PER_ITERATION`` env steps of acting and learning; -> (state, metrics). (``progress``: unused,
    an iteration is short and acting and learning interleave inside Stable-Baselines3.)"""
    start = time.perf_counter()
    steps = min(STEPS_PER_ITERATION, state.cfg.budget - state.env_steps)
    finished_before = len(state.gym_env.episode_returns)
    state.model.learn(total_timesteps=steps, reset_num_timesteps=False, progress_bar=False)
    new_returns = state.gym_env.episode_returns[finished_before:]
    if not all(math.isfinite(r) for r in new_returns):
        raise TrainingError(f"non-finite training return at env step {state.model.num_timesteps}")
    done = state.model.num_timesteps - state.env_steps
    state.env_steps = state.model.num_timesteps
    state.episodes += len(new_returns)
    state.iterations += 1
    if new_returns:
        state.best_return = max(max(new_returns), -math.inf if state.best_return is None else state.best_return)
    elapsed = time.perf_counter() - start
    state.wall_s += elapsed
    metrics = {"train/best_return": state.best_return if state.best_return is not None else math.nan,
               "train/episodes_finished": float(len(new_returns)), "perf/sps": done / elapsed}
    if new_returns:
        metrics["train/mean_return"] = float(np.mean(new_returns))
    return state, metrics


def _actor(state: DdpgState):
    """``envs.play``'s controller: the actor without noise, any number of episodes."""
    def act(batch):
        return state.model.predict(np.asarray(batch.obs, np.float32), deterministic=True)[0]

    return act


def evaluate(state: DdpgState) -> dict[str, float]:
    """The actor without noise, ``cfg.eval.episodes`` episodes side by side; env steps not counted."""
    result = envs.play(state.env, _actor(state), eval_key(state.cfg, state.evaluations), state.cfg.eval.episodes)
    state.evaluations += 1
    return eval_metrics(result, state.cfg, state.env.spec)


def evaluated_policy(state: DdpgState) -> tuple[Callable, str]:
    """The actor, as ``--eval.video`` and ``fastgen.render`` draw it: (``envs.play`` controller, label)."""
    return _actor(state), "DDPG actor"


def save(state: DdpgState, run_dir) -> None:
    replay = io.BytesIO()
    state.model.save_replay_buffer(replay)
    checkpoint.write({
        **checkpoint.header(state), "parameters": state.model.get_parameters(),
        "sb3_counters": {"num_timesteps": state.model.num_timesteps, "n_updates": state.model._n_updates,
                         "episode_num": state.model._episode_num},
        "replay_buffer": replay.getvalue(), "episode_returns": list(state.gym_env.episode_returns),
        "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
                "action_space": pickle.dumps(state.gym_env.action_space.np_random), "env_key": state.gym_env.key_data()},
    }, run_dir)


def load(state: DdpgState, run_dir) -> DdpgState:
    saved = checkpoint.read(state, run_dir)
    model = state.model
    model.set_parameters(saved["parameters"], exact_match=True, device=state.device)
    _fused_adam(model)  # a loaded optimiser state brings its saved settings (checkpoints before fused Adam: None)
    counters = saved["sb3_counters"]
    model.num_timesteps, model._n_updates, model._episode_num = (counters["num_timesteps"], counters["n_updates"],
                                                                 counters["episode_num"])
    model.load_replay_buffer(io.BytesIO(saved["replay_buffer"]))
    state.gym_env.episode_returns = list(saved["episode_returns"])
    rng = saved["rng"]
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    state.gym_env.action_space._np_random = pickle.loads(rng["action_space"])
    state.gym_env.set_key_data(rng["env_key"])
    return state


init_batch, iteration_batch, evaluate_batch = one_at_a_time(init, iteration, evaluate)
snapshot = no_snapshot
