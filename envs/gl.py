"""Which OpenGL backend MuJoCo's offscreen renderer uses, chosen before ``mujoco`` is first imported (MuJoCo reads
``MUJOCO_GL`` then): EGL where its library is installed (Debian's ``libegl1``; GPU or Mesa's software EGL), else
OSMesa (``libosmesa6``), else none. A ``MUJOCO_GL`` already set is left alone. Imports nothing but the standard
library."""

import ctypes.util
import os

BACKENDS = (("egl", "EGL", "libegl1"), ("osmesa", "OSMesa", "libosmesa6"))


def choose_backend() -> str | None:
    """Set ``MUJOCO_GL`` to the first backend whose library is found (unless set) -> the backend, or None."""
    if os.environ.get("MUJOCO_GL"):
        return os.environ["MUJOCO_GL"]
    for backend, library, _ in BACKENDS:
        if ctypes.util.find_library(library):
            os.environ["MUJOCO_GL"] = backend
            return backend
    return None


def missing_message(detail: str) -> str:
    """The one-line error when no renderer can be made."""
    backend = os.environ.get("MUJOCO_GL") or "none found"
    packages = " or ".join(f"{package} ({name})" for name, _, package in BACKENDS)
    return (f"rendering needs headless OpenGL for MuJoCo (MUJOCO_GL={backend}: {detail}); install Debian's "
            f"{packages}, or set MUJOCO_GL before starting Python")
