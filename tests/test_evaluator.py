"""Evaluator V(theta) and the torch side of the policy layout."""

import jax.numpy as jnp
import numpy as np
import torch

from envs import policy as layout
from envs.tasks import TASKS
from fastgen import policy
from fastgen.evaluator import Evaluator

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
