"""Can the generator make its record's behaviour? ``python -m bench.record_follow RUN_DIR ...``

    python -m bench.record_follow /work/runs/s22/runs40/hopper-...-seed6 --lr 1e-4 --steps 10 50 200 1000

Every search variant of issue 37 (docs/results/populations.md, "Search from the record" on) fails at one step: the
search's records climb, and the generator does not follow them. Action-space anchors (``--generator.anchor-lr``)
pull the actions of G(r_a) towards those of each record theta_a on fixed N(0, 1) states (normalised observations).
This measures, at a run's last checkpoint (no training of the run):

- the record: the newest anchor (what the anchor steps pull towards) or, in a run without anchors, the buffer's
  highest stored return; its return and G(r)'s over ``--episodes`` fresh episodes (the same starts), r its return;
- the action gap: mean squared difference of the actions of G(r) and of the record on the anchor states and on the
  states the record itself visits in those episodes; as scales, what one exploration draw (G(r) + noise) changes on
  them and the variance of the record's own actions over its visited states;
- following: on a copy of G, k Adam steps (``--lr``) of the anchor loss on the record alone, once on the anchor
  states and once on the record's visited states; after each k of ``--steps`` both gaps, G(r)'s return, and the
  returns of G at ``--lower`` fractions of r (what the steps do to the generator's other commands).

Returns are of the kind the run trained on. Writes ``bench/results/analysis/record_follow_<task>.{json,md,png}``
(or ``--name``).
"""

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import numpy as np
import torch
import tyro

import envs
from bench.common import RESULTS, machine, measure_runs, table, write_report
from bench.lucky_records import held_params, held_returns
from envs.play import play
from envs.policy import controller
from fastgen import policy, runtime
from fastgen import trained as trained_run
from fastgen.poligen import settings
from fastgen.poligen.learner import make_anchor_states
from fastgen.sweep import achieved_returns, return_kind


