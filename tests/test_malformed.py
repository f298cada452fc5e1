"""Malformed-input corpus: every bad record is quarantined with its file, true 1-based line, field and a
plain-English reason, and every good record around it loads (issue 3, section 4).

Each case is written by the test into tmp_path (nothing is copied from ../shared/data). A case puts good
records AROUND the bad one, then asserts the exact quarantine entries and the exact lines of the rows that
loaded.
"""
from __future__ import annotations

import codecs
import gzip
import io
import json
import pickle
import zlib
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import core.importer as importer
import core.readers as readers
import core.store as store_mod
from core.formats import RowError
from core.importer import import_paths
from core.store import Store


# ------------------------------------------------------------------ record builders

def A(i, **kw):
    """An Alpaca record."""
    return {"instruction": f"Alpaca question number {i}?", "output": f"Alpaca answer number {i}.", **kw}


def S(i):
    """A ShareGPT record."""
    return {"conversations": [{"from": "human", "value": f"ShareGPT question {i}"},
                              {"from": "gpt", "value": f"ShareGPT answer {i}"}]}


def M(i):
    """An OpenAI messages record."""
    return {"messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": f"Messages question {i}"},
                         {"role": "assistant", "content": f"Messages answer {i}"}]}


def P(i):
    """A preference record."""
    return {"prompt": f"Preference prompt {i}", "chosen": f"good reply {i}", "rejected": f"bad reply {i}"}


def jl(*lines) -> bytes:
    """JSON Lines: dicts are dumped, str lines are written verbatim, bytes as bytes."""
    out = []
    for x in lines:
        if isinstance(x, bytes):
            out.append(x)
        elif isinstance(x, str):
            out.append(x.encode("utf-8"))
        else:
            out.append(json.dumps(x, ensure_ascii=False).encode("utf-8"))
    return b"\n".join(out) + b"\n"


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def pretty_array(*elements: str) -> str:
    """A pretty-printed JSON array from element texts (each already indented by two spaces)."""
    return "[\n" + ",\n".join(elements) + "\n]\n"


def indent2(rec) -> str:
    return "\n".join("  " + ln for ln in json.dumps(rec, indent=2).split("\n"))


# ------------------------------------------------------------------ the corpus

@dataclass
class Case:
    id: str
    name: str  # file name (the extension picks the reader)
    content: bytes
    errors: list  # [(line, field, reason substring)]
    good: list  # lines (row numbers for Parquet) of the rows that must load
    fmt: str = "auto"
    format: str | None = None  # the detected format, when asserted
    quarantined: bool = True  # False: a file-level error that is reported but has no quarantine row
    setup: object = field(default=None, repr=False)  # fn(monkeypatch) run before the import


BAD_ARRAY_ELEMENT = '  {\n    "instruction": "broken" "no comma",\n    "output": "x"\n  }'
LONG = "y" * 2000

