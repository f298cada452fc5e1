"""Embedding benchmark: rows/s of Sift's embed Step vs plain SentenceTransformer.encode, same model, same rows.

    python bench/embed.py                  # 5,000 Alpaca rows (about 1 min per arm on 2 CPU cores)
    python bench/embed.py --rows 20000 --backend torch

Rows: the first N records of ../shared/data/alpaca_52k, plus (--dup-share, default 10%) records repeated
with the same instruction but a different output, as real instruction sets have (paraphrased answers to one
prompt). The text embedded is the instruction (recipe "instruction").

Arms, in one run:
  plain   SentenceTransformer(model).encode(texts, batch_size=32) over every row's text, as a user would call it;
  cold    `core.steps.embed` into a fresh workspace (identical texts embedded once, large sorted calls,
          the chosen backend), committed batch by batch into DuckDB;
  warm    the same Step again: every row already has its vector (cache by content hash).
Targets (issue 4): cold ≥1.5x plain, warm ≥50x plain. Also the cosine of cold's vectors to plain's.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
SOURCE = ROOT.parent / "shared" / "data" / "alpaca_52k" / "alpaca_data_reconstructed.json"
OUT = ROOT / "bench" / "out"


def build(rows: int, dup_share: float) -> Path:
    recs = json.loads(SOURCE.read_text(encoding="utf-8"))
    n_dup = int(rows * dup_share)
    base = recs[: rows - n_dup]
    dups = [dict(r, output=r["output"] + " (another answer)") for r in base[:n_dup]]
    path = OUT / f"embed_{rows}.jsonl"
    OUT.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for r in base + dups:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--dup-share", type=float, default=0.10)
    ap.add_argument("--backend", default=None, help="embedder backend for the core arm (default: core's default)")
    ap.add_argument("--model", default=None)
    a = ap.parse_args(argv)

    import numpy as np
    from sentence_transformers import SentenceTransformer

    from core import embed as emb
    from core import steps
    from core.importer import import_paths
    from core.store import Store

    path = build(a.rows, a.dup_share)
    ws = OUT / "ws_embed"
    shutil.rmtree(ws, ignore_errors=True)
    store = Store(ws)
    import_paths(store, [str(path)], name="alpaca")
    ids = None
    texts = [json.loads(line)["instruction"] for line in path.open(encoding="utf-8")]
    n = len(texts)

    model_dir = emb.resolve_model(a.model)
    plain = SentenceTransformer(model_dir, device="cpu")
    plain.encode(texts[:64])  # warm-up: load weights, first-call overheads
    t0 = time.perf_counter()
    ref = plain.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    t_plain = time.perf_counter() - t0

    opts = {"backend": a.backend} if a.backend else {}
    e = emb.get_embedder(a.model, **opts)
    e.encode(texts[:64])
    cold = steps.embed(store, embedder=e, recipe="instruction")
    warm = steps.embed(store, embedder=e, recipe="instruction")
    t_cold = cold["seconds"]
    t_warm = max(warm["seconds"], 1e-6)

    ids, vecs = store.vectors(cold["space"])
    order = np.argsort(ids)
    vecs = vecs[order]
    cos = np.sum(vecs * ref, axis=1)  # ids follow file order, as texts do
    store.close()

    print(f"\nEmbedding benchmark — {n:,} Alpaca rows ({len(set(texts)):,} distinct instructions), model "
          f"{e.model_id}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores\n")
    print("| arm | rows | seconds | rows/s | vs plain |")
    print("|---|---:|---:|---:|---:|")
    rp = n / t_plain
    for name, t, rows in (("plain SentenceTransformer.encode", t_plain, n),
                          (f"core embed, cold ({cold['texts_encoded']:,} texts encoded)", t_cold, n),
                          ("core embed, warm (all cached)", t_warm, n)):
        print(f"| {name} | {rows:,} | {t:.2f} | {rows / t:,.0f} | {rows / t / rp:.2f}x |")
    print(f"\ncosine(core cold, plain fp32): mean {cos.mean():.4f}, min {cos.min():.4f}")
    ok_cold, ok_warm = (n / t_cold) / rp >= 1.5, (n / t_warm) / rp >= 50
    print(f"targets: cold ≥1.5x plain: {'met' if ok_cold else 'NOT met'}; warm ≥50x plain: "
          f"{'met' if ok_warm else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
