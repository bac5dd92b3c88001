"""Stopping a run by signal without losing it: SIGINT (Ctrl-C) and SIGTERM (what a cluster scheduler sends
before it kills a job) ask the training loop to stop.

The first signal lets the current iteration finish, then the loop checkpoints and the process exits with
128 + the signal's number (130 for SIGINT, 143 for SIGTERM). The iteration is finished rather than cut
short because a checkpoint taken between an iteration's episodes and its updates would resume a run whose
update schedule differs from an uninterrupted one; an iteration of the paper's schedule takes seconds on a
CPU (minutes only for large populations on hopper). A second signal stops at once (KeyboardInterrupt):
the last checkpoint, written atomically at the last evaluation or stop, is what a resume continues from.
"""

import signal
import sys

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """While entered, SIGINT and SIGTERM set ``requested`` (the first) or raise KeyboardInterrupt (a second)."""

    def __init__(self):
        self.received: int | None = None
        self._previous = {}

    def __enter__(self) -> "StopSignals":
        self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def _handle(self, signum, frame) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signum
        print(f"fastgen.run: {signal.Signals(signum).name}: finishing this iteration, then a checkpoint; "
              "send it again to stop at once", file=sys.stderr, flush=True)

    def requested(self) -> bool:
        return self.received is not None

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + (self.received or signal.SIGINT)


def never() -> bool:
    """The stop test of a run nobody can signal (a benchmark's, a test's)."""
    return False
