"""Real-browser journey on the Map page (Streamlit on 127.0.0.1, Playwright driving Debian Chromium).

A user runs embed -> map -> cluster from the page (the fake embedder, typed as the model name "fake"), waits for
the map, drags a box selection with the mouse, filters to that region, reads it on Browse and exports it; the
region's row count must agree everywhere: the page, the filter sentence, the export file and its manifest, and
the drawn points (every row) inside the dragged box, converted to data coordinates with plotly's own axes.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from core import region
from core.demo import build_demo_workspace
from core.store import Store
from tests.test_browser import (
    _nav,
    _open,
    _settle,
    launch_chromium,
    require_chromium,
    serve_app,
)

pytestmark = pytest.mark.browser

DEMO_ROWS = 300
# points drawn on the map (scattergl traces), read from plotly's graph div
DRAWN = """() => { const gd = document.querySelector('.js-plotly-plot');
  return gd && gd._fullData ? gd._fullData.filter(t => t.type === 'scattergl')
                                         .reduce((s, t) => s + (t._length || 0), 0) : 0; }"""
# the drawn points (row id, x, y) as plotly holds them
POINTS = """() => { const out = {id: [], x: [], y: []};
  for (const t of document.querySelector('.js-plotly-plot')._fullData.filter(t => t.type === 'scattergl')) {
    out.id.push(...Array.from(t.customdata)); out.x.push(...Array.from(t.x)); out.y.push(...Array.from(t.y)); }
  return out; }"""
# client (page) coordinates -> data coordinates, with the plot's own axes
TO_DATA = """([cx, cy]) => { const gd = document.querySelector('.js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const r = gd.querySelector('.main-svg').getBoundingClientRect();
  return [xa.p2d(cx - r.left - xa._offset), ya.p2d(cy - r.top - ya._offset)]; }"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    require_chromium()
    ws = tmp_path_factory.mktemp("mapjourney")
    build_demo_workspace(ws, rows=DEMO_ROWS)
    store = Store(ws)
    total = store.count()
    store.close()
    with serve_app(ws) as (url, _port, _pid):
        yield {"url": url, "ws": ws, "total": total}


def _wait_text(page, text: str, timeout_s: float = 60):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("t => document.body.innerText.includes(t)", arg=text, timeout=timeout_s * 1000)
    except PlaywrightTimeout:
        pytest.fail(f"{text!r} never shown; page text: {page.inner_text('body')[:2000]!r}")


def _box_select(page, frac=((0.05, 0.05), (0.55, 0.95))) -> dict:
    """Switch the modebar to box select and drag across part of the plot; returns the box in data coordinates."""
    plot = page.locator(".js-plotly-plot").first
    plot.hover()
    page.locator(".modebar-btn[data-title='Box Select']").first.click()
    b = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    (fx0, fy0), (fx1, fy1) = frac
    p0 = (b["x"] + b["width"] * fx0, b["y"] + b["height"] * fy0)
    p1 = (b["x"] + b["width"] * fx1, b["y"] + b["height"] * fy1)
    (x0, y0), (x1, y1) = page.evaluate(TO_DATA, list(p0)), page.evaluate(TO_DATA, list(p1))
    page.mouse.move(*p0)
    page.mouse.down()
    page.mouse.move(*p1, steps=15)
    page.mouse.up()
    return {"box": [[min(x0, x1), max(x0, x1)], [min(y0, y1), max(y0, y1)]]}


def test_map_journey_embed_cluster_box_select_browse_export(app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        ctx, page, events = _open(browser, app["url"] + "/map")
        try:
            # 1. compute from the UI: the model box takes any sentence-transformers name; "fake" is the test embedder
            model = page.get_by_role("textbox", name="Model (sentence-transformers name or local path)")
            model.fill("fake")
            model.press("Enter")
            _settle(page)
            page.get_by_role("button", name="Run all three").click()
            _wait_text(page, "after re-assignment", timeout_s=180)  # noise re-assignment is on by default
            page.wait_for_function(f"({DRAWN})() === {app['total']}", timeout=60_000)
            _settle(page)
            body = page.inner_text("body")
            assert f"{app['total']:,} on the map" in body and "clusters (hdbscan)" in body

            # 2. a box dragged with the mouse becomes the selected region
            box = _box_select(page)
            _wait_text(page, "Selected region:")
            _settle(page)
            n = int(page.locator("h3", has_text="Selected region:").first.inner_text()
                    .split(":")[1].split("rows")[0].replace(",", ""))
            pts = page.evaluate(POINTS)
            inside = set(np.asarray(pts["id"])[region.mask(pts["x"], pts["y"], box)].tolist())
            assert len(pts["id"]) == app["total"] and 0 < n < app["total"]
            assert abs(n - len(inside)) <= 2, (n, len(inside), box)  # pixel rounding at the box's edges

            # 3. filter to it: the sentence names the region and its count, here and on Browse
            page.get_by_role("button", name="Filter to this region").click()
            said = f"map region (box) ({n:,} rows): {n:,} rows"
            _wait_text(page, said)
            _nav(page, "Browse")
            _wait_text(page, said)

            # 4. export it: the file and its manifest hold the same rows
            _nav(page, "Export")
            _wait_text(page, said)
            page.get_by_label("File name").fill("map_region")
            page.get_by_role("button", name="Export").click()
            _wait_text(page, f"Exported {n:,} rows")
            out = app["ws"] / "exports" / "map_region.jsonl"
            assert len(out.read_text(encoding="utf-8").splitlines()) == n
            manifest = json.loads((app["ws"] / "exports" / "map_region.jsonl.manifest.json").read_text("utf-8"))
            assert manifest["rows"] == n and "map region (box)" in manifest["filter"]["description"]
            ids = set(manifest["filter"]["data"].get("ids") or [])
            assert len(ids) == n and len(ids ^ inside) <= 2  # the exported rows are the ones inside the box
            assert events["dialogs"] == [] and not [e for e in events["errors"] if "WebGL" not in e]
        except Exception:
            page.screenshot(path=str(app["ws"] / "map-journey.png"))
            raise
        finally:
            ctx.close()
            browser.close()
