"""PoliGen training (paper Algorithm 1) of K >= 1 seeds at once; a single run is a batch of one.

One iteration of each seed: command c = best training return so far + drive; P policies
theta = G(c_i) + eps (with ``--command.spread`` the P commands c_i fan out around c; ``--generator.antithetic``:
eps_{2j+1} = -eps_{2j}; ``--generator.noise-free K``: K of the eps are 0); one episode
each (all K x P in one rollout); (theta, r) into the seed's replay buffer as one block; observation
statistics merged from these training episodes; then ``5 P^a`` evaluator updates (MSE of V(theta)
on r) and ``20 P^a`` generator updates (MSE of V(G(r)) on r, V frozen), a = the updates exponent
(1: the paper's 5 + 20 per episode), each on a batch of ``16 P^b`` recency-weighted samples of the
seed's own buffer (b = the batch exponent, 0: 16). With ``--command.verify K`` a new record's policy runs K more
episodes before the best so far moves, and then only to their mean. With ``--generator.slope-lr`` one more generator
step follows, up the return's slope that the iteration's noisy policies measured (``slope_weights``). With
``--generator.search-pairs N`` the last 2N of the P policies are mirrored pairs about the search centre, the newest
record the pairs themselves set, moved up their measured slope when they set none (``search_population``,
``move_search``); the generator's are the first P - 2N. With ``--generator.search-after K`` the pairs are drawn only
once the generator's own policies have set no record for K iterations, from the record, until they set one again
(``search_due``); the generator makes all P otherwise. ``evaluate``
runs G(best so far) without noise for 10 episodes (not counted as env steps).

Each seed keeps its own ``TrainState`` (config, buffer, statistics, random streams, counters); the
seeds of a batch share one ``fastgen.poligen.learner.Learner`` (their networks stacked, row ``slot``) and one
env. A seed draws the same random numbers from the same streams whether it trains alone or in a
batch, so the two runs differ only by the round-off of batched products (none on the CPU's loop).
"""

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np
import torch

import envs
from fastgen import policy, runtime
from fastgen.algorithms import Counters, Progress
from fastgen.bridge import to_engine
from fastgen.config import Config
from fastgen.engines import make_env, resolve_device
from fastgen.errors import TrainingError  # noqa: F401 (re-exported)
from fastgen.evaluation import eval_key, eval_metrics
from fastgen.normalizer import ObsStats
from fastgen.poligen import learner, settings
from fastgen.poligen.buffer import RecordAnchors, ReplayBuffer, ReturnArchive
from fastgen.poligen.evaluator import Evaluator
from fastgen.poligen.generator import Generator, population_std


@dataclass
class TrainState(Counters):
    cfg: Config
    env: envs.Env
    device: torch.device
    learner: learner.Learner  # shared by the seeds of a batch
    slot: int  # this seed's row in the learner
    buffer: ReplayBuffer
    obs_stats: ObsStats
    rng: torch.Generator
    key: jax.Array
    noise_multiplier: float = 1.0  # --generator.noise-target's factor on the exploration noise (1: as configured)
    anchors: RecordAnchors | None = None  # --generator.anchor-lr's records (None without)
    best_rose_at: int = 0  # iterations done when the best so far last rose (--generator.anchor-after)
    search_centre: torch.Tensor | None = None  # [D] in stored_form: --generator.search-pairs' centre (None before one)
    record: torch.Tensor | None = None  # [D] in stored_form: the best so far's policy, with --generator.search-pairs
    generator_rose_at: int = 0  # iterations done when the generator's own policies last set the best so far
    searching: bool = False  # whether this iteration draws the search pairs: ``search_due``, set as it starts

    @property
    def spec(self):
        return self.env.spec

    @property
    def command(self) -> float:
        """The command for the next training episodes."""
        if self.best_return is None:
            return self.cfg.command.first
        return self.best_return + self.cfg.command.drive


