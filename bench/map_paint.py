"""Map paint benchmark: how long the Map page takes to draw N points in a real browser.

    python bench/map_paint.py                    # 200,000 rows; every point limit the page offers
    python bench/map_paint.py --rows 50000 --repeat 1 --skip-baseline

Workspace bench/out/ws_map_<rows> (kept between runs): the first <rows> rows of the perturbed Alpaca JSONL that
bench/ingest.py builds, imported with core.importer. Their x / y / cluster / cluster_label Step columns are
SYNTHETIC (Gaussian blobs of uneven sizes plus uniform noise) written with Store.set_step_columns: embedding and
UMAP 200k rows takes long on 2 cores, and paint time depends only on what is drawn (points, traces, hover
texts), not on how the coordinates were computed.

Then `streamlit run app.py` on 127.0.0.1 and Debian Chromium through Playwright (WebGL on SwiftShader, i.e. on
the CPU: a machine with a GPU paints faster). The page's WebSocket traffic is timestamped in the browser. The map
is opened once (its default limit) and then every point limit is chosen with the sidebar slider (keyboard); for
each rerun:
  server  from the browser's rerun request to the last byte of the chart's message (query, figure, JSON, transfer)
  client  from then to the frame after plotly has drawn the expected number of points (decode, plot, paint)
  total   server + client (for the first open: from navigation start, the app's JS bundle included)
Baseline, same browser: plotly.js alone on a blank page drawing N points in 21 traces with ~100-character hover
texts, as Scattergl (WebGL, what the page uses) and as Scatter (SVG).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

import numpy as np

from bench.ingest import build_file
from core.filters import Cond, Filter
from core.importer import import_paths
from core.store import Store
from tests.test_browser import CHROMIUM, launch_chromium, serve_app

TARGET_S = 2.0
SVG_GIVE_UP_S = 30.0  # stop the SVG baseline once a size takes longer than this

# WebSocket timing: every message sent and received, with performance.now() and its size
WS_TIMING = """
window.__ws = {sent: [], recv: []};
const NativeWS = window.WebSocket;
window.WebSocket = class extends NativeWS {
  constructor(...a) {
    super(...a);
    this.addEventListener('message', (e) => window.__ws.recv.push(
      [performance.now(), e.data.byteLength ?? e.data.size ?? e.data.length]));
  }
  send(d) { window.__ws.sent.push([performance.now(), d.byteLength ?? d.length]); return super.send(d); }
};
"""

# Resolve once the map shows `expected` points: poll every frame, then wait two more frames (painted)
WAIT_PAINT = """
async ([expected, timeoutMs]) => {
  const t0 = performance.now();
  const drawn = (gd) => (gd._fullData || []).reduce((s, t) => s + (t._length || 0), 0);
  return await new Promise((resolve) => {
    const tick = () => {
      const gd = document.querySelector('.js-plotly-plot');
      if (gd && gd.querySelector('canvas') && drawn(gd) === expected) {
        const ready = performance.now();
        requestAnimationFrame(() => requestAnimationFrame(() => resolve({ready, painted: performance.now()})));
      } else if (performance.now() - t0 > timeoutMs) {
        resolve({timeout: true, drawn: gd ? drawn(gd) : null});
      } else {
        requestAnimationFrame(tick);
      }
    };
    tick();
  });
}
"""

BASELINE = """
async ([n, kind]) => {
  const k = 21, traces = [];
  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const word = () => Math.floor(rnd() * 1e6).toString(36);
  for (let t = 0; t < k; t++) {
    const m = Math.floor(n / k) + (t < n % k ? 1 : 0), cx = rnd() * 30, cy = rnd() * 30;
    const x = new Float32Array(m), y = new Float32Array(m), text = new Array(m);
    for (let i = 0; i < m; i++) {
      x[i] = cx + (rnd() - 0.5) * 4; y[i] = cy + (rnd() - 0.5) * 4;
      text[i] = Array.from({length: 20}, word).join(' ');
    }
    traces.push({type: kind, mode: 'markers', x, y, text, hoverinfo: 'text', name: 'c' + t,
                 marker: {size: n < 50000 ? 4 : 3, opacity: 0.7}});
  }
  const div = document.getElementById('plot');
  Plotly.purge(div);
  const t0 = performance.now();
  await Plotly.newPlot(div, traces, {height: 680, width: 1200, dragmode: 'lasso'});
  const plotted = performance.now();
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return {plot: plotted - t0, painted: performance.now() - t0};
}
"""


# ------------------------------------------------------------------ workspace
def synthetic_map(n: int, k: int = 40, noise: float = 0.08, seed: int = 0):
    """x, y (float32), cluster (int32, -1 = noise) for n points: k Gaussian blobs of Zipf-like sizes + noise."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, k + 1) ** 0.8
    n_noise = int(n * noise)
    sizes = np.floor(weights / weights.sum() * (n - n_noise)).astype(int)
    sizes[0] += n - n_noise - sizes.sum()
    centres = rng.uniform(-15, 15, size=(k, 2))
    spread = rng.uniform(0.3, 1.5, size=k)
    labels = np.concatenate([np.repeat(np.arange(k), sizes), np.full(n_noise, -1)])
    xy = np.concatenate([rng.normal(centres[c], spread[c], size=(s, 2)) for c, s in enumerate(sizes)]
                        + [rng.uniform(-18, 18, size=(n_noise, 2))])
    order = rng.permutation(n)
    return xy[order, 0].astype(np.float32), xy[order, 1].astype(np.float32), labels[order].astype(np.int32)


