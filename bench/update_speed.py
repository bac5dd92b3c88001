"""Time per generator update and per evaluator update (batch 16, one seed), and the floor that bounds them.

    python -m bench.update_speed                  # hopper and swimmer on this machine's CPU (and CUDA if present)

An update is what training runs: sample a batch of 16 from a full buffer, forward, backward, Adam
step (``fastgen.poligen.learner.evaluator_step`` / ``generator_step`` with K = 1). Its FLOPs are counted
with ``torch.utils.flop_counter``; the floor is FLOPs / the machine's float32 matmul rate
(``matmul_rate``: a 2048^3 product, median of repeats). The rate is sampled before the updates and
after each task and precision's rows, and the highest sample is every row's rate
(``matmul_gflops_samples`` in the JSON): on a shared VM a slow phase lowers the rate for minutes (a
2-core Intel Xeon measured 168 GFLOP/s in one run and 279 in the next), and a rate taken in such a
phase would lower the bar. ``of_floor`` = floor / time.
``paper_gflop`` is the FLOPs of the paper's architecture computed the direct way (the previous
implementation, 6.88 GFLOP per hopper generator update); the learner now skips some of them
(bias networks' output layer after the tile mean, the first layer's embedding part once per call).
The paper reports about 4 s of CPU per episode on updates alone in the authors' code (docs/paper.md).

``--precisions``: each update also with ``--precision bfloat16`` (autocast: the products in bfloat16, the
rest float32); ``speedup_vs_float32`` is the float32 row's time over the row's, ``of_floor`` stays against
the float32 floor (so a bfloat16 row can pass 1), and the 2048^3 bfloat16 rate is printed and stored apart.

``gemm_alone_ms`` is a second, shape-aware floor: every matrix product the update runs (mm, addmm, bmm,
baddbmm, as ``OpTimer`` records them, backward's included), each timed alone at its own shapes on fresh
contiguous operands, summed. Products of an update's shapes (inner dimension 256) can run below the 2048^3 rate, so
``of_gemm_alone`` (= gemm_alone_ms / ms) says how much of the update is its products, and 1 - it what is not.

On the CPU each row also says where its ``ms`` go, every aten op timed as it runs (``OpTimer``, a third of
``repeats`` updates): ``products_ms`` (the products in place, operands as the update leaves them) and
``other_ops_ms`` (the costliest listed in the JSON's ``top_other_ops``). What the two leave of ``ms`` is
Python, dispatch and autograd's bookkeeping, but only roughly: the timer's own Python between ops slows the
ops a little, so (2-core AMD EPYC Zen 4) the two summed to within ~2 ms of ``ms``, either side.
"""

import collections
import statistics
import time
from dataclasses import dataclass

import torch
import tyro
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from bench.common import RESULTS, machine, table
from bench.common import write_json as write_to
from envs.tasks import TASKS
from fastgen import runtime
from fastgen.config import Config
from fastgen.poligen import learner, trainer

# Per-update FLOPs of the previous (direct) implementation, counted the same way (bench/results history).
PAPER_GFLOP = {("hopper", "generator"): 6.881, ("hopper", "evaluator"): 0.906}
# The committed results before this learner (bench/results/update_speed/update_speed_cpu.json as of 5d36acc, then
# at the top of bench/results; a 2-core Intel Xeon).
PREVIOUS = {"cpu": "Intel(R) Xeon(R) Processor", "matmul_gflops": 394.7,
            "rows": {"generator": {"ms": 40.03, "of_floor": 0.436}, "evaluator": {"ms": 6.05, "of_floor": 0.380}}}


@dataclass
class Settings:
    envs: tuple[str, ...] = ("hopper", "swimmer")
    """Tasks whose policy sizes set the network sizes."""
    repeats: int = 30
    """Timed updates per kind (median reported)."""
    devices: tuple[str, ...] = ()
    """Torch devices (default: cpu, and cuda when available)."""
    precisions: tuple[str, ...] = ("float32", "bfloat16")
    """Precisions of the updates' matrix products (``--precision``); the floor is float32's either way."""


