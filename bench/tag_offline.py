"""Offline taggers' speed and propagation quality on Alpaca rows (real all-MiniLM-L6-v2, ONNX, CPU).

    python bench/tag_offline.py                 # 10k rows of ../shared/data/alpaca_52k, markdown tables
    python bench/tag_offline.py --rows 2000 --budget 400

Measured (wall clock, one process; the machine's load average is printed because shared machines skew timings):
  embed       the instructions' vectors (core.embed.encode_unique), as the embed Step would store them
  keyphrase   KeyphraseTagger.tag given those vectors (candidate extraction, embedding each distinct phrase once,
              MMR ranking) and end to end (texts embedded too)
  taxonomy    TaxonomyTagger construction (embedding the taxonomy) and .tag given the vectors / end to end
Propagation (core.propagate), with the taxonomy tagger's tags as the "labels" (stand-ins for LLM tags):
  evaluate()  hold back 20% of the rows, propagate from the other 80%, micro precision / recall / F1
  budget      tag only `budget` rows (choose_sample's stratified k-means sample vs a uniform random sample),
              propagate to all the others and score against their own taxonomy tags
and the same evaluate() with keyphrase tags as labels (open-set, mostly row-specific: a hard case).
Results also go to bench/out/tag_offline.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _score(pred: list[list[tuple[str, float]]], truth: list[list[str]]) -> dict:
    tp = sum(len({t for t, _ in p} & set(g)) for p, g in zip(pred, truth))
    n_pred, n_true = sum(len(p) for p in pred), sum(len(g) for g in truth)
    pr, rc = tp / max(1, n_pred), tp / max(1, n_true)
    return {"precision": pr, "recall": rc, "f1": 2 * pr * rc / (pr + rc) if pr + rc else 0.0,
            "coverage": sum(bool(p) for p in pred) / max(1, len(pred))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--budget", type=int, default=2_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--min-conf", type=float, default=0.5)
    a = ap.parse_args()
    from core.embed import encode_unique, get_embedder
    from core.keyphrase import KeyphraseTagger
    from core.propagate import choose_sample, evaluate, propagate
    from core.taxonomy import TaxonomyTagger

    rows = json.loads((DATA / "alpaca_52k" / "alpaca_data_reconstructed.json").read_text(encoding="utf-8"))
    texts = [r["instruction"] for r in rows[: a.rows]]
    n = len(texts)
    load0 = os.getloadavg()[0]
    emb, t_load = _timed(get_embedder)
    vecs, t_emb = _timed(lambda: encode_unique(emb, texts))
    kt = KeyphraseTagger(emb)
    kp, t_kp = _timed(lambda: kt.tag(texts, vecs=vecs))
    n_phrases = len(kt._cache)
    tt, t_tinit = _timed(lambda: TaxonomyTagger(emb))
    tx, t_tx = _timed(lambda: tt.tag(texts, vecs=vecs))
    load1 = os.getloadavg()[0]

    def rate(sec):
        return f"{n / sec:,.0f} rows/s ({60 * n / sec:,.0f}/min)"
    print(f"{n:,} Alpaca instructions, {emb.model_id}, {os.cpu_count()} CPUs, load average {load0:.1f} at start, "
          f"{load1:.1f} after tagging; model load {t_load:.1f} s\n")
    print("| step | seconds | throughput | note |\n|---|---|---|---|")
    print(f"| embed instructions | {t_emb:.1f} | {rate(t_emb)} | shared by both taggers (the embed Step) |")
    print(f"| keyphrase, given vectors | {t_kp:.1f} | {rate(t_kp)} | {n_phrases:,} distinct phrases embedded |")
    print(f"| keyphrase, end to end | {t_emb + t_kp:.1f} | {rate(t_emb + t_kp)} | |")
    print(f"| taxonomy init | {t_tinit:.1f} | | {len(tt.tags)} tags embedded once |")
    print(f"| taxonomy, given vectors | {t_tx:.2f} | {rate(t_tx)} | |")
    print(f"| taxonomy, end to end | {t_emb + t_tinit + t_tx:.1f} | {rate(t_emb + t_tinit + t_tx)} | |")
    per_kp = np.mean([len(r) for r in kp])
    per_tx = np.mean([len(r) for r in tx])
    print(f"\ntags per row: keyphrase {per_kp:.2f} ({sum(not r for r in kp)} rows without), "
          f"taxonomy {per_tx:.2f} ({sum(not r for r in tx)} rows without); "
          f"distinct: keyphrase {len({t for r in kp for t, _ in r}):,}, taxonomy {len({t for r in tx for t, _ in r})}")

    tx_tags = [[t for t, _ in r] for r in tx]
    kp_tags = [[t for t, _ in r] for r in kp]
    res = {"rows": n, "model": emb.model_id, "load_avg": [load0, load1], "seconds": {
        "embed": t_emb, "keyphrase_given_vectors": t_kp, "taxonomy_init": t_tinit, "taxonomy_given_vectors": t_tx},
        "distinct_phrases": n_phrases, "propagation": {}}
    print(f"\npropagation (k={a.k}, min_conf={a.min_conf}), micro-averaged over (row, tag) pairs:\n")
    print("| labels | setting | labelled | scored | precision | recall | F1 | rows given a tag | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, tags in (("taxonomy tags", tx_tags), ("keyphrase tags", kp_tags)):
        r, sec = _timed(partial(evaluate, vecs, tags, holdout=0.2, k=a.k, min_conf=a.min_conf))
        res["propagation"][f"{name} evaluate"] = r
        print(f"| {name} | evaluate(), 20% held out | {r['n_train']:,} | {r['n_test']:,} | {r['precision']:.3f} | "
              f"{r['recall']:.3f} | {r['f1']:.3f} | {r['coverage']:.2f} | {sec:.1f} |")
    samplers = {"choose_sample": partial(choose_sample, vecs, a.budget, seed=0),
                "random": lambda: np.sort(np.random.default_rng(0).choice(n, a.budget, replace=False))}
    for how, pick in samplers.items():
        idx, t_pick = _timed(pick)
        rest = np.setdiff1d(np.arange(n), idx)
        pred, t_prop = _timed(partial(propagate, vecs[idx], [tx_tags[i] for i in idx], vecs[rest], k=a.k,
                                      min_conf=a.min_conf))
        s = _score(pred, [tx_tags[i] for i in rest])
        s["sample_distinct_tags"] = len({t for i in idx for t in tx_tags[i]})
        res["propagation"][f"taxonomy budget {how}"] = {**s, "labelled": len(idx), "scored": len(rest),
                                                          "pick_s": t_pick, "propagate_s": t_prop}
        print(f"| taxonomy tags | budget {a.budget:,}, {how} sample | {len(idx):,} | {len(rest):,} | "
              f"{s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['coverage']:.2f} | "
              f"{t_pick:.1f} + {t_prop:.1f} |")
    print("\ndistinct taxonomy tags in the labelled sample: " + ", ".join(
        f"{how} {res['propagation'][f'taxonomy budget {how}']['sample_distinct_tags']}" for how in samplers)
        + f" (of {len({t for r in tx_tags for t in r})} in all rows)")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "tag_offline.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
