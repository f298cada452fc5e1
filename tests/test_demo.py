"""The demo set: committed files regenerate byte for byte, import cleanly, and show what the app can show."""
from __future__ import annotations

import json

import pytest

from core import demo
from core.filters import Filter, parse_where
from core.store import Store


def test_committed_files_regenerate_byte_identically(tmp_path):
    written = demo.main(["--out", str(tmp_path)])
    assert written == 0
    for name in demo.FILES:
        committed = demo.demo_dir() / name
        assert committed.is_file(), f"{committed} is missing: run python -m core.demo --out data/demo"
        assert (tmp_path / name).read_bytes() == committed.read_bytes(), (
            f"{name} differs from the generator's output: run python -m core.demo --out data/demo")
    assert sum((demo.demo_dir() / n).stat().st_size for n in demo.FILES) < 3_000_000


def test_generate_is_deterministic_and_sized():
    a, b = demo.generate(120), demo.generate(120)
    assert a == b
    assert demo.generate(120, seed=7) != a
    with pytest.raises(ValueError):
        demo.generate(5)


def test_small_demo_workspace_is_varied_and_idempotent(tmp_path):
    ws = tmp_path / "ws"
    res = demo.build_demo_workspace(ws, rows=300)
    assert [r.dataset for r in res] == ["demo_alpaca", "demo_sharegpt", "demo_messages"]
    assert [r.format for r in res] == ["alpaca", "sharegpt", "messages"]
    assert sum(r.rows for r in res) == 300
    errors = [(e["field"], e["reason"]) for r in res for e in r.errors]
    assert len(errors) == 7
    assert ("instruction", "is empty") in errors
    assert ("messages", "expected a list of turns, got text") in errors
    assert any(f == "(record)" and reason.startswith("invalid JSON") for f, reason in errors)
    assert any("unknown role 'narrator'" in reason for _, reason in errors)

    again = demo.build_demo_workspace(ws, rows=300)
    assert sum(r.rows for r in again) == 0 and sum(r.quarantined for r in again) == 0
    assert all(r.skipped_files for r in again)

    store = Store(ws)
    try:
        assert store.count() == 300
        assert len(store.quarantine()) == 7
        assert store.stats()["duplicates"] >= 3 + 3  # ~1% per file plus the cross-format copies
    finally:
        store.close()


def test_default_demo_workspace(tmp_path):
    res = demo.build_demo_workspace(tmp_path / "ws")
    assert sum(r.rows for r in res) == demo.DEFAULT_ROWS
    assert sum(r.quarantined for r in res) == 7
    assert all(str(demo.demo_dir()) in r.files[0]["file"] for r in res)  # the committed files, not a copy
    store = Store(tmp_path / "ws")
    try:
        categories = dict(store.facet("category", limit=50))
        assert len(categories) >= 10 and min(categories.values()) >= 30, categories
        languages = dict(store.facet("language", limit=50))
        for lang in ("en", "zh", "es", "fr", "de"):
            assert languages.get(lang, 0) >= 20, languages
        assert store.count(Filter((parse_where("n_turns > 1"),))) >= 100
        assert store.count(Filter((parse_where("n_turns > 2"),))) >= 20
        assert store.count(Filter((parse_where("system not null"),))) >= 300
        assert store.count(Filter((parse_where("roles contains tool"),))) >= 30
        assert store.count(Filter((parse_where("is_duplicate = true"),))) >= 30
        assert store.count(Filter((parse_where("response_chars > 1000"),))) >= 10
        assert store.count(Filter((parse_where("response_chars < 20"),))) >= 100
    finally:
        store.close()


def test_demo_answers_are_computed_correctly():
    """Spot-check the arithmetic of generated math and data rows."""
    recs = [json.loads(line) for line in demo.generate(400)[demo.FILES[0]].decode().splitlines()
            if line.startswith("{") and line.endswith("}")]
    checked = 0
    for r in recs:
        if r.get("category") == "data_formatting" and r["instruction"] == "Convert this CSV to a JSON array.":
            header, *lines = r["input"].splitlines()
            want = [dict(zip(header.split(","), ln.split(","))) for ln in lines]
            got = json.loads(r["output"])
            assert [{k: str(v) for k, v in x.items()} for x in got] == want
            checked += 1
    assert checked >= 1