def write_json(name: str, payload: dict):
    """Into bench/results/update_speed/."""
    return write_to(name, payload, RESULTS / "update_speed")


def matmul_rate(device: torch.device, size: int = 2048, repeats: int = 10, dtype=torch.float32) -> float:
    """Measured matmul FLOP/s on ``device`` in ``dtype``: the median of ``repeats`` timed products."""
    a, b = torch.randn(size, size, device=device, dtype=dtype), torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    return 2 * size**3 / median_time(lambda: a @ b, repeats, device)


def median_time(fn, repeats: int, device: torch.device) -> float:
    """Median wall seconds of ``repeats`` calls of ``fn`` after one warm-up call, synchronised on CUDA."""
    fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def filled_state(env: str, device: torch.device, precision: str = "float32") -> trainer.TrainState:
    """A fresh single-seed run whose buffer holds 2,000 random policies with random returns."""
    state = trainer.init(Config(env=env, engine="cpu", device=str(device), precision=precision))
    dim = state.buffer.params.shape[1]
    state.buffer.add(torch.randn(2000, dim, device=device) * 0.05,
                     torch.rand(2000, device=device) * state.spec.return_range[1])
    return state


def updates(state: trainer.TrainState) -> dict:
    """The two update steps of ``state``'s run as argument-free callables."""
    shared, slots = state.learner, [state.slot]
    return {"evaluator": lambda: learner.evaluator_step(shared, slots, *trainer._samples([state])),
            "generator": lambda: learner.generator_step(shared, slots, trainer._commands([state]))}


# The matrix products an update runs, by aten name (baddbmm: each policy layer of V, fastgen.policy.affine).
PRODUCTS = {"aten::mm": torch.mm, "aten::addmm": torch.addmm, "aten::bmm": torch.bmm, "aten::baddbmm": torch.baddbmm}


def gemm_calls(update) -> list[tuple[str, tuple]]:
    """The matrix products one call of ``update`` runs (backward's included): ``(op, input shapes)`` in call order."""
    timer = OpTimer()
    with timer:
        update()
    return [key for key in timer.order if key[0] in PRODUCTS]


def gemms_alone_seconds(calls: list[tuple[str, tuple]], device: torch.device, repeats: int,
                        dtype=torch.float32) -> float:
    """Sum over ``calls`` of each product's median time alone, on fresh contiguous ``dtype`` operands of its shapes."""
    seconds = {}
    for call in calls:
        if call not in seconds:
            op, shapes = call
            args = [torch.randn(shape, device=device, dtype=dtype) for shape in shapes]
            product = PRODUCTS[op]
            seconds[call] = median_time(lambda: product(*args), repeats, device)
    return sum(seconds[call] for call in calls)


