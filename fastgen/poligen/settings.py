"""PoliGen's settings (``fastgen.algorithms.Settings``): the sections --generator, --evaluator, --command, --buffer
and --scaling, the top-level --schedule and --precision, the population defaults per task, what they resolve to,
and their validation. The defaults follow the paper (appendix A.1, docs/paper.md); every behaviour of the
authors' code that differs is one flag away (marked "code:")."""

import math
from dataclasses import dataclass

import numpy as np

from envs.tasks import TASKS
from fastgen.errors import require_at_least
from fastgen.poligen.generator import COMMAND_INPUTS, NOISE_LAYOUTS

# PoliGen's population defaults per task: P (--num-envs), its --command.spread and --scaling exponents (used
# with any P > 1), the command input, the evaluator's and generator's updates per episode, the return archive, the
# noise layout, the best-return window, the noise-free policies, the mirrored noise, the verified records, the
# averaged generator and the kept behaviour (used whenever --schedule is not paper). Chosen by
# bench/results/populations/populations.md (AMD EPYC, 2 cores, seeds 0-4; rule: the cheapest setting whose final
# return is at most one paper std below the paper's P = 1 schedule run here) and confirmed on seeds 5-9
# (populations_confirm_<task>.md: every final return at the bar):
#   inverted_pendulum  P = 64, spread 1, updates x P^0.5: 1000 +- 0 (P = 1: 966 +- 67), ~4 min per run;
#                      seeds 5-9: 1000 +- 0, 5/5 >= 940
#   mountain_car       P = 8, spread 1, updates x P^0.5: 93.5 +- 0.4 (P = 1: 92.9 +- 0.7), ~3 min per run;
#                      seeds 5-9: 93.2 +- 1.1, 5/5 >= 90. The cheaper updates x P^0 (94.4 +- 5.5 on seeds 0-4)
#                      failed its confirmation: 57.2 +- 47.5, 3/5 >= 90 (two seeds never left -0.2)
#   swimmer            P = 64, spread 1, updates x P^0.5, symlog command input, return archive of 20 buckets, the
#                      generator at 40 updates per episode (a quarter of the paper's per env step), 8 noise-free
#                      policies per iteration, the averaged generator (decay 0.999) and the stored policies kept for
#                      raw observations (--buffer.keep-behaviour): 325.7 +- 9.5 on seeds 0-4 (P = 1: 309.5 +- 17.7),
#                      28-36 min per run on one core; confirmed on seeds 5-9 (populations_hopper_swimmer.md and
#                      populations_confirm_hopper_swimmer.md, rule mean-bar: >= 318 at 3M over >= 3 seeds). Without
#                      keep-behaviour: 308.5 +- 44.4 on seeds 0-4, one seed plateaued at 220.4 (populations_swimmer_average.md);
#                      rejected on the way (populations_swimmer_*.md): the archive alone (312.1 +- 13.2, 3/5
#                      confirming seeds >= 318), the generator at a quarter of the rate (confirming seed 7 stuck at 87.0),
#                      --command.best-window 5, noise-free 8 without averaging (316.9 +- 4.5 confirming), 2x
#                      generator lr, anchors, noise-free 16, --evaluator.top-share
#   hopper             P = 1: no P = 64 variant screened at 300k env steps has reached 1000 by hopping on 3 seeds
#                      (populations_hopper_300k.md; closest: symlog, ev x 8, generator x 2, noise-free 8, 2 of 3,
#                      populations_hopper_noise_free_gen2.md; with --generator.antithetic too, 3 of 3 on seeds 0-2
#                      but 2 of 3 on seeds 5-7, one by standing, populations_confirm_hopper_antithetic.md; with
#                      --command.verify 4 too, 3 of 3 on seeds 0-2, but confirming seed 5 sat under a verified
#                      440, populations_hopper_verify.md and populations_confirm_hopper_verify.md; at 3M, seeds 0-2:
#                      2378.5 +- 152.1, populations_hopper_verify_3m.md; with --generator.lr
#                      2e-5 as well, seed 0 never left ~250, populations_hopper_verify_lr.md; at 8e-6, seed 1 never
#                      left its plateau, populations_hopper_verify_lr8.md; with fan-in, mixed or adapted
#                      (--generator.noise-target 0.2) noise instead of flat, a deciding seed stalled each time,
#                      populations_hopper_verify_{fan_in,mixed,noise_target}.md; with --command.bonus-share 0.1
#                      too, 3 of 3 on seeds 0-2 and on 6, 8, 9 by the letter, but 4 of those 6 by standing and
#                      seed 1 standing to ~1.7-1.9M and ending at 1186.5 at 3M, populations_{,confirm_}hopper_bonus_share.md,
#                      populations_hopper_bonus_share_3m.md; capped at 300 too, seed 1 sat
#                      under a best of 134 surviving ~300 steps slowly, seed 7 stood, populations_hopper_bonus_cap.md;
#                      with --generator.anchor-lr 2e-6 (action space) instead, seed 5's best was 191 at 171k against
#                      440 by 72k without, populations_hopper_anchor.md; with --generator.average-decay 0.999 instead,
#                      2380.3 +- 136.9 at 3M on seeds 0-1 and 1000 only by ~370k, populations_hopper_average.md)
#   walker2d, half_cheetah, ant, reacher: not measured; the paper's P = 1, as on hopper
# Every option a population default sets, at the paper's value (what --schedule paper resolves them to):
PAPER_SCHEDULE = {"num_envs": 1, "spread": 1.0, "updates_exponent": 0.5, "batch_exponent": 0.0,
                  "command_input": "linear", "generator_updates_per_episode": 20.0,
                  "evaluator_updates_per_episode": 5.0, "archive_buckets": 0, "noise_layout": "flat",
                  "best_window": 0, "noise_free": 0, "antithetic": False, "verify": 0, "noise_target": 0.0,
                  "bonus_share": 0.0, "bonus_cap": 0.0, "anchor_lr": 0.0, "average_decay": 0.0,
                  "top_share": 0.0, "anchor_after": 0, "keep_behaviour": False, "slope_lr": 0.0,
                  "search_pairs": 0, "search_after": 0}
