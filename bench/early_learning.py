"""Why PoliGen unlearns early: what the generator makes of the evaluated command, iteration by iteration.

    python -m bench.early_learning --env hopper --num-envs 64 --seeds 0 1 2 --steps 30000 \
        --variant default --variant symlog:--generator.command-input=symlog

Each (variant, seed) trains a fresh run (``fastgen.poligen.trainer``, the variant's flags on top of
``--env``/``--num-envs``) for ``--steps`` env steps and, before the first iteration and after every
``--probe-every``-th, measures without touching the run's random streams:

- ``eval``: the true return of G(c*) (c* = the evaluated command, the best training return so far;
  no noise, ``--episodes`` episodes, with and without hopper's survival bonus) and V(G(c*));
- ``samples``: ``--samples`` fresh noisy policies G(c*) + eps, their true returns against V's
  predictions (V's accuracy where the buffer's policies come from, before it trains on them);
- ``best``: the ``--top`` highest-return policies in the buffer, their returns, V's predictions and their
  RMS distance (per weight) from G(c*), beside the exploration noise's own RMS (``noise_std``);
- ``command``: V(G(c)) and the RMS distance G(c) - G(c*) for c at the buffer's 10th percentile and
  median, so a generator that ignores its command shows as distances far below the noise;
- ``drift``: the RMS distance of G(c*) from the untrained generator's G(c*);
- ``untrained_generator`` and ``initial_statistics``: the same evaluation episodes (same starts) with the
  untrained generator's G0(c*) under today's observation statistics, and with today's G(c*) under step 0's
  (mean 0, std 1): which of the two moved the evaluation.

Training returns and V are bonus-free on hopper (``--command.bonus-free``, the default), so the
``no_bonus`` returns are the ones V is asked to predict. Writes ``bench/results/early_learning/<name>.json`` and
``<name>.png`` (per variant: evaluation return, V(G(c*)) against its true return, distance to the buffer's
best, against env steps; every seed).
"""

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import jax
import numpy as np
import torch
import tyro

import envs
from bench.common import RESULTS, machine, table, write_json
from fastgen import cli, extras, policy, runtime
from fastgen.bridge import to_engine
from fastgen.config import Config
from fastgen.normalizer import ObsStats
from fastgen.poligen import learner, trainer
from fastgen.poligen import settings as poligen_settings
from fastgen.poligen.generator import population_std


@dataclass
class Settings:
    env: str = "hopper"
    num_envs: int = 64
    """P, policies per iteration (1 with --variant ...:--schedule=paper)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 30_000
    """Env steps per run."""
    variant: tuple[str, ...] = ("default",)
    """NAME or NAME:--flag=value,--flag=value (fastgen.run flags added to --env and --num-envs)."""
    probe_every: int = 1
    """Probe after every this many iterations (and before the first)."""
    episodes: int = 5
    """Episodes of G(c*) per probe."""
    samples: int = 16
    """Noisy policies G(c*) + eps per probe."""
    top: int = 5
    """Buffer entries with the highest returns per probe."""
    name: str = "early_learning_hopper"
    threads: int | None = None
    out: str = str(RESULTS / "early_learning")


@dataclass
class Variant:
    name: str
    flags: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> "Variant":
        name, _, flags = text.partition(":")
        return cls(name, [f for f in flags.split(",") if f])


def config(settings: Settings, variant: Variant, seed: int) -> Config:
    argv = ["--env", settings.env, "--seed", str(seed), "--total-steps", str(settings.steps), *variant.flags]
    if not any(f.startswith("--schedule") for f in variant.flags):
        argv += ["--num-envs", str(settings.num_envs)]
    cfg = cli.parse(Config, [a for f in argv for a in f.split("=", 1)], "bench.early_learning", "")
    cfg.validate()
    return cfg


def _rms(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Root-mean-square difference per weight of ``a [..., D]`` and ``b [..., D]``: ``[...]``."""
    return (a - b).pow(2).mean(-1).sqrt()


