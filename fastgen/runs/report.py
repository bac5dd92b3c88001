"""Where metrics go: ``metrics.jsonl``, TensorBoard scalars, and the progress bar. Nothing else
in fastgen touches TensorBoard."""

import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from fastgen import extras


class Reporter:
    """One run's metrics; ``progress=False`` leaves the progress bar to the caller (``SeedsBar``)."""

    def __init__(self, run_dir: Path, total_steps: int, start_steps: int, config_text: str, resumed: bool,
                 progress: bool = True):
        self.run_dir = Path(run_dir)
        self.writer = _event_writer(self.run_dir)
        if not resumed:
            self.writer.add_text("config", f"```\n{config_text}\n```", 0)
        self.bar = tqdm(total=total_steps, initial=min(start_steps, total_steps), unit="step", dynamic_ncols=True,
                        desc=self.run_dir.name, disable=not progress)
        self.latest_eval = None
        self.updates = UpdatePhase()

    def iteration(self, env_steps: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, env_steps)
        self.bar.update(max(0, min(env_steps, self.bar.total) - self.bar.n))
        shown = {"sps": f"{metrics['perf/sps']:,.0f}", "best": f"{metrics['train/best_return']:.1f}",
                 **_split(metrics)}
        if self.latest_eval is not None:
            shown["eval"] = f"{self.latest_eval:.1f}"
        self.bar.set_postfix(shown, refresh=False)
        self.updates.reset(shown)

    def updating(self, done: int, due: int) -> None:
        """During an iteration's update phase: updates done of due, and their rate (redrawn twice a second)."""
        self.updates.show(self.bar, done, due)

    def evaluation(self, row: dict) -> None:
        """One line of ``metrics.jsonl`` (and its scalars) per evaluation."""
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        for name, value in row.items():
            if name.startswith("eval/"):
                self.writer.add_scalar(name, value, row["env_steps"])
        self.latest_eval = row["eval/return"]
        self.writer.flush()

    def video(self, tag: str, gif: bytes, height: int, width: int, env_steps: int) -> None:
        """An animated GIF in TensorBoard's images (as ``SummaryWriter.add_video`` stores one, without moviepy)."""
        if isinstance(self.writer, _NoEvents):
            return
        from tensorboard.compat.proto.summary_pb2 import Summary

        image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=gif)
        self.writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), env_steps)
        self.writer.flush()

    def close(self) -> None:
        self.bar.close()
        self.writer.close()


class _NoEvents:
    """Stands in for TensorBoard's writer where TensorBoard is not installed."""

    def add_text(self, *args) -> None:
        pass

    def add_scalar(self, *args) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


_told_no_events = False


def _event_writer(run_dir: Path):
    """TensorBoard's SummaryWriter on ``run_dir``; without the [tensorboard] extra, a writer that writes nothing
    and one line on stderr (once per process) saying how to get the event files."""
    global _told_no_events
    try:
        extras.require("tensorboard", "TensorBoard event files")
    except extras.MissingExtra as missing:
        if not _told_no_events:
            print(f"fastgen: note: no TensorBoard events in run directories: {missing}", file=sys.stderr)
            _told_no_events = True
        return _NoEvents()
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(run_dir))


class SeedsBar:
    """One progress bar for K seeds trained together: env steps of all seeds, their summed env-steps/s,
    the median of their best training returns and of their latest evaluations."""

    def __init__(self, name: str, reporters: list[Reporter], budgets: list[int], start_steps: list[int]):
        self.reporters = reporters
        self.bar = tqdm(total=sum(budgets), initial=sum(min(s, b) for s, b in zip(start_steps, budgets)),
                        unit="step", dynamic_ncols=True, desc=name)
        self.budgets = budgets
        self.updates = UpdatePhase()

    def update(self, env_steps: list[int], sps: float, best_returns: list[float], metrics: dict[str, float]) -> None:
        """After an iteration: every seed's env steps, their summed env-steps/s, best returns, one seed's metrics."""
        done = sum(min(s, b) for s, b in zip(env_steps, self.budgets))
        self.bar.update(max(0, done - self.bar.n))
        shown = {"sps": f"{sps:,.0f}", "best": f"{_median(best_returns):.1f}", **_split(metrics)}
        evals = [r.latest_eval for r in self.reporters if r.latest_eval is not None]
        if evals:
            shown["eval"] = f"{_median(evals):.1f}"
        self.bar.set_postfix(shown, refresh=False)
        self.updates.reset(shown)

    def updating(self, done: int, due: int) -> None:
        self.updates.show(self.bar, done, due)

    def close(self) -> None:
        self.bar.close()


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


class UpdatePhase:
    """Progress within an iteration's update phase, shown on a bar: ``updating=340/1600 45.0/s``."""

    REDRAW_S = 0.5

    def __init__(self):
        self.reset({})

    def reset(self, shown: dict[str, str]) -> None:
        """A new iteration begins; ``shown``: the postfix the bar shows now."""
        self.shown, self.start, self.first, self.last_drawn = dict(shown), None, 0, None

    def show(self, bar: tqdm, done: int, due: int) -> None:
        now = time.perf_counter()
        if self.start is None:
            self.start = self.last_drawn = now
            self.first = done
        if now - self.last_drawn < self.REDRAW_S and done < due:
            return
        self.last_drawn = now
        rate = (done - self.first) / (now - self.start) if now > self.start else 0.0
        bar.set_postfix({**self.shown, "updating": f"{done}/{due} {rate:.1f}/s"}, refresh=True)


def _split(metrics: dict[str, float]) -> dict[str, str]:
    """The iteration's time split: ``roll 4% upd 96%``."""
    rollout, update = metrics.get("perf/rollout_s", 0.0), metrics.get("perf/update_s", 0.0)
    total = rollout + update
    if total <= 0:
        return {}
    return {"roll": f"{100 * rollout / total:.0f}%", "upd": f"{100 * update / total:.0f}%"}
