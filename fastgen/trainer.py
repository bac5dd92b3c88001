"""PoliGen training (paper Algorithm 1), P policies per iteration: ``init`` -> ``iteration`` -> loop.

One iteration: command c = best training return so far + drive; P policies theta = G(c) + eps;
one episode each on the engine; (theta, r) into the replay buffer; observation statistics merged
from these training episodes; then ``5 P`` evaluator updates (MSE of V(theta) on r) and ``20 P``
generator updates (MSE of V(G(r)) on r, V frozen), each on a batch of 16 recency-weighted buffer
samples. ``evaluate`` runs G(best so far) without noise for 10 episodes (not counted as env steps).
"""

import math
import time
from dataclasses import dataclass

import jax
import numpy as np
import torch

import envs
from fastgen.algorithms import Counters
from fastgen.bridge import to_engine
from fastgen.buffer import ReplayBuffer
from fastgen.config import Config
from fastgen.errors import TrainingError  # noqa: F401 (re-exported)
from fastgen.evaluation import eval_key, eval_metrics
from fastgen.evaluator import Evaluator
from fastgen.generator import Generator
from fastgen.normalizer import ObsStats


@dataclass
class TrainState(Counters):
    cfg: Config
    env: object
    device: torch.device
    generator: Generator
    evaluator: Evaluator
    generator_opt: torch.optim.Adam
    evaluator_opt: torch.optim.Adam
    buffer: ReplayBuffer
    obs_stats: ObsStats
    rng: torch.Generator
    key: jax.Array

    @property
    def spec(self):
        return self.env.spec

    @property
    def command(self) -> float:
        """The command for the next training episodes."""
        if self.best_return is None:
            return self.cfg.command.first
        return self.best_return + self.cfg.command.drive


def resolve_engine(engine: str) -> str:
    if engine != "auto":
        return engine
    return "mjx" if any(d.platform == "gpu" for d in jax.devices()) else "cpu"


def make_env(cfg: Config, engine: str | None = None):
    """The run's task on its engine (``engine`` overrides ``cfg.engine``), with ``cfg.threads`` on ``cpu``."""
    engine = resolve_engine(engine or cfg.engine)
    return envs.make(cfg.env, engine, nthread=cfg.threads if engine == "cpu" else None)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def init(cfg: Config, env=None) -> TrainState:
    """A fresh run: networks initialised from ``cfg.seed``, empty buffer, no statistics (``env``: share one)."""
    cfg.validate()
    torch.manual_seed(cfg.seed)  # module initialisation
    env = env if env is not None else make_env(cfg)
    device = resolve_device(cfg.device)
    spec = env.spec
    generator = Generator(spec, cfg.generator.noise_std, cfg.generator.output_scaling).to(device)
    evaluator = Evaluator(spec, cfg.evaluator.probes).to(device)
    power = cfg.buffer.recency_power or None
    buffer = ReplayBuffer(cfg.buffer.size, envs.num_params(spec.obs_dim, spec.act_dim), device, power)
    rng = torch.Generator(device=device)
    rng.manual_seed(cfg.seed)
    return TrainState(cfg, env, device, generator, evaluator,
                      torch.optim.Adam(generator.parameters(), lr=cfg.generator.lr),
                      torch.optim.Adam(evaluator.parameters(), lr=cfg.evaluator.lr),
                      buffer, ObsStats(spec.obs_dim), rng, jax.random.key(cfg.seed))


def iteration(state: TrainState) -> tuple[TrainState, dict[str, float]]:
    """Collect P episodes, store them, update evaluator then generator; -> (state, metrics)."""
    cfg, P = state.cfg, state.cfg.population
    start = time.perf_counter()
    command = state.command
    with torch.no_grad():
        theta = state.generator.sample(state.rng, torch.full((P,), command, device=state.device))
    state.key, rollout_key = jax.random.split(state.key)
    result = _simulate(state, theta, rollout_key)
    rollout_s = time.perf_counter() - start
    returns = record(state, theta, result)

    update_start = time.perf_counter()
    evaluator_loss = _repeat(_evaluator_update, state, round(cfg.evaluator.updates_per_episode * P))
    state.evaluator.requires_grad_(False)
    generator_loss = _repeat(_generator_update, state, round(cfg.generator.updates_per_episode * P))
    state.evaluator.requires_grad_(True)
    check_losses(state, evaluator_loss, generator_loss)
    elapsed = time.perf_counter() - start
    state.wall_s += elapsed
    return state, iteration_metrics(state, command, returns, result, evaluator_loss, generator_loss, rollout_s,
                                    time.perf_counter() - update_start, elapsed)


