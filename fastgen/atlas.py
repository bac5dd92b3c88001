"""``python -m fastgen.atlas RUN_DIR``: a map of policy space, and the generator's path through it (paper Fig. 5).

Every policy in the run's buffer is placed by the first two principal components of its
probing actions on the final evaluator's probing states (its fingerprint), and the background is
coloured by the training returns of those policies (a Delaunay triangulation of the points with
colours interpolated inside each triangle, the paper's areas made continuous). Over it, for
several generator snapshots (``--generator.snapshots``, taken during training; the last stage is
the final checkpoint's generator when the run stopped between snapshots), the policies the
snapshot generates for N commands evenly spaced over the task's return range: placed by the same
fingerprint and PCA, coloured by the return they achieve in K episodes on ``--engine`` with the
observation statistics of their time, joined in command order. One panel per stage. Writes
``atlas.json`` and ``atlas.png`` into RUN_DIR (or ``--out``).
"""

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
import torch
import tyro

import envs
from fastgen import extras, runtime
from fastgen import trained as trained_run
from fastgen.poligen import snapshots
from fastgen.sweep import achieved_returns


@dataclass
class AtlasConfig:
    run_dir: tyro.conf.Positional[str]
    """A PoliGen run directory trained with --generator.snapshots > 0."""
    commands: int = 20
    """Commands per snapshot, evenly spaced over the task's return range."""
    stages: int = 5
    """Panels: this many snapshots, evenly spread from the untrained to the last one."""
    episodes: int = 5
    """Episodes per generated policy for its achieved return."""
    engine: str = "cpu"
    """Engine the generated policies run on: cpu or mjx."""
    seed: int = 0
    """Seed of the episodes' reset noise."""
    out: str | None = None
    """Output prefix (default: RUN_DIR/atlas, giving atlas.json and atlas.png)."""

    def validate(self) -> None:
        for flag, value in (("--commands", self.commands), ("--stages", self.stages), ("--episodes", self.episodes)):
            if value < 1:
                raise ValueError(f"{flag} must be >= 1, got {value}")
        if self.engine not in envs.ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose one of {', '.join(envs.ENGINES)}")


class Pca2:
    """The first two principal components of ``points [N, F]``; ``project`` maps ``[M, F] -> [M, 2]``."""

    def __init__(self, points: np.ndarray):
        self.center = points.mean(axis=0)
        _, singular, vt = np.linalg.svd(points - self.center, full_matrices=False)
        self.axes = vt[:2]
        variance = singular**2
        self.explained = (variance[:2] / variance.sum()).tolist()

    def project(self, points: np.ndarray) -> np.ndarray:
        return (points - self.center) @ self.axes.T


def fingerprints(evaluator, params: torch.Tensor, batch: int = 1024) -> np.ndarray:
    """Probing actions ``[N, probes * act_dim]`` of ``params [N, D]``, in batches."""
    with torch.no_grad():
        return np.concatenate([evaluator.probing_actions(params[i : i + batch].float()).numpy()
                               for i in range(0, params.shape[0], batch)])


def pick_stages(kept: list[int], stages: int) -> list[int]:
    """``stages`` of the snapshot numbers ``kept``, evenly spread, first and last included."""
    if stages >= len(kept):
        return kept
    picks = np.round(np.linspace(0, len(kept) - 1, stages)).astype(int)
    return [kept[i] for i in dict.fromkeys(picks)]


def atlas(cfg: AtlasConfig) -> dict:
    cfg.validate()
    run_dir = Path(cfg.run_dir)
    final = trained_run.load(run_dir)
    kept = snapshots.load_all(run_dir)
    if not kept:
        raise ValueError(f"{run_dir} kept no generator snapshots; train it with --generator.snapshots > 0")
    prints, returns = [], []
    for params, chunk_returns in trained_run.buffer_chunks(run_dir):
        prints.append(fingerprints(final.evaluator, params))
        returns.append(chunk_returns.numpy())
    prints, returns = np.concatenate(prints), np.concatenate(returns)
    pca = Pca2(prints)
    buffer_xy = pca.project(prints)
    commands = np.linspace(*final.spec.return_range, cfg.commands)
    by_k = {s["k"]: s for s in kept}
    picked = [(k, final.with_snapshot(by_k[k])) for k in pick_stages(sorted(by_k), cfg.stages)]
    if final.env_steps > picked[-1][1].env_steps:  # stopped between snapshots (--time-limit): show where it ended
        picked[-1] = ("final", final)
    stages = []
    for k, run in picked:
        params = run.policies(commands)
        achieved = achieved_returns(run, params, cfg.episodes, cfg.engine, jax.random.key(cfg.seed)).mean(axis=1)
        xy = pca.project(fingerprints(final.evaluator, params))
        stages.append({"k": k, "of": kept[0]["of"], "env_steps": run.env_steps, "achieved": achieved.tolist(),
                       "xy": xy.tolist()})
    return {"run_dir": cfg.run_dir, "env": final.cfg.env, "env_steps": final.env_steps, "commands": commands.tolist(),
            "episodes": cfg.episodes, "engine": cfg.engine, "explained_variance": pca.explained,
            "buffer": {"count": int(len(returns)), "xy": np.round(buffer_xy, 4).tolist(),
                       "returns": np.round(returns, 3).tolist()},
            "stages": stages}


