"""Run a sweep's jobs in this process or as Ray tasks, keeping what finished when some fail.

    results, failures = run_jobs(work, jobs, labels)                     # in this process, in order
    results, failures = run_jobs(work, jobs, labels, ray="local")        # a local Ray cluster
    results, failures = run_jobs(work, jobs, labels, ray="auto")         # the cluster `ray start` began

A job is one call ``work(job)``; Ray schedules them (no scheduler of our own), one task per job
reserving ``cpus_per_job`` CPUs, and the job trains with that many torch threads. ``work`` and the
jobs are pickled to the workers, so the workers must import the modules ``work`` lives in: on a
local cluster the driver's install does (this package is installed editable); on a remote one,
install the repository on every node. What a job writes must go to a filesystem all nodes share.

A local cluster is started by a fresh helper process, not by this one (``local_cluster``): ``ray.init()``
starts Ray's processes with ``subprocess.Popen(preexec_fn=...)``, a fork of this process that runs
Python before ``exec``, and once JAX has run here its threads make that fork unsafe (JAX warns
"os.fork() was called ... will likely lead to a deadlock").

Ray is imported only when ``ray`` is given, so the in-process path works without it.
"""

import contextlib
import json
import math
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from fastgen import extras, runtime

Job = TypeVar("Job")
Result = TypeVar("Result")


def run_jobs(work: Callable[[Job], Result], jobs: Sequence[Job], labels: Sequence[str], ray: str | None = None,
             cpus_per_job: float = 1.0, gpus_per_job: float = 0.0) -> tuple[list[Result | None], list[dict]]:
    """``work(job)`` for every job -> (results in job order, None where the job raised;
    failures ``[{"job": label, "error": one line, "traceback": text}]``). Prints one line per finished job.

    ``ray``: None runs the jobs here one after another; ``"local"`` starts a local Ray cluster
    (``local_cluster()``); anything else is Ray's ``address`` (``"auto"``, ``"ray://host:10001"``). When
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
    ray = extras.require("ray", "--ray")  # only with --ray: the in-process path works without Ray

    started = not ray.is_initialized()
    with contextlib.ExitStack() as stack:
        if started and address == "local":
            stack.enter_context(local_cluster())
        elif started:
            ray.init(address=address)
            stack.callback(ray.shutdown)
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


# The helper that owns a local cluster: it starts Ray, prints the address and its authentication mode,
# then serves until its stdin closes (the ``with`` block's end, or the driver's death) and stops Ray.
_HEAD = """
import json, os, sys
import ray
ray.init(address="local", include_dashboard=False, **json.loads(sys.argv[1]))
print("ray-head", ray.get_runtime_context().gcs_address, os.environ.get("RAY_AUTH_MODE", ""), flush=True)
os.dup2(2, 1)  # nothing more on the pipe the driver stops reading
sys.stdin.read()
ray.shutdown()
"""


@contextlib.contextmanager
def local_cluster(num_cpus: int | None = None, num_gpus: float | None = None) -> Iterator[str]:
    """A fresh local Ray cluster with this process connected as its driver, for the ``with`` block -> its address.

    ``num_cpus``/``num_gpus``: the resources Ray may schedule (default: what Ray detects). The cluster is
    started by a new interpreter (a plain fork and exec, with no Python run in between), so its start is
    safe in a process where JAX's threads already run; it stops at the end of the block, or when this
    process dies (the helper sees its stdin close).
    """
    ray = extras.require("ray", "a local Ray cluster")
    resources = {name: value for name, value in (("num_cpus", num_cpus), ("num_gpus", num_gpus)) if value is not None}
    head = subprocess.Popen([sys.executable, "-c", _HEAD, json.dumps(resources)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        for line in head.stdout:  # the helper's line, or the end of its output if it failed
            if line.startswith("ray-head "):
                break
        else:
            raise RuntimeError(f"the Ray head process exited (code {head.wait()}) before its cluster was up; "
                               "its error is above")
        _, address, *auth_mode = line.split()
        if auth_mode and os.environ.get("RAY_AUTH_MODE") != auth_mode[0]:
            # Authenticate as the cluster expects: ray.init() sets this itself for a cluster it starts, and
            # re-reads Ray's cached settings the same way (ray/_private/authentication, Ray 2.60).
            os.environ["RAY_AUTH_MODE"] = auth_mode[0]
            ray._raylet.Config.initialize("")
        ray.init(address=address)
        try:
            yield address
        finally:
            ray.shutdown()
    finally:
        head.stdin.close()
        head.stdout.close()
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()


def _in_worker(work: Callable[[Job], Result], job: Job, threads: int, gpus: bool) -> tuple[Result, float]:
    """One job on a Ray worker with ``threads`` torch/OpenMP threads -> (its result, seconds it took).
    Without a GPU share the job is shown no GPU (Ray 2.60 leaves ``CUDA_VISIBLE_DEVICES`` unset then)."""
    if not gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    runtime.configure(threads)
    start = time.perf_counter()
    return work(job), time.perf_counter() - start


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")
