"""One training run end to end against its learner's floor: how close the whole loop runs to its GEMMs.

    python -m bench.end_to_end --env swimmer --num-envs 1 --out /work/runs/e2e-swimmer      # full 3M budget

Trains (or resumes, or reads back when finished) one ``fastgen.run`` PoliGen run, then, in the same
process, counts the FLOPs of one generator and one evaluator update of that run's networks
(``torch.utils.flop_counter``) and measures the float32 matmul rate with the process's threads
(``bench.update_speed``: before training, every ``rate_every`` seconds during it and after it, the highest
sample taken, since on a shared VM the rate moves within an hour and a slow phase would lower the floor's
bar; a sample costs ~1 s of the run's wall clock). The floor is the time the
run's updates alone would take at that rate: ``floor_s = (generator updates x their FLOPs +
evaluator updates x theirs) / rate``, summed over the invocations (``sessions``: each one's
threads, rate, and the iterations and wall clock it began and ended at; written before training, so
a killed invocation still counts at its rate); ``ratio = wall_s / floor_s`` with ``wall_s`` the
run's whole training wall clock (simulation, bookkeeping and evaluations included). Compare only
runs made on one machine (``machine`` names it); ``matmul_gflops`` is the iteration-weighted mean
rate.

Writes ``bench/results/update_speed/end_to_end_<env>_P<P>[_<tag>].json`` (settings, machine, summary, counts,
floor, ratio, final return beside the paper's) and a ``.png`` of the evaluation return against env
steps and against wall-clock seconds.
"""

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import tyro
from torch.utils.flop_counter import FlopCounterMode

from bench.common import RESULTS as ALL_RESULTS
from bench.common import machine, table
from bench.common import write_json as write_to
from bench.learning import PAPER, needs_training, to_continue
from bench.update_speed import filled_state, matmul_rate, updates
from fastgen import extras, runtime
from fastgen.config import Config, EvalConfig
from fastgen.poligen import settings as poligen
from fastgen.run import train
from fastgen.runs.rundir import final_return, read_metrics

RESULTS = ALL_RESULTS / "update_speed"  # beside the update timings its floor comes from


def write_json(name: str, payload: dict) -> Path:
    return write_to(name, payload, RESULTS)


@dataclass
class Settings:
    env: str = "swimmer"
    """Task."""
    num_envs: int = 1
    """P: policies per iteration (1: the paper's schedule)."""
    seed: int = 0
    """Seed of the run."""
    total_steps: int | None = None
    """Env-step budget (default: the task's)."""
    eval_every: int | None = None
    """Evaluate every this many env steps (default: the task's)."""
    time_limit: float | None = None
    """Training wall-clock seconds before the run stops (resume with a larger limit or none)."""
    out: str = "runs/end_to_end"
    """Run directory."""
    tag: str = ""
    """Suffix of the result files (e.g. a variant's name)."""
    threads: int | None = None
    """torch and cpu-engine threads (default: the cores this process may use)."""
    rate_every: float = 300.0
    """Seconds of training between two samples of the matmul rate."""
    precision: str = "float32"
    """The updates' matrix products (``fastgen.run --precision``); the floor stays float32's, so a bfloat16
    run's ratio says how far it ran below the float32 floor. Not float32: the files get a ``_<precision>``
    suffix."""


def update_flops(env: str, device: torch.device) -> dict[str, float]:
    """FLOPs of one generator and one evaluator update of ``env``'s networks (batch 16)."""
    flops = {}
    for name, update in updates(filled_state(env, device)).items():
        update()
        with FlopCounterMode(display=False) as counter:
            update()
        flops[name] = float(counter.get_total_flops())
    return flops


def plot(rows: list[dict], title: str, path: Path) -> None:
    plt = extras.pyplot("bench.end_to_end")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, label in ((axes[0], "env_steps", "env steps"), (axes[1], "wall_s", "training wall clock (s)")):
        ax.plot([r[key] for r in rows], [r["eval/return"] for r in rows], lw=1.2)
        ax.set_xlabel(label)
        ax.set_ylabel("evaluation return")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _counters(run_dir: Path) -> dict:
    """Iterations and training wall clock a run directory's checkpoint holds (zeros before its first)."""
    path = run_dir / "checkpoint.pt"
    if not path.exists():
        return {"iterations": 0, "wall_s": 0.0}
    counters = torch.load(path, weights_only=False)["counters"]
    return {"iterations": counters["iterations"], "wall_s": counters["wall_s"]}


def session_floor(sessions: list[dict], flops_per_iteration: float) -> float:
    """Seconds the updates of every session's iterations take at that session's matmul rate."""
    return sum((s["iterations_after"] - s["iterations_before"]) * flops_per_iteration / (s["matmul_gflops"] * 1e9)
               for s in sessions)


