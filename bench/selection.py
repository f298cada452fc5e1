"""Selection benchmark: label coverage of every core.select method vs random, and speed at scale.

    python bench/selection.py                      # coverage (5 seeds, 5 % and 10 %) + speed
    python bench/selection.py --part coverage --seeds 5 --shares 0.05,0.1
    python bench/selection.py --part speed

Coverage: on labelled shared sets (../shared/data), the labels stand in for skills; a selection of N rows "covers"
the labels its rows carry. For each set, share and seed every method selects N rows and the number of distinct
labels covered is averaged over the seeds (deterministic methods give the same rows each seed); random is run
in the same loop. Sets, texts and embeddings come from bench/cluster.py (its loaders, and its cached
all-MiniLM-L6-v2 vectors bench/out/emb_<name>.npy), except the labels of ifeval, taken here as the full
multi-label instruction_id_list (25 ids) rather than cluster.py's first-id prefix. "mixed" is all five sets
in one pool, labels prefixed by their set: it rewards methods that reach small sets; "alpaca+mixed" adds
Alpaca's 52k unlabelled rows to that pool (a big generic pool hiding 124 labelled skills; no keyphrase tags,
too slow to compute for 52k rows, so no keyphrase cfds / n-tags deita there). The last row of each table is
greedy max coverage on the labels themselves: the most any method could reach (random already comes close on
the small single-set pools, so no method can show 1.3x there).
Inputs the methods need, none of them the labels:
  tags (cfds)   core.taxonomy (zero-shot taxonomy, top 3 over the confidence threshold) and/or core.keyphrase
                (open-set keyphrases, top 5), computed with core.embed.get_embedder() on the cached vectors,
                cached in bench/out/select_tags_<name>.json
  score (deita) the number of tags (taxonomy + keyphrase; InsTag's complexity), ties broken by seed;
                and, as a second variant, the length below
  length        characters of the prompt plus those of the set's reference response where it has one
                (self_instruct, alpaca_eval, belle_eval_zh, alpaca_52k; mt_bench and ifeval: prompt only)
  groups        spherical k-means on the vectors (core.select.kmeans_groups, seeded), k as named in the table
Speed: CFDS on 300k synthetic tag lists (Zipf over 5,000 tags, 0-8 per row; and 100 tags, 0-3 per row),
deita / k-center / facility location on Alpaca's 52k vectors grown to 100k rows by noisy copies (as in
bench/cluster.py's scale run); wall time and the highest RSS sampled during the call.
"""
from __future__ import annotations

import sys
from pathlib import Path

# run as a script, this folder is sys.path[0] and this file would shadow the standard library's `select`
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from bench import cluster as cb  # noqa: E402
from core import select as sel  # noqa: E402
from core.select_geo import facility_k  # noqa: E402

OUT = ROOT / "bench" / "out"
DATA = cb.DATA
SETS = ("mt_bench", "ifeval", "self_instruct", "alpaca_eval", "belle_eval_zh")


# ------------------------------------------------------------------------------------------------------ data
def _responses(name: str, n: int) -> list[str]:
    if name == "self_instruct":
        rows = cb._jsonl(DATA / "self_instruct" / "user_oriented_instructions.jsonl")
        return [(r.get("instances") or [{}])[0].get("output", "") for r in rows]
    if name == "alpaca_eval":
        return [r["output"] for r in json.loads((DATA / "alpaca_eval" / "alpaca_eval_outputs_example.json").read_text())]
    if name == "belle_eval_zh":
        return [r["std_answer"] for r in cb._jsonl(DATA / "belle_eval_zh" / "eval_set.json")]
    return [""] * n


