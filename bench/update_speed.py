"""Time per generator update and per evaluator update (batch 16), and what bounds them.

    python -m bench.update_speed                  # hopper on this machine's CPU (and CUDA if present)

An update = sample a batch of 16 from a full 10k buffer, forward, backward, Adam step, as in the
trainer. The FLOPs of one update are counted with ``torch.utils.flop_counter`` and divided by the
machine's measured float32 matmul rate, which gives the floor the update time is compared with.
The authors' code needed ~210 ms per generator update on 4 CPU threads (REFERENCE.md).
"""

import time
from dataclasses import dataclass

import torch
import tyro
from torch.utils.flop_counter import FlopCounterMode

from bench.common import machine, table, write_json
from envs.tasks import TASKS
from fastgen import trainer
from fastgen.config import Config


@dataclass
class Settings:
    env: str = "hopper"
    """Task whose policy sizes set the network sizes."""
    repeats: int = 30
    """Timed updates per kind (median reported)."""
    devices: tuple[str, ...] = ()
    """Torch devices (default: cpu, and cuda when available)."""


def matmul_rate(device: torch.device, size: int = 2048) -> float:
    """Measured float32 matmul FLOP/s on ``device``."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    for _ in range(3):
        a @ b
    _sync(device)
    start, n = time.perf_counter(), 10
    for _ in range(n):
        a @ b
    _sync(device)
    return 2 * size**3 * n / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_updates(env: str, device: torch.device, repeats: int) -> list[dict]:
    state = trainer.init(Config(env=env, engine="cpu", device=str(device)))
    spec = state.spec
    dim = state.buffer.params.shape[1]
    state.buffer.add(torch.randn(state.buffer.capacity, dim, device=device) * 0.05,
                     torch.rand(state.buffer.capacity, device=device) * spec.return_range[1])
    rows = []
    for name, update, frozen in (("evaluator", trainer._evaluator_update, False),
                                 ("generator", trainer._generator_update, True)):
        state.evaluator.requires_grad_(not frozen)
        for _ in range(3):
            update(state)
        with FlopCounterMode(display=False) as counter:
            update(state)
        flops = counter.get_total_flops()
        times = []
        for _ in range(repeats):
            _sync(device)
            start = time.perf_counter()
            update(state)
            _sync(device)
            times.append(time.perf_counter() - start)
        state.evaluator.requires_grad_(True)
        median = sorted(times)[len(times) // 2]
        rows.append({"env": env, "device": str(device), "update": name, "ms": median * 1e3, "gflop": flops / 1e9})
    return rows


def main(settings: Settings) -> dict:
    if settings.env not in TASKS:
        raise SystemExit(f"unknown env {settings.env!r}; choose one of {', '.join(TASKS)}")
    devices = settings.devices or (("cpu", "cuda") if torch.cuda.is_available() else ("cpu",))
    rows = []
    for name in devices:
        device = torch.device(name)
        rate = matmul_rate(device)
        for row in time_updates(settings.env, device, settings.repeats):
            row["matmul_gflops"] = rate / 1e9
            row["floor_ms"] = row["gflop"] / row["matmul_gflops"] * 1e3
            row["of_peak"] = row["floor_ms"] / row["ms"]
            rows.append(row)
    print(table(rows, ["env", "device", "update", "ms", "gflop", "matmul_gflops", "floor_ms", "of_peak"]))
    payload = {"benchmark": "update_speed", "machine": machine(), "torch_threads": torch.get_num_threads(),
               "rows": rows, "reference_code_generator_update_ms": 210}
    path = write_json(f"update_speed_{'gpu' if 'cuda' in devices else 'cpu'}.json", payload)
    print(f"wrote {path}")
    return payload


if __name__ == "__main__":
    main(tyro.cli(Settings))
