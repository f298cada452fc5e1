"""Dedup + decontamination benchmark: MinHash LSH speed and recall, the Self-Instruct ROUGE-L filter, SemDeDup,
and n-gram / embedding decontamination of Alpaca against mt_bench, alpaca_eval and ifeval.

    python bench/dedup.py                  # 100k + 1M MinHash rows, rouge 10k/52k, decontamination
    python bench/dedup.py --rows 100000    # MinHash on 100k rows only

MinHash input: bench/out/alpaca_<rows>.jsonl (built by bench/ingest.py: Alpaca 52k repeated, each copy with a
row counter appended to the instruction and the output's words rotated), streamed line by line. The text
hashed is the whole row, instruction + input + output (as the Store's conversation text), because that is
what the copies share; word 5-shingles, 128 permutations, threshold 0.8. Every measurement runs in a child
process so that its peak RSS (ru_maxrss) is its own. Quality: copies of the same Alpaca row are the planted
near-duplicates; for a sample of such pairs the exact Jaccard of their 5-shingle sets is computed and we
report which share a group (recall at true Jaccard >= 0.8) and, for evidence edges, the exact Jaccard.
ROUGE-L filter: Alpaca instructions (field "instruction" only, as Self-Instruct compares instructions).
Decontamination: Alpaca prompts (instruction + input) against every user turn of the eval files (13-grams);
embedding matches use the cached all-MiniLM-L6-v2 vectors in bench/out/emb_*.npy (from bench/cluster.py) when
present. The machine may be shared: the load average is printed with the results.
"""
from __future__ import annotations

import sys
from pathlib import Path

# bench/ itself off the path: a bench script named like a stdlib module (bench/select.py) would shadow it
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import itertools
import json
import os
import random
import resource
import subprocess
import time

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out"
ALPACA = DATA / "alpaca_52k" / "alpaca_data_reconstructed.json"
EVALS = {"mt_bench": DATA / "mt_bench" / "mt_bench_question.jsonl",
         "alpaca_eval": DATA / "alpaca_eval" / "alpaca_eval_outputs_example.json",
         "ifeval": DATA / "ifeval" / "input_data.jsonl"}
BASE = 52002  # rows of Alpaca; row k of the perturbed file is a copy of Alpaca row k % BASE
sys.path.insert(0, str(ROOT))
RECALL_W = (0.1, 0.9)  # core.dedup.RECALL_WEIGHTS, the default

import numpy as np  # noqa: E402
import orjson  # noqa: E402


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def row_text(rec: dict) -> str:
    return "\n".join(p for p in (rec.get("instruction"), rec.get("input"), rec.get("output")) if p)


def stream(path: Path, rows: int):
    with open(path, "rb") as f:
        for line in itertools.islice(f, rows):
            yield row_text(orjson.loads(line))


def shingles(text: str, unit: str = "word", k: int = 5) -> set:
    """The shingle set core.dedup hashes: k words, or k characters of the lower-cased text with every run of
    non-word characters as one space."""
    import re

    from core.textnorm import word_tokens
    w = word_tokens(text) if unit == "word" else re.sub(r"[\W_]+", " ", text.lower()).strip()
    return {tuple(w[i:i + k]) for i in range(max(1, len(w) - k + 1))} if w else set()


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


