"""The policy the generator emits: a deterministic tanh MLP over a flat weight vector.

Layout (docs/paper.md, "The generated policy"): ``obs -> 256 -> 256 -> act``, tanh hidden and output layers, the
output scaled by the action bound, parameters flat in the order ``[W1, b1, W2, b2, W3, b3]`` with
each ``W`` stored ``(out, in)`` row-major. Hopper: 69,635 parameters. The observation is normalised
outside the weights. This module is the one description of that layout; the ``cpu`` engine's numpy
forward, the ``mjx`` engine's JAX forward and the torch side all read it from here.
"""

import math

import numpy as np

HIDDEN = (256, 256)


def layer_sizes(obs_dim: int, act_dim: int, hidden=HIDDEN) -> list[tuple[int, int]]:
    """``(out, in)`` of each linear layer."""
    widths = [obs_dim, *hidden, act_dim]
    return [(widths[i + 1], widths[i]) for i in range(len(widths) - 1)]


def param_shapes(obs_dim: int, act_dim: int, hidden=HIDDEN) -> list[tuple[str, tuple[int, ...]]]:
    """Names and shapes in flat order: ``[("W1", (256, obs)), ("b1", (256,)), ...]``."""
    shapes = []
    for i, (out, inp) in enumerate(layer_sizes(obs_dim, act_dim, hidden), start=1):
        shapes += [(f"W{i}", (out, inp)), (f"b{i}", (out,))]
    return shapes


def num_params(obs_dim: int, act_dim: int, hidden=HIDDEN) -> int:
    """Length ``D`` of one flat weight vector."""
    return sum(math.prod(shape) for _, shape in param_shapes(obs_dim, act_dim, hidden))


def unflatten(params, obs_dim: int, act_dim: int, hidden=HIDDEN) -> list:
    """``params [P, D]`` -> ``[W1 [P, 256, obs], b1 [P, 256], ...]`` as views (no copy in numpy)."""
    pieces, offset = [], 0
    for _, shape in param_shapes(obs_dim, act_dim, hidden):
        size = math.prod(shape)
        pieces.append(params[:, offset : offset + size].reshape(params.shape[0], *shape))
        offset += size
    return pieces


def forward(params, obs, action_bound: float, obs_dim: int, act_dim: int, xp, hidden=HIDDEN):
    """Actions of P policies, each on its own E observations.

    Args:
        params: ``[P, D]`` flat weights.
        obs: ``[P, E, obs_dim]`` normalised observations, already in the weights' dtype.
        action_bound: the tanh output is multiplied by this.
        xp: ``numpy`` or ``jax.numpy``.

    Returns:
        ``[P, E, act_dim]`` actions.
    """
    return apply(unflatten(params, obs_dim, act_dim, hidden), obs, action_bound, xp)


def apply(pieces: list, obs, action_bound: float, xp, tanh=None, affine=None):
    """The forward on weights already in their shapes: ``pieces = [W1 [P, 256, obs], b1 [P, 256], ...]``
    (``unflatten``'s output, or a generator's layers); ``obs [P, E, obs_dim]``, or ``[E, obs_dim]`` shared
    by all P policies; -> ``[P, E, act_dim]``. ``tanh`` and ``affine`` (``affine(W [P, out, in], h [P, in, E]
    or [in, E], b [P, out]) -> W h + b [P, out, E]``): the operations' implementations, by default the plain
    ``xp`` expressions; the torch side passes faster ones (``fastgen.policy``)."""
    tanh = tanh or xp.tanh
    affine = affine or (lambda weight, h, bias: xp.matmul(weight, h) + bias[:, :, None])
    h = xp.swapaxes(obs, -1, -2)  # [P, in, E] (or [in, E]): one matrix product per policy
    for weight, bias in zip(pieces[0::2], pieces[1::2]):
        h = tanh(affine(weight, h, bias))
    return xp.swapaxes(h, 1, 2) * action_bound


def random_params(rng: np.random.Generator, count: int, obs_dim: int, act_dim: int,
                  hidden=HIDDEN, dtype=np.float32) -> np.ndarray:
    """``[count, D]`` policies initialised as PyTorch's ``nn.Linear`` default: U(+-1/sqrt(fan_in))."""
    columns = []
    for name, shape in param_shapes(obs_dim, act_dim, hidden):
        fan_in = shape[1] if name.startswith("W") else None
        if fan_in is None:  # a bias takes the fan-in of its weight
            fan_in = columns[-1][1]
        bound = 1.0 / math.sqrt(fan_in)
        columns.append((rng.uniform(-bound, bound, (count, math.prod(shape))).astype(dtype), fan_in))
    return np.concatenate([c for c, _ in columns], axis=1)


def controller(params, obs_mean, obs_std, spec):
    """``envs.play``'s controller of ``params [B, D]`` flat policies (numpy, float32), each acting on its own
    episode with its observation statistics ``obs_mean``/``obs_std [B, obs_dim]``; ``spec``: the task's EnvSpec."""
    params = np.asarray(params, np.float32)
    obs_mean, obs_std = np.asarray(obs_mean, np.float64), np.asarray(obs_std, np.float64)

    def act(state):
        normalised = ((np.asarray(state.obs, np.float64) - obs_mean) / obs_std).astype(np.float32)
        return forward(params, normalised[:, None], spec.action_bound, spec.obs_dim, spec.act_dim, np)[:, 0]

    return act