POPULATION_DEFAULTS = {
    "inverted_pendulum": {**PAPER_SCHEDULE, "num_envs": 64},
    "mountain_car": {**PAPER_SCHEDULE, "num_envs": 8},
    "swimmer": {**PAPER_SCHEDULE, "num_envs": 64, "command_input": "symlog", "archive_buckets": 20,
                "generator_updates_per_episode": 40.0, "noise_free": 8, "average_decay": 0.999, "keep_behaviour": True},
    **{task: PAPER_SCHEDULE for task in ("hopper", "walker2d", "half_cheetah", "ant", "reacher")},
}
SCHEDULES = ("default", "paper")
PRECISIONS = ("float32", "bfloat16")


@dataclass
class PoliGenOptions:
    schedule: str = "default"
    """PoliGen: default (P, command spread and update scaling per task, from bench/results/populations/populations.md)
    or paper (P = 1: one episode per iteration, 5 evaluator + 20 generator updates per episode, batch 16,
    exactly the paper's schedule whatever the defaults)."""
    precision: str = "float32"
    """PoliGen: precision of the matrix products in generator and evaluator updates: float32, or bfloat16
    (opt-in, autocast: weights, gradients, Adam and losses stay float32; policies are generated for the
    simulator in float32, V's prediction in float32). Fast where the CPU has AMX or AVX-512 BF16
    (bench.update_speed); learning checked in bench/results/reproduction/paper_bfloat16_*."""


