"""Where the time of an mjx rollout's loop step goes, beside the bare env step it is compared with.

Each row times ``steps`` env steps of B environments (hopper by default) and reports ms per step of all B:
- ``bare env.step``: the jitted ``env.step`` called from Python with a fixed action, as ``bench.gpu``'s step part
  (``--action random``: uniform over the action range, bench.gpu's; ``zero``: no torque);
- ``step in a loop``: the same steps inside one compiled ``fori_loop``;
- ``step + policies in a loop``: each environment's own random MLP policy (``envs.policy``) computes its action
  from its observation, as the rollout's loop does;
- ``rollout``: ``envs.rollout`` of ``--population`` random policies on B slots, one episode each, per slot-step
  (its useful share beside it).
docs/results/physics.md reads them.

    python -m bench.loop_step --physics fast --batch 1024
"""

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import tyro

import envs
from bench.common import RESULTS, machine, table, write_json
from envs import policy
from envs.mjx_env import MATMUL_PRECISION


@dataclass
class Config:
    task: str = "hopper"
    physics: str = "fast"
    batch: int = 1024
    """B: environments stepped at once (the rollout's slots)."""
    population: int = 4096
    """Policies of the rollout row (0: no rollout row)."""
    steps: int = 10
    """Env steps per timed call."""
    repeats: int = 3
    """Timed calls per row; the fastest is reported."""
    out: str = "loop_step_cpu.json"


def actions_of(kind: str, batch: int, spec) -> jax.Array:
    """A fixed action ``[B, act_dim]``: ``random`` (uniform over the action range, seed 0) or ``zero``."""
    if kind == "zero":
        return jnp.zeros((batch, spec.act_dim), jnp.float32)
    return jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (batch, spec.act_dim)), jnp.float32) * spec.action_bound


def loops(env, steps: int) -> dict:
    """The timed forms, each ``f(state, action, layers) -> state`` after ``steps`` env steps (``layers``: the B
    policies' ``envs.policy.unflatten`` pieces, used by the policy form only)."""
    spec = env.spec

    def bare(state, action, layers):
        for _ in range(steps):
            state = env.step(state, action)
        return state

    def in_loop(state, action, layers):
        return jax.lax.fori_loop(0, steps, lambda i, s: env.traced_step(s, action), state)

    def with_policies(state, action, layers):
        def body(i, s):
            with jax.default_matmul_precision(MATMUL_PRECISION):  # the rollout's policy forward, as traced there
                actions = policy.apply(layers, s.obs[:, None, :], spec.action_bound, jnp)[:, 0]
            return env.traced_step(s, actions)
        return jax.lax.fori_loop(0, steps, body, state)

    return {"bare env.step": bare, "step in a loop": jax.jit(in_loop), "step + policies in a loop": jax.jit(with_policies)}


def _best_seconds(call, repeats: int) -> float:
    jax.block_until_ready(call())
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(call())
        best = min(best, time.perf_counter() - start)
    return best


def main(cfg: Config) -> dict:
    if min(cfg.batch, cfg.steps, cfg.repeats) < 1 or cfg.population < 0:
        raise SystemExit(f"--batch, --steps and --repeats must be >= 1 and --population >= 0, got {cfg.batch}, "
                         f"{cfg.steps}, {cfg.repeats}, {cfg.population}")
    env = envs.make(cfg.task, "mjx", physics=cfg.physics)
    spec = env.spec
    state = env.reset(jax.random.key(0), cfg.batch)
    rng = np.random.default_rng(1)
    layers = policy.unflatten(jnp.asarray(policy.random_params(rng, cfg.batch, spec.obs_dim, spec.act_dim)),
                              spec.obs_dim, spec.act_dim)
    rows = []
    for kind in ("random", "zero"):
        for name, loop in loops(env, cfg.steps).items():
            if name == "step + policies in a loop" and kind == "zero":
                continue  # the policies choose the actions
            seconds = _best_seconds(lambda: loop(state, actions_of(kind, cfg.batch, spec), layers), cfg.repeats)
            rows.append({"form": name, "action": kind if "policies" not in name else "the policies'",
                         "ms_per_step": seconds / cfg.steps * 1e3})
    if cfg.population:
        params = policy.random_params(rng, cfg.population, spec.obs_dim, spec.act_dim)
        mean, std = np.zeros(spec.obs_dim), np.ones(spec.obs_dim)
        seconds = _best_seconds(lambda: envs.rollout(env, params, mean, std, jax.random.key(2), slots=cfg.batch).returns,
                                1)
        used = env.last_slots
        rows.append({"form": f"rollout of {cfg.population} on {used['slots']} slots", "action": "the policies'",
                     "ms_per_step": seconds / used["slot_steps"] * cfg.batch * 1e3,
                     "useful_share": used["useful_steps"] / used["slot_steps"], "stages": used["stages"]})
    for row in rows:
        row["ms_per_env_step"] = row["ms_per_step"] / cfg.batch
    print(table(rows, ["form", "action", "ms_per_step", "ms_per_env_step", "useful_share"]))
    payload = {"benchmark": "loop_step", "machine": machine(), "settings": vars(cfg), "rows": rows}
    print(f"wrote {write_json(cfg.out, payload, RESULTS / 'throughput')}")
    return payload


if __name__ == "__main__":
    main(tyro.cli(Config))
