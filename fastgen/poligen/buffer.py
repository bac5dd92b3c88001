"""Replay buffer of (theta, return) pairs with recency-weighted sampling (paper section 5.1).

Tensors on the training device: ``params [rows, D]``, ``returns [rows]``, the insertion stamp of
each slot and the stamp of the first entry of its block (the entries of one ``add``: one iteration's
P episodes). ``rows`` grows by doubling up to ``capacity`` as entries arrive (a full hopper buffer is
10k x 69,635 floats, 2.8 GB: K seeds in one process must not each hold that from the start).
Sampling weight ``1 / x^power`` with ``x`` the number of episodes since the entry was stored
(newest: x = 1), with replacement (the authors' code); ``power=None`` samples uniformly (the
Fig. 4 ablation). The entries of one block share one weight, the mean of ``1 / x^power`` over the
block's ages: the P episodes of an iteration are equally recent, so each is drawn as often as the
others (stamping them 1 ... P apart would make the one written last ~20x more exposed than the
first at P = 64), and the block as a whole keeps the weight P separate episodes would have. With
P = 1 a block is one entry and its weight is exactly ``1 / x^power``.
"""

import torch

INITIAL_ROWS = 64


class ReplayBuffer:
    def __init__(self, capacity: int, dim: int, device: torch.device | str = "cpu", recency_power: float | None = 1.1):
        if capacity <= 0:
            raise ValueError(f"buffer capacity must be positive, got {capacity}")
        self.capacity, self.recency_power = capacity, recency_power
        rows = min(capacity, INITIAL_ROWS)
        self.params = torch.zeros(rows, dim, device=device)
        self.returns = torch.zeros(rows, device=device)
        self.stamps = torch.zeros(rows, dtype=torch.long, device=device)
        self.blocks = torch.zeros(rows, dtype=torch.long, device=device)  # first stamp of each slot's block
        self.stored = 0  # entries ever added; the newest entry has stamp == stored
        self._weights = None  # cached sampling weights, valid until the next add or restore

    def _reserve(self, rows: int) -> None:
        """Make room for slots ``0 .. rows - 1`` (doubling, at most ``capacity``); entries keep their slots."""
        have = self.params.shape[0]
        if rows <= have:
            return
        new = min(self.capacity, max(rows, 2 * have))
        for name in ("params", "returns", "stamps", "blocks"):
            old = getattr(self, name)
            grown = torch.zeros((new, *old.shape[1:]), dtype=old.dtype, device=old.device)
            grown[:have] = old
            setattr(self, name, grown)

    def __len__(self) -> int:
        return min(self.stored, self.capacity)

    def add(self, params: torch.Tensor, returns: torch.Tensor) -> None:
        """Store one block: ``params [P, D]`` with ``returns [P]``, overwriting the oldest entries when full."""
        count = params.shape[0]
        self._reserve(min(self.stored + count, self.capacity))
        slots = (self.stored + torch.arange(count, device=self.params.device)) % self.capacity
        self.params[slots] = params.detach().to(self.params.dtype)
        self.returns[slots] = returns.detach().to(self.returns.dtype)
        self.stamps[slots] = self.stored + 1 + torch.arange(count, device=self.params.device)
        self.blocks[slots] = self.stored + 1
        self.stored += count
        self._weights = None

    def weights(self) -> torch.Tensor:
        """Sampling weights of the filled slots ``[len]`` (unnormalised): ``1 / x^power`` averaged over each block."""
        if self._weights is None:
            filled = len(self)
            if self.recency_power is None:
                self._weights = torch.ones(filled, device=self.params.device)
            else:
                age = (self.stored + 1 - self.stamps[:filled]).to(torch.float64)
                self._weights = _block_means(age.pow(-self.recency_power), self.blocks[:filled])
        return self._weights

    def sample(self, rng: torch.Generator, batch: int, out: tuple[torch.Tensor, torch.Tensor] | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch`` entries drawn with replacement -> ``(params [batch, D], returns [batch])``, gathered into
        ``out`` when given (e.g. one seed's rows of a batch of seeds: no second copy)."""
        index = self.sample_index(rng, batch)
        params_out, returns_out = out or (None, None)
        return (torch.index_select(self.params, 0, index, out=params_out),
                torch.index_select(self.returns, 0, index, out=returns_out))

    def sample_returns(self, rng: torch.Generator, batch: int) -> torch.Tensor:
        """The returns ``[batch]`` of the entries ``sample`` would draw (the same draw), without gathering params."""
        return self.returns[self.sample_index(rng, batch)]

    def sample_index(self, rng: torch.Generator, batch: int) -> torch.Tensor:
        """Slots of ``batch`` entries drawn with replacement by their weights ``[batch]``."""
        if len(self) == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        return torch.multinomial(self.weights(), batch, replacement=True, generator=rng)

    def entries(self, first_stamp: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Entries with stamps ``first_stamp .. stored`` (still held) -> ``(params, returns)`` in stamp order."""
        first_stamp = max(first_stamp, self.stored - len(self) + 1)
        slots = (torch.arange(first_stamp, self.stored + 1, device=self.params.device) - 1) % self.capacity
        return self.params[slots], self.returns[slots]

    def block_starts(self, first_stamp: int) -> torch.Tensor:
        """The block of each entry ``entries(first_stamp)`` returns, as its block's first stamp ``[n]``."""
        first_stamp = max(first_stamp, self.stored - len(self) + 1)
        slots = (torch.arange(first_stamp, self.stored + 1, device=self.params.device) - 1) % self.capacity
        return self.blocks[slots]

    def restore(self, params: torch.Tensor, returns: torch.Tensor, stored: int,
                blocks: torch.Tensor | None = None) -> None:
        """Refill from the newest entries in stamp order (``[n, D]``, ``[n]``, their ``block_starts [n]``; None:
        one block per entry, as buffers saved before blocks existed) of a buffer that had stored ``stored``."""
        count = params.shape[0]
        if count > self.capacity or params.shape[1:] != self.params.shape[1:]:
            raise ValueError(f"{count} entries of shape {tuple(params.shape[1:])} do not fit a buffer of "
                             f"capacity {self.capacity} and dim {self.params.shape[1]}")
        stamps = torch.arange(stored - count + 1, stored + 1, device=self.params.device)
        self._reserve(min(stored, self.capacity))
        slots = (stamps - 1) % self.capacity
        self.params[slots] = params.to(self.params.device)
        self.returns[slots] = returns.to(self.params.device)
        self.stamps[slots] = stamps
        self.blocks[slots] = stamps if blocks is None else blocks.to(self.params.device)
        self.stored = stored
        self._weights = None


def _block_means(values: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
    """Each entry's value replaced by the mean over the entries sharing its block id: ``[n] -> [n]``
    (a block of one keeps its value bit for bit)."""
    ids, index, sizes = torch.unique(blocks, return_inverse=True, return_counts=True)
    sums = torch.zeros(ids.shape[0], dtype=values.dtype, device=values.device).index_add_(0, index, values)
    return (sums / sizes)[index]
