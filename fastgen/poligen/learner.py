"""The PoliGen learner: the generators and evaluators of K runs (seeds), their Adam optimisers, and
the two update steps of paper Algorithm 1. A single-seed run is a batch of K = 1: there is no
other implementation of an update.

- Each network's parameters are one tensor per network, ``flat [K, N]`` (``WeightStack``); a seed's
  parameters are views of its row, named as in the module (``named_parameters``), and the modules'
  functional forwards (``Generator.policy_layers``, ``Evaluator.predict``) run on those views.
- ``StackedAdam`` is torch's (fused) Adam on ``[K, N]``: one kernel per step, seed k's update reading and
  writing only row k, each seed counting its own steps.
- ``evaluator_step``: MSE of V(theta) on the returns; ``generator_step``: MSE of V(G(c)) on c with V
  frozen; ``anchor_step`` (``--generator.anchor-lr``): MSE of G(r_a)'s actions on the anchors' (theta_a's), on
  fixed states, with its own Adam; ``slope_step`` (``--generator.slope-lr``): G up the return's slope its
  population measured, with its own Adam. Each seed's loss is differentiated for its own weights only, the seeds mapped by
  ``torch.func.vmap`` on a GPU or one after another on the CPU (``map_seeds``).
- Generated policies go from the generator to the evaluator in their shapes, never flattened.

Rows of seeds that are not in an update's ``seeds`` stay exactly as they are (bit for bit).
"""

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import vmap

from fastgen import policy
from fastgen.poligen.evaluator import Evaluator
from fastgen.poligen.generator import Generator

# How seeds' losses are mapped: "vmap" (one batched computation: the GPU path), "loop" (one seed after
# another on views of the stacked weights: the CPU path, where a single seed's products already fill
# the cores and vmap's batched kernels were measured slower), or "auto": vmap on CUDA, loop elsewhere.
MAP_SEEDS = "auto"
# The states on which anchor steps compare a generated policy's actions with its anchor's: N(0, 1) in normalised-
# observation space (where the policies act), the same fixed draw for every seed and run.
ANCHOR_STATES = 256


