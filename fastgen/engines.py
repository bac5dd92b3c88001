"""Which simulation engine a run uses: ``resolve_engine(engine, population)``.

``"auto"`` picks ``"mjx"`` only where it can beat the ``cpu`` engine: a GPU visible to JAX *and* a
population (K seeds x P policies simulated per iteration) of at least ``MJX_MIN_POPULATION``.
Otherwise ``"cpu"``. ``"cpu"``, ``"mjx"`` and ``"warp"`` (MuJoCo Warp, ``envs.warp_env``) are taken as asked: ``auto``
never picks ``warp``, which has not been measured on a GPU yet (on this project's 2-core CPUs it runs at about a
quarter of the cpu engine's rate: bench/results/throughput/).

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

Measured here, env-steps/s:
  * ``bench/results/throughput/throughput_cpu.json`` (a 2-core Intel Xeon, no GPU): the cpu engine at P=256 runs
    hopper at 20.7K (10.3K per core; raw ``mj_step`` bound 32.3K, so efficiency eta = 0.64) and
    swimmer at 32.3K (16.1K per core).
  * ``bench/results/gpu/gpu_nvidia-h200.json`` (one H200 lease): MJX float32 at B = 1024 ran swimmer
    (no termination: every env steps 1000 times) at 29.6K, so one batched env step took 34.6 ms;
    one swimmer step costs a C-MuJoCo core 1 / 16.1K = 62 us, so an MJX step at B <= 1024 is worth
    ~560 core-steps, not the "10x" of the documentation. MJX at B = 1024 matched the cpu engine on
    that machine's 16 cores (29.0K at P = 256) on swimmer and trailed it on hopper (2.4K vs 10.4K).

The model: if one MJX step of B environments costs as much as S C-MuJoCo steps on one core whatever B,
MJX yields B / S steps per C-step time and the cpu engine C per C cores. MJX wins only when B > S x C:
with the measured S ~ 560, about 9K environments on a 16-core host.

A second H200 lease (``bench/results/gpu/gpu_nvidia-h200_lease2.json``, ``bench.gpu``'s step part) measured
the step at larger B. It is launch- and loop-bound: a swimmer env step took 28.1 ms at B = 1024 and
40.4 ms at B = 16384 (16x the environments for 1.4x the time); hopper 54.6 and 122.8 ms. Capping
MuJoCo's solver at 4 / 8 iterations (the XMLs ask for 100 / 50) cut the B = 1024 step 2.5-2.7x, so
the solver's loops are most of it; the matmul precision changed nothing. Whole rollouts at P = 16384:
swimmer 346K env-steps/s on MJX, against 47.7K for the cpu engine's best on that host (8 threads,
P = 256): MJX wins 7x. Hopper 10.3K, no better than the cpu engine (8.2K at P = 64 on 4 threads):
random hoppers fall within ~40 steps, but the loop steps all 16384 environments until the last one
falls. ``MJX_MIN_POPULATION`` = 16384 is where both measurements say MJX stops losing; below it
``auto`` picks the cpu engine, which covers every population fastgen's protocols use (K = 20 seeds
at P = 1, P <= 64). MJX also pays a compile of 17-33 s per run on the H200.
"""

import jax
import torch

import envs

ENGINES = ("auto", *envs.ENGINES)  # what --engine accepts
DEVICES = ("auto", "cpu", "cuda")  # what --device accepts

MJX_MIN_POPULATION = 16384
"""Smallest population (seeds x policies per iteration) for which ``auto`` picks ``mjx`` on a GPU."""


def gpu_visible() -> bool:
    """Whether JAX's default backend is a GPU (what the ``mjx`` engine would run on)."""
    return jax.default_backend() == "gpu"


def resolve_engine(engine: str, population: int) -> str:
    """The engine for a run that simulates ``population`` episodes per iteration
    (K seeds x P policies).

    ``"auto"``: ``"mjx"`` when JAX sees a GPU and ``population >= MJX_MIN_POPULATION``, else ``"cpu"``.
    ``"cpu"``/``"mjx"``/``"warp"``: returned as given. Anything else, or ``population < 1``: ValueError.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if population < 1:
        raise ValueError(f"population must be >= 1, got {population}")
    if engine != "auto":
        return engine
    return "mjx" if population >= MJX_MIN_POPULATION and gpu_visible() else "cpu"


def make_env(cfg, seeds: int = 1, engine: str | None = None) -> envs.Env:
    """The run's task on its engine (``engine`` overrides ``cfg.engine``; ``auto`` sizes it for ``seeds`` x P
    policies per iteration) under its ``--physics`` profile, with ``cfg.threads`` on ``cpu``."""
    engine = resolve_engine(engine or cfg.engine, seeds * cfg.population)
    return envs.make(cfg.env, engine, physics=cfg.physics, nthread=cfg.threads if engine == "cpu" else None)


def resolve_device(device: str) -> torch.device:
    """The torch device of ``--device``: ``auto`` is cuda where torch sees a GPU, else cpu."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
