"""``python -m fastgen.export RUN_DIR --command C --out policy.npz``: one generated policy as a standalone file.

The policy is G(C) without noise, from the run's final generator (or ``--snapshot k``), with the
observation statistics it acts with, in the ``fastgen-policy-1`` npz format that
``fastgen/policy_file.py`` documents and runs in ``gymnasium.make(...)`` using numpy alone.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import tyro

from envs.policy import param_shapes, unflatten
from fastgen import runtime
from fastgen import trained as trained_run
from fastgen.policy_file import FORMAT


@dataclass
class ExportConfig:
    run_dir: tyro.conf.Positional[str]
    """A PoliGen run directory."""
    command: float
    """The return to ask the generator for (hopper: without survival bonus, as it was trained)."""
    out: str = "policy.npz"
    """Where to write the policy."""
    snapshot: int | None = None
    """Use generator snapshot k (see snapshots/) instead of the final generator."""


def export(cfg: ExportConfig) -> dict:
    """Write ``cfg.out``; -> what was written."""
    if not np.isfinite(cfg.command):
        raise ValueError(f"--command must be a finite return, got {cfg.command}")
    run = trained_run.load(Path(cfg.run_dir), cfg.snapshot)
    params = run.policies(np.array([cfg.command]))
    with torch.no_grad():
        predicted = float(run.evaluator(params)[0])
    spec = run.spec
    pieces = unflatten(params.numpy(), spec.obs_dim, spec.act_dim)
    arrays = {name: piece[0].astype(np.float32) for (name, _), piece in
              zip(param_shapes(spec.obs_dim, spec.act_dim), pieces)}
    payload = {**arrays, "obs_mean": np.asarray(run.obs_mean, np.float64), "obs_std": np.asarray(run.obs_std, np.float64),
               "action_bound": np.float64(spec.action_bound), "gymnasium_id": np.str_(spec.gymnasium_id),
               "env": np.str_(run.cfg.env), "command": np.float64(cfg.command),
               "predicted_return": np.float64(predicted), "format": np.str_(FORMAT)}
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, **payload)
    tmp.replace(out)
    return {"out": str(out), "env": run.cfg.env, "gymnasium_id": spec.gymnasium_id, "command": cfg.command,
            "predicted_return": predicted, "env_steps": run.env_steps}


def main(argv: list[str] | None = None) -> int:
    cfg = tyro.cli(ExportConfig, args=argv, description=__doc__.splitlines()[0])
    runtime.configure()
    try:
        written = export(cfg)
    except ValueError as error:
        print(f"fastgen.export: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {written['out']}: {written['env']} policy for command {written['command']:.1f} (evaluator predicts "
          f"{written['predicted_return']:.1f}); run it with: python -m fastgen.policy_file {written['out']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
