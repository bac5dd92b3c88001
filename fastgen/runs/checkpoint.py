"""Checkpoints: everything a run needs to continue, written atomically (temp file + rename).

These helpers serve every algorithm (``atomic_save``, ``write``, ``read``, ``check_compatible``, ``counters``);
PoliGen's own ``save``/``load`` (its buffer in chunks) are in ``fastgen.poligen.checkpoint``.

``checkpoint.pt`` holds networks, optimisers, statistics, RNG states, counters and the config. The
replay buffer (up to 10k x ~70k floats) is not rewritten every time: each checkpoint adds one
chunk file under ``buffer/`` with the entries stored since the previous one, and ``checkpoint.pt``
lists the chunks that make up its buffer. Chunks are deleted only after a new ``checkpoint.pt`` no
longer needs them, so a run killed at any moment resumes from a consistent last checkpoint.
"""

import dataclasses
import os
import shutil
import sys
from pathlib import Path

import torch

from fastgen import algorithms
from fastgen.algorithms import Counters
from fastgen.config import RESUMABLE_CHANGES
from fastgen.errors import RunDirError

FORMAT = 1
COUNTERS = tuple(f.name for f in dataclasses.fields(Counters))


CHECKPOINT, PREVIOUS = "checkpoint.pt", "checkpoint.prev.pt"