def search_due(state: TrainState) -> bool:
    """Whether the next iteration draws --generator.search-pairs: in every iteration with --generator.search-after 0,
    else once the generator's own policies have set no best so far for that many iterations."""
    cfg = state.cfg
    return settings.search_pairs(cfg) > 0 and state.iterations - state.generator_rose_at >= settings.search_after(cfg)


def generated_now(state: TrainState) -> int:
    """How many of this iteration's P policies the generator makes: P less the search pairs' while they are drawn."""
    return settings.generated(state.cfg) if state.searching else settings.population(state.cfg)


def population_commands(state: TrainState) -> torch.Tensor:
    """The commands of the next iteration's generated policies ``[P]`` (P: ``generated_now``): ``best + drive
    x u_i`` with u_i evenly spaced over ``[1 - spread, 1 + spread]`` (all ``best + drive`` at spread 0 or P = 1; all
    the first command before any episode)."""
    P, spread = generated_now(state), settings.command_spread(state.cfg)
    if state.best_return is None or P == 1 or spread == 0:
        return torch.full((P,), state.command, device=state.device)
    u = 1.0 + spread * torch.linspace(-1.0, 1.0, P, dtype=torch.float64)
    return (state.best_return + state.cfg.command.drive * u).to(torch.float32).to(state.device)


def noise_free_mask(cfg: Config, generated: int) -> np.ndarray:
    """``[generated]`` (the generator's policies of an iteration) True for those drawn without exploration noise
    (``noise_free_slots``)."""
    mask = np.zeros(generated, dtype=bool)
    mask[noise_free_slots(generated, settings.noise_free(cfg)).numpy()] = True
    return mask


def slope_weights(returns: np.ndarray, noise_free: np.ndarray) -> np.ndarray:
    """``--generator.slope-lr``'s weight of each policy ``[P]`` from its training return ``returns [P]``: the return
    less the mean of the noisy policies', over their std (ARS's scaling: the step's size does not follow the
    returns' scale); 0 for the noise-free ones (``noise_free [P]``, True) and for all when the noisy returns are
    equal. With mirrored noise the mean cancels within each pair, leaving ARS's (r+ - r-) eps."""
    noisy = returns[~noise_free]
    weights = np.zeros(len(returns))
    spread = noisy.std() if len(noisy) > 1 else 0.0
    if spread > 0:
        weights[~noise_free] = (noisy - noisy.mean()) / spread
    return weights


def exploration_noise(state: TrainState, count: int, dim: int, dtype: torch.dtype) -> torch.Tensor:
    """The exploration noise of a seed's ``count`` generated policies ``[count, dim]``, from its own stream: the
    layout's std x --generator.noise-target's multiplier, mirrored in pairs (--generator.antithetic), 0 for the
    noise-free ones (--generator.noise-free)."""
    cfg = state.cfg
    noise = torch.randn(count, dim, generator=state.rng, device=state.device, dtype=dtype)
    if settings.antithetic(cfg):
        noise[1::2] = -noise[0::2]
    if settings.noise_free(cfg):
        noise[noise_free_slots(count, settings.noise_free(cfg))] = 0.0
    scale = population_std(state.spec, cfg.generator.noise_std, settings.noise_layout(cfg), count).to(state.device)
    return scale * state.noise_multiplier * noise


def _padded(rows: torch.Tensor, width: int) -> torch.Tensor:
    """``rows [n, ...]`` with zero rows appended up to ``[width, ...]``."""
    return torch.cat([rows, rows.new_zeros(width - rows.shape[0], *rows.shape[1:])]) if rows.shape[0] < width else rows


def noise_free_slots(population: int, count: int) -> torch.Tensor:
    """Which of the P policies go without exploration noise (``--generator.noise-free``): the middle one of each
    of ``count`` equal runs of the P commands, ``[count]``."""
    return ((torch.arange(count, dtype=torch.float64) + 0.5) * population / count).long()


def init(cfg: Config, env=None) -> TrainState:
    """A fresh run: networks initialised from ``cfg.seed``, empty buffer, no statistics (``env``: share one)."""
    return init_batch([cfg], env)[0]