class Prober:
    """Measures one seed's run without drawing from its random streams (own torch generator and JAX key)."""

    def __init__(self, state: trainer.TrainState, settings: Settings, seed: int):
        self.state, self.settings = state, settings
        self.rng = torch.Generator().manual_seed(10_000 + seed)
        self.key = jax.random.key(20_000 + seed)
        self.untrained = state.learner.generator_weights.state_dict(state.slot)

    def generate(self, commands: list[float]) -> torch.Tensor:
        return learner.generate(self.state.learner, [self.state.slot], torch.tensor([commands]))[0]

    def predict(self, theta: torch.Tensor) -> torch.Tensor:
        shared = self.state.learner
        weights = shared.evaluator_weights.seed(self.state.slot)
        with torch.no_grad():
            return shared.evaluator.predict(weights, policy.unflatten(theta, shared.evaluator.spec))

    def simulate(self, theta: torch.Tensor, episodes: int, stats: ObsStats | None = None, key=None):
        """``episodes`` episodes of each of ``theta [N, D]``, normalised by ``stats`` (default: the run's)."""
        stats = stats or self.state.obs_stats
        if key is None:
            self.key, key = jax.random.split(self.key)
        env = self.state.env
        return envs.rollout(env, to_engine(theta.contiguous(), env.engine), stats.mean, stats.std, key, episodes)

    def probe(self) -> dict:
        s, settings = self.state, self.settings
        command = trainer.eval_command(s)
        mean = self.generate([command])  # [1, D]
        self.key, key = jax.random.split(self.key)
        evaluated = self.simulate(mean, settings.episodes, key=key)
        # the same episodes' starts with one thing changed back to step 0: the generator, or the statistics
        untrained = self.simulate(self._untrained([command]), settings.episodes, key=key)
        unnormalised = self.simulate(mean, settings.episodes, ObsStats(s.spec.obs_dim), key=key)
        row = {"env_steps": s.env_steps, "iterations": s.iterations, "c_star": command,
               "best_return": s.best_return,
               "eval": {"return": float(evaluated.returns[0]), "return_no_bonus": float(evaluated.returns_no_bonus[0]),
                        "length": float(evaluated.lengths[0]), "predicted": float(self.predict(mean)[0])},
               "untrained_generator": _returns(untrained), "initial_statistics": _returns(unnormalised)}
        noise = torch.randn(settings.samples, mean.shape[1], generator=self.rng)
        noisy = mean + population_std(s.spec, s.cfg.generator.noise_std, poligen_settings.noise_layout(s.cfg),
                                      settings.samples) * noise
        sampled = self.simulate(noisy, 1)
        predicted = self.predict(noisy).numpy()
        row["samples"] = {"return_no_bonus": sampled.returns_no_bonus.tolist(), "predicted": predicted.tolist(),
                          "length": sampled.lengths.tolist(),
                          "rmse": float(np.sqrt(np.mean((predicted - sampled.returns_no_bonus) ** 2))),
                          "corr": _corr(predicted, sampled.returns_no_bonus)}
        row["noise_std"] = s.cfg.generator.noise_std
        row["drift"] = float(_rms(mean, self._untrained([command]))[0])
        if len(s.buffer):
            returns = s.buffer.returns[:len(s.buffer)]
            top = torch.topk(returns, min(settings.top, len(s.buffer))).indices
            best_theta = trainer.current_form(s, s.buffer.params[top])
            row["best"] = {"return_no_bonus": returns[top].tolist(), "predicted": self.predict(best_theta).tolist(),
                           "rms_to_mean": _rms(best_theta, mean).tolist()}
            low, mid = torch.quantile(returns, torch.tensor([0.1, 0.5])).tolist()
            others = self.generate([low, mid])
            row["command"] = {"c": [low, mid], "predicted": self.predict(others).tolist(),
                              "rms_to_mean": _rms(others, mean).tolist()}
            row["buffer"] = {"entries": len(s.buffer), "mean_return": float(returns.mean())}
        return row

    def _untrained(self, commands: list[float]) -> torch.Tensor:
        """G0(c) with the untrained generator's weights (restored around the call)."""
        stack, slot = self.state.learner.generator_weights, self.state.slot
        now = stack.state_dict(slot)
        stack.load_state_dict(slot, self.untrained)
        try:
            return self.generate(commands)
        finally:
            stack.load_state_dict(slot, now)


