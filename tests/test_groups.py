"""``envs.rollout_groups`` (G populations in one rollout) and the ``mjx`` rollout sharded over devices.

A group's result must be the very result of ``envs.rollout`` on that group alone (which the parity
tests tie to Gymnasium): the same reset states from its key, its own normalisation and its own
observation statistics. Sharding is checked in a process with four XLA:CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=4``) against the same rollout on one device.
"""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import envs
from envs.policy import random_params

FIELDS = ("episode_lengths", "obs_count")
SUMS = ("episode_returns", "episode_returns_no_bonus", "obs_sum", "obs_sumsq")
SHARDED_PROCESS = len(jax.devices()) == 4  # this file re-run with four host devices


def _population(env, groups: int, per_group: int, seed: int):
    spec, rng = env.spec, np.random.default_rng(seed)
    params = random_params(rng, groups * per_group, spec.obs_dim, spec.act_dim).reshape(groups, per_group, -1)
    mean = rng.normal(scale=0.2, size=(groups, spec.obs_dim))
    std = rng.uniform(0.5, 2.0, size=(groups, spec.obs_dim))
    keys = [jax.random.key(seed * 100 + g) for g in range(groups)]
    return params, mean, std, keys


def _assert_same(grouped, single, sums_rtol: float = 0.0):
    """Episode lengths and counts equal; returns and observation sums equal within ``sums_rtol`` (0: bit for bit)."""
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(grouped, field), getattr(single, field), err_msg=field)
    for field in SUMS:
        np.testing.assert_allclose(getattr(grouped, field), getattr(single, field), rtol=sums_rtol, err_msg=field)


@pytest.mark.parametrize("name, engine", [("hopper", "cpu"), ("inverted_pendulum", "cpu"), ("mountain_car", "cpu"),
                                          ("mountain_car", "mjx")])
@pytest.mark.parametrize("episodes", [1, 3])
def test_each_group_is_its_own_rollout(name, engine, episodes):
    env = envs.make(name, engine)
    params, mean, std, keys = _population(env, groups=3, per_group=4, seed=1)
    grouped = envs.rollout_groups(env, params, mean, std, keys, episodes=episodes)
    assert len(grouped) == 3
    for g in range(3):  # mjx: float32-close (XLA may round a product over a batch of another size otherwise)
        _assert_same(grouped[g], envs.rollout(env, params[g], mean[g], std[g], keys[g], episodes=episodes),
                     sums_rtol=1e-5 if engine == "mjx" else 0.0)
    # the groups really differ (own keys, own normalisation): no group is a copy of another
    assert not np.array_equal(grouped[0].obs_sum, grouped[1].obs_sum)


def test_groups_take_a_jax_key_array_and_torch_weights():
    import torch

    env = envs.make("mountain_car", "cpu")
    params, mean, std, keys = _population(env, groups=2, per_group=3, seed=2)
    from_list = envs.rollout_groups(env, params, mean, std, keys)
    from_array = envs.rollout_groups(env, torch.from_numpy(params), mean, std, jax.numpy.stack(keys))
    for a, b in zip(from_list, from_array):
        _assert_same(a, b)


@pytest.mark.parametrize("change, message", [
    (lambda p, m, s, k: (p[0], m, s, k), "params must be \\[G, P, D\\]"),
    (lambda p, m, s, k: (p, m[:1], s, k), "obs_mean must have shape \\(2, 2\\)"),
    (lambda p, m, s, k: (p, m, -s, k), "obs_std must be > 0"),
    (lambda p, m, s, k: (p, m, s, k[:1]), "need one key per group: 2 groups, got 1 keys"),
    (lambda p, m, s, k: (np.where(np.arange(p.shape[2]) == 5, np.nan, p).astype(np.float32), m, s, k),
     "params of policy 0 .* contain NaN"),
])
def test_grouped_input_errors_name_the_bad_value(change, message):
    env = envs.make("mountain_car", "cpu")
    args = change(*_population(env, groups=2, per_group=3, seed=3))
    with pytest.raises(ValueError, match=message):
        envs.rollout_groups(env, *args)