def init_batch(cfgs: list[Config], env=None) -> list[TrainState]:
    """K fresh runs with (validated) configs equal but for the seed, sharing one learner; seed k initialised exactly
    as alone."""
    env = env if env is not None else make_env(cfgs[0], len(cfgs))
    device = resolve_device(cfgs[0].device)
    spec, states, generators, evaluators = env.spec, [], [], []
    for slot, cfg in enumerate(cfgs):
        torch.manual_seed(cfg.seed)  # module initialisation
        generators.append(Generator(spec, cfg.generator.noise_std, cfg.generator.output_scaling,
                                   cfg.generator.command_width, settings.command_input(cfg),
                                   settings.noise_layout(cfg)).to(device))
        evaluators.append(Evaluator(spec, cfg.evaluator.probes).to(device))
        buffer = make_buffer(cfg, spec, device)
        rng = torch.Generator(device=device)
        rng.manual_seed(cfg.seed)
        states.append((cfg, slot, buffer, rng))
    if cfgs[0].precision == "bfloat16" and device.type == "cpu" and not runtime.native_bfloat16():
        print("fastgen: --precision bfloat16 on a CPU without AMX or AVX-512 BF16: its matrix products are emulated "
              "and likely slower than float32", file=sys.stderr)
    anchor_lr = settings.anchor_lr(cfgs[0])
    shared = learner.create(generators, evaluators, cfgs[0].generator.lr, cfgs[0].evaluator.lr, cfgs[0].precision,
                            anchor_lr, settings.average_decay(cfgs[0]), settings.slope_lr(cfgs[0]))
    dim = envs.num_params(spec.obs_dim, spec.act_dim)
    made = [TrainState(cfg, env, device, shared, slot, buffer, ObsStats(spec.obs_dim), rng, jax.random.key(cfg.seed),
                       anchors=RecordAnchors(settings.ANCHORS, dim, device) if anchor_lr else None)
            for cfg, slot, buffer, rng in states]
    for s in made:
        s.searching = search_due(s)
    return made


def make_buffer(cfg: Config, spec: envs.EnvSpec, device: torch.device) -> ReplayBuffer:
    """The run's replay buffer: ``--buffer.size`` recent entries, and the return archive if asked for."""
    dim = envs.num_params(spec.obs_dim, spec.act_dim)
    archive = None
    if settings.archive_buckets(cfg):
        archive = ReturnArchive(settings.archive_buckets(cfg), cfg.buffer.archive_per_bucket, dim, *spec.return_range,
                                device)
    return ReplayBuffer(cfg.buffer.size, dim, device, cfg.buffer.recency_power or None, archive,
                        cfg.buffer.archive_share)


def iteration(state: TrainState, progress: Progress | None = None) -> tuple[TrainState, dict[str, float]]:
    """One iteration of a single run; -> (state, metrics)."""
    return state, iteration_batch([state], progress)[0]


