"""Upside-down RL with episodic resets (Srivastava et al. 2019), for continuous actions.

A behaviour function B(s, d_r, d_h) maps an observation and a command (desired return d_r,
desired horizon d_h) to an action. It is trained by supervised learning on the episodes in an
episodic buffer that keeps the ``replay_size`` best episodes by return: a sample is (s_t, (return
from t to the end, steps left), a_t) for a uniformly chosen episode and step. Exploration commands
come from the ``last_few`` best episodes: d_h = their mean length, d_r ~ U[M, M + S] with M, S the
mean and std of their returns; during an episode d_r -= r_t and d_h = max(d_h - 1, 1).
Evaluation uses d_r = M (clipped at the task's maximum return), d_h as above.

The network (paper A.1: two hidden layers of 256): the command, scaled by ``return_scale`` and
``horizon_scale``, passes a sigmoid layer that gates the first hidden layer multiplicatively
(Srivastava et al. section 3.2); it outputs a Gaussian over actions scaled to [-1, 1] (mean tanh,
std softplus), trained by negative log-likelihood. Exploration samples from it; evaluation takes its
mean, so evaluation is noise-free as for the other algorithms. One ``iteration`` is the warm-up
(``warm_up_episodes`` of uniformly random actions) the first time, then ``updates_per_iteration``
updates followed by ``episodes_per_iteration`` exploration episodes stepped as one batch.
"""

import math
import time
from dataclasses import dataclass, field

import jax
import numpy as np
import torch
from torch import nn

import envs
from fastgen.algorithms import Counters, no_snapshot, one_at_a_time
from fastgen.baselines import udrl_settings
from fastgen.baselines.udrl_settings import UdrlConfig
from fastgen.config import Config
from fastgen.engines import make_env, resolve_device
from fastgen.errors import TrainingError
from fastgen.evaluation import eval_key, eval_metrics
from fastgen.runs import checkpoint

MIN_STD = 1e-3  # in actions scaled to [-1, 1]


