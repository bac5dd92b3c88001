"""Evaluator V(theta): predicts a policy's return from its actions on learned probing states.

Paper section 4.2 (policy fingerprinting). 200 probing states, initialised U[0, 1) in
normalised-observation space, are fed to each policy; the ``200 * act_dim`` probing actions go
through an MLP ``-> 256 -> 256 -> 1`` (ReLU). Trained by MSE on raw returns; frozen (probing states
included) while the generator trains. Hopper: 222,105 parameters.
"""

import torch
from torch import nn

from envs.spec import EnvSpec
from fastgen import policy

N_PROBES = 200
HIDDEN = 256


class Evaluator(nn.Module):
    def __init__(self, spec: EnvSpec, n_probes: int = N_PROBES):
        super().__init__()
        self.spec = spec
        self.probes = nn.Parameter(torch.rand(n_probes, spec.obs_dim))
        self.head = nn.Sequential(nn.Linear(n_probes * spec.act_dim, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN),
                                  nn.ReLU(), nn.Linear(HIDDEN, 1))

    def probing_actions(self, params: torch.Tensor) -> torch.Tensor:
        """``params [N, D]`` -> ``[N, n_probes * act_dim]`` (the policies' fingerprints)."""
        return policy.forward(params, self.probes, self.spec).flatten(1)

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        """``params [N, D]`` -> predicted returns ``[N]``."""
        return self.predict(dict(self.named_parameters()), policy.unflatten(params, self.spec))

    def predict(self, weights: dict[str, torch.Tensor], pieces: list[torch.Tensor]) -> torch.Tensor:
        """V with the parameters ``weights`` (``{name: tensor}`` as ``named_parameters()``) on N policies given
        in their shapes (``policy.unflatten``'s, or a generator's ``policy_layers``) -> ``[N]``."""
        h = policy.apply(pieces, weights["probes"], self.spec).flatten(1)  # [N, n_probes * act_dim]
        h = torch.addmm(weights["head.0.bias"], h, weights["head.0.weight"].t()).relu_()
        h = torch.addmm(weights["head.2.bias"], h, weights["head.2.weight"].t()).relu_()
        # float32 under --precision bfloat16 too: bfloat16 would round a predicted 3000 to a multiple of 16,
        # coarser than the command's drive of 20
        with torch.autocast(h.device.type, enabled=False):
            return torch.addmm(weights["head.4.bias"], h.float(), weights["head.4.weight"].t()).squeeze(1)