def _tags(name: str, texts: list[str], vecs: np.ndarray) -> dict:
    """{"taxonomy": [[tag]...], "keyphrase": [[tag]...]} for the texts, cached in bench/out."""
    path = OUT / f"select_tags_{name}.json"
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("n") == len(texts):
            return cached
    from core.embed import get_embedder
    from core.keyphrase import KeyphraseTagger
    from core.taxonomy import TaxonomyTagger

    emb = get_embedder()
    t0 = time.time()
    out = {"n": len(texts), "model": emb.model_id,
           "taxonomy": [[t for t, _ in row] for row in TaxonomyTagger(emb).tag(texts, vecs=vecs)],
           "keyphrase": [[t for t, _ in row] for row in KeyphraseTagger(emb).tag(texts, vecs=vecs)]}
    print(f"# tagged {name}: {len(texts)} rows in {time.time() - t0:.1f} s ({emb.model_id})", flush=True)
    path.write_text(json.dumps(out, ensure_ascii=False))
    return out


def load(name: str) -> dict:
    """texts, vecs, labels (a set per row), lengths and tags of one labelled set; "mixed": all of them in one
    pool; "alpaca+mixed": that pool plus Alpaca's 52k unlabelled rows (no keyphrase tags: too slow to compute)."""
    if name in ("mixed", "alpaca+mixed"):
        parts = [load(s) for s in SETS] + ([_alpaca()] if name != "mixed" else [])
        d = {k: [x for p in parts for x in p[k]] for k in ("texts", "taxonomy", "keyphrase")}
        d["labels"] = [{f"{s}:{lab}" for lab in labs} for s, p in zip(SETS + ("alpaca",), parts)
                       for labs in p["labels"]]
        d["vecs"] = np.concatenate([p["vecs"] for p in parts])
        d["lengths"] = np.concatenate([p["lengths"] for p in parts])
        d["no_keyphrase"] = name != "mixed"
        return d
    texts, truth = cb.LOADERS[name][0]()
    if name == "ifeval":
        truth = [r["instruction_id_list"] for r in cb._jsonl(DATA / "ifeval" / "input_data.jsonl")]
    labels = [set(t) if isinstance(t, list) else {t} for t in truth]
    vecs = cb.embed(name, texts)
    lengths = np.array([len(t) + len(r) for t, r in zip(texts, _responses(name, len(texts)))], np.float64)
    tags = _tags(name, texts, vecs)
    return {"texts": texts, "vecs": vecs, "labels": labels, "lengths": lengths,
            "taxonomy": tags["taxonomy"], "keyphrase": tags["keyphrase"]}


def _alpaca() -> dict:
    texts, _ = cb.load_alpaca_52k()
    vecs = cb.embed("alpaca_52k", texts)
    path = OUT / "select_tags_alpaca_52k.json"
    if path.exists() and json.loads(path.read_text()).get("n") == len(texts):
        tax = json.loads(path.read_text())["taxonomy"]
    else:
        from core.embed import get_embedder
        from core.taxonomy import TaxonomyTagger

        tax = [[t for t, _ in row] for row in TaxonomyTagger(get_embedder()).tag(texts, vecs=vecs)]
        path.write_text(json.dumps({"n": len(texts), "taxonomy": tax}, ensure_ascii=False))
    rows = json.loads((DATA / "alpaca_52k" / "alpaca_data_reconstructed.json").read_text(encoding="utf-8"))
    lengths = np.array([len(t) + len(r.get("output", "")) for t, r in zip(texts, rows)], np.float64)
    return {"texts": texts, "vecs": vecs, "labels": [set() for _ in texts], "lengths": lengths, "taxonomy": tax,
            "keyphrase": [[] for _ in texts]}


# -------------------------------------------------------------------------------------------------- coverage
def oracle(labels: list[set], budget: int) -> int:
    """Labels covered by greedy max coverage on the labels themselves: the best a method could do (exactly
    min(N, labels) on single-label sets; a lower bound of the optimum on multi-label ifeval)."""
    covered: set = set()
    left = [set(x) for x in labels]
    for _ in range(budget):
        best = max(left, key=lambda s: len(s - covered), default=set())
        if not best - covered:
            break
        covered |= best
    return len(covered)