def plot(result: dict, path: Path) -> None:
    plt = extras.pyplot("fastgen.atlas")
    from matplotlib import cm, colors

    stages = result["stages"]
    xy, returns = np.array(result["buffer"]["xy"]), np.array(result["buffer"]["returns"])
    achieved = np.concatenate([s["achieved"] for s in stages])
    norm = colors.Normalize(min(returns.min(), achieved.min()), max(returns.max(), achieved.max()))
    fig, axes = plt.subplots(1, len(stages), figsize=(3.6 * len(stages), 3.8), squeeze=False,
                             sharex=True, sharey=True)
    for ax, stage in zip(axes[0], stages):
        _background(ax, xy, returns, norm)
        points = np.array(stage["xy"])
        ax.plot(points[:, 0], points[:, 1], color="white", linewidth=0.8, alpha=0.8)
        ax.scatter(points[:, 0], points[:, 1], c=stage["achieved"], cmap="viridis", norm=norm, s=36,
                   edgecolors="red", linewidths=1.0, zorder=3)
        which = "last checkpoint" if stage["k"] == "final" else f"snapshot {stage['k']}/{stage['of']}"
        ax.set_title(f"generator at {stage['env_steps']:,} env steps\n({which})", fontsize=9)
        ax.set_xlabel("PC 1")
    axes[0][0].set_ylabel("PC 2")
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap="viridis"), ax=axes[0].tolist(), label="return",
                 shrink=0.9)
    fig.suptitle(f"{result['env']}: the buffer's policies ({result['buffer']['count']:,}) by fingerprint PCA "
                 f"({sum(result['explained_variance']):.0%} of variance), coloured by return; red-edged: the "
                 f"generator's policies for {len(result['commands'])} commands over the return range", fontsize=9, y=1.04)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def _background(ax, xy: np.ndarray, returns: np.ndarray, norm) -> None:
    """Returns over the buffer's policies: interpolated over their Delaunay triangles, or dots if too few."""
    from matplotlib.tri import Triangulation

    unique = np.unique(np.round(xy, 9), axis=0)
    if len(unique) >= 3:
        try:
            ax.tripcolor(Triangulation(xy[:, 0], xy[:, 1]), returns, cmap="viridis", norm=norm, shading="gouraud")
            return
        except (RuntimeError, ValueError):  # collinear points: no triangulation
            pass
    ax.scatter(xy[:, 0], xy[:, 1], c=returns, cmap="viridis", norm=norm, s=4)


def main(argv: list[str] | None = None) -> int:
    cfg = tyro.cli(AtlasConfig, args=argv, description=__doc__.splitlines()[0])
    runtime.configure()
    try:
        extras.require("matplotlib", "fastgen.atlas")  # its PNG: say so before any work
        result = atlas(cfg)
    except ValueError as error:
        print(f"fastgen.atlas: error: {error}", file=sys.stderr)
        return 2
    prefix = Path(cfg.out) if cfg.out else Path(cfg.run_dir) / "atlas"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".json").write_text(json.dumps(result) + "\n")
    plot(result, prefix.with_suffix(".png"))
    for stage in result["stages"]:
        achieved = np.array(stage["achieved"])
        print(f"snapshot {stage['k']} at {stage['env_steps']:,} env steps: achieved returns "
              f"{achieved.min():.1f} .. {achieved.max():.1f}")
    print(f"wrote {prefix.with_suffix('.json')} and {prefix.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