@dataclass
class GeneratorConfig:
    """PoliGen: the generator G(c)."""

    lr: float = 2e-6
    """Adam learning rate of the generator."""
    updates_per_episode: float | None = None
    """Generator updates per collected episode (code: 19). Default: 20 (the paper) under --schedule paper, else the
    task's population default (POPULATION_DEFAULTS)."""
    noise_std: float = 0.1
    """Std of the Gaussian exploration noise added to the flat policy vector."""
    noise_layout: str | None = None
    """How the exploration noise's std is laid over the policy's layers: flat (--generator.noise-std on every
    weight, the paper) or fan-in (noise-std x 2/sqrt(fan-in) of each weight's layer, the output scaling's factor:
    hopper's hidden and output layers get noise-std / 8, its first layer 0.6 noise-std) or mixed (policies 2j and
    2j + 1 flat for even j, fan-in for odd j: half of every population each). Why: docs/results/populations.md,
    "How much of a population beats its generator" and "Mixed noise". Default: flat under --schedule paper, else
    the task's population default."""
    noise_free: int | None = None
    """This many of every iteration's P policies are G(c_i) exactly, without exploration noise (their commands
    spread evenly over the P), so that the evaluator learns the returns of the policies the generator itself makes
    and not only of noisy ones (docs/results/populations.md, "The evaluator overrates the generator's own
    policies"); 0 .. P - 1. Default: 0 (the paper) under --schedule paper, else the task's population default."""
    noise_target: float | None = None
    """Adapt the exploration noise to the population, as evolution strategies' 1/5 success rule adapts a step size:
    after each iteration, s = the share of its noisy policies that beat the mean return of its noise-free ones
    (--generator.noise-free >= 1), and the noise of every later policy is multiplied by exp(2 (s - this)), kept
    within [1/32, 4] x --generator.noise-std (too few beating their centre: narrower, too many: wider; why:
    docs/results/populations.md, "Noise that follows the population"); 0 < this < 1, or 0: fixed noise (the paper).
    Default: 0 under --schedule paper, else the task's population default."""
    antithetic: bool | None = None
    """Mirrored exploration noise: policies 2j and 2j + 1 of every iteration carry eps and -eps about their
    (neighbouring) centres, as ARS samples its directions, so that the evaluator sees the return's change on both
    sides of the generator's policies; needs an even P. Default: off (the paper) under --schedule paper, else the
    task's population default."""
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
    anchor_lr: float | None = None
    """Anchor the generator to its records: the policies that set the newest ANCHORS bests so far are kept with
    their returns (the verified mean under --command.verify), and after every generator update one more Adam step
    of this learning rate (its own moments) pulls the actions of G(r_a) towards those of each anchor theta_a (mean
    squared difference on 256 fixed states, N(0, 1) in normalised-observation space; in weight space, as the UDRLPG
    follow-up trains its generator, a tiled hypernetwork learns a record far slower), so that, asked for its best
    return, G makes a policy that acts as the one that earned it, not only one that V rates as high
    (docs/results/populations.md, "Anchored records");
    0: no anchor (the paper; the default under --schedule paper), else the task's population default. Needs
    --command.best-window 0."""
    anchor_after: int | None = None
    """With --generator.anchor-lr: take the anchor steps only in iterations where the best so far has not risen for
    at least this many iterations (0: in every iteration), so that the generator extrapolates beyond its records
    while they rise and is held to them once they stall (docs/results/populations.md, "Swimmer's plateaus").
    Default: 0 under --schedule paper, else the task's population default."""
    slope_lr: float | None = None
    """After every iteration's updates, one more Adam step of this learning rate (its own moments) moves the generator
    up the return's slope as its population measured it: the evolution-strategies gradient sum_i w_i eps_i, where
    eps_i is policy i's exploration noise and w_i its return less the mean of the iteration's noisy policies, over
    their std (noise-free policies weigh 0; mirrored pairs make it the ARS estimate), taken at G(c_i) and passed back
    through G. Why: at hopper's stalls the evaluator's slope at the record points off a cliff, 0.26 along it the
    policy falls at once, while steps along the population's averaged slope climb past the record
    (docs/results/populations.md, "The evaluator's slope at a stall"). 0: none (the paper; the default under
    --schedule paper), else the task's population default."""
    search_pairs: int | None = None
    """Search from the record: this many mirrored pairs of every iteration's P policies are drawn about a search
    centre instead of about G(c), theta = centre +- --generator.search-std x N(0, 1) per weight (the generator's
    policies are the other P - 2 x this). The centre starts at G(the first command) and moves to each new best so far
    that one of the pairs sets (verified under --command.verify), not to the generator's; in an iteration where the
    pairs set none, it takes a step of
    --generator.search-step (weight norm) along the pairs' measured slope sum_j (r+_j - r-_j) delta_j, as ARS steps.
    Their episodes go into the buffer like the generator's, so V and G learn from what the search finds. Why: at
    hopper's stalls evolution strategies from the record climb (229 -> 761 in 30 steps) and from G(best) do not
    (181 -> 198): the climbable neighbourhood is the record's, one G never made (docs/results/populations.md, "Search
    from the record"). 0: none (the paper; the default under --schedule paper), else the task's population
    default."""
    search_after: int | None = None
    """With --generator.search-pairs: search only at the generator's stalls, once its own policies have set no new
    best so far for this many iterations; the search then starts from the best so far's policy (the record) and
    lasts until the generator's policies set a record again, while the generator makes all P policies otherwise.
    0: search in every iteration, from G(the first command). Why: on hopper the search from the first iteration
    rescued the seeds where the generator alone stalls (5, 6) and cost the seeds where it climbs (0: best 680 by
    300k where the slope candidate hopped at 112k; 1: a lucky record of the pairs' at 82k sent every command to
    924 and the generator's policies to ~20), docs/results/populations.md, "Search at the generator's stalls".
    Default: 0 under --schedule paper, else the task's population default."""
    search_std: float = 0.05
    """With --generator.search-pairs: the std of the search pairs' noise per weight."""
    search_step: float = 2.0
    """With --generator.search-pairs: how far (weight norm) the search centre moves along the pairs' measured slope in
    an iteration that sets no new best."""
    average_decay: float | None = None
    """Evaluate an exponential moving average of the generator's weights, updated after every generator update
    (average <- this x average + (1 - this) x weights; 0.999 remembers ~1000 updates, three of hopper's and
    swimmer's P = 64 iterations), instead of the generator itself: its policy is what evaluations, videos, snapshots,
    sweeps and exports use, and each evaluation also logs the generator's own as eval/live_return on the same
    starts. Training is unchanged. Why: neighbouring evaluations of one run swing by up to ~2000 on hopper
    (docs/results/populations.md, "An averaged generator"). 0 .. < 1; 0: none (the paper; the default under
    --schedule paper), else the task's population default."""
    snapshots: int = 10
    """Keep this many generator snapshots over the budget, plus the untrained one, in snapshots/
    (for python -m fastgen.atlas; ~2 MB each on hopper); 0 keeps none."""