def iteration_batch(states: list[TrainState], progress: Progress | None = None) -> list[dict[str, float]]:
    """Collect P episodes per seed, store them, update evaluators then generators; -> each seed's metrics."""
    cfg, shared = states[0].cfg, states[0].learner
    slots = [s.slot for s in states]
    start = time.perf_counter()
    commands = [s.command for s in states]
    for s in states:
        s.searching = search_due(s)
        if not s.searching:
            s.search_centre = None  # the next stall's search starts from the record it stalls at
    counts = [generated_now(s) for s in states]  # the generator's policies of each seed
    width = max(counts)  # P unless every seed searches
    asked = torch.stack([_padded(population_commands(s), width) for s in states])  # [Ks, width]
    mean = learner.generate(shared, slots, asked)  # [Ks, width, D]
    noise = torch.stack([_padded(exploration_noise(s, count, mean.shape[-1], mean.dtype), width)
                         for s, count in zip(states, counts)])  # [Ks, width, D], 0 past each seed's count
    theta = mean + noise
    population = settings.population(cfg)
    if width < population:
        theta = torch.cat([theta, theta.new_zeros(len(states), population - width, theta.shape[-1])], 1)
    searching = [i for i, s in enumerate(states) if s.searching]
    if searching:
        searched, directions = search_population([states[i] for i in searching])  # [n, 2N, D], [n, N, D]
        for j, i in enumerate(searching):
            theta[i, counts[i]:] = searched[j]  # [Ks, P, D]
    keys = []
    for s in states:
        s.key, key = jax.random.split(s.key)
        keys.append(key)
    results = _simulate(states, theta, keys)
    rollout_s = time.perf_counter() - start
    best_before = [s.best_return for s in states]
    centres_before = [s.search_centre for s in states]
    kept = torch.stack([stored_form(s, theta[i]) for i, s in enumerate(states)])  # with the statistics they ran with
    returns = [record(s, kept[i], r) for i, (s, r) in enumerate(zip(states, results))]
    verify_records(states, kept, returns)
    by_pairs = [s.search_centre is not before for s, before in zip(states, centres_before)]  # a pair's record moved it
    if searching:
        pairs = slice(settings.generated(cfg), population)
        move_search([states[i] for i in searching], kept[searching, pairs], [returns[i][pairs] for i in searching],
                    directions, [centres_before[i] for i in searching])
    for s, before, pair_record in zip(states, best_before, by_pairs):
        if s.best_return != before:
            s.best_rose_at = s.iterations
            if not pair_record:
                s.generator_rose_at = s.iterations
    for s, r, count in zip(states, returns, counts):
        adapt_noise(s, r[:count])

    update_start = time.perf_counter()
    n_evaluator, n_generator = settings.update_counts(cfg)
    counted = _Counted(progress, n_evaluator + n_generator, len(states))
    evaluator_losses = counted.repeat(n_evaluator, lambda: learner.evaluator_step(shared, slots, *_samples(states)))
    anchors = _anchor_batch(states)  # the records stay put during the updates: stacked once per iteration
    generator_losses = counted.repeat(n_generator, lambda: _generator_update(states, anchors))
    if shared.slope_opt is not None:
        weights = torch.stack([_padded(torch.as_tensor(slope_weights(r[:count], noise_free_mask(cfg, count))
                                                       * (width / count), dtype=noise.dtype), width)
                               for r, count in zip(returns, counts)]).to(noise.device)  # x width / count: the mean
        learner.slope_step(shared, slots, asked, noise, weights)  # over width rows is each seed's own over its count
    update_s = time.perf_counter() - update_start
    elapsed = time.perf_counter() - start
    metrics = []
    for i, s in enumerate(states):
        check_losses(s, evaluator_losses[i], generator_losses[i])
        s.wall_s += elapsed
        metrics.append(iteration_metrics(s, commands[i], returns[i], results[i], evaluator_losses[i],
                                         generator_losses[i], rollout_s, update_s, elapsed))
    return metrics


class _Counted:
    """Runs update steps, telling ``progress`` how many of ``due`` are done."""

    def __init__(self, progress: Progress | None, due: int, seeds: int):
        self.progress, self.due, self.seeds, self.done = progress, due, seeds, 0

    def repeat(self, count: int, step: Callable[[], torch.Tensor]) -> list[float]:
        """``step()`` ``count`` times; -> each seed's mean loss (0 if none), synced to the host once."""
        losses = []
        for _ in range(count):
            losses.append(step())
            self.done += 1
            if self.progress is not None:
                self.progress(self.done, self.due)
        return torch.stack(losses).mean(0).tolist() if losses else [0.0] * self.seeds


def _anchor_batch(states: list[TrainState]) -> tuple[list[int], tuple[torch.Tensor, ...]] | None:
    """The slots of the seeds whose anchor steps are due (``is_anchored``) and their ``RecordAnchors.padded`` stacked
    (``[Ks, A]``, ``[Ks, A, D]``, ``[Ks, A]``), or None when no seed's are."""
    anchored = [s for s in states if is_anchored(s)]
    if not anchored:
        return None
    padded = [s.anchors.padded() for s in anchored]
    padded = [(returns, current_form(s, theta), mask) for s, (returns, theta, mask) in zip(anchored, padded)]
    return [s.slot for s in anchored], tuple(torch.stack(parts) for parts in zip(*padded))


