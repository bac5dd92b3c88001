"""Generator G(c): the hypernetwork that turns a return command into policy weights.

Paper section 4.1 and appendix A.2; numbers in docs/paper.md. Each policy weight matrix is cut into
16 x 16 tiles (the input layer into 16 x obs_dim tiles, the output layer into act_dim x 16 tiles),
each tile has a learned 8-dim embedding, and the scaled command is appended to every embedding.
Each layer has its own weight hypernetwork (9 -> 256 -> 256 -> tile, ReLU, linear output) and its
own bias network (9 -> 256 -> 256 -> 16, or act_dim for the output layer) whose outputs are averaged
over the tiles along the input direction. Every generated weight and bias of a layer is multiplied
by 2/sqrt(fan-in). Hopper: 544,771 parameters, 69,635 policy weights out.

All tiles of all commands go through each network as one batch. The networks' first layer on
``[z, c]`` is computed as ``z W_z^T + b`` (once per call, shared by all commands) plus ``c w_c``, so
no ``[B * tiles, 9]`` input is ever built; a bias network's output layer is applied after the mean
over tiles (the mean of an affine map is the affine map of the mean), and the 2/sqrt(fan-in) scale
is folded into the output layers' weights. ``policy_layers`` takes the parameters as an explicit
``{name: tensor}`` dict (this module's names), so the learner runs it on stacked, sliced or
vmapped parameters of K seeds without copying them into modules.
"""

import math

import torch
from torch import nn

from envs.policy import HIDDEN, layer_sizes
from envs.spec import EnvSpec
from fastgen import policy

TILE = 16
EMBED_DIM = 8
HYPER_HIDDEN = 256
COMMAND_INPUTS = ("linear", "symlog")
WEIGHT_LAYOUTS = ("flat", "fan-in")  # one std per weight, the same for every policy
NOISE_LAYOUTS = (*WEIGHT_LAYOUTS, "mixed")  # mixed: flat and fan-in policies in one population


def _mlp(n_in: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, HYPER_HIDDEN), nn.ReLU(), nn.Linear(HYPER_HIDDEN, HYPER_HIDDEN), nn.ReLU(),
                         nn.Linear(HYPER_HIDDEN, n_out))