@dataclass
class EvaluatorConfig:
    """PoliGen: the evaluator V(theta)."""

    lr: float = 5e-3
    """Adam learning rate of the evaluator (probing states included)."""
    updates_per_episode: float | None = None
    """Evaluator updates per collected episode (code: 4). Default: 5 (the paper) under --schedule paper, else the
    task's population default (POPULATION_DEFAULTS)."""
    probes: int = 200
    """Number of learnable probing states."""
    top_share: float | None = None
    """Draw this share of every evaluator batch uniformly from the buffer's --evaluator.top-count highest returns
    (the rest as the paper draws it), so that the evaluator learns the top of the return scale as well as the bulk:
    trained on batches that are mostly the recent population, most of it far below the best, it underrates the
    buffer's best policies (swimmer: its 16 highest by 24-123 on 12 runs), and the generator, trained to make policies
    V rates at the command, cannot be asked for a record that V rates ~100 lower near the policies that earned it
    (docs/results/populations.md, "The evaluator underrates the records"). Generator batches are unchanged.
    0 <= this < 1; 0: none (the paper; the default under --schedule paper), else the task's population default."""
    top_count: int = 64
    """How many of the buffer's highest returns --evaluator.top-share draws from (the best so far and its nearest)."""


@dataclass
class CommandConfig:
    """PoliGen: commands."""

    drive: float = 20.0
    """Next command = best training return so far + drive (Fig. 8: 0 is slightly worse)."""
    first: float = 0.0
    """Command of the very first iteration (code: 1)."""
    bonus_free: bool = True
    """Train on returns without the survival bonus where the task has one (hopper)."""
    bonus_share: float | None = None
    """With --command.bonus-free, keep this share of the survival bonus in the training returns (and so in the
    commands and records): bonus-free return + share x bonus, 0 .. 1; 0 trains on the bonus-free return (the paper;
    the default under --schedule paper), else the task's population default. Only for tasks with a survival
    bonus (hopper, walker2d, ant). Why: bonus-free, a hopper that falls after ~150 steps earns about what one that
    hops longer and slower earns, and with the whole bonus standing still beats both (docs/results/populations.md,
    "A share of the survival bonus")."""
    bonus_cap: float | None = None
    """With --command.bonus-share, the most of an episode's survival bonus that the share is taken of (hopper,
    walker2d and ant earn 1 per step alive, so this counts steps); 0 for no cap (the default under --schedule
    paper), else the task's population default. Why: with the whole bonus shared, a hopper standing still for 1000
    steps earns 0.1 x 1000 more than one that falls after 30, and early runs stand; capped at 300 it earns at most
    0.1 x 300 more (docs/results/populations.md, "A capped share of the survival bonus")."""
    best_rank: int = 1
    """The best training return so far, which commands and evaluations start from, is the highest over iterations
    of each iteration's best-rank-th highest return (1: the highest, the paper; at most P). With P > 1 the highest
    of P noisy policies is a lucky draw that the generator cannot yet reproduce, and every later command asks for
    more than its training data holds (docs/results/populations.md, "Hopper's commands run ahead of its
    generator")."""
    best_window: int | None = None
    """Take the best training return (as --command.best-rank says) over the last this many iterations only, so that
    a lucky return the generator never reproduces stops setting every command once it is this many iterations old
    (docs/results/populations.md, "Hopper's commands run ahead of its generator"); 0: over every iteration, the
    paper's "best so far" (the default under --schedule paper; else the task's population default). Read from the
    replay buffer: needs best-window x P <= --buffer.size."""
    verify: int | None = None
    """When an iteration's highest training return beats the best so far, run that policy this many more episodes
    (fresh starts, counted as env steps) and let the best so far rise only to the mean of those K (the record's own
    episode, picked for being high, left out): one episode's return is a noisy measurement, and the highest of
    thousands of them is mostly luck that no policy repeats (docs/results/populations.md, "Lucky records"). 0: a
    single episode sets the record (the paper; the default under --schedule paper), else the task's population
    default. Needs --command.best-rank 1 and --command.best-window 0."""
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
    archive_buckets: int | None = None
    """Beside the recent entries, keep the newest --buffer.archive-per-bucket policies of each of this many equal
    return buckets over the task's return range, and draw --buffer.archive-share of every batch from them (every
    bucket equally likely), so that low-return policies stay in the generator's training after the recent
    entries have moved on; 0: no archive (the paper, and the default under --schedule paper); default: the task's
    population default."""
    archive_per_bucket: int = 32
    """Policies kept per return bucket of the archive."""
    archive_share: float = 0.25
    """Share of every update's batch drawn from the archive (when it has entries)."""
    keep_behaviour: bool | None = None
    """Stored policies (buffer, archive, records) keep the behaviour that earned their returns when the
    observation statistics move: each is stored for raw observations (the statistics it ran with folded into its
    first layer) and re-expressed for the current statistics whenever it is drawn, verified or anchored to. Off
    (the paper): a stored policy acts on observations normalised with today's statistics, so what it does, and
    earns, drifts from its stored return as the statistics move. Default: off under --schedule paper, else the
    task's population default."""


