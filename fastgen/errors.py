"""Errors every algorithm raises alike."""


class TrainingError(RuntimeError):
    """Training produced something unusable (NaN returns or losses): stop without writing."""


class RunDirError(RuntimeError):
    """A run directory's file could not be written or read (disk full, a truncated copy): one line naming it."""


def require_at_least(checks) -> None:
    """``checks``: ``(flag, value, least)`` triples; a one-line ValueError for the first value below its least."""
    for flag, value, least in checks:
        if value < least:
            raise ValueError(f"{flag} must be >= {least}, got {value}")


def require_positive(checks) -> None:
    """``checks``: ``(flag, value)`` pairs; a one-line ValueError for the first value not > 0."""
    for flag, value in checks:
        if not value > 0:
            raise ValueError(f"{flag} must be > 0, got {value}")
