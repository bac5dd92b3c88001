"""Run configuration: one nested dataclass whose field docstrings are ``python -m fastgen.run --help``.

Defaults follow the paper (appendix A.1, docs/paper.md); every behaviour of the authors' code that
differs is one flag away (marked "code:"). Task-dependent defaults are resolved by properties and
``resolved`` methods (per-task tuned presets of the baselines).
"""

import dataclasses
import math
from dataclasses import dataclass, field

from envs.tasks import TASKS
from fastgen import algorithms
from fastgen.engines import DEVICES, ENGINES
from fastgen.poligen.generator import COMMAND_INPUTS

# PoliGen's population defaults per task: P (--num-envs), its --command.spread and --scaling exponents (used
# with any P > 1). Chosen by bench/results/populations/populations.md (AMD EPYC, 2 cores, seeds 0-4; rule: the
# cheapest setting whose final return is at most one paper std below the paper's P = 1 schedule run here) and
# confirmed on seeds 5-9 (populations_confirm_<task>.md: every final return at the bar):
#   inverted_pendulum  P = 64, spread 1, updates x P^0.5: 1000 +- 0 (P = 1: 966 +- 67), ~4 min per run;
#                      seeds 5-9: 1000 +- 0, 5/5 >= 940
#   mountain_car       P = 8, spread 1, updates x P^0.5: 93.5 +- 0.4 (P = 1: 92.9 +- 0.7), ~3 min per run;
#                      seeds 5-9: 93.2 +- 1.1, 5/5 >= 90. The cheaper updates x P^0 (94.4 +- 5.5 on seeds 0-4)
#                      failed its confirmation: 57.2 +- 47.5, 3/5 >= 90 (two seeds never left -0.2)
#   swimmer            P = 1: P = 64 with updates x P^0.5 ended at 256 +- 23 (3 seeds) against P = 1's 311
#   hopper             P = 1: no population run finished at its budget yet (the paper's schedule)
#   walker2d, half_cheetah, ant, reacher: not measured; the paper's P = 1, as on swimmer and hopper
# For swimmer and hopper the spread and exponents are what learned on swimmer at P = 64.
_PAPER_SCHEDULE = {"num_envs": 1, "spread": 1.0, "updates_exponent": 0.5, "batch_exponent": 0.0,
                   "command_input": "linear"}
POPULATION_DEFAULTS = {
    "inverted_pendulum": {"num_envs": 64, "spread": 1.0, "updates_exponent": 0.5, "batch_exponent": 0.0,
                          "command_input": "linear"},
    "mountain_car": {"num_envs": 8, "spread": 1.0, "updates_exponent": 0.5, "batch_exponent": 0.0,
                     "command_input": "linear"},
    **{task: _PAPER_SCHEDULE for task in ("swimmer", "hopper", "walker2d", "half_cheetah", "ant", "reacher")},
}


@dataclass
class GeneratorConfig:
    """PoliGen: the generator G(c)."""

    lr: float = 2e-6
    """Adam learning rate of the generator."""
    updates_per_episode: float = 20.0
    """Generator updates per collected episode (code: 19)."""
    noise_std: float = 0.1
    """Std of the Gaussian exploration noise added to the flat policy vector."""
    output_scaling: bool = True
    """Multiply generated weights by 2/sqrt(fan-in) (paper Fig. 4 ablation: off)."""
    command_width: float | None = None
    """With --generator.command-input linear, the generator's input is c / this (default: the task's return
    range, high - low, as the authors' code: hopper 3100, swimmer 465); a smaller width makes commands that
    differ little differ more."""
    command_input: str | None = None
    """How the command reaches the hypernetworks: linear (c / --generator.command-width, the authors' code)
    or symlog (sign(c) ln(1 + |c|): fine near 0, as coarse as linear's at hopper's 3000; why:
    docs/results/early_learning.md). Default: linear under --schedule paper, else the task's population
    default (POPULATION_DEFAULTS)."""
    snapshots: int = 10
    """Keep this many generator snapshots over the budget, plus the untrained one, in snapshots/
    (for python -m fastgen.atlas; ~2 MB each on hopper); 0 keeps none."""


