"""Tagging benchmark (issue: InsTag-style tagging): both parts in one run, each printing its table.

    python bench/tag.py                      # LLM part (fake server, 200 ms a request) + offline taggers on 10k rows
    python bench/tag.py --quick              # 200 LLM rows, 2,000 offline rows

1. bench/tag_llm.py: rows/s of core.tagllm.run_tagging at concurrency 8 and 16 vs a sequential client, same rows,
   same local OpenAI-compatible server (tests/fake_llm.py) answering after 200 ms.
2. bench/tag_offline.py: rows/s of the keyphrase and taxonomy taggers (real all-MiniLM-L6-v2, offline) on the first
   10,000 rows of ../shared/data/alpaca_52k, and propagation precision/recall against held-back tags.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rows, for a try")
    a = ap.parse_args()
    llm = ["--rows", "200"] if a.quick else []
    off = ["--rows", "2000", "--budget", "500"] if a.quick else []
    rc = 0
    for script, args in (("tag_llm.py", llm), ("tag_offline.py", off)):
        print(f"\n## {script}\n", flush=True)
        rc |= subprocess.call([sys.executable, str(HERE / script), *args])
    return rc


if __name__ == "__main__":
    sys.exit(main())
