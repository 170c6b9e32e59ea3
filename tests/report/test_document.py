"""gradscope report: one folder, atomic, offline HTML checked in a real browser."""

import json
import os
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from gradscope.cli import main

ARGS = ["--budget", "60", "--T", "40", "--hidden", "8", "--seeds", "2"]


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("r") / "report"
    res = CliRunner().invoke(main, ["report", "-o", str(out), *ARGS])
    assert res.exit_code == 0, res.output
    return out


def test_report_contents(report_dir):
    names = sorted(p.name for p in report_dir.iterdir())
    assert names == [
        "claims.png",
        "decay.png",
        "eigenvalues.png",
        "index.html",
        "lyapunov.png",
        "report.md",
        "results.json",
        "spectrum.png",
    ]
    results = json.loads((report_dir / "results.json").read_text())
    assert results["bound"]["settings"]["T"] == 40
    assert len(results["claims"]) == 9
    html = (report_dir / "index.html").read_text()
    assert "http://" not in html and "https://" not in html  # offline: nothing fetched
    md = (report_dir / "report.md").read_text()
    assert results["command"] in md  # the exact command that reproduces it
    assert "--force" in results["command"]


def test_refuses_a_non_empty_folder_and_force_replaces(tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = CliRunner().invoke(main, ["report", "-o", str(out), *ARGS])
    assert res.exit_code == 1 and "not empty" in res.output
    assert os.listdir(out) == ["keep.txt"]
    res = CliRunner().invoke(main, ["report", "-o", str(out), "--force", *ARGS])
    assert res.exit_code == 0
    assert "keep.txt" not in os.listdir(out) and "index.html" in os.listdir(out)


def test_a_failed_run_leaves_nothing(tmp_path, monkeypatch):
    import gradscope.report.figures as figures

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(figures, "plot_claims", boom)
    out = tmp_path / "rep"
    with pytest.raises(RuntimeError):
        CliRunner().invoke(main, ["report", "-o", str(out), *ARGS], catch_exceptions=False)
    assert os.listdir(tmp_path) == []  # neither the report nor a temporary folder


def _chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_report_in_a_real_browser(report_dir, tmp_path):
    """Every image loads, the console is clean, and no request leaves the machine."""
    chromium, driver = _chromium(), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    browser = webdriver.Chrome(service=Service(driver), options=options)
    try:
        browser.set_window_size(1200, 2400)
        browser.get((report_dir / "index.html").as_uri())
        widths = browser.execute_script(
            "return Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth]);"
        )
        assert len(widths) == 5
        for src, complete, width in widths:
            assert complete and width > 0, src
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        requests = []
        for entry in browser.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                requests.append(message["params"]["request"]["url"])
        leaving = [
            u for u in requests if u.split(":", 1)[0] in ("http", "https", "ws", "wss", "ftp")
        ]
        assert leaving == []
        assert sum(u.startswith("file://") and u.endswith(".png") for u in requests) == 5
        shot = report_dir.parent / "report.png"
        browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        browser.quit()


def test_chromium_runs_headless_here_when_installed():
    """If CI installed chromium, it must actually start (guards against a silent skip)."""
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium is not installed")
    out = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Chromium" in out.stdout
