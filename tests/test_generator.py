"""Generator G(c): sizes, tile placement against a per-tile loop (paper eqs. 5-6), scaling, noise."""

import math

import pytest
import torch

from envs.tasks import TASKS
from fastgen.poligen.generator import EMBED_DIM, TILE, Generator

HOPPER = TASKS["hopper"].spec


def test_hopper_sizes():
    generator = Generator(HOPPER)
    assert sum(p.numel() for p in generator.parameters()) == 544_771
    assert generator(torch.zeros(3)).shape == (3, 69_635)


def _tile_loop_reference(layer, command_scaled: float):
    """One tile at a time: W[m-th row block, n-th column block] = H(z_mn, c); b = mean_n Hb(z_mn, c)."""
    rows = []
    biases = []
    for m in range(layer.tiles_out):
        row, bias_parts = [], []
        for n in range(layer.tiles_in):
            z = layer.embeddings[m * layer.tiles_in + n]
            x = torch.cat([z, torch.tensor([command_scaled])])
            row.append(layer.weight_net(x).reshape(layer.tile_h, layer.tile_w))
            bias_parts.append(layer.bias_net(x))
        rows.append(torch.cat(row, dim=1))
        biases.append(torch.stack(bias_parts).mean(0))
    return torch.cat(rows, dim=0) * layer.scale, torch.cat(biases) * layer.scale