def _returns(result) -> dict:
    return {"return": float(result.returns[0]), "return_no_bonus": float(result.returns_no_bonus[0]),
            "length": float(result.lengths[0])}


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    if np.std(a) == 0 or np.std(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def run(settings: Settings, variant: Variant, seed: int) -> dict:
    cfg = config(settings, variant, seed)
    state = trainer.init(cfg)
    prober = Prober(state, settings, seed)
    rows, start = [prober.probe()], time.perf_counter()
    print(_line(variant, seed, rows[-1]), flush=True)
    while state.env_steps < settings.steps:
        state, _ = trainer.iteration(state)
        if state.iterations % settings.probe_every == 0 or state.env_steps >= settings.steps:
            rows.append(prober.probe())
            print(_line(variant, seed, rows[-1]), flush=True)
    return {"variant": variant.name, "flags": variant.flags, "seed": seed, "wall_s": time.perf_counter() - start,
            "config": dataclasses.asdict(cfg), "probes": rows}


def _line(variant: Variant, seed: int, row: dict) -> str:
    best = row.get("best", {})
    return (f"{variant.name} seed {seed} step {row['env_steps']:>6}: eval {row['eval']['return']:7.1f} "
            f"(no bonus {row['eval']['return_no_bonus']:6.1f}, V {row['eval']['predicted']:6.1f}, len "
            f"{row['eval']['length']:5.0f}) c* {row['c_star']:6.1f} best-rms "
            f"{min(best.get('rms_to_mean', [float('nan')])):.4f} drift {row['drift']:.4f} "
            f"samples rmse {row['samples']['rmse']:.1f} | G0 {row['untrained_generator']['return']:6.1f} "
            f"stats0 {row['initial_statistics']['return']:6.1f}")


def plot(payload: dict, path) -> None:
    plt = extras.pyplot("bench.early_learning")

    variants = list(dict.fromkeys(r["variant"] for r in payload["runs"]))
    fig, axes = plt.subplots(3, len(variants), figsize=(4.5 * len(variants), 9), squeeze=False, sharex=True)
    for col, name in enumerate(variants):
        for r in (r for r in payload["runs"] if r["variant"] == name):
            steps = [p["env_steps"] for p in r["probes"]]
            line, = axes[0, col].plot(steps, [p["eval"]["return"] for p in r["probes"]], label=f"seed {r['seed']}")
            axes[1, col].plot(steps, [p["eval"]["return_no_bonus"] for p in r["probes"]], color=line.get_color())
            axes[1, col].plot(steps, [p["eval"]["predicted"] for p in r["probes"]], "--", color=line.get_color())
            axes[2, col].plot(steps, [min(p.get("best", {}).get("rms_to_mean", [np.nan])) for p in r["probes"]],
                              color=line.get_color())
        axes[0, col].set_title(name)
        axes[0, col].legend(fontsize=7)
        axes[2, col].axhline(payload["runs"][0]["config"]["generator"]["noise_std"], color="k", lw=0.5)
        axes[2, col].set_xlabel("env steps")
    axes[0, 0].set_ylabel("eval return of G(c*)")
    axes[1, 0].set_ylabel("no bonus: true (solid), V (dashed)")
    axes[2, 0].set_ylabel("RMS dist. G(c*) to buffer's best\n(line: noise std)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _at(probes: list[dict], step: int) -> dict:
    """The probe nearest to ``step`` env steps."""
    return min(probes, key=lambda p: abs(p["env_steps"] - step))


def summarise(payload: dict, marks: tuple[int, ...] = (0, 10_000, 20_000, 30_000)) -> list[dict]:
    """One row per variant, over its seeds: the evaluation at ``marks``, the seeds whose evaluation at the last
    mark is at least their step-0 evaluation, and (means over all probes after step 0) how far V's prediction
    of G(c*) is from its true bonus-free return, how far V under-rates the buffer's best policy, V's
    correlation with the true return of fresh noisy policies, and how much G(c*) differs from G(c_median)
    (RMS per weight, against the noise's std)."""
    rows = []
    for name in dict.fromkeys(r["variant"] for r in payload["runs"]):
        runs = [r for r in payload["runs"] if r["variant"] == name]
        after = [p for r in runs for p in r["probes"][1:]]
        row = {"variant": name, "flags": " ".join(runs[0]["flags"]) or "-", "seeds": [r["seed"] for r in runs]}
        for mark in marks:
            values = [_at(r["probes"], mark)["eval"]["return"] for r in runs]
            row[f"eval@{mark // 1000}k"] = f"{np.mean(values):.1f} +- {np.std(values):.1f}"
        kept = sum(_at(r["probes"], marks[-1])["eval"]["return"] >= r["probes"][0]["eval"]["return"] for r in runs)
        row["kept step 0"] = f"{kept}/{len(runs)}"
        row["V(G(c*)) - true"] = round(float(np.mean([p["eval"]["predicted"] - p["eval"]["return_no_bonus"] for p in after])), 1)
        row["V(best) - best"] = round(float(np.mean([p["best"]["predicted"][0] - p["best"]["return_no_bonus"][0]
                                                     for p in after if "best" in p])), 1)
        row["V corr, fresh"] = round(float(np.mean([p["samples"]["corr"] for p in after if p["samples"]["corr"] is not None])), 2)
        row["G(c*) vs G(c_med), RMS"] = f"{np.mean([p['command']['rms_to_mean'][1] for p in after if 'command' in p]):.1e}"
        row["drift at end"] = f"{np.mean([r['probes'][-1]['drift'] for r in runs]):.4f}"
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    settings = tyro.cli(Settings, args=argv)
    runtime.configure(settings.threads)
    out = settings.out
    path = f"{out}/{settings.name}.json"
    try:
        payload = json.loads(open(path).read())
    except FileNotFoundError:
        payload = {"machine": machine(), "settings": dataclasses.asdict(settings), "runs": []}
    for text in settings.variant:
        variant = Variant.parse(text)
        for seed in settings.seeds:
            if any(r["variant"] == variant.name and r["seed"] == seed for r in payload["runs"]):
                continue
            payload["runs"].append(run(settings, variant, seed))
            write_json(f"{settings.name}.json", payload, out)
            plot(payload, f"{out}/{settings.name}.png")
    if payload["runs"]:
        rows = summarise(payload)
        print(table(rows, list(rows[0])))
        Path(f"{out}/{settings.name}_table.md").write_text(markdown(rows))


if __name__ == "__main__":
    main()
