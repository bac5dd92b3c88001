"""The ``cpu`` engine: MuJoCo's C engine, B environments stepped in batched calls on the cores.

Physics runs in ``mujoco.batch.Batch`` (MuJoCo >= 3.17): one ``mjSTATE_INTEGRATION`` row per
environment (qpos, qvel, warm start, ctrl, ...), stepped ``frame_skip`` substeps per call in C,
bit-identical to a loop over one ``MjData`` per environment, i.e. to Gymnasium.

A population rollout cuts its episodes into one shard per thread (``rollout_threads``: about one per 16
environments, 2 to 8, at most the cores). Each thread runs its shard alone:
policy forward in numpy (GIL released in the matrix products), then one ``Batch.step`` call in C
(GIL released) for all its live environments, and so on to the end of the episodes. Threads never
synchronise within an episode; a shared batch stepped on a C thread pool with the policy applied in
between was measured slower on 2 cores (the pool's workers spin for ~2 ms after each call, taking
the core the policy forward needs). Terminated environments stop being stepped, and their
policies stop being evaluated.
"""

import os
import time
from concurrent.futures import ThreadPoolExecutor

import mujoco
import mujoco.batch
import numpy as np

from envs import noise, policy
from envs.boundary import batch_action, batch_state
from envs.physics import check_profile
from envs.result import RolloutResult
from envs.state import State
from envs.tasks.base import ArrayTask, Frame, MujocoTask

# Dead policies closer than this to live ones are computed anyway: one more policy in a batched
# product costs less than another call (~10 us of compute vs ~10 us of call overhead, 256-256 MLP).
POLICY_GAP = 4
# Once no job is left to start and at most half the slots of the working set still run, the running ones'
# weights are copied into a compact array (a one-off copy), so later steps stream only their weights.
POLICY_COMPACT_BELOW = 0.5
POLICY_COMPACT_MIN = 8
# Threads a population rollout uses: about one per 16 environments, at least 2 and at most 8 (never more
# than the engine's nthread). Each thread runs its own Python step loop, and those loops contend for the
# GIL: on an H200 lease's 16 vCPUs (bench/results/gpu/gpu_nvidia-h200_lease2.json) swimmer at P = 64 ran
# 12.2k / 15.4k / 23.9k / 15.7k / 6.2k env-steps/s on 1 / 2 / 4 / 8 / 16 threads, and at P = 256
# 20.1k / 47.7k / 29.0k on 2 / 8 / 16. On 2 cores every rollout still uses both.
ENVS_PER_THREAD = 16
MIN_ROLLOUT_THREADS, MAX_ROLLOUT_THREADS = 2, 8