class OpTimer(TorchDispatchMode):
    """Wall seconds of every aten op run under it, by ``(op, input shapes)``, and ``order``: those keys in call
    order, one per call. Each op is timed around its own call, so Python and dispatch between ops fall outside.
    The seconds are the CPU's only (a CUDA op returns before it ends); ``order`` is right on any device."""

    def __init__(self):
        super().__init__()
        self.seconds = collections.defaultdict(float)
        self.order: list[tuple[str, tuple]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        start = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        key = (func._schema.name, tuple(tuple(a.shape) for a in args if isinstance(a, torch.Tensor))[:3])
        self.seconds[key] += time.perf_counter() - start
        self.order.append(key)
        return out


def op_split(update, repeats: int, top: int = 6) -> dict:
    """Where one update's time goes (CPU): its matrix products and its other ops, ms per update, means over
    ``repeats`` updates run under ``OpTimer``; with the ``top`` costliest other ops as ``{"op", "shapes",
    "calls", "ms"}``."""
    timer = OpTimer()
    with timer:
        for _ in range(repeats):
            update()
    calls = collections.Counter(timer.order)
    per_update = {key: seconds * 1e3 / repeats for key, seconds in timer.seconds.items()}
    products = sum(t for (op, _), t in per_update.items() if op in PRODUCTS)
    others = sorted(((t, key) for key, t in per_update.items() if key[0] not in PRODUCTS), reverse=True)
    other_ms = sum(t for t, _ in others)
    return {"products_ms": products, "other_ops_ms": other_ms,
            "top_other_ops": [{"op": op, "shapes": shapes, "calls": calls[op, shapes] // repeats, "ms": t}
                              for t, (op, shapes) in others[:top]]}


def time_updates(env: str, device: torch.device, repeats: int, precision: str = "float32") -> list[dict]:
    state = filled_state(env, device, precision)
    rows = []
    for name, update in updates(state).items():
        for _ in range(2):
            update()
        with FlopCounterMode(display=False) as counter:
            update()
        seconds = median_time(update, repeats, device)
        split = op_split(update, max(1, repeats // 3)) if device.type == "cpu" else {}
        alone = gemms_alone_seconds(gemm_calls(update), device, repeats, getattr(torch, precision))
        rows.append({"env": env, "device": str(device), "precision": precision, "update": name, "ms": seconds * 1e3,
                     "gflop": counter.get_total_flops() / 1e9, "paper_gflop": PAPER_GFLOP.get((env, name)),
                     "gemm_alone_ms": alone * 1e3, "of_gemm_alone": alone / seconds, **split})
    return rows


def main(settings: Settings) -> dict:
    for env in settings.envs:
        if env not in TASKS:
            raise SystemExit(f"unknown env {env!r}; choose one of {', '.join(TASKS)}")
    devices = settings.devices or (("cpu", "cuda") if torch.cuda.is_available() else ("cpu",))
    rows, bf16_rates, rate_samples = [], {}, {}
    for name in devices:
        device = torch.device(name)
        samples, measured = [matmul_rate(device)], []
        for env in settings.envs:
            for precision in settings.precisions:
                measured += time_updates(env, device, settings.repeats, precision)
                samples.append(matmul_rate(device))
        rate = max(samples)
        rate_samples[name] = [r / 1e9 for r in samples]
        bf16_rates[name] = matmul_rate(device, dtype=torch.bfloat16) / 1e9
        float32_ms = {(r["env"], r["update"]): r["ms"] for r in measured if r["precision"] == "float32"}
        for row in measured:
            row["matmul_gflops"] = rate / 1e9
            row["floor_ms"] = row["gflop"] / row["matmul_gflops"] * 1e3
            row["of_floor"] = row["floor_ms"] / row["ms"]
            if (row["env"], row["update"]) in float32_ms:
                row["speedup_vs_float32"] = float32_ms[row["env"], row["update"]] / row["ms"]
            rows.append(row)
    print(table(rows, ["env", "device", "precision", "update", "ms", "gflop", "paper_gflop", "matmul_gflops",
                       "floor_ms", "of_floor", "gemm_alone_ms", "of_gemm_alone", "products_ms", "other_ops_ms",
                       "speedup_vs_float32"]))
    print("float32 matmul GFLOP/s samples (2048^3; the highest is the floor's rate): "
          + "; ".join(f"{d} " + ", ".join(f"{r:.0f}" for r in rs) for d, rs in rate_samples.items()))
    print("bfloat16 matmul GFLOP/s (2048^3): " + ", ".join(f"{d} {r:.0f}" for d, r in bf16_rates.items()))
    payload = {"benchmark": "update_speed", "machine": machine(), "torch_threads": torch.get_num_threads(),
               "rows": rows, "matmul_gflops_samples": rate_samples, "bfloat16_matmul_gflops": bf16_rates,
               "previous": PREVIOUS, "reference_code_generator_update_ms": 210}
    path = write_json(f"update_speed_{'gpu' if 'cuda' in devices else 'cpu'}.json", payload)
    print(f"wrote {path}")
    return payload


if __name__ == "__main__":
    runtime.configure()
    main(tyro.cli(Settings))
