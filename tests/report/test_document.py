"""gradscope report: one folder, atomic, offline HTML checked in a real browser."""

import contextlib
import hashlib
import json
import os
import shutil

import numpy as np
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
        "gradscope-manifest.json",
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


def run_report(out, *extra):
    return CliRunner().invoke(main, ["report", "-o", str(out), *ARGS, *extra])


def snapshot(folder):
    """Every entry below ``folder`` with its bytes (None for a folder): what must not change."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


def test_the_manifest_lists_every_file_with_its_hash(report_dir):
    """Hypothesis: gradscope-manifest.json names each file written, with its SHA-256."""
    manifest = json.loads((report_dir / "gradscope-manifest.json").read_text())
    files = {p.name for p in report_dir.iterdir()} - {"gradscope-manifest.json"}
    assert set(manifest["files"]) == files
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((report_dir / name).read_bytes()).hexdigest() == digest


def test_the_reproduce_line_does_not_add_force(report_dir):
    results = json.loads((report_dir / "results.json").read_text())
    assert results["command"].startswith("gradscope report -o ")
    assert "--force" not in results["command"]


def test_force_never_deletes_a_users_files_or_its_own_input(tmp_path):
    """The reported loss: `report -o d --force --weights d/w.npz` deleted d and all in it."""
    d = tmp_path / "d"
    d.mkdir()
    (d / "thesis.txt").write_text("four years of work")
    rng = np.random.default_rng(0)
    np.savez(d / "w.npz", W_hh=rng.standard_normal((4, 4)) / 4, W_xh=rng.standard_normal((4, 2)))
    before = snapshot(d)
    res = run_report(d, "--force", "--weights", d / "w.npz")
    assert res.exit_code == 2 and "contains the input file" in res.output, res.output
    assert snapshot(d) == before
    (d / "w.npz").rename(tmp_path / "w.npz")
    before = snapshot(d)
    res = run_report(d, "--force", "--weights", tmp_path / "w.npz")
    assert res.exit_code == 2 and "holds no gradscope-manifest.json" in res.output, res.output
    assert snapshot(d) == before and sorted(os.listdir(tmp_path)) == ["d", "w.npz"]


def test_without_force_a_non_empty_folder_is_refused(tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = run_report(out)
    assert res.exit_code == 2 and "not empty" in res.output and "--force" in res.output
    assert os.listdir(out) == ["keep.txt"]


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda d: (d / "notes.txt").write_text("mine"), "notes.txt (not written by gradscope)"),
        (lambda d: (d / "report.md").write_text("edited"), "report.md (changed since"),
        (lambda d: (d / "data").mkdir(), "data/ (a folder)"),
        (lambda d: (d / "link").symlink_to(d / "index.html"), "link (a link)"),
        (lambda d: (d / "gradscope-manifest.json").unlink(), "holds no gradscope-manifest"),
        (lambda d: (d / "gradscope-manifest.json").write_text("[]"), "not a manifest gradscope"),
    ],
)
def test_force_refuses_a_report_folder_holding_anything_else(
    report_dir, tmp_path, tamper, message
):
    """Hypothesis: --force replaces only files the manifest lists whose hashes still match."""
    d = tmp_path / "rep"
    shutil.copytree(report_dir, d, symlinks=True)
    tamper(d)
    before = snapshot(d)
    res = run_report(d, "--force")
    assert res.exit_code == 2 and message in res.output, res.output
    errors = [ln for ln in res.output.strip().splitlines() if ln.startswith("Error")]
    assert "Traceback" not in res.output and len(errors) == 1
    assert snapshot(d) == before and sorted(os.listdir(tmp_path)) == ["rep"]


def test_force_replaces_an_earlier_report(report_dir, tmp_path):
    d = tmp_path / "rep"
    shutil.copytree(report_dir, d)
    (d / "decay.png").unlink()  # a file gradscope wrote may be missing
    res = run_report(d, "--force", "--seed", "1")
    assert res.exit_code == 0, res.output
    assert json.loads((d / "results.json").read_text())["seed"] == 1
    assert sorted(os.listdir(d)) == sorted(os.listdir(report_dir))
    assert sorted(os.listdir(tmp_path)) == ["rep"]  # no old or staging folder left


@pytest.mark.parametrize("where", [".", "..", "parent"])
def test_the_current_folder_and_its_parents_are_refused(tmp_path, monkeypatch, where):
    work = tmp_path / "parent" / "work"
    work.mkdir(parents=True)
    (work / "paper.tex").write_text("mine")
    monkeypatch.chdir(work)
    target = {".": ".", "..": "..", "parent": str(tmp_path / "parent")}[where]
    for flags in ((), ("--force",)):
        res = run_report(target, *flags)
        assert res.exit_code == 2 and "current folder" in res.output, res.output
    assert snapshot(tmp_path) == {
        "parent": None,
        "parent/work": None,
        "parent/work/paper.tex": b"mine",
    }


def test_a_link_to_a_folder_is_refused(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "mine.txt").write_text("mine")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    res = run_report(tmp_path / "link", "--force")
    assert res.exit_code == 2 and "is a link" in res.output
    assert (tmp_path / "real" / "mine.txt").read_text() == "mine"


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


@contextlib.contextmanager
def _browser(tmp_path):
    """A headless Debian chromium driven by selenium, offline, logging console and network."""
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
        yield browser
    finally:
        browser.quit()


def test_report_in_a_real_browser(report_dir, tmp_path):
    """Every image loads, the console is clean, and no request leaves the machine."""
    with _browser(tmp_path) as browser:
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


def test_the_browser_shows_what_results_json_says(report_dir, tmp_path):
    """The page a reader sees agrees with the data: every claim's verdict in the rendered
    claims table is the one in results.json, and the reproducing command is on screen."""
    results = json.loads((report_dir / "results.json").read_text())
    with _browser(tmp_path) as browser:
        browser.get((report_dir / "index.html").as_uri())
        text = browser.execute_script("return document.body.innerText;")
        table = browser.execute_script(
            "const h = Array.from(document.querySelectorAll('h2'))"
            '  .find(e => e.textContent === "The tutorial\'s claims");'
            "let t = h.nextElementSibling; while (t.tagName !== 'TABLE') t = t.nextElementSibling;"
            "return Array.from(t.tBodies[0].rows).map(r => [r.cells[0].innerText, "
            "r.cells[1].innerText]);"
        )
    assert table == [[c["id"], c["verdict"]] for c in results["claims"]]
    assert len(table) == 9
    assert results["command"] in text


def test_the_report_shows_the_papers_claims_as_check_judges_them(report_dir):
    """Hypothesis: the report's papers rows are check_claims(source="papers")'s verdicts."""
    from gradscope.claims import CLAIM_IDS, PAPER_CLAIM_IDS, check_claims

    results = json.loads((report_dir / "results.json").read_text())
    assert [c["id"] for c in results["claims"]] == list(CLAIM_IDS)  # the tutorial's group
    papers = check_claims(budget=60, seed=0, source="papers")
    assert [c["id"] for c in results["paper_claims"]] == list(PAPER_CLAIM_IDS)
    assert [(c["id"], c["verdict"]) for c in results["paper_claims"]] == [
        (c.id, c.verdict) for c in papers
    ]
    md = (report_dir / "report.md").read_text()
    assert "The papers' claims" in md and "The tutorial's claims" in md
    for c in papers:
        assert f"| {c.id} | {c.verdict} |" in md