def is_anchored(state: TrainState) -> bool:
    """Whether this iteration's generator updates take anchor steps: the run has records to anchor to, and its best
    so far has not risen for ``--generator.anchor-after`` iterations (0: always)."""
    return (state.anchors is not None and len(state.anchors) > 0
            and state.iterations - state.best_rose_at >= settings.anchor_after(state.cfg))


def _generator_update(states: list[TrainState], anchors) -> torch.Tensor:
    """One generator step of every seed, then one anchor step of those with anchors (``_anchor_batch``), then the
    generators' moving average; -> the generator losses ``[Ks]``."""
    shared = states[0].learner
    losses = learner.generator_step(shared, [s.slot for s in states], _commands(states))
    if anchors is not None:
        learner.anchor_step(shared, anchors[0], *anchors[1])
    learner.update_average(shared, [s.slot for s in states])
    return losses


def _samples(states: list[TrainState]) -> tuple[torch.Tensor, torch.Tensor]:
    """One evaluator batch per seed, each from its own buffer and RNG (with --evaluator.top-share of it from the
    buffer's highest returns): ``([Ks, B, D], [Ks, B])``."""
    buffer, batch = states[0].buffer, settings.batch_size(states[0].cfg)
    theta = buffer.params.new_empty(len(states), batch, buffer.params.shape[1])
    returns = buffer.returns.new_empty(len(states), batch)
    for k, s in enumerate(states):
        s.buffer.sample(s.rng, batch, out=(theta[k], returns[k]), top_share=settings.top_share(s.cfg),
                        top_count=s.cfg.evaluator.top_count)
        if settings.keep_behaviour(s.cfg):
            theta[k] = current_form(s, theta[k])
    return theta, returns


def _commands(states: list[TrainState]) -> torch.Tensor:
    """The returns of one buffer batch per seed, the generator's commands: ``[Ks, B]`` (drawn as ``_samples``
    draws, without its top share)."""
    return torch.stack([s.buffer.sample_returns(s.rng, settings.batch_size(s.cfg)) for s in states])


def stored_form(state: TrainState, theta: torch.Tensor) -> torch.Tensor:
    """Policies ``theta [N, D]`` that act with the current observation statistics, as the buffer and the records
    keep them: for raw observations under --buffer.keep-behaviour (``policy.reframe``), else ``theta`` itself."""
    if not settings.keep_behaviour(state.cfg):
        return theta
    return policy.reframe(theta, (state.obs_stats.mean, state.obs_stats.std), None, state.spec)


def current_form(state: TrainState, theta: torch.Tensor) -> torch.Tensor:
    """Stored policies ``theta [N, D]`` (``stored_form``) as policies for the current observation statistics."""
    if not settings.keep_behaviour(state.cfg):
        return theta
    return policy.reframe(theta, None, (state.obs_stats.mean, state.obs_stats.std), state.spec)


def record(state: TrainState, theta: torch.Tensor, result: envs.RolloutResult) -> np.ndarray:
    """Book an iteration's episodes (``theta [P, D]`` in ``stored_form``): buffer, observation statistics, best
    return (the highest so far, or over the last ``--command.best-window`` iterations, of each iteration's
    ``--command.best-rank``-th highest), counters; -> returns ``[P]``."""
    returns = settings.training_returns(state.cfg, result.returns, result.returns_no_bonus)
    if not np.isfinite(returns).all():
        raise TrainingError(f"non-finite training return at env step {state.env_steps}: {returns[~np.isfinite(returns)][:3]}")
    state.buffer.add(theta, torch.as_tensor(returns, dtype=torch.float32, device=state.device))
    state.obs_stats.update(result.obs_count, result.obs_sum, result.obs_sumsq)
    rank, window = state.cfg.command.best_rank, settings.best_window(state.cfg)
    if window:
        state.best_return = windowed_best(state.buffer, window * len(returns), rank)
    elif not settings.verify(state.cfg):  # else verify_records sets it
        order = np.argsort(returns)
        top = float(returns[order[-rank]])  # this iteration's rank-th highest return
        if state.best_return is None or top > state.best_return:
            new_best(state, theta[order[-rank]], top, searched=order[-rank] >= generated_now(state))
    state.env_steps += result.obs_count
    state.episodes += theta.shape[0]
    state.iterations += 1
    return returns


