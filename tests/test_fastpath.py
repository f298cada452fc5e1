"""The import's fast paths give exactly what the reference paths give: JSON Lines read by byte ranges in
the workers (core.chunks.process_block) vs the line reader + Item.parse, plain Alpaca pairs vs Conv rows,
the compiled token counter and language identifier vs the Python ones and the reference libraries."""
import json
import os

import numpy as np
import py3langid
import pytest

from core import arraycache, chunks, fastlang, tokcount
from core.chunks import process_block, process_items
from core.formats import Conv, norm_alpaca
from core.importer import _by_blocks, plan_blocks
from core.readers import read_file
from core.rowbuild import RowBatch
from tests.test_malformed import CASES, A, M, S, jl
from tests.test_rows import HARD, _shared_texts

EXTRA = {
    "crlf_bom_blank": b"\xef\xbb\xbf" + jl(A(1)).replace(b"\n", b"\r\n") + b"\n  \n\t\n" + jl(A(2))
    + b'{"instruction": "no newline at the end", "output": "x"}',
    "alpaca_edges": jl({"instruction": "", "input": "only input", "output": "o"},
                       {"instruction": "  ", "input": "  ", "output": "o"},
                       {"instruction": "i", "input": None, "output": None},
                       {"instruction": "i", "input": "x", "output": "   "},
                       {"instruction": "i", "output": ["chosen", "rejected"]},
                       {"instruction": 3, "output": "o"},
                       {"instruction": "i", "input": 5},
                       {"instruction": "i", "output": "o", "extra": 1},
                       {"instruction": "i", "output": "o", "system": "s"},
                       {"input": "no instruction", "output": "o"},
                       {"instruction": 'code: {"a": 1, "b": [2]}', "output": '{"k":"v", "k2": 3}'},
                       S(1), M(2), [1, 2], "null", '"text"',
                       '{"instruction": "dup", "instruction": "keys", "output": "o"}',
                       b'{"instruction": "bad utf8 \xff", "output": "o"}',
                       '{"instruction": "nul \x00", "output": "o"}',
                       '{"instruction": "unpaired \\ud800", "output": "o"}',
                       '{"instruction": "big int", "output": "o", "n": 123456789012345678901234567890}',
                       "[" * 150 + "]" * 150, "{broken"),
    "only_blank": b"\n\n   \n",
}


def _reference(path, fmt, auto):
    items = list(read_file(path, str(path), lazy=True))
    table, quarantine, kinds = process_items(items, fmt, "ds", auto)
    return table.to_pylist(), quarantine, kinds


def _blocks(path, fmt, auto, size):
    rows, quarantine, kinds, lines = [], [], {}, 0
    for off, n, first in plan_blocks(path, size):
        t, q, k, nb = process_block(str(path), off, n, first, fmt, "ds", auto, str(path))
        rows += t.to_pylist()
        quarantine += q
        kinds.update(k)
        lines += nb
    if not lines:
        quarantine.append((str(path), 1, "(file)", "file is empty (only blank lines)", ""))
    return rows, quarantine, kinds


def _contents():
    for c in CASES:
        if c.name.endswith((".jsonl", ".ndjson")):
            yield c.id, c.content, c.setup
    for name, content in EXTRA.items():
        yield name, content, None


@pytest.mark.parametrize("case_id,content,setup", list(_contents()), ids=[c[0] for c in _contents()])
def test_block_reader_gives_what_the_line_reader_gives(case_id, content, setup, tmp_path, monkeypatch):
    if setup:
        setup(monkeypatch)
    path = tmp_path / "f.jsonl"
    path.write_bytes(content)
    if not _by_blocks(path, "alpaca"):
        pytest.skip("not read by byte ranges (UTF-16, empty)")
    for fmt, auto in (("alpaca", True), ("alpaca", False), ("sharegpt", True), ("messages", False)):
        ref = _reference(path, fmt, auto)
        for size in (1, 40, 1 << 20):
            assert _blocks(path, fmt, auto, size) == ref, (fmt, auto, size)


def test_plan_blocks_cover_the_file_at_line_ends(tmp_path):
    path = tmp_path / "f.jsonl"
    lines = [json.dumps({"instruction": "x" * (i * 37 % 500)}) for i in range(300)]
    path.write_text("\n".join(lines))  # no newline at the end
    data = path.read_bytes()
    for size in (1, 100, 4096, 1 << 20):
        pos, line = 0, 1
        for off, n, first in plan_blocks(path, size):
            assert (off, first) == (pos, line)
            chunk = data[off:off + n]
            assert chunk.endswith(b"\n") or off + n == len(data)
            pos, line = off + n, line + chunk.count(b"\n")
        assert pos == len(data)