if SHARDED_PROCESS:

    @pytest.mark.parametrize("name", ["inverted_pendulum", "mountain_car"])
    def test_sharded_rollout_equals_one_device(name):
        sharded = envs.make(name, "mjx")
        plain = envs.make(name, "mjx", devices=jax.devices()[:1])
        assert sharded.devices.size == 4 and plain.devices.size == 1
        # 2 x 3 = 6 policies: padded to 8, two policies per device
        params, mean, std, keys = _population(sharded, groups=2, per_group=3, seed=4)
        a = envs.rollout_groups(sharded, params, mean, std, keys, episodes=2)
        b = envs.rollout_groups(plain, params, mean, std, keys, episodes=2)
        for x, y in zip(a, b):
            # per-environment results are bitwise equal; only the final float32 sums over environments
            # are reduced in another order
            _assert_same(x, y, sums_rtol=1e-5)
        # the compiled rollout really is partitioned: its inputs live on four devices, a quarter each
        flat = jax.device_put(np.zeros((8, params.shape[2]), np.float32), sharded._rows)
        assert {shard.data.shape for shard in flat.addressable_shards} == {(2, params.shape[2])}
        assert len(flat.sharding.device_set) == 4
        lowered = sharded._rollout.lower(flat, flat[:, : sharded.spec.obs_dim], flat[:, : sharded.spec.obs_dim] + 1,
                                         jax.numpy.stack(keys), episodes=2, per_group=3, stages=(12,))
        assert "all-reduce" in lowered.compile().as_text()  # "anyone alive?" across devices

    def test_single_population_is_padded_and_sharded():
        env = envs.make("mountain_car", "mjx")
        plain = envs.make("mountain_car", "mjx", devices=jax.devices()[:1])
        params, mean, std, keys = _population(env, groups=1, per_group=5, seed=5)
        a = envs.rollout(env, params[0], mean[0], std[0], keys[0])
        b = envs.rollout(plain, params[0], mean[0], std[0], keys[0])
        _assert_same(a, b, sums_rtol=1e-5)
        assert a.returns.shape == (5,)  # the three padding policies are not reported

else:

    def _run_sharded(select: str, expected: int):
        env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", select],
                             env=env, capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
        summary = run.stdout.strip().splitlines()[-1]
        assert summary.startswith(f"{expected} passed"), summary

    def test_sharded_over_four_host_devices():
        """This file's sharded cases on mountain_car, in a process that sees four XLA:CPU devices."""
        _run_sharded("shard and not inverted_pendulum", 2)

    @pytest.mark.slow
    def test_sharded_over_four_host_devices_every_task():
        """All of this file's sharded cases (inverted_pendulum's MJX physics too), on four XLA:CPU devices."""
        _run_sharded("shard", 3)


SLOW_MJX = pytest.mark.slow  # compiling a locomotion task's MJX rollout: minutes on 2 cores


@pytest.mark.parametrize("name, engine", [("hopper", "cpu"), ("swimmer", "cpu"), ("mountain_car", "cpu"),
                                          ("mountain_car", "mjx"), pytest.param("hopper", "mjx", marks=SLOW_MJX),
                                          pytest.param("swimmer", "mjx", marks=SLOW_MJX), ("hopper", "warp"),
                                          pytest.param("swimmer", "warp", marks=SLOW_MJX)])
def test_results_do_not_depend_on_the_slots(name, engine):
    """A (policy, episode) job's result depends only on (key, policy, episode): the same with one slot per job, with
    a few slots refilled as episodes end (cpu and warp: bit for bit; mjx: float32-close, see below), and for groups
    sharing the slots. 10 policies x 2 episodes on 1 or 3 slots: P is not a multiple of S. Swimmer's episodes all
    last 1000 steps, so on one slot its 20 jobs would run one after another (20k steps, most of the warp case's
    time): it runs on 3 slots only, the other tasks cover one slot; so does Warp on hopper, where one slot took
    ~25 s of the case's 39 s (AMD EPYC), while one slot refilled is checked on the cpu and mjx engines.

    MJX in float32 rounds differently for different batch shapes (XLA fuses the physics per shape); over hundreds of
    steps that moves a return by up to 2e-4 relative here (Intel Xeon), hence rtol 1e-3, while a job run with
    another policy or another episode's initial state is off by 1% or more. Swimmer's episodes never end early, so
    it does without the saturated policy: its bang-bang float32 trajectory is chaotic (35% apart across shapes)."""
    if engine == "warp":
        pytest.importorskip("mujoco_warp")
    env = envs.make(name, engine)
    params, mean, std, keys = _population(env, groups=2, per_group=5, seed=3)
    if name != "swimmer":
        params[0, 1] *= 6  # a policy whose episodes end much earlier than the others'
    every = envs.rollout_groups(env, params, mean, std, keys, episodes=2)
    assert env.last_slots["slots"] >= 20
    for slots in (3,) if name == "swimmer" or engine == "warp" else (1, 3):
        fewer = envs.rollout_groups(env, params, mean, std, keys, episodes=2, slots=slots)
        assert env.last_slots["slots"] <= (slots if engine == "mjx" else max(slots, 2))  # cpu: >= 1 per shard
        assert env.last_slots["useful_steps"] == sum(int(r.episode_lengths.sum()) for r in every)
        for a, b in zip(fewer, every):
            _assert_same(a, b, sums_rtol=1e-3 if engine == "mjx" else 0.0)
        single = envs.rollout(env, params[1], mean[1], std[1], keys[1], episodes=2, slots=slots)
        _assert_same(single, every[1], sums_rtol=1e-3 if engine == "mjx" else 0.0)


