"""The policy layout on the torch side: many flat weight vectors applied at once.

``envs.policy`` describes the layout once (order, shapes, forward); its array code runs unchanged
on torch tensors, so the evaluator's probing forward and the engines' rollout forward are the same
function by construction.
"""

import torch

from envs import policy as layout
from envs.spec import EnvSpec


def forward(params: torch.Tensor, obs: torch.Tensor, spec: EnvSpec) -> torch.Tensor:
    """Actions of N policies.

    Args:
        params: ``[N, D]`` flat weights.
        obs: ``[S, obs_dim]`` observations shared by all policies (the probing states), or
            ``[N, S, obs_dim]`` one set per policy; already normalised.

    Returns:
        ``[N, S, act_dim]`` actions, differentiable in both ``params`` and ``obs``.
    """
    return apply(unflatten(params, spec), obs, spec)


def unflatten(params: torch.Tensor, spec: EnvSpec) -> list[torch.Tensor]:
    """``params [N, D]`` -> ``[W1 [N, 256, obs_dim], b1 [N, 256], ..., b3 [N, act_dim]]`` (views)."""
    return layout.unflatten(params, spec.obs_dim, spec.act_dim)


def apply(pieces: list[torch.Tensor], obs: torch.Tensor, spec: EnvSpec) -> torch.Tensor:
    """``forward`` on weights already in their shapes (``unflatten``'s, or a generator's layers): ``[N, S, act_dim]``."""
    return layout.apply(pieces, obs, spec.action_bound, torch)


def flatten(pieces: list[torch.Tensor]) -> torch.Tensor:
    """``[W1 [N, ...], b1 [N, ...], ...]`` -> ``[N, D]`` in the layout's order (one copy)."""
    return torch.cat([p.flatten(1) for p in pieces], dim=1)


def num_params(spec: EnvSpec) -> int:
    return layout.num_params(spec.obs_dim, spec.act_dim)
