"""LLM tagging benchmark: rows/s of core.tagllm.run_tagging vs a plain sequential loop, same client, same rows.

    python bench/tag_llm.py                        # 400 Alpaca rows, 200 ms a request, concurrency 8 and 16
    python bench/tag_llm.py --rows 200 --latency 0.1 --concurrency 4 8 16 32

The server is tests/fake_llm.py in a subprocess (127.0.0.1), answering every request after --latency seconds.
Rows: the first N records of ../shared/data/alpaca_52k (user turn = instruction, plus the input when present).
Arms, in one run, each over the same rows with one LLMClient:
  sequential   for each row: client.chat(build_messages(turns)) then parse_tags(reply) — one request at a time;
  sift c=N     run_tagging(items, client, concurrency=N), on_result collecting the tags.
A request-bound run cannot beat N / latency rows/s (the "ceiling" column): 40 rows/s at c=8 with 200 ms.
Every arm's tags are checked to equal the sequential arm's.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SOURCE = ROOT.parent / "shared" / "data" / "alpaca_52k" / "alpaca_data_reconstructed.json"


def load_items(rows: int) -> list[tuple[int, list[str]]]:
    recs = json.loads(SOURCE.read_text(encoding="utf-8"))[:rows]
    return [(i, [r["instruction"] + ("\n\n" + r["input"] if r.get("input") else "")]) for i, r in enumerate(recs)]


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_llm.py"), "--port", "0",
                             "--latency", str(latency)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, line.split(" on ", 1)[1].split()[0]


def sequential(items, client) -> tuple[float, dict]:
    from core.tagllm import build_messages, parse_tags
    t0 = time.perf_counter()
    out = {key: parse_tags(client.chat(build_messages(turns)).text) for key, turns in items}
    return time.perf_counter() - t0, out


def concurrent(items, client, concurrency: int) -> tuple[float, dict, object]:
    from core.tagllm import run_tagging
    out = {}
    t0 = time.perf_counter()
    s = run_tagging(items, client, concurrency=concurrency,
                    on_result=lambda key, status, tags, raw, meta: out.__setitem__(key, tags))
    return time.perf_counter() - t0, out, s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=400)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[8, 16])
    ap.add_argument("--target", type=float, default=50.0, help="rows/s a sift arm should reach")
    a = ap.parse_args(argv)

    from core.llm import LLMClient, LLMConfig

    items = load_items(a.rows)
    proc, url = start_server(a.latency)
    try:
        with LLMClient(LLMConfig(url, "fake-instag", api_key_env="SIFT_BENCH_NO_KEY")) as client:
            client.chat([{"role": "user", "content": "warm-up"}])
            seq_s, want = sequential(items, client)
            results = [("sequential", 1, seq_s, len(want), 0, True)]
            for c in a.concurrency:
                secs, got, s = concurrent(items, client, c)
                results.append((f"sift c={c}", c, secs, s.rows_ok, s.rows_failed, got == want))
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    print(f"rows {len(items)} (alpaca_52k), fake server latency {a.latency * 1000:.0f} ms/request, "
          f"python {platform.python_version()}, {platform.machine()}\n")
    print("| arm | in flight | seconds | rows/s | ceiling rows/s | x sequential | ok / failed | tags = sequential "
          f"| ≥ {a.target:g} rows/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---|")
    for name, c, secs, ok, failed, same in results:
        rate = len(items) / secs
        print(f"| {name} | {c} | {secs:.2f} | {rate:.1f} | {c / a.latency:.0f} | {seq_s / secs:.1f} | "
              f"{ok} / {failed} | {'yes' if same else 'NO'} | {'yes' if rate >= a.target else 'no'} |")
    return 0 if all(r[5] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
