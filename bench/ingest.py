"""Ingest benchmark: Sift import + filter/facet/page latency vs datasets.load_dataset, on one Alpaca JSONL.

    pip install -r bench/requirements.txt      # datasets + psutil, for the bench only
    python bench/ingest.py                     # 1,000,000 rows (a ~0.5 GB file in bench/out/)
    python bench/ingest.py --rows 50000        # a quick try

Steps: (1) build bench/out/alpaca_<rows>.jsonl from ../shared/data/alpaca_52k, every record perturbed
(a row counter in the instruction, the output's words rotated for repeated copies) so content hashes differ;
(2) `python -m core import FILE --json` into a fresh workspace, timing it and sampling the RSS of the child's
whole process tree (worker processes included); (3) ~30 "filter + facet + first page" queries through core
(Store.count + Store.facet('language') + Store.rows(limit=50)) in a fresh process, after `python -m core index`
has built the text index (timed on its own line, beside the import; --no-index drops it and times the scans);
(4) `datasets.load_dataset("json", ...)` on the same file in a subprocess with a fresh cache dir, measured the
same way, plus the same filters with Dataset.filter + first page. Prints one markdown table with the targets
(import ≤60 s, peak RSS ≤3 GB, p95 ≤300 ms).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent / "shared" / "data" / "alpaca_52k" / "alpaca_data_reconstructed.json"
TARGETS = {"import_s": 60.0, "rss_gb": 3.0, "p95_ms": 300.0}

# (label, --where conditions, search text): each is run REPEAT times
QUERIES = [
    ("all rows", [], ""),
    ("n_turns > 0", ["n_turns > 0"], ""),
    ('instruction contains "water"', ["instruction contains water"], ""),
    ("response_chars between 100 and 500", ["response_chars between 100 and 500"], ""),
    ('search "climate"', [], "climate"),
    ("language = en and instruction_chars > 50", ["language = en", "instruction_chars > 50"], ""),
    ("n_tokens >= 200", ["n_tokens >= 200"], ""),
    ('response regex "^[0-9]+\\."', ["response regex ^[0-9]+\\."], ""),
    ("is_duplicate = false and response_chars < 80", ["is_duplicate = false", "response_chars < 80"], ""),
    ('search "python" and n_turns > 0', ["n_turns > 0"], "python"),
]
REPEAT = 3

HF_SCRIPT = r"""
import json, sys, time
t0 = time.time()
import datasets
datasets.disable_progress_bars()
ds = datasets.load_dataset("json", data_files=sys.argv[1], split="train", cache_dir=sys.argv[2])
load_s = time.time() - t0
qs = []
for label, fn in [
    ('instruction contains "water"', lambda b: ["water" in x.lower() for x in b["instruction"]]),
    ("response_chars between 100 and 500", lambda b: [100 <= len(x) <= 500 for x in b["output"]]),
    ('search "climate"', lambda b: ["climate" in (i + " " + o).lower() for i, o in zip(b["instruction"], b["output"])]),
][: int(sys.argv[3])]:
    t = time.time()
    sub = ds.filter(fn, batched=True, batch_size=10000)
    n = len(sub)
    page = sub.select(range(min(50, n))).to_list()
    qs.append({"label": label, "ms": (time.time() - t) * 1000, "rows": n})
