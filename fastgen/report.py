"""``python -m fastgen.report RUN_DIR``: one self-contained page per run, ``RUN_DIR/report.html``.

The page needs no network: every image is inlined. It shows the run's outcome (``summary.json``), its settings
(``config.json``), learning curves of the evaluation return (and the best training return) against env steps
and against wall clock, the command sweep and policy atlas where ``fastgen.sweep`` / ``fastgen.atlas`` made them,
and the videos: GIF and MP4 renders in the run directory (``fastgen.render --out RUN_DIR/...``) and the clips of
``--eval.video`` (the latest ``--clips``). ``index(pages, out)`` writes a page linking several runs' reports
(``bench.paper --report``).
"""

import base64
import html
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import tyro

from fastgen import extras, runtime
from fastgen.errors import RunDirError
from fastgen.runs.rundir import read_metrics


@dataclass
class ReportConfig:
    run_dir: tyro.conf.Positional[str]
    """A run directory (any algorithm)."""
    clips: int = 6
    """How many of the latest --eval.video clips to show."""


STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left;border-bottom:1px solid #eee}
img,video{max-width:100%;margin:4px 0}figure{display:inline-block;margin:4px 8px 4px 0}
figcaption{font-size:.85em;color:#555}pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:.85em}"""


def _data_uri(path_or_bytes, mime: str) -> str:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _curves_png(rows: list[dict], title: str) -> bytes | None:
    """Evaluation return (and best training return) against env steps and wall clock, as PNG bytes."""
    if not rows:
        return None
    plt = extras.pyplot("fastgen.report")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax, key, label in zip(axes, ("env_steps", "wall_s"), ("env steps", "wall-clock seconds")):
        xs = [r[key] for r in rows]
        ax.plot(xs, [r["eval/return"] for r in rows], marker=".", label="evaluation return")
        best = [(r[key], r["train/best_return"]) for r in rows if r.get("train/best_return") is not None]
        if best:
            ax.plot(*zip(*best), linestyle="--", label="best training return")
        ax.set_xlabel(label)
        ax.set_ylabel("return")
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def _table(pairs) -> str:
    return "<table>" + "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                               for k, v in pairs) + "</table>"


def _media(path: Path, caption: str) -> str:
    if path.suffix.lower() == ".mp4":
        body = f'<video controls loop muted src="{_data_uri(path, "video/mp4")}"></video>'
    else:
        body = f'<img alt="{html.escape(caption)}" src="{_data_uri(path, "image/gif")}">'
    return f"<figure>{body}<figcaption>{html.escape(caption)}</figcaption></figure>"


def page(run_dir: Path, clips: int = 6) -> str:
    """The HTML of ``run_dir``'s report."""
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise RunDirError(f"{run_dir} is not a run directory: no config.json")
    config = json.loads(config_path.read_text())
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    rows = read_metrics(run_dir) if (run_dir / "metrics.jsonl").exists() else []
    title = f"{config.get('algo', 'poligen')} on {config['env']}, seed {config.get('seed')}"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
             f"<p>{html.escape(str(run_dir.resolve()))}</p>"]
    outcome = [(k, summary[k]) for k in ("finished", "env_steps", "wall_s", "final_return", "max_eval_return",
                                          "best_train_return", "evaluations") if k in summary]
    parts.append("<h2>Outcome</h2>" + (_table(outcome) if outcome else "<p>No summary.json yet: the run has not "
                                                                         "written its first evaluation.</p>"))
    curves = _curves_png(rows, title)
    if curves is not None:
        parts.append(f"<h2>Learning curves</h2><img alt='learning curves' src='{_data_uri(curves, 'image/png')}'>")
    for name, heading in (("sweep", "Command sweep"), ("atlas", "Policy atlas")):
        if (run_dir / f"{name}.png").exists():
            parts.append(f"<h2>{heading}</h2><img alt='{name}' src='{_data_uri(run_dir / f'{name}.png', 'image/png')}'>")
    renders = sorted(p for p in run_dir.iterdir() if p.suffix.lower() in (".gif", ".mp4") and not p.name.startswith("."))
    latest = sorted((run_dir / "videos").glob("eval_*.gif"))[-clips:] if (run_dir / "videos").is_dir() else []
    if renders or latest:
        parts.append("<h2>Videos</h2>" + "".join(_media(p, p.name) for p in renders)
                     + "".join(_media(p, f"evaluation at {int(p.stem.split('_')[1]):,} env steps") for p in latest))
    parts.append("<h2>Settings</h2><details><summary>config.json</summary><pre>"
                 f"{html.escape(json.dumps(config, indent=2))}</pre></details></body></html>")
    return "".join(parts)


def write(run_dir: Path, clips: int = 6) -> Path:
    """``run_dir/report.html``, written atomically."""
    text = page(run_dir, clips)
    out = run_dir / "report.html"
    tmp = run_dir / ".report.html.tmp"
    tmp.write_text(text)
    tmp.replace(out)
    return out


def index(pages: list[tuple[str, Path]], out: Path, title: str) -> Path:
    """A page linking ``pages`` (label, report.html path), relative to ``out``'s folder."""
    links = "".join(f"<li><a href='{html.escape(str(_relative(path, out.parent)))}'>{html.escape(label)}</a></li>"
                    for label, path in pages)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                   f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><ul>{links}</ul></body></html>")
    return out


def _relative(path: Path, base: Path) -> Path:
    try:
        return path.resolve().relative_to(base.resolve())
    except ValueError:
        return path.resolve()


def main(argv: list[str] | None = None) -> int:
    cfg = tyro.cli(ReportConfig, args=argv, description=__doc__.splitlines()[0])
    runtime.configure()
    try:
        out = write(Path(cfg.run_dir), cfg.clips)
    except (RunDirError, ValueError) as error:
        print(f"fastgen.report: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
