"""Run configuration: one nested dataclass whose field docstrings are ``python -m fastgen.run --help``.

``Config`` is composed here from the options every run shares (``SharedConfig``: algorithm, task, budget,
seeds, engine, run directory, evaluation) and each registered algorithm's own (``fastgen.algorithms.Settings``:
its sections such as ``--generator.*`` or ``--ars.*``, per-task defaults, what they resolve to and their
validation), so that adding an algorithm never edits this module.
"""

import dataclasses
import math
from dataclasses import dataclass, field

from envs.physics import check_profile
from envs.tasks import TASKS
from fastgen import algorithms
from fastgen.engines import DEVICES, ENGINES
from fastgen.errors import require_at_least


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
    video: bool = False
    """Also write a short clip of the evaluated policy (one episode, its first 200 drawn frames, 160 x 120) every
    --eval.video-every evaluations: RUN_DIR/videos/eval_<env steps>.gif and TensorBoard's images (every --algo)."""
    video_every: int = 10
    """Evaluations between two clips of --eval.video (the first evaluation gets one)."""


@dataclass
class SharedConfig:
    """The options every run shares; each algorithm adds its own (``fastgen.algorithms.Settings``)."""

    algo: str = "poligen"
    """Algorithm: poligen, ars (augmented random search V2-t), ddpg (Stable-Baselines3, spinning-up
    settings) or udrl (upside-down RL with episodic resets)."""
    env: str = "hopper"
    """Task: the paper's hopper, swimmer, inverted_pendulum, mountain_car, or walker2d, half_cheetah, ant,
    reacher (Gymnasium v4, settings not from the paper: see README)."""
    num_envs: int | None = None
    """Policies generated and simulated per iteration, P (poligen: inverted_pendulum 64, mountain_car 8,
    swimmer 64, hopper and the rest 1: the cheapest P that learned as well as P = 1 in
    bench/results/populations/populations.md, swimmer's with the options of its population default;
    ars: P / 2 directions, each simulated as +delta and -delta, so P must be even (default 2 x the task's
    directions); udrl: episodes per iteration (default 20); ddpg: 1 only, one env as spinning-up; an algorithm
    without settings of its own: default 1)."""
    total_steps: int | None = None
    """Env-step budget (default: the task's, 3M hopper/swimmer/walker2d/half_cheetah/ant, 1M reacher,
    100k inverted_pendulum/mountain_car)."""
    seed: int = 0
    """Seed of every random stream (torch and JAX)."""
    seeds: str | None = None
    """Train several seeds in one process, e.g. 0-19 or 0,3,7 (instead of --seed): PoliGen as one batched
    computation, the baselines one after another; seed s's run goes to <out>/seed<s> (default out:
    runs/<env>-seeds<SEEDS>), a run directory like a single-seed run's, which --resume continues with the
    same --seeds."""
    engine: str = "auto"
    """Simulation engine: auto (mjx when JAX sees a GPU and seeds x num_envs >= 16384, else cpu; see
    fastgen/engines.py), cpu, mjx, or warp (MuJoCo Warp, float32, the [warp] extra)."""
    physics: str = "gymnasium"
    """MuJoCo settings the task is simulated with (envs/physics.py): gymnasium (the XML as Gymnasium ships it:
    the paper's tasks, what the parity tests check) or fast (solver 4 / 8 iterations, ground contacts only,
    eulerdamp off: faster, returns differ; bench/results/physics/physics_profiles.md)."""
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
    eval: EvalConfig = field(default_factory=EvalConfig)

    @property
    def population(self) -> int:
        """Episodes simulated per iteration, as the algorithm's settings fix it."""
        return algorithms.settings(self.algo).population(self)

    def resolved(self) -> dict:
        """What the algorithm's per-task defaults came to (``fastgen.algorithms.Settings.resolved``): written in
        config.json and every checkpoint; a resume is refused if they differ."""
        return algorithms.settings(self.algo).resolved(self)

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
        if self.algo not in algorithms.REGISTRY:
            raise ValueError(f"unknown algo {self.algo!r}; choose one of {', '.join(algorithms.REGISTRY)}")
        if self.env not in TASKS:
            raise ValueError(f"unknown env {self.env!r}; choose one of {', '.join(TASKS)}")
        if self.out is not None and not self.out.strip():
            raise ValueError(f"--out {self.out!r} names no directory; give one (default: runs/<env>-seed<seed>)")
        if self.seeds is not None:
            parse_seeds(self.seeds)
        if self.num_envs is not None and self.num_envs < 1:
            raise ValueError(f"--num-envs must be >= 1, got {self.num_envs}")
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        check_profile(self.physics)
        if self.device not in DEVICES:
            raise ValueError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")
        require_at_least([("--total-steps", self.budget, 1), ("--eval.every", self.eval_every, 1),
                                   ("--eval.episodes", self.eval.episodes, 1),
                                   ("--eval.video-every", self.eval.video_every, 1),
                                   ("--threads", 1 if self.threads is None else self.threads, 1)])
        if self.time_limit is not None and not self.time_limit > 0:
            raise ValueError(f"--time-limit must be > 0 seconds, got {self.time_limit}")
        for name in algorithms.REGISTRY:
            algorithms.settings(name).validate(self)
        if self.population < 1:
            raise ValueError(f"--num-envs must be >= 1, got {self.population}")


def _compose() -> type:
    """``Config``: ``SharedConfig`` plus every registered algorithm's top-level options and sections."""
    sections, options = [], []
    for name in algorithms.REGISTRY:
        settings = algorithms.settings(name)
        sections += [(section, cls, field(default_factory=cls)) for section, cls in settings.SECTIONS.items()]
        options += [settings.OPTIONS] if settings.OPTIONS is not None else []
    composed = dataclasses.make_dataclass("Config", sections, bases=(*options, SharedConfig))
    composed.__module__ = __name__
    composed.__doc__ = "A run's settings: the shared options and every registered algorithm's."
    return composed


Config = _compose()


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



# Fields that may differ between a run and its resumption; everything else must match.
RESUMABLE_CHANGES = ("resume", "total_steps", "out", "time_limit", "generator.snapshots", "threads", "eval.video",
                     "eval.video_every")


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
