"""Text index (core/store/textindex.py): the tokenizer against a Python reference, the query split, and — the
point — that every answer the index gives equals the scan's on a small workspace of hostile texts (Unicode,
ſ/K that RE2 folds onto s/k, İ/ı/ß that it does not, %, _, quotes, NUL, digits), over varied queries (120 in
the quick test, SIFT_TEXTINDEX_QUERIES = 2,000 in the slow one, each as instruction contains, response contains
and search); combined conditions and tight budgets; staleness after imports and deletions; the background
build; read-only use; the CLI command.
"""
from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import core.store.textindex as ti
from core.filters import Cond, Filter, FilterError
from core.importer import import_paths
from core.store import Store, StoreError

N_QUERIES = int(os.environ.get("SIFT_TEXTINDEX_QUERIES", "2000"))
ROOT = Path(__file__).resolve().parents[1]
WORDS = ["water", "Water", "WATERFALL", "underwater", "climate", "Climate-change", "python3", "Python",
         "sk", "SKY", "ſky", "Kelvin", "\u212aelvin", "maſs", "İstanbul", "ıi", "straße", "STRASSE", "café", "CAFÉ",
         "naïve", "中文", "日本語", "🙂", "100%", "50_50", "x_y", "a", "I", "e", "the", "The", "THE", "of",
         "'quoted'", '"dq"', "back\\slash", "new\nline", "tab\tbed", "nul\u0000byte", "--", ";", "(?i)", ".*",
         "[a-z]", "$1", "12345", "007", "3.14", "e-mail", "C++", "C#", "node.js", "ǅemal", "Ωmega", "ﬁne"]
HOSTILE = ["", " ", "  ", "%", "_", "'", '"', "\\", "a", "A", "e", "1", "0", "100%", "x_y", "ſ", "\u212a", "K", "k",
           "S", "İ", "ı", "ß", "SS", "é", "É", "中", "中文", "🙂", "a b", " a", "a ", "new\nline", "\u0000",
           "(?i)", ".*", "[a-z]", "$1", "'; DROP TABLE rows; --", "\ud800", "fi", "ﬁ", "water fall", "WATER-fall",
           "sky", "SKY", "ſKY", "kelvin", "mass", "istanbul", "strasse", "cafe", "c++", "3.14", "e-mail"]


def _text(rng: random.Random, n: int) -> str:
    seps = [" ", "", "-", ", ", "\n", "_", "/", "—", "é", " ſ", "K", "."]
    return "".join(rng.choice(WORDS) + rng.choice(seps) for _ in range(rng.randint(0, n)))


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    d = tmp_path_factory.mktemp("textindex")
    rng = random.Random(7)
    recs = [{"instruction": _text(rng, 8), "output": _text(rng, 14)} for _ in range(500)]
    recs += [{"instruction": "", "output": "only a response"}, {"instruction": "only an instruction", "output": ""},
             {"instruction": "ſ", "output": "\u212a"}, {"instruction": "S", "output": "k"}]
    (d / "a.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n", encoding="utf-8")
    store = Store(d / "ws")
    res = import_paths(store, [str(d / "a.jsonl")], name="a")  # empty turns go to quarantine
    assert res.rows + res.quarantined == len(recs) and res.rows > 400
    info = store.build_text_index()
    assert info["rows"] == res.rows and info["postings"] > 0
    yield store, d, rng
    store.close()


def scan_ids(store: Store, flt: Filter) -> set:
    where, params = flt.to_sql(store.extra_kinds())
    return set(store._q_numpy(f"SELECT id FROM rows WHERE {where}", params)["id"].tolist())


def index_and_scan(store: Store, flt: Filter) -> tuple[set | None, set | None]:
    """(the index's answer or None where it declines, the scan's answer); (None, None) where both fail alike —
    a value the engine cannot take (a lone surrogate) fails the scan and, when it is verified, the index."""
    try:
        got = store._text_index_ids(flt)
    except duckdb.Error:
        got = "error"
    try:
        want = scan_ids(store, flt)
    except duckdb.Error:
        assert got is None or isinstance(got, str)
        return None, None
    assert not isinstance(got, str), flt
    return (None if got is None else set(got.tolist())), want