@dataclass
class EvaluatorConfig:
    """PoliGen: the evaluator V(theta)."""

    lr: float = 5e-3
    """Adam learning rate of the evaluator (probing states included)."""
    updates_per_episode: float = 5.0
    """Evaluator updates per collected episode (code: 4)."""
    probes: int = 200
    """Number of learnable probing states."""


@dataclass
class CommandConfig:
    """PoliGen: commands."""

    drive: float = 20.0
    """Next command = best training return so far + drive (Fig. 8: 0 is slightly worse)."""
    first: float = 0.0
    """Command of the very first iteration (code: 1)."""
    bonus_free: bool = True
    """Train on returns without the survival bonus where the task has one (hopper)."""
    spread: float | None = None
    """P > 1: policy i of an iteration is asked for best + drive x u_i, u_i evenly spaced over
    [1 - spread, 1 + spread] (1: over [0, 2]), so one iteration probes the frontier at P points;
    0 asks all P for best + drive (default 1 on every task, bench/results/populations/populations.md)."""


@dataclass
class BufferConfig:
    """PoliGen: the (theta, return) replay buffer."""

    size: int = 10_000
    """Replay buffer capacity in (theta, return) pairs."""
    batch_size: int = 16
    """Batch size of every evaluator and generator update."""
    recency_power: float = 1.1
    """Sampling weight 1/x^power, x = episodes since stored; 0 samples uniformly (Fig. 4 ablation)."""
    archive_buckets: int = 0
    """Beside the recent entries, keep the newest --buffer.archive-per-bucket policies of each of this many equal
    return buckets over the task's return range, and draw --buffer.archive-share of every batch from them (every
    bucket equally likely), so that low-return policies stay in the generator's training after the recent
    entries have moved on; 0: no archive (the paper)."""
    archive_per_bucket: int = 32
    """Policies kept per return bucket of the archive."""
    archive_share: float = 0.25
    """Share of every update's batch drawn from the archive (when it has entries)."""


@dataclass
class ScalingConfig:
    """PoliGen with P > 1 policies per iteration: how updates grow with P (P = 1: no effect)."""

    updates_exponent: float | None = None
    """Updates per iteration = updates-per-episode x P^this (1: per episode, as the paper; 0: as many
    per iteration as one episode gets; default 0.5, bench/results/populations/populations.md)."""
    batch_exponent: float | None = None
    """Batch of every update = --buffer.batch-size x P^this (0: 16 whatever P; default 0)."""


@dataclass
class EvalConfig:
    """Evaluation protocol (all algorithms)."""

    every: int | None = None
    """Evaluate every this many env steps (default: 10k; 1k for inverted_pendulum, mountain_car)."""
    episodes: int = 10
    """Episodes per evaluation, without exploration noise (PoliGen: of G(best return so far))."""
    bonus: bool = True
    """eval/return includes the survival bonus, the env's own reward (code: yes); with --eval.no-bonus
    it is the bonus-free return. Both are logged on hopper either way."""


# Step size, (directions, elite directions), noise. The paper's four: appendix A.1, tuned per task.
# walker2d, half_cheetah, ant: the V2-t settings Mania et al. (2018) report for Walker2d-v1,
# HalfCheetah-v1 and Ant-v1 (linear policies there); reacher: untuned, the paper's hopper/swimmer preset.
ARS_PRESETS = {task: dict(zip(("step_size", "directions", "elite", "noise"), values)) for task, values in {
    "swimmer": (0.01, 8, 4, 0.05), "hopper": (0.01, 8, 4, 0.05),
    "inverted_pendulum": (0.001, 1, 1, 0.025), "mountain_car": (0.01, 1, 1, 0.05),
    "walker2d": (0.03, 40, 30, 0.025), "half_cheetah": (0.02, 32, 4, 0.03), "ant": (0.015, 60, 20, 0.025),
    "reacher": (0.01, 8, 4, 0.05)}.items()}
