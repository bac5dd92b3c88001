"""``envs.physics``: the ``gymnasium`` profile is Gymnasium's model untouched; under ``fast`` both engines step
like real Gymnasium whose model was given the documented settings (iterations 4, line search 8, eulerdamp off,
contacts with the ground plane only), and those settings change the simulation."""

import jax
import mujoco
import numpy as np
import pytest

import envs
from envs.tasks import TASKS
from envs.tasks.base import MujocoTask
from tests.reference import make_gym, physical_state

MUJOCO_TASKS = [name for name, task in TASKS.items() if isinstance(task, MujocoTask)]


def gym_with_fast_settings(gymnasium_id: str):
    """Real Gymnasium, its model set as envs/physics.py's table says (written here from that table, not by it)."""
    gym_env = make_gym(gymnasium_id)
    model = gym_env.unwrapped.model
    model.opt.iterations, model.opt.ls_iterations = 4, 8
    model.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_EULERDAMP
    for geom in range(model.ngeom):
        if model.geom_type[geom] != mujoco.mjtGeom.mjGEOM_PLANE:
            model.geom_conaffinity[geom] = 0
    return gym_env


@pytest.mark.parametrize("name", MUJOCO_TASKS)
def test_the_gymnasium_profile_is_gymnasiums_model(name):
    ours = envs.make(name, "cpu", nthread=1)._model
    theirs = make_gym(TASKS[name].spec.gymnasium_id).unwrapped.model
    assert ours.opt.iterations == theirs.opt.iterations == 100  # MuJoCo's default: no XML sets it
    assert (ours.opt.ls_iterations, ours.opt.disableflags, ours.opt.integrator) == (
        theirs.opt.ls_iterations, theirs.opt.disableflags, theirs.opt.integrator)
    np.testing.assert_array_equal(ours.geom_contype, theirs.geom_contype)
    np.testing.assert_array_equal(ours.geom_conaffinity, theirs.geom_conaffinity)


def _steps(env, gym_env, task, episodes: int, max_steps: int, rtol: float) -> int:
    rng = np.random.default_rng(0)
    bound, steps = task.spec.action_bound, 0
    for episode in range(episodes):
        gym_obs, _ = gym_env.reset(seed=episode)
        state = env.reset_to(*physical_state(gym_env, task))
        for _ in range(max_steps):
            action = rng.uniform(-bound, bound, task.spec.act_dim).astype(np.float32)
            gym_obs, gym_reward, terminated, truncated, _ = gym_env.step(action)
            state = env.step(state, action[None])
            steps += 1
            np.testing.assert_allclose(np.asarray(state.obs[0]), gym_obs, rtol=rtol, atol=rtol)
            assert float(state.reward[0]) == pytest.approx(gym_reward, rel=rtol, abs=rtol)
            assert bool(state.terminated[0]) == terminated
            if terminated or truncated:
                break
    return steps


@pytest.mark.parametrize("name", MUJOCO_TASKS)
def test_fast_cpu_steps_equal_gymnasium_with_the_fast_settings(name):
    task = TASKS[name]
    env = envs.make(name, "cpu", physics="fast", nthread=1)
    assert _steps(env, gym_with_fast_settings(task.spec.gymnasium_id), task, 5, task.spec.horizon, rtol=0) > 10


def test_fast_mjx_steps_match_gymnasium_with_the_fast_settings():
    """Hopper, float32 (the tolerance of test_parity_mjx's float32 step check): the profile reaches MJX's model."""
    task = TASKS["hopper"]
    env = envs.make("hopper", "mjx", physics="fast")
    assert _steps(env, gym_with_fast_settings(task.spec.gymnasium_id), task, 2, 100, rtol=1e-3) > 10


@pytest.mark.parametrize("name", ["walker2d", "half_cheetah"])  # the solver's cap; eulerdamp (Euler integrator)
def test_fast_changes_the_simulation(name):
    """The same random actions from the same state: the profiles' states part within an episode. (Random hoppers
    fall within ~30 steps on solves of <= 4 iterations and no self-contact: bit-identical; see the pose test.)"""
    task = TASKS[name]
    gym_env, fast = make_gym(task.spec.gymnasium_id), gym_with_fast_settings(task.spec.gymnasium_id)
    actions = np.random.default_rng(0).uniform(-1, 1, (1000, task.spec.act_dim)).astype(np.float32)
    gym_env.reset(seed=0), fast.reset(seed=0)
    gap = 0.0
    for action in actions:
        obs, *_, terminated, _, _ = gym_env.step(action)
        fast_obs, *_, fast_terminated, _, _ = fast.step(action)
        gap = max(gap, float(np.max(np.abs(obs - fast_obs))))
        if terminated or fast_terminated:
            break
    assert gap > 1e-6


