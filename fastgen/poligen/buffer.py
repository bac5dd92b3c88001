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

``ReturnArchive`` (``--buffer.archive-buckets``, off by default: the paper has none) keeps, beside the recent
entries, the newest few policies of every return bucket, so that policies of low returns stay in reach after the
recent entries have all moved to high ones; a share of every batch is then drawn from it. ``sample``'s
``top_share`` (``--evaluator.top-share``) draws a share of a batch from the buffer's highest returns instead.

``RecordAnchors`` (``--generator.anchor-lr``) keeps the policies that set a run's newest bests so far.
"""

import torch

INITIAL_ROWS = 64


class ReturnArchive:
    """The newest ``per_bucket`` entries of each of ``buckets`` equal-width return buckets over ``[low, high]``
    (returns outside go to the end buckets): ``params [buckets * per_bucket, D]``, ``returns [...]``, and how many
    entries each bucket has ever been offered (``offered [buckets]``). Bucket b's entries live in slots
    ``b * per_bucket ..``, its oldest overwritten first."""

    def __init__(self, buckets: int, per_bucket: int, dim: int, low: float, high: float,
                 device: torch.device | str = "cpu"):
        if buckets < 1 or per_bucket < 1 or not high > low:
            raise ValueError(f"an archive needs buckets >= 1, per_bucket >= 1 and high > low, got {buckets}, "
                             f"{per_bucket}, [{low}, {high}]")
        self.buckets, self.per_bucket, self.low, self.high = buckets, per_bucket, float(low), float(high)
        self.params = torch.zeros(buckets * per_bucket, dim, device=device)
        self.returns = torch.zeros(buckets * per_bucket, device=device)
        self.offered = torch.zeros(buckets, dtype=torch.long, device=device)

    def bucket(self, returns: torch.Tensor) -> torch.Tensor:
        """The bucket of each return ``[n]`` -> ``[n]`` long."""
        scaled = (returns.double() - self.low) / (self.high - self.low) * self.buckets
        return scaled.floor().clamp(0, self.buckets - 1).long()

    def add(self, params: torch.Tensor, returns: torch.Tensor) -> None:
        """Offer ``params [P, D]`` with ``returns [P]``, in order: each replaces its bucket's oldest when full."""
        for entry, bucket in enumerate(self.bucket(returns).tolist()):
            slot = bucket * self.per_bucket + int(self.offered[bucket]) % self.per_bucket
            self.params[slot] = params[entry].detach().to(self.params.dtype)
            self.returns[slot] = returns[entry].to(self.returns.dtype)
            self.offered[bucket] += 1

    def _counts(self) -> torch.Tensor:
        """Entries each bucket holds ``[buckets]``."""
        return self.offered.clamp(max=self.per_bucket)

    def __len__(self) -> int:
        return int(self._counts().sum())

    def held(self) -> torch.Tensor:
        """The filled slots, bucket by bucket ``[len]``."""
        counts = self._counts().tolist()
        return torch.tensor([b * self.per_bucket + i for b, n in enumerate(counts) for i in range(n)], dtype=torch.long,
                            device=self.params.device)

    def sample_index(self, rng: torch.Generator, count: int) -> torch.Tensor:
        """``count`` slots drawn with replacement: every non-empty bucket equally likely, then every entry in it."""
        held = self._counts()
        filled = torch.nonzero(held).squeeze(1)
        buckets = filled[torch.randint(len(filled), (count,), generator=rng, device=self.params.device)]
        within = (torch.rand(count, generator=rng, device=self.params.device) * held[buckets]).long()
        return buckets * self.per_bucket + within

    def state_dict(self) -> dict:
        """The filled slots only (an archive is written whole with every checkpoint)."""
        slots = self.held()
        return {"slots": slots.cpu(), "params": self.params[slots].cpu(), "returns": self.returns[slots].cpu(),
                "offered": self.offered.cpu(), "buckets": self.buckets, "per_bucket": self.per_bucket,
                "range": (self.low, self.high)}

    def load_state_dict(self, saved: dict) -> None:
        layout = (saved["buckets"], saved["per_bucket"], tuple(saved["range"]))
        if layout != (self.buckets, self.per_bucket, (self.low, self.high)):
            raise ValueError(f"the checkpoint's archive has {layout[0]} buckets of {layout[1]} over {layout[2]}, this "
                             f"run {self.buckets} of {self.per_bucket} over {(self.low, self.high)}")
        slots = saved["slots"].to(self.params.device)
        self.params[slots] = saved["params"].to(self.params.device)
        self.returns[slots] = saved["returns"].to(self.params.device)
        self.offered.copy_(saved["offered"])