# ------------------------------------------------------------------------------------------------ child tasks
def child_minhash(rows: int, unit: str, weights: tuple[float, float]) -> dict:
    from core.dedup import exact_groups, lsh_params, minhash_groups, text_key
    path = OUT / f"alpaca_{rows}.jsonl" if (OUT / f"alpaca_{rows}.jsonl").exists() else OUT / "alpaca_1000000.jsonl"
    t0 = time.perf_counter()
    n_read = sum(1 for _ in stream(path, rows))
    read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = minhash_groups(stream(path, rows), threshold=0.8, num_perm=128, shingle=5, unit=unit, weights=weights)
    total_s = time.perf_counter() - t0
    g = res.groups
    t0 = time.perf_counter()
    ex = exact_groups([text_key(t) for t in stream(path, rows)])
    exact_s = time.perf_counter() - t0
    # quality on a sample of planted pairs (rows k and k + j * BASE are copies of one Alpaca row)
    rng = random.Random(0)
    pairs = []
    while len(pairs) < 3000 and rows > BASE:
        k = rng.randrange(rows - BASE)
        pairs.append((k, k + BASE * rng.randint(1, (rows - 1 - k) // BASE)))
    edges = res.pairs[rng.sample(range(len(res.pairs)), min(3000, len(res.pairs)))] if len(res.pairs) else []
    need = {r for p in pairs for r in p} | {int(r) for e in edges for r in e}
    texts = {i: t for i, t in enumerate(stream(path, rows)) if i in need}
    true_j = np.array([jaccard(shingles(texts[a], unit), shingles(texts[b], unit)) for a, b in pairs])
    same = np.array([g[a] == g[b] and g[a] >= 0 for a, b in pairs])
    edge_j = np.array([jaccard(shingles(texts[int(a)], unit), shingles(texts[int(b)], unit)) for a, b in edges])
    bands, r = lsh_params(0.8, 128, weights)

    def share(mask):
        return float(same[mask].mean()) if mask.any() else None
    return {"rows": n_read, "unit": unit, "bands": f"{bands} x {r}", "read_s": read_s, "total_s": total_s,
            "rss_gb": peak_rss_gb(), "groups": int(g.max() + 1) if g.size else 0, "grouped_rows": int((g >= 0).sum()),
            "exact_s": exact_s, "exact_groups": int(ex.max() + 1) if ex.size else 0, "planted_pairs": len(pairs),
            "n_hi": int((true_j >= 0.8).sum()), "recall_hi": share(true_j >= 0.8),
            "recall_mid": share((true_j >= 0.8) & (true_j < 0.9)), "recall_top": share(true_j >= 0.9),
            "grouped_lo": share(true_j < 0.7),
            "edge_j_ge_08": float((edge_j >= 0.8).mean()) if len(edge_j) else None,
            "edge_j_ge_07": float((edge_j >= 0.7).mean()) if len(edge_j) else None,
            "edge_j_min": float(edge_j.min()) if len(edge_j) else None}


def child_datasketch(rows: int) -> dict:
    """Pure datasketch for comparison: MinHash.bulk (SHA-1 per shingle) and MinHashLSH insert + query."""
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    from core.dedup import minhash_signatures
    from core.textnorm import word_tokens
    path = OUT / "alpaca_1000000.jsonl"
    texts = list(stream(path, 5000))
    t0 = time.perf_counter()
    sets = []
    for t in texts:
        w = word_tokens(t)
        sets.append([" ".join(w[i:i + 5]).encode() for i in range(max(1, len(w) - 4))])
    MinHash.bulk(sets, num_perm=128, seed=1)
    bulk_rps = len(texts) / (time.perf_counter() - t0)
    sig, _ = minhash_signatures(stream(path, rows))
    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    mh = [LeanMinHash(seed=1, hashvalues=s, scheme="affine32") for s in sig]
    with lsh.insertion_session() as s:
        for i, m in enumerate(mh):
            s.insert(i, m)
    cand = sum(len(lsh.query(m)) - 1 for m in mh)
    return {"bulk_rows_per_s": bulk_rps, "lsh_rows": rows, "lsh_s": time.perf_counter() - t0, "lsh_candidates": cand}


def child_rouge(rows: int) -> dict:
    from core.rouge import rouge_filter
    texts = [r["instruction"] for r in orjson.loads(ALPACA.read_bytes())[:rows]]
    rouge_filter(texts[:200])  # compile (cached on disk after the first run)
    t0 = time.perf_counter()
    res = rouge_filter(texts, 0.7)
    s = time.perf_counter() - t0
    drop = np.flatnonzero(~res.keep)
    drop = drop[np.argsort(-res.scores[drop], kind="stable")]  # highest F first; show top, middle, bottom
    ex = [(texts[i], texts[res.matched[i]], float(res.scores[i])) for i in drop[[0, len(drop) // 2, -1]]] if len(drop) else []
    return {"rows": len(texts), "seconds": s, "kept": int(res.keep.sum()), "rss_gb": peak_rss_gb(), "examples": ex}


def child_semantic() -> dict:
    from sklearn.cluster import KMeans

    from core.dedup import semantic_groups
    path = OUT / "emb_alpaca_52k.npy"
    if not path.exists():
        return {}
    vecs = np.load(path)
    labels = KMeans(n_clusters=100, n_init=1, random_state=0).fit_predict(vecs)
    out = {"rows": len(vecs)}
    for thr in (0.95, 0.9):
        t0 = time.perf_counter()
        g = semantic_groups(vecs, labels, thr).groups
        out[str(thr)] = {"seconds": time.perf_counter() - t0, "groups": int(g.max() + 1), "rows": int((g >= 0).sum())}
    out["rss_gb"] = peak_rss_gb()
    return out


def child_decontam() -> dict:
    from core.decontam import (
        embedding_matches,
        load_eval_texts,
        ngram_index,
        ngram_matches,
    )
    recs = orjson.loads(ALPACA.read_bytes())
    prompts = ["\n".join(p for p in (r["instruction"], r["input"]) if p.strip()) for r in recs]
    full = [p + "\n" + r["output"] for p, r in zip(prompts, recs)]
    out = {"rows": len(prompts), "sets": {}}
    for name, path in EVALS.items():
        t0 = time.perf_counter()
        ev = load_eval_texts([path])
        idx = ngram_index([e.text for e in ev], n=13)
        hits = ngram_matches(prompts, idx)
        s = time.perf_counter() - t0
        hits_full = ngram_matches(full, idx)
        d = {"prompts": len(ev), "seconds": s, "rows_hit": len({h[0] for h in hits}),
             "rows_hit_full": len({h[0] for h in hits_full}),
             "examples": [(prompts[r][:90], ev[e].text[:90], g) for r, e, g in hits[:4]]}
        emb, emb_ev = OUT / "emb_alpaca_52k.npy", OUT / f"emb_{name}.npy"
        if emb.exists() and emb_ev.exists():
            ev_texts = bench_cluster().LOADERS[name][0]()[0]  # the texts those cached vectors came from
            for thr in (0.9, 0.95):
                r, e, c = embedding_matches(np.load(emb), np.load(emb_ev), thr)
                d[f"emb_{thr}"] = int(r.size)
                if thr == 0.9:
                    d["emb_examples"] = [(prompts[i][:90], ev_texts[j][:90], float(x)) for i, j, x in
                                         list(zip(r, e, c))[:3]]
        out["sets"][name] = d
    return out


def bench_cluster():
    """bench/cluster.py as a module, loaded by path."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_cluster", ROOT / "bench" / "cluster.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------------------------------------ driver
def run_child(*args: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache")))
    p = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env,
                       check=False)
    if p.returncode:
        sys.stderr.write(p.stderr[-3000:])
        raise SystemExit(f"child {args} failed")
    return json.loads(p.stdout.strip().splitlines()[-1])


def fmt(x, nd=2) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--child", nargs="+")
    ap.add_argument("--skip", nargs="*", default=[], help="minhash datasketch rouge semantic decontam")
    a = ap.parse_args(argv)
    if a.child:
        kind, *rest = a.child
        fn = {"minhash": lambda: child_minhash(int(rest[0]), rest[1], (float(rest[2]), float(rest[3]))), "datasketch": lambda: child_datasketch(int(rest[0])),
              "rouge": lambda: child_rouge(int(rest[0])), "semantic": child_semantic, "decontam": child_decontam}[kind]
        print(json.dumps(fn()))
        return 0
    load = os.getloadavg()
    print(f"# {os.cpu_count()} cores, load average {load[0]:.2f} / {load[1]:.2f} at start (the machine is shared)\n")
    if "minhash" not in a.skip:
        print("## MinHash LSH near-duplicates (word 5-shingles unless said, 128 perms, threshold 0.8; text = "
              "instruction + input + output)\n")
        print("| rows | unit | bands x rows | total s | rows/s | of which read+parse s | peak RSS GB | groups | "
              "rows in groups | exact-dup groups (s) |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        quality = []
        for rows in a.rows:
            runs = [("word", RECALL_W), ("word", (0.5, 0.5)), ("char", RECALL_W)] if rows <= 100_000 else [("word", RECALL_W)]
            for unit, w in runs:
                r = run_child("minhash", str(rows), unit, *map(str, w))
                print(f"| {r['rows']:,} | {unit} | {r['bands']} | {r['total_s']:.1f} | {r['rows'] / r['total_s']:,.0f} | "
                      f"{r['read_s']:.1f} | {r['rss_gb']:.2f} | {r['groups']:,} | {r['grouped_rows']:,} | "
                      f"{r['exact_groups']:,} ({r['exact_s']:.1f}) |", flush=True)
                quality.append(r)
        print("\nPlanted pairs (copies of one Alpaca row), exact Jaccard J of their shingle sets; share put in one group:\n")
        print("| rows | unit | bands x rows | pairs | J >= 0.8 | grouped: J >= 0.8 | 0.8 <= J < 0.9 | J >= 0.9 | "
              "J < 0.7 | evidence edges: share J >= 0.8 / >= 0.7, min J |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in quality:
            print(f"| {r['rows']:,} | {r['unit']} | {r['bands']} | {r['planted_pairs']:,} | {r['n_hi']:,} | "
                  f"{fmt(r['recall_hi'], 3)} | {fmt(r['recall_mid'], 3)} | {fmt(r['recall_top'], 3)} | "
                  f"{fmt(r['grouped_lo'], 3)} | {fmt(r['edge_j_ge_08'], 3)} / {fmt(r['edge_j_ge_07'], 3)}, "
                  f"{fmt(r['edge_j_min'], 3)} |")
    if "datasketch" not in a.skip:
        d = run_child("datasketch", "100000")
        print(f"\ndatasketch alone: MinHash.bulk (SHA-1) {d['bulk_rows_per_s']:,.0f} rows/s (5,000 rows); "
              f"MinHashLSH insert + query of {d['lsh_rows']:,} LeanMinHash {d['lsh_s']:.1f} s "
              f"({d['lsh_candidates']:,} candidate pairs)")
    if "rouge" not in a.skip:
        print("\n## Self-Instruct ROUGE-L filter (threshold 0.7, Alpaca instructions, row order)\n")
        print("| rows | seconds | rows/s | kept | dropped | peak RSS GB |")
        print("|---|---|---|---|---|---|")
        exs = []
        for rows in (10_000, BASE):
            r = run_child("rouge", str(rows))
            print(f"| {r['rows']:,} | {r['seconds']:.2f} | {r['rows'] / r['seconds']:,.0f} | {r['kept']:,} | "
                  f"{r['rows'] - r['kept']:,} | {r['rss_gb']:.2f} |", flush=True)
            exs = r["examples"]
        for dropped, kept, f in exs:
            print(f"- dropped {dropped!r} ~ kept {kept!r} (F = {f:.2f})")
    if "semantic" not in a.skip:
        r = run_child("semantic")
        if r:
            print(f"\n## SemDeDup on {r['rows']:,} Alpaca embeddings (k-means, 100 clusters; peak RSS {r['rss_gb']:.2f} GB)\n")
            print("| cosine >= | seconds | groups | rows in groups |")
            print("|---|---|---|---|")
            for thr in ("0.95", "0.9"):
                print(f"| {thr} | {r[thr]['seconds']:.2f} | {r[thr]['groups']:,} | {r[thr]['rows']:,} |")
    if "decontam" not in a.skip:
        r = run_child("decontam")
        print(f"\n## Decontamination of {r['rows']:,} Alpaca rows (13-grams; prompt = instruction + input)\n")
        print("| eval set | prompts (user turns) | seconds | rows hit (prompt) | rows hit (prompt + output) | "
              "embedding cos >= 0.9 | >= 0.95 |")
        print("|---|---|---|---|---|---|---|")
        for name, d in r["sets"].items():
            print(f"| {name} | {d['prompts']} | {d['seconds']:.2f} | {d['rows_hit']} | {d['rows_hit_full']} | "
                  f"{d.get('emb_0.9', 'n/a')} | {d.get('emb_0.95', 'n/a')} |")
        print("\n(embedding columns: cached all-MiniLM-L6-v2 vectors of bench/cluster.py's texts: for mt_bench the first "
              "turns of mt_bench + vicuna_bench, 160 prompts)\n")
        for name, d in r["sets"].items():
            for row, ev, gram in d["examples"]:
                print(f"- {name} 13-gram: {row!r} ~ {ev!r} [{gram}]")
            for row, ev, c in d.get("emb_examples", []):
                print(f"- {name} embedding {c:.3f}: {row!r} ~ {ev!r}")
    load = os.getloadavg()
    print(f"\n# load average {load[0]:.2f} / {load[1]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
