"""Tags in the Store: cache per content hash, effective tags on rows, Filter ops, manual edits, vocabulary edits,
normalisation mapping, undo, measures (computed by hand) and the CLI's JSON contract."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core import tagging
from core.filters import Cond, Filter, FilterError, parse_where
from core.importer import import_paths
from core.store import Store, StoreError

ROOT = Path(__file__).resolve().parents[1]
RECORDS = [  # (instruction, category, ids) - rows 1 and 3 are the same sample (same content hash)
    ("Write a poem about the sea", "poetry", ["style:rhyme", "length:short"]),
    ("Sort a list in Python", "coding", ["lang:python"]),
    ("Write a poem about the sea", "poetry", ["style:rhyme", "length:short"]),
    ("Translate hello to French", "translation", []),
    ("Explain <script>alert(1)</script> in **bold**", "coding", ["lang:html"]),
]


@pytest.fixture()
def store(tmp_path) -> Store:
    f = tmp_path / "d.jsonl"
    f.write_text("\n".join(json.dumps({"instruction": i, "input": "", "output": "ok", "category": c, "ids": ids})
                           for i, c, ids in RECORDS) + "\n")
    s = Store(tmp_path / "ws")
    import_paths(s, [str(f)])
    yield s
    s.close()


def _tags(s: Store) -> dict[int, list]:
    df = s.rows(columns=["id", "tags"])
    return {int(i): (None if t is None or t is pd.NA else list(t)) for i, t in zip(df["id"], df["tags"])}


def _save(s: Store, origin: str, version: str, fn):
    total, batches = s.tag_pending(origin, version, payload="instruction")
    n = 0
    for b in batches:
        s.save_tags(origin, version, [{"hash": h, "status": "ok", "tags": [(t, 0.9, None) for t in fn(p)]}
                                      for h, p in b])
        n += len(b)
    return total, n


def test_results_are_cached_per_content_hash_and_failures_retry(store):
    store.tag_source("kw", "v1")
    total, n = _save(store, "kw", "v1", lambda p: p.lower().split()[:2])
    assert total == n == 4  # five rows, four distinct samples
    assert _tags(store)[1] == _tags(store)[3] == ["a", "write"]
    assert store.tag_pending("kw", "v1")[0] == 0  # second run: nothing to do
    store.save_tags("kw", "v1", [{"hash": store.row(2)["hash"], "status": "failed", "raw": "garbage", "tags": []}])
    assert store.tag_pending("kw", "v1")[0] == 1  # a failure is retried on the next run ...
    assert _tags(store)[2] is None  # ... and never tagged with garbage
    assert store.tag_failures("kw", "v1")["raw"].tolist() == ["garbage"]
    # a new version of the same origin replaces the old one's tags on rows (its data stay)
    store.tag_source("kw", "v2")
    assert set(_tags(store).values()) == {None}
    store.tag_source("kw", "v1")
    assert _tags(store)[1] == ["a", "write"]


def test_import_column_filters_and_measures(store):
    tagging.tag_import(store, "category")
    tagging.tag_import(store, "ids")
    by_id = _tags(store)
    assert by_id[1] == ["length:short", "poetry", "style:rhyme"]
    assert by_id[4] == ["translation"]
    cnt = lambda w: store.count(Filter((parse_where(w),)))  # noqa: E731
    assert cnt("tags has poetry") == 2
    assert cnt("tags has any of lang:python, translation") == 2
    assert cnt("tags has all of poetry, style:rhyme") == 2
    assert cnt("n_tags >= 2") == 4 and cnt("tags is null") == 0
    assert Filter((parse_where("tags has any of a, b"),)).describe() == "tags has any of a, b"
    with pytest.raises(FilterError):
        store.count(Filter((Cond("language", "has", "en"),)))
    # by hand: tag counts per row 3,2,3,1,2 -> complexity 11/5; distinct tags: poetry, coding, translation,
    # style:rhyme, length:short, lang:python, lang:html -> 7
    st = tagging.stats(store)
    assert st["rows_tagged"] == 5 and st["diversity"] == 7 and st["unique_tags"] == 7
    assert st["complexity"] == pytest.approx(11 / 5)
    assert st["top_tags"][0] == {"tag": "coding", "count": 2} or st["top_tags"][0]["count"] == 2
    sub = tagging.stats(store, Filter((parse_where("tags has coding"),)))
    assert sub["rows_tagged"] == 2 and sub["complexity"] == pytest.approx(2.0) and sub["diversity"] == 3


def test_manual_edits_win_and_undo_restores_exactly(store):
    tagging.tag_import(store, "category")
    flt = Filter((parse_where("tags has poetry"),))
    assert store.tag_rows(flt, add=["sea"], remove=["poetry"]) == 2
    assert _tags(store)[1] == ["sea"]
    tagging.tag_import(store, "category")  # an automatic re-run does not undo the hand edit
    assert _tags(store)[1] == ["sea"]
    assert store.set_row_tags(2, ["python", "coding"]) == {"added": ["python"], "removed": []}
    assert _tags(store)[2] == ["coding", "python"]
    store.rename_tag("python", "py")
    store.merge_tags(["py", "coding"], "programming")
    assert _tags(store)[2] == ["programming"] and _tags(store)[5] == ["programming"]
    store.rename_tag("translation", None)  # delete
    assert _tags(store)[4] == []
    events = store.tag_events()
    assert list(events["op"])[:4] == ["vocab", "vocab", "vocab", "rows"]
    for _ in range(4):
        store.undo_tag_event()
    assert _tags(store)[2] == ["coding"] and _tags(store)[4] == ["translation"] and _tags(store)[1] == ["sea"]
    store.undo_tag_event()
    assert _tags(store)[1] == ["poetry"]
    with pytest.raises(StoreError):
        store.undo_tag_event()
    assert store.tag_events()["undone"].sum() == 5


def test_normalisation_maps_but_keeps_raw_tags(store):
    store.tag_source("kw", "v1")
    _save(store, "kw", "v1", lambda p: ["Python Programming" if "Python" in p else "python-programming", "x"])
    res = tagging.normalize(store, stages=["rule", "frequency"], min_count=2)
    assert res["applied"] and res["raw_tags"] == 3 and res["vocabulary"] == 2
    assert {t for ts in _tags(store).values() for t in ts} == {"python-programming", "x"}
    raw = store.rows(columns=["id", "raw_tags"])
    assert list(raw["raw_tags"][1]) == ["Python Programming", "x"]  # raw tags untouched
    rule = next(s for s in res["stages"] if s["name"] == "rule")
    pid = rule["proposals"][0]["id"]
    res2 = tagging.normalize(store, stages=["rule", "frequency"], min_count=2, rejected={pid})
    # not merged, "Python Programming" (one sample) now falls under min_count 2 and is dropped
    assert res2["vocabulary"] == 2 and _tags(store)[2] == ["x"]
    assert any(p["rejected"] for st in res2["stages"] for p in st["proposals"])
    store.undo_tag_event()
    assert {t for ts in _tags(store).values() for t in ts} == {"python-programming", "x"}


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_cli_tag_import_stats_json_contract(store):
    ws = str(store.workspace)
    store.close()
    r = _cli("tag", "--workspace", ws, "--method", "import", "--column", "category", "--json")
    assert r.returncode == 0, r.stderr
    r = _cli("tags", "stats", "--workspace", ws, "--where", "tags has coding", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"rows_tagged", "unique_tags", "complexity", "diversity", "top_tags"} <= set(out)
    assert out["rows_tagged"] == 2 and out["top_tags"] == [{"tag": "coding", "count": 2}]
    r = _cli("rows", "--workspace", ws, "--where", "tags has poetry", "--json")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(rows) == 2 and rows[0]["tags"] == ["poetry"] and rows[0]["raw_tags"] == ["poetry"]
    r = _cli("tag", "--workspace", ws, "--method", "llm")
    assert r.returncode == 2 and "--base-url" in r.stderr and "Traceback" not in r.stderr


def test_offline_taggers_and_propagation_through_the_store(store):
    from core import steps
    from core.embed import FakeEmbedder
    emb = FakeEmbedder()
    res = tagging.tag_offline(store, "keyphrase", embedder=emb)
    assert res["rows"] == 4 and res["source"][0] == "keyphrase" and "fake" in res["source"][1]
    assert tagging.tag_offline(store, "keyphrase", embedder=emb)["rows"] == 0  # cached
    assert tagging.stats(store)["rows_tagged"] == 5
    res = tagging.tag_offline(store, "taxonomy", embedder=emb)
    assert res["rows"] == 4 and "taxonomy=" in res["source"][1]
    src = store.tag_sources()
    assert set(src["origin"]) == {"keyphrase", "taxonomy"} and src["enabled"].all()
    # propagation: the keyphrase source tags only rows 1-2 of the filter; the rest get neighbours' tags
    steps.embed(store, recipe="instruction", embedder=emb)
    store.tag_source("manual-sample", "v1")
    h = {int(r["id"]): r["hash"] for _, r in store.rows(columns=["id", "hash"]).iterrows()}
    store.save_tags("manual-sample", "v1", [{"hash": h[1], "status": "ok", "tags": [("poem", 1.0, None)]},
                                            {"hash": h[2], "status": "ok", "tags": [("code", 1.0, None)]}])
    res = tagging.tag_propagate(store, "manual-sample", k=1, min_conf=0.5)
    assert res["labelled"] == 2 and res["rows"] == 2  # rows 4 and 5 (row 3 shares row 1's sample)
    raw = store.rows(columns=["id", "raw_tags"]).set_index("id")["raw_tags"]
    assert {"poem", "code"} & set(raw[4]) and {"poem", "code"} & set(raw[5])
