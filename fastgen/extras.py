"""Optional dependencies: the extra that installs each, and a one-line error naming it when it is missing.

    pip install -e ".[ddpg]"          Stable-Baselines3, for --algo ddpg
    pip install -e ".[plots]"         matplotlib, for the PNGs of fastgen.sweep, fastgen.atlas and bench
    pip install -e ".[tensorboard]"   TensorBoard event files in run directories
    pip install -e ".[ray]"           Ray, for bench.paper --ray and other sweeps over machines
    pip install -e ".[warp]"          MuJoCo Warp, for --engine warp (envs.warp_env names it when missing)
    pip install -e ".[video]"         imageio and its ffmpeg, for fastgen.render and --eval.video
    pip install -e ".[test]"          all of them, and the test tools
"""

import importlib
from types import ModuleType

# module -> the extra that installs it
EXTRAS = {"stable_baselines3": "ddpg", "matplotlib": "plots", "tensorboard": "tensorboard", "ray": "ray",
          "brax": "brax", "imageio": "video", "PIL": "video"}


class MissingExtra(ValueError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def require(module: str, purpose: str) -> ModuleType:
    """``module`` imported, or MissingExtra: '<purpose> needs <module>: pip install -e ".[<extra>]"'."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise MissingExtra(f'{purpose} needs {top}, which is not installed: pip install -e ".[{EXTRAS[top]}]"') from None


def pyplot(purpose: str) -> ModuleType:
    """``matplotlib.pyplot`` on the file-only Agg backend (no display needed)."""
    matplotlib = require("matplotlib", purpose)
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")