def workspace(rows: int) -> Path:
    """bench/out/ws_map_<rows>: rows imported once, synthetic map columns on every row (reused when complete)."""
    ws = OUT / f"ws_map_{rows}"
    store = Store(ws)
    try:
        if store.count() != rows:
            store.close()
            import shutil
            shutil.rmtree(ws, ignore_errors=True)
            store = Store(ws)
            t = time.perf_counter()
            res = import_paths(store, [str(build_file(rows, OUT))], name="alpaca")
            print(f"imported {res.rows:,} rows in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        if store.count(Filter((Cond("x", "not null"),))) != rows:
            ids = store.step_ids("x", missing=True)
            x, y, c = synthetic_map(len(ids))
            names = {int(i): f"synthetic cluster {i}" for i in np.unique(c) if i >= 0} | {-1: "noise"}
            store.set_step_columns(ids, {"x": x, "y": y, "cluster": c,
                                         "cluster_label": np.array([names[int(i)] for i in c], dtype=object)})
            store.set_clusters([{"cluster": int(i), "label": names[int(i)], "size": int(n)}
                                for i, n in zip(*np.unique(c, return_counts=True))])
            store.set_meta("map", {"mode": "synthetic (bench/map_paint.py)"})
            store.set_meta("cluster", {"method": "synthetic", "params": {"n_clusters": len(names) - 1}})
    finally:
        store.close()
    return ws


# ------------------------------------------------------------------ browser
def measure(page, action, expected: int, timeout_s: float, from_navigation: bool = False) -> dict:
    """Run action (a navigation or a widget change) and time the map until `expected` points are painted."""
    from tests.test_browser import _settle

    if not from_navigation:
        page.evaluate("() => { __ws.sent.length = 0; __ws.recv.length = 0; }")
    action()
    got = page.evaluate(WAIT_PAINT, [expected, int(timeout_s * 1000)])
    if got.get("timeout"):
        raise RuntimeError(f"the map never showed {expected:,} points (it showed {got.get('drawn')})")
    log = page.evaluate("() => __ws")
    start = 0.0 if from_navigation else log["sent"][0][0]
    chart = max((m for m in log["recv"] if start <= m[0] <= got["ready"]), key=lambda m: m[1])
    text = page.inner_text("body")
    _settle(page, timeout=timeout_s)
    return {"server": (chart[0] - start) / 1000, "client": (got["painted"] - chart[0]) / 1000,
            "total": (got["painted"] - start) / 1000, "bytes": chart[1],
            "sampled_note": "random sample" in text}


def page_limits() -> tuple:
    """The Map page's point-limit steps and its default, read from pages/map.py without running the page."""
    import ast
    tree = ast.parse((ROOT / "pages" / "map.py").read_text(encoding="utf-8"))
    consts = {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
              for t in n.targets if isinstance(t, ast.Name) and t.id in ("MAX_POINTS", "DEFAULT_POINTS")}
    return consts["MAX_POINTS"], consts.get("DEFAULT_POINTS", 50_000)


def run_app(ws: Path, total: int, repeat: int, timeout_s: float) -> tuple[list, dict]:
    """Per repeat, a fresh browser session: open the Map page (its default limit), then step the slider through
    every limit (largest first). Streamlit's message cache is off, so every chart travels in full (a limit
    visited again in a session would otherwise be sent as a reference)."""
    from playwright.sync_api import sync_playwright

    limits, default = page_limits()
    first, rows = [], {lim: [] for lim in limits}
    env = {"STREAMLIT_GLOBAL_MIN_CACHED_MESSAGE_SIZE": str(10**12)}
    with serve_app(ws, env) as (url, _port, _pid), sync_playwright() as p:
        browser = launch_chromium(p)
        for _ in range(repeat):
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            ctx.add_init_script(WS_TIMING)
            page = ctx.new_page()
            first.append(measure(page, lambda pg=page: pg.goto(url + "/map", wait_until="commit"), min(default, total),
                                 timeout_s * 3, from_navigation=True))
            slider = page.locator("[data-testid='stSidebar'] [data-testid='stSlider'] input[type='range']").first
            if default != limits[-1]:  # every step changes the value, so every step is a rerun
                sweep = [("End", limits[-1])] + [("ArrowLeft", v) for v in reversed(limits[:-1])]
            else:
                sweep = [("Home", limits[0])] + [("ArrowRight", v) for v in limits[1:]]
            for key, lim in sweep:
                slider.focus()
                rows[lim].append(measure(page, lambda k=key, sl=slider: sl.press(k), min(lim, total), timeout_s))
                assert slider.get_attribute("aria-valuetext") == str(lim), slider.get_attribute("aria-valuetext")
            ctx.close()
        browser.close()
    return first, rows


def run_baseline(sizes: list[int]) -> dict:
    import plotly
    from playwright.sync_api import sync_playwright
    js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    out = {}
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_content("<div id='plot'></div>")
        page.add_script_tag(path=str(js))
        page.evaluate(BASELINE, [1000, "scattergl"])  # warm-up: WebGL context and shader compilation
        for kind in ("scattergl", "scatter"):
            for n in sizes:
                page.set_default_timeout(SVG_GIVE_UP_S * 4 * 1000)
                out[(kind, n)] = page.evaluate(BASELINE, [n, kind])["painted"] / 1000
                if out[(kind, n)] > SVG_GIVE_UP_S:
                    break
        browser.close()
    return out


def _med(xs: list[dict], key: str) -> float:
    return statistics.median(x[key] for x in xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3, help="browser sessions (each opens the page, visits every limit)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds one rerun may take")
    ap.add_argument("--skip-baseline", action="store_true")
    a = ap.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"error: {CHROMIUM} not found (apt-get install chromium)")
    OUT.mkdir(parents=True, exist_ok=True)
    ws = workspace(a.rows)
    load0 = os.getloadavg()[0]
    first, rows = run_app(ws, a.rows, a.repeat, a.timeout)
    base = {} if a.skip_baseline else run_baseline(sorted({min(k, a.rows) for k in rows}))
    load = os.getloadavg()[0]
    print(f"\nMap page, {a.rows:,} rows with synthetic map coordinates (paint time depends only on the points "
          f"drawn); Chromium {CHROMIUM}, WebGL on SwiftShader (CPU); median of {len(first)} open(s) and "
          f"{len(next(iter(rows.values())))} rerun(s) per limit; {os.cpu_count()} CPUs, load average {load0:.1f} at "
          f"the start and {load:.1f} at the end (other work on the machine slows every column). Times in seconds.\n")
    hdr = "| points drawn | sampled (said on screen) | chart message | server | client (decode + paint) | total |"
    if base:
        hdr += " plotly.js alone: Scattergl | plotly.js alone: Scatter (SVG) |"
    print(hdr)
    print("|" + "---|" * hdr.count(" |"))

    def line(label, ms, n):
        s = (f"| {label} | {'yes' if ms[0]['sampled_note'] else 'no'} | {_med(ms, 'bytes') / 1e6:.1f} MB | "
             f"{_med(ms, 'server'):.2f} | {_med(ms, 'client'):.2f} | {_med(ms, 'total'):.2f} |")
        if base:
            gl, svg = base.get(("scattergl", n)), base.get(("scatter", n))
            s += f" {gl:.2f} |" if gl is not None else " – |"
            s += f" {svg:.2f} |" if svg is not None else f" not run (> {SVG_GIVE_UP_S:.0f} s at a smaller size) |"
        return s
    default = page_limits()[1]
    print(line(f"{min(default, a.rows):,} (page opened: from navigation, app start-up included)", first,
               min(default, a.rows)))
    for lim, ms in rows.items():
        print(line(f"{min(lim, a.rows):,}" + (" (the default)" if lim == default else ""), ms, min(lim, a.rows)))
    dflt, full = _med(rows[default], "total"), _med(rows[max(rows)], "total")
    print(f"\ndefault view ({min(default, a.rows):,} points drawn over the density of all {a.rows:,}): {dflt:.2f} s "
          f"-> target <= {TARGET_S:.0f} s {'met' if dflt <= TARGET_S else 'NOT met'}; every point drawn "
          f"({min(max(rows), a.rows):,}): {full:.2f} s")


if __name__ == "__main__":
    main()
