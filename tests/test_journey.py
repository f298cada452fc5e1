"""The user journey, end to end, in Debian Chromium driven by Playwright.

The app is started as the README says (``bash scripts/app.sh`` with SIFT_WORKSPACE and SIFT_PORT) on a fresh
workspace, so it builds the demo datasets first. In the browser a user then imports a shared dataset by its path,
deletes the demo, runs embed -> map -> cluster on the Map page (the default, real embedder), lassoes a region,
filters to it, tags it on the Tags page, previews and saves a selection on the Curate page and exports it. After
the app is stopped (its whole process group), the export is checked against the workspace through core.store:
its rows are the selection's (ids, content hashes, instructions), they carry the tag, and the manifest and the
recipe hold the filter, the counts and the file's sha256.

Screenshots of every step go to the test's tmp_path (``shots/``); with SIFT_DOCS_SCREENSHOTS=1 five of them are
also written as docs/journey-*.png (1280x800, 256-colour PNG) for the README.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from core import region
from core.export import one_line
from core.filters import Cond, Filter
from core.store import Store
from tests.test_browser import _free_port, _nav, _settle, launch_chromium, require_chromium
from tests.test_browser_map import DRAWN, POINTS, TO_DATA, _wait_text

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"  # the shared datasets, next to the repository (../shared/data)
DATASET = "self_instruct"  # 427 rows in two JSONL files (175 seed tasks + 252 user-oriented instructions)
TAG = "journey-lasso"
SELECTION = "journey_pick"
BUDGET = 12
VIEW = {"width": 1280, "height": 800}
# the screenshots written to docs/ (step name in shots/ -> docs file)
DOCS = {"map": "journey-map.png", "lasso": "journey-lasso.png", "tags": "journey-tags.png",
        "curate": "journey-curate.png", "export": "journey-export.png"}
# a closed lasso path over the plot, in fractions of its drag area (an irregular pentagon)
LASSO = [(0.22, 0.30), (0.50, 0.24), (0.58, 0.55), (0.40, 0.72), (0.18, 0.56)]
# scroll an element to the top of its scrolling container, below Streamlit's fixed top bar
TO_TOP = """el => { el.scrollIntoView({block: 'start'}); let p = el.parentElement;
  while (p && !(/(auto|scroll)/.test(getComputedStyle(p).overflowY) && p.scrollHeight > p.clientHeight))
    p = p.parentElement;
  (p || document.scrollingElement).scrollTop -= 70; }"""


@contextlib.contextmanager
def app_sh(ws: Path, log: Path):
    """``bash scripts/app.sh`` in its own process group over ws on a free port; yields the URL. On exit the whole
    group gets SIGTERM (then SIGKILL) and the test waits until no process of it is left. Installs are off the
    network (PIP_NO_INDEX): on an installed machine app.sh skips them, or pip finds everything present."""
    port = _free_port()
    env = dict(os.environ, SIFT_WORKSPACE=str(ws), SIFT_PORT=str(port), HF_HUB_OFFLINE="1", PIP_NO_INDEX="1")
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:  # app.sh execs streamlit: proc.pid is the server, and the group's leader
        proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "app.sh")], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        end = time.time() + 300  # installs (when the requirement files changed) + the demo workspace + start-up
        while True:
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            if proc.poll() is not None or time.time() > end:
                pytest.fail(f"scripts/app.sh did not serve {url}: {log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield url, proc.pid
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen):
    """SIGTERM to the process group, SIGKILL after 15 s; returns when no process of the group is left."""
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        end = time.time() + wait_s
        while time.time() < end:
            proc.poll()
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
    raise AssertionError(f"process group {proc.pid} survived SIGKILL")


class Shots:
    """Numbered screenshots of the viewport under ``folder``; the ones named in DOCS go to docs/ on request."""

    def __init__(self, page, folder: Path):
        self.page, self.folder, self.taken = page, folder, {}
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str, top=None):
        """Screenshot the viewport, after scrolling the locator ``top`` (if given) to the top."""
        _settle(self.page)
        if top is not None:
            top.first.evaluate(TO_TOP)
            time.sleep(0.7)
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path))
        self.taken[name] = path
        return path

    def to_docs(self, docs: Path) -> list[Path]:
        from PIL import Image
        docs.mkdir(exist_ok=True)
        out = []
        for name, file in DOCS.items():
            img = Image.open(self.taken[name]).convert("RGB")
            img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(docs / file, optimize=True)
            out.append(docs / file)
        return out


def _select(page, label: str, option: str):
    """Pick an option of a Streamlit selectbox by its label."""
    page.locator("[data-testid='stSelectbox']").filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).first.click()
    _settle(page)


def _radio(page, text: str):
    page.locator("[data-testid='stRadio'] label").filter(has_text=text).first.click()
    _settle(page)


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its waited-for children (from /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _import_and_clean(page, shots, source: Path) -> int:
    """Datasets page: import the shared folder by its path, then delete the demo datasets app.sh built."""
    _wait_text(page, "3 datasets, ")  # app.sh built the demo workspace (demo_alpaca, demo_sharegpt, demo_messages)
    page.get_by_label("Paths on this machine (one per line: files or folders)").fill(str(source))
    page.get_by_role("button", name="Import").click()
    _wait_text(page, f"Dataset {DATASET}: ", timeout_s=120)
    shots("import")
    body = page.inner_text("body")
    rows = _number(body.split(f"Dataset {DATASET}: ")[1].split(" rows")[0])
    for demo in ("demo_alpaca", "demo_sharegpt", "demo_messages"):
        _settle(page)
        exp = page.locator("details").filter(has_text="Delete a dataset").first
        if not exp.evaluate("el => el.open"):
            exp.locator("summary").click()
        exp.get_by_text("Dataset to delete").wait_for(state="visible")
        _select(page, "Dataset to delete", demo)
        page.locator("[data-testid='stCheckbox']").filter(has_text="Yes, delete this dataset").click()
        _settle(page)
        page.get_by_role("button", name="Delete dataset").click()
        _wait_text(page, f"Deleted dataset {demo}.")
    _wait_text(page, f"1 datasets, {rows:,} rows")
    return rows


def _map_and_lasso(page, shots, rows: int) -> tuple[int, set]:
    """Map page: run the three steps, lasso a region; returns its row count and the drawn ids inside the lasso."""
    _nav(page, "Map")
    page.get_by_role("button", name="Run all three").click()
    _wait_text(page, "after re-assignment", timeout_s=300)  # embed (real model) -> UMAP -> HDBSCAN
    page.wait_for_function(f"({DRAWN})() === {rows}", timeout=60_000)
    _settle(page)
    body = page.inner_text("body")
    assert f"{rows:,} embedded (all-MiniLM-L6-v2" in body and f"{rows:,} on the map" in body, body[:1500]
    status = page.get_by_text(f"{rows:,} rows · {rows:,} embedded")
    page.add_style_tag(content=".js-plotly-plot .hoverlayer {display: none !important}")  # no hover label in shots
    shots("map", status)
    # the map's drag mode is lasso: press, trace the closed path, release
    b = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    pts = [(b["x"] + b["width"] * fx, b["y"] + b["height"] * fy) for fx, fy in LASSO]
    poly = np.array([page.evaluate(TO_DATA, list(p)) for p in pts])
    page.mouse.move(*pts[0])
    page.mouse.down()
    for p in pts[1:] + pts[:1]:
        page.mouse.move(*p, steps=12)
    page.mouse.up()
    _wait_text(page, "Selected region:")
    _settle(page)
    n = _number(page.locator("h3", has_text="Selected region:").first.inner_text().split(":")[1].split("rows")[0])
    drawn = page.evaluate(POINTS)
    inside = set(np.asarray(drawn["id"])[region.mask(drawn["x"], drawn["y"], {"lasso": poly.T.tolist()})].tolist())
    assert 0 < n < rows and abs(n - len(inside)) <= 2, (n, len(inside))  # pixel rounding at the path's edges
    shots("lasso", status)
    page.get_by_role("button", name="Filter to this region").click()
    _wait_text(page, f"map region (lasso) ({n:,} rows): {n:,} rows")
    return n, inside


def _tag_region(page, shots, n: int):
    """Tags page, Edit by hand: add TAG to every row of the current filter (the lasso region)."""
    _nav(page, "Tags")
    _radio(page, "Edit by hand")
    _wait_text(page, f"map region (lasso) ({n:,} rows) ({n:,} rows)")
    box = page.locator("[data-testid='stMultiSelect']").filter(has_text="Add tags").first
    box.click()
    page.keyboard.type(TAG)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    _settle(page)
    page.get_by_role("button", name=f"Apply to {n:,} rows").click()
    _wait_text(page, f"Tags changed on {n:,} rows")
    _wait_text(page, "Undo the last edit")
    shots("tags", page.locator(".sift-sentence"))


def _select_and_export(page, shots, n: int) -> str:
    """Curate page: preview a facility-location selection of BUDGET rows, save it, export it with its recipe."""
    _nav(page, "Curate")
    _radio(page, "Select")
    _radio(page, "rows")
    rows_box = page.get_by_label("Rows", exact=True)
    rows_box.fill(str(BUDGET))
    rows_box.press("Enter")
    _settle(page)
    page.get_by_role("button", name="Preview").click()
    _wait_text(page, f"Preview: {BUDGET} rows by facility", timeout_s=120)
    _wait_text(page, f"Pool: {n:,} rows")
    name_box = page.get_by_label("Save as")
    name_box.fill(SELECTION)
    name_box.press("Enter")
    _settle(page)
    shots("curate", page.get_by_text(f"Preview: {BUDGET} rows by facility"))
    page.get_by_role("button", name="Save selection").click()
    _wait_text(page, f"Saved the selection {SELECTION} ({BUDGET} rows)")
    _radio(page, "Saved selections")
    page.get_by_role("button", name="Export selection").click()
    _wait_text(page, f"Exported {BUDGET} rows of the selection {SELECTION}")
    _wait_text(page, "Recipe (replay it with")  # then the file, manifest, recipe and sha256
    shots("export", page.get_by_text("Export this selection"))
    return page.inner_text("body")


def _check_export(ws: Path, n: int, inside: set, body: str):
    """The exported file, its manifest and recipe against the workspace (read through core.store)."""
    out = ws / "exports" / f"{SELECTION}.jsonl"
    lines = out.read_bytes().splitlines()
    man = json.loads((ws / "exports" / f"{SELECTION}.jsonl.manifest.json").read_text("utf-8"))
    recipe = json.loads((ws / "exports" / f"{SELECTION}.jsonl.recipe.json").read_text("utf-8"))
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    store = Store(ws, read_only=True)
    try:
        ids, rec = store.selection(SELECTION)
        got = store.rows(Filter(ids=tuple(int(i) for i in ids)), limit=len(ids) + 1,
                         columns=["id", "hash", "tags", "raw", "dataset"]).set_index("id")
        tagged = store.count(Filter((Cond("tags", "has", TAG),)))
    finally:
        store.close()
    ids = [int(i) for i in ids]
    # the region was tagged: every row inside the lasso, none outside
    assert tagged == n and abs(len(inside) - n) <= 2
    # rows: one line per selected row, in the selection's order, each the row's original record
    assert len(ids) == BUDGET == len(lines) == man["rows"] and man["skipped"] == 0
    prov = man["provenance"]
    assert [p["id"] for p in prov] == sorted(ids) and set(ids) <= set(map(int, got.index))
    for p, line in zip(prov, lines):
        r = got.loc[p["id"]]
        assert p["hash"] == r["hash"] and p["dataset"] == r["dataset"] == DATASET
        assert line.decode("utf-8") == one_line(r["raw"])  # the record as imported
        assert TAG in list(r["tags"])  # the selected rows carry the tag
    # manifest: the selection, its recipe (filter, method, budget, ids and hashes), counts and the file's sha256
    assert man["sha256"] == sha and sha in body and man["selection"] == SELECTION
    assert f"selection {SELECTION} ({BUDGET} rows)" in man["filter"]["description"]
    sel = man["recipe"]["selection"]
    assert sel["method"] == "facility" and sel["budget"] == BUDGET and sel["ids"] == ids
    assert sel["hashes"] == [got.loc[i]["hash"] for i in ids]
    assert "map region (lasso)" in Filter.from_dict(man["recipe"]["filter"]).describe()
    assert man["recipe"] == rec
    assert recipe["export"]["sha256"] == sha and recipe["export"]["rows"] == BUDGET
    assert recipe["selection_name"] == SELECTION and len(recipe["files"]) == 2


@contextlib.contextmanager
def timed(timings: dict, name: str):
    t = time.time()
    yield
    timings[name] = time.time() - t
    print(f"journey: {name} {timings[name]:.1f} s", flush=True)


def test_journey_import_map_lasso_tag_select_export(tmp_path):
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} (the shared datasets, ../shared/data next to the repository) is not there")
    require_chromium()
    from playwright.sync_api import sync_playwright

    ws, t0, timings = tmp_path / "ws", time.time(), {}
    with app_sh(ws, tmp_path / "app.log") as (url, pid), sync_playwright() as p:
        timings["app start"] = time.time() - t0
        browser = launch_chromium(p)
        ctx = browser.new_context(viewport=VIEW)
        page = ctx.new_page()
        errors, dialogs = [], []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        shots = Shots(page, tmp_path / "shots")
        try:
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("[data-testid='stApp']", timeout=60_000)
            with timed(timings, "import"):
                rows = _import_and_clean(page, shots, (SHARED / DATASET).resolve())
            with timed(timings, "map + lasso"):
                n, inside = _map_and_lasso(page, shots, rows)
            with timed(timings, "tag"):
                _tag_region(page, shots, n)
            with timed(timings, "select + export"):
                body = _select_and_export(page, shots, n)
            timings["app CPU"] = cpu_seconds(pid)
            assert dialogs == [] and not [e for e in errors if "WebGL" not in e], (dialogs, errors)
        except Exception:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(shots.folder / "failure.png"), timeout=20_000)
            raise
        finally:
            ctx.close()
            browser.close()
    _check_export(ws, n, inside, body)
    timings["total"] = time.time() - t0
    print("journey timings (s):", {k: round(v, 1) for k, v in timings.items()}, "screenshots:", shots.folder)
    if os.environ.get("SIFT_DOCS_SCREENSHOTS") == "1":
        for f in shots.to_docs(ROOT / "docs"):
            print(f"wrote {f} ({f.stat().st_size:,} bytes)")
