"""Augmented Random Search V2-t (Mania et al. 2018) on the population rollout, 256-256 tanh MLP policy.

One iteration: N directions delta_k ~ N(0, I) over the flat policy weights; the 2N policies
theta +- nu delta_k run one episode each in a single ``envs.rollout`` (either engine) with the
current observation normalisation; the statistics then absorb every state visited (V2); the b
directions with the largest max(r+_k, r-_k) make the step

    theta <- theta + alpha / (b sigma_R) * sum_k (r+_k - r-_k) delta_k,

sigma_R the std of those 2b returns (t: top directions). When all 2b returns are equal the step is
zero (Mania et al.'s code would divide 0 by 0). theta starts from PyTorch's default initialisation
(paper A.1: ARS "adapted to deep NN policies"); hopper trains on bonus-free returns (section 5).
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np
import torch

import envs
from envs.policy import random_params
from fastgen.algorithms import Counters, no_snapshot, one_at_a_time
from fastgen.baselines import ars_settings
from fastgen.baselines.ars_settings import ArsConfig
from fastgen.config import Config
from fastgen.engines import make_env
from fastgen.errors import TrainingError
from fastgen.evaluation import eval_key, eval_metrics
from fastgen.normalizer import ObsStats
from fastgen.runs import checkpoint


@dataclass
class ArsState(Counters):
    cfg: Config
    env: envs.Env
    settings: ArsConfig  # per-task presets filled in
    theta: np.ndarray  # [D] float64, the policy being improved
    obs_stats: ObsStats
    rng: np.random.Generator  # directions
    key: jax.Array  # reset noise
    device: torch.device = torch.device("cpu")


def init(cfg: Config) -> ArsState:
    env = make_env(cfg)
    rng = np.random.default_rng(cfg.seed)
    theta = random_params(rng, 1, env.spec.obs_dim, env.spec.act_dim, dtype=np.float64)[0]
    return ArsState(cfg, env, ars_settings.settings(cfg), theta, ObsStats(env.spec.obs_dim), rng,
                    jax.random.key(cfg.seed))


def ars_step(theta: np.ndarray, directions: np.ndarray, r_plus: np.ndarray, r_minus: np.ndarray, elite: int,
             step_size: float) -> tuple[np.ndarray, float]:
    """One V2-t update. ``directions [N, D]``, returns ``[N]`` each -> (new theta ``[D]``, sigma_R)."""
    top = np.argsort(-np.maximum(r_plus, r_minus), kind="stable")[:elite]
    sigma = float(np.concatenate([r_plus[top], r_minus[top]]).std())
    if sigma == 0.0:
        return theta, sigma
    step = (r_plus[top] - r_minus[top]) @ directions[top]
    return theta + step_size / (elite * sigma) * step, sigma


def iteration(state: ArsState, progress=None) -> tuple[ArsState, dict[str, float]]:
    """2N episodes of theta +- nu delta, one V2-t step; -> (state, metrics). (``progress``: unused, the step
    is one vector operation.)"""
    s = state.settings
    start = time.perf_counter()
    directions = state.rng.standard_normal((s.directions, state.theta.size))
    population = np.concatenate([state.theta + s.noise * directions, state.theta - s.noise * directions])
    state.key, key = jax.random.split(state.key)
    result = envs.rollout(state.env, population.astype(np.float32), state.obs_stats.mean, state.obs_stats.std, key)
    rollout_s = time.perf_counter() - start
    returns = result.returns_no_bonus if s.bonus_free else result.returns
    if not np.isfinite(returns).all():
        raise TrainingError(f"non-finite training return at env step {state.env_steps}")
    state.obs_stats.update(result.obs_count, result.obs_sum, result.obs_sumsq)
    theta, sigma = ars_step(state.theta, directions, returns[: s.directions], returns[s.directions :], s.elite,
                            s.step_size)
    step_norm = float(np.linalg.norm(theta - state.theta))
    state.theta = theta
    state.best_return = max(float(returns.max()), -math.inf if state.best_return is None else state.best_return)
    state.env_steps += result.obs_count
    state.episodes += population.shape[0]
    state.iterations += 1
    elapsed = time.perf_counter() - start
    state.wall_s += elapsed
    return state, {"train/best_return": state.best_return, "train/mean_return": float(returns.mean()),
                   "train/max_return": float(returns.max()), "train/mean_length": float(result.lengths.mean()),
                   "train/return_std_elite": sigma, "train/step_norm": step_norm, "perf/rollout_s": rollout_s,
                   "perf/sps": result.obs_count / elapsed}


def evaluate(state: ArsState) -> dict[str, float]:
    """theta itself (no noise), ``cfg.eval.episodes`` episodes; env steps not counted."""
    result = envs.rollout(state.env, state.theta[None].astype(np.float32), state.obs_stats.mean, state.obs_stats.std,
                          eval_key(state.cfg, state.evaluations), episodes=state.cfg.eval.episodes)
    state.evaluations += 1
    return eval_metrics(result, state.cfg, state.env.spec)


def evaluated_policy(state: ArsState) -> tuple[Callable, str]:
    """theta, as ``--eval.video`` and ``fastgen.render`` draw it: (``envs.play`` controller of one episode, label)."""
    act = envs.policy.controller(state.theta[None], state.obs_stats.mean[None], state.obs_stats.std[None],
                                 state.env.spec)
    return act, "ARS"


def save(state: ArsState, run_dir) -> None:
    checkpoint.write({**checkpoint.header(state), "theta": state.theta,
                      "obs_stats": state.obs_stats.state_dict(), "rng": state.rng.bit_generator.state,
                      "key": np.asarray(jax.random.key_data(state.key))}, run_dir)


def load(state: ArsState, run_dir) -> ArsState:
    saved = checkpoint.read(state, run_dir)
    state.theta = np.asarray(saved["theta"], np.float64)
    state.obs_stats = ObsStats.from_state_dict(saved["obs_stats"])
    state.rng.bit_generator.state = saved["rng"]
    state.key = jax.random.wrap_key_data(saved["key"])
    return state


init_batch, iteration_batch, evaluate_batch = one_at_a_time(init, iteration, evaluate)
snapshot = no_snapshot
