"""Run a sweep's jobs in this process or as Ray tasks, keeping what finished when some fail.

    results, failures = run_jobs(work, jobs, labels)                     # in this process, in order
    results, failures = run_jobs(work, jobs, labels, ray="local")        # a local Ray cluster
    results, failures = run_jobs(work, jobs, labels, ray="auto")         # the cluster `ray start` began

A job is one call ``work(job)``; Ray schedules them (no scheduler of our own), one task per job
reserving ``cpus_per_job`` CPUs, and the job trains with that many torch threads. ``work`` and the
jobs are pickled to the workers, so the workers must import the modules ``work`` lives in: on a
local cluster the driver's install does (this package is installed editable); on a remote one,
install the repository on every node. What a job writes must go to a filesystem all nodes share.

Ray is imported only when ``ray`` is given, so the in-process path works without it.
"""

import math
import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import torch

Job = TypeVar("Job")
Result = TypeVar("Result")


def run_jobs(work: Callable[[Job], Result], jobs: Sequence[Job], labels: Sequence[str], ray: str | None = None,
             cpus_per_job: float = 1.0, gpus_per_job: float = 0.0) -> tuple[list[Result | None], list[dict]]:
    """``work(job)`` for every job -> (results in job order, None where the job raised;
    failures ``[{"job": label, "error": one line, "traceback": text}]``). Prints one line per finished job.

    ``ray``: None runs the jobs here one after another; ``"local"`` starts a local Ray cluster
    (``ray.init()``); anything else is Ray's ``address`` (``"auto"``, ``"ray://host:10001"``). When
    this process is already connected to Ray (``ray.is_initialized()``), that connection is used.
    ``gpus_per_job`` (Ray only) may be a fraction, so several jobs share one GPU; with 0 the job is
    shown no GPU (``CUDA_VISIBLE_DEVICES`` empty) and runs on the CPU.
    """
    if len(labels) != len(jobs):
        raise ValueError(f"{len(jobs)} jobs but {len(labels)} labels")
    results: list[Result | None] = [None] * len(jobs)
    failures = []
    finished = _in_process(work, jobs) if ray is None else _on_ray(work, jobs, ray, cpus_per_job, gpus_per_job)
    for count, (index, result, seconds, error, trace) in enumerate(finished, 1):
        head = f"[{count}/{len(jobs)}] {labels[index]}"
        if error is None:
            results[index] = result
            print(f"{head}: done in {seconds:.0f} s", flush=True)
        else:
            failures.append({"job": labels[index], "error": _one_line(error), "traceback": trace})
            print(f"{head}: FAILED: {_one_line(error)}", flush=True)
    return results, failures


# What a finished job yields: (index, result or None, seconds, exception or None, traceback text).
Finished = tuple[int, object, float, BaseException | None, str]


def _in_process(work: Callable[[Job], Result], jobs: Sequence[Job]) -> Iterator[Finished]:
    for index, job in enumerate(jobs):
        start = time.perf_counter()
        try:
            result = work(job)
        except Exception as error:  # a failed job must not lose the others
            yield index, None, time.perf_counter() - start, error, traceback.format_exc()
        else:
            yield index, result, time.perf_counter() - start, None, ""


def _on_ray(work: Callable[[Job], Result], jobs: Sequence[Job], address: str, cpus_per_job: float,
            gpus_per_job: float) -> Iterator[Finished]:
    """The jobs as Ray tasks, yielded as they finish."""
    import ray  # only with --ray: the in-process path works without Ray

    started = not ray.is_initialized()
    if started and address == "local":
        ray.init()
    elif started:
        ray.init(address=address)
    try:
        task = ray.remote(_in_worker).options(num_cpus=cpus_per_job, num_gpus=gpus_per_job)
        threads = max(1, math.floor(cpus_per_job))
        pending = {task.remote(work, job, threads, gpus_per_job > 0): index for index, job in enumerate(jobs)}
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ref)
            try:
                result, seconds = ray.get(ref)
            except Exception as error:  # RayTaskError: its cause is the job's own exception
                yield index, None, 0.0, getattr(error, "cause", None) or error, str(error)
            else:
                yield index, result, seconds, None, ""
    finally:
        if started:
            ray.shutdown()


def _in_worker(work: Callable[[Job], Result], job: Job, threads: int, gpus: bool) -> tuple[Result, float]:
    """One job on a Ray worker with ``threads`` torch/OpenMP threads -> (its result, seconds it took).
    Without a GPU share the job is shown no GPU (Ray 2.60 leaves ``CUDA_VISIBLE_DEVICES`` unset then)."""
    if not gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    start = time.perf_counter()
    return work(job), time.perf_counter() - start


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")
