"""Steps against a real Store: embed (cache by content hash, dedupe, resume after kill -9), map, clusters,
names kept across re-runs, regions as Filters, semantic search, and the CLI's --json contract."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core import region, steps
from core.embed import FakeEmbedder
from core.filters import Filter, parse_where
from core.importer import import_paths
from core.store import Store

ROOT = Path(__file__).resolve().parents[1]
TOPICS = {
    "cook": "bake bread flour yeast oven pasta soup garlic onion butter",
    "code": "python function list sort class debug loop json parse module",
    "sport": "football goal team league match keeper offside referee striker pitch",
}


class Counting(FakeEmbedder):
    def __init__(self):
        super().__init__()
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen.extend(texts)
        return super().encode(texts)


def _records(n_per_topic: int = 40) -> list[dict]:
    rng = np.random.default_rng(7)
    recs = []
    for topic, words in TOPICS.items():
        w = words.split()
        for i in range(n_per_topic):
            recs.append({"instruction": " ".join(rng.choice(w, 6)) + f" {i}", "input": "",
                         "output": f"answer {topic} {i}", "topic": topic})
    return recs


@pytest.fixture()
def ws(tmp_path) -> Path:
    recs = _records()
    recs += [dict(recs[0]), dict(recs[1], output="another answer")]  # an exact duplicate; a repeated instruction
    f = tmp_path / "topics.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    store = Store(tmp_path / "ws")
    import_paths(store, [str(f)], name="topics")
    store.close()
    return tmp_path / "ws"


def test_embed_caches_by_hash_and_embeds_identical_texts_once(ws):
    store = Store(ws)
    e = Counting()
    res = steps.embed(store, embedder=e, recipe="instruction", batch=50)
    total = store.count()
    assert res["rows"] == total == 122
    assert res["embedded"] == total - 1  # the exact duplicate shares its hash
    assert len(e.seen) == len(set(e.seen)) == 120  # the repeated instruction was embedded once
    assert store.coverage(res["space"]) == (total, total)
    again = steps.embed(store, embedder=e, recipe="instruction")
    assert again["embedded"] == 0 and again["cached"] == total and len(e.seen) == 120
    # another recipe is another space, with its own vectors
    other = steps.embed(store, embedder=e, recipe="response")
    assert other["space"] != res["space"] and other["embedded"] == total - 1
    runs = store.runs()
    assert list(runs["step"][:3]) == ["embed"] * 3 and set(runs["status"][:3]) == {"done"}


def test_embed_only_new_rows_after_another_import(ws, tmp_path):
    store = Store(ws)
    steps.embed(store, embedder=FakeEmbedder())
    f = tmp_path / "more.jsonl"
    f.write_text(json.dumps({"instruction": "brand new question", "input": "", "output": "x"}) + "\n")
    import_paths(store, [str(f)], name="more")
    e = Counting()
    assert steps.embed(store, embedder=e)["embedded"] == 1 and e.seen == ["brand new question"]


def test_map_cluster_names_and_regions(ws):
    store = Store(ws)
    steps.embed(store, embedder=FakeEmbedder())
    m = steps.map2d(store, mode="reproducible")
    assert m["how"] == "fitted" and m["rows"] == store.count()
    assert store.count(Filter((parse_where("x not null"),))) == store.count()
    assert steps.map2d(store, mode="reproducible")["rows"] == 0  # nothing new to place
    res = steps.cluster(store, min_cluster_size=10, reassign=True, mode="reproducible")
    assert res["clusters"] >= 2 and res["noise_fraction_after"] == 0.0
    assert set(res) >= {"clusters", "sizes", "labels", "noise_fraction"}
    # clusters follow the topics: each cluster is dominated by one topic
    df = store.rows(limit=1000, columns=["id", "cluster", "cluster_label", "extra"])
    df["topic"] = df["extra"].map(lambda s: json.loads(s)["topic"])
    purity = df.groupby("cluster")["topic"].agg(lambda s: s.value_counts().iloc[0] / len(s))
    assert purity.min() >= 0.8, purity
    # keyword labels name the topic: a cluster's keywords are words of its main topic
    major = df.groupby("cluster")["topic"].agg(lambda s: s.value_counts().index[0])
    for c in store.clusters():
        if c["cluster"] >= 0:
            words = {w for k in c["keywords"] for w in k.split()}
            assert words and words <= set(TOPICS[major[c["cluster"]]].split()), (c["keywords"], major[c["cluster"]])
            assert res["labels"][str(c["cluster"])] == ", ".join(c["keywords"][:4])
    # a renamed cluster keeps its name on a re-run that finds the same cluster
    c0 = store.clusters()[0]["cluster"]
    store.rename_cluster(c0, "My <b>cluster</b>")
    assert store.count(Filter((parse_where("cluster_label = My <b>cluster</b>"),))) > 0
    again = steps.cluster(store, min_cluster_size=10, reassign=True, mode="reproducible")
    assert again["renamed_kept"] == 1 and "My <b>cluster</b>" in again["labels"].values()
    # a lasso region over the map becomes a Filter that counts, describes and exports
    pts, total = store.points()
    xs, ys = pts["x"].to_numpy(), pts["y"].to_numpy()
    shape = {"lasso": [[xs.min() - 1, np.median(xs), np.median(xs), xs.min() - 1],
                       [ys.min() - 1, ys.min() - 1, ys.max() + 1, ys.max() + 1]]}
    inside = region.mask(xs, ys, [shape])
    assert 0 < inside.sum() < total
    flt = Filter(ids=tuple(int(i) for i in pts["id"][inside]), ids_label=region.describe([shape]))
    assert store.count(flt) == inside.sum()
    assert flt.describe().startswith("row is in the map region (lasso)")
    from core.export import export_rows
    man = export_rows(store, flt, "region.jsonl", "original")
    assert man["rows"] == inside.sum() and "map region" in json.dumps(man["filter"])


def test_kmeans_and_similar(ws):
    store = Store(ws)
    steps.embed(store, embedder=FakeEmbedder())
    res = steps.cluster(store, method="kmeans", k=3, mode="reproducible")
    assert res["clusters"] == 3 and res["noise_fraction"] == 0.0
    sport = set(TOPICS["sport"].split())

    def is_sport(s):
        return set(s.split()[:-1]) <= sport
    near = steps.similar(store, text="football goal referee", embedder=FakeEmbedder(), k=5)
    assert len(near) == 5 and all(is_sport(s) for s in near["instruction"])
    assert list(near["score"]) == sorted(near["score"], reverse=True)
    rid = int(near["id"].iloc[0])
    by_row = steps.similar(store, row_id=rid, k=5)
    assert rid not in set(by_row["id"]) and all(is_sport(s) for s in by_row["instruction"])
    # within a filter
    inside = steps.similar(store, text="football goal", embedder=FakeEmbedder(), k=5,
                           flt=Filter((parse_where("instruction contains python"),)))
    assert all("python" in s for s in inside["instruction"])


def test_steps_without_embeddings_say_what_to_do(ws):
    from core.store import StoreError
    store = Store(ws)
    for fn in (lambda: steps.map2d(store), lambda: steps.cluster(store), lambda: steps.similar(store, text="x")):
        with pytest.raises(StoreError, match="embed"):
            fn()


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env or os.environ.copy(), timeout=600)


def test_cli_embed_cluster_rows_json(ws):
    r = _cli("embed", "--workspace", str(ws), "--model", "fake", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["embedded"] == 121 and out["model"] == "fake" and out["text"] == "instruction"
    r = _cli("cluster", "--workspace", str(ws), "--min-cluster-size", "10", "--reassign-noise", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["clusters"] >= 2 and 0 <= out["noise_fraction"] <= 1 and out["noise_fraction_after"] == 0
    assert sum(out["sizes"].values()) == 122 and set(out["sizes"]) == set(out["labels"])
    r = _cli("map", "--workspace", str(ws), "--json")
    assert r.returncode == 0, r.stderr
    r = _cli("rows", "--workspace", str(ws), "--limit", "3", "--json")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 3 and all({"cluster", "cluster_label", "x", "y"} <= set(row) for row in rows)
    assert all(row["cluster"] is not None and row["x"] is not None for row in rows)
    r = _cli("cluster", "--workspace", str(ws), "--method", "nope")
    assert r.returncode != 0 and "hdbscan" in r.stderr and "Traceback" not in r.stderr


KILL_SCRIPT = """
import sys
from core import steps
from core.store import Store
store = Store(sys.argv[1])
def progress(stage, done, total, info=None):
    print(done, total, flush=True)
