"""The ``mjx`` engine: the same tasks on MJX (MuJoCo in JAX), jittable end to end.

State is a pytree (``envs.State``) holding a batched ``mjx.Data``; ``reset``/``step`` are pure
and jitted, and ``rollout`` runs whole episodes of all P policies, policy included, inside one
compiled ``while_loop`` that stops as soon as every environment is done. With several local JAX
devices (GPUs, or ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` on the CPU) the rollout's
environments are sharded over all of them with ``jax.sharding``; XLA partitions the loop, and the
only cross-device traffic is the "anyone still alive?" test per step and the final sums. The precision is JAX's
process-wide one: float32 by default, float64 when ``jax_enable_x64`` is on (``JAX_ENABLE_X64=1``).
Switching per env with ``jax.enable_x64`` as a context does not work: MJX's inner jitted helpers
are cached across the switch and then fail to lower, so ``envs.make`` refuses a dtype that does
not match the process.

Under x64, contact index fields come back from ``mjx.step`` as int64 where ``make_data`` made
int32, which a loop carry cannot accept, so every substep casts its output to the input dtypes.

Matrix products (the policy forward and MJX's own) are traced at ``MATMUL_PRECISION``: JAX's
default precision lets A100/H100 GPUs round float32 operands to TF32 (10-bit mantissa; jax-ml/jax
issues #12008, #18934), so the policy simulated here would not be the float32 policy the torch side
(``fastgen.poligen.evaluator``) evaluates, nor the physics MuJoCo's. The precision is set while this engine's
functions are traced, never process-wide: other JAX code in the process keeps its own default.
"""

from functools import partial, wraps

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from mujoco import mjx

from envs import noise, policy
from envs.boundary import batch_action, batch_state
from envs.physics import check_profile
from envs.result import RolloutResult
from envs.state import State
from envs.tasks.base import Frame, MujocoTask

MATMUL_PRECISION = "highest"  # full float32 (float64 under x64) products on every backend


def _at_full_precision(fn):
    """``fn`` traced with ``jax.default_matmul_precision(MATMUL_PRECISION)``: the precision is stamped on
    every ``dot_general`` traced inside (an explicit ``precision=`` still wins), and is gone after tracing."""

    @wraps(fn)
    def traced(*args, **kwargs):
        with jax.default_matmul_precision(MATMUL_PRECISION):
            return fn(*args, **kwargs)

    return traced


def _same_dtypes(new, old):
    return jax.tree.map(lambda n, o: n.astype(o.dtype), new, old)


SHRINK = 2  # each stage steps half the previous one's slots: 0.89 of the slot-steps of hopper's 4,096 random policies
MAX_STAGES = 6  # on 1,024 slots count so, 0.83 with quarters, for ~100 s more compiling on XLA:CPU (docs/results/physics.md)
MIN_STAGE_SLOTS = 64  # below this a smaller batch saves less than compiling another loop costs
REFILL_SHARE = 16  # a loop step hands out at most slots / 16 jobs (hopper's random policies end ~slots / 44 per step),
MIN_REFILL = 64  # and at least 64: below that, writing every free slot costs little