class RecordAnchors:
    """The policies that set a run's newest ``capacity`` bests so far, with the returns they set: ``theta [n, D]``,
    ``returns [n]``, oldest first, n <= capacity."""

    def __init__(self, capacity: int, dim: int, device: torch.device | str = "cpu"):
        self.capacity = capacity
        self.theta = torch.empty(0, dim, device=device)
        self.returns = torch.empty(0, device=device)

    def __len__(self) -> int:
        return self.returns.shape[0]

    def add(self, theta: torch.Tensor, value: float) -> None:
        """A new best so far ``value`` and the policy ``theta [D]`` that set it; the oldest goes beyond capacity."""
        self.theta = torch.cat([self.theta, theta.detach().reshape(1, -1).float()])[-self.capacity:]
        self.returns = torch.cat([self.returns, self.returns.new_tensor([value])])[-self.capacity:]

    def padded(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(returns [capacity], theta [capacity, D], mask [capacity])``, zeros after the stored ones."""
        n, pad = len(self), self.capacity - len(self)
        mask = torch.cat([torch.ones(n), torch.zeros(pad)]).to(self.returns)
        return (torch.cat([self.returns, self.returns.new_zeros(pad)]),
                torch.cat([self.theta, self.theta.new_zeros(pad, self.theta.shape[1])]), mask)

    def state_dict(self) -> dict:
        return {"theta": self.theta.cpu(), "returns": self.returns.cpu()}

    def load_state_dict(self, saved: dict) -> None:
        self.theta = saved["theta"].to(self.theta.device)
        self.returns = saved["returns"].to(self.returns.device)


class ReplayBuffer:
    def __init__(self, capacity: int, dim: int, device: torch.device | str = "cpu", recency_power: float | None = 1.1,
                 archive: ReturnArchive | None = None, archive_share: float = 0.0):
        if capacity <= 0:
            raise ValueError(f"buffer capacity must be positive, got {capacity}")
        self.capacity, self.recency_power = capacity, recency_power
        self.archive, self.archive_share = archive, archive_share
        rows = min(capacity, INITIAL_ROWS)
        self.params = torch.zeros(rows, dim, device=device)
        self.returns = torch.zeros(rows, device=device)
        self.stamps = torch.zeros(rows, dtype=torch.long, device=device)
        self.blocks = torch.zeros(rows, dtype=torch.long, device=device)  # first stamp of each slot's block
        self.stored = 0  # entries ever added; the newest entry has stamp == stored
        self._weights = None  # cached sampling weights, valid until the next add or restore
        self._top = None  # cached (count, slots of the highest returns), valid as long as the weights

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
        self._weights = self._top = None
        if self.archive is not None:
            self.archive.add(params, returns)

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

    def sample(self, rng: torch.Generator, batch: int, out: tuple[torch.Tensor, torch.Tensor] | None = None,
               top_share: float = 0.0, top_count: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch`` entries drawn with replacement -> ``(params [batch, D], returns [batch])``, gathered into
        ``out`` when given (e.g. one seed's rows of a batch of seeds: no second copy). With an archive, the last
        ``round(archive_share x batch)`` of them come from it; before those, ``round(top_share x batch)`` are drawn
        uniformly from the ``top_count`` highest returns held (at least one entry is always drawn by recency)."""
        recent, archived = self._draw(rng, batch, top_share, top_count)
        params_out, returns_out = out or (None, None)
        if archived is None:
            return (torch.index_select(self.params, 0, recent, out=params_out),
                    torch.index_select(self.returns, 0, recent, out=returns_out))
        params = torch.cat([self.params[recent], self.archive.params[archived]], out=params_out)
        returns = torch.cat([self.returns[recent], self.archive.returns[archived]], out=returns_out)
        return params, returns

    def sample_returns(self, rng: torch.Generator, batch: int) -> torch.Tensor:
        """The returns ``[batch]`` of the entries ``sample`` would draw (the same draw), without gathering params."""
        recent, archived = self._draw(rng, batch)
        if archived is None:
            return self.returns[recent]
        return torch.cat([self.returns[recent], self.archive.returns[archived]])

    def sample_index(self, rng: torch.Generator, batch: int) -> torch.Tensor:
        """Slots of ``batch`` recent entries drawn with replacement by their weights ``[batch]``."""
        if len(self) == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        return torch.multinomial(self.weights(), batch, replacement=True, generator=rng)

    def top_index(self, count: int) -> torch.Tensor:
        """Slots of the ``count`` highest returns held, highest first ``[min(count, len)]``."""
        if self._top is None or self._top[0] != count:
            filled = len(self)
            self._top = count, torch.topk(self.returns[:filled], min(count, filled)).indices
        return self._top[1]

    def _draw(self, rng: torch.Generator, batch: int, top_share: float = 0.0, top_count: int = 1
              ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The slots a batch draws: of the buffer (by recency, then of its highest returns), and of the archive's
        (None without one)."""
        from_archive = 0
        if self.archive is not None and len(self.archive):  # at least one recent entry in every batch
            from_archive = min(round(self.archive_share * batch), batch - 1)
        from_top = min(round(top_share * batch), batch - from_archive - 1)
        recent = self.sample_index(rng, batch - from_archive - from_top)
        if from_top > 0:
            top = self.top_index(top_count)
            recent = torch.cat([recent, top[torch.randint(len(top), (from_top,), generator=rng, device=top.device)]])
        return recent, self.archive.sample_index(rng, from_archive) if from_archive else None

    def entries(self, first_stamp: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Entries with stamps ``first_stamp .. stored`` (still held) -> ``(params, returns)`` in stamp order."""
        slots = self._slots_since(first_stamp)
        return self.params[slots], self.returns[slots]

    def _slots_since(self, first_stamp: int) -> torch.Tensor:
        """Slots of the entries with stamps ``first_stamp .. stored`` still held, in stamp order ``[n]``."""
        first_stamp = max(first_stamp, self.stored - len(self) + 1)
        return (torch.arange(first_stamp, self.stored + 1, device=self.params.device) - 1) % self.capacity

    def returns_since(self, first_stamp: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``[n]`` of the entries ``entries(first_stamp)`` returns and their blocks' first stamps ``[n]``,
        without gathering their params."""
        slots = self._slots_since(first_stamp)
        return self.returns[slots], self.blocks[slots]

    def block_starts(self, first_stamp: int) -> torch.Tensor:
        """The block of each entry ``entries(first_stamp)`` returns, as its block's first stamp ``[n]``."""
        slots = self._slots_since(first_stamp)
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
        self._weights = self._top = None


def _block_means(values: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
    """Each entry's value replaced by the mean over the entries sharing its block id: ``[n] -> [n]``
    (a block of one keeps its value bit for bit)."""
    ids, index, sizes = torch.unique(blocks, return_inverse=True, return_counts=True)
    sums = torch.zeros(ids.shape[0], dtype=values.dtype, device=values.device).index_add_(0, index, values)
    return (sums / sizes)[index]
