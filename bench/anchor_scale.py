"""How the anchor steps (``--generator.anchor-lr``) compare with the generator's own: ``python -m bench.anchor_scale``

Two measurements, each a table in ``bench/results/analysis/<name>.{json,md}``:

- ``runs`` (finished PoliGen runs, their last checkpoint): the gradient of the generator's loss through V (MSE of
  V(G(c)) on c, 16 commands drawn uniformly from the buffer's returns) against the gradient of the anchor loss
  (``learner.anchor_step``'s: MSE between the actions of G(r) and of theta on the anchor states, the buffer's
  ``--anchors`` highest-return entries), their norms, ratio and cosine over ``--trials`` draws; and what V predicts
  for those entries against what they earned.
- ``fit`` (a fresh generator of ``--task``): an anchor ``--offset`` x N(0, 1) per weight away from G(``--command``),
  ``--steps`` anchor steps (one iteration's generator updates at P = 64 on hopper's candidate) at each of ``--lrs``;
  the share of the action gap (mean squared, on the anchor states) that G(command) has closed, and how far G's
  actions moved at other commands (RMS, on the same states).
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import tyro

from bench.common import RESULTS, machine, table, write_json
from fastgen import policy, trained
from fastgen.config import Config
from fastgen.poligen import learner, settings, trainer
from fastgen.poligen.settings import GeneratorConfig


@dataclass
class Options:
    runs: tuple[str, ...] = ()
    """Finished PoliGen run directories for the gradient comparison (none: only the fit)."""
    task: str = "hopper"
    """Task of the fresh generator for the fit."""
    lrs: tuple[float, ...] = (2e-6, 2e-5, 1e-4)
    """Anchor learning rates of the fit."""
    steps: int = 320
    """Anchor steps per learning rate (hopper's P = 64 candidate: 320 generator updates per iteration)."""
    command: float = 1500.0
    """The anchor's return."""
    others: tuple[float, ...] = (1520.0, 800.0, 100.0)
    """Commands at which the fit reports how far G moved."""
    offset: float = 0.1
    """The anchor's distance from G(command): this x N(0, 1) per weight (the paper's exploration noise)."""
    anchors: int = 4
    """Highest-return buffer entries used as anchors in the gradient comparison."""
    trials: int = 3
    """Command batches per run in the gradient comparison."""
    name: str = "anchor_scale"
    """Output name under --out."""
    out: Path = RESULTS / "analysis"


def gradients(run_dir: str, opts: Options, rng: torch.Generator) -> list[dict]:
    """One row per trial: |grad L_V|, |grad L_A|, their ratio and cosine, and V on the anchors."""
    run = trained.load(run_dir)
    params, returns = map(torch.cat, zip(*((torch.as_tensor(p), torch.as_tensor(r))
                                           for p, r in trained.buffer_chunks(run_dir))))
    generator, evaluator = run.generator, run.evaluator
    states = learner.make_anchor_states(run.spec.obs_dim)
    top = torch.topk(returns, min(opts.anchors, len(returns))).indices

    def gradient(loss: torch.Tensor) -> torch.Tensor:
        generator.zero_grad()
        loss.backward()
        return torch.cat([p.grad.reshape(-1) for p in generator.parameters()]).clone()

    with torch.no_grad():
        predicted = evaluator(params[top])
    rows = []
    for trial in range(opts.trials):
        commands = returns[torch.randint(len(returns), (16,), generator=rng)]
        through_v = gradient(torch.nn.functional.mse_loss(
            evaluator.predict(dict(evaluator.named_parameters()),
                              generator.policy_layers(dict(generator.named_parameters()), commands)), commands))
        made = policy.apply(generator.policy_layers(dict(generator.named_parameters()), returns[top]), states, run.spec)
        anchor = gradient((made - policy.forward(params[top], states, run.spec)).pow(2).mean())
        rows.append({"run": Path(run_dir).name, "env_steps": run.env_steps, "trial": trial,
                     "grad_v": float(through_v.norm()), "grad_anchor": float(anchor.norm()),
                     "ratio": float(through_v.norm() / anchor.norm()),
                     "cosine": float(torch.nn.functional.cosine_similarity(through_v, anchor, 0)),
                     "anchor_returns": returns[top].tolist(), "v_on_anchors": predicted.tolist()})
    return rows


def fit(opts: Options, lr: float) -> dict:
    """``opts.steps`` anchor steps of a fresh generator towards one anchor at ``lr``."""
    cfg = Config(env=opts.task, num_envs=64, engine="cpu", device="cpu", seed=0,
                 generator=GeneratorConfig(anchor_lr=lr, command_input="symlog"))
    state = trainer.init(cfg)
    shared = state.learner

    def generated(command: float) -> torch.Tensor:
        return learner.generate(shared, [0], torch.tensor([[command]]))[0, 0]

    def actions(theta: torch.Tensor) -> torch.Tensor:
        return policy.forward(theta[None], shared.anchor_states, state.spec)[0]

    before = {c: generated(c) for c in (opts.command, *opts.others)}
    target = before[opts.command] + opts.offset * torch.randn(before[opts.command].shape,
                                                              generator=torch.Generator().manual_seed(0))
    state.anchors.add(target, opts.command)
    returns, theta, mask = (part[None] for part in state.anchors.padded())
    for _ in range(opts.steps):
        learner.anchor_step(shared, [0], returns, theta, mask)
    gap = (actions(before[opts.command]) - actions(target)).pow(2).mean()
    left = float((actions(generated(opts.command)) - actions(target)).pow(2).mean() / gap)
    return {"lr": lr, "steps": opts.steps, "action_gap": float(gap), "gap_closed": 1.0 - left,
            **{f"actions moved at {c:g}": float((actions(generated(c)) - actions(before[c])).pow(2).mean().sqrt())
               for c in before}}


def main(argv: list[str] | None = None) -> dict:
    opts = tyro.cli(Options, args=argv)
    if opts.steps < 1 or not opts.lrs or min(opts.lrs) <= 0:
        raise ValueError(f"--steps must be >= 1 and --lrs one or more rates > 0, got {opts.steps} and {opts.lrs}")
    torch.manual_seed(0)
    rng = torch.Generator().manual_seed(0)
    grad_rows = [row for run in opts.runs for row in gradients(run, opts, rng)]
    fit_rows = [fit(opts, lr) for lr in opts.lrs]
    if grad_rows:
        print(table(grad_rows, ["run", "env_steps", "trial", "grad_v", "grad_anchor", "ratio", "cosine"]))
    print(table(fit_rows, list(fit_rows[0])))
    result = {"benchmark": "anchor_scale", "machine": machine(), "settings": {**vars(opts), "out": str(opts.out)},
              "anchors_kept": settings.ANCHORS, "gradients": grad_rows, "fit": fit_rows}
    write_json(f"{opts.name}.json", result, opts.out)
    lines = [f"Anchor steps against the generator's own (`python -m bench.anchor_scale`); machine: "
             f"{result['machine'].get('cpu', '')}.", ""]
    if grad_rows:
        lines += ["Gradients at the runs' last checkpoints: through V (16 buffer returns as commands) and of the "
                  f"anchor loss (actions on the anchor states) towards the {opts.anchors} highest-return entries.", "",
                  "| run | env steps | trial | norm through V | norm of the anchor loss | ratio | cosine | anchors' returns "
                  "| V on them |", "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['run']} | {r['env_steps']} | {r['trial']} | {r['grad_v']:.3g} | {r['grad_anchor']:.3g} | "
                  f"{r['ratio']:.3g} | {r['cosine']:.3f} | {', '.join(f'{v:.0f}' for v in r['anchor_returns'])} | "
                  f"{', '.join(f'{v:.0f}' for v in r['v_on_anchors'])} |" for r in grad_rows]
        lines.append("")
    lines += [f"A fresh {opts.task} generator, an anchor {opts.offset} x N(0, 1) per weight from G({opts.command:g}), "
              f"{opts.steps} anchor steps: the mean squared action gap on the anchor states, the share of it closed, "
              "and how far G's actions moved (RMS) at each command.", "",
              "| " + " | ".join(fit_rows[0]) + " |", "|" + "---|" * len(fit_rows[0])]
    lines += ["| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in r.values()) + " |"
              for r in fit_rows]
    (opts.out / f"{opts.name}.md").write_text("\n".join(lines) + "\n")
    return result


if __name__ == "__main__":
    main()
