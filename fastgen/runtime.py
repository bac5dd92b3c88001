"""Process-wide settings every entry point applies before its work: threads, and how freed memory is kept.

- **Threads.** torch's intra-op pool (OpenMP, MKL) defaults to the machine's core count, not the cores
  this process may run on (``taskset``, a cgroup, a Ray worker's share). Two processes that each spin
  2 OpenMP threads on 2 cores were measured ~5x slower than one: their barriers wait for threads the
  other process holds. ``configure(threads)`` sets the pool to ``threads`` (default: the cores this
  process may run on), so ``taskset -c 0 ... & taskset -c 1 ...`` (or ``--threads 1`` each) splits a
  machine between two runs without oversubscribing it.
- **Freed memory.** An update allocates and frees ~4 MB activations dozens of times; glibc returns
  such blocks to the kernel (mmap/trim), so every new one faults its pages in again (~6,000 page
  faults per hopper generator update, measured). Raising glibc's mmap and trim thresholds keeps
  them in the heap (fastgen's peak memory is unchanged: blocks are reused, not added).
"""

import ctypes
import ctypes.util
import os

import torch

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value; larger blocks (replay buffers) still use mmap
TRIM_THRESHOLD = 256 << 20


MAX_THREADS = 4096
"""More threads than any machine fastgen runs on has cores (a typo, not a setting)."""


BFLOAT16_FLAGS = ("amx_bf16", "avx512_bf16")
"""CPU flags (Linux ``/proc/cpuinfo``) of bfloat16 matrix hardware: Intel AMX, AVX-512 BF16 (Zen 4, Cooper Lake+)."""


def native_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (False where ``cpuinfo`` is unreadable)."""
    flags = set(_cpuinfo_field(cpuinfo, "flags").split())
    return any(flag in flags for flag in BFLOAT16_FLAGS)


def intel_cpu(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU is Intel's (``vendor_id GenuineIntel``; False where ``cpuinfo`` is unreadable)."""
    return _cpuinfo_field(cpuinfo, "vendor_id") == "GenuineIntel"


def _cpuinfo_field(cpuinfo: str, name: str) -> str:
    """The first ``name : value`` line's value in ``cpuinfo`` ("" if absent or unreadable)."""
    try:
        text = open(cpuinfo).read()
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return ""


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    return max(1, len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else max(1, os.cpu_count() or 1)


def configure(threads: int | None = None) -> int:
    """Set torch's threads to ``threads`` (default: ``usable_cores()``) and keep freed memory; -> the thread count."""
    count = threads if threads is not None else usable_cores()
    if not 1 <= count <= MAX_THREADS:
        raise ValueError(f"--threads must be between 1 and {MAX_THREADS}, got {count}")
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    keep_freed_memory()
    return count


def keep_freed_memory() -> bool:
    """Raise glibc's mmap/trim thresholds (no-op elsewhere); -> whether they were set."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