def refill_rows(slots: int) -> int:
    """How many free slots one loop step may give a job (``_rollout_impl``): each costs a row of weights and state
    written, where gathering every slot's weights each step would cost all S rows."""
    return min(slots, max(MIN_REFILL, -(-slots // REFILL_SHARE)))


def stage_slots(slots: int, width: int = 1) -> tuple[int, ...]:
    """The batch sizes a rollout with ``slots`` slots steps in turn (``_rollout_impl``'s stages): ``slots``, then
    half of the last (rounded up to a multiple of ``width``, the device count) while that is at least
    ``MIN_STAGE_SLOTS``, at most ``MAX_STAGES`` in all. Hopper, 4,096 random policies on 1,024 slots (`fast`, episode
    lengths mean 43, max 344): 39% of the slot-steps count with one stage, 83% with stages 1024, 256, 64, 89% with
    1024, 512, 256, 128, 64."""
    sizes = [slots]
    while len(sizes) < MAX_STAGES:
        smaller = -(-sizes[-1] // SHRINK // width) * width if sizes[-1] // SHRINK >= width else width
        if smaller < MIN_STAGE_SLOTS or smaller >= sizes[-1]:
            break
        sizes.append(smaller)
    return tuple(sizes)


class MjxEnv:
    """A task on MJX (``envs.make(name, engine="mjx", dtype=...)``); all state batched ``[B, ...]``."""

    engine = "mjx"

    def __init__(self, task, dtype: str = "float32", devices=None, physics: str = "gymnasium"):
        self.task = task
        self.physics = check_profile(physics)
        self.devices = np.array(jax.local_devices() if devices is None else list(devices))
        self._mesh = Mesh(self.devices, ("envs",)) if self.devices.size > 1 else None
        self._rows = NamedSharding(self._mesh, PartitionSpec("envs")) if self._mesh is not None else None
        self.spec = task.spec
        self.dtype = dtype
        self._dtype = jnp.dtype(dtype)
        if isinstance(task, MujocoTask):
            model = task.load_model(physics)
            self._model = mjx.put_model(model, impl="jax")
            self._data0 = mjx.make_data(self._model, impl="jax")
            self._qpos0 = jnp.asarray(model.qpos0, self._dtype)
            self._nq, self._nv = model.nq, model.nv
            self._body_ids = jnp.array([model.body(name).id for name in task.bodies], jnp.int32)
            self._dt = model.opt.timestep * task.frame_skip
        self._reset = jax.jit(_at_full_precision(self._reset_impl), static_argnums=1)
        self._reset_to = jax.jit(_at_full_precision(self._reset_to_impl))
        self._step = jax.jit(_at_full_precision(self._step_impl))
        self._rollout = jax.jit(_at_full_precision(self._rollout_impl),
                                static_argnames=("episodes", "per_group", "stages"))
        self.last_slots: dict[str, int] = {}  # the last rollout's slots, loop steps, slot-steps and counted env steps

    # -- functional API --------------------------------------------------------------------------
    def reset(self, key, num_envs: int = 1) -> State:
        """``num_envs`` environments with reset noise from ``key`` (same draws as the ``cpu`` engine)."""
        return self._reset(key, num_envs)

    def reset_to(self, qpos, qvel) -> State:
        """Start from ``qpos [B, nq]``, ``qvel [B, nv]`` (``[nq]``, ``[nv]`` for one env; ``mountain_car``:
        position, velocity ``[B]``)."""
        widths = (self._nq, self._nv) if isinstance(self.task, MujocoTask) else None
        qpos, qvel = batch_state(qpos, qvel, widths)
        return self._reset_to(jnp.asarray(qpos, self._dtype), jnp.asarray(qvel, self._dtype))

    def physical_state(self, state: State):
        """The inverse of ``reset_to``: ``(qpos [B, nq], qvel [B, nv])`` (mountain_car: position, velocity)."""
        if isinstance(self.task, MujocoTask):
            return state.physics.qpos, state.physics.qvel
        return state.physics[:, 0], state.physics[:, 1]

    def step(self, state: State, action) -> State:
        """All B environments one env step with ``action [B, act_dim]`` (``[act_dim]`` when B is 1)."""
        return self._step(state, jnp.asarray(batch_action(action, state.obs.shape[0], self.spec.act_dim)))

    # -- traceable forms (no input checks), for a caller's own jit/vmap (envs.brax_env) -----------
    def traced_reset(self, key, num_envs: int) -> State:
        """``reset`` as a pure function of a JAX key, at the engine's matmul precision."""
        return _at_full_precision(self._reset_impl)(key, num_envs)

    def traced_step(self, state: State, action) -> State:
        """``step`` as a pure function: ``action [B, act_dim]`` (a JAX array or tracer), no checks."""
        return _at_full_precision(self._step_impl)(state, action)

    def _reset_impl(self, key, num_envs: int) -> State:
        if isinstance(self.task, MujocoTask):
            hi, lo = noise.random_bits(key, (num_envs, self.task.noise_width(self._nq, self._nv)))
            unit = noise.uniform_from_bits(hi, lo, 0.0, 1.0, jnp, self._dtype)
            return self._reset_to_impl(*self.task.initial_state(self._qpos0, unit, jnp))
        hi, lo = noise.random_bits(key, (num_envs, 1))
        state = self.task.initial_state(noise.uniform_from_bits(hi, lo, 0.0, 1.0, jnp, self._dtype), jnp)
        return self._reset_to_impl(state[:, 0], state[:, 1])

    def _reset_to_impl(self, qpos, qvel) -> State:
        if isinstance(self.task, MujocoTask):
            physics = jax.vmap(lambda q, v: self._data0.replace(qpos=q, qvel=v))(qpos, qvel)
            if self.task.bodies:  # Gymnasium's reset ends with mj_forward: body positions of the reset state
                # (MJX's forward writes normalised quaternions back to qpos; C MuJoCo leaves qpos as set)
                physics = jax.vmap(lambda d: _same_dtypes(mjx.forward(self._model, d), d).replace(qpos=d.qpos))(physics)
            obs = self.task.observe(self._frame(physics), jnp)
        else:
            physics = jnp.stack([qpos, qvel], axis=1)
            obs = self.task.observe(physics, jnp)
        n = obs.shape[0]
        zeros, false = jnp.zeros(n, self._dtype), jnp.zeros(n, bool)
        return State(physics, obs, zeros, zeros, false, false, false, jnp.zeros(n, jnp.int32))

    def _step_impl(self, state: State, action) -> State:
        task = self.task
        if isinstance(task, MujocoTask):
            physics = jax.vmap(self._physics_step)(state.physics, action)
            reward, reward_no_bonus, terminated, obs = task.outcome(self._frame(state.physics), self._frame(physics),
                                                                    action, self._dt, jnp)
        else:
            physics, reward, terminated = task.advance(state.physics, action, state.steps == 0, jnp)
            reward_no_bonus = reward
            obs = task.observe(physics, jnp)
        steps = state.steps + 1
        truncated = steps >= self.spec.horizon
        return State(physics, obs, reward.astype(self._dtype), reward_no_bonus.astype(self._dtype),
                     terminated, truncated, terminated | truncated, steps)

    def _frame(self, physics) -> Frame:
        """A batched ``mjx.Data`` as the task reads it (``xpos`` as MJX leaves it: before the last substep)."""
        xpos = physics.xpos[:, self._body_ids] if self.task.bodies else None
        return Frame(physics.qpos, physics.qvel, xpos)

    def _physics_step(self, data, action):
        """One env step of one environment: ``frame_skip`` MJX substeps with the action held."""
        data = data.replace(ctrl=action.astype(data.ctrl.dtype))

        def substep(_, d):
            return _same_dtypes(mjx.step(self._model, d), d)

        return jax.lax.fori_loop(0, self.task.frame_skip, substep, data)

    # -- population rollout ----------------------------------------------------------------------
    def rollout(self, params, obs_mean, obs_std, key, episodes: int = 1, slots: int | None = None) -> RolloutResult:
        """One or more full episodes of each of P policies in one compiled call (validated by ``envs.rollout``)."""
        return self.rollout_groups(jnp.asarray(params)[None], np.asarray(obs_mean)[None], np.asarray(obs_std)[None],
                                   [key], episodes, slots)[0]

    def rollout_groups(self, params, obs_mean, obs_std, keys, episodes: int = 1,
                       slots: int | None = None) -> list[RolloutResult]:
        """G populations ``params [G, P, D]`` (own ``obs_mean``/``obs_std [G, obs_dim]`` and key each) in one call.

        The ``G * P * episodes`` (policy, episode) jobs share ``slots`` environments (default: one per job); a slot
        whose episode ends takes the next job inside the compiled loop. Once every job has started, the loop
        shrinks the batch (``stage_slots``): when no more than half of the slots still run, they move to a
        batch half the size, so that the longest episodes do not keep stepping thousands of finished ones.
        With several devices the policies and the slots are padded to a multiple of the device count (padding
        policies have zero weights and are never run) and the slots are sharded over the devices.
        """
        params = jnp.asarray(params)
        G, P = params.shape[:2]
        total = G * P
        jobs = total * episodes
        width = self.devices.size
        padded = -(-total // width) * width
        slots = -(-min(jobs if slots is None else slots, jobs) // width) * width
        flat = params.reshape(total, -1)
        mean = jnp.repeat(jnp.asarray(obs_mean, self._dtype), P, axis=0)
        std = jnp.repeat(jnp.asarray(obs_std, self._dtype), P, axis=0)
        if padded > total:
            extra = padded - total
            flat = jnp.concatenate([flat, jnp.zeros((extra, flat.shape[1]), flat.dtype)])
            mean = jnp.concatenate([mean, jnp.zeros((extra, mean.shape[1]), mean.dtype)])
            std = jnp.concatenate([std, jnp.ones((extra, std.shape[1]), std.dtype)])
        if self._mesh is not None:
            flat, mean, std = (jax.device_put(x, self._rows) for x in (flat, mean, std))
        keys = keys if isinstance(keys, jax.Array) else jnp.stack(list(keys))
        stages = stage_slots(slots, width)
        out = self._rollout(flat, mean, std, keys, episodes=episodes, per_group=P, stages=stages)
        returns, returns_no_bonus, lengths, obs_sum, obs_sumsq, loop_steps, slot_steps = jax.device_get(out)
        self.last_slots = {"slots": slots, "stages": list(stages), "loop_steps": int(loop_steps),
                           "slot_steps": int(slot_steps), "useful_steps": int(lengths.sum())}
        return [RolloutResult.from_episodes(returns[g], returns_no_bonus[g], lengths[g], int(lengths[g].sum()),
                                            obs_sum[g], obs_sumsq[g]) for g in range(G)]

    def _rollout_impl(self, params, obs_mean, obs_std, keys, episodes: int, per_group: int, stages: tuple[int, ...]):
        """``params``, ``obs_mean``, ``obs_std``: ``[Q, ...]`` per policy, the first ``G * per_group`` real (G = number
        of keys), the rest padding; -> per group ``[G, P, E]`` returns (two kinds) and lengths, ``[G, obs_dim]``
        observation sums, the number of loop steps and of slot-steps (environments stepped, summed over them).

        Job j is episode ``j % E`` of policy ``j // E``; its initial state is row j of the reset states drawn as
        without slots, so its result does not depend on the slot it runs in or on when. Each loop step first gives
        the free slots, in slot order, the next jobs (at most ``refill_rows(S)``; a free slot beyond them waits a
        step), then runs every slot one env step and books each running job's reward and observation. A slot keeps
        its policy's weights in the loop, in the layers' shapes (``policy.unflatten``), written when it takes a job:
        gathering and slicing every slot's flat weights each step cost 2.5x the forward itself on XLA:CPU (hopper,
        S = 1,024: 143 against 58 ms, `python -m bench.slot_policy`), and writing them before the forward reads them
        lets XLA do it in place (written after it, XLA copies every slot's layers each step).
        ``stages``: the batch sizes, one ``while_loop`` each; a stage ends once every job has started and no more
        running slots are left than the next stage has, which then takes them over (running slots first, in slot
        order); the later stages have no jobs left to hand out."""
        spec, G = self.spec, keys.shape[0]
        real = G * per_group * episodes
        initial = jax.vmap(lambda key: self._reset_impl(key, per_group * episodes))(keys)
        initial = jax.tree.map(lambda x: x.reshape(real, *x.shape[2:]), initial)  # [real, ...] by job

        def take(tree, rows):
            return jax.tree.map(lambda x: x[rows], tree)

        def weights_of(jobs):
            """The layers ``[W1 [n, 256, obs], b1 [n, 256], ...]`` of the policies of ``jobs [n]``."""
            return policy.unflatten(params[jobs // episodes], spec.obs_dim, spec.act_dim)

        def keep_going(carry):
            return jnp.any(carry[3]) | (carry[4] < real)

        def run_slots(carry):
            state, weights, job, running, next_job, totals, lengths, obs_sum, obs_sumsq, steps, slot_steps = carry
            owner = job // episodes
            seen = jnp.where(running[:, None], state.obs, 0)
            normalised = ((state.obs - obs_mean[owner]) / obs_std[owner]).astype(params.dtype)
            actions = policy.apply(weights, normalised[:, None, :], spec.action_bound, jnp)[:, 0]
            state = self._step_impl(state, actions)
            rewards = jnp.stack([state.reward, state.reward_no_bonus])
            totals = totals.at[:, job].add(jnp.where(running, rewards, 0))
            lengths = lengths.at[job].add(running)
            obs_sum, obs_sumsq = obs_sum.at[job].add(seen), obs_sumsq.at[job].add(jnp.square(seen))
            return (state, weights, job, running & ~state.done, next_job, totals, lengths, obs_sum, obs_sumsq,
                    steps + 1, slot_steps + running.shape[0])

        def refill_then_run(carry):
            state, weights, job, running, next_job, *rest = carry
            size = running.shape[0]
            rank = jnp.cumsum(~running) - 1  # free slots take the next jobs, in slot order
            taking = ~running & (rank < refill_rows(size)) & (next_job + rank < real)
            rows = jnp.nonzero(taking, size=refill_rows(size), fill_value=size)[0]  # [R] slots, `size` = none
            jobs = jnp.minimum(next_job + jnp.arange(rows.shape[0]), real - 1)
            state = jax.tree.map(lambda old, new: old.at[rows].set(new, mode="drop"), state, take(initial, jobs))
            weights = [old.at[rows].set(new, mode="drop") for old, new in zip(weights, weights_of(jobs))]
            return run_slots((state, weights, job.at[rows].set(jobs, mode="drop"), running | taking,
                              next_job + taking.sum(), *rest))

        def until_it_fits(size):
            """A stage's loop condition: go on until every job has started and at most ``size`` slots run."""
            return lambda carry: keep_going(carry) & ((carry[4] < real) | (carry[3].sum() > size))

        def shrink(carry, size):
            state, weights, job, running, *rest = carry
            order = jnp.argsort(~running, stable=True)[:size]  # the running slots first, in slot order
            return (take(state, order), take(weights, order), job[order], running[order], *rest)

        first = jnp.minimum(jnp.arange(stages[0]), real - 1)
        zeros_obs = jnp.zeros((real, spec.obs_dim), self._dtype)
        carry = (take(initial, first), weights_of(first), first, jnp.arange(stages[0]) < real,
                 jnp.asarray(min(stages[0], real), jnp.int32), jnp.zeros((2, real), self._dtype),
                 jnp.zeros(real, jnp.int32), zeros_obs, zeros_obs, jnp.asarray(0, jnp.int32),
                 jnp.asarray(0, jnp.int32))
        for stage, (size, next_size) in enumerate(zip(stages, (*stages[1:], None))):
            done = keep_going if next_size is None else until_it_fits(next_size)
            step = refill_then_run if stage == 0 and size < real else run_slots
            carry = jax.lax.while_loop(done, step, self._constrain(carry))
            if next_size is not None:
                carry = shrink(carry, next_size)
        *_, totals, lengths, obs_sum, obs_sumsq, steps, slot_steps = carry
        shape, per_env = (G, per_group, episodes), (G, per_group * episodes, spec.obs_dim)
        return (totals[0].reshape(shape), totals[1].reshape(shape), lengths.reshape(shape),
                obs_sum.reshape(per_env).sum(1), obs_sumsq.reshape(per_env).sum(1), steps, slot_steps)

    def _constrain(self, carry):
        """Shard the slots' arrays of the loop carry along the slot axis (no-op on one device); the per-job
        accumulators are left to XLA."""
        if self._mesh is None:
            return carry
        state, weights, job, running, *rest = carry
        by_row = partial(jax.lax.with_sharding_constraint, shardings=self._rows)
        return (jax.tree.map(by_row, state), jax.tree.map(by_row, weights), by_row(job), by_row(running), *rest)
