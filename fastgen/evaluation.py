"""The evaluation protocol shared by all algorithms: what an evaluation's episodes are reported as."""

import jax

from envs import RolloutResult


def eval_key(cfg, evaluations: int) -> jax.Array:
    """Reset noise of evaluation number ``evaluations``: the same states for every algorithm and seed-run."""
    return jax.random.fold_in(jax.random.key(cfg.seed + 1), evaluations)


def eval_metrics(result: RolloutResult, cfg, spec) -> dict[str, float]:
    """``eval/*`` of the episodes of one policy, ``result`` as P = 1 with E episodes or P = E with one each.

    ``eval/return`` includes hopper's survival bonus unless ``--eval.no-bonus``; on hopper both
    ``eval/return_with_bonus`` and ``eval/return_no_bonus`` are logged as well.
    """
    with_bonus, no_bonus = result.episode_returns.ravel(), result.episode_returns_no_bonus.ravel()
    episodes = with_bonus if cfg.eval.bonus else no_bonus
    metrics = {"eval/return": float(episodes.mean()), "eval/return_std": float(episodes.std()),
               "eval/length": float(result.episode_lengths.mean())}
    if spec.has_survival_bonus:
        metrics["eval/return_with_bonus"] = float(with_bonus.mean())
        metrics["eval/return_no_bonus"] = float(no_bonus.mean())
    return metrics