class _MujocoSims:
    """N simulations of a MuJoCo task in one ``mujoco.batch.Batch``.

    A task that reads body positions (``task.bodies``) gets them from ``tracked [N, bodies, 3]``,
    refreshed after every reset and step; its state rows carry them after the integration state, so
    a state handed back to ``step`` has the positions the previous step left (as Gymnasium's data does).
    """

    def __init__(self, task: MujocoTask, model: mujoco.MjModel, n: int, nthread: int):
        self.task = task
        self.batch = mujoco.batch.Batch(model, nsim=n, nthread=nthread)
        self.qpos = self.batch.bind("qpos")
        self.qvel = self.batch.bind("qvel")
        self.ctrl = self.batch.bind("ctrl")
        self.dt = model.opt.timestep * task.frame_skip
        self.body_ids = [model.body(name).id for name in task.bodies]
        self.xpos = self.batch.bind("xpos") if task.bodies else None
        self.tracked = np.zeros((n, len(task.bodies), 3))

    def set_physical_state(self, qpos, qvel) -> None:
        """Gymnasium's reset sequence: ``mj_resetData``, write qpos/qvel, ``mj_forward``."""
        self.batch.reset(stage=mujoco.mjtStage.mjSTAGE_NONE)
        self.qpos[:] = qpos
        self.qvel[:] = qvel
        self.batch.forward()
        self._track(slice(None))

    def _track(self, ids) -> None:
        if self.xpos is not None:
            self.tracked[ids] = self.xpos[ids][:, self.body_ids]

    def frame(self, ids, copy: bool = False) -> Frame:
        """The ``Frame`` of simulations ``ids``; ``copy`` detaches it from the live arrays (a slice is a view)."""
        xpos = self.tracked[ids] if self.xpos is not None else None
        if copy:
            return Frame(self.qpos[ids].copy(), self.qvel[ids].copy(), None if xpos is None else xpos.copy())
        return Frame(self.qpos[ids], self.qvel[ids], xpos)

    def observe(self, ids):
        return self.task.observe(self.frame(ids), np)

    def advance(self, ids, action, first):
        """Step simulations ``ids`` with ``action [n, act_dim]``; -> reward, no-bonus reward, terminated, obs."""
        del first
        before = self.frame(ids, copy=True)
        self.ctrl[ids] = action
        self.batch.step(None if isinstance(ids, slice) else ids, nstep=self.task.frame_skip)
        self._track(ids)
        return self.task.outcome(before, self.frame(ids), action, self.dt, np)

    def rows(self) -> np.ndarray:
        if self.xpos is None:
            return self.batch.state.copy()
        return np.concatenate([self.batch.state, self.tracked.reshape(len(self.tracked), -1)], axis=1)

    def load_rows(self, rows, ids=slice(None)) -> None:
        """Simulations ``ids`` (default all) take the state rows ``rows [n, width]``."""
        width = self.batch.state.shape[1]
        self.batch.state[ids] = rows[:, :width]
        if self.xpos is not None:
            self.tracked[ids] = rows[:, width:].reshape(-1, *self.tracked.shape[1:])


class _ArraySims:
    """N copies of a closed-form task, as one numpy array ``[N, state_dim]``."""

    def __init__(self, task: ArrayTask, n: int):
        self.task = task
        self.state = np.zeros((n, 2))

    def observe(self, ids):
        return self.task.observe(self.state[ids], np)

    def advance(self, ids, action, first):
        state, reward, terminated = self.task.advance(self.state[ids], action, first, np)
        self.state[ids] = state
        return reward, reward, terminated, self.task.observe(state, np)

    def rows(self) -> np.ndarray:
        return self.state.copy()

    def load_rows(self, rows, ids=slice(None)) -> None:
        self.state[ids] = rows


class _SlotPolicies:
    """The policy of each slot of a shard (its job's, copied in when the slot takes the job), applied to the
    running slots only: ``params [S, D]`` (kept, not copied: ``assign`` writes into it), unflattened into views
    once per change. After ``last_jobs_started`` the working set shrinks to the running slots whenever half of
    it has ended (``POLICY_COMPACT_BELOW``)."""

    def __init__(self, params: np.ndarray, spec):
        self.spec = spec
        self.index = np.arange(params.shape[0])  # the slot of each working-set row
        self.compacting = False
        self._use(params)

    def _use(self, params: np.ndarray) -> None:
        self.params = params
        self.pieces = policy.unflatten(params, self.spec.obs_dim, self.spec.act_dim)

    def assign(self, slots: np.ndarray, params: np.ndarray) -> None:
        """Slots ``slots [k]`` take the policies ``params [k, D]`` (the views in ``pieces`` see the new rows);
        only before ``last_jobs_started``, while working-set rows are the slots themselves."""
        self.params[slots] = params

    def last_jobs_started(self) -> None:
        """No slot takes a job any more: from now on the working set may shrink."""
        self.compacting = True

    def actions(self, normalised: np.ndarray, live: np.ndarray) -> np.ndarray:
        """``normalised [S, obs_dim]``, ``live [S]`` -> ``[S, act_dim]`` (rows not live: 0). Each slot's action is
        its own matrix-vector product, so it does not depend on which other slots run beside it."""
        live_here = live[self.index]
        if (self.compacting and live_here.size >= POLICY_COMPACT_MIN
                and live_here.sum() <= POLICY_COMPACT_BELOW * live_here.size):
            self.index = self.index[live_here]
            self._use(self.params[live_here])
            live_here = live_here[live_here]
        obs = normalised[self.index]
        out = np.zeros((self.index.size, self.spec.act_dim), dtype=self.params.dtype)
        for s, e in live_spans(live_here, POLICY_GAP):
            out[s:e] = policy.apply([piece[s:e] for piece in self.pieces], obs[s:e, None, :],
                                    self.spec.action_bound, np)[:, 0]
        if self.index.size == live.size:  # never compacted: rows are the slots themselves
            return out
        actions = np.zeros((live.size, self.spec.act_dim), dtype=out.dtype)
        actions[self.index] = out
        return actions


