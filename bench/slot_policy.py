"""What the policy costs inside an mjx rollout's loop: S slots, each running its own generated policy, on XLA.

Three ways a compiled loop can give every slot its policy's weights, each timed as a ``fori_loop`` of ``steps``
loop steps with no physics (``envs.mjx_env`` uses the last):
- ``gather``: every step gathers each slot's flat ``[D]`` weights from the population ``[Q, D]`` and slices them
  into layers (the loop before ``5baf65c``); step i runs policy (owner + i) % Q, so nothing can be hoisted;
- ``carry, write after``: the slots keep their layers in the loop carry; after the forward, ``refill_rows(S)``
  rows are overwritten with other policies' layers (XLA then copies the whole carry each step);
- ``carry, write before``: the same rows written before the forward reads them (written in place).
A fourth row, ``layers only``, is the forward on fixed layers: the floor. Hopper's sizes by default.

    python -m bench.slot_policy --slots 1024 --population 4096
"""

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import tyro

from bench.common import RESULTS, machine, table, write_json
from envs import policy
from envs.mjx_env import MATMUL_PRECISION, refill_rows
from envs.tasks import TASKS


@dataclass
class Config:
    task: str = "hopper"
    slots: int = 1024
    """S: policies evaluated per loop step."""
    population: int = 4096
    """Q: the policies the slots' jobs come from."""
    steps: int = 10
    """Loop steps per timed call."""
    repeats: int = 3
    """Timed calls per row; the fastest is reported."""
    out: str = "slot_policy_cpu.json"


def loops(obs_dim: int, act_dim: int, slots: int, population: int, steps: int) -> dict:
    """The timed loops: ``f(params [Q, D], owner [S], obs [S, obs_dim]) -> [S]`` each."""
    refill = refill_rows(slots)

    def layers(flat):
        return policy.unflatten(flat, obs_dim, act_dim)

    def forward(pieces, obs, acc):
        return acc + policy.apply(pieces, (obs + acc[:, None] * 1e-6)[:, None, :], 1.0, jnp)[:, 0].sum(-1)

    def next_rows(owner, i):
        """Step i's refilled slots and their new policies: slot s then runs policy (owner[s] + i) % Q, as in
        ``gather`` (so at step 0 every loop runs the same policies)."""
        rows = (jnp.arange(refill) * (slots // refill) + i) % slots
        return rows, (owner[rows] + i) % population

    def gather(params, owner, obs):
        def body(i, acc):
            return forward(layers(params[(owner + i) % population]), obs, acc)
        return jax.lax.fori_loop(0, steps, body, jnp.zeros(slots))

    def carried(write_first: bool):
        def run(params, owner, obs):
            def body(i, carry):
                pieces, acc = carry
                rows, sources = next_rows(owner, i)
                write = lambda pieces: [p.at[rows].set(n) for p, n in zip(pieces, layers(params[sources]))]  # noqa: E731
                if write_first:
                    pieces = write(pieces)
                acc = forward(pieces, obs, acc)
                return (pieces if write_first else write(pieces)), acc
            return jax.lax.fori_loop(0, steps, body, (layers(params[owner]), jnp.zeros(slots)))[1]
        return run

    def fixed(params, owner, obs):
        pieces = layers(params[owner])
        return jax.lax.fori_loop(0, steps, lambda i, acc: forward(pieces, obs, acc), jnp.zeros(slots))

    return {"gather": gather, "carry, write after": carried(False), "carry, write before": carried(True),
            "layers only": fixed}


def main(cfg: Config) -> dict:
    spec = TASKS[cfg.task].spec
    rng = np.random.default_rng(0)
    params = jnp.asarray(policy.random_params(rng, cfg.population, spec.obs_dim, spec.act_dim))
    owner = jnp.arange(cfg.slots) * 3 % cfg.population
    obs = jnp.asarray(rng.normal(size=(cfg.slots, spec.obs_dim)).astype(np.float32))
    rows = []
    with jax.default_matmul_precision(MATMUL_PRECISION):
        for name, loop in loops(spec.obs_dim, spec.act_dim, cfg.slots, cfg.population, cfg.steps).items():
            compiled = jax.jit(loop)
            compiled(params, owner, obs).block_until_ready()
            best = float("inf")
            for _ in range(cfg.repeats):
                start = time.perf_counter()
                compiled(params, owner, obs).block_until_ready()
                best = min(best, (time.perf_counter() - start) / cfg.steps)
            rows.append({"loop": name, "ms_per_step": best * 1e3, "refill_rows": refill_rows(cfg.slots)})
    print(table(rows, ["loop", "ms_per_step", "refill_rows"]))
    payload = {"benchmark": "slot_policy", "machine": machine(), "settings": vars(cfg), "rows": rows}
    print(f"wrote {write_json(cfg.out, payload, RESULTS / 'throughput')}")
    return payload


if __name__ == "__main__":
    main(tyro.cli(Config))