def test_batched_tiles_equal_per_tile_loop():
    torch.manual_seed(0)
    generator = Generator(TASKS["swimmer"].spec)
    commands = torch.tensor([12.0, 250.0])
    flat = generator(commands)
    offset = 0
    for layer in generator.layers:
        weight, bias = _tile_loop_reference(layer, float(commands[1]) * generator.command_scale)
        w_size, b_size = weight.numel(), bias.numel()
        torch.testing.assert_close(flat[1, offset : offset + w_size], weight.flatten(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(flat[1, offset + w_size : offset + w_size + b_size], bias, rtol=1e-5, atol=1e-6)
        offset += w_size + b_size
    assert offset == flat.shape[1]


def test_output_scaling_is_two_over_sqrt_fan_in():
    torch.manual_seed(1)
    scaled = Generator(HOPPER, output_scaling=True)
    torch.manual_seed(1)
    raw = Generator(HOPPER, output_scaling=False)
    c = torch.tensor([100.0])
    a, b = scaled(c), raw(c)
    w1 = 256 * 11  # the scale is folded into the output layers: equal up to float32 rounding, not bit for bit
    torch.testing.assert_close(a[0, :w1], b[0, :w1] * (2 / math.sqrt(11)), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a[0, -3:], b[0, -3:] * (2 / math.sqrt(256)), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(a[0, :w1], b[0, :w1], rtol=0.1)
    assert TILE == 16 and EMBED_DIM == 8


def test_command_changes_the_policy_and_noise_has_the_set_std():
    torch.manual_seed(2)
    generator = Generator(HOPPER, noise_std=0.1)
    assert not torch.allclose(generator(torch.tensor([0.0])), generator(torch.tensor([3000.0])))
    rng = torch.Generator().manual_seed(0)
    with torch.no_grad():
        commands = torch.full((4,), 50.0)
        noise = generator.sample(rng, commands) - generator(commands)
    assert abs(noise.std().item() - 0.1) < 0.002 and abs(noise.mean().item()) < 0.002


def test_command_width_rescales_the_command_and_defaults_to_the_return_range():
    torch.manual_seed(3)
    default = Generator(HOPPER)
    narrow = Generator(HOPPER, command_width=400.0)
    narrow.load_state_dict(default.state_dict())
    low, high = HOPPER.return_range
    assert default.command_scale == 1.0 / (high - low) == 1.0 / 3100.0
    with torch.no_grad():  # a 400-wide command is the default generator's command times 3100 / 400
        torch.testing.assert_close(narrow(torch.tensor([10.0, 120.0])), default(torch.tensor([77.5, 930.0])))


def test_fan_in_noise_is_the_output_scaling_of_each_weights_layer():
    """--generator.noise-layout fan-in: std x 2/sqrt(fan-in) on each layer's weights and bias, laid out as the policy
    (checked through envs.policy.unflatten, not the generator's own layout); flat: std everywhere."""
    from envs import policy as layout
    from fastgen.poligen.generator import exploration_std

    flat = exploration_std(HOPPER, 0.1, "flat")
    assert flat.shape == (69_635,) and torch.all(flat == 0.1)
    pieces = layout.unflatten(exploration_std(HOPPER, 0.1, "fan-in").numpy()[None], HOPPER.obs_dim, HOPPER.act_dim)
    fan_ins = [HOPPER.obs_dim, HOPPER.obs_dim, 256, 256, 256, 256]  # W1, b1, W2, b2, W3, b3
    for piece, fan_in in zip(pieces, fan_ins, strict=True):
        assert piece.min() == piece.max() == pytest.approx(0.1 * 2 / math.sqrt(fan_in), rel=1e-6)


def test_sampled_noise_follows_the_layout():
    torch.manual_seed(4)
    generator = Generator(HOPPER, noise_std=0.2, noise_layout="fan-in")
    with torch.no_grad():
        commands = torch.full((8,), 50.0)
        noise = generator.sample(torch.Generator().manual_seed(1), commands) - generator(commands)
    hidden = noise[:, 12 * 256:12 * 256 + 256 * 256]  # W2: after W1 [256, 11] and b1 [256]
    assert abs(hidden.std().item() - 0.2 / 8) < 0.0005


def test_mixed_noise_gives_alternate_pairs_the_flat_and_the_fan_in_std():
    """--generator.noise-layout mixed: policies 2j, 2j + 1 (a mirrored pair) flat for even j, fan-in for odd j, in the
    trainer's population (P = 6, not a multiple of 4) and in Generator.sample alike; an unknown layout is refused."""
    from fastgen.poligen.generator import exploration_std, population_std

    flat, fan_in = exploration_std(HOPPER, 0.1, "flat"), exploration_std(HOPPER, 0.1, "fan-in")
    rows = population_std(HOPPER, 0.1, "mixed", 6)
    assert rows.shape == (6, 69_635)
    for i, expected in enumerate([flat, flat, fan_in, fan_in, flat, flat]):
        assert torch.equal(rows[i], expected), i
    assert torch.equal(population_std(HOPPER, 0.1, "fan-in", 3), fan_in.expand(3, -1))
    torch.manual_seed(4)
    generator = Generator(HOPPER, noise_std=0.2, noise_layout="mixed")
    with torch.no_grad():
        commands = torch.full((4,), 50.0)
        noise = generator.sample(torch.Generator().manual_seed(1), commands) - generator(commands)
    hidden = noise[:, 12 * 256:12 * 256 + 256 * 256]  # W2
    assert hidden.std(dim=1).tolist() == pytest.approx([0.2, 0.2, 0.2 / 8, 0.2 / 8], rel=0.02)  # fan-in: std / 8
    with pytest.raises(ValueError, match="unknown noise layout 'wide'; choose one of flat, fan-in, mixed"):
        population_std(HOPPER, 0.1, "wide", 2)
    with pytest.raises(ValueError, match="unknown per-weight noise layout 'mixed'; choose one of flat, fan-in"):
        exploration_std(HOPPER, 0.1, "mixed")


def test_an_unknown_noise_layout_is_one_line():
    from fastgen.config import Config
    from fastgen.poligen.settings import GeneratorConfig

    with pytest.raises(ValueError, match=r"unknown --generator.noise-layout 'layer'; choose one of flat, fan-in, mixed"):
        Config(env="hopper", generator=GeneratorConfig(noise_layout="layer")).validate()
