"""The flat policy layout (docs/paper.md) and its batched forwards in numpy and JAX."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from envs import policy
from tests.reference import mlp_action


@pytest.mark.parametrize("obs_dim, act_dim, expected", [(11, 3, 69_635), (8, 2, 68_610), (4, 1, 67_329),
                                                        (2, 1, 66_817)])
def test_parameter_counts(obs_dim, act_dim, expected):
    assert policy.num_params(obs_dim, act_dim) == expected


def test_layout_order_and_shapes():
    names = [name for name, _ in policy.param_shapes(11, 3)]
    assert names == ["W1", "b1", "W2", "b2", "W3", "b3"]
    shapes = dict(policy.param_shapes(11, 3))
    assert shapes["W1"] == (256, 11) and shapes["W3"] == (3, 256) and shapes["b3"] == (3,)


def test_unflatten_reads_weights_as_out_by_in_rows():
    flat = np.arange(policy.num_params(2, 1), dtype=np.float64)[None]
    w1, b1, *_ = policy.unflatten(flat, 2, 1)
    assert w1[0, 0, 1] == 1.0 and w1[0, 1, 0] == 2.0  # row-major (out, in)
    assert b1[0, 0] == 512.0


@pytest.mark.parametrize("xp", [np, jnp], ids=["numpy", "jax"])
def test_batched_forward_matches_one_at_a_time(xp):
    rng = np.random.default_rng(0)
    params = policy.random_params(rng, 5, 11, 3)
    obs = rng.standard_normal((5, 2, 11)).astype(np.float32)
    actions = np.asarray(policy.forward(xp.asarray(params), xp.asarray(obs), 2.5, 11, 3, xp))
    assert actions.shape == (5, 2, 3)
    for p in range(5):
        for e in range(2):
            np.testing.assert_allclose(actions[p, e], mlp_action(params[p], obs[p, e], 11, 3, 2.5), rtol=1e-5, atol=1e-6)
    assert np.abs(actions).max() <= 2.5


@pytest.mark.parametrize("shared", [True, False], ids=["probing-states", "own-observations"])
def test_torch_forward_matches_the_reference_in_value_gradient_and_under_vmap(shared):
    from envs.tasks import TASKS
    from fastgen import policy as torch_policy

    spec = TASKS["hopper"].spec
    rng = np.random.default_rng(1)
    params = torch.from_numpy(policy.random_params(rng, 4, 11, 3))
    obs = torch.from_numpy(rng.standard_normal((5, 11) if shared else (4, 5, 11)).astype(np.float32))
    actions = torch_policy.forward(params, obs, spec)  # the bias as the product's initial value (baddbmm)
    assert actions.shape == (4, 5, 3)
    for p in range(4):
        for e in range(5):
            expected = mlp_action(params[p].numpy(), (obs[e] if shared else obs[p, e]).numpy(), 11, 3,
                                  spec.action_bound)
            np.testing.assert_allclose(actions[p, e].numpy(), expected, rtol=1e-5, atol=1e-6)
    # gradients in the weights and the observations equal those of the plain matmul + bias
    pieces = [t.clone().requires_grad_(True) for t in torch_policy.unflatten(params, spec)]
    obs_grad = obs.clone().requires_grad_(True)
    plain = policy.apply(pieces, obs_grad, spec.action_bound, torch, torch.tanh)
    ours = torch_policy.apply(pieces, obs_grad, spec)
    weights = torch.randn(plain.shape)
    for got, want in zip(torch.autograd.grad((ours * weights).sum(), [*pieces, obs_grad]),
                         torch.autograd.grad((plain * weights).sum(), [*pieces, obs_grad])):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    # vmapped over a leading seed dimension (the learner's GPU path) = each seed alone
    seeds = [torch.stack([p, p.flip(0)]) for p in torch_policy.unflatten(params, spec)]
    batched = torch.func.vmap(lambda *ps: torch_policy.apply(list(ps), obs, spec))(*seeds)
    torch.testing.assert_close(batched[0], actions)
    torch.testing.assert_close(batched[1], torch_policy.apply([s[1] for s in seeds], obs, spec))


def test_random_params_follow_torch_linear_default():
    params = policy.random_params(np.random.default_rng(0), 64, 11, 3)
    w1, b1, w2, *_ = policy.unflatten(params, 11, 3)
    assert np.abs(w1).max() <= 1 / np.sqrt(11) and np.abs(w1).max() > 0.9 / np.sqrt(11)
    assert np.abs(b1).max() <= 1 / np.sqrt(11)
    assert np.abs(w2).max() <= 1 / 16 and np.abs(w2).max() > 0.9 / 16


@pytest.mark.parametrize("native", [False, True], ids=["sigmoid-form", "torch-tanh"])
def test_torch_side_tanh_matches_torch_tanh_in_value_gradient_and_under_vmap(monkeypatch, native):
    from fastgen import policy as torch_policy
    from fastgen.policy import tanh

    monkeypatch.setattr(torch_policy, "NATIVE_TANH_ON_CPU", native)  # both CPU implementations, on any CPU
    x = torch.cat([torch.linspace(-60, 60, 2001), torch.randn(4999) * 3]).requires_grad_(True)
    y = tanh(x)
    torch.testing.assert_close(y, torch.tanh(x), rtol=0, atol=2.5e-7)
    assert y.abs().max() <= 1.0  # saturates to +-1, no overflow
    (grad,) = torch.autograd.grad(y.sum(), x)
    (expected,) = torch.autograd.grad(torch.tanh(x).sum(), x)
    torch.testing.assert_close(grad, expected, rtol=0, atol=5e-7)
    batched = torch.func.vmap(tanh)(x.detach().view(7, -1))
    torch.testing.assert_close(batched.flatten(), y.detach(), rtol=0, atol=0)
    assert (y.grad_fn.name() == "TanhBackward0") is native  # the implementation the setting names ran
    half = x.detach().bfloat16().requires_grad_(True)  # under --precision bfloat16
    y_half = tanh(half)
    assert y_half.dtype == torch.bfloat16
    torch.testing.assert_close(y_half, torch.tanh(half), rtol=0, atol=2**-8)  # one bfloat16 rounding
    (grad_half,) = torch.autograd.grad(y_half.float().sum(), half)
    (expected_half,) = torch.autograd.grad(torch.tanh(half).float().sum(), half)
    torch.testing.assert_close(grad_half, expected_half, rtol=0, atol=2**-6)  # 1 - y^2 of a rounded y


def test_the_cpu_vendor_is_read_from_cpuinfo(tmp_path):
    from fastgen import runtime

    for vendor, intel in (("GenuineIntel", True), ("AuthenticAMD", False)):
        (tmp_path / "cpuinfo").write_text(f"processor\t: 0\nvendor_id\t: {vendor}\nflags\t\t: fpu avx2\n")
        assert runtime.intel_cpu(str(tmp_path / "cpuinfo")) is intel
    assert runtime.intel_cpu(str(tmp_path / "missing")) is False
