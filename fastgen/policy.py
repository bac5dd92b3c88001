"""The policy layout on the torch side: many flat weight vectors applied at once.

``envs.policy`` describes the layout once (order, shapes, forward); its array code runs unchanged
on torch tensors, so the evaluator's probing forward and the engines' rollout forward are the same
function by construction. Only two operations differ in implementation: on a non-Intel CPU torch's
tanh is computed as ``2 sigmoid(2x) - 1`` (``tanh``, within 2.5e-7), which is 2.3x faster there, and each
layer's ``W h + b`` is one ``baddbmm`` (``affine``).
"""

import torch

from envs import policy as layout
from envs.spec import EnvSpec
from fastgen import runtime

# torch's CPU tanh calls MKL's vector math, fast on Intel CPUs only. On a [16, 256, 200] tensor, one thread:
# Intel Xeon (AVX-512, AMX) tanh 0.43 ms against 1.52 ms for 2 sigmoid(2x) - 1 (0.29 against 1.50 with torch's
# AVX2 kernels forced); AMD EPYC Zen 3 (AVX2, 2 threads) 1.91 against 0.83 ms.
NATIVE_TANH_ON_CPU = runtime.intel_cpu()


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
    return layout.apply(pieces, obs, spec.action_bound, torch, tanh, affine)


def affine(weight: torch.Tensor, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``weight [P, out, in]``, ``h [P, in, E]`` (or ``[in, E]``, shared), ``bias [P, out]`` -> ``W h + b [P, out, E]``
    as one ``baddbmm``: the bias is the product's initial value, not a pass of its own over ``[P, out, E]``, and
    under bfloat16 autocast the layer stays bfloat16 (a float32 bias would promote it, and its tanh, to float32).
    Hopper updates, 2 threads, Intel Xeon, 5 interleaved pairs, medians: evaluator 9.8 -> 8.7 ms in float32,
    9.3 -> 6.8 ms in bfloat16; bfloat16 generator 30.8 -> 22.9 ms (float32 generator within the noise)."""
    return torch.baddbmm(bias[:, :, None], weight, h.expand(weight.shape[0], *h.shape[-2:]))


def tanh(x: torch.Tensor) -> torch.Tensor:
    """``torch.tanh``; on a non-Intel CPU the same function as ``2 sigmoid(2x) - 1`` (within 2.5e-7)."""
    return _Tanh.apply(x) if x.device.type == "cpu" and not NATIVE_TANH_ON_CPU else torch.tanh(x)


class _Tanh(torch.autograd.Function):
    """tanh as ``2 sigmoid(2x) - 1``, differentiated by torch's own tanh backward.

    On the CPU torch's tanh is its slowest elementwise op: for the evaluator's ``[16, 256, 200]`` hidden layer
    it took 1.91 ms against 0.83 ms this way (2-core AMD EPYC Zen 3, AVX2, 2 threads), twice per policy
    forward, in every evaluator and generator update."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x * 2).mul_(2).sub_(1)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


def flatten(pieces: list[torch.Tensor]) -> torch.Tensor:
    """``[W1 [N, ...], b1 [N, ...], ...]`` -> ``[N, D]`` in the layout's order (one copy)."""
    return torch.cat([p.flatten(1) for p in pieces], dim=1)


def num_params(spec: EnvSpec) -> int:
    return layout.num_params(spec.obs_dim, spec.act_dim)


def reframe(params: torch.Tensor, before: tuple | None, after: tuple | None, spec: EnvSpec) -> torch.Tensor:
    """``params [N, D]`` re-expressed for other observation statistics: acting on observations normalised with
    ``after = (mean, std)``, each returned policy acts exactly as ``params`` did with ``before``; None stands for
    raw observations (mean 0, std 1). Only the first layer changes: ``W1 <- W1 diag(std_after / std_before)``,
    ``b1 <- b1 + W1 (mean_after - mean_before) / std_before``, computed in float64 -> ``[N, D]`` (a new tensor)."""
    (mean_before, std_before), (mean_after, std_after) = (_statistics(s, spec, params.device) for s in (before, after))
    out = params.clone()
    w1, b1 = unflatten(out, spec)[:2]  # views into out: [N, H, obs_dim], [N, H]
    w1_wide = w1.double()
    b1.copy_(b1.double() + w1_wide @ ((mean_after - mean_before) / std_before))
    w1.copy_(w1_wide * (std_after / std_before))
    return out


def _statistics(stats: tuple | None, spec: EnvSpec, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean [obs_dim], std [obs_dim])`` as float64 tensors; None: raw observations (0, 1)."""
    if stats is None:
        return torch.zeros(spec.obs_dim, dtype=torch.float64, device=device), torch.ones(
            spec.obs_dim, dtype=torch.float64, device=device)
    return tuple(torch.as_tensor(s, dtype=torch.float64, device=device) for s in stats)