class CpuEnv:
    """A task on MuJoCo's C engine (``envs.make(name, engine="cpu")``).

    All state is batched: ``reset(key, num_envs)`` -> ``State`` with leading dimension B. Random
    keys are JAX PRNG keys; reset noise is drawn with ``envs.noise`` so a key gives the same initial
    states as on ``mjx``. Results are deterministic for a given key and identical for any thread
    count, except rollouts with ``episodes > 1`` and fewer policies than threads: those split a
    policy's episodes across threads, and its float32 matrix products then round differently.
    """

    engine = "cpu"

    def __init__(self, task: MujocoTask | ArrayTask, nthread: int | None = None, physics: str = "gymnasium"):
        self.task = task
        self.spec = task.spec
        self.physics = check_profile(physics)
        self.nthread = nthread or len(os.sched_getaffinity(0)) or 1
        self._model = task.load_model(physics) if isinstance(task, MujocoTask) else None
        self._sims: dict[int, _MujocoSims | _ArraySims] = {}
        self._shard_cache: dict[tuple[int, int], _MujocoSims | _ArraySims] = {}
        self._pool = ThreadPoolExecutor(self.nthread) if self.nthread > 1 else None
        self.last_timing: dict[str, float] = {}  # the last rollout's wall time and its parts
        self.last_slots: dict[str, int] = {}  # the last rollout's slots, loop steps (longest shard), slot-steps (summed
        # over shards: the steps the slots would take if finished ones were stepped too) and counted env steps

    # -- functional API (parity hook, small batches) ---------------------------------------------
    def reset(self, key, num_envs: int = 1) -> State:
        """``num_envs`` environments with the task's reset noise drawn from ``key``."""
        if isinstance(self.task, MujocoTask):
            width = self.task.noise_width(self._model.nq, self._model.nv)
            unit = noise.uniform_numpy(key, (num_envs, width), 0.0, 1.0)
            return self.reset_to(*self.task.initial_state(self._model.qpos0, unit, np))
        unit = noise.uniform_numpy(key, (num_envs, 1), 0.0, 1.0)
        state = self.task.initial_state(unit, np)
        return self.reset_to(state[:, 0], state[:, 1])

    def reset_to(self, qpos, qvel) -> State:
        """Start from given physical states: ``qpos [B, nq]``, ``qvel [B, nv]`` (``[nq]`` for one env).

        For ``mountain_car`` pass ``position [B]`` and ``velocity [B]``.
        """
        mujoco_task = isinstance(self.task, MujocoTask)
        qpos, qvel = batch_state(qpos, qvel, (self._model.nq, self._model.nv) if mujoco_task else None)
        if mujoco_task:
            sims = self._sims_for(qpos.shape[0])
            sims.set_physical_state(qpos, qvel)
        else:
            state = np.stack([qpos, qvel], axis=1)
            sims = self._sims_for(state.shape[0])
            sims.load_rows(state)
        obs = sims.observe(slice(None))
        n = obs.shape[0]
        zeros, false = np.zeros(n), np.zeros(n, dtype=bool)
        return State(sims.rows(), obs, zeros, zeros.copy(), false, false.copy(), false.copy(),
                     np.zeros(n, dtype=np.int32))

    def physical_state(self, state: State):
        """The inverse of ``reset_to``: ``(qpos [B, nq], qvel [B, nv])`` (mountain_car: position, velocity)."""
        if self._model is None:
            return state.physics[:, 0].copy(), state.physics[:, 1].copy()
        time_size = mujoco.mj_stateSize(self._model, mujoco.mjtState.mjSTATE_TIME)
        nq, nv = self._model.nq, self._model.nv
        return (state.physics[:, time_size : time_size + nq].copy(),
                state.physics[:, time_size + nq : time_size + nq + nv].copy())

    def step(self, state: State, action) -> State:
        """All B environments one env step with ``action [B, act_dim]`` (``[act_dim]`` when B is 1; a done env
        is stepped too)."""
        n = state.obs.shape[0]
        action = batch_action(action, n, self.spec.act_dim)
        sims = self._sims_for(n)
        sims.load_rows(state.physics)
        every = slice(None)
        reward, reward_no_bonus, terminated, obs = sims.advance(every, action, state.steps == 0)
        steps = state.steps + 1
        truncated = steps >= self.spec.horizon
        return State(sims.rows(), obs, reward, reward_no_bonus, terminated, truncated, terminated | truncated, steps)

    # -- population rollout ----------------------------------------------------------------------
    def rollout(self, params: np.ndarray, obs_mean: np.ndarray, obs_std: np.ndarray, key,
                episodes: int = 1, slots: int | None = None) -> RolloutResult:
        """One or more full episodes of each of P policies (validated by ``envs.rollout``)."""
        return self.rollout_groups(params[None], obs_mean[None], obs_std[None], [key], episodes, slots)[0]

    def rollout_groups(self, params: np.ndarray, obs_mean: np.ndarray, obs_std: np.ndarray, keys,
                       episodes: int = 1, slots: int | None = None) -> list[RolloutResult]:
        """G independent populations in one rollout (validated by ``envs.rollout_groups``).

        ``params [G, P, D]``, ``obs_mean``/``obs_std [G, obs_dim]``, ``keys``: G JAX keys. Group g's
        result is the one ``rollout(params[g], obs_mean[g], obs_std[g], keys[g])`` gives: its own
        reset states, normalisation and observation statistics. The ``[G * P, E]`` grid of episodes
        is cut into one shard per thread; each thread runs its shard's whole episodes alone (policy
        forward, then physics in its own single-threaded batch), so threads never wait for each
        other within an episode. ``slots`` (default: one per episode) caps the environments stepped at
        once, split over the shards in proportion to their episodes (at least one each).
        """
        G, P = params.shape[:2]
        flat = params.reshape(G * P, -1)
        initial = np.concatenate([self.reset(key, P * episodes).physics for key in keys])
        initial = initial.reshape(G * P, episodes, -1)
        mean, std = np.repeat(obs_mean, P, axis=0), np.repeat(obs_std, P, axis=0)  # [G * P, obs_dim]
        shards = grid_shards(G * P, episodes, rollout_threads(G * P * episodes, self.nthread))
        blocks = [initial[ps, es] for ps, es in shards]
        shares = split_slots(slots, [b.shape[0] * b.shape[1] for b in blocks])
        jobs = [(i, flat[ps], mean[ps], std[ps], block, share)
                for i, ((ps, es), block, share) in enumerate(zip(shards, blocks, shares))]
        self.last_slots = {"slots": sum(job[-1] for job in jobs), "loop_steps": 0, "slot_steps": 0, "useful_steps": 0}
        start = time.perf_counter()
        if self._pool is None or len(jobs) == 1:
            outcomes = [self._run_shard(*job) for job in jobs]
        else:
            outcomes = list(self._pool.map(lambda job: self._run_shard(*job), jobs))
        returns = np.zeros((2, G * P, episodes))
        lengths = np.zeros((G * P, episodes), dtype=np.int64)
        obs_sum, obs_sumsq = np.zeros((G * P, self.spec.obs_dim)), np.zeros((G * P, self.spec.obs_dim))
        policy_s = physics_s = 0.0
        for (ps, es), outcome, job in zip(shards, outcomes, jobs):
            returns[:, ps, es], lengths[ps, es] = outcome["returns"], outcome["lengths"]
            self.last_slots["loop_steps"] = max(self.last_slots["loop_steps"], outcome["loop_steps"])
            self.last_slots["slot_steps"] += job[-1] * outcome["loop_steps"]
            obs_sum[ps] += outcome["obs_sum"]
            obs_sumsq[ps] += outcome["obs_sumsq"]
            policy_s, physics_s = policy_s + outcome["policy_s"], physics_s + outcome["physics_s"]
        total_s = time.perf_counter() - start
        busy = len(jobs) * total_s  # thread-seconds: the shares below are of all threads' time
        self.last_slots["useful_steps"] = int(lengths.sum())
        self.last_timing = {"total_s": total_s, "policy_s": policy_s, "physics_s": physics_s,
                            "policy_share": policy_s / busy, "physics_share": physics_s / busy}
        groups = [slice(g * P, (g + 1) * P) for g in range(G)]
        return [RolloutResult.from_episodes(returns[0, g], returns[1, g], lengths[g], int(lengths[g].sum()),
                                            obs_sum[g].sum(0), obs_sumsq[g].sum(0)) for g in groups]

    def _run_shard(self, index: int, params, obs_mean, obs_std, initial, slots: int) -> dict:
        """Whole episodes of ``params [Ps, D]`` x ``Es`` episodes from state rows ``initial [Ps, Es, nstate]`` on
        ``slots`` simulations, policy i normalising with ``obs_mean[i]``, ``obs_std[i]``; observation sums per
        policy ``[Ps, obs_dim]``. Job j is episode ``j % Es`` of policy ``j // Es``; a slot whose episode ends
        takes the next job, starting from that job's own row of ``initial``."""
        spec = self.spec
        P, episodes = initial.shape[:2]
        n = P * episodes
        rows = initial.reshape(n, -1)
        sims = self._shard_sims(index, slots)
        sims.load_rows(rows[:slots])
        job = np.arange(slots)
        owner = job // episodes
        # one slot per policy and no refill: the shard's own weights serve as they are (fancy indexing would copy
        # P x 278 KB on hopper before every rollout); otherwise each slot gets its own row to be refilled
        policies = _SlotPolicies(params if slots >= n and episodes == 1 else params[owner], spec)
        if slots >= n:
            policies.last_jobs_started()
        mean, std = obs_mean[owner], obs_std[owner]  # [S, obs_dim]
        obs = sims.observe(slice(None))  # [S, obs_dim]; rows of ended slots go stale
        running = np.ones(slots, dtype=bool)
        steps = np.zeros(slots, dtype=np.int64)
        next_job = slots
        totals = np.zeros((2, n))  # returns with and without the survival bonus
        lengths = np.zeros(n, dtype=np.int64)
        obs_sum, obs_sumsq = np.zeros((n, spec.obs_dim)), np.zeros((n, spec.obs_dim))
        policy_s = physics_s = 0.0
        loop_steps = 0
        while True:
            if running.all():  # slices while every slot runs: views where indices would gather and scatter
                ids, live = slice(None), slots
            else:
                ids = np.flatnonzero(running)
                live = ids.size
                if live == 0:
                    break
            here = job[ids]
            seen = obs[ids]
            obs_sum[here] += seen
            obs_sumsq[here] += np.square(seen)
            normalised = ((obs - mean) / std).astype(params.dtype)
            tick = time.perf_counter()
            actions = policies.actions(normalised, running)
            tock = time.perf_counter()
            reward, reward_no_bonus, terminated, new_obs = sims.advance(ids, actions[ids], steps[ids] == 0)
            policy_s, physics_s = policy_s + tock - tick, physics_s + time.perf_counter() - tock
            totals[0, here] += reward
            totals[1, here] += reward_no_bonus
            lengths[here] += 1
            obs[ids] = new_obs
            steps[ids] += 1
            loop_steps += 1
            ended = np.arange(slots)[ids][terminated | (steps[ids] >= spec.horizon)]
            running[ended] = False
            refill = ended[: n - next_job]
            if refill.size:
                new = np.arange(next_job, next_job + refill.size)
                next_job += refill.size
                job[refill], owner = new, new // episodes
                sims.load_rows(rows[new], refill)
                policies.assign(refill, params[owner])
                mean[refill], std[refill] = obs_mean[owner], obs_std[owner]
                obs[refill] = sims.observe(refill)
                steps[refill], running[refill] = 0, True
                if next_job >= n:
                    policies.last_jobs_started()
        return {"returns": totals.reshape(2, P, episodes), "lengths": lengths.reshape(P, episodes),
                "obs_sum": obs_sum.reshape(P, episodes, -1).sum(1), "obs_sumsq": obs_sumsq.reshape(P, episodes, -1).sum(1),
                "policy_s": policy_s, "physics_s": physics_s, "loop_steps": loop_steps}

    def _sims_for(self, n: int):
        """Simulations for the functional API: one batch of n on all threads."""
        if n not in self._sims:
            self._sims[n] = self._new_sims(n, self.nthread)
        return self._sims[n]

    def _shard_sims(self, index: int, n: int):
        """Shard ``index``'s own simulations, stepped on the calling thread only."""
        key = (index, n)
        if key not in self._shard_cache:
            self._shard_cache[key] = self._new_sims(n, 1)
        return self._shard_cache[key]

    def _new_sims(self, n: int, nthread: int):
        if isinstance(self.task, MujocoTask):
            return _MujocoSims(self.task, self._model, n, nthread)
        return _ArraySims(self.task, n)


