"""Real-browser journey: Streamlit served on 127.0.0.1, driven by Playwright in Debian Chromium.

Dataset text carrying script/markdown/HTML payloads is imported and every page is viewed: no dialog may
open, no script may run, and no request may reach the recording server the payloads point at.
"""
from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from core.importer import import_paths
from core.store import Store

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("SIFT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(ws: Path, env: dict | None = None):
    """`streamlit run app.py` on 127.0.0.1 (headless, no usage statistics) over the workspace ws.
    Yields (url, port, pid); stops the server on exit. Used by the browser tests and bench/map_paint.py."""
    port = _free_port()
    env = dict(os.environ, SIFT_WORKSPACE=str(ws), HF_HUB_OFFLINE="1", **(env or {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            proc.kill()
            raise RuntimeError("streamlit did not start: " + proc.stdout.read().decode(errors="replace")[-2000:])
        yield url, port, proc.pid
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


def launch_chromium(playwright):
    """Debian's Chromium through Playwright (never a downloaded browser); WebGL runs on SwiftShader."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


def require_chromium():
    """Skip (fail on CI) when Debian's Chromium is not installed."""
    if not Path(CHROMIUM).exists():
        msg = f"{CHROMIUM} not found: the README test command installs Debian chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(msg)  # CI must run the browser journey
        pytest.skip(msg)


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list = []

    def do_GET(self):  # noqa: N802
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *a):
        pass


def payloads(port: int) -> list[str]:
    u = f"http://127.0.0.1:{port}"
    return [
        f"<script>fetch('{u}/script');alert('xss')</script>",
        f"<img src=x onerror=\"fetch('{u}/onerror');alert(1)\">",
        f"![tracker]({u}/markdown-image.png)",
        "[click me](javascript:alert(document.cookie))",
        f"<iframe src=\"{u}/iframe\"></iframe>",
        f"<svg onload=\"fetch('{u}/svg')\"><circle r=5 /></svg>",
        f"<style>@import url('{u}/css');body{{background:url('{u}/bg')}}</style>",
        f"<a href=\"{u}/link\" onmouseover=\"alert(2)\">hover</a>",
        f"<object data=\"{u}/object\"></object><embed src=\"{u}/embed\">",
        f"<link rel=stylesheet href=\"{u}/link.css\"><meta http-equiv=refresh content=\"0;url={u}/meta\">",
        "<video><source onerror=\"alert(3)\"></video><body onload=alert(4)>",
        f"\"><script src=\"{u}/src.js\"></script>",
    ]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    require_chromium()
    rec_port = _free_port()
    rec = http.server.ThreadingHTTPServer(("127.0.0.1", rec_port), _Recorder)
    threading.Thread(target=rec.serve_forever, daemon=True).start()
    ws = tmp_path_factory.mktemp("ws")
    src = ws / "hostile.jsonl"
    with open(src, "w", encoding="utf-8") as f:
        for i, p in enumerate(payloads(rec_port)):
            f.write(json.dumps({"instruction": f"payload {i}: {p}", "input": p, "output": f"reply {i} {p}",
                                "system": p, "tag": p}) + "\n")
        f.write(json.dumps({"messages": "not a list"}) + "\n")  # one quarantined row
    store = Store(ws)
    res = import_paths(store, [str(src)], name="hostile")
    assert res.rows == len(payloads(rec_port)) and res.quarantined == 1
    # the payloads also become tags, cluster names and keywords, so the Map, Clusters and Tags pages show them
    from core import tagging
    tagging.tag_import(store, "tag")
    ids = store.select_inputs(None)["id"]
    pl = payloads(rec_port)
    store.set_step_columns(ids, {"x": [float(i % 4) for i in range(len(ids))], "y": [float(i // 4) for i in
                                                                                    range(len(ids))],
                                 "cluster": [int(i % 2) for i in range(len(ids))],
                                 "cluster_label": [pl[i % 2] for i in range(len(ids))]})
    store.set_clusters([{"cluster": c, "label": pl[c], "size": int((len(ids) + 1 - c) // 2), "keywords": [pl[c + 2]],
                         "reps": [int(ids[c])]} for c in (0, 1)])
    store.close()
    with serve_app(ws) as (url, port, pid):
        yield {"url": url, "port": port, "rec_port": rec_port, "pid": pid, "ws": ws}
    rec.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def _open(browser, url: str):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    events = {"dialogs": [], "errors": []}
    page.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: events["errors"].append(str(e)))
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("[data-testid='stApp']", timeout=30_000)
    _settle(page)
    return ctx, page, events


def _settle(page, timeout=30):
    """Wait until Streamlit has finished running the script (no 'running' status widget)."""
    end = time.time() + timeout
    time.sleep(0.5)
    while time.time() < end:
        if page.locator("[data-testid='stStatusWidget']").count() == 0:
            return
        time.sleep(0.3)


def test_binds_loopback_only(served):
    out = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout if shutil.which("ss") else ""
    lines = [ln for ln in out.splitlines() if f":{served['port']} " in ln]
    if lines:
        assert all("127.0.0.1:" in ln for ln in lines), lines
    with pytest.raises(OSError):  # not reachable on another local address
        addrs = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)} - {"127.0.0.1"}
        if not addrs:
            raise OSError("no other address")
        socket.create_connection((addrs.pop(), served["port"]), timeout=1)


# /browse first: a deep link opened on a fresh server must still come up inside the router (top nav)
@pytest.mark.parametrize("path,expect", [("browse", "12 rows"), ("", "12 rows"), ("plots", "12 rows"),
                                         ("export", "12 rows"), ("map", "12 rows"), ("clusters", "12 rows"),
                                         ("tags", "12 rows"), ("curate", "12 rows")])
def test_pages_render_payloads_as_text(served, browser, path, expect):
    ctx, page, events = _open(browser, f"{served['url']}/{path}")
    try:
        try:
            page.wait_for_function("document.body.innerText.includes(%s)" % json.dumps(expect), timeout=30_000)
        except Exception:
            page.screenshot(path=str(ROOT / ".pytest_cache" / f"browser-{path or 'home'}.png"))
            pytest.fail(f"{expect!r} never shown on /{path}; page text: {page.inner_text('body')[:1500]!r}")
        body = page.inner_text("body")
        for title in ("Datasets", "Browse", "Plots", "Export"):  # the router's navigation is there
            assert title in body, title
        assert "_ui" not in body and "_detail" not in body  # helper modules never listed as pages
        assert "Traceback" not in body and "Error" not in body.split("\n")[0]
        # payload tags never become live DOM elements
        for sel in ["script[src*='127.0.0.1']", "iframe[src*='127.0.0.1']", "img[src*='127.0.0.1']",
                    "object", "embed", "svg[onload]", "a[href^='javascript:']"]:
            assert page.locator(sel).count() == 0, sel
        time.sleep(1.0)
        assert events["dialogs"] == [], events["dialogs"]
        assert _Recorder.hits == [], _Recorder.hits
    finally:
        ctx.close()


def _nav(page, title: str):
    """Client-side navigation through the router's top bar (keeps the session, like a user's clicks)."""
    page.get_by_role("link", name=title).first.click()
    _settle(page)


def test_user_journey_import_search_read_plot_export(served, browser, tmp_path_factory):
    """A user imports a file by path, searches, reads a conversation as text, looks at plots and exports."""
    src = tmp_path_factory.mktemp("journey") / "chats.jsonl"
    with open(src, "w", encoding="utf-8") as f:
        for i in range(30):
            f.write(json.dumps({"messages": [{"role": "system", "content": "Be terse."},
                                             {"role": "user", "content": f"zebra question {i}"},
                                             {"role": "assistant", "content": f"zebra answer {i} <b>bold?</b>"}]})
                    + "\n")
    ctx, page, events = _open(browser, served["url"] + "/")
    try:
        page.get_by_label("Paths on this machine (one per line: files or folders)").fill(str(src))
        page.get_by_label("Dataset name (optional; default: the first file's name)").fill("journey")
        page.get_by_role("button", name="Import").click()
        page.wait_for_function("document.body.innerText.includes('Rows') && document.body.innerText.includes('30')",
                               timeout=60_000)
        _nav(page, "Browse")
        box = page.get_by_label("Search instructions and responses")
        box.fill("zebra question 7")
        box.press("Enter")
        page.wait_for_function("document.body.innerText.includes('text contains \"zebra question 7\": 1 rows')",
                               timeout=30_000)
        # the row detail shows the turns as plain text (the markup stays literal)
        page.wait_for_function("document.body.innerText.includes('zebra answer 7 <b>bold?</b>')", timeout=30_000)
        assert page.locator("b", has_text="bold?").count() == 0
        _nav(page, "Plots")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 4", timeout=30_000)
        _nav(page, "Export")
        page.get_by_label("File name").fill("journey_export")
        page.get_by_role("button", name="Export").click()
        page.wait_for_function("document.body.innerText.includes('Exported 1 rows')", timeout=30_000)
        out = served["ws"] / "exports" / "journey_export.jsonl"
        lines = out.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["messages"][1]["content"] == "zebra question 7"
        assert (served["ws"] / "exports" / "journey_export.jsonl.manifest.json").exists()
        assert events["dialogs"] == [] and _Recorder.hits == []
    finally:
        ctx.close()
