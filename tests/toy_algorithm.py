"""A toy algorithm, to show (and test) that adding one is this module (with its settings, ``tests/toy_settings.py``)
plus a line in ``fastgen.algorithms.REGISTRY``: random search that keeps the best of P perturbations of its policy,
``--toy.noise`` their std (docs/architecture.md, "Adding an algorithm")."""

import time
from dataclasses import dataclass

import jax
import numpy as np

import envs
from envs.policy import random_params
from fastgen.algorithms import Counters, no_snapshot, one_at_a_time
from fastgen.engines import make_env
from fastgen.normalizer import ObsStats
from fastgen.runs import checkpoint


@dataclass
class ToyState(Counters):
    cfg: object
    env: envs.Env
    theta: np.ndarray  # [D] the best policy so far
    rng: np.random.Generator
    key: jax.Array
    device: str = "cpu"  # where checkpoints load to


def init(cfg) -> ToyState:
    env = make_env(cfg)
    rng = np.random.default_rng(cfg.seed)
    return ToyState(cfg, env, random_params(rng, 1, env.spec.obs_dim, env.spec.act_dim)[0], rng, jax.random.key(cfg.seed))


def iteration(state: ToyState, progress=None) -> tuple[ToyState, dict[str, float]]:
    start = time.perf_counter()
    candidates = state.theta + state.cfg.toy.noise * state.rng.standard_normal((state.cfg.population, state.theta.size))
    state.key, key = jax.random.split(state.key)
    unit = ObsStats(state.env.spec.obs_dim)
    result = envs.rollout(state.env, candidates.astype(np.float32), unit.mean, unit.std, key)
    best = int(np.argmax(result.returns))
    if state.best_return is None or result.returns[best] > state.best_return:
        state.theta, state.best_return = candidates[best], float(result.returns[best])
    state.env_steps += result.obs_count
    state.episodes += len(candidates)
    state.iterations += 1
    state.wall_s += time.perf_counter() - start
    return state, {"train/best_return": state.best_return, "perf/sps": result.obs_count / (time.perf_counter() - start)}


def evaluate(state: ToyState) -> dict[str, float]:
    unit = ObsStats(state.env.spec.obs_dim)
    result = envs.rollout(state.env, state.theta[None].astype(np.float32), unit.mean, unit.std,
                          jax.random.key(10_000 + state.evaluations), episodes=state.cfg.eval.episodes)
    state.evaluations += 1
    return {"eval/return": float(result.returns[0])}


def evaluated_policy(state: ToyState):
    unit = ObsStats(state.env.spec.obs_dim)
    return envs.policy.controller(state.theta[None], unit.mean[None], unit.std[None], state.env.spec), "toy"


def save(state: ToyState, run_dir) -> None:
    checkpoint.write({**checkpoint.header(state), "theta": state.theta, "rng": state.rng.bit_generator.state,
                      "key": np.asarray(jax.random.key_data(state.key))}, run_dir)


def load(state: ToyState, run_dir) -> ToyState:
    saved = checkpoint.read(state, run_dir)
    state.theta, state.rng.bit_generator.state = saved["theta"], saved["rng"]
    state.key = jax.random.wrap_key_data(saved["key"])
    return state


init_batch, iteration_batch, evaluate_batch = one_at_a_time(init, iteration, evaluate)
snapshot = no_snapshot
