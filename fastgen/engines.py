"""Which simulation engine a run uses: ``resolve_engine(engine, population)``.

``"auto"`` picks ``"mjx"`` only where it can beat the ``cpu`` engine: a GPU visible to JAX *and* a
population (K seeds x P policies simulated per iteration) of at least ``MJX_MIN_POPULATION``.
Otherwise ``"cpu"``. ``"cpu"`` and ``"mjx"`` are taken as asked.

Why a population threshold. An MJX rollout is a ``while_loop`` of about 1000 env steps that must
run one after another; each is a chain of small device kernels, so a step of B environments costs
about as much as a step of one until B fills the GPU. The C engine instead spreads B environments
over the host's cores. The numbers behind ``MJX_MIN_POPULATION``:

Published (MuJoCo documentation, "MJX-JAX - The Sharp Bits",
https://mujoco.readthedocs.io/en/stable/mjx.html, source doc/mjx.rst in google-deepmind/mujoco):
  * one scene on MJX-JAX "can be 10x slower than MuJoCo" on the CPU;
  * one humanoid, steps/s: MJX-JAX on one A100 at batch 8192: 950K; C MuJoCo on a 64-core AMD
    3995WX (128 threads): 1.8M; on an Apple M3 Max: 650K. Even saturated, one A100 does the work
    of about 0.53 x 64 = 34 such cores.

Measured here (bench/results/throughput_cpu.json, ``python -m bench.throughput``, a 2-core Intel
Xeon, no GPU), env-steps/s on 2 cores:
  * hopper: cpu engine at P=256 20.7K (10.3K per core), raw ``mj_step`` bound 32.3K, so the
    engine (policy forward included) runs at efficiency eta = 0.64 of raw MuJoCo;
  * swimmer 32.3K, inverted_pendulum 39.6K, mountain_car 144K (cpu engine, P=256).
No MJX-on-GPU number was measured here (no GPU on that machine); the MJX rows in that file are
XLA:CPU, which no run would choose.

The model: with one MJX step of B environments lasting as long as (at least) 10 C-MuJoCo steps on
one core, MJX yields B / 10 steps per C-step time, the cpu engine eta x C. MJX wins only when
B > 10 x eta x C: 51 environments on an 8-core host, 102 on 16, 205 on 32 (the 8-32 cores a GPU
host typically has). ``MJX_MIN_POPULATION`` = 256 sits above the break-even of the largest of those
hosts, and the "10x" is a lower bound on MJX's per-step latency, so below it the cpu engine is the
faster choice everywhere we expect to run; above it MJX's lead grows with B until the GPU
saturates (for the humanoid, at roughly a 34-core host's worth). MJX also pays a compile of tens
of seconds per run (26 s for hopper measured on XLA:CPU in the same file).
"""

import jax

ENGINES = ("auto", "cpu", "mjx")

MJX_MIN_POPULATION = 256
"""Smallest population (seeds x policies per iteration) for which ``auto`` picks ``mjx`` on a GPU."""


def gpu_visible() -> bool:
    """Whether JAX's default backend is a GPU (what the ``mjx`` engine would run on)."""
    return jax.default_backend() == "gpu"


def resolve_engine(engine: str, population: int) -> str:
    """``"cpu"`` or ``"mjx"`` for a run that simulates ``population`` episodes per iteration
    (K seeds x P policies).

    ``"auto"``: ``"mjx"`` when JAX sees a GPU and ``population >= MJX_MIN_POPULATION``, else ``"cpu"``.
    ``"cpu"``/``"mjx"``: returned as given. Anything else, or ``population < 1``: ValueError.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if population < 1:
        raise ValueError(f"population must be >= 1, got {population}")
    if engine != "auto":
        return engine
    return "mjx" if population >= MJX_MIN_POPULATION and gpu_visible() else "cpu"