def verify_records(states: list[TrainState], theta: torch.Tensor, returns: list[np.ndarray]) -> None:
    """``--command.verify K``: each seed whose iteration's highest return ``returns[i] [P]`` beats its best so far (or
    has none) runs that policy of ``theta [Ks, P, D]`` (``stored_form``) K more episodes, all such seeds in one
    rollout (counted as env steps and episodes, their observations merged into the statistics); its best so far
    becomes the highest of itself and the mean of those K fresh returns (the record's own episode is left out: it
    was picked for being high, and with it the mean would keep a share of its luck)."""
    count = settings.verify(states[0].cfg)
    due = [i for i, s in enumerate(states) if count and (s.best_return is None or returns[i].max() > s.best_return)]
    if not due:
        return
    top = [int(np.argmax(returns[i])) for i in due]
    keys = []
    for i in due:  # a seed's own stream, split only when it verifies: the same draws alone or in a batch
        states[i].key, key = jax.random.split(states[i].key)
        keys.append(key)
    candidates = torch.stack([theta[i, t:t + 1] for i, t in zip(due, top)])  # [n, 1, D], stored_form
    acting = torch.stack([current_form(states[i], c) for i, c in zip(due, candidates)])
    for i, t, result in zip(due, top, _simulate([states[i] for i in due], acting, keys, episodes=count)):
        s = states[i]
        again = settings.training_returns(s.cfg, result.episode_returns, result.episode_returns_no_bonus)  # [1, K]
        if not np.isfinite(again).all():
            raise TrainingError(f"non-finite return verifying a record at env step {s.env_steps}: {again[0][:3]}")
        verified = float(again.mean())
        if s.best_return is None or verified > s.best_return:
            new_best(s, candidates[due.index(i), 0], verified, searched=t >= generated_now(s))
        s.obs_stats.update(result.obs_count, result.obs_sum, result.obs_sumsq)
        s.env_steps += result.obs_count
        s.episodes += count


def new_best(state: TrainState, theta: torch.Tensor, value: float, searched: bool = False) -> None:
    """The best so far rises to ``value``, set by the policy ``theta [D]`` (stored_form; an anchor with
    --generator.anchor-lr); one of the search pairs (``searched``) also becomes the search centre. A record of the
    generator's does not: a search centred on every record climbed to 494 by 300k on hopper's seed 6 once the
    generator set records too, to 1044-1209 on the pairs' own (docs/results/populations.md, "Search from the
    record")."""
    state.best_return = value
    if state.anchors is not None:
        state.anchors.add(theta, value)
    if settings.search_pairs(state.cfg):
        state.record = theta.detach().clone()
    if searched:
        state.search_centre = theta.detach().clone()


