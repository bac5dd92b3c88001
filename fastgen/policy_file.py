"""Run an exported policy (``python -m fastgen.export``) in plain Gymnasium: numpy and gymnasium only.

    python -m fastgen.policy_file policy.npz --episodes 5

This file imports nothing from fastgen and can be copied next to the ``.npz`` and used alone::

    from policy_file import load
    policy = load("policy.npz")
    env = gymnasium.make(policy.gymnasium_id)
    obs, _ = env.reset(seed=0)
    action = policy(obs)

The ``.npz`` ("fastgen-policy-1") holds ``W1 b1 W2 b2 W3 b3`` (float32, ``W`` as ``(out, in)``),
``obs_mean`` and ``obs_std`` (the training run's observation statistics, float64),
``action_bound``, ``gymnasium_id``, ``env``, ``command`` and ``predicted_return``. The policy is
``action_bound * tanh(W3 tanh(W2 tanh(W1 x + b1) + b2) + b3)`` with ``x = (obs - obs_mean) / obs_std``.
"""

import argparse
import sys
from dataclasses import dataclass

import numpy as np

SURVIVAL_BONUS_TASKS = ("hopper", "walker2d", "ant")  # envs.TASKS' spec.has_survival_bonus (tested)

FORMAT = "fastgen-policy-1"


@dataclass
class NpzPolicy:
    weights: list  # [(W [out, in], b [out]), ...] float32
    obs_mean: np.ndarray
    obs_std: np.ndarray
    action_bound: float
    gymnasium_id: str
    env: str
    command: float
    predicted_return: float

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """``obs [obs_dim]`` (or ``[N, obs_dim]``) raw observation -> action ``[act_dim]`` (or ``[N, act_dim]``)."""
        h = ((np.asarray(obs, np.float64) - self.obs_mean) / self.obs_std).astype(np.float32)
        for weight, bias in self.weights:
            h = np.tanh(h @ weight.T + bias)
        return (h * np.float32(self.action_bound)).astype(np.float32)


def load(path: str) -> NpzPolicy:
    with np.load(path, allow_pickle=False) as data:
        if str(data.get("format", "")) != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT} file (format {data.get('format')!r})")
        weights = [(data[f"W{i}"], data[f"b{i}"]) for i in (1, 2, 3)]
        return NpzPolicy(weights, data["obs_mean"], data["obs_std"], float(data["action_bound"]),
                         str(data["gymnasium_id"]), str(data["env"]), float(data["command"]),
                         float(data["predicted_return"]))


def run_episode(policy: NpzPolicy, env, seed: int | None = None) -> tuple[float, int]:
    """One episode of ``policy`` in a Gymnasium ``env``; -> (return, length)."""
    obs, _ = env.reset(seed=seed)
    total, steps, done = 0.0, 0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total, steps, done = total + float(reward), steps + 1, terminated or truncated
    return total, steps


def main(argv: list[str] | None = None) -> int:
    import gymnasium

    parser = argparse.ArgumentParser(description="Run an exported fastgen policy in gymnasium.make(its env).")
    parser.add_argument("path", help="the .npz written by python -m fastgen.export")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--render", action="store_true", help="render_mode='human'")
    args = parser.parse_args(argv)
    policy = load(args.path)
    env = gymnasium.make(policy.gymnasium_id, render_mode="human" if args.render else None)
    returns = []
    for episode in range(args.episodes):
        total, steps = run_episode(policy, env, seed=args.seed + episode)
        returns.append(total)
        print(f"episode {episode}: return {total:.1f} over {steps} steps")
    print(f"{policy.gymnasium_id}, command {policy.command:.1f} (evaluator predicted {policy.predicted_return:.1f}): "
          f"mean return {np.mean(returns):.1f} +- {np.std(returns):.1f}")
    if policy.env in SURVIVAL_BONUS_TASKS:
        print(f"(these returns include {policy.gymnasium_id}'s survival bonus of 1 per step; the command is a bonus-free return)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