steps.embed(store, None, "instruction", progress=progress, batch=int(sys.argv[2]))
print("finished", flush=True)
"""


@pytest.mark.slow
def test_real_embedding_killed_mid_run_resumes_without_gaps_or_repeats(tmp_path):
    recs = [{"instruction": f"Question number {i}: explain topic {i % 37} in simple words, case {i}.",
             "input": "", "output": "ok"} for i in range(1500)]
    f = tmp_path / "many.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    ws = tmp_path / "ws"
    store = Store(ws)
    import_paths(store, [str(f)], name="many")
    store.close()
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(ws), "100"], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = 0
    deadline = time.time() + 300
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        parts = line.split()
        if parts[0].isdigit() and int(parts[0]) >= 300:  # a few batches committed: kill it mid-run
            done = int(parts[0])
            os.kill(p.pid, signal.SIGKILL)
            break
    p.wait(timeout=60)
    assert done >= 300, p.stderr.read()[-2000:]
    store = Store(ws)
    sid = steps.active_space(store)
    have, total = store.coverage(sid)
    assert 300 <= have < total == 1500  # the committed batches survived, the rest is missing
    assert store.runs()["status"].iloc[0] == "interrupted"
    from core import embed as emb
    real = emb.get_embedder(None)
    seen = []

    class Spy:
        model_id, dim = real.model_id, real.dim

        def encode(self, texts):
            seen.extend(texts)
            return real.encode(texts)

    res = steps.embed(store, embedder=Spy())
    assert res["embedded"] == total - have and len(seen) == total - have
    assert store.coverage(sid) == (total, total)
    n_vec, n_distinct = store._q(f"SELECT count(*), count(DISTINCT hash) FROM vec_{sid}")[0]
    assert n_vec == n_distinct == total  # no row embedded twice