def methods(d: dict, budget: int, seed: int, graph) -> dict:
    """name -> positions for one set, budget and seed; graph: a kNN graph with at least facility_k columns."""
    vecs = d["vecs"]
    k = facility_k(len(vecs), budget)
    out = {
        "random": sel.random_sample(len(vecs), budget, seed),
        "cfds (taxonomy tags)": sel.cfds(d["taxonomy"], budget, seed),
    }
    if not d.get("no_keyphrase"):
        both = [a + b for a, b in zip(d["taxonomy"], d["keyphrase"])]
        out["cfds (keyphrase tags)"] = sel.cfds(d["keyphrase"], budget, seed)
        out["cfds (taxonomy + keyphrase)"] = sel.cfds(both, budget, seed)
        n_tags = np.array([len(set(t)) for t in both], float)
        out["deita (score = n tags)"] = sel.deita(n_tags, vecs, budget, seed=seed)
    out["deita (score = length)"] = sel.deita(d["lengths"], vecs, budget, seed=seed)
    out["longest"] = sel.longest(d["lengths"], budget)
    out["kcenter"] = sel.kcenter(vecs, budget, seed)
    out["facility (k=10)"] = sel.facility_location(None, budget, graph=(graph[0][:, :10], graph[1][:, :10]))
    out["facility (default k = 2n/N)"] = sel.facility_location(None, budget, graph=(graph[0][:, :k], graph[1][:, :k]))
    for k_name, k in (("N", budget), ("N/3", max(2, budget // 3))):
        groups = sel.kmeans_groups(vecs, k, seed=seed)
        for quota in ("proportional", "equal", "sqrt") if k_name != "N" else ("equal",):
            out[f"stratified kmeans k={k_name}, {quota}"] = sel.stratified(groups, budget, quota, seed=seed)
    return out


def coverage(names: list[str], shares: list[float], seeds: int) -> None:
    tables = {share: {} for share in shares}
    heads = {share: [] for share in shares}
    for name in names:
        d = load(name)
        n = len(d["texts"])
        n_labels = len(set().union(*d["labels"]))
        budgets = {share: sel.resolve_budget(share, n) for share in shares}
        t0 = time.time()
        graph = sel.knn_graph(d["vecs"], max(10, facility_k(n, min(budgets.values()))))
        print(f"# {name}: kNN graph in {time.time() - t0:.1f} s", flush=True)
        for share, budget in budgets.items():
            table = tables[share]
            for seed in range(seeds):
                for method, picks in methods(d, budget, seed, graph).items():
                    assert len(picks) == budget, (method, len(picks), budget)
                    got = len(set().union(*(d["labels"][i] for i in picks)))
                    table.setdefault(method, {}).setdefault(name, []).append(got)
            table.setdefault("oracle: greedy on the labels (upper reference)", {})[name] = [oracle(d["labels"], budget)]
            heads[share].append(f"{name} (n={n}, {n_labels} labels, N={budget})")
    for share in shares:
        table = tables[share]
        print(f"\n### Labels covered by N = {100 * share:g} % of the rows (mean of {seeds} seeds; x = vs random)\n")
        print("| method | " + " | ".join(heads[share]) + " | mean ratio |")
        print("|---|" + "---:|" * (len(heads[share]) + 1))
        rnd = {name: np.mean(v) for name, v in table["random"].items()}
        for method, per in table.items():
            cells = [f"{np.mean(per[name]):.1f} ({np.mean(per[name]) / rnd[name]:.2f}x)" if name in per else "-"
                     for name in names]
            ratio = np.mean([np.mean(per[name]) / rnd[name] for name in names if name in per])
            print(f"| {method} | " + " | ".join(cells) + f" | {ratio:.2f}x |", flush=True)


# ----------------------------------------------------------------------------------------------------- speed
def grown_alpaca(rows: int) -> np.ndarray:
    base = np.load(OUT / "emb_alpaca_52k.npy")
    rng = np.random.default_rng(1)
    x = base[np.tile(np.arange(len(base)), -(-rows // len(base)))[:rows]]
    copy = np.arange(rows) >= len(base)
    x[copy] += rng.normal(scale=0.02, size=(int(copy.sum()), base.shape[1])).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def synthetic_tags(n: int, vocab: int, most: int, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab + 1)
    counts = rng.integers(0, most + 1, n)
    drawn = rng.choice(vocab, int(counts.sum()), p=p / p.sum())
    names = [f"tag{i}" for i in range(vocab)]
    ends = np.cumsum(counts)
    return [[names[j] for j in drawn[e - c:e]] for c, e in zip(counts, ends)]


def timed(fn, *args, **kw):
    with cb.RssSampler() as rss:
        before = cb.rss_mb()
        t0 = time.perf_counter()
        res = fn(*args, **kw)
        wall = time.perf_counter() - t0
    return res, wall, rss.peak, before


def speed() -> None:
    rows = []
    for vocab, most in ((5000, 8), (100, 3)):
        tags = synthetic_tags(300_000, vocab, most)
        for budget in (15_000, 300_000):
            r, wall, peak, before = timed(sel.cfds, tags, budget)
            rows.append((f"cfds, 300k rows, {vocab} tags (0-{most} per row)", f"{budget:,}", wall, peak, before))
        del tags
    x = grown_alpaca(100_000)
    scores = np.random.default_rng(0).random(len(x))
    r, wall, peak, before = timed(sel.deita, scores, x, 10_000)
    rows.append(("deita, 100k x 384, threshold 0.9, random scores", f"10,000 ({len(r):,} found)", wall, peak, before))
    r, wall, peak, before = timed(sel.kcenter, x, 10_000)
    rows.append(("kcenter, 100k x 384", "10,000", wall, peak, before))
    k = facility_k(len(x), 5_000)
    exact = None
    for cells, probe in ((0, 0), (316, 16)):
        kind = "exact" if not cells else f"approximate (IVF, {cells} cells, probe {probe})"
        graph, wall_g, peak_g, before = timed(sel.knn_graph, x, k, cells, probe)
        note = ""
        if exact is None:
            exact = graph[0]
        else:
            recall = np.mean([len(np.intersect1d(a, b)) / k for a, b in zip(graph[0], exact)])
            note = f", recall@{k} vs exact {recall:.3f}"
        rows.append((f"facility: {kind} kNN graph (k={k}), 100k x 384{note}", "-", wall_g, peak_g, before))
        r, wall, peak, before = timed(sel.facility_location, None, 5_000, graph=graph)
        rows.append(("facility: lazy greedy on that graph", "5,000", wall, peak, before))
        rows.append((f"facility total, {kind} graph", "5,000", wall_g + wall, max(peak, peak_g), None))
        del graph
    print("\n### Speed (wall s; RSS = highest resident set size sampled during the call)\n")
    print("| run | budget | wall s | peak RSS MB | RSS before MB |")
    print("|---|---:|---:|---:|---:|")
    for name, budget, wall, peak, before in rows:
        print(f"| {name} | {budget} | {wall:.1f} | {peak:.0f} | {'-' if before is None else f'{before:.0f}'} |",
              flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--part", choices=("all", "coverage", "speed"), default="all")
    ap.add_argument("--datasets", default=",".join(SETS + ("mixed", "alpaca+mixed")))
    ap.add_argument("--shares", default="0.05,0.1", help="selection sizes as shares of each set")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args(argv)
    print(f"# {platform.platform()}, {os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f} (shared machine), "
          f"python {platform.python_version()}", flush=True)
    if args.part in ("all", "coverage"):
        names = [s.strip() for s in args.datasets.split(",") if s.strip()]
        coverage(names, [float(s) for s in args.shares.split(",")], args.seeds)
    if args.part in ("all", "speed"):
        speed()
    print(f"\n# load avg after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