# Hidden nonlinearity, learning rate, last_few. The paper's four: appendix A.1, tuned per task; the
# other tasks: untuned, swimmer's preset.
UDRL_PRESETS = {task: dict(zip(("activation", "lr", "last_few"), values)) for task, values in {
    "swimmer": ("relu", 1e-3, 10), "hopper": ("relu", 1e-5, 10),
    "inverted_pendulum": ("tanh", 1e-3, 1), "mountain_car": ("relu", 1e-5, 1),
    **{task: ("relu", 1e-3, 10) for task in ("walker2d", "half_cheetah", "ant", "reacher")}}.items()}


def _fill(settings, preset: dict):
    """``settings`` with every field left at None taken from ``preset``."""
    return dataclasses.replace(settings, **{k: v for k, v in preset.items() if getattr(settings, k) is None})


@dataclass
class ArsConfig:
    """ARS V2-t (--algo ars)."""

    step_size: float | None = None
    """ARS step size alpha (default per task, ARS_PRESETS: 0.01; inverted_pendulum 0.001, walker2d 0.03,
    half_cheetah 0.02, ant 0.015)."""
    directions: int | None = None
    """Random directions per iteration; 2 x this many policies are simulated (default: --num-envs / 2
    if given, else per task: 8 hopper/swimmer/reacher, 1 inverted_pendulum/mountain_car, 40 walker2d,
    32 half_cheetah, 60 ant)."""
    elite: int | None = None
    """Top directions used in the update (default per task: 4 hopper/swimmer/reacher/half_cheetah, 30
    walker2d, 20 ant, 1 inverted_pendulum/mountain_car; never more
    than the directions, when --num-envs or --ars.directions makes them fewer)."""
    noise: float | None = None
    """Exploration noise nu on the weights (default per task: 0.05; 0.025 inverted_pendulum/walker2d/ant,
    0.03 half_cheetah)."""
    bonus_free: bool = True
    """Train on returns without the survival bonus of hopper, walker2d and ant (as Mania et al. and the
    paper do)."""

    def resolved(self, env: str, num_envs: int | None = None) -> "ArsConfig":
        """Per-task defaults filled in; ``num_envs`` (P, if given) sets P // 2 directions."""
        settings = _fill(self, {} if num_envs is None else {"directions": num_envs // 2})
        settings = _fill(settings, ARS_PRESETS[env])
        if self.elite is None:
            settings = dataclasses.replace(settings, elite=min(settings.elite, settings.directions))
        return settings


@dataclass
class DdpgConfig:
    """DDPG (--algo ddpg), spinning-up defaults as in the paper."""

    start_steps: int = 10_000
    """Env steps of uniformly random actions at the start (spinning-up, paper A.1)."""
    update_after: int = 1_000
    """Env steps before the first update."""
    update_every: int = 50
    """Env steps between update rounds; each round makes this many gradient updates."""
    batch_size: int = 128
    """Minibatch size (paper A.1)."""
    lr: float = 1e-3
    """Adam learning rate of actor and critic."""
    polyak: float = 0.995
    """Target networks: target <- polyak * target + (1 - polyak) * online."""
    gamma: float = 0.99
    """Discount of the critic's TD target."""
    action_noise: float = 0.1
    """Std of the Gaussian noise added to actions, in the env's action units."""
    buffer_size: int = 100_000
    """Replay capacity in transitions: the paper's 100k (A.1; spinning-up's own default is 1M), capped at
    the run's budget, which it can never exceed."""


@dataclass
class UdrlConfig:
    """Upside-down RL (--algo udrl); defaults from Srivastava et al. 2019 unless per task."""

    activation: str | None = None
    """Hidden nonlinearity of the behaviour function, relu or tanh (default per task, paper A.1:
    tanh on inverted_pendulum, else relu)."""
    lr: float | None = None
    """Adam learning rate (default per task: 1e-5 hopper/mountain_car, 1e-3 otherwise)."""
    last_few: int | None = None
    """Exploration commands come from the best this-many episodes (default per task: 10
    swimmer/hopper and the other tasks, 1 inverted_pendulum/mountain_car)."""
    batch_size: int = 768
    """Transitions per gradient update."""
    updates_per_iteration: int = 100
    """Gradient updates per iteration."""
    episodes_per_iteration: int | None = None
    """Exploration episodes per iteration, simulated as one batch (this is P; default: --num-envs if
    given, else 20)."""
    warm_up_episodes: int = 10
    """Episodes of uniformly random actions that fill the buffer first."""
    replay_size: int = 500
    """Episodes kept in the buffer: the best this-many by return."""
    return_scale: float = 0.02
    """Desired return is multiplied by this at the network's input."""
    horizon_scale: float = 0.01
    """Desired horizon is multiplied by this at the network's input."""

    def resolved(self, env: str, num_envs: int | None = None) -> "UdrlConfig":
        """Per-task defaults filled in; ``num_envs`` (P, if given) is the episodes per iteration."""
        return _fill(self, {**UDRL_PRESETS[env], "episodes_per_iteration": 20 if num_envs is None else num_envs})


SCHEDULES = ("default", "paper")
PRECISIONS = ("float32", "bfloat16")


@dataclass
class Config:
    algo: str = "poligen"
    """Algorithm: poligen, ars (augmented random search V2-t), ddpg (Stable-Baselines3, spinning-up
    settings) or udrl (upside-down RL with episodic resets)."""
    env: str = "hopper"
    """Task: the paper's hopper, swimmer, inverted_pendulum, mountain_car, or walker2d, half_cheetah, ant,
    reacher (Gymnasium v4, settings not from the paper: see README)."""
    num_envs: int | None = None
    """Policies generated and simulated per iteration, P (poligen: inverted_pendulum 64, mountain_car 8,
    swimmer and hopper 1, the cheapest P that learned as well as P = 1 in bench/results/populations/populations.md;
    ars: P / 2 directions, each simulated as +delta and -delta, so P must be even (default 2 x the task's
    directions); udrl: episodes per iteration (default 20); ddpg: 1 only, one env as spinning-up)."""
    total_steps: int | None = None
    """Env-step budget (default: the task's, 3M hopper/swimmer/walker2d/half_cheetah/ant, 1M reacher,
    100k inverted_pendulum/mountain_car)."""
    schedule: str = "default"
    """PoliGen: default (P, command spread and update scaling per task, from bench/results/populations/populations.md)
    or paper (P = 1: one episode per iteration, 5 evaluator + 20 generator updates per episode, batch 16,
    exactly the paper's schedule whatever the defaults)."""
    seed: int = 0
    """Seed of every random stream (torch and JAX)."""
    seeds: str | None = None
    """Train several seeds in one process, e.g. 0-19 or 0,3,7 (instead of --seed): PoliGen as one batched
    computation, the baselines one after another; seed s's run goes to <out>/seed<s> (default out:
    runs/<env>-seeds<SEEDS>), a run directory like a single-seed run's, which --resume continues with the
    same --seeds."""
    engine: str = "auto"
    """Simulation engine: auto (mjx when JAX sees a GPU and seeds x num_envs >= 16384, else cpu; see
    fastgen/engines.py), cpu or mjx."""
    out: str | None = None
    """Run directory (default: runs/<env>-seed<seed>)."""
    resume: bool = False
    """Continue the run in --out from its last checkpoint."""
    time_limit: float | None = None
    """Stop once this many seconds of training wall time (wall_s in metrics.jsonl, summed over
    resumptions) have passed, after an evaluation and checkpoint; --resume with a larger limit,
    or none, continues the run."""
    device: str = "auto"
    """Torch device for generator and evaluator: auto (cuda if available), cpu or cuda."""
    threads: int | None = None
    """Threads of this process: torch's (OpenMP/MKL) and the cpu engine's rollouts (default: every core
    this process may run on, e.g. 1 under taskset -c 0; two runs on one machine: pin each to its own cores)."""
    precision: str = "float32"
    """PoliGen: precision of the matrix products in generator and evaluator updates: float32, or bfloat16
    (opt-in, autocast: weights, gradients, Adam and losses stay float32; policies are generated for the
    simulator in float32, V's prediction in float32). Fast where the CPU has AMX or AVX-512 BF16
    (bench.update_speed); learning checked in bench/results/reproduction/paper_bfloat16_*."""
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)
    command: CommandConfig = field(default_factory=CommandConfig)
    buffer: BufferConfig = field(default_factory=BufferConfig)
    scaling: ScalingConfig = field(default_factory=ScalingConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    ars: ArsConfig = field(default_factory=ArsConfig)
    ddpg: DdpgConfig = field(default_factory=DdpgConfig)
    udrl: UdrlConfig = field(default_factory=UdrlConfig)

    @property
    def population(self) -> int:
        """Episodes simulated per iteration, fixed by the algorithm's own settings except for poligen."""
        if self.algo == "ars":
            return 2 * self.ars_settings().directions
        if self.algo == "ddpg":
            return 1
        if self.algo == "udrl":
            return self.udrl_settings().episodes_per_iteration
        if self.num_envs is not None:
            return self.num_envs
        return 1 if self.schedule == "paper" else POPULATION_DEFAULTS[self.env]["num_envs"]

    def ars_settings(self) -> ArsConfig:
        """--ars.* with the task's tuned defaults and (under --algo ars) --num-envs filled in."""
        return self.ars.resolved(self.env, self.num_envs if self.algo == "ars" else None)

    def udrl_settings(self) -> UdrlConfig:
        """--udrl.* with the task's tuned defaults and (under --algo udrl) --num-envs filled in."""
        return self.udrl.resolved(self.env, self.num_envs if self.algo == "udrl" else None)

    def _population_setting(self, value, name: str) -> float:
        """A P-dependent PoliGen setting: ``value`` if given, else the task's default (irrelevant at P = 1)."""
        return value if value is not None else POPULATION_DEFAULTS[self.env][name]

    @property
    def command_input(self) -> str:
        """The generator's command input: --generator.command-input, else linear under --schedule paper, else the
        task's population default."""
        if self.generator.command_input is not None:
            return self.generator.command_input
        return "linear" if self.schedule == "paper" else POPULATION_DEFAULTS[self.env]["command_input"]

    @property
    def command_spread(self) -> float:
        return self._population_setting(self.command.spread, "spread")

    @property
    def update_counts(self) -> tuple[int, int]:
        """PoliGen's (evaluator, generator) updates per iteration: updates per episode x P^updates-exponent."""
        grow = self.population ** self._population_setting(self.scaling.updates_exponent, "updates_exponent")
        return round(self.evaluator.updates_per_episode * grow), round(self.generator.updates_per_episode * grow)

    @property
    def batch_size(self) -> int:
        """PoliGen's batch per update: --buffer.batch-size x P^batch-exponent."""
        grow = self.population ** self._population_setting(self.scaling.batch_exponent, "batch_exponent")
        return max(1, round(self.buffer.batch_size * grow))

    def resolved(self) -> dict:
        """What the per-task defaults left None in this config came to (the fields each stands for:
        ``RESOLVED_FROM``). Written in config.json and every checkpoint; a resume is refused if they differ."""
        return {"population": self.population, "update_counts": list(self.update_counts),
                "batch_size": self.batch_size, "command_spread": self.command_spread,
                "command_input": self.command_input}

    @property
    def budget(self) -> int:
        return self.total_steps if self.total_steps is not None else TASKS[self.env].spec.budget

    @property
    def eval_every(self) -> int:
        return self.eval.every if self.eval.every is not None else TASKS[self.env].spec.eval_every

    @property
    def run_dir(self) -> str:
        return self.out if self.out is not None else f"runs/{self.env}-seed{self.seed}"

    def validate(self) -> None:
        """Raise a one-line ValueError naming the first bad value and what is allowed."""
        for flag, value in _numbers(self):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{flag} must be a finite number, got {value}")
        if self.algo not in algorithms.MODULES:
            raise ValueError(f"unknown algo {self.algo!r}; choose one of {', '.join(algorithms.MODULES)}")
        if self.env not in TASKS:
            raise ValueError(f"unknown env {self.env!r}; choose one of {', '.join(TASKS)}")
        if self.out is not None and not self.out.strip():
            raise ValueError(f"--out {self.out!r} names no directory; give one (default: runs/<env>-seed<seed>)")
        if self.seeds is not None:
            parse_seeds(self.seeds)
        if self.num_envs is not None and self.num_envs < 1:
            raise ValueError(f"--num-envs must be >= 1, got {self.num_envs}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if self.schedule == "paper" and self.num_envs not in (None, 1):
            raise ValueError(f"--schedule paper simulates one episode per iteration; --num-envs {self.num_envs} "
                             "contradicts it (leave it out or use --schedule default)")
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        if self.generator.command_input not in (None, *COMMAND_INPUTS):
            raise ValueError(f"unknown --generator.command-input {self.generator.command_input!r}; choose one of "
                             f"{', '.join(COMMAND_INPUTS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        if self.precision != "float32" and self.algo != "poligen":
            raise ValueError(f"--precision {self.precision} sets PoliGen's updates; --algo {self.algo} trains in float32")
        if self.device not in DEVICES:
            raise ValueError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")
        if self.algo == "ars" and self.num_envs is not None and self.num_envs % 2:
            raise ValueError(f"--num-envs {self.num_envs} must be even for --algo ars: it simulates P / 2 directions, "
                             "each as +delta and -delta")
        if self.algo == "ddpg" and self.num_envs not in (None, 1):
            raise ValueError(f"--num-envs {self.num_envs} is not supported by --algo ddpg: it trains on one env, one "
                             "transition per env step (spinning-up); leave --num-envs out or use 1")
        ars, udrl, ddpg = self.ars_settings(), self.udrl_settings(), self.ddpg
        checks = [("--ars.directions", ars.directions, 1), ("--ars.elite", ars.elite, 1),
                  ("--udrl.last-few", udrl.last_few, 1), ("--udrl.batch-size", udrl.batch_size, 1),
                  ("--udrl.episodes-per-iteration", udrl.episodes_per_iteration, 1),
                  ("--udrl.replay-size", udrl.replay_size, 1), ("--udrl.warm-up-episodes", udrl.warm_up_episodes, 0),
                  ("--udrl.updates-per-iteration", udrl.updates_per_iteration, 0),
                  ("--ddpg.batch-size", ddpg.batch_size, 1), ("--ddpg.update-every", ddpg.update_every, 1),
                  ("--ddpg.buffer-size", ddpg.buffer_size, 1), ("--ddpg.start-steps", ddpg.start_steps, 0),
                  ("--ddpg.update-after", ddpg.update_after, 0),
                  ("--num-envs", self.population, 1), ("--total-steps", self.budget, 1),
                  ("--eval.every", self.eval_every, 1), ("--eval.episodes", self.eval.episodes, 1),
                  ("--buffer.size", self.buffer.size, 1), ("--buffer.batch-size", self.buffer.batch_size, 1),
                  ("--evaluator.probes", self.evaluator.probes, 1), ("--threads", 1 if self.threads is None else self.threads, 1),
                  ("--generator.snapshots", self.generator.snapshots, 0),
                  ("--buffer.archive-buckets", self.buffer.archive_buckets, 0),
                  ("--buffer.archive-per-bucket", self.buffer.archive_per_bucket, 1)]
        for flag, value, least in checks:
            if value < least:
                raise ValueError(f"{flag} must be >= {least}, got {value}")
        if self.time_limit is not None and not self.time_limit > 0:
            raise ValueError(f"--time-limit must be > 0 seconds, got {self.time_limit}")
        for flag, value in [("--generator.updates-per-episode", self.generator.updates_per_episode),
                            ("--evaluator.updates-per-episode", self.evaluator.updates_per_episode),
                            ("--buffer.recency-power", self.buffer.recency_power),
                            ("--command.spread", self.command_spread),
                            ("--scaling.updates-exponent", self._population_setting(self.scaling.updates_exponent,
                                                                                    "updates_exponent")),
                            ("--scaling.batch-exponent", self._population_setting(self.scaling.batch_exponent,
                                                                                  "batch_exponent"))]:
            if not value >= 0:
                raise ValueError(f"{flag} must be >= 0, got {value}")
        if not 0 <= self.buffer.archive_share < 1:
            raise ValueError(f"--buffer.archive-share must be in [0, 1), got {self.buffer.archive_share}")
        if ars.elite > ars.directions:
            raise ValueError(f"--ars.elite {ars.elite} must be <= --ars.directions {ars.directions}")
        for flag, value in [("--ars.step-size", ars.step_size), ("--ars.noise", ars.noise), ("--udrl.lr", udrl.lr),
                            ("--ddpg.lr", ddpg.lr), ("--udrl.return-scale", udrl.return_scale),
                            ("--generator.command-width", 1.0 if self.generator.command_width is None
                             else self.generator.command_width),
                            ("--udrl.horizon-scale", udrl.horizon_scale), ("--ddpg.action-noise", ddpg.action_noise)]:
            if not value > 0:
                raise ValueError(f"{flag} must be > 0, got {value}")
        if udrl.activation not in ("relu", "tanh"):
            raise ValueError(f"unknown --udrl.activation {udrl.activation!r}; choose relu or tanh")
        for flag, value in [("--ddpg.polyak", ddpg.polyak), ("--ddpg.gamma", ddpg.gamma)]:
            if not 0 <= value <= 1:
                raise ValueError(f"{flag} must be in [0, 1], got {value}")
        if self.algo != "poligen" and self.num_envs is not None and self.num_envs != self.population:
            how = {"ars": "2 x --ars.directions", "udrl": "--udrl.episodes-per-iteration"}[self.algo]
            raise ValueError(f"--num-envs {self.num_envs} does not fit --algo {self.algo}: it simulates {how} = "
                             f"{self.population} episodes per iteration; leave --num-envs out or change that setting")


def _numbers(settings, prefix: str = "--"):
    """(flag, value) of every number set in ``settings`` and its sections."""
    for member in dataclasses.fields(settings):
        value, flag = getattr(settings, member.name), prefix + member.name.replace("_", "-")
        if dataclasses.is_dataclass(value):
            yield from _numbers(value, f"{flag}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield flag, value


def parse_seeds(text: str) -> list[int]:
    """``"0-3"`` -> [0, 1, 2, 3]; ``"0,5,7"`` -> [0, 5, 7]; ranges and lists mix (``"0-2,9"``); no repeats."""
    seeds = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high if dash else low)
        except ValueError:
            raise ValueError(f"--seeds {text!r}: expected non-negative integers and ranges like 0-19 or 0,3,7") from None
        if last < first:
            raise ValueError(f"--seeds {text!r}: range {part.strip()!r} runs backwards")
        seeds += range(first, last + 1)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {text!r} must name at least one seed, each once")
    return seeds


# The config fields each value of ``Config.resolved`` stands for: a resume compares these by what they resolved to.
RESOLVED_FROM = {"population": ("num_envs", "schedule", "udrl.episodes_per_iteration"),
                 "update_counts": ("scaling.updates_exponent",), "batch_size": ("scaling.batch_exponent",),
                 "command_spread": ("command.spread",), "command_input": ("generator.command_input",)}

# Fields that may differ between a run and its resumption; everything else must match.
RESUMABLE_CHANGES = ("resume", "total_steps", "out", "time_limit", "generator.snapshots", "threads")


def from_dict(values: dict, cls=Config):
    """The config a run directory's ``config.json`` describes (unknown keys, e.g. ``resolved``, ignored;
    fields added since the run was made keep their defaults)."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        kwargs[f.name] = (from_dict(values[f.name], type(default)) if dataclasses.is_dataclass(default)
                          else values[f.name])
    return cls(**kwargs)