def atomic_save(obj, path: Path, previous: Path | None = None) -> None:
    """``torch.save`` to a temporary file renamed over ``path`` (the file it replaces renamed to ``previous``,
    if given). A failed write (a full disk) leaves every file as it was and raises RunDirError saying so."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(obj, tmp)
    except (OSError, RuntimeError) as error:  # torch's zip writer reports a full disk as a RuntimeError
        tmp.unlink(missing_ok=True)
        kept = f"the last {path.name} is intact" if path.exists() else "nothing was written"
        raise RunDirError(f"could not write {path} ({_write_failure(error, path.parent)}); {kept}") from None
    if previous is not None and path.exists():
        os.replace(path, previous)
    os.replace(tmp, path)


def _write_failure(error: Exception, directory: Path) -> str:
    """Why a write failed, in a few words: the OS's reason, or for torch's zip writer (which says only
    ``unexpected pos``) how much room its filesystem has left."""
    if isinstance(error, OSError):
        return error.strerror or str(error)
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return str(error).strip().splitlines()[0]
    return f"the write stopped short with {free:,} bytes free on its filesystem: a full disk"


def write(obj, run_dir: Path) -> None:
    """Write ``run_dir/checkpoint.pt`` atomically, the one it replaces kept as ``checkpoint.prev.pt`` (the
    fallback of a resume that finds the newest unreadable)."""
    atomic_save(obj, Path(run_dir) / CHECKPOINT, previous=Path(run_dir) / PREVIOUS)


def load_file(path: Path, device=None) -> dict:
    """``torch.load`` of a checkpoint or chunk; RunDirError naming the file and what is wrong with it."""
    try:
        return torch.load(path, weights_only=False, map_location=device)
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing") from None
    except Exception as error:  # a truncated zip, a bad pickle, an empty file: torch raises many kinds
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RunDirError(f"{path} is unreadable ({reason})") from None


def read_checkpoint(run_dir: Path, device=None, previous: bool = False) -> tuple[dict, Path]:
    """The newest readable checkpoint of ``run_dir`` and its path: ``checkpoint.pt``, or with a one-line warning
    ``checkpoint.prev.pt`` when that one is unreadable or missing (``previous``: the latter only)."""
    run_dir = Path(run_dir)
    if not previous:
        try:
            return load_file(run_dir / CHECKPOINT, device), run_dir / CHECKPOINT
        except RunDirError as error:
            if not (run_dir / PREVIOUS).exists():
                raise
            problem = error
    saved = load_file(run_dir / PREVIOUS, device)
    why = f"{problem}; " if not previous else ""
    print(f"fastgen: warning: {why}resuming from {run_dir / PREVIOUS} (env step {saved['counters']['env_steps']})",
          file=sys.stderr)
    return saved, run_dir / PREVIOUS


def counters(state) -> dict:
    return {name: getattr(state, name) for name in COUNTERS}


def restore_counters(state, saved: dict) -> None:
    for name in COUNTERS:
        setattr(state, name, saved[name])


def header(state) -> dict:
    """What every algorithm's checkpoint starts with: format, algo, env, config, the settings its
    per-task defaults resolved to, and counters."""
    return {"format": FORMAT, "algo": state.cfg.algo, "env": state.cfg.env, "config": dataclasses.asdict(state.cfg),
            "resolved": state.cfg.resolved(), "counters": counters(state)}


def _foreign_settings(algo: str) -> set[str]:
    """The config sections and top-level options that only other algorithms than ``algo`` read."""
    def owned(name: str) -> set[str]:
        settings = algorithms.settings(name)
        options = dataclasses.fields(settings.OPTIONS) if settings.OPTIONS is not None else ()
        return set(settings.SECTIONS) | {f.name for f in options}

    return set().union(*(owned(name) for name in algorithms.REGISTRY)) - owned(algo)


def read(state, run_dir: Path) -> dict:
    """Load ``run_dir``'s newest readable checkpoint (``read_checkpoint``), refuse it if it belongs to another
    run, restore the counters."""
    saved, _ = read_checkpoint(run_dir, state.device)
    check_compatible(saved, state.cfg)
    restore_counters(state, saved["counters"])
    return saved


def check_compatible(saved: dict, cfg) -> None:
    """One-line ValueError if the checkpoint belongs to another env or an incompatible config."""
    if saved.get("format") != FORMAT:
        raise ValueError(f"checkpoint format {saved.get('format')!r} is not {FORMAT}")
    if saved.get("algo", "poligen") != cfg.algo:
        raise ValueError(f"checkpoint is from algo {saved.get('algo', 'poligen')!r}, not {cfg.algo!r}")
    if saved["env"] != cfg.env:
        raise ValueError(f"checkpoint is from env {saved['env']!r}, not {cfg.env!r}")
    current, now = _flat(dataclasses.asdict(cfg)), cfg.resolved()
    resolved_from = algorithms.settings(cfg.algo).RESOLVED_FROM
    # fields the checkpoint's resolved settings stand for are compared by what they resolved to, below; a field
    # whose default became resolvable after the checkpoint was written is compared with what it resolves to now
    defaulted = {f for key in saved.get("resolved", {}) for f in resolved_from.get(key, ())}
    resolves_to = {fields[0]: key for key, fields in resolved_from.items() if len(fields) == 1}
    others = _foreign_settings(cfg.algo)  # settings this run never reads
    for name, value in _flat(saved["config"]).items():  # settings added since the checkpoint was written pass
        if name.split(".")[0] in others or name in RESUMABLE_CHANGES or name in defaulted or name not in current:
            continue
        resolvable = current[name] is None and value is not None and name in resolves_to
        mine = now[resolves_to[name]] if resolvable else current[name]
        if mine != value:
            raise ValueError(f"--resume with a different {name}: checkpoint has {value!r}, this run {mine!r}")
    for name, value in saved.get("resolved", {}).items():  # a default that changed since the run began
        if name in now and now[name] != value:  # (a key the algorithm no longer resolves: older checkpoints)
            raise ValueError(f"--resume with a different {name} (the defaults changed since this run began): checkpoint "
                             f"has {value!r}, this run {now.get(name)!r}; pass the checkpoint's value explicitly")


def _flat(config: dict, prefix: str = "") -> dict:
    """``{"generator": {"lr": x}}`` -> ``{"generator.lr": x}``."""
    flat = {}
    for name, value in config.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{name}."))
        else:
            flat[prefix + name] = value
    return flat
