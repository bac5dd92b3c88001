"""Where a stalled run's generator can go from its record: ``python -m bench.stall_slope RUN_DIR ...``

    python -m bench.stall_slope /work/runs/s21/runs/hopper-...-seed1 --episodes 8 --ars-steps 40

PoliGen's generator climbs only where its evaluator's slope leads: G is trained so that V(G(c)) = c for commands
above the best so far. On hopper's stalled runs (docs/results/populations.md) the best so far stands for hundreds of
thousands of env steps while the generator keeps falling away from it. This measures, at a run's last checkpoint
(no training):

- the record: the best of the buffer's ``--candidates`` highest stored returns, re-run ``--episodes`` fresh
  episodes; its weight norm against the generator's own G(best so far) and against the exploration noise's
  (``--generator.noise-std`` x sqrt(D)): how much of a record is noise that G never made;
- lines from the record: the true return and V's prediction at weight-space distances ``--distances`` along V's
  gradient at the record (the way the generator's updates push), and along a random direction (the control);
- V's gradient by policy layer (share of its squared norm);
- ARS from the record, from the generator's own G(best so far), and from one exploration draw about G(best so far)
  (is a record's neighbourhood climbable because it was selected, or because noise of its size lands anywhere
  climbable?): ``--ars-steps`` V2-t steps
  (``fastgen.baselines.ars.ars_step``, the task's ARS preset, fixed observation statistics) and the centre's return
  every ``--ars-every`` steps: can averaged mirrored differences climb from here, where one-draw search
  (``bench.noise_scale``) does not, and from where the generator's own population (and its slope step) starts?
- the generator's reach: the cosine between a random weight-space direction u and the change of G(c) that k Adam
  steps of G towards G(c) + ``--reach-distance`` u make, for each k of ``--reach-steps`` (1: G can move its policy
  any way; near 0: only within a narrow range), and how far along u that change goes: is a narrow reach the
  generator's shape (it stays narrow) or one step's conditioning (it widens with more steps)?

Returns are of the kind the run trained on. Writes ``bench/results/analysis/stall_slope_<task>.{json,md,png}``
(or ``--name``).
"""

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import numpy as np
import torch
import tyro

from bench.common import RESULTS, machine, measure_runs, table, write_report
from bench.lucky_records import held_params, held_returns
from envs.policy import layer_sizes
from fastgen import runtime
from fastgen import trained as trained_run
from fastgen.baselines.ars import ars_step
from fastgen.baselines.ars_settings import ARS_PRESETS
from fastgen.sweep import achieved_returns, return_kind


@dataclass
class Options:
    run_dirs: tyro.conf.Positional[tuple[str, ...]]
    """PoliGen run directories with a checkpoint, all of one task."""
    candidates: int = 16
    """The buffer's highest stored returns to re-run; the best of them is the record measured from."""
    episodes: int = 8
    """Fresh episodes per policy (records, points on the lines, ARS centres)."""
    distances: tuple[float, ...] = (0.07, 0.13, 0.26, 0.53, 1.3, 2.6)
    """Weight-space distances from the record along each line."""
    ars_steps: int = 40
    """ARS V2-t steps from the record (0: none)."""
    ars_every: int = 5
    """Measure the ARS centre every this many steps."""
    reach_lr: float = 3e-5
    """Learning rate of the Adam steps that measure the generator's reach."""
    reach_steps: tuple[int, ...] = (1, 10, 50, 200)
    """Numbers of Adam steps after which the reach is measured (one run of max(steps) steps)."""
    reach_distance: float = 1.0
    """Weight-space distance of the target G(c) + this x u that the reach's steps regress G towards."""
    seed: int = 0
    """Seed of the directions and the episodes' starts."""
    name: str | None = None
    """Output name (default: stall_slope_<task>)."""
    out: str = str(RESULTS / "analysis")
    """Directory of the JSON, table and plot."""

    def validate(self) -> None:
        if self.candidates < 1 or self.episodes < 1 or self.ars_steps < 0 or self.ars_every < 1:
            raise ValueError(f"--candidates, --episodes, --ars-every must be >= 1 and --ars-steps >= 0, got "
                             f"{self.candidates}, {self.episodes}, {self.ars_every}, {self.ars_steps}")
        if not self.distances or any(not (math.isfinite(d) and d > 0) for d in self.distances):
            raise ValueError(f"--distances must be one or more distances > 0, got {self.distances}")
        if not (math.isfinite(self.reach_lr) and self.reach_lr > 0):
            raise ValueError(f"--reach-lr must be > 0, got {self.reach_lr}")
        if not self.reach_steps or min(self.reach_steps) < 1:
            raise ValueError(f"--reach-steps must be one or more counts >= 1, got {self.reach_steps}")
        if not (math.isfinite(self.reach_distance) and self.reach_distance > 0):
            raise ValueError(f"--reach-distance must be > 0, got {self.reach_distance}")