class _LayerGenerator(nn.Module):
    """Generates one policy layer: ``W [B, tiles_out * tile_h, tiles_in * tile_w]`` and ``b [B, ...]``."""

    def __init__(self, tiles_out: int, tiles_in: int, tile_h: int, tile_w: int, fan_in: int, scaled: bool):
        super().__init__()
        self.tiles_out, self.tiles_in, self.tile_h, self.tile_w = tiles_out, tiles_in, tile_h, tile_w
        self.embeddings = nn.Parameter(torch.randn(tiles_out * tiles_in, EMBED_DIM))
        self.weight_net = _mlp(EMBED_DIM + 1, tile_h * tile_w)
        self.bias_net = _mlp(EMBED_DIM + 1, tile_h)
        self.scale = 2.0 / math.sqrt(fan_in) if scaled else 1.0

    def generate(self, p: dict[str, torch.Tensor], scaled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``p``: this layer's parameters by name; ``scaled [B]`` commands -> ``(W [B, out, in], b [B, out])``."""
        B, to, ti, th, tw = scaled.shape[0], self.tiles_out, self.tiles_in, self.tile_h, self.tile_w
        hidden = _hidden(p, "weight_net", scaled)  # [B * tiles, 256]
        tiles = torch.addmm(p["weight_net.4.bias"] * self.scale, hidden, p["weight_net.4.weight"].t() * self.scale)
        weight = tiles.view(B, to, ti, th, tw).transpose(2, 3).reshape(B, to * th, ti * tw)
        hidden = _hidden(p, "bias_net", scaled)
        if ti > 1:  # the mean over tiles as a sum, 1 / ti folded into the output weights (no [B * tiles, 256] pass)
            hidden = hidden.view(B * to, ti, HYPER_HIDDEN).sum(1)
        bias = torch.addmm(p["bias_net.4.bias"] * self.scale, hidden, p["bias_net.4.weight"].t() * (self.scale / ti))
        return weight, bias.view(B, to * th)


def _hidden(p: dict[str, torch.Tensor], net: str, scaled: torch.Tensor) -> torch.Tensor:
    """Second hidden activations ``[B * tiles, 256]`` of one hypernetwork over every (command, tile) pair."""
    first = p[f"{net}.0.weight"]  # [256, EMBED_DIM + 1]: embedding columns, then the command's
    shared = torch.addmm(p[f"{net}.0.bias"], p["embeddings"], first[:, :EMBED_DIM].t())  # [tiles, 256]
    # in shared's dtype: under --precision bfloat16 (autocast) a float32 term makes h and its backward mixed-
    # precision (a hopper generator update measured 50.1 against 43.7 ms, median, one thread)
    per_command = torch.outer(scaled, first[:, EMBED_DIM]).to(shared.dtype)  # [B, 256]
    h = torch.add(shared, per_command[:, None, :]).relu_()  # [B, tiles, 256]
    return torch.addmm(p[f"{net}.2.bias"], h.view(-1, HYPER_HIDDEN), p[f"{net}.2.weight"].t()).relu_()


def exploration_std(spec: EnvSpec, std: float, layout: str = "flat") -> torch.Tensor:
    """The exploration noise's std per flat policy weight ``[D]``: ``std`` everywhere (flat, the paper), or ``std``
    x 2 / sqrt(fan-in) of the weight's layer (fan-in: the output scaling's factor, so that the noise is ``std`` in
    the units of the generator's outputs before it; hopper: 0.60 std in the first layer, std / 8 in the others)."""
    if layout not in WEIGHT_LAYOUTS:
        raise ValueError(f"unknown per-weight noise layout {layout!r}; choose one of {', '.join(WEIGHT_LAYOUTS)}")
    sizes = layer_sizes(spec.obs_dim, spec.act_dim)
    # a layer's weights [out, in] and then its bias [out] lie next to each other in the flat vector
    return torch.cat([torch.full(((fan_in + 1) * out,), std * (2.0 / math.sqrt(fan_in) if layout == "fan-in" else 1.0))
                      for out, fan_in in sizes])


def population_std(spec: EnvSpec, std: float, layout: str, population: int) -> torch.Tensor:
    """The exploration noise's std for each of ``population`` policies drawn together, ``[population, D]``: every
    row ``exploration_std(spec, std, layout)`` for flat or fan-in; mixed: policies 2j and 2j + 1 (a mirrored pair
    under ``--generator.antithetic``) flat for even j and fan-in for odd j, so that one population holds both wide
    draws and near ones that show the slope around G(c) (docs/results/populations.md, "Mixed noise")."""
    if layout not in NOISE_LAYOUTS:
        raise ValueError(f"unknown noise layout {layout!r}; choose one of {', '.join(NOISE_LAYOUTS)}")
    if layout != "mixed":
        return exploration_std(spec, std, layout).expand(population, -1)
    rows = torch.stack([exploration_std(spec, std, "flat"), exploration_std(spec, std, "fan-in")])  # [2, D]
    return rows[(torch.arange(population) // 2) % 2]


class Generator(nn.Module):
    """G(c) for one task: ``forward(commands [B]) -> [B, D]`` flat policies, ``sample`` adds noise."""

    def __init__(self, spec: EnvSpec, noise_std: float = 0.1, output_scaling: bool = True,
                 command_width: float | None = None, command_input: str = "linear", noise_layout: str = "flat"):
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
        if command_input not in COMMAND_INPUTS:
            raise ValueError(f"unknown command input {command_input!r}; choose one of {', '.join(COMMAND_INPUTS)}")
        low, high = spec.return_range
        # scaled, not centred (the authors' code)
        self.command_scale = 1.0 / (high - low if command_width is None else command_width)
        self.command_input = command_input
        self.noise_std, self.noise_layout, self.spec = noise_std, noise_layout, spec
        population_std(spec, noise_std, noise_layout, 1)  # an unknown layout fails here, not at the first sample

    def command_features(self, commands: torch.Tensor) -> torch.Tensor:
        """What the hypernetworks see of ``commands [B]`` (raw returns): ``c / width`` (linear, the authors'
        code) or ``sign(c) ln(1 + |c|)`` (symlog: returns that differ by 20 near 0 differ by ~1 at the input,
        and by as much as the linear input's at hopper's 3000)."""
        if self.command_input == "symlog":
            return torch.sign(commands) * torch.log1p(commands.abs())
        return commands * self.command_scale

    def policy_layers(self, params: dict[str, torch.Tensor], commands: torch.Tensor) -> list[torch.Tensor]:
        """``params``: ``{name: tensor}`` as ``named_parameters()``; ``commands [B]`` raw returns ->
        ``[W1 [B, 256, obs_dim], b1 [B, 256], W2, b2, W3, b3]``, the policies G(c) in their shapes."""
        scaled = self.command_features(commands)
        pieces = []
        for i, layer in enumerate(self.layers):
            prefix = f"layers.{i}."
            pieces += layer.generate({n[len(prefix):]: t for n, t in params.items() if n.startswith(prefix)}, scaled)
        return pieces

    def forward(self, commands: torch.Tensor) -> torch.Tensor:
        """``commands [B]`` raw returns -> ``[B, D]`` deterministic policies G(c)."""
        return policy.flatten(self.policy_layers(dict(self.named_parameters()), commands))

    def sample(self, rng: torch.Generator, commands: torch.Tensor) -> torch.Tensor:
        """``theta = G(c) + eps``, ``eps`` Gaussian with the std of ``population_std`` (``noise_std`` per weight with
        the flat layout), the B commands drawn as one population: ``[B, D]``."""
        mean = self.forward(commands)
        noise = torch.randn(mean.shape, generator=rng, device=mean.device, dtype=mean.dtype)
        scale = population_std(self.spec, self.noise_std, self.noise_layout, len(commands)).to(mean)
        return mean + scale * noise
