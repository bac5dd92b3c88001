"""What a task looks like from outside: sizes, bounds, horizon and return range."""

from dataclasses import dataclass


@dataclass(frozen=True)
class EnvSpec:
    """Static description of a task, shared by both engines.

    Attributes:
        name: registry name, e.g. ``"hopper"``.
        gymnasium_id: the Gymnasium environment whose semantics the task reproduces.
        obs_dim: length of one observation.
        act_dim: length of one action.
        action_bound: actions live in ``[-action_bound, action_bound]`` (symmetric on all tasks).
        horizon: episodes are truncated after this many steps.
        return_range: ``(min, max)`` return used to scale generator commands (docs/paper.md).
        survival_bonus: per-step bonus inside the env's reward that ``reward_no_bonus`` leaves out
            (1.0 for hopper, 0.0 elsewhere).
        budget: the paper's env-step budget for one training run.
        eval_every: evaluation period in env steps (paper, appendix B.2).
    """

    name: str
    gymnasium_id: str
    obs_dim: int
    act_dim: int
    action_bound: float
    horizon: int
    return_range: tuple[float, float]
    survival_bonus: float
    budget: int
    eval_every: int

    @property
    def has_survival_bonus(self) -> bool:
        return self.survival_bonus != 0.0
