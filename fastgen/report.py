"""Where metrics go: ``metrics.jsonl``, TensorBoard scalars, and the progress bar. Nothing else
in fastgen touches TensorBoard."""

import json
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm


class Reporter:
    """One run's metrics; ``progress=False`` leaves the progress bar to the caller (``SeedsBar``)."""

    def __init__(self, run_dir: Path, total_steps: int, start_steps: int, config_text: str, resumed: bool,
                 progress: bool = True):
        self.run_dir = Path(run_dir)
        self.writer = SummaryWriter(str(self.run_dir))
        if not resumed:
            self.writer.add_text("config", f"```\n{config_text}\n```", 0)
        self.bar = tqdm(total=total_steps, initial=min(start_steps, total_steps), unit="step", dynamic_ncols=True,
                        desc=self.run_dir.name, disable=not progress)
        self.latest_eval = None

    def iteration(self, env_steps: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, env_steps)
        self.bar.update(max(0, min(env_steps, self.bar.total) - self.bar.n))
        shown = {"sps": f"{metrics['perf/sps']:,.0f}", "best": f"{metrics['train/best_return']:.1f}"}
        if self.latest_eval is not None:
            shown["eval"] = f"{self.latest_eval:.1f}"
        self.bar.set_postfix(shown, refresh=False)

    def evaluation(self, row: dict) -> None:
        """One line of ``metrics.jsonl`` (and its scalars) per evaluation."""
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        for name, value in row.items():
            if name.startswith("eval/"):
                self.writer.add_scalar(name, value, row["env_steps"])
        self.latest_eval = row["eval/return"]
        self.writer.flush()

    def close(self) -> None:
        self.bar.close()
        self.writer.close()


class SeedsBar:
    """One progress bar for K seeds trained together: env steps of all seeds, their summed env-steps/s,
    the median of their best training returns and of their latest evaluations."""

    def __init__(self, name: str, reporters: list[Reporter], budgets: list[int], start_steps: list[int]):
        self.reporters = reporters
        self.bar = tqdm(total=sum(budgets), initial=sum(min(s, b) for s, b in zip(start_steps, budgets)),
                        unit="step", dynamic_ncols=True, desc=name)
        self.budgets = budgets

    def update(self, env_steps: list[int], sps: float, best_returns: list[float]) -> None:
        done = sum(min(s, b) for s, b in zip(env_steps, self.budgets))
        self.bar.update(max(0, done - self.bar.n))
        shown = {"sps": f"{sps:,.0f}", "best": f"{_median(best_returns):.1f}"}
        evals = [r.latest_eval for r in self.reporters if r.latest_eval is not None]
        if evals:
            shown["eval"] = f"{_median(evals):.1f}"
        self.bar.set_postfix(shown, refresh=False)

    def close(self) -> None:
        self.bar.close()


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