def test_pairs_give_the_rows_of_their_conversations():
    pairs = [("Q1", "A1"), ("Q2\n\nwith input", "   "), ("naïve 问题", ""), ("q", "a [CLS] b")]
    a, b, mixed = RowBatch("d"), RowBatch("d"), RowBatch("d")
    for k, (user, out) in enumerate(pairs):
        a.add_pair(user, out, "f", k + 1, f"raw{k}")
        conv = norm_alpaca({"instruction": user, "output": out})[0]
        b.add_conv(conv, "f", k + 1, f"raw{k}", "alpaca")
        if k % 2:
            mixed.add_pair(user, out, "f", k + 1, f"raw{k}")
        else:
            mixed.add_conv(conv, "f", k + 1, f"raw{k}", "alpaca")
    other = Conv("sys", [("user", "u"), ("assistant", "a")], [("assistant", "no")], {"x": 1})
    assert a.table().to_pylist() == b.table().to_pylist() == mixed.table().to_pylist()
    b.add_conv(other, "f", 9, "r", "preference")
    a.add_conv(other, "f", 9, "r", "preference")
    assert a.table().to_pylist() == b.table().to_pylist()


def _texts():
    texts = HARD + _shared_texts(3000)
    texts += ["x" * 101, "y" * 100, "supercalifragilisticexpialidocious " * 3, "ab\x01cd \x7fef\x0bgh",
              "Ünïcödé and ascii\x02control", "日本語 mixed with English words", "unaffable unaffable unaffable",
              "[UNK] and [cls] and [MASK]x", "emoji 😀 text", "\u00a0non\u2003breaking\u3000spaces", ""]
    return texts * 2  # repeated words go through the word table's memory


def test_compiled_token_counter_equals_the_tokenizer(monkeypatch):
    if tokcount.compiled() is None:
        pytest.skip("numba is not installed: the Python counter is the only one")
    texts = _texts()
    ref = [len(e.ids) for e in tokcount.default_tokenizer().encode_batch(texts, add_special_tokens=False)]
    monkeypatch.setenv("SIFT_FAST_COUNT", "1")
    assert tokcount.count_tokens(texts) == ref
    monkeypatch.setenv("SIFT_FAST_COUNT", "0")
    assert tokcount.count_tokens(texts) == ref


def test_compiled_language_identifier_equals_py3langid(monkeypatch):
    if fastlang.compiled() is None:
        pytest.skip("numba is not installed: the numpy walk is the only one")
    texts = [t[:300] for t in _texts() if any(c.isalpha() for c in t)]
    ref = [py3langid.classify(t)[0] for t in texts]
    monkeypatch.setenv("SIFT_FAST_COUNT", "1")
    assert fastlang.classify_many(texts) == ref
    monkeypatch.setenv("SIFT_FAST_COUNT", "0")
    assert fastlang.classify_many(texts) == ref


def test_array_cache_rebuilds_a_broken_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("SIFT_CACHE_DIR", str(tmp_path))
    calls = []

    def build():
        calls.append(1)
        return {"a": np.arange(5)}

    assert list(arraycache.cached("t", "k", build)["a"]) == [0, 1, 2, 3, 4]
    assert list(arraycache.cached("t", "k", build)["a"]) == [0, 1, 2, 3, 4] and len(calls) == 1
    (entry,) = (tmp_path / "arrays").iterdir()
    entry.write_bytes(b"garbage")
    assert list(arraycache.cached("t", "k", build)["a"]) == [0, 1, 2, 3, 4] and len(calls) == 2
    assert list(arraycache.cached("t", "other key", build)["a"]) == [0, 1, 2, 3, 4] and len(calls) == 3


def test_spooled_tables_come_back_whole_and_stale_spools_go(tmp_path, monkeypatch):
    monkeypatch.setattr(chunks.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(chunks, "_free", lambda path: 0)  # no /dev/shm: the temporary folder
    stale = tmp_path / "sift-spool-999999999-abc"
    stale.mkdir()
    spool = chunks.spool_dir()
    assert spool and os.path.dirname(spool) == str(tmp_path) and not stale.exists()
    path = tmp_path / "f.jsonl"
    path.write_bytes(jl(A(1), A(2), "{bad"))
    ref = process_block(str(path), 0, path.stat().st_size, 1, "alpaca", "ds", True, "f")
    for where in (spool, None):
        got = chunks.in_worker(process_block, where, str(path), 0, path.stat().st_size, 1, "alpaca", "ds", True, "f")
        assert chunks.table_of(got[0]).equals(ref[0]) and got[1:] == ref[1:]
    assert os.listdir(spool) == []  # read and deleted
