"""``bench.paper --ray``: jobs as Ray tasks on a local cluster give the in-process table, resume
without retraining, and a failing job is reported without losing the others."""

import contextlib
import dataclasses
import json
import os
import warnings

import jax
import pytest
import torch

from bench import cluster as cluster_jobs
from bench import paper


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of 2 CPUs (and one declared GPU, a resource Ray only counts) for this module;
    ``paper.main`` uses the connection it finds. Started after JAX has run here, as in a full test run;
    -> the warnings its start raised."""
    jax.devices()  # JAX's threads run from here on: forking this process is now unsafe
    with contextlib.ExitStack() as stack:
        with warnings.catch_warnings(record=True) as raised:
            warnings.simplefilter("always")
            stack.enter_context(cluster_jobs.local_cluster(num_cpus=2, num_gpus=1))
        yield [str(w.message) for w in raised]


def test_the_cluster_starts_without_forking_this_process(cluster):
    assert not [message for message in cluster if "os.fork()" in message]


def sweep(root, **changes) -> paper.Settings:
    """mountain_car, PoliGen and its drive-0 ablation, seeds 0 and 1 at 1000 steps: one job per seed."""
    return paper.Settings(**{"variants": ("poligen", "poligen-drive-0"), "tasks": ("mountain_car",), "seeds": (0, 1),
                             "total_steps": 1000, "seeds_per_job": 1, "runs_dir": str(root / "runs"),
                             "results_dir": str(root / "results"), "bootstrap": 50, **changes})


def in_process(settings: paper.Settings) -> dict:
    """``paper.main`` here with the one torch thread and the one cpu-engine thread a Ray job of 1 CPU trains
    with (an evaluation's 10 episodes of one policy split over 2 threads round differently, ~1e-8)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return paper.main(dataclasses.replace(settings, threads=1))
    finally:
        torch.set_num_threads(threads)


def timeless(rows: list[dict]) -> list[dict]:
    """Table rows less the wall clock, the one column two identical sweeps may differ in."""
    return [{k: v for k, v in row.items() if k != "wall_s_per_run"} for row in rows]


def test_jobs_split_seeds_into_groups(tmp_path):
    settings = sweep(tmp_path, seeds=(0, 1, 2), seeds_per_job=2)
    assert [(task, variant, [cfg.seed for cfg in configs]) for task, variant, configs in paper.jobs(settings)] == [
        ("mountain_car", "poligen", [0, 1]), ("mountain_car", "poligen", [2]),
        ("mountain_car", "poligen-drive-0", [0, 1]), ("mountain_car", "poligen-drive-0", [2])]
    assert [len(configs) for *_, configs in paper.jobs(sweep(tmp_path, seeds_per_job=None))] == [2, 2]


@pytest.mark.slow  # ~19 s; by default test_jobs_reserve_gpu_shares checks Ray's jobs, test_paper.py the sweep
def test_ray_sweep_matches_in_process_and_resumes_without_training(cluster, tmp_path, capsys):
    on_ray = paper.main(sweep(tmp_path / "ray", ray="local", variants=("poligen",)))
    out = capsys.readouterr().out
    assert sorted(line.split(": done")[0].split("] ")[1] for line in out.splitlines() if ": done in" in line) == [
        "mountain_car poligen seeds 0", "mountain_car poligen seeds 1"]
    runs = sorted((tmp_path / "ray" / "runs").iterdir())
    assert [run.name for run in runs] == ["mountain_car-P1-seed0", "mountain_car-P1-seed1"]
    for run in runs:
        assert json.loads((run / "summary.json").read_text())["env_steps"] >= 1000
        assert (run / "metrics.jsonl").read_text().count("\n") >= 2

    # the cpu engine's threads as in a 1-CPU Ray job
    here = in_process(sweep(tmp_path / "here", threads=1, variants=("poligen",)))
    # equal up to float32 round-off: MKL's products may round differently in another process (its kernels
    # depend on memory alignment unless bitwise reproducibility is forced), measured ~1e-8 on an AMD EPYC
    ray_rows, here_rows = timeless(on_ray["table"]), timeless(here["table"])
    assert [sorted(r) for r in ray_rows] == [sorted(r) for r in here_rows]
    for a, b in zip(ray_rows, here_rows):
        for key in a:
            assert a[key] == (pytest.approx(b[key], rel=1e-6) if isinstance(b[key], float) else b[key]), key
    assert [(r["variant"], r["seed"]) for r in on_ray["runs"]] == [(r["variant"], r["seed"]) for r in here["runs"]]
    for a, b in zip(on_ray["runs"], here["runs"]):  # every evaluation, not only the final means
        assert [row["eval/return"] for row in a["curve"]] == pytest.approx([row["eval/return"] for row in b["curve"]],
                                                                           rel=1e-6)

    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "ray" / "runs").rglob("*") if p.is_file()}
    assert sum(p.name == "checkpoint.pt" for p in stamps) == 2
    # every run is done: nothing is trained or written
    again = paper.main(sweep(tmp_path / "ray", ray="local", variants=("poligen",)))
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert again["table"] == on_ray["table"] and again["failures"] == []


def test_a_failing_job_is_reported_and_the_others_kept(cluster, tmp_path, monkeypatch, capsys):
    # an invalid config (no evaluation episodes) that raises inside run_group, on the Ray worker
    monkeypatch.setitem(paper.VARIANTS, "broken", ("poligen", {"eval.episodes": 0}))
    settings = sweep(tmp_path, variants=("poligen", "broken"), seeds=(0,), ray="local")
    with pytest.raises(SystemExit, match=r"1 of 2 jobs failed \(mountain_car broken seeds 0\)"):
        paper.main(settings)
    out = capsys.readouterr().out
    assert "mountain_car broken seeds 0: FAILED: ValueError: --eval.episodes must be >= 1" in out
    assert "mountain_car poligen seeds 0: done in" in out
    assert (tmp_path / "runs" / "mountain_car-P1-seed0" / "summary.json").exists()
    written = json.loads((tmp_path / "results" / "paper_custom_mountain_car.json").read_text())
    assert [row["variant"] for row in written["table"]] == ["poligen"]
    assert [f["job"] for f in written["failures"]] == ["mountain_car broken seeds 0"]
    assert "--eval.episodes must be >= 1" in written["failures"][0]["traceback"]
    md = (tmp_path / "results" / "paper_custom_mountain_car.md").read_text()
    assert md.count("| mountain_car | poligen |") == 1


def _visible_gpus(_job) -> str:
    return os.environ.get("CUDA_VISIBLE_DEVICES", "unset")


def test_jobs_reserve_gpu_shares(cluster):
    """Two jobs of half a GPU each share GPU 0; a job without GPUs is shown none."""
    shared, failures = cluster_jobs.run_jobs(_visible_gpus, [1, 2], ["a", "b"], ray="local", gpus_per_job=0.5)
    assert failures == [] and shared == ["0", "0"]
    none, _ = cluster_jobs.run_jobs(_visible_gpus, [1], ["c"], ray="local")
    assert none == [""]
