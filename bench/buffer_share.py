"""How often the generator trains on one entry of the replay buffer: ``python -m bench.buffer_share``

PoliGen asks G for the best return so far (+ drive), but trains it on commands drawn from the buffer's returns
(recency-weighted). When one policy's return jumps far above the rest (a lucky draw of a population), how many of
the generator's next samples are that entry? Exact expectations with the real ``ReplayBuffer`` (and
``ReturnArchive``): a full buffer of ordinary returns, then the lucky entry stored as the last of one iteration's
block, then ordinary iterations; per iteration, the entry's probability per sample times the generator's samples.

Each row: P policies per iteration, G's updates per iteration, batch 16, with or without the return archive
(``--buffer.archive-buckets``; its share of every batch, every non-empty bucket equally likely). Writes
``bench/results/analysis/buffer_share_<task>.{json,md}``.
"""

from dataclasses import dataclass

import torch
import tyro

import envs
from bench.common import RESULTS, machine, table, write_json
from fastgen.poligen.buffer import ReplayBuffer, ReturnArchive


@dataclass
class Options:
    task: str = "hopper"
    """Task whose return range lays out the archive's buckets."""
    ordinary: tuple[float, float] = (0.0, 600.0)
    """Returns of every other entry, evenly spread over this range (hopper seed 7 around its lucky draw: up to ~600)."""
    lucky: float = 2003.0
    """The lucky entry's return (hopper seed 7's draw at 223k env steps)."""
    episodes: int = 1280
    """Episodes after the lucky one over which its draws are counted (20 iterations at P = 64)."""
    capacity: int = 10_000
    """Buffer size (the paper's)."""
    batch: int = 16
    """Samples per update (the paper's)."""


# (label, P, generator updates per iteration, archive buckets): the paper's schedule; hopper's P = 64 candidate
# (generator updates per episode 40 x P^0.5 / P = 5 per episode); the same with the return archive.
ROWS = (("P = 1, the paper's schedule", 1, 20, 0),
        ("P = 64, generator at 1/4 of the paper's rate", 64, 320, 0),
        ("P = 64, the same + --buffer.archive-buckets 20", 64, 320, 20))


def lucky_draws(opts: Options, population: int, updates: int, buckets: int, archive_share: float = 0.25
                ) -> tuple[float, float, float]:
    """Expected draws of the lucky entry among the generator's samples over the next ``opts.episodes`` episodes
    -> (draws in the first iteration after it, draws in all, samples in all)."""
    archive = None
    if buckets:
        archive = ReturnArchive(buckets, 32, 1, *envs.make(opts.task).spec.return_range)
    buffer = ReplayBuffer(opts.capacity, 1, archive=archive, archive_share=archive_share)
    ordinary = torch.linspace(*opts.ordinary, population)
    for _ in range(-(-opts.capacity // population)):
        buffer.add(torch.zeros(population, 1), ordinary)
    buffer.add(torch.zeros(population, 1), torch.cat([ordinary[:-1], torch.tensor([opts.lucky])]))
    lucky_stamp = buffer.stored
    from_archive = min(round(archive_share * opts.batch), opts.batch - 1) if buckets else 0
    lucky_bucket = int(archive.bucket(torch.tensor([opts.lucky]))[0]) if buckets else None
    iterations = max(1, opts.episodes // population)
    draws, first = 0.0, None
    for _ in range(iterations):
        weights = buffer.weights()
        held = buffer.stamps[:len(buffer)] == lucky_stamp
        p_recent = float(weights[held].sum() / weights.sum())
        p_archive = 0.0
        if buckets:
            counts = archive.offered.clamp(max=archive.per_bucket)
            p_archive = 1.0 / int((counts > 0).sum()) / int(counts[lucky_bucket])
        per_iteration = updates * ((opts.batch - from_archive) * p_recent + from_archive * p_archive)
        first = per_iteration if first is None else first
        draws += per_iteration
        buffer.add(torch.zeros(population, 1), ordinary)
    return first, draws, updates * opts.batch * iterations


def main(opts: Options) -> None:
    rows = []
    for label, population, updates, buckets in ROWS:
        first, draws, samples = lucky_draws(opts, population, updates, buckets)
        rows.append({"row": label, "P": population, "generator updates per iteration": updates,
                     "archive buckets": buckets, "draws, first iteration": first, "draws": draws,
                     "generator samples": samples, "share %": 100 * draws / samples})
    columns = list(rows[0])
    text = table(rows, columns)
    print(f"lucky return {opts.lucky} among returns over {opts.ordinary}, next {opts.episodes} episodes\n{text}")
    name = f"buffer_share_{opts.task}"
    directory = RESULTS / "analysis"
    write_json(f"{name}.json", {"benchmark": "buffer_share", "machine": machine(), "settings": vars(opts),
                                "rows": rows}, directory)
    header = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join("| " + " | ".join(f"{r[c]:.3g}" if isinstance(r[c], float) else str(r[c]) for c in columns)
                   + " |\n" for r in rows)
    (directory / f"{name}.md").write_text(f"Lucky return {opts.lucky} among returns over {opts.ordinary}; draws of it "
                                          f"among the generator's samples over the next {opts.episodes} episodes "
                                          f"(`python -m bench.buffer_share`).\n\n{header}{body}")


if __name__ == "__main__":
    main(tyro.cli(Options))