print(json.dumps({"rows": len(ds), "load_s": load_s, "queries": qs}))
"""


def build_file(rows: int, out: Path) -> Path:
    """The perturbed Alpaca JSONL with `rows` records (kept between runs: same rows, same file)."""
    path = out / f"alpaca_{rows}.jsonl"
    if path.exists() and path.stat().st_size > 0:
        return path
    import orjson
    if not SOURCE.exists():
        sys.exit(f"error: {SOURCE} not found (the bench needs ../shared/data beside the repository)")
    base = orjson.loads(SOURCE.read_bytes())
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        for k in range(rows):
            rec = base[k % len(base)]
            copy = k // len(base)
            out_text = rec["output"]
            if copy:
                words = out_text.split(" ")
                r = copy % len(words)
                out_text = " ".join(words[r:] + words[:r])
            f.write(orjson.dumps({"instruction": f"{rec['instruction']} [{k + 1}]", "input": rec["input"],
                                  "output": out_text}) + b"\n")
    tmp.replace(path)
    return path


def run_measured(cmd: list[str], env: dict | None = None) -> tuple[float, float, str, int]:
    """(wall seconds, peak RSS in bytes summed over the process tree, stdout, exit code)."""
    import psutil

    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    peak, stop = 0, threading.Event()

    def sample():
        nonlocal peak
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            total = 0
            try:
                for p in [root] + root.children(recursive=True):
                    try:
                        total += p.memory_info().rss
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        pass
            except psutil.NoSuchProcess:
                return
            peak = max(peak, total)
            stop.wait(0.05)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    wall = time.time() - t0
    stop.set()
    th.join()
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors="replace")[-3000:])
    return wall, peak, out.decode(errors="replace"), proc.returncode


def sift_import(path: Path, ws: Path) -> dict:
    shutil.rmtree(ws, ignore_errors=True)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    wall, peak, out, rc = run_measured([sys.executable, "-m", "core", "import", str(path), "--workspace", str(ws),
                                        "--name", "bench", "--json"], env)
    if rc != 0:
        sys.exit(f"error: sift import failed (exit {rc})")
    res = json.loads(out.strip().splitlines()[-1])
    return {"seconds": wall, "rss": peak, "rows": res["rows"], "quarantined": res["quarantined"],
            "duplicates": res["duplicates"]}


def sift_index(ws: Path) -> dict:
    """`python -m core index` after the import (its own process, timed like the import): the text index that
    answers `contains` and search without scanning; built once per import, not part of the import time."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    wall, peak, out, rc = run_measured([sys.executable, "-m", "core", "index", "--workspace", str(ws), "--json"], env)
    if rc != 0:
        sys.exit(f"error: sift index failed (exit {rc})")
    res = json.loads(out.strip().splitlines()[-1])
    return dict(res, wall=wall, rss=peak)


def sift_queries(ws: Path) -> list[dict]:
    sys.path.insert(0, str(ROOT))
    import pandas  # noqa: F401  the app has it loaded; Store.rows returns a DataFrame, whose first call would
    # otherwise time pandas' import (~0.3-0.6 s here), not a query
    from core.filters import Filter, parse_where
    from core.store import Store

    store = Store(ws, read_only=True)
    out = []
    try:
        for rep in range(REPEAT):
            for label, where, search in QUERIES:
                flt = Filter(tuple(parse_where(w) for w in where), search)
                t = time.perf_counter()
                n = store.count(flt)
                store.facet("language", flt)
                store.rows(flt, limit=50)
                out.append({"label": label, "rep": rep, "ms": (time.perf_counter() - t) * 1000, "rows": n})
    finally:
        store.close()
    return out