CASES = [
    # --- invalid JSON
    Case("jsonl_invalid_json", "a.jsonl",
         jl(A(1), A(2), '{"instruction": "half", "output": }', A(4), A(5)),
         [(3, "(record)", "invalid JSON")], [1, 2, 4, 5], format="alpaca"),
    Case("json_array_invalid_element", "a.json",
         pretty_array(indent2(A(1)), BAD_ARRAY_ELEMENT, indent2(A(3)), indent2(A(4))).encode(),
         # A(1) spans lines 2-5, the bad element 6-9, then lines 10 and 14
         [(6, "(record)", "invalid JSON")], [2, 10, 14], format="alpaca"),
    Case("json_array_invalid_nested_element", "a.json",
         pretty_array(indent2(S(1)),
                      '  {\n    "conversations": [\n      {"from": "human", "value": "hi" "oops"},\n'
                      '      {"from": "gpt", "value": "yo"}\n    ]\n  }',
                      indent2(S(3))).encode(),
         # resync skips the bad record's nested turn objects: they must not be read as records
         # S(1) spans lines 2-13, the bad record 14-19, S(3) starts on line 20
         [(14, "(record)", "invalid JSON: Expecting ',' delimiter (line 16")], [2, 20], format="sharegpt"),
    Case("json_array_missing_comma", "a.json",
         ("[\n" + json.dumps(A(1)) + "\n" + json.dumps(A(2)) + ",\n" + json.dumps(A(3)) + "\n]\n").encode(),
         [(3, "(file)", "expected ',' or ']'")], [2, 3, 4]),
    Case("json_array_not_closed", "a.json",
         ("[\n" + ",\n".join(json.dumps(A(i)) for i in (1, 2, 3)) + "\n").encode(),
         [(4, "(file)", "not closed")], [2, 3, 4]),
    Case("json_array_cut_mid_record", "a.json",
         ("[\n" + ",\n".join(json.dumps(A(i)) for i in (1, 2)) + ',\n{"instruction": "cut her').encode(),
         [(4, "(record)", "invalid JSON"), (4, "(file)", "not closed")], [2, 3]),
    Case("json_text_after_array", "a.json",
         ("[\n" + ",\n".join(json.dumps(A(i)) for i in (1, 2)) + "\n]\nstray text\n").encode(),
         [(5, "(file)", "after the end of the JSON array")], [2, 3]),
    # --- wrong types, per field
    Case("instruction_is_number", "a.jsonl", jl(A(1), {"instruction": 42, "output": "x"}, A(3)),
         [(2, "instruction", "expected text, got a number")], [1, 3]),
    Case("output_is_object", "a.jsonl", jl(A(1), A(2), {"instruction": "q", "output": {"text": "x"}}, A(4)),
         [(3, "output", "expected text, got an object")], [1, 2, 4]),
    Case("conversations_is_string", "a.jsonl", jl(S(1), {"conversations": "human: hi"}, S(3)),
         [(2, "conversations", "expected a list of turns, got text")], [1, 3], format="sharegpt"),
    Case("message_content_is_number", "a.jsonl",
         jl(M(1), {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": 7}]}, M(3)),
         [(2, "messages[1].content", "expected text, got a number")], [1, 3], format="messages"),
    Case("turn_is_not_object", "a.jsonl",
         jl(S(1), {"conversations": [{"from": "human", "value": "q"}, ["gpt", "a"]]}, S(3)),
         [(2, "conversations[1]", "turn must be an object, got a list")], [1, 3]),
    Case("number_where_text_belongs", "a.jsonl",
         jl({"question": "What is 2+2?", "answer": "4"}, {"question": 12, "answer": "x"},
            {"question": "And 3+3?", "answer": "6"}),
         [(2, "question", "expected text, got a number")], [1, 3], format="prompt_completion"),
    Case("record_is_array_or_string", "a.jsonl", jl(A(1), [A(2)], '"just a string"', A(4)),
         [(2, "(record)", "expected a JSON object, got a list"),
          (3, "(record)", "expected a JSON object, got text")], [1, 4]),
    # --- conversations
    Case("empty_conversation", "a.jsonl", jl(S(1), {"conversations": []}, S(3)),
         [(2, "conversations", "conversation has no turns")], [1, 3]),
    Case("roleless_turn", "a.jsonl",
         jl(S(1), {"conversations": [{"value": "q"}, {"from": "gpt", "value": "a"}]}, S(3)),
         [(2, "conversations[0].from", "turn has no role")], [1, 3]),
    Case("unknown_role", "a.jsonl",
         jl(S(1), S(2), {"conversations": [{"from": "wizard", "value": "q"}, {"from": "gpt", "value": "a"}]}, S(4)),
         [(3, "conversations[0].from", "unknown role 'wizard'")], [1, 2, 4]),
    Case("empty_turn_content", "a.jsonl",
         jl(S(1), {"conversations": [{"from": "human", "value": "  "}, {"from": "gpt", "value": "a"}]}, S(3)),
         [(2, "conversations[0].value", "turn content is empty")], [1, 3]),
    # --- missing / empty required fields
    Case("alpaca_without_instruction", "a.jsonl", jl(A(1), {"input": "ctx", "output": "x"}, A(3)),
         [(2, "instruction", "required field is missing")], [1, 3], fmt="alpaca"),
    Case("sharegpt_without_conversations", "a.jsonl", jl(S(1), S(2), {"id": "r3", "source": "x"}, S(4)),
         [(3, "conversations", "required field is missing")], [1, 2, 4], format="sharegpt"),
    Case("preference_without_rejected", "a.jsonl",
         jl(P(1), {"prompt": "p", "chosen": "c"}, P(3), P(4)),
         [(2, "rejected", "required field is missing")], [1, 3, 4], format="preference"),
    Case("empty_instruction", "a.jsonl", jl(A(1), {"instruction": "   ", "output": "x"}, A(3)),
         [(2, "instruction", "is empty")], [1, 3]),
    Case("duplicate_keys", "a.jsonl",
         jl(A(1), '{"instruction": "first", "instruction": "second", "output": "x"}', A(3)),
         [(2, "instruction", "duplicate key")], [1, 3]),
    Case("duplicate_keys_in_array", "a.json",
         ("[\n" + json.dumps(A(1)) + ',\n{"instruction" : "a", "output" : "b", "output" : "c"},\n'
          + json.dumps(A(3)) + "\n]").encode(),
         [(3, "output", "duplicate key")], [2, 4]),
    # --- bytes and encodings
    Case("invalid_utf8_line", "a.jsonl",
         jl(A(1), A(2), b'{"instruction": "caf\xe9 \xff", "output": "x"}', A(4)),
         [(3, "(line)", "invalid UTF-8")], [1, 2, 4]),
    Case("invalid_utf8_in_array", "a.json",
         b"[\n" + json.dumps(A(1)).encode() + b',\n{"instruction": "q",\n "output": "caf\xe9"},\n'
         + json.dumps(A(3)).encode() + b"\n]\n",
         [(3, "(record)", "invalid UTF-8 on line 4")], [2, 5]),
    Case("lone_surrogate_escape", "a.jsonl", jl(A(1), '{"instruction": "bad \\ud800 text", "output": "x"}', A(3)),
         [(2, "instruction", "not valid Unicode")], [1, 3]),
    Case("nul_byte", "a.jsonl", jl(A(1), b'{"instruction": "a\x00b", "output": "x"}', A(3)),
         [(2, "(line)", "NUL byte")], [1, 3]),
    Case("utf8_bom", "a.jsonl", codecs.BOM_UTF8 + jl(A(1), A(2), A(3)), [], [1, 2, 3], format="alpaca"),
    Case("crlf_line_endings", "a.jsonl", jl(A(1), A(2), A(3)).replace(b"\n", b"\r\n"), [], [1, 2, 3]),
    Case("utf16_le_with_bom", "a.jsonl", ("\n".join(json.dumps(A(i)) for i in (1, 2, 3)) + "\n").encode("utf-16"),
         [], [1, 2, 3], format="alpaca"),
    Case("blank_lines", "a.jsonl", jl(A(1), "", A(3), "   ", "", A(6), ""), [], [1, 3, 6]),
    # --- sizes and nesting
    Case("value_above_size_cap", "a.jsonl", jl(A(1), {"instruction": "q", "output": LONG}, A(3)),
         [(2, "output", "above the 1,000-byte cap")], [1, 3],
         setup=lambda mp: mp.setattr(readers, "MAX_VALUE_BYTES", 1000)),
    Case("deeply_nested_100k", "a.jsonl", jl(A(1), "[" * 100_000 + "]" * 100_000, A(3)),
         [(2, "(record)", "nested too deeply")], [1, 3]),
    Case("deeply_nested_100k_in_array", "a.json",
         ("[\n" + json.dumps(A(1)) + ",\n" + "[" * 100_000 + "]" * 100_000 + ",\n" + json.dumps(A(3)) + "\n]").encode(),
         [(3, "(record)", "nested too deeply")], [2, 4]),
    Case("nested_300_levels_in_a_field", "a.jsonl",
         jl(A(1), '{"instruction": "q", "output": "a", "meta": ' + "[" * 300 + "]" * 300 + "}", A(3)),
         [(2, "meta", "nested more than")], [1, 3]),
    # --- whole-file problems
    Case("empty_file", "a.jsonl", b"", [(1, "(file)", "file is empty")], []),
    Case("empty_json_file", "a.json", b"  \n", [(1, "(file)", "file is empty")], []),
    Case("only_blank_lines", "a.jsonl", b"\n\n   \n", [(1, "(file)", "file is empty")], []),
    Case("no_record_fits_any_format", "a.jsonl", jl({"foo": 1}, {"bar": 2}, {"baz": 3}),
         [(1, "(file)", "--format")], [], quarantined=False),
    # --- CSV
    Case("csv_embedded_newlines_and_wrong_field_count", "a.csv",
         b'instruction,output\n"multi\nline question",short answer\nq2,"answer\n\nwith blank line"\n'
         b"q3,extra,field\nq4,fine\n",
         [(7, "(record)", "has 3 fields, the header has 2")], [2, 4, 8], format="alpaca"),
    Case("csv_invalid_utf8_record", "a.csv",
         b'instruction,output\nq1,a1\n"caf\xe9\nsecond line",a2\nq3,a3\n',
         [(3, "(record)", "invalid UTF-8")], [2, 5]),
    Case("csv_invalid_utf8_header", "a.csv", b"instr\xffuction,output\nq1,a1\n",
         [(1, "(header)", "invalid UTF-8 in the header")], []),
    # --- Parquet (line = 1-based row number)
    Case("parquet_null_instruction", "a.parquet",
         parquet_bytes(pa.table({"instruction": ["q1", None, "q3"], "output": ["a1", "a2", "a3"]})),
         [(2, "instruction", "required field is missing")], [1, 3], format="alpaca"),
    Case("parquet_instruction_of_ints", "a.parquet",
         parquet_bytes(pa.table({"instruction": [1, 2, 3], "output": ["a1", "a2", "a3"]})),
         [(1, "instruction", "expected text, got a number"), (2, "instruction", "expected text, got a number"),
          (3, "instruction", "expected text, got a number")], []),
    Case("parquet_wrong_schema", "a.parquet",
         parquet_bytes(pa.table({"foo": [1, 2], "bar": ["x", "y"]})),
         [(1, "(file)", "could not detect the format")], [], quarantined=False),
    # --- JSON containers
    Case("json_wrapper_object_true_lines", "a.json",
         json.dumps({"version": "1.0", "data": [A(1), {"instruction": 5, "output": "x"}, A(3)]}, indent=2).encode(),
         # {"version", "data": [ {4 lines}, {4 lines}, {4 lines} ]}
         [(8, "instruction", "expected text, got a number")], [4, 12]),
    Case("json_single_sharegpt_record", "a.json", json.dumps(S(1), indent=2).encode(), [], [1], format="sharegpt"),
]


def _import(tmp_path, name: str, content: bytes, fmt: str = "auto"):
    p = tmp_path / name
    p.write_bytes(content)
    store = Store(tmp_path / "ws")
    return store, p, import_paths(store, [str(p)], fmt=fmt)


def _loaded_lines(store: Store) -> list[int]:
    return [r[0] for r in store._q("SELECT line FROM rows ORDER BY line, id")]


def test_corpus_is_big_enough():
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_case(case: Case, tmp_path, monkeypatch):
    if case.setup:
        case.setup(monkeypatch)
    store, path, res = _import(tmp_path, case.name, case.content, case.fmt)
    try:
        got = sorted((e["line"], e["field"], e["reason"]) for e in res.errors)
        assert len(got) == len(case.errors), got
        for (line, fld, reason), (eline, efld, esub) in zip(got, sorted(case.errors)):
            assert (line, fld) == (eline, efld), got
            assert esub in reason, (esub, reason)
            assert "Traceback" not in reason and "SELECT" not in reason
        assert all(e["file"] == str(path) for e in res.errors)
        if case.id == "no_record_fits_any_format":  # the message names the file and what to do
            assert str(path) in res.errors[0]["reason"] or res.errors[0]["file"] == str(path)
            assert "--format" in res.errors[0]["reason"]
        # the quarantine table holds exactly the same entries, with the raw text kept for the user
        q = store.quarantine()
        qrows = sorted(zip(q["file"], q["line"], q["field"], q["reason"]))
        if case.quarantined:
            assert [(f, int(ln), fl, r) for f, ln, fl, r in qrows] == [(str(path), ln, fl, r) for ln, fl, r in got]
        else:
            assert qrows == []
        # every good row loaded, with its true line
        assert res.rows == len(case.good)
        assert _loaded_lines(store) == case.good
        assert res.quarantined == (len(case.errors) if case.quarantined else 0)
        if case.format:
            assert res.format == case.format
    finally:
        store.close()


def test_loaded_rows_keep_their_content(tmp_path):
    """BOM / CRLF / UTF-16 input: the text of each row is intact (no BOM, no stray \\r)."""
    for name, content in [("bom.jsonl", codecs.BOM_UTF8 + jl(A(1), A(2))),
                          ("crlf.jsonl", jl(A(1), A(2)).replace(b"\n", b"\r\n")),
                          ("u16.jsonl", ("\n".join(json.dumps(A(i)) for i in (1, 2)) + "\n").encode("utf-16"))]:
        d = tmp_path / name.split(".")[0]
        d.mkdir()
        store, _, res = _import(d, name, content)
        rows = store._q("SELECT line, instruction, response, raw FROM rows ORDER BY line")
        assert [(ln, i, r) for ln, i, r, _ in rows] == [
            (1, A(1)["instruction"], A(1)["output"]), (2, A(2)["instruction"], A(2)["output"])], name
        assert all(not raw.startswith("\ufeff") and not raw.endswith("\r") for *_, raw in rows)
        assert json.loads(rows[0][3]) == A(1)
        store.close()


def test_real_5mb_value_is_quarantined(tmp_path):
    big = "x" * (5 * 1024 * 1024)
    store, path, res = _import(tmp_path, "big.jsonl", jl(A(1), {"instruction": "q", "output": big}, A(3)))
    try:
        assert [(e["line"], e["field"]) for e in res.errors] == [(2, "output")]
        assert f"above the {readers.MAX_VALUE_BYTES:,}-byte cap" in res.errors[0]["reason"]
        assert _loaded_lines(store) == [1, 3]
        raw = store.quarantine()["raw"][0]
        assert len(raw) <= 4000  # the quarantine keeps a bounded prefix, not 5 MB
    finally:
        store.close()


def test_truncated_gzip_keeps_rows_before_the_cut(tmp_path):
    lines = [json.dumps(A(i)) for i in range(1, 2001)]
    data = ("\n".join(lines) + "\n").encode()
    gz = gzip.compress(data)
    cut = gz[: len(gz) // 2]
    # what a reader can possibly get back from the cut stream: the complete lines in it
    readable = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(cut)
    complete = readable.count(b"\n")
    assert 10 < complete < 2000
    store, path, res = _import(tmp_path, "cut.jsonl.gz", cut)
    try:
        assert res.rows == complete
        assert _loaded_lines(store) == list(range(1, complete + 1))
        assert [(e["line"], e["field"]) for e in res.errors] == [(complete + 1, "(file)")]
        assert "truncated" in res.errors[0]["reason"]
    finally:
        store.close()


def test_exact_duplicates_are_counted_and_flagged_not_dropped(tmp_path):
    store, path, res = _import(tmp_path, "d.jsonl", jl(A(1), A(2), A(1), A(3), A(1), A(2)))
    try:
        assert res.rows == 6 and res.quarantined == 0
        assert res.duplicates == 3  # two more copies of A(1), one more of A(2)
        rows = store._q("SELECT line, is_duplicate, dup_count FROM rows ORDER BY line")
        assert rows == [(1, False, 3), (2, False, 2), (3, True, 3), (4, False, 1), (5, True, 3), (6, True, 2)]
        assert store.datasets()[0]["duplicates"] == 3
    finally:
        store.close()


def test_reimporting_the_same_file_is_a_noop(tmp_path):
    store, path, res = _import(tmp_path, "a.jsonl", jl(A(1), {"instruction": 1}, A(3)))
    try:
        assert (res.rows, res.quarantined) == (2, 1)
        version = store.version
        again = import_paths(store, [str(path)])
        assert (again.rows, again.quarantined, again.errors) == (0, 0, [])
        assert [f["file"] for f in again.skipped_files] == [str(path)]
        assert "already imported" in again.skipped_files[0]["reason"]
        assert store._q("SELECT count(*) FROM rows")[0][0] == 2
        assert store._q("SELECT count(*) FROM quarantine")[0][0] == 1
        assert store._q("SELECT count(*) FROM files")[0][0] == 1
        # the same content under another name is the same file
        copy = tmp_path / "copy.jsonl"
        copy.write_bytes(path.read_bytes())
        assert import_paths(store, [str(copy)], name="a").rows == 0
        assert store._q("SELECT count(*) FROM rows")[0][0] == 2
        assert store.version >= version
    finally:
        store.close()


def test_crash_mid_import_leaves_nothing_and_reimport_works(tmp_path, monkeypatch):
    recs = [A(i) for i in range(1, 13)]
    recs[4] = {"instruction": 5, "output": "bad"}  # line 5 goes to quarantine
    p = tmp_path / "big.jsonl"
    p.write_bytes(jl(*recs))
    store = Store(tmp_path / "ws")
    try:
        # an earlier, separate import that must survive
        (tmp_path / "other.jsonl").write_bytes(jl(S(1), S(2)))
        import_paths(store, [str(tmp_path / "other.jsonl")])
        before = {t: store._q(f"SELECT count(*) FROM {t}")[0][0] for t in ("rows", "files", "quarantine", "datasets")}

        monkeypatch.setattr(importer, "BATCH", 2)
        calls = {"n": 0}
        real_add_rows = store_mod._FileWriter.add_rows

        def flaky_add_rows(self, table):
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("simulated crash in the middle of an import")
            return real_add_rows(self, table)

        monkeypatch.setattr(store_mod._FileWriter, "add_rows", flaky_add_rows)
        with pytest.raises(RuntimeError, match="simulated crash"):
            import_paths(store, [str(p)], name="big")
        assert calls["n"] == 3  # it really died mid-file, after two batches were written

        after = {t: store._q(f"SELECT count(*) FROM {t}")[0][0] for t in ("rows", "files", "quarantine", "datasets")}
        assert after == before
        assert store._q("SELECT count(*) FROM rows WHERE dataset = 'big'")[0][0] == 0
        assert store._q("SELECT count(*) FROM quarantine WHERE dataset = 'big'")[0][0] == 0
        assert store.files("big") == []
        assert not store.file_imported("big", importer.file_sha256(p))

        monkeypatch.setattr(store_mod._FileWriter, "add_rows", real_add_rows)
        res = import_paths(store, [str(p)], name="big")
        assert (res.rows, res.quarantined, res.skipped_files) == (11, 1, [])
        assert [(e["line"], e["field"]) for e in res.errors] == [(5, "instruction")]
        assert [r[0] for r in store._q("SELECT line FROM rows WHERE dataset = 'big' ORDER BY line")] == \
            [i for i in range(1, 13) if i != 5]
        assert len(store.files("big")) == 1
    finally:
        store.close()


def test_bad_lines_survive_the_worker_processes(tmp_path, monkeypatch):
    """Big files are read in worker processes: Items that already carry an error (bad UTF-8, NUL, bad JSON
    among the sniffed records) are pickled to them and must arrive intact, not break the pool."""
    it = readers.Item("f.jsonl", 3, "raw", None, RowError("(line)", "invalid UTF-8 at byte 2 of the line"))
    back = pickle.loads(pickle.dumps(it))
    assert (back.file, back.line, back.raw, back.error.field, back.error.reason) == (
        "f.jsonl", 3, "raw", "(line)", "invalid UTF-8 at byte 2 of the line")
    if hasattr(importer, "_Pool"):  # force the process pool for this small file
        real_init = importer._Pool.__init__
        monkeypatch.setattr(importer, "workers", lambda: 2)
        monkeypatch.setattr(importer._Pool, "__init__", lambda self, enabled: real_init(self, True))
    store, path, res = _import(tmp_path, "w.jsonl", jl(A(1), A(2), b'{"instruction": "caf\xe9"}',
                                                       b'{"instruction": "a\x00b"}', '{"instruction": ', A(6)))
    try:
        assert sorted((e["line"], e["field"]) for e in res.errors) == [(3, "(line)"), (4, "(line)"), (5, "(record)")]
        assert _loaded_lines(store) == [1, 2, 6]
    finally:
        store.close()
