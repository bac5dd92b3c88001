"""PoliGen's checkpoints: networks, optimisers, statistics, random streams, counters and config in ``checkpoint.pt``
(``fastgen.runs.checkpoint.write``: atomic, the previous one kept), and the replay buffer in chunks.

The buffer (up to 10k x ~70k floats) is not rewritten every time: each checkpoint adds one chunk file under
``buffer/`` with the entries stored since the previous one, and ``checkpoint.pt`` lists the chunks that make up its
buffer. Chunks are deleted only after a new ``checkpoint.pt`` no longer needs them, so a run killed at any moment
resumes from a consistent last checkpoint.
"""

import sys
from pathlib import Path

import jax
import numpy as np
import torch

from fastgen.errors import RunDirError
from fastgen.normalizer import ObsStats
from fastgen.runs.checkpoint import (
    CHECKPOINT,
    PREVIOUS,
    atomic_save,
    check_compatible,
    header,
    load_file,
    read_checkpoint,
    restore_counters,
    write,
)


def save(state, run_dir: Path) -> None:
    """Write the buffer chunk of new entries, then ``checkpoint.pt``, then drop unneeded chunks."""
    run_dir, chunk_dir = Path(run_dir), Path(run_dir) / "buffer"
    chunk_dir.mkdir(parents=True, exist_ok=True)
    previous = _chunks_on_record(run_dir)
    last_saved = previous[-1][1] if previous else 0
    buffer = state.buffer
    chunks = list(previous)
    if buffer.stored > last_saved:
        params, returns = buffer.entries(last_saved + 1)
        first = buffer.stored - params.shape[0] + 1
        atomic_save({"params": params.cpu(), "returns": returns.cpu(), "blocks": buffer.block_starts(last_saved + 1).cpu()},
                    chunk_dir / f"{first}-{buffer.stored}.pt")
        chunks.append((first, buffer.stored))
    oldest_needed = buffer.stored - len(buffer) + 1
    chunks = [(a, b) for a, b in chunks if b >= oldest_needed]
    write({
        **header(state),
        **state.learner.state_dict(state.slot),
        "buffer": {"chunks": chunks, "stored": buffer.stored},
        **({"archive": buffer.archive.state_dict()} if buffer.archive is not None else {}),
        **({"anchors": state.anchors.state_dict()} if state.anchors is not None else {}),
        "obs_stats": state.obs_stats.state_dict(),
        "rng": state.rng.get_state(),
        "key": np.asarray(jax.random.key_data(state.key)),
        "noise_multiplier": state.noise_multiplier,
        "best_rose_at": state.best_rose_at,
        **({"search_centre": state.search_centre.cpu()} if state.search_centre is not None else {}),
        **({"record": state.record.cpu()} if state.record is not None else {}),
        "generator_rose_at": state.generator_rose_at,
    }, run_dir)
    keep = {f"{a}-{b}.pt" for a, b in chunks + previous}  # checkpoint.prev.pt's chunks too
    for path in chunk_dir.glob("*.pt"):
        if path.name not in keep:
            path.unlink()


def _load_chunks(run_dir: Path, saved: dict) -> list[dict]:
    return [load_file(run_dir / "buffer" / f"{a}-{b}.pt") for a, b in saved["buffer"]["chunks"]]


def _singletons(first: int, last: int) -> torch.Tensor:
    """Block starts of a chunk written before blocks were saved: each entry its own block."""
    return torch.arange(first, last + 1)


def _chunks_on_record(run_dir: Path) -> list[tuple[int, int]]:
    """The buffer chunks of the checkpoint this save will replace (none before the first)."""
    if not (run_dir / CHECKPOINT).exists() and not (run_dir / PREVIOUS).exists():
        return []
    saved, _ = read_checkpoint(run_dir)
    return [tuple(c) for c in saved["buffer"]["chunks"]]


def load(state, run_dir: Path):
    """Restore ``state`` (made by ``trainer.init`` or ``init_batch`` with the same config) from ``run_dir``."""
    run_dir = Path(run_dir)
    saved, source = read_checkpoint(run_dir, state.device)
    try:
        chunks = _load_chunks(run_dir, saved)
    except RunDirError as error:  # the newest chunk is checkpoint.pt's alone: the previous one may do without it
        if source.name != CHECKPOINT or not (run_dir / PREVIOUS).exists():
            raise
        print(f"fastgen: warning: {error}", file=sys.stderr)
        saved, source = read_checkpoint(run_dir, state.device, previous=True)
        chunks = _load_chunks(run_dir, saved)
    check_compatible(saved, state.cfg)
    restore_counters(state, saved["counters"])
    state.noise_multiplier = saved.get("noise_multiplier", 1.0)  # checkpoints from before --generator.noise-target
    state.best_rose_at = saved.get("best_rose_at", 0)  # checkpoints from before --generator.anchor-after
    if "search_centre" in saved:
        state.search_centre = saved["search_centre"].to(state.device)
    if "record" in saved:  # checkpoints from before --generator.search-after have none
        state.record = saved["record"].to(state.device)
    state.generator_rose_at = saved.get("generator_rose_at", 0)
    state.learner.load_state_dict(state.slot, saved)
    if chunks:
        params = torch.cat([c["params"] for c in chunks])
        returns = torch.cat([c["returns"] for c in chunks])
        blocks = torch.cat([c["blocks"] if "blocks" in c else _singletons(a, b)  # chunks saved before blocks
                            for c, (a, b) in zip(chunks, saved["buffer"]["chunks"])])
        keep = min(params.shape[0], state.buffer.capacity)
        state.buffer.restore(params[-keep:], returns[-keep:], saved["buffer"]["stored"], blocks[-keep:])
    if state.buffer.archive is not None and "archive" in saved:
        state.buffer.archive.load_state_dict(saved["archive"])
    if state.anchors is not None and "anchors" in saved:
        state.anchors.load_state_dict(saved["anchors"])
    state.obs_stats = ObsStats.from_state_dict(saved["obs_stats"])
    state.rng.set_state(saved["rng"].cpu() if hasattr(saved["rng"], "cpu") else saved["rng"])
    state.key = jax.random.wrap_key_data(saved["key"])
    return state