@dataclass
class Options:
    run_dirs: tyro.conf.Positional[tuple[str, ...]]
    """PoliGen run directories with a checkpoint, all of one task."""
    episodes: int = 8
    """Fresh episodes per policy, and the record's episodes whose states are its visited states."""
    steps: tuple[int, ...] = (10, 50, 200, 1000)
    """Numbers of Adam steps after which the following is measured (one run of max(steps) steps per state set)."""
    lr: float = 1e-4
    """Learning rate of the following's Adam steps (the anchors' own rate is --generator.anchor-lr)."""
    lower: tuple[float, ...] = (0.25, 0.5)
    """Fractions of the record's return at which G's policies are also measured."""
    seed: int = 0
    """Seed of the episodes' starts and of the exploration draw."""
    name: str | None = None
    """Output name (default: record_follow_<task>)."""
    out: str = str(RESULTS / "analysis")
    """Directory of the JSON, table and plot."""

    def validate(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {self.episodes}")
        if not self.steps or min(self.steps) < 1:
            raise ValueError(f"--steps must be one or more counts >= 1, got {self.steps}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"--lr must be > 0, got {self.lr}")
        if any(not (math.isfinite(f) and f > 0) for f in self.lower):
            raise ValueError(f"--lower must be fractions > 0, got {self.lower}")


def record_of(run_dir: Path, run: trained_run.Trained) -> tuple[torch.Tensor, float, str]:
    """The policy ``[D]`` the run's anchor steps pull towards last (its newest anchor, for the checkpoint's
    observation statistics), the return it set, and "anchor"; in a run without anchors the buffer's highest stored
    return's policy, "buffer"."""
    saved = torch.load(Path(run_dir) / "checkpoint.pt", weights_only=False, map_location="cpu", mmap=True)
    anchors = saved.get("anchors")
    if anchors is not None and len(anchors["returns"]):
        theta = anchors["theta"][-1:]
        if settings.keep_behaviour(run.cfg):  # anchors are kept for raw observations, as the buffer's policies
            theta = policy.reframe(theta, None, (run.obs_mean, run.obs_std), run.spec)
        return theta[0].clone(), float(anchors["returns"][-1]), "anchor"
    stored = held_returns(run_dir)
    top = torch.argmax(stored).reshape(1)
    return held_params(run_dir, top)[0].clone(), float(stored[top[0]]), "buffer"


def visited_states(run: trained_run.Trained, theta: torch.Tensor, episodes: int, key: jax.Array) -> torch.Tensor:
    """The normalised observations ``[S, obs_dim]`` the policy ``theta [D]`` acts on over ``episodes`` fresh
    episodes."""
    env = envs.make(run.cfg.env, "cpu", physics=run.cfg.physics)
    params = np.repeat(theta.numpy()[None], episodes, 0)
    mean, std = np.repeat(run.obs_mean[None], episodes, 0), np.repeat(run.obs_std[None], episodes, 0)
    seen = []

    def on_step(before, actions, after, alive):
        seen.append(((np.asarray(before.obs, np.float64) - mean) / std)[alive])

    play(env, controller(params, mean, std, run.spec), key, episodes, on_step)
    return torch.as_tensor(np.concatenate(seen), dtype=torch.float32)


def action_gap(a: torch.Tensor, b: torch.Tensor, states: torch.Tensor, spec) -> float:
    """Mean squared difference of the actions of the policies ``a``, ``b [D]`` on ``states [S, obs_dim]``."""
    with torch.no_grad():
        return float((policy.forward(a[None], states, spec) - policy.forward(b[None], states, spec)).pow(2).mean())


def follow(run: trained_run.Trained, record: torch.Tensor, commands: torch.Tensor, states: torch.Tensor,
           gap_states: dict[str, torch.Tensor], options: Options, key: jax.Array) -> list[dict]:
    """After each count of ``--steps`` Adam steps of a copy of G on the MSE between the actions of G(commands[0]) and
    of ``record`` on ``states``: the gaps on each of ``gap_states``, G(commands[0])'s return and G's at the other
    ``commands [1 + len(--lower)]``."""
    generator = trained_run._generator(run.cfg, run.spec)
    generator.load_state_dict(run.generator.state_dict())
    optimizer = torch.optim.Adam(generator.parameters(), lr=options.lr)
    with torch.no_grad():
        target = policy.forward(record[None], states, run.spec)
    rows = []
    for step in range(1, max(options.steps) + 1):
        optimizer.zero_grad()
        (policy.forward(generator(commands[:1]), states, run.spec) - target).pow(2).mean().backward()
        optimizer.step()
        if step in options.steps:
            with torch.no_grad():
                made = generator(commands)
            returns = achieved_returns(run, made, options.episodes, "cpu", key).mean(1)
            rows.append({"steps": step, **{f"gap_{name}": action_gap(made[0], record, s, run.spec)
                                           for name, s in gap_states.items()},
                         "return": float(returns[0]), "lower_returns": returns[1:].tolist()})
    return rows


def measure_run(run_dir: Path, options: Options, key: jax.Array) -> dict:
    run = trained_run.load(run_dir)
    record, command, source = record_of(run_dir, run)
    states = {"anchor": make_anchor_states(run.spec.obs_dim),
              "visited": visited_states(run, record, options.episodes, key)}
    commands = torch.tensor([command, *(command * f for f in options.lower)], dtype=torch.float32)
    made = run.policies(commands.numpy())
    with torch.no_grad():
        drawn = run.generator.sample(torch.Generator().manual_seed(options.seed), commands[:1])[0]
    returns = achieved_returns(run, torch.cat([record[None], made]), options.episodes, "cpu", key).mean(1)
    with torch.no_grad():
        spread = float(policy.forward(record[None], states["visited"], run.spec).var(1).mean())
    return {"run": str(run_dir), "seed": run.cfg.seed, "env_steps": run.env_steps, "source": source,
            "command": command, "record_fresh": float(returns[0]), "generated_fresh": float(returns[1]),
            "lower": commands[1:].tolist(), "lower_returns": returns[2:].tolist(),
            "visited": int(states["visited"].shape[0]),
            **{f"gap_{name}": action_gap(made[0], record, s, run.spec) for name, s in states.items()},
            **{f"draw_{name}": action_gap(made[0], drawn, s, run.spec) for name, s in states.items()},
            "record_action_variance": spread,
            "follow": {name: follow(run, record, commands, s, states, options, key) for name, s in states.items()},
            "return_kind": return_kind(run.cfg, run.spec)}


def summary_row(row: dict) -> dict:
    """One run's table row: the record against G(r), the gaps, and where 1000-step following ends."""
    last = {name: rows[-1] for name, rows in row["follow"].items()}
    return {"seed": row["seed"], "env_steps": row["env_steps"], "record": row["command"],
            "record_fresh": row["record_fresh"], "G(r)": row["generated_fresh"], "gap_anchor": row["gap_anchor"],
            "gap_visited": row["gap_visited"], "draw_visited": row["draw_visited"],
            "var_visited": row["record_action_variance"],
            "on_anchor:G(r)": last["anchor"]["return"], "on_anchor:gap_visited": last["anchor"]["gap_visited"],
            "on_visited:G(r)": last["visited"]["return"], "on_visited:gap_visited": last["visited"]["gap_visited"]}


COLUMNS = ["seed", "env_steps", "record", "record_fresh", "G(r)", "gap_anchor", "gap_visited", "draw_visited",
           "var_visited", "on_anchor:G(r)", "on_anchor:gap_visited", "on_visited:G(r)", "on_visited:gap_visited"]


def measure(options: Options) -> dict:
    options.validate()
    key = jax.random.key(options.seed)

    def measured(run_dir: Path) -> dict:
        row = measure_run(run_dir, options, key)
        return {**row, "summary": summary_row(row)}

    task, rows = measure_runs(options.run_dirs, measured, [])
    return {"benchmark": "record_follow", "task": task, "machine": machine(), "settings": asdict(options),
            "rows": rows, "summary": [r["summary"] for r in rows]}


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    fig, axes = plt.subplots(2, len(rows), figsize=(3.8 * len(rows), 6.4), squeeze=False)
    for k, r in enumerate(rows):
        for name, style in (("anchor", "o-"), ("visited", "s--")):
            steps = [0] + [f["steps"] for f in r["follow"][name]]
            axes[0][k].plot([max(s, 0.5) for s in steps], [r["gap_visited"]] + [f["gap_visited"] for f in r["follow"][name]],
                            style, ms=3, label=f"steps on {name} states")
            axes[1][k].plot([max(s, 0.5) for s in steps], [r["generated_fresh"]] + [f["return"] for f in r["follow"][name]],
                            style, ms=3, label=f"steps on {name} states")
        axes[0][k].axhline(r["draw_visited"], color="grey", lw=0.8, ls=":", label="one exploration draw")
        axes[1][k].axhline(r["record_fresh"], color="grey", lw=0.8, ls=":", label="the record")
        axes[0][k].set_title(f"seed {r['seed']} at {r['env_steps'] / 1e3:.0f}k: record {r['command']:.0f}", fontsize=8)
        for ax in axes[:, k]:
            ax.set_xscale("log")
            ax.set_xlabel("Adam steps (0 at the left edge)", fontsize=8)
    axes[0][0].set_ylabel("action gap on the record's states", fontsize=8)
    axes[1][0].set_ylabel("return of G(record)", fontsize=8)
    axes[0][0].legend(fontsize=6)
    axes[1][0].legend(fontsize=6)
    fig.suptitle(f"{result['task']}: can the generator make its record's behaviour?", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(result: dict) -> str:
    s = result["settings"]
    lines = [f"record: the newest anchor's return (or the buffer's best), record_fresh and G(r) their returns over "
             f"{s['episodes']} fresh episodes. gap_anchor / gap_visited: mean squared action difference of G(r) and "
             "the record on the anchor steps' N(0, 1) states / on the states the record visits; draw_visited: the "
             "same for one exploration draw G(r) + noise (the noise's scale in behaviour); var_visited: the variance "
             f"of the record's own actions there. on_X: after {max(s['steps'])} Adam steps (lr {s['lr']:g}) of G on the "
             "anchor loss against the record alone on the X states.", "",
             "```", table(result["summary"], COLUMNS), "```", ""]
    for r in result["rows"]:
        lines.append(f"seed {r['seed']} ({r['source']} record {r['command']:.1f}): G at "
                     + ", ".join(f"{c:.0f}: {v:.0f}" for c, v in zip(r["lower"], r["lower_returns"])))
        for name, rows in r["follow"].items():
            lines.append(f"  steps on {name} states: " + "; ".join(
                f"{f['steps']}: gap anchor {f['gap_anchor']:.3f}, visited {f['gap_visited']:.3f}, G(r) {f['return']:.0f}"
                f" (lower {', '.join(f'{v:.0f}' for v in f['lower_returns'])})" for f in rows))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    options = tyro.cli(Options, args=argv)
    runtime.configure(1)  # one core: it runs beside training
    result = measure(options)
    name = options.name or f"record_follow_{result['task']}"
    write_report(Path(options.out), name, result, markdown(result), {"": plot})
    print(table(result["summary"], COLUMNS))
    return result


if __name__ == "__main__":
    main()