def record(state: TrainState, theta: torch.Tensor, result: envs.RolloutResult) -> np.ndarray:
    """Book an iteration's episodes: buffer, observation statistics, best return, counters; -> returns ``[P]``."""
    returns = result.returns_no_bonus if state.cfg.command.bonus_free else result.returns
    if not np.isfinite(returns).all():
        raise TrainingError(f"non-finite training return at env step {state.env_steps}: {returns[~np.isfinite(returns)][:3]}")
    state.buffer.add(theta, torch.as_tensor(returns, dtype=torch.float32, device=state.device))
    state.obs_stats.update(result.obs_count, result.obs_sum, result.obs_sumsq)
    state.best_return = max(float(returns.max()), -math.inf if state.best_return is None else state.best_return)
    state.env_steps += result.obs_count
    state.episodes += theta.shape[0]
    state.iterations += 1
    return returns


def check_losses(state: TrainState, evaluator_loss: float, generator_loss: float) -> None:
    for name, loss in (("evaluator", evaluator_loss), ("generator", generator_loss)):
        if not math.isfinite(loss):
            raise TrainingError(f"{name} loss became {loss} at env step {state.env_steps}")


def iteration_metrics(state: TrainState, command: float, returns: np.ndarray, result: envs.RolloutResult,
                      evaluator_loss: float, generator_loss: float, rollout_s: float, update_s: float,
                      elapsed: float) -> dict[str, float]:
    return {"train/command": command, "train/best_return": state.best_return,
            "train/mean_return": float(returns.mean()), "train/max_return": float(returns.max()),
            "train/mean_length": float(result.lengths.mean()), "train/evaluator_loss": evaluator_loss,
            "train/generator_loss": generator_loss, "perf/rollout_s": rollout_s, "perf/update_s": update_s,
            "perf/sps": result.obs_count / elapsed}


def _simulate(state: TrainState, theta: torch.Tensor, key, episodes: int = 1) -> envs.RolloutResult:
    """Episodes of the policies ``theta [P, D]`` on the engine, normalised with the current statistics."""
    return envs.rollout(state.env, to_engine(theta.contiguous(), state.env.engine), state.obs_stats.mean,
                        state.obs_stats.std, key, episodes=episodes)


def _repeat(update, state: TrainState, count: int) -> float:
    """Run ``update`` ``count`` times; -> mean loss (0 if none), synced to the host once."""
    if count == 0:
        return 0.0
    losses = torch.stack([update(state) for _ in range(count)])
    return float(losses.mean())


def _evaluator_update(state: TrainState) -> torch.Tensor:
    params, returns = state.buffer.sample(state.rng, state.cfg.buffer.batch_size)
    loss = torch.nn.functional.mse_loss(state.evaluator(params), returns)
    state.evaluator_opt.zero_grad(set_to_none=True)
    loss.backward()
    state.evaluator_opt.step()
    return loss.detach()


def _generator_update(state: TrainState) -> torch.Tensor:
    _, commands = state.buffer.sample(state.rng, state.cfg.buffer.batch_size)
    loss = torch.nn.functional.mse_loss(state.evaluator(state.generator(commands)), commands)
    state.generator_opt.zero_grad(set_to_none=True)
    loss.backward()
    state.generator_opt.step()
    return loss.detach()


def eval_command(state: TrainState) -> float:
    """What an evaluation asks for: the best training return so far (the first command before any)."""
    return state.cfg.command.first if state.best_return is None else state.best_return


def evaluate(state: TrainState) -> dict[str, float]:
    """G(best return so far), no noise, ``cfg.eval.episodes`` episodes; env steps not counted."""
    command = eval_command(state)
    with torch.no_grad():
        theta = state.generator(torch.tensor([command], device=state.device))
    result = _simulate(state, theta, eval_key(state.cfg, state.evaluations), episodes=state.cfg.eval.episodes)
    state.evaluations += 1
    return {"eval/command": command, **eval_metrics(result, state.cfg, state.spec)}