def hf_load(path: Path, out: Path, n_queries: int) -> dict | None:
    try:
        import datasets  # noqa: F401
    except ImportError:
        print("note: `datasets` is not installed (pip install -r bench/requirements.txt); skipping that column")
        return None
    cache = out / "hf_cache"
    shutil.rmtree(cache, ignore_errors=True)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_CACHE=str(cache), HF_HOME=str(out / "hf_home"))
    wall, peak, stdout, rc = run_measured([sys.executable, "-c", HF_SCRIPT, str(path), str(cache), str(n_queries)], env)
    shutil.rmtree(cache, ignore_errors=True)
    if rc != 0:
        print("note: datasets.load_dataset failed; see the error above")
        return None
    res = json.loads(stdout.strip().splitlines()[-1])
    res.update(seconds=wall, rss=peak)
    return res


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows in the benchmark file (default 1,000,000)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"), help="scratch folder (default bench/out)")
    ap.add_argument("--skip-hf", action="store_true", help="do not run datasets.load_dataset")
    ap.add_argument("--hf-queries", type=int, default=3, help="Dataset.filter queries to time (0-3, default 3)")
    ap.add_argument("--no-index", action="store_true", help="drop the text index: time the text filters as scans")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    try:
        import psutil  # noqa: F401
    except ImportError:
        sys.exit("error: the bench needs psutil and datasets: pip install -r bench/requirements.txt")

    t = time.time()
    path = build_file(args.rows, out)
    print(f"file: {path} ({path.stat().st_size / 1e6:,.0f} MB, {args.rows:,} rows; ready in {time.time() - t:.1f} s)",
          flush=True)
    print("importing with Sift ...", flush=True)
    imp = sift_import(path, out / "ws_sift")
    print(f"  {imp['rows']:,} rows in {imp['seconds']:.1f} s, peak RSS {imp['rss'] / 1e9:.2f} GB", flush=True)
    idx = None
    if args.no_index:
        subprocess.run([sys.executable, "-m", "core", "index", "--workspace", str(out / "ws_sift"), "--drop"],
                       cwd=ROOT, check=True)
    else:
        print("building the text index (python -m core index) ...", flush=True)
        idx = sift_index(out / "ws_sift")
        print(f"  {idx['postings']:,} postings of {idx['tokens']:,} tokens in {idx['wall']:.1f} s "
              f"(CPU {idx['cpu_seconds']:.1f} s), peak RSS {idx['rss'] / 1e9:.2f} GB, {idx['disk_mb']:.0f} MB on disk",
              flush=True)
    print(f"running {len(QUERIES) * REPEAT} filter + facet + first-page queries ...", flush=True)
    qs = sift_queries(out / "ws_sift")
    ms = [q["ms"] for q in qs]
    hf = None
    if not args.skip_hf:
        print("loading with datasets.load_dataset (fresh cache) ...", flush=True)
        hf = hf_load(path, out, max(0, min(3, args.hf_queries)))

    def ok(good: bool) -> str:
        return "✅ pass" if good else "❌ fail"

    hf_ms = [q["ms"] for q in hf["queries"]] if hf and hf.get("queries") else []
    hf_time = f"{hf['seconds']:.1f} s" if hf else "n/a"
    hf_rss = f"{hf['rss'] / 1e9:.2f} GB" if hf else "n/a"
    hf_rows = f"{hf['rows']:,}" if hf else "n/a"
    hf_p50 = f"{statistics.median(hf_ms):.0f} ms (Dataset.filter + first page)" if hf_ms else "n/a"
    hf_max = f"{max(hf_ms):.0f} ms (slowest of {len(hf_ms)})" if hf_ms else "n/a"
    p50, p95 = pct(ms, 0.5), pct(ms, 0.95)
    size_mb = path.stat().st_size / 1e6
    print()
    print(f"Sift ingest benchmark: {imp['rows']:,} rows ({size_mb:,.0f} MB JSONL), {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {platform.machine()}")
    print()
    print("| measure | Sift (core) | datasets.load_dataset | target | Sift result |")
    print("|---|---|---|---|---|")
    print(f"| import / load time | {imp['seconds']:.1f} s | {hf_time} | ≤ 60 s | {ok(imp['seconds'] <= TARGETS['import_s'])} |")
    print(f"| peak RSS (process tree) | {imp['rss'] / 1e9:.2f} GB | {hf_rss} | ≤ 3 GB | "
          f"{ok(imp['rss'] <= TARGETS['rss_gb'] * 1e9)} |")
    if idx:
        print(f"| text index build, after the import (`python -m core index`) | {idx['wall']:.1f} s "
              f"(CPU {idx['cpu_seconds']:.1f} s), peak RSS {idx['rss'] / 1e9:.2f} GB, {idx['disk_mb']:.0f} MB | "
              f"n/a | | |")
        print(f"| import + text index | {imp['seconds'] + idx['wall']:.1f} s | {hf_time} | | |")
    else:
        print("| text index | none (--no-index: text filters scan) | n/a | | |")
    print(f"| filter + facet + first page, p50 | {p50:.0f} ms | {hf_p50} | | |")
    print(f"| filter + facet + first page, p95 | {p95:.0f} ms | {hf_max} | ≤ 300 ms | {ok(p95 <= TARGETS['p95_ms'])} |")
    print(f"| rows loaded | {imp['rows']:,} ({imp['quarantined']:,} quarantined) | {hf_rows} | | |")
    print()
    print(f"Queries ({len(qs)}: {len(QUERIES)} filters × {REPEAT}; each = count + language facet + 50-row page; "
          f"a fresh read-only process, pandas imported before timing; text index "
          f"{'in use' if idx else 'dropped'}):")
    print()
    print("| filter | matching rows | Sift ms (each run) |")
    print("|---|---|---|")
    for label, _, _ in QUERIES:
        runs = [q for q in qs if q["label"] == label]
        times = " / ".join(f"{q['ms']:.0f}" for q in runs)
        print(f"| {label} | {runs[0]['rows']:,} | {times} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
