"""What every benchmark records about the machine it ran on, and how results are written."""

import json
import os
import platform
from collections.abc import Callable
from pathlib import Path

import jax
import mujoco
import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """CPU model, core count, JAX devices and library versions."""
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    devices = jax.devices()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in devices],
        "gpu": next((d.device_kind for d in devices if d.platform == "gpu"), None),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "mujoco": mujoco.__version__,
        "numpy": np.__version__,
    }


def device_tag() -> str:
    """``"cpu"`` or a short GPU name, for result file names."""
    gpu = machine()["gpu"]
    return "cpu" if gpu is None else gpu.lower().replace(" ", "-")


def write_json(name: str, payload: dict, directory: Path = RESULTS) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)
    return path


def write_report(directory: Path, name: str, result: dict, text: str,
                 plots: dict[str, Callable[[dict, Path], None]] | None = None) -> Path:
    """An analysis's three outputs in ``directory``: ``<name>.json`` (``result``, which has ``machine``),
    ``<name>.md`` (a title, the machine's CPU, then ``text``) and ``<name><suffix>.png`` drawn by ``plot(result,
    path)`` for each ``suffix: plot`` of ``plots``. Returns the JSON's path."""
    path = write_json(f"{name}.json", result, directory)
    (Path(directory) / f"{name}.md").write_text(f"# {name}\n\nMachine: {result['machine']['cpu']}\n\n{text}")
    for suffix, plot in (plots or {}).items():
        plot(result, Path(directory) / f"{name}{suffix}.png")
    return path


def measure_runs(run_dirs, measure_run: Callable[[Path], dict], columns: list[str]) -> tuple[str, list[dict]]:
    """``measure_run(run_dir)`` for each run directory, all of one task, each row printed as it comes:
    -> (task, rows); ValueError naming the first run of another task."""
    from fastgen import trained

    rows, task = [], None
    for run_dir in run_dirs:
        cfg = trained.load_config(Path(run_dir))
        task = task or cfg.env
        if cfg.env != task:
            raise ValueError(f"{run_dir} trained {cfg.env}, the runs before it {task}: one task per table")
        rows.append(measure_run(Path(run_dir)))
        print(table([rows[-1]], columns), flush=True)
    return task, rows


def table(rows: list[dict], columns: list[str]) -> str:
    """A plain-text table of ``rows`` (dicts) with the given columns."""
    cells = [[_fmt(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = lambda values: "  ".join(v.rjust(w) for v, w in zip(values, widths))  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, cells)])


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)
