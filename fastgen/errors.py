"""Errors every algorithm raises alike."""


class TrainingError(RuntimeError):
    """Training produced something unusable (NaN returns or losses): stop without writing."""


class RunDirError(RuntimeError):
    """A run directory's file could not be written or read (disk full, a truncated copy): one line naming it."""