# ------------------------------------------------------------------ pure parts
def _ref_tokens(s: str) -> list[bytes]:
    folded = "".join(c.lower() if c.isascii() and c.isalnum() else {"ſ": "s", "\u212a": "k"}.get(c, " ") for c in s)
    return [t.encode() for t in folded.split()]


def test_tokenize_matches_reference():
    rng = random.Random(1)
    texts = [_text(rng, 6) for _ in range(400)] + ["", "abc", "", "def", "ſ", "\u212aK", "é", "a" * 50]
    arr = pa.array(texts, pa.string())
    for a in (arr, arr.slice(3, 200), arr.cast(pa.large_string()), arr.cast(pa.string_view())):
        per_row, toks = ti.tokenize(a)
        toks = toks.to_pylist()
        at = 0
        for s, n in zip(a.to_pylist(), per_row):
            assert toks[at:at + n] == _ref_tokens(s), s
            at += n
        assert at == len(toks)


def test_query_parts():
    assert ti.query_parts("Water") == ([b"water"], True)
    assert ti.query_parts("ſKY") == ([b"sky"], True)
    assert ti.query_parts("water fall") == ([b"water", b"fall"], False)
    assert ti.query_parts(" a") == ([b"a"], False)
    assert ti.query_parts("café") == ([b"caf"], False)
    for q in ("", " ", "%", "中文", "\ud800", "İ", "ß"):
        assert ti.query_parts(q)[0] == []


# ------------------------------------------------------------------ index == scan
def _queries(store: Store, rng: random.Random, n: int) -> list[str]:
    texts = [t for r in store._q("SELECT instruction, response FROM rows") for t in r if t]
    out = list(HOSTILE)
    while len(out) < n:
        k = rng.random()
        if k < 0.5:  # a piece of a real text, case flipped at random
            t = rng.choice(texts)
            i = rng.randrange(len(t))
            q = t[i:i + rng.randint(1, 12)]
            out.append("".join(c.swapcase() if rng.random() < 0.3 else c for c in q))
        elif k < 0.8:
            out.append(rng.choice(WORDS))
        else:  # two words with something between them
            out.append(rng.choice(WORDS) + rng.choice([" ", "", "-", "%", "_", "ſ", "é"]) + rng.choice(WORDS))
    return out


def test_index_equals_scan(ws, monkeypatch):
    _check_index_equals_scan(*ws, 120, monkeypatch)


@pytest.mark.slow
def test_index_equals_scan_many(ws, monkeypatch):
    _check_index_equals_scan(*ws, N_QUERIES, monkeypatch)


def _check_index_equals_scan(store, _, rng, n, monkeypatch):
    monkeypatch.setattr(ti, "MIN_BUDGET", 10**9)  # no budget: the index answers every query it can
    kinds = {"exact": 0, "verified": 0, "scan": 0, "nonempty": 0}
    for q in _queries(store, rng, n):
        for flt in (Filter((Cond("instruction", "contains", q),)), Filter((Cond("response", "contains", q),)),
                    Filter((), q)):
            got, want = index_and_scan(store, flt)
            if got is None:
                kinds["scan"] += 1
                assert ti.query_parts(q)[0] == [], q  # the index declines only queries without a token run
                continue
            kinds["exact" if ti.query_parts(q)[1] else "verified"] += 1
            kinds["nonempty"] += bool(want)
            assert got == want, (q, flt)
    assert min(kinds.values()) > 20, kinds  # every path was exercised, and many answers are not empty


def test_combined_conditions_and_budget(ws, monkeypatch):
    """Several text conditions (a regex and a contains on an extra field, verified on the candidates); a tiny
    budget makes the index decline all but the rarest runs."""
    store, _, rng = ws
    qs = _queries(store, rng, 100)
    for budget in (ti.MIN_BUDGET, 30, 0):
        monkeypatch.setattr(ti, "MIN_BUDGET", budget)
        for a, b in zip(qs[0::2], qs[1::2]):
            flt = Filter((Cond("instruction", "contains", a), Cond("response", "regex", "(?i)[a-f]"),
                          Cond("dataset", "contains", "A")), b)
            got, want = index_and_scan(store, flt)
            assert got is None or got == want, (a, b, budget)


