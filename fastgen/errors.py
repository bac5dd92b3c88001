"""Errors every algorithm raises alike."""


class TrainingError(RuntimeError):
    """Training produced something unusable (NaN returns or losses): stop without writing."""
