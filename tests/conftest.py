import logging

# MJX logs a warning for the optional Warp backend at import; it is irrelevant here.
logging.getLogger().setLevel(logging.ERROR)

import envs  # noqa: E402,F401  (first: envs.gl picks MuJoCo's headless OpenGL backend before mujoco is imported)
