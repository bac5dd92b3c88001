"""The ``mjx`` engine traces its matrix products at full precision, and only its own.

On A100/H100 GPUs JAX's default precision rounds float32 matmul operands to TF32, so the policy the
rollout simulates would not be the float32 policy the torch side evaluates. The precision is stamped
on each ``dot_general`` when it is traced, so the lowered program shows it on any backend, this
CPU included; what XLA then does with DEFAULT differs by backend, which is why it must not be DEFAULT.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.policy import HIDDEN, random_params


def _dot_precisions(hlo: str) -> list[tuple[str, str]]:
    """``(precision, operand types)`` of every ``dot_general`` in StableHLO text."""
    found = re.findall(r"stablehlo\.dot_general .*?precision = \[(\w+), \w+\].*?: \((.*?)\) ->", hlo)
    assert found and len(found) == hlo.count("stablehlo.dot_general"), "a dot_general without a precision"
    return found


@pytest.fixture(scope="module")
def env():
    return envs.make("inverted_pendulum", "mjx")


def test_rollout_policy_and_physics_products_are_highest(env):
    spec, P = env.spec, 2
    params = jnp.asarray(random_params(np.random.default_rng(0), P, spec.obs_dim, spec.act_dim))
    mean, std = jnp.zeros((P, spec.obs_dim)), jnp.ones((P, spec.obs_dim))
    hlo = env._rollout.lower(params, mean, std, jnp.stack([jax.random.key(0)]), episodes=1, per_group=P,
                             stages=(P,)).as_text()
    dots = _dot_precisions(hlo)
    width = HIDDEN[0]
    policy = [types for _, types in dots if f"x{width}x" in types]  # [P, 256, in] and [P, act, 256] weights
    assert len(policy) == 3, policy  # the policy's three layers, once each in the loop body
    assert {precision for precision, _ in dots} == {"HIGHEST"}, [d for d in dots if d[0] != "HIGHEST"]


def test_step_products_are_highest_and_the_setting_stays_inside(env):
    state = jax.eval_shape(env._reset, jax.random.key(1), 2)  # shapes only: nothing is compiled
    hlo = env._step.lower(state, jax.ShapeDtypeStruct((2, env.spec.act_dim), jnp.float32)).as_text()
    assert {precision for precision, _ in _dot_precisions(hlo)} == {"HIGHEST"}
    assert jax.config.jax_default_matmul_precision is None  # traced inside the context, which is gone
    a = jnp.ones((3, 3))
    user = jax.jit(lambda x: x @ x).lower(a).as_text()  # someone else's product in the same process
    assert {precision for precision, _ in _dot_precisions(user)} == {"DEFAULT"}
