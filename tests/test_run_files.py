"""Files that can fail: an unwritable --out, two processes on one --out, a truncated checkpoint or buffer chunk,
a full disk during a save. Each is one line, before any work or without losing the last good checkpoint."""

import errno
import json
import os
import subprocess
import sys

import pytest
import torch

from fastgen import run
from fastgen.runs import checkpoint
from fastgen.runs.rundir import run_dir_lock
from tests.tiny import TINY


def _main(args, capsys) -> tuple[int, list[str]]:
    threads = torch.get_num_threads()
    try:
        code = run.main(args)
    finally:
        torch.set_num_threads(threads)
    return code, [line for line in capsys.readouterr().err.splitlines() if line.startswith("fastgen")]


def _metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished tiny run with checkpoint.pt and checkpoint.prev.pt (evaluations at 0, 200, 400)."""
    out = tmp_path_factory.mktemp("files") / "run"
    threads = torch.get_num_threads()
    try:
        assert run.main([*TINY, "--total-steps", "400", "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


def _copy(src, dst):
    subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
    return dst


@pytest.mark.parametrize("out, reason", [("/proc/forbidden/x", "No such file or directory"), ("file/run", "")])
def test_an_unwritable_out_is_one_line_before_any_work(tmp_path, capsys, out, reason):
    (tmp_path / "file").write_text("")
    out = out if out.startswith("/") else str(tmp_path / out)
    code, lines = _main([*TINY, "--out", out], capsys)
    assert code == 2 and len(lines) == 1 and f"--out {out}: cannot write there ({reason}" in lines[0], lines


def test_a_second_process_on_the_same_out_is_refused_and_a_killed_one_leaves_no_lock(tmp_path, capsys):
    out = tmp_path / "run"
    with run_dir_lock(out):
        code, lines = _main([*TINY, "--total-steps", "200", "--out", str(out)], capsys)
    assert code == 2 and lines == [f"fastgen.run: error: --out {out} is in use by another fastgen process "
                                   f"(pid {os.getpid()}); wait for it to end or choose another --out"]
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from fastgen.runs.rundir import run_dir_lock\n"
                               "with run_dir_lock(sys.argv[1]): print('held', flush=True); time.sleep(600)", str(out)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(ValueError, match="in use by another fastgen process"):
        with run_dir_lock(out):
            pass
    holder.kill()
    holder.wait()
    with run_dir_lock(out):  # the operating system released the killed process's lock
        pass


def test_every_save_keeps_the_previous_checkpoint(trained):
    now = torch.load(trained / "checkpoint.pt", weights_only=False)["counters"]
    before = torch.load(trained / "checkpoint.prev.pt", weights_only=False)["counters"]
    assert now["evaluations"] == before["evaluations"] + 1 and now["env_steps"] > before["env_steps"]
    chunks = torch.load(trained / "checkpoint.prev.pt", weights_only=False)["buffer"]["chunks"]
    assert all((trained / "buffer" / f"{a}-{b}.pt").exists() for a, b in chunks)


@pytest.mark.parametrize("damage", ["checkpoint", "newest chunk"])
def test_a_truncated_file_falls_back_to_the_previous_checkpoint(trained, tmp_path, capsys, damage):
    out = _copy(trained, tmp_path / "run")
    chunks = torch.load(out / "checkpoint.pt", weights_only=False)["buffer"]["chunks"]
    path = out / "checkpoint.pt" if damage == "checkpoint" else out / "buffer" / "{}-{}.pt".format(*chunks[-1])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    previous = torch.load(out / "checkpoint.prev.pt", weights_only=False)["counters"]
    rows = _metrics(out)
    code, lines = _main([*TINY, "--total-steps", "800", "--out", str(out), "--resume"], capsys)
    assert code == 0, lines
    assert any(f"{path} is unreadable" in line for line in lines), lines
    assert any(line.startswith("fastgen: warning: ") and line.endswith(
        f"resuming from {out / 'checkpoint.prev.pt'} (env step {previous['env_steps']})") for line in lines), lines
    resumed = _metrics(out)
    assert resumed[: previous["evaluations"]] == rows[: previous["evaluations"]]
    assert resumed[-1]["env_steps"] >= 800


def test_both_checkpoints_unreadable_is_one_line_naming_the_file(trained, tmp_path, capsys):
    out = _copy(trained, tmp_path / "run")
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        (out / name).write_bytes(b"not a checkpoint")
    code, lines = _main([*TINY, "--total-steps", "800", "--out", str(out), "--resume"], capsys)
    assert code == 2 and len([line for line in lines if "error" in line]) == 1
    assert f"{out / 'checkpoint.prev.pt'} is unreadable" in lines[-1]


def test_a_full_disk_during_a_save_keeps_the_last_checkpoint(trained, tmp_path, capsys, monkeypatch):
    out = _copy(trained, tmp_path / "run")
    before = {name: (out / name).read_bytes() for name in ("checkpoint.pt", "checkpoint.prev.pt")}

    def full_disk(obj, path, *args, **kwargs):
        with open(path, "wb") as handle:  # a partial file, as a real full disk leaves
            handle.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    code, lines = _main([*TINY, "--total-steps", "800", "--out", str(out), "--resume"], capsys)
    assert code == 2 and len(lines) == 1 and "No space left on device" in lines[0], lines
    assert "nothing was written" in lines[0] or "is intact" in lines[0]
    assert {name: (out / name).read_bytes() for name in before} == before
    assert not list(out.rglob("*.tmp"))
    monkeypatch.undo()
    code, lines = _main([*TINY, "--total-steps", "800", "--out", str(out), "--resume"], capsys)
    assert code == 0 and _metrics(out)[-1]["env_steps"] >= 800, lines


@pytest.mark.parametrize("case", ["empty", "file", "source tree"])
def test_an_out_that_is_not_a_run_directory_is_one_line_and_nothing_is_written(tmp_path, capsys, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\n")  # the working directory is a clone's root
    (tmp_path / "a_file").write_text("keep")
    out = {"empty": "", "file": str(tmp_path / "a_file"), "source tree": "."}[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    code, lines = _main([*TINY, "--total-steps", "200", "--out", out], capsys)
    expected = {"empty": "names no directory", "file": "is a file, not a directory", "source tree": "is a source tree"}
    assert code == 2 and len(lines) == 1 and expected[case] in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == before and (tmp_path / "a_file").read_text() == "keep"


@pytest.fixture
def small_filesystem(tmp_path):
    """A real tmpfs of ``size`` KiB mounted under tmp_path (root only; skipped, with the reason, elsewhere)."""
    mounts = []

    def mount(size_kib: int):
        point = tmp_path / f"fs{len(mounts)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a size-limited tmpfs here: {done.stderr.strip() or done.returncode}")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_real_full_disk_is_one_line_and_the_previous_checkpoint_still_resumes(trained, tmp_path, capsys,
                                                                                small_filesystem):
    used_kib = int(subprocess.run(["du", "-sk", str(trained)], capture_output=True, text=True, check=True)
                   .stdout.split()[0])
    out = _copy(trained, small_filesystem(used_kib + 256) / "run")  # room for the files, not for the next save
    code, lines = _main([*TINY, "--total-steps", "800", "--out", str(out), "--resume"], capsys)
    assert code in (1, 2) and len(lines) == 1, lines
    assert "full disk" in lines[0] or "No space left on device" in lines[0], lines
    assert "Traceback" not in capsys.readouterr().err
    rescued = _copy(out, tmp_path / "rescued")
    for lock in rescued.rglob(".lock"):
        lock.unlink()
    code, lines = _main([*TINY, "--total-steps", "800", "--out", str(rescued), "--resume"], capsys)
    assert code == 0 and _metrics(rescued)[-1]["env_steps"] >= 800, lines
