"""Generator G(c): the hypernetwork that turns a return command into policy weights.

Paper section 4.1 and appendix A.2; numbers in REFERENCE.md. Each policy weight matrix is cut into
16 x 16 tiles (the input layer into 16 x obs_dim tiles, the output layer into act_dim x 16 tiles),
each tile has a learned 8-dim embedding, and the scaled command is appended to every embedding.
Each layer has its own weight hypernetwork (9 -> 256 -> 256 -> tile, ReLU, linear output) and its
own bias network (9 -> 256 -> 256 -> 16, or act_dim for the output layer) whose outputs are averaged
over the tiles along the input direction. Every generated weight and bias of a layer is multiplied
by 2/sqrt(fan-in). Hopper: 544,771 parameters, 69,635 policy weights out.

All tiles of all commands go through each network as one batch: six MLP calls per generation,
whatever the batch size.
"""

import math

import torch
from torch import nn

from envs.policy import HIDDEN
from envs.spec import EnvSpec

TILE = 16
EMBED_DIM = 8
HYPER_HIDDEN = 256


def _mlp(n_in: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, HYPER_HIDDEN), nn.ReLU(), nn.Linear(HYPER_HIDDEN, HYPER_HIDDEN), nn.ReLU(),
                         nn.Linear(HYPER_HIDDEN, n_out))


class _LayerGenerator(nn.Module):
    """Generates one policy layer: ``W [B, rows_out * tile_h, tiles_in * tile_w]`` and ``b [B, ...]``."""

    def __init__(self, tiles_out: int, tiles_in: int, tile_h: int, tile_w: int, fan_in: int, scaled: bool):
        super().__init__()
        self.tiles_out, self.tiles_in, self.tile_h, self.tile_w = tiles_out, tiles_in, tile_h, tile_w
        self.embeddings = nn.Parameter(torch.randn(tiles_out * tiles_in, EMBED_DIM))
        self.weight_net = _mlp(EMBED_DIM + 1, tile_h * tile_w)
        self.bias_net = _mlp(EMBED_DIM + 1, tile_h)
        self.scale = 2.0 / math.sqrt(fan_in) if scaled else 1.0

    def forward(self, command: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``command [B]`` (already scaled) -> ``(W [B, out, in], b [B, out])``."""
        B, T = command.shape[0], self.embeddings.shape[0]
        inputs = torch.cat([self.embeddings.expand(B, T, EMBED_DIM), command[:, None, None].expand(B, T, 1)], dim=2)
        tiles = self.weight_net(inputs).view(B, self.tiles_out, self.tiles_in, self.tile_h, self.tile_w)
        weight = tiles.permute(0, 1, 3, 2, 4).reshape(B, self.tiles_out * self.tile_h, self.tiles_in * self.tile_w)
        bias = self.bias_net(inputs).view(B, self.tiles_out, self.tiles_in, self.tile_h).mean(dim=2)
        return weight * self.scale, bias.reshape(B, -1) * self.scale


class Generator(nn.Module):
    """G(c) for one task: ``forward(commands [B]) -> [B, D]`` flat policies, ``sample`` adds noise."""

    def __init__(self, spec: EnvSpec, noise_std: float = 0.1, output_scaling: bool = True):
        super().__init__()
        hidden = HIDDEN[0]
        if any(h != hidden or h % TILE for h in HIDDEN):
            raise ValueError(f"hidden widths {HIDDEN} must be equal multiples of the tile size {TILE}")
        n = hidden // TILE
        self.layers = nn.ModuleList([
            _LayerGenerator(n, 1, TILE, spec.obs_dim, spec.obs_dim, output_scaling),
            _LayerGenerator(n, n, TILE, TILE, hidden, output_scaling),
            _LayerGenerator(1, n, spec.act_dim, TILE, hidden, output_scaling),
        ])
        low, high = spec.return_range
        self.command_scale = 1.0 / (high - low)  # scaled, not centred (the authors' code)
        self.noise_std = noise_std

    def forward(self, commands: torch.Tensor) -> torch.Tensor:
        """``commands [B]`` raw returns -> ``[B, D]`` deterministic policies G(c)."""
        scaled = commands * self.command_scale
        pieces = []
        for layer in self.layers:
            weight, bias = layer(scaled)
            pieces += [weight.flatten(1), bias]
        return torch.cat(pieces, dim=1)

    def sample(self, rng: torch.Generator, commands: torch.Tensor) -> torch.Tensor:
        """``theta = G(c) + eps``, ``eps ~ N(0, noise_std^2 I)`` over the whole flat vector: ``[B, D]``."""
        mean = self.forward(commands)
        noise = torch.randn(mean.shape, generator=rng, device=mean.device, dtype=mean.dtype)
        return mean + self.noise_std * noise