def search_population(states: list[TrainState]) -> tuple[torch.Tensor, torch.Tensor]:
    """``--generator.search-pairs N``: each seed's 2N policies ``centre + s delta_j`` (j < N) then ``centre - s
    delta_j``, acting with its current statistics, s = --generator.search-std, delta_j ~ N(0, 1) per weight from the
    seed's own stream; a seed without a centre yet searches about its record (``TrainState.record``), or before any
    about G(its command). -> (policies
    ``[Ks, 2N, D]``, delta ``[Ks, N, D]``)."""
    cfg, shared = states[0].cfg, states[0].learner
    centres = []
    for s in states:
        if s.search_centre is None and s.record is not None:
            s.search_centre = s.record
        elif s.search_centre is None:
            made = learner.generate(shared, [s.slot], torch.tensor([[s.command]], device=s.device))[0]  # [1, D]
            s.search_centre = stored_form(s, made)[0]
        centres.append(current_form(s, s.search_centre[None])[0])
    centre = torch.stack(centres)[:, None]  # [Ks, 1, D]
    delta = torch.stack([torch.randn(settings.search_pairs(cfg), centre.shape[-1], generator=s.rng, device=s.device,
                                     dtype=centre.dtype) for s in states])
    step = cfg.generator.search_std * delta
    return torch.cat([centre + step, centre - step], 1), delta


def move_search(states: list[TrainState], kept: torch.Tensor, returns: list[np.ndarray], delta: torch.Tensor,
                centres_before: list[torch.Tensor | None]) -> None:
    """Each seed whose pairs set no new best this iteration (its centre is still ``centres_before[i]``, the same
    tensor) moves its search centre --generator.search-step (in
    the norm of the acting policy's weights) along ``sum_j (r+_j - r-_j) delta_j``: ``kept [Ks, 2N, D]`` the pairs as
    stored (``stored_form``, with the statistics they ran with), ``returns`` each seed's ``[2N]``, ``delta [Ks, N,
    D]``. The step is taken in stored form, through the pairs' stored differences: ``stored_form`` is affine in the
    weights, so (kept+_j - kept-_j) / 2s is delta_j in stored form, and the centre moves exactly as a step along the
    acting direction would under the statistics the pairs ran with."""
    cfg = states[0].cfg
    pairs, spread, distance = settings.search_pairs(cfg), cfg.generator.search_std, cfg.generator.search_step
    for i, s in enumerate(states):
        if s.search_centre is not centres_before[i]:  # the centre is the pairs' new record
            continue
        gains = torch.as_tensor(returns[i][:pairs] - returns[i][pairs:], dtype=delta.dtype, device=delta.device)
        acting = (gains[:, None] * delta[i]).sum(0)
        if not acting.norm() > 0:
            continue
        stored = (gains[:, None] * (kept[i, :pairs] - kept[i, pairs:])).sum(0) / (2 * spread)
        s.search_centre = s.search_centre + (distance / acting.norm()) * stored


NOISE_GAIN = 2.0  # per iteration, log(multiplier) moves by this x (share - target): x0.77 at 7% against 20%
NOISE_BOUNDS = (1 / 32, 4.0)  # the multiplier's range: fan-in's hidden layers are 1/8 of flat, and room beyond


def adapt_noise(state: TrainState, returns: np.ndarray) -> None:
    """``--generator.noise-target T``: the share s of this iteration's noisy policies (``returns [P]``) that beat the
    mean return of its noise-free ones moves the noise multiplier by ``exp(NOISE_GAIN (s - T))`` within
    ``NOISE_BOUNDS``: fewer successes than T narrow the noise, more widen it (the 1/5 success rule of evolution
    strategies)."""
    target = settings.noise_target(state.cfg)
    if not target:
        return
    free = noise_free_mask(state.cfg, len(returns))
    share = float((returns[~free] > returns[free].mean()).mean())
    state.noise_multiplier = float(np.clip(state.noise_multiplier * math.exp(NOISE_GAIN * (share - target)),
                                           *NOISE_BOUNDS))


def windowed_best(buffer: ReplayBuffer, entries: int, rank: int) -> float:
    """The highest, over the iterations (buffer blocks) among the newest ``entries`` entries, of each iteration's
    ``rank``-th highest return (``--command.best-window``)."""
    returns, blocks = buffer.returns_since(buffer.stored - entries + 1)
    tops = [torch.topk(returns[blocks == block], rank).values[-1] for block in torch.unique(blocks)]
    return float(torch.stack(tops).max())


