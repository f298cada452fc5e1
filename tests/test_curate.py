"""Curation through the Store and CLI: dedup flags and keep rules, selections with recipes, exports of a
Selection, and replay from the recipe into a fresh workspace with byte-identical exports."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core import curate
from core.filters import Filter, parse_where
from core.importer import import_paths
from core.store import Store, StoreError

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ["sort a list in python", "write a poem about the sea", "translate hello into french",
          "explain photosynthesis to a child", "plan a budget trip to rome"]


def _records(n: int) -> list[dict]:
    recs = []
    for i in range(n):
        t = TOPICS[i % len(TOPICS)]
        recs.append({"instruction": f"Please {t}, variant number {i}", "input": "", "output": "ok " * (i % 17 + 1),
                     "category": t.split()[0]})
    # near-duplicates of row 1 (one word changed) and an exact copy of row 2
    recs.append({**recs[0], "instruction": recs[0]["instruction"].replace("Please", "Kindly"), "output": "ok ok"})
    recs.append(dict(recs[1]))
    return recs


@pytest.fixture()
def ws(tmp_path) -> Path:
    f = tmp_path / "src" / "d.jsonl"
    f.parent.mkdir()
    f.write_text("\n".join(json.dumps(r) for r in _records(60)) + "\n")
    s = Store(tmp_path / "ws")
    import_paths(s, [str(f)], name="d")
    s.close()
    return tmp_path / "ws"


def _cli(*args):
    r = subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r


def test_dedup_flags_groups_and_selection_leaves_non_keepers_out(ws):
    s = Store(ws)
    res = curate.dedup(s, "exact")
    assert res["groups"] == 1 and res["dropped"] == 1
    assert s.count(Filter((parse_where("dup_keep = false"),))) == 1
    res = curate.dedup(s, "minhash", threshold=0.5, keep="longest")
    kept = s.rows(Filter((parse_where("dup_group = 0"),)), columns=["id", "dup_keep", "response_chars"])
    assert len(kept) >= 2 and kept["dup_keep"].sum() == 1
    assert kept.loc[kept["dup_keep"], "response_chars"].iloc[0] == kept["response_chars"].max()
    sel = curate.select(s, "random", 1.0, seed=3)
    assert sel["pool"] == 62 - res["dropped"]  # every row minus the non-keepers
    assert set(sel["recipe"]["selection"]["ids"]).isdisjoint(
        set(s.rows(Filter((parse_where("dup_keep = false"),)), columns=["id"])["id"]))
    s.close()


def test_selection_methods_are_deterministic_and_saved_with_recipe(ws):
    s = Store(ws)
    a = curate.select(s, "random", 10, name="a", seed=1)
    b = curate.select(s, "random", 10, name="b", seed=1)
    c = curate.select(s, "random", "10%", name="c", seed=2)
    assert a["recipe"]["selection"]["ids"] == b["recipe"]["selection"]["ids"] and c["rows"] == 6
    lg = curate.select(s, "longest", 5, name="long")
    ids, rec = s.selection("long")
    lens = s.rows(Filter(ids=tuple(int(i) for i in ids)), columns=["response_chars"])["response_chars"]
    every = sorted(s.rows(columns=["response_chars"], limit=1000)["response_chars"], reverse=True)
    assert rec["selection"]["method"] == "longest" and lg["rows"] == 5 and sorted(lens, reverse=True) == every[:5]
    st = curate.select(s, "stratified", 10, group="dataset", name="strat")
    assert st["rows"] == 10 and rec["files"][0]["sha256"]
    assert [x["name"] for x in s.selections()] == ["a", "b", "c", "long", "strat"]
    with pytest.raises(StoreError):
        curate.select(s, "stratified", 10)  # no clusters yet: says so
    s.close()


def test_export_selection_and_replay_are_byte_identical(ws, tmp_path):
    _cli("dedup", "--workspace", str(ws), "--method", "exact")
    _cli("select", "--workspace", str(ws), "--method", "random", "--budget", "20", "--name", "pick", "--seed", "7")
    r = _cli("export", "--workspace", str(ws), "--selection", "pick", "--out", "pick.jsonl", "--as", "sharegpt",
             "--json")
    man = json.loads(r.stdout)
    assert man["rows"] == 20 and man["recipe"]["selection"]["method"] == "random"
    recipe = ws / "exports" / "pick.jsonl.recipe.json"
    r = _cli("replay", str(recipe), "--out", str(tmp_path / "again"), "--json")
    rep = json.loads(r.stdout)
    assert rep["export"]["identical"] and rep["changed_files"] == []
    assert rep["selection"]["how"].startswith("recomputed")
    out = Path(rep["export"]["path"])
    assert hashlib.sha256(out.read_bytes()).hexdigest() == man["sha256"]
    # a changed source file is named; the run refuses rows that no longer match
    src = Path(json.loads(recipe.read_text())["files"][0]["path"])
    text = src.read_text()
    assert 'variant number 1"' in text
    src.write_text(text.replace('variant number 1"', 'variant number one"'))
    r = subprocess.run([sys.executable, "-m", "core", "replay", str(recipe), "--out", str(tmp_path / "third")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert str(src) in r.stderr and "changed" in r.stderr


def test_decontaminate_against_mt_bench_flags_planted_rows(tmp_path):
    from tests.shared import SHARED, require_shared
    require_shared()
    ev = SHARED / "mt_bench" / "mt_bench_question.jsonl"
    q = json.loads(ev.read_text().splitlines()[3])["turns"][0]
    f = tmp_path / "d.jsonl"
    recs = [{"instruction": f"Please {t}, variant {i}", "output": "ok"} for i, t in enumerate(TOPICS * 4)]
    recs.append({"instruction": "Answer this: " + q, "output": "ok"})  # a verbatim eval prompt inside a row
    recs.append({"instruction": " ".join(q.split()[:8]), "output": "ok"})  # only 8 words: below a 13-gram
    f.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    s = Store(tmp_path / "ws")
    import_paths(s, [str(f)])
    res = curate.decontaminate(s, [str(ev)], n=13)
    assert res["contaminated"] == 1 and res["examples"][0]["id"] == 21
    assert "mt_bench_question.jsonl:4" in res["examples"][0]["match"]
    sel = curate.select(s, "random", "100%")
    assert 21 not in sel["recipe"]["selection"]["ids"] and sel["rows"] == 21  # excluded by default
    assert res["params"]["evals"][0]["sha256"]
    s.close()