@dataclass
class ScalingConfig:
    """PoliGen with P > 1 policies per iteration: how updates grow with P (P = 1: no effect)."""

    updates_exponent: float | None = None
    """Updates per iteration = updates-per-episode x P^this (1: per episode, as the paper; 0: as many
    per iteration as one episode gets; default 0.5, bench/results/populations/populations.md)."""
    batch_exponent: float | None = None
    """Batch of every update = --buffer.batch-size x P^this (0: 16 whatever P; default 0)."""


SECTIONS = {"generator": GeneratorConfig, "evaluator": EvaluatorConfig, "command": CommandConfig,
            "buffer": BufferConfig, "scaling": ScalingConfig}
OPTIONS = PoliGenOptions
RESOLVED_FROM = {"population": ("num_envs", "schedule"), "update_counts": ("scaling.updates_exponent",),
                 "batch_size": ("scaling.batch_exponent",), "command_spread": ("command.spread",),
                 "command_input": ("generator.command_input",),
                 "evaluator_updates_per_episode": ("evaluator.updates_per_episode",),
                 "generator_updates_per_episode": ("generator.updates_per_episode",),
                 "archive_buckets": ("buffer.archive_buckets",), "noise_layout": ("generator.noise_layout",),
                 "best_window": ("command.best_window",),
                 "noise_free": ("generator.noise_free",), "antithetic": ("generator.antithetic",),
                 "verify": ("command.verify",), "noise_target": ("generator.noise_target",),
                 "bonus_share": ("command.bonus_share",), "bonus_cap": ("command.bonus_cap",),
                 "anchor_lr": ("generator.anchor_lr",), "average_decay": ("generator.average_decay",),
                 "top_share": ("evaluator.top_share",), "anchor_after": ("generator.anchor_after",),
                 "keep_behaviour": ("buffer.keep_behaviour",),
                 "slope_lr": ("generator.slope_lr",), "search_pairs": ("generator.search_pairs",),
                 "search_after": ("generator.search_after",)}
ANCHORS = 4  # records a generator is anchored to (--generator.anchor-lr): the newest, so the highest


def population(cfg) -> int:
    """P: --num-envs, else 1 under --schedule paper, else the task's population default."""
    if cfg.num_envs is not None:
        return cfg.num_envs
    return 1 if cfg.schedule == "paper" else POPULATION_DEFAULTS[cfg.env]["num_envs"]


def _default(cfg, value, name: str):
    """An option with a per-task default: ``value`` if given, else the paper's under --schedule paper, else the
    task's population default (``POPULATION_DEFAULTS``)."""
    if value is not None:
        return value
    return (PAPER_SCHEDULE if cfg.schedule == "paper" else POPULATION_DEFAULTS[cfg.env])[name]


def command_input(cfg) -> str:
    """The generator's command input (--generator.command-input)."""
    return _default(cfg, cfg.generator.command_input, "command_input")


def command_spread(cfg) -> float:
    return _default(cfg, cfg.command.spread, "spread")


def noise_layout(cfg) -> str:
    """How the exploration noise is laid over the policy's layers (--generator.noise-layout)."""
    return _default(cfg, cfg.generator.noise_layout, "noise_layout")


def best_window(cfg) -> int:
    """Iterations the best training return is taken over, 0 for every iteration (--command.best-window)."""
    return _default(cfg, cfg.command.best_window, "best_window")


def noise_free(cfg) -> int:
    """Policies per iteration generated without exploration noise (--generator.noise-free). A task's default is a
    share of its default population (swimmer: 8 of 64) and stays that share, rounded down, at any other P."""
    if cfg.generator.noise_free is not None or cfg.schedule == "paper":
        return _default(cfg, cfg.generator.noise_free, "noise_free")
    default = POPULATION_DEFAULTS[cfg.env]
    return default["noise_free"] * population(cfg) // default["num_envs"]


def antithetic(cfg) -> bool:
    """Whether the exploration noise comes in mirrored pairs (--generator.antithetic)."""
    return _default(cfg, cfg.generator.antithetic, "antithetic")


