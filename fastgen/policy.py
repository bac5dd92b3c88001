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
    if obs.dim() == 2:
        obs = obs.expand(params.shape[0], *obs.shape)
    return layout.forward(params, obs, spec.action_bound, spec.obs_dim, spec.act_dim, torch)


def num_params(spec: EnvSpec) -> int:
    return layout.num_params(spec.obs_dim, spec.act_dim)