def rollout_threads(environments: int, nthread: int) -> int:
    """Threads for a rollout of ``environments`` episodes on an engine allowed ``nthread`` (see ENVS_PER_THREAD)."""
    wanted = max(MIN_ROLLOUT_THREADS, min(MAX_ROLLOUT_THREADS, environments // ENVS_PER_THREAD))
    return min(nthread, wanted)


def split_slots(slots: int | None, sizes: list[int]) -> list[int]:
    """Slots per shard of ``sizes`` jobs each: all jobs (``slots`` None), else ``slots`` split in proportion to the
    jobs, at least one and at most its jobs per shard (so ``max(len(sizes), min(slots, sum(sizes)))`` in all)."""
    if slots is None:
        return list(sizes)
    total = sum(sizes)
    shares = [min(size, max(1, slots * size // total)) for size in sizes]
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]) * slots:  # hand out what the floors left
        if sum(shares) >= min(slots, total):
            break
        shares[i] += shares[i] < sizes[i]
    return shares


def grid_shards(P: int, episodes: int, parts: int) -> list[tuple[slice, slice]]:
    """Cut the ``[P, E]`` episode grid into at most ``parts`` blocks: by policy, or by episode if P is small."""
    if P >= parts or episodes == 1:
        bounds = np.linspace(0, P, min(parts, P) + 1).round().astype(int)
        return [(slice(a, b), slice(0, episodes)) for a, b in zip(bounds[:-1], bounds[1:])]
    bounds = np.linspace(0, episodes, min(parts, episodes) + 1).round().astype(int)
    return [(slice(0, P), slice(a, b)) for a, b in zip(bounds[:-1], bounds[1:])]


def live_spans(live: np.ndarray, max_gap: int) -> list[tuple[int, int]]:
    """Half-open index ranges covering every True of ``live [P]``; gaps <= ``max_gap`` are bridged."""
    if live.all():
        return [(0, live.size)] if live.size else []
    ids = np.flatnonzero(live)
    if ids.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(ids) > max_gap + 1)
    starts = np.concatenate([ids[:1], ids[breaks + 1]])
    ends = np.concatenate([ids[breaks], ids[-1:]]) + 1
    return list(zip(starts.tolist(), ends.tolist()))