def test_fast_hopper_parts_no_longer_collide_with_each_other():
    """A pose whose foot and torso overlap: Gymnasium's hopper makes a contact between them, fast none."""
    contacts = {}
    for physics in envs.physics.PROFILES:
        model = TASKS["hopper"].load_model(physics)
        data = mujoco.MjData(model)
        data.qpos[:] = model.qpos0
        data.qpos[1] = 1.5  # well above the floor
        data.qpos[3:6] = [-2.6, -2.6, 0.0]  # thigh and leg folded up against the torso (beyond their limits)
        mujoco.mj_forward(model, data)
        floor = model.geom("floor").id
        contacts[physics] = [(c.geom1, c.geom2) for c in data.contact[: data.ncon] if floor not in (c.geom1, c.geom2)]
    assert contacts["gymnasium"], "the pose should make a body-body contact in Gymnasium's hopper"
    assert contacts["fast"] == []


def test_an_unknown_profile_is_one_line():
    with pytest.raises(ValueError, match="unknown physics profile 'quick'; choose one of gymnasium, fast"):
        envs.make("hopper", "cpu", physics="quick")
    with pytest.raises(ValueError, match="unknown physics profile 'quick'"):
        envs.make("mountain_car", "mjx", physics="quick")


def test_mountain_car_is_the_same_under_both_profiles():
    key = jax.random.key(0)
    params = envs.policy.random_params(np.random.default_rng(0), 4, 2, 1)
    results = [envs.rollout(envs.make("mountain_car", "cpu", physics=p, nthread=1), params, np.zeros(2), np.ones(2),
                            key) for p in envs.physics.PROFILES]
    np.testing.assert_array_equal(results[0].returns, results[1].returns)


@pytest.mark.slow  # ~26 s of compiling: a benchmark's counts (the profiles' settings are checked above)
def test_solver_work_counts_mjx_solves_and_caps():
    """bench.solver_work's counts: RK4 solves four times per substep (MuJoCo's integrator), and under fast the
    cap of 4 iterations and 8 line-search trips holds on both engines."""
    from bench.solver_work import solver_row

    row = solver_row("inverted_pendulum", "fast", states=2)
    assert row["mjx_solves_per_step"] == 4
    assert row["mjx_linesearch_trips_per_iteration"] == 8 and row["iterations_cap"] == 4
    assert 1 <= row["mjx_iterations_max"] <= 4 and row["c_iterations_max"] <= 4


def test_loop_step_forms_simulate_the_same_steps(tmp_path):
    """bench.loop_step times the bare env.step against the same steps in a compiled loop, with and without the
    policies choosing the actions: each form must reach the state stepping by hand reaches (else it times other
    work), and the script writes its rows."""
    import jax.numpy as jnp

    from bench.loop_step import Config, actions_of, loops, main
    from envs import policy

    env = envs.make("mountain_car", "mjx")
    spec, batch = env.spec, 5
    state = env.reset(jax.random.key(3), batch)
    layers = policy.unflatten(jnp.asarray(policy.random_params(np.random.default_rng(2), batch, spec.obs_dim,
                                                                spec.act_dim)) * 8, spec.obs_dim, spec.act_dim)
    action = actions_of("random", batch, spec)
    forms = loops(env, steps=3)
    by_hand, by_policies = state, state
    for _ in range(3):
        by_hand = env.step(by_hand, action)
        by_policies = env.step(by_policies, policy.apply(layers, np.asarray(by_policies.obs)[:, None, :],
                                                         spec.action_bound, np)[:, 0])
    for name in ("bare env.step", "step in a loop"):
        np.testing.assert_allclose(forms[name](state, action, layers).obs, by_hand.obs, rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(forms["step + policies in a loop"](state, action, layers).obs, by_policies.obs,
                               rtol=1e-5)
    assert not np.allclose(by_policies.obs, by_hand.obs)  # the policies' actions are not the fixed one
    payload = main(Config(task="mountain_car", physics="gymnasium", batch=4, population=6, steps=2, repeats=1,
                          out=str(tmp_path / "loop_step.json")))
    assert [row["form"] for row in payload["rows"]][:4] == ["bare env.step", "step in a loop",
                                                          "step + policies in a loop", "bare env.step"]
    assert all(row["ms_per_step"] > 0 for row in payload["rows"]) and 0 < payload["rows"][-1]["useful_share"] <= 1
    with pytest.raises(SystemExit, match="--batch"):
        main(Config(task="mountain_car", batch=0, out=str(tmp_path / "no.json")))


def test_slot_policy_loops_compute_the_same_actions():
    """bench.slot_policy times four ways of feeding S slots their policies: in their first step all four run the
    same policies on the same observations, so they must give the same actions (else they time different work)."""
    import jax
    import jax.numpy as jnp

    from bench.slot_policy import loops
    from envs import policy

    rng = np.random.default_rng(1)
    params = jnp.asarray(policy.random_params(rng, 6, 3, 2))
    owner, obs = jnp.arange(6), jnp.asarray(rng.normal(size=(6, 3)).astype(np.float32))
    results = {name: np.asarray(jax.jit(f)(params, owner, obs))
               for name, f in loops(3, 2, slots=6, population=6, steps=1).items()}
    for name, value in results.items():
        np.testing.assert_allclose(value, results["layers only"], rtol=1e-6, err_msg=name)