def noise_target(cfg) -> float:
    """The share of noisy policies beating their centres that the noise adapts to (--generator.noise-target), 0 for
    fixed noise."""
    return _default(cfg, cfg.generator.noise_target, "noise_target")


def verify(cfg) -> int:
    """Episodes a new record's policy runs again before it counts (--command.verify), 0 for none."""
    return _default(cfg, cfg.command.verify, "verify")


def bonus_share(cfg) -> float:
    """The share of the survival bonus kept in training returns (--command.bonus-share), 0 for none."""
    return _default(cfg, cfg.command.bonus_share, "bonus_share")


def bonus_cap(cfg) -> float:
    """The most of an episode's survival bonus the share is taken of (--command.bonus-cap), 0 for no cap."""
    return _default(cfg, cfg.command.bonus_cap, "bonus_cap")


def anchor_lr(cfg) -> float:
    """The learning rate of the generator's anchor steps (--generator.anchor-lr), 0 for none."""
    return _default(cfg, cfg.generator.anchor_lr, "anchor_lr")


def anchor_after(cfg) -> int:
    """Iterations the best so far must have stood before anchor steps are taken (--generator.anchor-after)."""
    return _default(cfg, cfg.generator.anchor_after, "anchor_after")


def slope_lr(cfg) -> float:
    """The learning rate of the generator's step along its population's measured slope (--generator.slope-lr), 0 for
    none."""
    return _default(cfg, cfg.generator.slope_lr, "slope_lr")


def search_pairs(cfg) -> int:
    """Mirrored pairs per iteration drawn about the search centre (--generator.search-pairs), 0 for none. A task's
    default is a share of its default population and stays that share, rounded down, at any other P."""
    if cfg.generator.search_pairs is not None or cfg.schedule == "paper":
        return _default(cfg, cfg.generator.search_pairs, "search_pairs")
    default = POPULATION_DEFAULTS[cfg.env]
    return default["search_pairs"] * population(cfg) // default["num_envs"]


def search_after(cfg) -> int:
    """Iterations without a record of the generator's before the search pairs are drawn (--generator.search-after),
    0 for every iteration."""
    return _default(cfg, cfg.generator.search_after, "search_after")


def generated(cfg) -> int:
    """How many of an iteration's P policies the generator makes while the search pairs are drawn: P less theirs."""
    return population(cfg) - 2 * search_pairs(cfg)


def average_decay(cfg) -> float:
    """The decay of the evaluated moving average of the generator's weights (--generator.average-decay), 0 for
    none."""
    return _default(cfg, cfg.generator.average_decay, "average_decay")


def top_share(cfg) -> float:
    """The share of every evaluator batch drawn from the buffer's highest returns (--evaluator.top-share)."""
    return _default(cfg, cfg.evaluator.top_share, "top_share")


def keep_behaviour(cfg) -> bool:
    """Whether stored policies follow the observation statistics (--buffer.keep-behaviour)."""
    return _default(cfg, cfg.buffer.keep_behaviour, "keep_behaviour")


def training_returns(cfg, with_bonus, no_bonus):
    """The returns PoliGen trains on, from an episode's return with and without the survival bonus (arrays of one
    shape): the env's own under --command.no-bonus-free, else the bonus-free one plus --command.bonus-share of the
    bonus, or of --command.bonus-cap where the bonus is larger."""
    if not cfg.command.bonus_free:
        return with_bonus
    share = bonus_share(cfg)
    if not share:
        return no_bonus
    bonus, cap = with_bonus - no_bonus, bonus_cap(cfg)
    return no_bonus + share * (np.minimum(bonus, cap) if cap else bonus)


def archive_buckets(cfg) -> int:
    """Return buckets of the buffer's archive, 0 for none (--buffer.archive-buckets)."""
    return _default(cfg, cfg.buffer.archive_buckets, "archive_buckets")


def updates_per_episode(cfg) -> tuple[float, float]:
    """(evaluator, generator) updates per collected episode (--evaluator/--generator.updates-per-episode)."""
    return (_default(cfg, cfg.evaluator.updates_per_episode, "evaluator_updates_per_episode"),
            _default(cfg, cfg.generator.updates_per_episode, "generator_updates_per_episode"))


def update_counts(cfg) -> tuple[int, int]:
    """(evaluator, generator) updates per iteration: updates per episode x P^updates-exponent."""
    grow = population(cfg) ** _default(cfg, cfg.scaling.updates_exponent, "updates_exponent")
    evaluator, generator = updates_per_episode(cfg)
    return round(evaluator * grow), round(generator * grow)