class BehaviourNet(nn.Module):
    """B(s, c): ``obs [N, obs_dim]``, ``command [N, 2]`` (d_r, d_h, unscaled) -> mean, std ``[N, act_dim]`` in [-1, 1] units."""

    def __init__(self, obs_dim: int, act_dim: int, activation: str, scales: tuple[float, float], hidden: int = 256):
        super().__init__()
        self.obs_layer = nn.Linear(obs_dim, hidden)
        self.command_layer = nn.Linear(2, hidden)
        self.hidden_layer = nn.Linear(hidden, hidden)
        self.mean_head = nn.Linear(hidden, act_dim)
        self.std_head = nn.Linear(hidden, act_dim)
        self.activation = torch.relu if activation == "relu" else torch.tanh
        self.register_buffer("scales", torch.tensor(scales, dtype=torch.float32))

    def forward(self, obs: torch.Tensor, command: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gate = torch.sigmoid(self.command_layer(command * self.scales))
        h = self.activation(self.obs_layer(obs)) * gate
        h = self.activation(self.hidden_layer(h))
        return torch.tanh(self.mean_head(h)), nn.functional.softplus(self.std_head(h)) + MIN_STD


def nll(net: BehaviourNet, obs, command, actions) -> torch.Tensor:
    """Mean negative log-likelihood of ``actions [N, act_dim]`` (in [-1, 1] units) under B(obs, command)."""
    mean, std = net(obs, command)
    return -torch.distributions.Normal(mean, std).log_prob(actions).sum(-1).mean()


@dataclass
class EpisodeBuffer:
    """The ``capacity`` best episodes by return, and flat arrays of all their steps for sampling."""

    capacity: int
    device: torch.device = torch.device("cpu")  # where the flat arrays live, copied once per ``add``
    episodes: list[dict] = field(default_factory=list)  # obs [T, o], actions [T, a] (in [-1, 1]), rewards [T]

    def add(self, new: list[dict]) -> None:
        self.episodes = sorted(self.episodes + new, key=lambda e: float(e["rewards"].sum()))[-self.capacity :]
        obs = np.concatenate([e["obs"] for e in self.episodes])
        actions = np.concatenate([e["actions"] for e in self.episodes])
        to_go = np.concatenate([np.cumsum(e["rewards"][::-1])[::-1] for e in self.episodes])
        steps_left = np.concatenate([np.arange(len(e["rewards"]), 0, -1) for e in self.episodes])
        self.flat = tuple(torch.as_tensor(x, dtype=torch.float32, device=self.device)
                          for x in (obs, actions, np.stack([to_go, steps_left], axis=1)))
        self.lengths = np.array([len(e["rewards"]) for e in self.episodes])
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``batch`` steps: episode uniform over the buffer, step uniform within it -> obs, command, action."""
        episode = rng.integers(len(self.episodes), size=batch)
        index = self.starts[episode] + (rng.random(batch) * self.lengths[episode]).astype(np.int64)
        index = torch.as_tensor(index, device=self.device)
        obs, actions, commands = self.flat
        return obs[index], commands[index], actions[index]

    def command(self, last_few: int) -> tuple[float, float, float]:
        """(mean return M, std of returns S, mean length) of the ``last_few`` best episodes."""
        best = self.episodes[-last_few:]
        returns = np.array([e["rewards"].sum() for e in best], np.float64)
        return float(returns.mean()), float(returns.std()), float(np.mean([len(e["rewards"]) for e in best]))


@dataclass
class UdrlState(Counters):
    cfg: Config
    env: envs.Env
    settings: UdrlConfig  # per-task presets filled in
    net: BehaviourNet
    opt: torch.optim.Adam
    buffer: EpisodeBuffer
    rng: np.random.Generator
    torch_rng: torch.Generator
    key: jax.Array
    device: torch.device


def init(cfg: Config) -> UdrlState:
    torch.manual_seed(cfg.seed)
    env = make_env(cfg)
    settings, device = udrl_settings.settings(cfg), resolve_device(cfg.device)
    net = BehaviourNet(env.spec.obs_dim, env.spec.act_dim, settings.activation,
                       (settings.return_scale, settings.horizon_scale)).to(device)
    torch_rng = torch.Generator(device=device)
    torch_rng.manual_seed(cfg.seed)
    return UdrlState(cfg, env, settings, net, torch.optim.Adam(net.parameters(), lr=settings.lr),
                     EpisodeBuffer(settings.replay_size, device), np.random.default_rng(cfg.seed), torch_rng,
                     jax.random.key(cfg.seed), device)


class _Commanded:
    """Controller for ``envs.play``: B(s, c) with per-env commands that follow the rewards received."""

    def __init__(self, state: UdrlState, d_r: np.ndarray, d_h: np.ndarray, sample: bool, max_return: float | None):
        self.state, self.d_r, self.d_h, self.sample, self.max_return = state, d_r, d_h, sample, max_return

    def __call__(self, batch) -> np.ndarray:
        moved = np.asarray(batch.steps) > 0
        self.d_r = self.d_r - np.where(moved, np.asarray(batch.reward, np.float64), 0.0)
        self.d_h = np.where(moved, np.maximum(self.d_h - 1, 1), self.d_h)
        d_r = self.d_r if self.max_return is None else np.minimum(self.d_r, self.max_return)
        s = self.state
        with torch.no_grad():
            obs = torch.as_tensor(np.asarray(batch.obs), dtype=torch.float32, device=s.device)
            command = torch.as_tensor(np.stack([d_r, self.d_h], 1), dtype=torch.float32, device=s.device)
            mean, std = s.net(obs, command)
            if self.sample:
                mean = (mean + std * torch.randn(mean.shape, generator=s.torch_rng, device=s.device)).clamp(-1, 1)
        return mean.cpu().numpy() * s.env.spec.action_bound


def _collect(state: UdrlState, act, count: int) -> tuple[list[dict], envs.RolloutResult]:
    """``count`` episodes of ``act`` side by side, recorded step by step -> (episodes, result)."""
    spec = state.env.spec
    obs = np.zeros((spec.horizon, count, spec.obs_dim), np.float32)
    actions = np.zeros((spec.horizon, count, spec.act_dim), np.float32)
    rewards = np.zeros((spec.horizon, count), np.float32)

    def record(before, action, after, alive):
        t = int(np.asarray(before.steps).max())
        obs[t], actions[t], rewards[t] = np.asarray(before.obs), np.asarray(action), np.asarray(after.reward)

    state.key, key = jax.random.split(state.key)
    result = envs.play(state.env, act, key, count, on_step=record)
    lengths = result.episode_lengths[:, 0]
    episodes = [{"obs": obs[:n, i].copy(), "actions": np.clip(actions[:n, i] / spec.action_bound, -1, 1),
                 "rewards": rewards[:n, i].copy()} for i, n in enumerate(lengths)]
    return episodes, result


def iteration(state: UdrlState, progress=None) -> tuple[UdrlState, dict[str, float]]:
    """Warm-up the first time; then updates and exploration episodes; -> (state, metrics). ``progress(done,
    due)`` is told of the updates as they run."""
    s, spec = state.settings, state.env.spec
    start = time.perf_counter()
    metrics: dict[str, float] = {}
    if not state.buffer.episodes:
        bound = spec.action_bound
        count = s.warm_up_episodes if s.warm_up_episodes > 0 else 1
        new, result = _collect(state, lambda b: state.rng.uniform(-bound, bound, (b.obs.shape[0], spec.act_dim)), count)
    else:
        losses = []
        for done in range(1, s.updates_per_iteration + 1):
            losses.append(_update(state))
            if progress is not None:
                progress(done, s.updates_per_iteration)
        loss = float(torch.stack(losses).mean()) if losses else 0.0
        if not math.isfinite(loss):
            raise TrainingError(f"udrl loss became {loss} at env step {state.env_steps}")
        mean, std, horizon = state.buffer.command(s.last_few)
        n = s.episodes_per_iteration
        d_r = state.rng.uniform(mean, mean + std, n)
        act = _Commanded(state, d_r, np.full(n, horizon), sample=True, max_return=None)
        new, result = _collect(state, act, n)
        metrics.update({"train/loss": loss, "train/command_return": mean, "train/command_horizon": horizon})
    returns = result.returns
    if not np.isfinite(returns).all():
        raise TrainingError(f"non-finite training return at env step {state.env_steps}")
    state.buffer.add(new)
    state.best_return = max(float(returns.max()), -math.inf if state.best_return is None else state.best_return)
    state.env_steps += result.obs_count
    state.episodes += len(new)
    state.iterations += 1
    elapsed = time.perf_counter() - start
    state.wall_s += elapsed
    metrics.update({"train/best_return": state.best_return, "train/mean_return": float(returns.mean()),
                    "train/mean_length": float(result.lengths.mean()), "perf/sps": result.obs_count / elapsed})
    return state, metrics


def _update(state: UdrlState) -> torch.Tensor:
    loss = nll(state.net, *state.buffer.sample(state.rng, state.settings.batch_size))
    state.opt.zero_grad(set_to_none=True)
    loss.backward()
    state.opt.step()
    return loss.detach()


def _eval_command(state: UdrlState) -> tuple[float, float]:
    """(desired return, horizon) evaluations ask for: the mean return and length of the ``last_few`` best episodes."""
    if state.buffer.episodes:
        mean, _, horizon = state.buffer.command(state.settings.last_few)
        return mean, horizon
    return 0.0, float(state.env.spec.horizon)  # before any episode: the command of an untrained agent does not matter


def _greedy(state: UdrlState, d_r: np.ndarray, horizon: float) -> _Commanded:
    """Mean actions of B(s, c) for desired returns ``d_r [B]`` over ``horizon`` steps."""
    return _Commanded(state, d_r, np.full(len(d_r), horizon), sample=False, max_return=state.env.spec.return_range[1])


def evaluate(state: UdrlState) -> dict[str, float]:
    """Command (M, mean length) of the ``last_few`` best episodes, mean actions; env steps not counted."""
    n = state.cfg.eval.episodes
    mean, horizon = _eval_command(state)
    result = envs.play(state.env, _greedy(state, np.full(n, mean), horizon), eval_key(state.cfg, state.evaluations), n)
    state.evaluations += 1
    return {"eval/command": mean, **eval_metrics(result, state.cfg, state.env.spec)}


def evaluated_policy(state: UdrlState) -> tuple[_Commanded, str]:
    """B(s, c) under the evaluation command, as ``--eval.video`` and ``fastgen.render`` draw it: (``envs.play``
    controller of one episode, label)."""
    mean, horizon = _eval_command(state)
    return _greedy(state, np.array([mean]), horizon), f"UDRL B(s, {mean:.0f})"


def commanded_policy(state: UdrlState, commands: np.ndarray) -> tuple[_Commanded, list[str]]:
    """B(s, c) for each desired return of ``commands [B]`` (horizon: the evaluation command's), one episode each:
    (``envs.play`` controller, labels)."""
    _, horizon = _eval_command(state)
    return _greedy(state, np.asarray(commands, np.float64), horizon), [f"c {c:.0f}" for c in commands]


def save(state: UdrlState, run_dir) -> None:
    checkpoint.write({
        **checkpoint.header(state), "net": state.net.state_dict(), "opt": state.opt.state_dict(),
        "episodes": state.buffer.episodes, "rng": state.rng.bit_generator.state,
        "torch_rng": state.torch_rng.get_state(), "key": np.asarray(jax.random.key_data(state.key)),
    }, run_dir)


def load(state: UdrlState, run_dir) -> UdrlState:
    saved = checkpoint.read(state, run_dir)
    state.net.load_state_dict(saved["net"])
    state.opt.load_state_dict(saved["opt"])
    state.buffer = EpisodeBuffer(state.settings.replay_size, state.device)
    if saved["episodes"]:
        state.buffer.add(saved["episodes"])
    state.rng.bit_generator.state = saved["rng"]
    state.torch_rng.set_state(saved["torch_rng"].cpu())
    state.key = jax.random.wrap_key_data(saved["key"])
    return state


init_batch, iteration_batch, evaluate_batch = one_at_a_time(init, iteration, evaluate)
snapshot = no_snapshot
