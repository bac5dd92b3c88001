"""``envs.make``: a task on an engine."""

from envs.physics import check_profile
from envs.tasks import get_task

ENGINES = ("cpu", "mjx", "warp")
DTYPES = ("float32", "float64")


def make(name: str, engine: str = "cpu", *, physics: str = "gymnasium", dtype: str | None = None,
         nthread: int | None = None, devices=None):
    """The task ``name`` on ``engine``.

    Args:
        name: one of ``envs.TASK_NAMES`` (hopper, swimmer, inverted_pendulum, mountain_car, walker2d,
            half_cheetah, ant, reacher).
        engine: ``"cpu"`` (MuJoCo's C engine, all cores), ``"mjx"`` (JAX/MJX, jittable) or ``"warp"`` (MuJoCo Warp,
            float32, the ``[warp]`` extra; on Warp's CPU device where no GPU is visible).
        physics: ``envs.physics`` profile of the MuJoCo tasks' models: ``"gymnasium"`` (the XML as Gymnasium
            ships it) or ``"fast"`` (solver and contacts as MuJoCo's MJX guide advises); no effect on
            mountain_car, whose dynamics are closed-form.
        dtype: ``mjx`` physics precision, ``"float32"`` or ``"float64"``; it must match JAX's
            process-wide x64 mode (``JAX_ENABLE_X64=1`` for float64), and by default follows it. ``cpu`` physics is
            always MuJoCo's float64.
        nthread: ``cpu`` only: threads for physics and policy (default: all cores).
        devices: ``mjx`` only: the JAX devices a rollout is sharded over (default: all local devices
            of the default backend; one device means no sharding).
    """
    task = get_task(name)
    check_profile(physics)
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    if nthread is not None and nthread <= 0:
        raise ValueError(f"nthread must be a positive integer, got {nthread}")
    if engine == "cpu":
        from envs.cpu import CpuEnv

        return CpuEnv(task, nthread=nthread, physics=physics)
    if engine == "warp":
        if dtype not in (None, "float32"):
            raise ValueError(f"the warp engine simulates in float32; dtype {dtype!r} is not available")
        from envs.warp_env import WarpEnv

        return WarpEnv(task, physics=physics)
    import jax

    x64 = bool(jax.config.jax_enable_x64)
    dtype = dtype or ("float64" if x64 else "float32")
    if (dtype == "float64") != x64:
        raise ValueError(
            f"mjx dtype {dtype!r} needs JAX's process-wide x64 mode {'on' if dtype == 'float64' else 'off'}, "
            f"but it is {'on' if x64 else 'off'}: set JAX_ENABLE_X64={int(dtype == 'float64')} before starting Python")
    from envs.mjx_env import MjxEnv

    return MjxEnv(task, dtype=dtype, devices=devices, physics=physics)