def batch_size(cfg) -> int:
    """The batch of every update: --buffer.batch-size x P^batch-exponent."""
    grow = population(cfg) ** _default(cfg, cfg.scaling.batch_exponent, "batch_exponent")
    return max(1, round(cfg.buffer.batch_size * grow))


def resolved(cfg) -> dict:
    evaluator, generator = updates_per_episode(cfg)
    return {"population": population(cfg), "update_counts": list(update_counts(cfg)), "batch_size": batch_size(cfg),
            "command_spread": command_spread(cfg), "command_input": command_input(cfg),
            "evaluator_updates_per_episode": evaluator, "generator_updates_per_episode": generator,
            "archive_buckets": archive_buckets(cfg), "noise_layout": noise_layout(cfg), "best_window": best_window(cfg),
            "noise_free": noise_free(cfg), "antithetic": antithetic(cfg),
            "verify": verify(cfg), "noise_target": noise_target(cfg), "bonus_share": bonus_share(cfg),
            "bonus_cap": bonus_cap(cfg), "anchor_lr": anchor_lr(cfg), "average_decay": average_decay(cfg),
            "top_share": top_share(cfg), "anchor_after": anchor_after(cfg), "keep_behaviour": keep_behaviour(cfg),
            "slope_lr": slope_lr(cfg), "search_pairs": search_pairs(cfg), "search_after": search_after(cfg)}


