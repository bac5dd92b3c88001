"""Physics profiles: which MuJoCo solver and collision settings a task's model is simulated with.

``gymnasium`` (the default) is the XML exactly as Gymnasium ships it: what every parity test checks against
Gymnasium, and what the paper's numbers were measured on. ``fast`` changes only settings MuJoCo's MJX guide
("Performance tuning": bring iterations and line-search iterations "down to just low enough that the
simulation remains stable", disable eulerdamp) and MuJoCo Playground's locomotion XMLs (4 iterations, 8-10
line-search iterations, eulerdamp off) advise; timestep, integrator, masses and reward are kept:

=====================  ==========================  =====================================================
setting                gymnasium (MuJoCo default)  fast
=====================  ==========================  =====================================================
``opt.iterations``     100                         4 (Newton solver's iterations per substep, at most)
``opt.ls_iterations``  50                          8 (line-search iterations per solver iteration)
contacts               every pair the XML allows   geom vs ground plane only (hopper's body parts no
                                                   longer collide with each other; the other tasks'
                                                   XMLs already allow no other pair)
eulerdamp              on                          off (only the Euler integrator reads it:
                                                   half_cheetah; the others use RK4)
=====================  ==========================  =====================================================

A profile is applied to the ``MjModel`` before either engine sees it, so the ``cpu`` and ``mjx`` engines
simulate the same model within a profile. What ``fast`` changes in returns and speed:
``bench/results/physics/physics_profiles.md`` (``python -m bench.physics``).
"""

import mujoco

PROFILES = ("gymnasium", "fast")

FAST_ITERATIONS = 4
FAST_LS_ITERATIONS = 8


def check_profile(physics: str) -> str:
    """``physics`` if it names a profile, else ValueError in one line."""
    if physics not in PROFILES:
        raise ValueError(f"unknown physics profile {physics!r}; choose one of {', '.join(PROFILES)}")
    return physics


def apply(model: mujoco.MjModel, physics: str) -> mujoco.MjModel:
    """``model`` set to the profile ``physics`` (in place; returned for chaining). ``gymnasium`` changes nothing."""
    check_profile(physics)
    if physics == "gymnasium":
        return model
    model.opt.iterations = FAST_ITERATIONS
    model.opt.ls_iterations = FAST_LS_ITERATIONS
    model.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_EULERDAMP
    ground = model.geom_type == mujoco.mjtGeom.mjGEOM_PLANE
    # A pair collides when (contype_a & conaffinity_b) | (contype_b & conaffinity_a): with conaffinity only on
    # planes, a body geom (contype kept) meets the ground and nothing else.
    model.geom_conaffinity[~ground] = 0
    return model