def test_store_paths_use_the_index(ws, monkeypatch):
    """count and rows through _where give the scan's answers with the index in use (a big workspace)."""
    store, _, _ = ws
    used = []
    real = store._text_index_ids
    monkeypatch.setattr(store, "_text_index_ids", lambda f: used.append(f) or real(f))
    monkeypatch.setattr(store, "TEXT_CACHE_MIN_ROWS", 0)
    for q in ("water", "ſky", "water fall", "%", "e"):
        flt = Filter((Cond("instruction", "contains", q),), "the")
        assert store.count(flt) == len(scan_ids(store, flt))
        assert set(store.rows(flt, limit=10_000, columns=["id"])["id"].tolist()) == scan_ids(store, flt)
    assert used
    bad = Filter((Cond("instruction", "contains", "water"), Cond("response", "regex", "([")))
    with pytest.raises(FilterError, match="invalid regular expression"):  # verified on candidates or scanned:
        store.count(bad)  # the same clear error


# ------------------------------------------------------------------ staleness, building, read-only, CLI
def test_stale_after_import_and_delete(tmp_path):
    recs = [{"instruction": f"row {i} water", "output": "x"} for i in range(20)]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps({"instruction": f"row {i} fire", "output": "x"})
                                                for i in range(20)) + "\n")
    store = Store(tmp_path / "ws")
    try:
        import_paths(store, [str(tmp_path / "a.jsonl")], name="a")
        store.build_text_index()
        water = Filter((Cond("instruction", "contains", "water"),))
        fire = Filter((Cond("instruction", "contains", "fire"),))
        assert len(store._text_index_ids(water)) == 20 and store.text_index_info()["current"]
        store.delete_dataset("a")  # the ids of b's rows below will be the ids a had: same count, same ids
        import_paths(store, [str(tmp_path / "b.jsonl")], name="b")
        assert store.text_index_info()["current"] is False
        assert store._text_index_ids(fire) is None and store.count(fire) == 20
        assert store.ensure_text_index(wait=True)
        assert len(store._text_index_ids(fire)) == 20 and len(store._text_index_ids(water)) == 0
        store.drop_text_index()
        assert store.text_index_info() is None and store._text_index_ids(fire) is None
        store.auto_text_index = True  # the first text filter starts a build in the background
        assert store._text_index_ids(fire) is None
        store._tx_thread.join(30)
        assert store.text_index_info()["current"] and len(store._text_index_ids(fire)) == 20
    finally:
        store.close()
    ro = Store(tmp_path / "ws", read_only=True)
    try:
        assert len(ro._text_index_ids(fire)) == 20
        with pytest.raises(StoreError):
            ro.build_text_index()
    finally:
        ro.close()


def test_cli_index(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"instruction": "Hello there", "output": "General Kenobi"}) + "\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    run = [sys.executable, "-m", "core"]
    subprocess.run(run + ["import", str(tmp_path / "a.jsonl"), "--workspace", str(tmp_path / "ws")], check=True,
                   cwd=ROOT, env=env, capture_output=True)
    out = subprocess.run(run + ["index", "--workspace", str(tmp_path / "ws"), "--json"], check=True, cwd=ROOT,
                         env=env, capture_output=True, text=True).stdout
    info = json.loads(out.strip().splitlines()[-1])
    assert info["rows"] == 1 and info["tokens"] == 4 and info["current"] is True
    ro = Store(tmp_path / "ws", read_only=True)
    try:
        assert re.split(rb"\n", ro._q("SELECT tokens FROM tx_vocab")[0][0]) == [b"hello", b"there", b"general",
                                                                                    b"kenobi"]
        assert np.asarray(ro._q_numpy("SELECT id FROM tx_post")["id"]).tolist() == [1, 1, 1, 1]
    finally:
        ro.close()