def unit(vector: torch.Tensor) -> torch.Tensor:
    return vector / vector.norm()


def evaluator_gradient(run: trained_run.Trained, theta: torch.Tensor) -> tuple[float, torch.Tensor]:
    """V(theta) and its gradient in the policy's weights, ``theta [D]`` -> (prediction, ``[D]``)."""
    x = theta[None].clone().requires_grad_(True)
    value = run.evaluator(x)
    value.sum().backward()
    return float(value.detach()), x.grad[0]


def layer_shares(run: trained_run.Trained, gradient: torch.Tensor) -> list[dict]:
    """The share of ``gradient [D]``'s squared norm in each policy layer (weights and bias)."""
    rows, start, total = [], 0, float(gradient.pow(2).sum())
    for out, fan_in in layer_sizes(run.spec.obs_dim, run.spec.act_dim):
        size = (fan_in + 1) * out
        rows.append({"layer": f"{fan_in}->{out}", "weights": size,
                     "share": float(gradient[start:start + size].pow(2).sum()) / total})
        start += size
    return rows


def line(run: trained_run.Trained, theta: torch.Tensor, direction: torch.Tensor, distances, episodes: int,
         key: jax.Array) -> dict:
    """True returns and V's predictions at ``theta + d x direction`` (unit) for each distance d (the episodes'
    starts those of the record's own fresh episodes)."""
    points = torch.stack([theta + d * direction for d in distances])
    with torch.no_grad():
        predicted = run.evaluator(points).tolist()
    return {"returns": achieved_returns(run, points, episodes, "cpu", key).mean(1).tolist(), "predicted": predicted}


def ars_climb(run: trained_run.Trained, theta: torch.Tensor, options: Options, key: jax.Array) -> list[dict]:
    """The centre's return every ``--ars-every`` of ``--ars-steps`` ARS V2-t steps from ``theta`` (the task's preset)."""
    preset = ARS_PRESETS[run.cfg.env]
    rng = np.random.default_rng(options.seed)
    centre, climb = theta.double().numpy(), []
    for step in range(1, options.ars_steps + 1):
        directions = rng.standard_normal((preset["directions"], centre.size))
        both = np.concatenate([centre + preset["noise"] * directions, centre - preset["noise"] * directions])
        returns = achieved_returns(run, torch.as_tensor(both, dtype=torch.float32), 1, "cpu",
                                   jax.random.fold_in(key, step))[:, 0]
        centre, _ = ars_step(centre, directions, returns[:preset["directions"]], returns[preset["directions"]:],
                             preset["elite"], preset["step_size"])
        if step % options.ars_every == 0:
            now = achieved_returns(run, torch.as_tensor(centre[None], dtype=torch.float32), options.episodes, "cpu",
                                   jax.random.fold_in(key, 10_000 + step))
            climb.append({"step": step, "episodes": 2 * preset["directions"] * step, "return": float(now.mean()),
                          "best_draw": float(returns.max())})
    return climb


def generator_reach(run: trained_run.Trained, commands: torch.Tensor, options: Options) -> list[dict]:
    """After each count k of ``--reach-steps`` Adam steps on mean_c ||G(c) - (G0(c) + distance u)||^2 (``commands
    [B]``, u a random unit direction): the cosine between u and the mean change of G(c), and its length along u.
    The first step's direction is that of one step on -<u, G(c)> (Adam's first step does not see the scale)."""
    generator = trained_run._generator(run.cfg, run.spec)
    generator.load_state_dict(run.generator.state_dict())
    optimizer = torch.optim.Adam(generator.parameters(), lr=options.reach_lr)
    before = generator(commands).detach()  # [B, D]
    direction = unit(torch.randn(before.shape[1], generator=torch.Generator().manual_seed(options.seed)))
    target = before + options.reach_distance * direction
    reach = []
    for step in range(1, max(options.reach_steps) + 1):
        optimizer.zero_grad()
        ((generator(commands) - target) ** 2).sum(1).mean().backward()
        optimizer.step()
        if step in options.reach_steps:
            change = (generator(commands).detach() - before).mean(0)
            reach.append({"steps": step, "cosine": float(torch.nn.functional.cosine_similarity(change, direction, dim=0)),
                          "along": float(change @ direction), "length": float(change.norm())})
    return reach