class RateSampler:
    """Samples the float32 matmul rate every ``every_s`` seconds as ``train``'s ``stop`` (called after every
    iteration; it never stops the run), each sample appended to the last of ``sessions`` (this invocation's)
    and written to ``path`` at once so that a killed invocation keeps what it measured."""

    def __init__(self, device: torch.device, every_s: float, sessions: list[dict], path: Path):
        self.device, self.every_s, self.sessions, self.path = device, every_s, sessions, path
        self.last = -float("inf")

    def sample(self) -> None:
        session = self.sessions[-1]
        session.setdefault("matmul_gflops_samples", []).append(matmul_rate(self.device) / 1e9)
        session["matmul_gflops"] = max(session["matmul_gflops_samples"])
        self.path.write_text(json.dumps(self.sessions, indent=2) + "\n")
        self.last = time.monotonic()

    def __call__(self) -> bool:
        if time.monotonic() - self.last >= self.every_s:
            self.sample()
        return False


def main(settings: Settings) -> dict:
    cfg = Config(env=settings.env, num_envs=settings.num_envs, seed=settings.seed, total_steps=settings.total_steps,
                 time_limit=settings.time_limit, out=settings.out, engine="cpu", device="cpu",
                 threads=settings.threads, precision=settings.precision, eval=EvalConfig(every=settings.eval_every))
    device, run_dir = torch.device("cpu"), Path(cfg.run_dir)
    sessions_path = run_dir / "end_to_end_sessions.json"
    sessions = json.loads(sessions_path.read_text()) if sessions_path.exists() else []
    if needs_training(cfg):
        before = _counters(run_dir)
        sessions.append({"machine_cpu": machine()["cpu"], "threads": torch.get_num_threads(),
                         "iterations_before": before["iterations"], "wall_s_before": before["wall_s"]})
        run_dir.mkdir(parents=True, exist_ok=True)
        sampler = RateSampler(device, settings.rate_every, sessions, sessions_path)
        sampler.sample()  # before training, so a session that is killed still counts at the rate it measured
        train(to_continue(cfg), stop=sampler)
        sampler.sample()
    summary = json.loads((run_dir / "summary.json").read_text())
    if not sessions:
        raise SystemExit(f"{sessions_path} is missing: the run's matmul rates are unknown, so its floor is too")
    for session, after in zip(sessions, [s.get("iterations_before") for s in sessions[1:]] + [summary["iterations"]]):
        session.setdefault("iterations_after", after)  # a killed session ends where the next one began
    sessions[-1]["iterations_after"], sessions[-1]["wall_s_after"] = summary["iterations"], summary["wall_s"]
    sessions_path.write_text(json.dumps(sessions, indent=2) + "\n")
    rows = read_metrics(run_dir)
    flops = update_flops(cfg.env, device)
    P = cfg.population
    per_iteration = dict(zip(("evaluator", "generator"), poligen.update_counts(cfg)))
    counts = {k: summary["iterations"] * per_iteration[k] for k in per_iteration}
    floor_s = session_floor(sessions, sum(per_iteration[k] * flops[k] for k in flops))
    rate = sum(s["matmul_gflops"] * (s["iterations_after"] - s["iterations_before"]) for s in sessions) / max(
        1, summary["iterations"]) * 1e9
    suffix = "".join(f"_{part}" for part in (settings.tag, "" if cfg.precision == "float32" else cfg.precision) if part)
    name = f"end_to_end_{cfg.env}_P{P}{suffix}"
    result = {"env": cfg.env, "P": P, "precision": cfg.precision, "seed": cfg.seed, "finished": summary["finished"],
              "env_steps": summary["env_steps"], "budget": cfg.budget, "wall_s": summary["wall_s"],
              "generator_updates": counts["generator"], "evaluator_updates": counts["evaluator"],
              "generator_gflop": flops["generator"] / 1e9, "evaluator_gflop": flops["evaluator"] / 1e9,
              "matmul_gflops": rate / 1e9, "floor_s": floor_s, "ratio": summary["wall_s"] / floor_s,
              "final_return": final_return(rows, cfg.budget, cfg.eval_every)[0],
              "paper": PAPER.get(cfg.env, {}).get("poligen")}
    print(table([result], ["env", "P", "precision", "env_steps", "wall_s", "floor_s", "ratio", "matmul_gflops", "final_return",
                           "paper"]))
    payload = {"benchmark": "end_to_end", "machine": machine(), "torch_threads": torch.get_num_threads(),
               "settings": dataclasses.asdict(settings), "config": json.loads((run_dir / "config.json").read_text()),
               "result": result, "summary": summary, "sessions": sessions, "curve": rows}
    path = write_json(f"{name}.json", payload)
    plot(rows, f"{cfg.env}, P = {P}, seed {cfg.seed}: {summary['wall_s']:,.0f} s training, "
               f"{result['ratio']:.2f}x the update floor", RESULTS / f"{name}.png")
    print(f"wrote {path} and {name}.png")
    return payload


if __name__ == "__main__":
    settings = tyro.cli(Settings)
    runtime.configure(settings.threads)
    main(settings)