def validate(cfg) -> None:
    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {cfg.schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if cfg.schedule == "paper" and cfg.num_envs not in (None, 1):
        raise ValueError(f"--schedule paper simulates one episode per iteration; --num-envs {cfg.num_envs} "
                         "contradicts it (leave it out or use --schedule default)")
    if cfg.generator.command_input not in (None, *COMMAND_INPUTS):
        raise ValueError(f"unknown --generator.command-input {cfg.generator.command_input!r}; choose one of "
                         f"{', '.join(COMMAND_INPUTS)}")
    if cfg.generator.noise_layout not in (None, *NOISE_LAYOUTS):
        raise ValueError(f"unknown --generator.noise-layout {cfg.generator.noise_layout!r}; choose one of "
                         f"{', '.join(NOISE_LAYOUTS)}")
    if cfg.precision not in PRECISIONS:
        raise ValueError(f"unknown precision {cfg.precision!r}; choose one of {', '.join(PRECISIONS)}")
    if cfg.precision != "float32" and cfg.algo != "poligen":
        raise ValueError(f"--precision {cfg.precision} sets PoliGen's updates; --algo {cfg.algo} trains in float32")
    require_at_least([("--buffer.size", cfg.buffer.size, 1), ("--buffer.batch-size", cfg.buffer.batch_size, 1),
                               ("--evaluator.probes", cfg.evaluator.probes, 1),
                               ("--evaluator.top-count", cfg.evaluator.top_count, 1),
                               ("--generator.snapshots", cfg.generator.snapshots, 0),
                               ("--buffer.archive-buckets", archive_buckets(cfg), 0),
                               ("--buffer.archive-per-bucket", cfg.buffer.archive_per_bucket, 1),
                               ("--command.verify", verify(cfg), 0)])
    evaluator, generator = updates_per_episode(cfg)
    for flag, value in [("--generator.updates-per-episode", generator), ("--evaluator.updates-per-episode", evaluator),
                        ("--buffer.recency-power", cfg.buffer.recency_power),
                        ("--command.spread", command_spread(cfg)),
                        ("--scaling.updates-exponent",
                         _default(cfg, cfg.scaling.updates_exponent, "updates_exponent")),
                        ("--scaling.batch-exponent",
                         _default(cfg, cfg.scaling.batch_exponent, "batch_exponent"))]:
        if not value >= 0:
            raise ValueError(f"{flag} must be >= 0, got {value}")
    if not 1 <= cfg.command.best_rank <= population(cfg):
        raise ValueError(f"--command.best-rank must be between 1 and P = {population(cfg)} (--num-envs), got "
                         f"{cfg.command.best_rank}")
    pairs = search_pairs(cfg)
    if isinstance(pairs, bool) or not isinstance(pairs, int) or not 0 <= 2 * pairs < population(cfg):
        raise ValueError(f"--generator.search-pairs must be an integer 0 .. {(population(cfg) - 1) // 2} (2 x pairs "
                         f"< P = {population(cfg)}, --num-envs: the generator keeps at least one policy), got {pairs!r}")
    after = search_after(cfg)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0 or (after and not pairs):
        raise ValueError(f"--generator.search-after must be an integer >= 0 (0: search in every iteration), and > 0 "
                         f"only with --generator.search-pairs >= 1 (got {pairs}), got {after!r}")
    for flag, value in (("--generator.search-std", cfg.generator.search_std),
                        ("--generator.search-step", cfg.generator.search_step)):
        if pairs and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{flag} must be a finite number > 0 with --generator.search-pairs {pairs}, got {value}")
    if noise_free(cfg) != 0 and not 0 < noise_free(cfg) < generated(cfg):
        searched = f", --generator.search-pairs {pairs}" if pairs else ""
        raise ValueError(f"--generator.noise-free must be 0 .. P - {2 * pairs + 1 if pairs else 1} = "
                         f"{generated(cfg) - 1} (--num-envs {population(cfg)}{searched}), got {noise_free(cfg)}")
    target = noise_target(cfg)
    if not 0 <= target < 1:
        raise ValueError(f"--generator.noise-target must be 0 (fixed noise) or a share in (0, 1), got {target}")
    if target and not noise_free(cfg):
        raise ValueError(f"--generator.noise-target {target} compares noisy policies with the noise-free ones of the "
                         f"same iteration; it needs --generator.noise-free >= 1, got 0")
    if antithetic(cfg) and population(cfg) % 2:
        raise ValueError(f"--generator.antithetic mirrors the noise of policy pairs; it needs an even P (--num-envs), "
                         f"got {population(cfg)}")
    window = best_window(cfg)
    if not 0 <= window * population(cfg) <= cfg.buffer.size:
        raise ValueError(f"--command.best-window must be 0 (every iteration) or 1 .. {cfg.buffer.size // population(cfg)} "
                         f"(x P = {population(cfg)} within --buffer.size {cfg.buffer.size}), got {window}")
    if verify(cfg) and (window or cfg.command.best_rank != 1):
        raise ValueError(f"--command.verify checks the highest return of an iteration against the best so far over every "
                         f"iteration; it needs --command.best-rank 1 and --command.best-window 0, got best-rank "
                         f"{cfg.command.best_rank} and best-window {window}")
    if not 0 <= cfg.buffer.archive_share < 1:
        raise ValueError(f"--buffer.archive-share must be in [0, 1), got {cfg.buffer.archive_share}")
    if not 0 <= top_share(cfg) < 1:
        raise ValueError(f"--evaluator.top-share must be in [0, 1) (a share of every evaluator batch), got "
                         f"{top_share(cfg)}")
    share = bonus_share(cfg)
    if not 0 <= share <= 1:
        raise ValueError(f"--command.bonus-share must be in [0, 1] (the share of the survival bonus kept), got {share}")
    if share and not cfg.command.bonus_free:
        raise ValueError(f"--command.bonus-share {share} keeps part of the survival bonus that --command.no-bonus-free "
                         "keeps whole; give one of them")
    if share and not TASKS[cfg.env].spec.has_survival_bonus:
        raise ValueError(f"--command.bonus-share {share}: {cfg.env} has no survival bonus to share; tasks with one: "
                         f"{', '.join(t for t in TASKS if TASKS[t].spec.has_survival_bonus)}")
    cap = bonus_cap(cfg)
    if not cap >= 0:
        raise ValueError(f"--command.bonus-cap must be 0 (no cap) or a bonus > 0, got {cap}")
    if cap and not share:
        raise ValueError(f"--command.bonus-cap {cap:g} caps the survival bonus that --command.bonus-share keeps; it "
                         f"needs --command.bonus-share > 0, got {share:g}")
    anchor = anchor_lr(cfg)
    if not anchor >= 0:
        raise ValueError(f"--generator.anchor-lr must be 0 (no anchor) or a learning rate > 0, got {anchor}")
    after = anchor_after(cfg)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise ValueError(f"--generator.anchor-after must be an integer >= 0 (iterations), got {after!r}")
    if after and not anchor:
        raise ValueError(f"--generator.anchor-after {after} delays the anchor steps of --generator.anchor-lr; it needs "
                         f"--generator.anchor-lr > 0, got {anchor:g}")
    if anchor and window:
        raise ValueError(f"--generator.anchor-lr {anchor:g} anchors the generator to the records of the best so far over "
                         f"every iteration; it needs --command.best-window 0, got {window}")
    slope = slope_lr(cfg)
    if not slope >= 0:
        raise ValueError(f"--generator.slope-lr must be 0 (no slope step) or a learning rate > 0, got {slope}")
    if slope and noise_free(cfg) >= generated(cfg) - 1:
        raise ValueError(f"--generator.slope-lr {slope:g} measures the return's slope from the noisy policies of each "
                         f"iteration; it needs at least 2 of them, got {generated(cfg)} policies with "
                         f"{noise_free(cfg)} noise-free")
    decay = average_decay(cfg)
    if not 0 <= decay < 1:
        raise ValueError(f"--generator.average-decay must be 0 (no average) or in (0, 1), got {decay}")
    width = cfg.generator.command_width
    if width is not None and not (math.isfinite(width) and width > 0):
        raise ValueError(f"--generator.command-width must be > 0, got {width}")