def measure_run(run_dir: Path, options: Options, key: jax.Array) -> dict:
    run = trained_run.load(run_dir)
    stored = held_returns(run_dir)
    top = torch.topk(stored, min(options.candidates, len(stored))).indices
    candidates = held_params(run_dir, top)
    fresh = achieved_returns(run, candidates, options.episodes, "cpu", jax.random.fold_in(key, 1)).mean(1)
    record = candidates[int(np.argmax(fresh))].clone()
    best = run.best_return if run.best_return is not None else run.cfg.command.first
    made = run.policies(np.array([best], dtype=np.float32))[0]
    with torch.no_grad():
        drawn = run.generator.sample(torch.Generator().manual_seed(options.seed), torch.tensor([best]).float())[0]
    predicted, gradient = evaluator_gradient(run, record)
    random = unit(torch.randn(record.shape, generator=torch.Generator().manual_seed(options.seed)))
    lines = {name: line(run, record, direction, options.distances, options.episodes, jax.random.fold_in(key, 1))
             for name, direction in (("evaluator", unit(gradient)), ("random", random))}
    commands = torch.as_tensor(best + run.cfg.command.drive * np.linspace(0, 2, 64), dtype=torch.float32)
    noise = run.cfg.generator.noise_std * math.sqrt(record.numel())
    return {"run": str(run_dir), "seed": run.cfg.seed, "env_steps": run.env_steps, "best_return": best,
            "stored_top": float(stored[top[0]]), "record_fresh": float(fresh.max()),
            "record_norm": float(record.norm()), "generator_norm": float(made.norm()),
            "record_minus_generator": float((record - made).norm()), "noise_norm": noise,
            "record_predicted": predicted, "gradient_layers": layer_shares(run, gradient),
            "distances": list(options.distances), "lines": lines,
            "ars": ars_climb(run, record, options, jax.random.fold_in(key, 3)) if options.ars_steps else [],
            "ars_from_generator": ars_climb(run, made, options, jax.random.fold_in(key, 4)) if options.ars_steps else [],
            "draw_fresh": float(achieved_returns(run, drawn[None], options.episodes, "cpu",
                                                 jax.random.fold_in(key, 1))[0].mean()),
            "ars_from_draw": ars_climb(run, drawn, options, jax.random.fold_in(key, 5)) if options.ars_steps else [],
            "generator_reach": generator_reach(run, commands, options),
            "return_kind": return_kind(run.cfg, run.spec)}


def summary_row(row: dict) -> dict:
    """The table's numbers of one run: the lines at 0.26 and 2.6 (or the nearest distances), ARS's last centre."""
    def at(name: str, d: float) -> float:
        i = int(np.argmin(np.abs(np.array(row["distances"]) - d)))
        return row["lines"][name]["returns"][i]

    return {"seed": row["seed"], "env_steps": row["env_steps"], "best": row["best_return"],
            "record": row["record_fresh"], "|record|": row["record_norm"], "|G(best)|": row["generator_norm"],
            "|noise|": row["noise_norm"], "V'@0.26": at("evaluator", 0.26), "V'@2.6": at("evaluator", 2.6),
            "rand@0.26": at("random", 0.26), "rand@2.6": at("random", 2.6),
            "ars_last": row["ars"][-1]["return"] if row["ars"] else None,
            "ars_G_last": row["ars_from_generator"][-1]["return"] if row["ars_from_generator"] else None,
            "draw": row["draw_fresh"],
            "ars_draw_last": row["ars_from_draw"][-1]["return"] if row["ars_from_draw"] else None,
            **{f"reach@{r['steps']}": r["cosine"] for r in row["generator_reach"]}}


COLUMNS = ["seed", "env_steps", "best", "record", "|record|", "|G(best)|", "|noise|", "V'@0.26", "V'@2.6",
           "rand@0.26", "rand@2.6", "ars_last", "ars_G_last", "draw", "ars_draw_last"]


def columns(result: dict) -> list[str]:
    """The table's columns: COLUMNS, then one reach column per ``--reach-steps`` count."""
    return COLUMNS + [f"reach@{k}" for k in sorted(set(result["settings"]["reach_steps"]))]