class WeightStack:
    """The parameters of K copies of one module in one tensor ``flat [K, N]``, in ``named_parameters`` order."""

    def __init__(self, modules: list[nn.Module]):
        named = list(modules[0].named_parameters())
        self.names = [n for n, _ in named]
        self.shapes = [tuple(p.shape) for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        self.flat = torch.stack([torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in modules])

    @property
    def K(self) -> int:
        return self.flat.shape[0]

    def views(self, row: torch.Tensor, grad: bool) -> dict[str, torch.Tensor]:
        """``row [..., N]`` -> ``{name: [..., *shape]}`` views; with ``grad``, each a leaf that requires grad."""
        lead = row.shape[:-1]
        views = {}
        for name, piece, shape in zip(self.names, row.split(self.sizes, dim=-1), self.shapes):
            view = piece.view(*lead, *shape)
            views[name] = view.requires_grad_(True) if grad else view
        return views

    def seed(self, k: int, grad: bool = False) -> dict[str, torch.Tensor]:
        """Seed ``k``'s parameters as views of its row."""
        return self.views(self.flat[k].detach(), grad)

    def stacked(self, seeds: torch.Tensor, grad: bool = False) -> dict[str, torch.Tensor]:
        """The parameters of ``seeds`` as ``{name: [len(seeds), *shape]}`` (views when ``seeds`` are all K)."""
        rows = self.flat if seeds.numel() == self.K else self.flat[seeds]
        return self.views(rows.detach(), grad)

    def state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Seed ``k``'s parameters as a module ``state_dict`` (copies)."""
        return {n: t.clone() for n, t in self.seed(k).items()}

    def load_state_dict(self, k: int, saved: dict[str, torch.Tensor]) -> None:
        for name, view in self.seed(k).items():
            view.copy_(saved[name])


class StackedAdam:
    """K independent Adam optimisers (torch's formula) over ``params [K, N]``, updated in place.

    ``step(grad, seeds)`` updates the rows ``seeds`` only; every other row and its moments stay exactly
    as they are. ``steps [K]`` counts each seed's updates (bias correction). A step is torch's fused Adam
    kernel over the seeds' rows (one pass over the weights, moments and gradients; on CUDA one launch,
    its step counts on the device, so an update can be captured as a CUDA graph): a hopper generator's
    Adam step took 0.41 ms against 1.84 ms as separate whole-tensor operations (Intel Xeon, one thread).
    """

    def __init__(self, params: torch.Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.exp_avg = torch.zeros_like(params)
        self.exp_avg_sq = torch.zeros_like(params)
        self.steps = torch.zeros(params.shape[0], dtype=torch.float32, device=params.device)  # as torch's fused Adam

    @torch.no_grad()
    def step(self, grad: torch.Tensor, seeds: list[int]) -> None:
        """``grad [len(seeds), N]`` for the rows ``seeds`` (indices into K)."""
        steps = [self.steps[k] for k in seeds]
        torch._foreach_add_(steps, 1)
        torch._fused_adam_([self.params[k] for k in seeds], list(grad.unbind(0)), [self.exp_avg[k] for k in seeds],
                           [self.exp_avg_sq[k] for k in seeds], [], steps, lr=self.lr, beta1=self.betas[0],
                           beta2=self.betas[1], weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)

    def state_dict(self, k: int, module: nn.Module, stack: WeightStack) -> dict:
        """Seed ``k``'s moments as the state dict of a plain ``torch.optim.Adam`` over ``module``'s parameters."""
        saved = torch.optim.Adam(module.parameters(), lr=self.lr, betas=self.betas, eps=self.eps).state_dict()
        if self.steps[k] > 0:
            moments = [stack.views(t[k], False) for t in (self.exp_avg, self.exp_avg_sq)]
            saved["state"] = {i: {"step": torch.tensor(float(self.steps[k])), "exp_avg": moments[0][n].clone(),
                                  "exp_avg_sq": moments[1][n].clone()} for i, n in enumerate(stack.names)}
        return saved

    def load_state_dict(self, k: int, saved: dict, stack: WeightStack) -> None:
        """Seed ``k``'s moments from a ``torch.optim.Adam`` state dict (a single-seed checkpoint)."""
        state = saved["state"]
        self.exp_avg[k] = 0
        self.exp_avg_sq[k] = 0
        self.steps[k] = float(state[0]["step"]) if state else 0.0
        for target, key in ((self.exp_avg, "exp_avg"), (self.exp_avg_sq, "exp_avg_sq")):
            views = stack.views(target[k], False)
            for i, name in enumerate(stack.names):
                if i in state:
                    views[name].copy_(state[i][key])


@dataclass
class Learner:
    generator: Generator  # the networks' structure (functional forwards, names); its own parameters are scratch
    evaluator: Evaluator
    generator_weights: WeightStack
    evaluator_weights: WeightStack
    generator_opt: StackedAdam
    evaluator_opt: StackedAdam
    precision: torch.dtype = torch.float32  # of the update's matrix products (bfloat16: autocast)
    anchor_opt: StackedAdam | None = None  # the generator's anchor steps (--generator.anchor-lr), None without
    anchor_states: torch.Tensor | None = None  # [ANCHOR_STATES, obs_dim], with anchor_opt
    slope_opt: StackedAdam | None = None  # the generator's slope steps (--generator.slope-lr), None without
    generator_average: torch.Tensor | None = None  # [K, N] moving average of generator_weights.flat
    average_decay: float = 0.0  # --generator.average-decay (0: no average)
    _indices: dict = field(default_factory=dict)

    def state_dict(self, k: int) -> dict:
        """Seed ``k``'s networks and optimisers as single-run state dicts (what a checkpoint holds)."""
        return {"generator": self.generator_weights.state_dict(k), "evaluator": self.evaluator_weights.state_dict(k),
                "generator_opt": self.generator_opt.state_dict(k, self.generator, self.generator_weights),
                "evaluator_opt": self.evaluator_opt.state_dict(k, self.evaluator, self.evaluator_weights),
                **({"anchor_opt": self.anchor_opt.state_dict(k, self.generator, self.generator_weights)}
                   if self.anchor_opt is not None else {}),
                **({"slope_opt": self.slope_opt.state_dict(k, self.generator, self.generator_weights)}
                   if self.slope_opt is not None else {}),
                **({"generator_average": self.average_state_dict(k)} if self.generator_average is not None else {})}

    def average_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Seed ``k``'s averaged generator as a module ``state_dict`` (copies)."""
        return {n: t.clone() for n, t in self.generator_weights.views(self.generator_average[k], False).items()}

    def load_state_dict(self, k: int, saved: dict) -> None:
        """Seed ``k``'s row from ``state_dict``'s dicts (a checkpoint of a single run or of a batch's seed)."""
        self.generator_weights.load_state_dict(k, saved["generator"])
        self.evaluator_weights.load_state_dict(k, saved["evaluator"])
        self.generator_opt.load_state_dict(k, saved["generator_opt"], self.generator_weights)
        self.evaluator_opt.load_state_dict(k, saved["evaluator_opt"], self.evaluator_weights)
        if self.anchor_opt is not None and "anchor_opt" in saved:  # else a run resumed with anchors added
            self.anchor_opt.load_state_dict(k, saved["anchor_opt"], self.generator_weights)
        if self.slope_opt is not None and "slope_opt" in saved:  # else a run resumed with slope steps added
            self.slope_opt.load_state_dict(k, saved["slope_opt"], self.generator_weights)
        if self.generator_average is not None:  # a run resumed with the average added starts it from its weights
            saved_average = saved.get("generator_average", saved["generator"])
            for name, view in self.generator_weights.views(self.generator_average[k], False).items():
                view.copy_(saved_average[name])

    def index(self, seeds: list[int]) -> torch.Tensor:
        """``seeds`` as an index tensor on the learner's device, made once per seed list (no host-to-device
        copy per update: an update can then be captured as a CUDA graph)."""
        key = tuple(seeds)
        if key not in self._indices:
            self._indices[key] = torch.tensor(seeds, device=self.generator_weights.flat.device)
        return self._indices[key]

    def uses_vmap(self) -> bool:
        return MAP_SEEDS == "vmap" or (MAP_SEEDS == "auto" and self.generator_weights.flat.device.type == "cuda")


def create(generators: list[Generator], evaluators: list[Evaluator], generator_lr: float,
           evaluator_lr: float, precision: str = "float32", anchor_lr: float = 0.0, average_decay: float = 0.0,
           slope_lr: float = 0.0) -> Learner:
    """The learner of K seeds from their freshly initialised networks (``generators[k]`` is seed k's);
    ``precision``: float32 or bfloat16, of the updates' matrix products; ``anchor_lr`` > 0: with anchor steps;
    ``average_decay`` > 0: with a moving average of the generator's weights; ``slope_lr`` > 0: with slope steps."""
    generator_weights, evaluator_weights = WeightStack(generators), WeightStack(evaluators)
    anchor_opt = anchor_states = None
    if anchor_lr:
        anchor_opt = StackedAdam(generator_weights.flat, anchor_lr)
        anchor_states = make_anchor_states(generators[0].spec.obs_dim).to(generator_weights.flat.device)
    return Learner(generators[0], evaluators[0], generator_weights, evaluator_weights,
                   StackedAdam(generator_weights.flat, generator_lr), StackedAdam(evaluator_weights.flat, evaluator_lr),
                   getattr(torch, precision), anchor_opt, anchor_states,
                   StackedAdam(generator_weights.flat, slope_lr) if slope_lr else None,
                   generator_weights.flat.clone() if average_decay else None, average_decay)


@torch.no_grad()
def generate(learner: Learner, seeds: list[int], commands: torch.Tensor, average: bool = False) -> torch.Tensor:
    """G_k(c) for each of ``seeds``: ``commands [Ks, B]`` -> flat policies ``[Ks, B, D]``; ``average``: with the
    moving average of the generator's weights (``--generator.average-decay``)."""
    stack = learner.generator_weights
    weights = ((lambda k: stack.views(learner.generator_average[k], False)) if average else stack.seed)
    return torch.stack([policy.flatten(learner.generator.policy_layers(weights(k), c))
                        for k, c in zip(seeds, commands)])


def make_anchor_states(obs_dim: int) -> torch.Tensor:
    """The anchor steps' states ``[ANCHOR_STATES, obs_dim]``: one fixed N(0, 1) draw (normalised observations)."""
    return torch.randn(ANCHOR_STATES, obs_dim, generator=torch.Generator().manual_seed(0))


def generate_evaluated(learner: Learner, seeds: list[int], commands: torch.Tensor) -> torch.Tensor:
    """``generate`` with the generator evaluations use: the moving average where there is one, else G itself."""
    return generate(learner, seeds, commands, average=learner.generator_average is not None)


@torch.no_grad()
def update_average(learner: Learner, seeds: list[int]) -> None:
    """Move the rows ``seeds`` of the generator's moving average towards its weights (no-op without one)."""
    if learner.generator_average is None:
        return
    for k in seeds:
        learner.generator_average[k].lerp_(learner.generator_weights.flat[k], 1.0 - learner.average_decay)


def evaluator_step(learner: Learner, seeds: list[int], theta: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """One Adam step of each seed's V on its batch ``theta [Ks, B, D]``, ``returns [Ks, B]``; -> losses ``[Ks]``."""
    evaluator, spec = learner.evaluator, learner.evaluator.spec

    def loss(weights, theta, returns):
        return torch.nn.functional.mse_loss(evaluator.predict(weights, policy.unflatten(theta, spec)), returns)

    return _step(learner, learner.evaluator_weights, learner.evaluator_opt, loss, seeds, theta, returns)


def generator_step(learner: Learner, seeds: list[int], commands: torch.Tensor) -> torch.Tensor:
    """One Adam step of each seed's G on its commands ``[Ks, B]`` through its frozen V; -> losses ``[Ks]``."""
    generator, evaluator = learner.generator, learner.evaluator
    if learner.uses_vmap():
        frozen = learner.evaluator_weights.stacked(learner.index(seeds))
    else:
        frozen = [learner.evaluator_weights.seed(k) for k in seeds]

    def loss(weights, frozen, commands):
        return torch.nn.functional.mse_loss(evaluator.predict(frozen, generator.policy_layers(weights, commands)),
                                            commands)

    return _step(learner, learner.generator_weights, learner.generator_opt, loss, seeds, frozen, commands)


def anchor_step(learner: Learner, seeds: list[int], returns: torch.Tensor, theta: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
    """One step of each seed's anchor Adam on the MSE between the actions of G(r_a) and of theta_a on
    ``learner.anchor_states``, averaged over its anchors: ``returns [Ks, A]``, ``theta [Ks, A, D]``, ``mask [Ks, A]``
    (1 for a stored anchor, 0 for padding; every seed needs at least one); -> losses ``[Ks]``. In action space, not
    weight space: a hypernetwork learns a policy's behaviour far sooner than its every weight
    (docs/results/populations.md, "Anchored records")."""
    generator, spec, states = learner.generator, learner.generator.spec, learner.anchor_states

    def loss(weights, returns, theta, mask):
        made = policy.apply(generator.policy_layers(weights, returns), states, spec)  # [A, S, act_dim]
        with torch.no_grad():
            target = policy.forward(theta, states, spec)
        error = (made - target).pow(2).mean((1, 2))  # [A]
        return (error * mask).sum() / mask.sum()

    return _step(learner, learner.generator_weights, learner.anchor_opt, loss, seeds, returns, theta, mask)


def slope_step(learner: Learner, seeds: list[int], commands: torch.Tensor, noise: torch.Tensor,
               weights: torch.Tensor) -> torch.Tensor:
    """One step of each seed's slope Adam up the return's slope its population measured: the loss
    ``-mean_i w_i <eps_i, G(c_i)>``, whose gradient is the evolution-strategies estimate ``sum_i w_i eps_i`` passed
    back through G; ``commands [Ks, P]`` the policies' commands, ``noise [Ks, P, D]`` their exploration noise eps_i,
    ``weights [Ks, P]`` the w_i (``trainer.slope_weights``); -> losses ``[Ks]`` (a linear surrogate: only its gradient
    means anything)."""
    generator = learner.generator

    def loss(parameters, commands, noise, weights):
        made = policy.flatten(generator.policy_layers(parameters, commands))  # [P, D]
        return -(weights[:, None] * noise * made).sum(1).mean()

    return _step(learner, learner.generator_weights, learner.slope_opt, loss, seeds, commands, noise, weights)


def _step(learner: Learner, stack: WeightStack, optimizer: StackedAdam, loss, seeds: list[int], *data) -> torch.Tensor:
    """Seed i's ``loss(weights_i, *data_i)`` for every seed, its gradient for its own weights, one Adam step;
    -> the losses ``[Ks]``. ``data``: tensors with the seeds first, or lists with one entry per seed."""
    grad = torch.empty(len(seeds), stack.flat.shape[1], device=stack.flat.device, dtype=stack.flat.dtype)
    loss = _in_precision(loss, learner.precision, stack.flat.device)
    if learner.uses_vmap():
        weights = stack.stacked(learner.index(seeds), grad=True)
        losses = vmap(loss)(weights, *data)  # the sum's gradient in seed i's weights is seed i's own
        pieces = torch.autograd.grad(losses.sum(), list(weights.values()))
        torch.cat([g.reshape(len(seeds), -1) for g in pieces], dim=1, out=grad)
    else:
        values = []
        for i, k in enumerate(seeds):  # one seed at a time: a working set the size of a single run's
            weights = stack.seed(k, grad=True)
            value = loss(weights, *(d[i] for d in data))
            torch.cat([g.reshape(-1) for g in torch.autograd.grad(value, list(weights.values()))], out=grad[i])
            values.append(value.detach())
        losses = torch.stack(values)
    optimizer.step(grad, seeds)
    return losses.detach()


def _in_precision(loss, precision: torch.dtype, device: torch.device):
    """``loss`` with its matrix products in ``precision`` (autocast; float32: ``loss`` itself). The loss value
    is float32 either way, so the gradients of the float32 weights and Adam's arithmetic stay float32."""
    if precision == torch.float32:
        return loss

    def reduced(*args):
        with torch.autocast(device.type, dtype=precision):
            value = loss(*args)
        return value.float()

    return reduced