def check_losses(state: TrainState, evaluator_loss: float, generator_loss: float) -> None:
    for name, loss in (("evaluator", evaluator_loss), ("generator", generator_loss)):
        if not math.isfinite(loss):
            raise TrainingError(f"{name} loss became {loss} at env step {state.env_steps}")


def iteration_metrics(state: TrainState, command: float, returns: np.ndarray, result: envs.RolloutResult,
                      evaluator_loss: float, generator_loss: float, rollout_s: float, update_s: float,
                      elapsed: float) -> dict[str, float]:
    return {"train/command": command, "train/best_return": state.best_return,
            "train/mean_return": float(returns.mean()), "train/max_return": float(returns.max()),
            "train/mean_length": float(result.lengths.mean()), "train/evaluator_loss": evaluator_loss,
            "train/generator_loss": generator_loss, "perf/rollout_s": rollout_s, "perf/update_s": update_s,
            "perf/sps": result.obs_count / elapsed, "train/noise_multiplier": state.noise_multiplier,
            **({"train/searching": float(state.searching)} if settings.search_pairs(state.cfg) else {}),
            **({"train/search_mean_return": float(returns[settings.generated(state.cfg):].mean())}
               if state.searching else {}),
            **({"train/anchored": float(is_anchored(state))} if state.anchors is not None else {})}


def _simulate(states: list[TrainState], theta: torch.Tensor, keys, episodes: int = 1) -> list[envs.RolloutResult]:
    """Episodes of ``theta [Ks, P, D]``, seed i's policies normalised with seed i's statistics."""
    env = states[0].env
    mean = np.stack([s.obs_stats.mean for s in states])
    std = np.stack([s.obs_stats.std for s in states])
    return envs.rollout_groups(env, to_engine(theta.contiguous(), env.engine), mean, std, keys, episodes=episodes)


def eval_command(state: TrainState) -> float:
    """What an evaluation asks for: the best training return so far (the first command before any)."""
    return state.cfg.command.first if state.best_return is None else state.best_return


def evaluated_policy(state: TrainState) -> tuple[Callable, str]:
    """G(c) for the command evaluations ask for now (``eval_command``), without noise, as ``--eval.video`` draws it:
    (``envs.play`` controller of one episode, label)."""
    command = eval_command(state)
    with torch.no_grad():
        theta = learner.generate_evaluated(state.learner, [state.slot],
                                           torch.tensor([[command]], device=state.device))
    act = envs.policy.controller(theta.reshape(1, -1).float().cpu().numpy(), state.obs_stats.mean[None],
                                 state.obs_stats.std[None], state.env.spec)
    return act, f"G({command:.0f})"


def evaluate(state: TrainState) -> dict[str, float]:
    """G(best return so far), no noise, ``cfg.eval.episodes`` episodes; env steps not counted. With
    ``--generator.average-decay``, G is the moving average of the generator, and ``eval/live_return`` is the
    generator's own on the same starts."""
    return evaluate_batch([state])[0]


def evaluate_batch(states: list[TrainState]) -> list[dict[str, float]]:
    """``evaluate`` for each of ``states`` (sharing a learner), their episodes simulated in one grouped rollout."""
    values = [eval_command(s) for s in states]
    commands = torch.tensor(values, device=states[0].device)[:, None]
    shared, slots = states[0].learner, [s.slot for s in states]
    keys, episodes = [eval_key(s.cfg, s.evaluations) for s in states], states[0].cfg.eval.episodes
    averaged = shared.generator_average is not None
    results = _simulate(states, learner.generate_evaluated(shared, slots, commands), keys, episodes)
    live = _simulate(states, learner.generate(shared, slots, commands), keys, episodes) if averaged else None
    metrics = []
    for i, (s, result) in enumerate(zip(states, results)):
        s.evaluations += 1
        metrics.append({"eval/command": values[i], **eval_metrics(result, s.cfg, s.spec)})
        if averaged:
            metrics[-1]["eval/live_return"] = eval_metrics(live[i], s.cfg, s.spec)["eval/return"]
    return metrics