def test_fewer_slots_waste_fewer_slot_steps():
    """Refilling slots as episodes end keeps them busy: the useful share of slot-steps grows as slots shrink."""
    env = envs.make("mountain_car", "mjx")
    params, mean, std, keys = _population(env, groups=1, per_group=16, seed=4)
    params[0, ::2] *= 0  # half the policies idle near the bottom for the whole 999 steps, half may reach the goal
    shares = []
    for slots in (None, 4):
        envs.rollout(env, params[0], mean[0], std[0], keys[0], slots=slots)
        done = env.last_slots
        shares.append(done["useful_steps"] / done["slot_steps"])
    assert 0 < shares[0] <= 1 and 0 < shares[1] <= 1 and shares[1] >= shares[0]


def test_mjx_shrinks_its_batch_for_the_last_episodes(monkeypatch):
    """Once every job has started, the running slots move to smaller batches (``stage_slots``): the same results
    as one batch throughout, in fewer slot-steps. 13 policies x 2 episodes on 12 slots, stages 12, 6, 3 (stages
    from 3 slots on here; by default from 64); mountain_car's strong random policies reach the goal after
    300-930 steps or run all 999."""
    env = envs.make("mountain_car", "mjx")
    params, mean, std, keys = _population(env, groups=1, per_group=13, seed=6)
    params *= 8
    one = envs.rollout(env, params[0], mean[0], std[0], keys[0], episodes=2, slots=12)
    single = dict(env.last_slots)
    monkeypatch.setattr(envs.mjx_env, "MIN_STAGE_SLOTS", 3)
    staged = envs.rollout(env, params[0], mean[0], std[0], keys[0], episodes=2, slots=12)
    assert single["stages"] == [12] and env.last_slots["stages"] == [12, 6, 3]
    _assert_same(staged, one, sums_rtol=1e-5)
    assert env.last_slots["loop_steps"] == single["loop_steps"]  # the longest episodes set both loops' length
    assert env.last_slots["slot_steps"] < single["slot_steps"] == 12 * single["loop_steps"]
    assert env.last_slots["useful_steps"] == single["useful_steps"] == int(one.episode_lengths.sum())


def test_mjx_hands_out_at_most_refill_rows_jobs_per_step(monkeypatch):
    """A loop step gives at most ``refill_rows(S)`` free slots a job; the others wait a step, with the same results.
    16 idle policies (zero weights: every mountain_car episode runs all 999 steps) on 4 slots: the four first jobs
    end together, and handed out one per step the second wave starts at steps 999, 1000, 1001, 1002, after which
    each slot's jobs end alone: 4 x 999 + 3 loop steps instead of 4 x 999."""
    env = envs.make("mountain_car", "mjx")
    params, mean, std, keys = _population(env, groups=1, per_group=16, seed=7)
    params *= 0
    every = envs.rollout(env, params[0], mean[0], std[0], keys[0])
    assert set(every.episode_lengths.ravel().tolist()) == {999}
    all_at_once = envs.rollout(env, params[0], mean[0], std[0], keys[0], slots=4)
    assert env.last_slots["loop_steps"] == 4 * 999
    monkeypatch.setattr(envs.mjx_env, "MIN_REFILL", 1)
    capped = envs.make("mountain_car", "mjx")  # a fresh env: the first one's compiled rollout keeps its refill rows
    one_per_step = envs.rollout(capped, params[0], mean[0], std[0], keys[0], slots=4)
    assert capped.last_slots["loop_steps"] == 4 * 999 + 3
    assert capped.last_slots["slot_steps"] == 4 * capped.last_slots["loop_steps"] > capped.last_slots["useful_steps"]
    for result in (all_at_once, one_per_step):
        _assert_same(result, every, sums_rtol=1e-5)


@pytest.mark.parametrize("slots", [0, -1, 2.5, True])
def test_a_bad_slot_count_is_refused_in_one_line(slots):
    env = envs.make("mountain_car", "cpu")
    params, mean, std, keys = _population(env, groups=1, per_group=2, seed=5)
    with pytest.raises(ValueError, match=r"slots must be an integer >= 1 or None \(one per job\), got"):
        envs.rollout(env, params[0], mean[0], std[0], keys[0], slots=slots)


def test_stage_slots_halve_down_to_the_smallest_stage():
    """Each stage steps half the previous one's slots, a multiple of the device count, down to ``MIN_STAGE_SLOTS``,
    at most ``MAX_STAGES`` loops."""
    from envs.mjx_env import MAX_STAGES, MIN_STAGE_SLOTS, stage_slots

    assert stage_slots(1024) == (1024, 512, 256, 128, 64)
    assert stage_slots(100) == (100,)  # half of it would be below the smallest stage
    for slots, width in [(1000, 3), (16384, 1), (4096, 8), (130, 2)]:
        sizes = stage_slots(slots, width)
        assert sizes[0] == slots and len(sizes) <= MAX_STAGES
        assert all(later % width == 0 and MIN_STAGE_SLOTS <= later < earlier and later * 2 >= earlier
                   for earlier, later in zip(sizes, sizes[1:]))
    assert len(stage_slots(16384)) == MAX_STAGES
