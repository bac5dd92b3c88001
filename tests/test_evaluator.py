"""Evaluator V(theta) and the torch side of the policy layout."""

import jax.numpy as jnp
import numpy as np
import torch

from envs import policy as layout
from envs.tasks import TASKS
from fastgen import policy
from fastgen.poligen.evaluator import Evaluator

HOPPER = TASKS["hopper"].spec


def test_hopper_evaluator_size_and_probe_init():
    evaluator = Evaluator(HOPPER)
    assert sum(p.numel() for p in evaluator.parameters()) == 222_105
    assert evaluator.probes.shape == (200, 11)
    assert 0.0 <= evaluator.probes.min() and evaluator.probes.max() < 1.0


def test_torch_and_jax_forwards_give_the_same_actions():
    params = layout.random_params(np.random.default_rng(0), 3, 11, 3)
    obs = np.random.default_rng(1).standard_normal((3, 5, 11)).astype(np.float32)
    torch_actions = policy.forward(torch.from_numpy(params), torch.from_numpy(obs), HOPPER).numpy()
    jax_actions = np.asarray(layout.forward(jnp.asarray(params), jnp.asarray(obs), 1.0, 11, 3, jnp))
    np.testing.assert_allclose(torch_actions, jax_actions, rtol=1e-5, atol=1e-6)


def test_prediction_reads_the_fingerprint_of_each_policy():
    torch.manual_seed(0)
    evaluator = Evaluator(HOPPER)
    params = torch.from_numpy(layout.random_params(np.random.default_rng(2), 4, 11, 3))
    fingerprints = evaluator.probing_actions(params)
    assert fingerprints.shape == (4, 600)
    one = policy.forward(params[2:3], evaluator.probes, HOPPER).flatten(1)
    torch.testing.assert_close(fingerprints[2:3], one)
    predictions = evaluator(params)
    assert predictions.shape == (4,)
    torch.testing.assert_close(predictions, evaluator.head(fingerprints).squeeze(1))


def test_prediction_stays_float32_under_bfloat16_autocast():
    """--precision bfloat16 rounds V's hidden products, never its prediction (a return of 3000 would round to 16s)."""
    torch.manual_seed(0)
    evaluator = Evaluator(HOPPER)
    with torch.no_grad():
        evaluator.head[4].bias.fill_(3000.0)  # a trained V's scale
        theta = torch.randn(8, policy.num_params(HOPPER)) * 0.1
        full = evaluator(theta)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            rounded = evaluator(theta)
    assert rounded.dtype == torch.float32 and not torch.equal(rounded, full)
    assert (rounded % 16 != 0).any()  # not bfloat16 values at this scale
    torch.testing.assert_close(rounded, full, rtol=0, atol=0.5)