def measure(options: Options) -> dict:
    options.validate()
    key = jax.random.key(options.seed)
    def measured(run_dir: Path) -> dict:
        row = measure_run(run_dir, options, key)
        return {**row, "summary": summary_row(row)}

    task, rows = measure_runs(options.run_dirs, measured, [])
    return {"benchmark": "stall_slope", "task": task, "machine": machine(), "settings": asdict(options),
            "rows": rows, "summary": [r["summary"] for r in rows]}


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    fig, axes = plt.subplots(2, len(rows), figsize=(3.8 * len(rows), 6.4), squeeze=False)
    for k, r in enumerate(rows):
        ax = axes[0][k]
        for name, style in (("evaluator", "o-"), ("random", "s--")):
            ax.plot(r["distances"], r["lines"][name]["returns"], style, ms=3, label=f"{name}: true return")
        ax.plot(r["distances"], r["lines"]["evaluator"]["predicted"], "x:", ms=4, label="evaluator: V's prediction")
        ax.axhline(r["record_fresh"], color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_title(f"seed {r['seed']} at {r['env_steps'] / 1e3:.0f}k: from the record", fontsize=8)
        ax.set_xlabel("distance in weight space", fontsize=8)
        ax = axes[1][k]
        if r["ars"]:
            ax.plot([a["episodes"] for a in r["ars"]], [a["return"] for a in r["ars"]], "o-", ms=3,
                    label="ARS from the record")
            ax.plot([a["episodes"] for a in r["ars_from_generator"]], [a["return"] for a in r["ars_from_generator"]],
                    "s--", ms=3, label="ARS from G(best)")
            ax.plot([a["episodes"] for a in r["ars_from_draw"]], [a["return"] for a in r["ars_from_draw"]],
                    "^:", ms=3, label="ARS from G(best) + one exploration draw")
        ax.axhline(r["record_fresh"], color="grey", lw=0.8, ls=":", label="record (fresh)")
        ax.set_xlabel("ARS episodes", fontsize=8)
    axes[0][0].set_ylabel("return", fontsize=8)
    axes[1][0].set_ylabel("return", fontsize=8)
    axes[0][0].legend(fontsize=6)
    axes[1][0].legend(fontsize=6)
    fig.suptitle(f"{result['task']}: along the evaluator's slope at a stalled record, and ARS from it", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(result: dict) -> str:
    s = result["settings"]
    lines = [f"Record: the best of each run's {s['candidates']} highest stored returns over {s['episodes']} fresh "
             f"episodes. V'@d / rand@d: the true return (mean of {s['episodes']}) at weight-space distance d from "
             "the record along V's gradient / a random direction. |noise|: the exploration noise's norm. ars_last: "
             f"the ARS centre after {s['ars_steps']} steps of the task's preset from the record (ars_G_last: from "
             "the generator's own G(best); ars_draw_last: from one exploration draw about G(best), whose own return is "
             "draw). reach@k: cosine between a random "
             f"direction u and what k Adam steps (lr {s['reach_lr']:g}) of G towards G(c) + {s['reach_distance']:g} u "
             "make of G(c).", "",
             "```", table(result["summary"], columns(result)), "```", ""]
    for r in result["rows"]:
        lines.append(f"seed {r['seed']}: V's gradient by layer: " + ", ".join(
            f"{g['layer']} {100 * g['share']:.0f}% ({g['weights']} weights)" for g in r["gradient_layers"]))
        for name in ("evaluator", "random"):
            pairs = zip(r["distances"], r["lines"][name]["returns"], r["lines"][name]["predicted"])
            lines.append(f"  along {name}: " + ", ".join(f"{d:g}: {t:.0f} (V {p:.0f})" for d, t, p in pairs))
        if r["ars"]:
            lines.append("  ARS from the record: " + ", ".join(f"{a['episodes']} ep: {a['return']:.0f}" for a in r["ars"]))
            lines.append("  ARS from G(best): " + ", ".join(f"{a['episodes']} ep: {a['return']:.0f}"
                                                         for a in r["ars_from_generator"]))
            lines.append(f"  ARS from G(best) + one draw ({r['draw_fresh']:.0f}): " + ", ".join(
                f"{a['episodes']} ep: {a['return']:.0f}" for a in r["ars_from_draw"]))
        lines.append("  reach: " + ", ".join(f"{g['steps']} steps: cosine {g['cosine']:.3f}, along u {g['along']:.3f} "
                                            f"of |change| {g['length']:.3f}" for g in r["generator_reach"]))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    options = tyro.cli(Options, args=argv)
    runtime.configure(1)  # one core: it runs beside training
    result = measure(options)
    name = options.name or f"stall_slope_{result['task']}"
    write_report(Path(options.out), name, result, markdown(result), {"": plot})
    print(table(result["summary"], columns(result)))
    return result


if __name__ == "__main__":
    main()
