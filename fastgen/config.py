"""Run configuration: one nested dataclass whose field docstrings are ``python -m fastgen.run --help``.

Defaults follow the paper (appendix A.1, REFERENCE.md); every behaviour of the authors' code that
differs is one flag away (marked "code:"). Task-dependent defaults are resolved by properties.
"""

from dataclasses import dataclass, field

from envs.tasks import TASKS

# Default population per task: 100k-step budgets hold only ~100 full episodes (see
# bench/learning.py for the sample-efficiency / wall-clock trade-off behind these).
DEFAULT_NUM_ENVS = {"hopper": 64, "swimmer": 64, "inverted_pendulum": 1, "mountain_car": 1}


@dataclass
class GeneratorConfig:
    lr: float = 2e-6
    """Adam learning rate of the generator."""
    updates_per_episode: float = 20.0
    """Generator updates per collected episode (code: 19)."""
    noise_std: float = 0.1
    """Std of the Gaussian exploration noise added to the flat policy vector."""
    output_scaling: bool = True
    """Multiply generated weights by 2/sqrt(fan-in) (paper Fig. 4 ablation: off)."""


@dataclass
class EvaluatorConfig:
    lr: float = 5e-3
    """Adam learning rate of the evaluator (probing states included)."""
    updates_per_episode: float = 5.0
    """Evaluator updates per collected episode (code: 4)."""
    probes: int = 200
    """Number of learnable probing states."""


@dataclass
class CommandConfig:
    drive: float = 20.0
    """Next command = best training return so far + drive (Fig. 8: 0 is slightly worse)."""
    first: float = 0.0
    """Command of the very first iteration (code: 1)."""
    bonus_free: bool = True
    """Train on returns without the survival bonus where the task has one (hopper)."""


@dataclass
class BufferConfig:
    size: int = 10_000
    """Replay buffer capacity in (theta, return) pairs."""
    batch_size: int = 16
    """Batch size of every evaluator and generator update."""
    recency_power: float = 1.1
    """Sampling weight 1/x^power, x = episodes since stored; 0 samples uniformly (Fig. 4 ablation)."""


@dataclass
class EvalConfig:
    every: int | None = None
    """Evaluate every this many env steps (default: 10k; 1k for inverted_pendulum, mountain_car)."""
    episodes: int = 10
    """Episodes per evaluation of G(best return so far), without noise."""
    bonus: bool = True
    """eval/return includes the survival bonus, the env's own reward (code: yes); with --eval.no-bonus
    it is the bonus-free return. Both are logged on hopper either way."""


@dataclass
class Config:
    env: str = "hopper"
    """Task: hopper, swimmer, inverted_pendulum or mountain_car."""
    num_envs: int | None = None
    """Policies generated and simulated per iteration, P (default per task: hopper/swimmer 64,
    inverted_pendulum/mountain_car 1)."""
    total_steps: int | None = None
    """Env-step budget (default: the task's, 3M hopper/swimmer, 100k inverted_pendulum/mountain_car)."""
    seed: int = 0
    """Seed of every random stream (torch and JAX)."""
    engine: str = "auto"
    """Simulation engine: auto (mjx when JAX sees a GPU, else cpu), cpu or mjx."""
    out: str | None = None
    """Run directory (default: runs/<env>-seed<seed>)."""
    resume: bool = False
    """Continue the run in --out from its last checkpoint."""
    device: str = "auto"
    """Torch device for generator and evaluator: auto (cuda if available), cpu or cuda."""
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)
    command: CommandConfig = field(default_factory=CommandConfig)
    buffer: BufferConfig = field(default_factory=BufferConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @property
    def population(self) -> int:
        return self.num_envs if self.num_envs is not None else DEFAULT_NUM_ENVS[self.env]

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
        if self.env not in TASKS:
            raise ValueError(f"unknown env {self.env!r}; choose one of {', '.join(TASKS)}")
        if self.engine not in ("auto", "cpu", "mjx"):
            raise ValueError(f"unknown engine {self.engine!r}; choose one of auto, cpu, mjx")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"unknown device {self.device!r}; choose one of auto, cpu, cuda")
        checks = [("--num-envs", self.population, 1), ("--total-steps", self.budget, 1),
                  ("--eval.every", self.eval_every, 1), ("--eval.episodes", self.eval.episodes, 1),
                  ("--buffer.size", self.buffer.size, 1), ("--buffer.batch-size", self.buffer.batch_size, 1),
                  ("--evaluator.probes", self.evaluator.probes, 1)]
        for flag, value, least in checks:
            if value < least:
                raise ValueError(f"{flag} must be >= {least}, got {value}")
        for flag, value in [("--generator.updates-per-episode", self.generator.updates_per_episode),
                            ("--evaluator.updates-per-episode", self.evaluator.updates_per_episode),
                            ("--buffer.recency-power", self.buffer.recency_power)]:
            if not value >= 0:
                raise ValueError(f"{flag} must be >= 0, got {value}")


# Fields that may differ between a run and its resumption; everything else must match.
RESUMABLE_CHANGES = ("resume", "total_steps", "out")
