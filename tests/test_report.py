"""``python -m fastgen.report RUN_DIR``: a self-contained page (nothing fetched from a network) with the run's
outcome, curves, sweep, videos and settings; opened in headless Chromium where one is installed."""

import re
import shutil
from pathlib import Path

import pytest

from fastgen import render, report, run, sweep
from tests.tiny import TINY


@pytest.fixture(scope="module")
def reported_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    assert run.main([*TINY, "--total-steps", "600", "--out", str(out), "--eval.video", "--eval.video-every", "2"]) == 0
    assert sweep.main([str(out), "--commands", "3", "--episodes", "1"]) == 0
    assert render.main([str(out), "--commands", "10", "100", "--out", str(out / "commands.gif"), "--width", "64",
                        "--height", "48"]) == 0
    assert report.main([str(out)]) == 0
    return out


def test_the_page_holds_everything_inline(reported_run):
    text = (reported_run / "report.html").read_text()
    for heading in ("Outcome", "Learning curves", "Command sweep", "Videos", "Settings"):
        assert f"<h2>{heading}</h2>" in text
    assert "final_return" in text and "&quot;env&quot;: &quot;inverted_pendulum&quot;" in text  # config.json, escaped
    sources = re.findall(r"""src=['"]([^'"]+)['"]""", text)
    assert sources and all(s.startswith("data:image/") or s.startswith("data:video/") for s in sources)
    clips = len(list((reported_run / "videos").glob("eval_*.gif")))
    assert len(sources) == 2 + 1 + clips  # curves, sweep, the render, the clips
    assert "http://" not in text and "https://" not in text and "<link" not in text and "<script" not in text


def test_a_directory_without_a_run_is_one_line(tmp_path, capsys):
    assert report.main([str(tmp_path)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("fastgen.report: error")]
    assert len(lines) == 1 and "no config.json" in lines[0]
    assert not (tmp_path / "report.html").exists()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow  # needs Debian's chromium (not installed by .ci/run) and playwright (pip); run by hand
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine")
def test_the_page_loads_in_chromium_without_errors(reported_run):
    sync_api = pytest.importorskip("playwright.sync_api")
    errors = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: errors.append(f"fetched {request.url}")
                if not request.url.startswith(("file:", "data:")) else None)
        page.goto((reported_run / "report.html").resolve().as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        shot = Path(__file__).resolve().parents[1] / "bench" / "results" / "report" / "report_chromium.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert errors == []
    assert len(images) >= 4 and all(complete and width > 0 for complete, width in images)
