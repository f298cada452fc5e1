"""Export: round trips (import -> export -> re-import keeps the content hashes), byte-faithful original
records, the manifest, export-name safety, and the CLI end to end.

Uses ../shared/data (never copied into the repository); without it these tests FAIL
(set SIFT_ALLOW_NO_SHARED=1 to skip them instead).
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.shared import require_shared

from core.export import export_rows
from core.filters import Cond, Filter
from core.importer import import_paths
from core.store import Store, StoreError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
NL_INDENT = re.compile(r"\r?\n[ \t]*")

# an Alpaca file with system prompts and history, written with CRLF line ends, tabs, \u escapes and "\/"
ALPACA_SYS = (
    '[\r\n'
    '  {\r\n'
    '    "instruction": "Translate to French.",\r\n'
    '    "input": "Good morning",\r\n'
    '    "output": "Bonjour",\r\n'
    '    "system": "You are a translator. Caf\\u00e9 \\/ na\\u00efve.",\r\n'
    '    "history": [\r\n'
    '      ["Hi", "Hello! How can I help?"],\r\n'
    '      ["Can you translate?", "Yes, which text?"]\r\n'
    '    ]\r\n'
    '  },\r\n'
    '\t{"instruction": "Name a colour.", "input": "", "output": "Blue.", "system": "Answer briefly."},\r\n'
    '  {\r\n'
    '\t\t"instruction": "What is 2+2?",  "input": "",\r\n'
    '\t\t"output": "4", "history": [["Let\'s do maths.", "Sure."]]\r\n'
    '  },\r\n'
    '  {"instruction": "Say nothing back.", "input": "", "output": ""}\r\n'
    ']\r\n'
)
# OpenAI messages with system prompts, a tool call said together with text, a tool result
MESSAGES_SYS = "\n".join(json.dumps(r, ensure_ascii=False) for r in [
    {"messages": [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21}"},
        {"role": "assistant", "content": "It is 21 °C in Paris."}],
     "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]},
    {"messages": [
        {"role": "system", "content": "Be terse."}, {"role": "user", "content": "Capital of Italy?"},
        {"role": "assistant", "content": "Rome."}, {"role": "user", "content": "And Spain?"},
        {"role": "assistant", "content": "Madrid."}], "source": "crafted"},
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
]) + "\n"

# dataset name -> source (a shared path, or a crafted file name)
SOURCES = {
    "alpaca_sys": "crafted:alpaca_sys.json",
    "messages_sys": "crafted:messages_sys.jsonl",
    "lima": "lima/lima.json",  # Alpaca + history
    "glaive": "llamafactory_demos/glaive_toolcall_en_demo.json",  # ShareGPT with tool calls
    "dpo": "llamafactory_demos/dpo_en_demo.json",  # preference, ShareGPT layout
    "hh": "hh_rlhf_harmless/harmless-base_test.jsonl.gz",  # preference, HH transcripts (gzip JSONL)
    "oaast_rm": "oasst1_zh/oaast_rm_zh.json",  # preference, Alpaca ranking with history
    "oasst": "oasst_en_sample/en_100_tree.jsonl",  # OASST trees: one row per path
}
# HH-RLHF rows (1-based source lines) that a converted format cannot hold, found by reading the transcripts:
HH_NOT_ALTERNATING = [668, 764, 1320, 1850]  # two turns of one speaker in the prompt: Alpaca history cannot hold it
HH_CHOSEN_SEVERAL = [1255, 1689, 1953, 2037]  # chosen reply is two "Assistant:" turns in a row
HH_REJECTED_SEVERAL = [1951]  # rejected reply is two "Assistant:" turns in a row
HH_QUARANTINED = [87, 517, 926, 1104]  # chosen ends in an empty "Assistant:" turn (see test_shared_data)


def _require_shared():
    require_shared()


def _path(src: str, crafted: Path) -> Path:
    return crafted / src.split(":", 1)[1] if src.startswith("crafted:") else SHARED / src


@pytest.fixture(scope="module")
def crafted(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("crafted")
    (d / "alpaca_sys.json").write_bytes(ALPACA_SYS.encode("utf-8"))
    (d / "messages_sys.jsonl").write_text(MESSAGES_SYS, "utf-8")
    (d / "json_looking.json").write_text(json.dumps(
        [{"instruction": "Give the list as JSON.", "input": "", "output": '["a", "b"]'}]), "utf-8")
    return d


@pytest.fixture(scope="module")
def src(tmp_path_factory, crafted):
    """One workspace holding every source dataset (imported once for the module)."""
    _require_shared()
    store = Store(tmp_path_factory.mktemp("src"))
    for name, s in SOURCES.items():
        res = import_paths(store, [str(_path(s, crafted))], name=name)
        assert res.rows > 0
        assert res.quarantined == (len(HH_QUARANTINED) if name == "hh" else 0), (name, res.errors[:3])
    yield store
    store.close()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A new empty workspace for each re-import."""
    stores = []

    def make():
        s = Store(tmp_path_factory.mktemp("re"))
        stores.append(s)
        return s
    yield make
    for s in stores:
        s.close()


def _rows(store, flt=None, dataset=None, columns=None) -> list[dict]:
    return [r for b in store.iter_rows(flt, dataset, batch=100_000, columns=columns) for r in b]


def _reimport(fresh, path: Path) -> tuple[Counter, object]:
    s = fresh()
    res = import_paths(s, [str(path)], name="back")
    return Counter(r["hash"] for r in _rows(s, columns=["id", "hash"])), res


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _n_records(path: Path) -> int:
    if path.suffix == ".jsonl":
        return len(path.read_bytes().splitlines())
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq
        return pq.ParquetFile(path).metadata.num_rows
    with open(path, newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.DictReader(f))


def _check_manifest(store, man: dict, flt: Filter, dataset=None) -> Path:
    """sha256, row count, filter in words and as data, per-row provenance; returns the export's path."""
    path = Path(man["path"])
    assert path.parent == store.workspace / "exports"
    mpath = Path(man["manifest"])
    assert mpath == path.with_name(path.name + ".manifest.json")
    on_disk = json.loads(mpath.read_text("utf-8"))
    assert on_disk["sha256"] == _sha256(path) == man["sha256"]
    assert on_disk["rows"] == man["rows"] == _n_records(path)
    assert on_disk["filter"] == {"description": flt.describe(), "data": flt.to_dict()}
    assert Filter.from_dict(on_disk["filter"]["data"]) == flt
    assert on_disk["tool"] == "sift" and on_disk["version"] and on_disk["as"] == man["as"]
    # every matching row is either exported (with provenance) or listed as skipped
    assert on_disk["rows"] + on_disk["skipped"] == store.count(flt, dataset)
    skipped = {x["id"] for x in on_disk["skipped_rows"]}
    assert len(skipped) == on_disk["skipped"] == len(on_disk["skipped_rows"])
    rows = _rows(store, flt, dataset, ["id", "dataset", "file", "line", "hash"])
    expect = [{"id": r["id"], "dataset": r["dataset"], "file": r["file"], "line": r["line"], "hash": r["hash"]}
              for r in rows if r["id"] not in skipped]
    assert on_disk["provenance"] == expect
    return path


def _source_hashes(store, dataset=None, skip=()) -> Counter:
    return Counter(r["hash"] for r in _rows(store, None, dataset, ["id", "hash"]) if r["id"] not in skip)


def _array_slices(text: str) -> list[str]:
    """The verbatim text of each element of a top-level JSON array (independent of core.readers)."""
    dec, out = json.JSONDecoder(), []
    pos = text.index("[") + 1
    while True:
        pos = re.compile(r"[\s,]*").match(text, pos).end()
        if text[pos] == "]":
            return out
        _, end = dec.raw_decode(text, pos)
        out.append(text[pos:end])
        pos = end


def _source_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


# ------------------------------------------------------------------ converted formats

def _expected_skips(store, as_: str, flt=None) -> dict:
    """row id -> the reason a converted format cannot hold the row."""
    out = {}
    for r in _rows(store, flt, columns=["id", "dataset", "line", "turns"]):
        roles = {t["role"] for t in r["turns"]}
        if as_ == "alpaca" and roles - {"user", "assistant"}:
            out[r["id"]] = "function_call/tool turns"
        if r["dataset"] == "hh":
            if as_ == "alpaca" and r["line"] in HH_NOT_ALTERNATING:
                out[r["id"]] = "turns do not alternate"
            if r["line"] in HH_CHOSEN_SEVERAL:
                out[r["id"]] = "chosen reply is not one reply turn"
            if r["line"] in HH_REJECTED_SEVERAL:
                out[r["id"]] = "rejected reply has several turns"
    return out


# JSONL: every source together (LIMA's long texts only once); Parquet / CSV: the mix without the two largest
# datasets (re-imports dominate the suite's time)
NO_LIMA = Filter((Cond("dataset", "!=", "lima"),))
SMALL_MIX = Filter((Cond("dataset", "in", ["alpaca_sys", "messages_sys", "glaive", "dpo", "oaast_rm", "oasst"]),))


@pytest.mark.parametrize("as_,suffix,flt", [
    ("alpaca", ".jsonl", Filter()), ("sharegpt", ".jsonl", NO_LIMA), ("messages", ".jsonl", NO_LIMA),
    ("sharegpt", ".parquet", SMALL_MIX), ("messages", ".parquet", SMALL_MIX), ("alpaca", ".csv", SMALL_MIX),
    ("messages", ".csv", SMALL_MIX),
])
def test_converted_round_trip(src, fresh, as_, suffix, flt):
    """Several source datasets together -> one converted file -> a fresh workspace: the same content hashes,
    except the rows the format cannot hold, which the manifest lists with a reason."""
    man = export_rows(src, flt, f"all_{as_}{suffix}", as_)
    path = _check_manifest(src, man, flt)
    skips = _expected_skips(src, as_, flt)
    got = {x["id"]: x["reason"] for x in man["skipped_rows"]}
    assert set(got) == set(skips)
    for rid, why in skips.items():
        assert why in got[rid], (rid, got[rid])
    if as_ == "alpaca":  # every glaive row with a tool call is refused, every other glaive row exported
        glaive = _rows(src, None, "glaive", ["id", "roles"])
        assert {r["id"] for r in glaive if "function_call" in r["roles"]} <= set(got)
        assert any(r["id"] not in got for r in glaive)
    hashes, res = _reimport(fresh, path)
    assert res.quarantined == 0, res.errors[:5]
    assert hashes == Counter(r["hash"] for r in _rows(src, flt, None, ["id", "hash"]) if r["id"] not in got)


def test_converted_records_look_right(src, tmp_path):
    """Spot checks of the converted shapes (LLaMA-Factory style)."""
    first_dpo = _rows(src, None, "dpo", ["id", "rejected"])[0]
    flt = Filter((Cond("dataset", "=", "alpaca_sys"),))
    man = export_rows(src, flt, "alp.jsonl", "alpaca")
    first = json.loads(Path(man["path"]).read_text("utf-8").splitlines()[0])
    assert first == {"instruction": "Translate to French.\n\nGood morning", "input": "", "output": "Bonjour",
                     "system": "You are a translator. Café / naïve.",
                     "history": [["Hi", "Hello! How can I help?"], ["Can you translate?", "Yes, which text?"]]}
    man = export_rows(src, Filter((Cond("dataset", "=", "messages_sys"),)), "msg.jsonl", "messages")
    rec = json.loads(Path(man["path"]).read_text("utf-8").splitlines()[0])
    assert rec["messages"][0] == {"role": "system", "content": "You are a weather bot."}
    assert rec["messages"][2] == {"role": "assistant", "content": "Let me check."}
    call = rec["messages"][3]
    assert call["role"] == "assistant" and call["tool_calls"][0]["function"]["name"] == "get_weather"
    assert json.loads(call["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert rec["messages"][4] == {"role": "tool", "content": "{\"temp\": 21}"}
    assert rec["tools"][0]["function"]["name"] == "get_weather"
    man = export_rows(src, Filter((Cond("dataset", "=", "glaive"),)), "gl.jsonl", "sharegpt")
    recs = [json.loads(x) for x in Path(man["path"]).read_text("utf-8").splitlines()]
    froms = {t["from"] for r in recs for t in r["conversations"]}
    assert froms == {"human", "gpt", "function_call", "observation"}
    assert all(isinstance(r["tools"], str) for r in recs)
    man = export_rows(src, Filter((Cond("dataset", "=", "dpo"),)), "dpo.jsonl", "sharegpt")
    rec = json.loads(Path(man["path"]).read_text("utf-8").splitlines()[0])
    assert set(rec) == {"conversations", "chosen", "rejected"}
    assert rec["chosen"]["from"] == rec["rejected"]["from"] == "gpt"
    assert first_dpo["rejected"][0]["content"] == rec["rejected"]["value"]


def test_csv_round_trip_keeps_json_looking_text(crafted, fresh):
    s = fresh()
    import_paths(s, [str(crafted / "json_looking.json")], name="jl")
    man = export_rows(s, Filter(), "jl.csv", "alpaca")
    hashes, _ = _reimport(fresh, Path(man["path"]))
    assert hashes == _source_hashes(s)


# ------------------------------------------------------------------ original format

@pytest.mark.parametrize("dataset", sorted(SOURCES))
def test_original_round_trip_byte_faithful(src, fresh, crafted, dataset):
    flt = Filter((Cond("dataset", "=", dataset),))
    man = export_rows(src, flt, f"orig_{dataset}.jsonl", "original")
    path = _check_manifest(src, man, flt)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == man["rows"]
    lines = lines[:-1]
    source = _path(SOURCES[dataset], crafted)
    data = _source_bytes(source)
    if data.lstrip().startswith(b"["):  # pretty-printed JSON array
        text = data.decode("utf-8")
        records, slices = json.loads(text), _array_slices(text)
        assert len(lines) == len(records) == len(slices)
        for line, rec, sl in zip(lines, records, slices):
            assert json.loads(line) == rec
            assert line.decode("utf-8") == NL_INDENT.sub("", sl)  # only newline + indentation removed
        assert man["skipped"] == 0
    else:  # JSON Lines: each exported line is the source line, byte for byte
        src_lines = [ln.rstrip(b"\r") for ln in data.split(b"\n") if ln.strip()]
        if dataset == "hh":
            src_lines = [ln for i, ln in enumerate(src_lines, 1) if i not in HH_QUARANTINED]
        assert lines == src_lines  # for OASST: each tree once, though it yields one row per path
        if dataset == "oasst":
            assert man["rows"] == 100 and man["skipped"] == src.count(flt) - 100
            assert all("same source record" in x["reason"] for x in man["skipped_rows"])
    hashes, res = _reimport(fresh, path)
    assert res.quarantined == 0
    assert hashes == _source_hashes(src, dataset)


@pytest.mark.parametrize("dataset,suffix", [("oasst", ".parquet"), ("glaive", ".parquet"), ("hh", ".csv"),
                                            ("alpaca_sys", ".csv")])
def test_original_round_trip_parquet_csv(src, fresh, dataset, suffix):
    flt = Filter((Cond("dataset", "=", dataset),))
    man = export_rows(src, flt, f"orig_{dataset}{suffix}", "original")
    path = _check_manifest(src, man, flt)
    hashes, res = _reimport(fresh, path)
    assert res.quarantined == 0, res.errors[:3]
    assert hashes == _source_hashes(src, dataset)


def test_filtered_export_manifest(src, fresh):
    flt = Filter((Cond("n_turns", ">", 1), Cond("language", "=", "en")))
    man = export_rows(src, flt, "multi_en.jsonl", "messages")
    assert man["filter"]["description"] == "n_turns > 1 and language is en"
    _check_manifest(src, man, flt)
    assert 0 < man["rows"] < src.count()
    back = fresh()
    import_paths(back, [man["path"]], name="back")
    assert all(r["n_turns"] > 1 for r in _rows(back, columns=["id", "n_turns"]))
    # --dataset and an empty result
    man = export_rows(src, Filter((Cond("n_turns", ">", 1000),)), "none.parquet", "alpaca", dataset="lima")
    assert man["rows"] == 0 and _n_records(Path(man["path"])) == 0


def test_bad_as_is_refused(src):
    with pytest.raises(StoreError):
        export_rows(src, Filter(), "x.jsonl", "yaml")


# ------------------------------------------------------------------ export name safety

HOSTILE = ["../x.jsonl", "/etc/x.jsonl", "a/b.jsonl", "x\x00.jsonl", "CON.jsonl", "x" * 500 + ".jsonl", ".jsonl",
           "x.exe", "link.jsonl", "..\\x.jsonl", "sub\\..\\..\\y.jsonl", "~/x.jsonl", "nul.csv", "COM1.parquet",
           "\u202egnp.jsonl", "", "..", "x.jsonl ", "x.jsonl.manifest.json", "con.txt.jsonl", ".hidden.jsonl",
           "a:b.jsonl", "x\n.jsonl"]
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\.(jsonl|parquet|csv)")


def _tree(root: Path) -> set:
    return {p for p in root.rglob("*")}


def test_export_names_are_refused_or_sanitised(tmp_path, crafted):
    ws = tmp_path / "ws"
    store = Store(ws)
    import_paths(store, [str(crafted / "alpaca_sys.json")], name="a")
    elsewhere = tmp_path / "elsewhere"
    (ws / "exports" / "link.jsonl").symlink_to(elsewhere)
    before = _tree(tmp_path)
    home_x = Path("~/x.jsonl").expanduser()
    had = {p: p.exists() for p in (Path("/etc/x.jsonl"), home_x, REPO / "x.jsonl", REPO.parent / "x.jsonl")}
    written, refused = [], []
    flt = Filter((Cond("id", "=", 1),))
    for name in HOSTILE:
        try:
            man = export_rows(store, flt, name, "original")
        except StoreError as e:
            assert str(e) and "\n" not in str(e)
            refused.append(name)
            continue
        p = Path(man["path"])
        assert p.parent == ws / "exports", name
        assert SAFE_NAME.fullmatch(p.name), (name, p.name)
        assert len(p.name) <= 120
        assert p.name.split(".")[0].lower() not in {"con", "prn", "aux", "nul", "com1", "lpt1"}
        assert not p.is_symlink() and _n_records(p) == 1
        written.append(p.name)
    assert {"../x.jsonl", "/etc/x.jsonl", "a/b.jsonl", "x\x00.jsonl", "x.exe", "link.jsonl", "..\\x.jsonl",
            "", ".."} <= set(refused)
    assert "_CON.jsonl" in written and "export.jsonl" in written  # '.jsonl' has no stem left
    assert not elsewhere.exists() and (ws / "exports" / "link.jsonl").is_symlink()
    store.close()
    new = _tree(tmp_path) - before
    assert all(p.parent == ws / "exports" or p.name.startswith("sift.duckdb") for p in new), \
        sorted(map(str, new))
    assert {p: p.exists() for p in had} == had


# ------------------------------------------------------------------ CLI end to end

def _cli(*args, ok=True):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=300, check=False)
    assert "Traceback" not in p.stderr + p.stdout, p.stderr
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def test_cli_end_to_end(tmp_path):
    _require_shared()
    ws = tmp_path / "ws"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": \n'
                   '{"instruction": 5, "output": "d"}\n{"instruction": "e", "output": "f"}\n', "utf-8")
    p = _cli("import", str(SHARED / "mt_bench"), "--workspace", str(ws), "--json")
    out = json.loads(p.stdout)
    assert {"dataset", "format", "rows", "quarantined", "duplicates", "errors"} <= set(out)
    assert (out["dataset"], out["format"], out["rows"], out["quarantined"], out["duplicates"], out["errors"]) == \
        ("mt_bench", "prompt_completion", 160, 0, 0, [])
    p = _cli("import", str(bad), "--workspace", str(ws), "--name", "bad", "--json")
    out = json.loads(p.stdout)
    assert (out["dataset"], out["format"], out["rows"], out["quarantined"]) == ("bad", "alpaca", 2, 2)
    assert all(set(e) == {"file", "line", "field", "reason"} for e in out["errors"])
    assert [(Path(e["file"]).name, e["line"], e["field"]) for e in out["errors"]] == \
        [("bad.jsonl", 2, "(record)"), ("bad.jsonl", 3, "instruction")]
    assert out["errors"][0]["reason"].startswith("invalid JSON")
    assert out["errors"][1]["reason"] == "expected text, got a number"

    info = json.loads(_cli("info", "--workspace", str(ws), "--json").stdout)
    ds = {d["dataset"]: d for d in info["datasets"]}
    assert ds["mt_bench"]["rows"] == 160 and ds["mt_bench"]["formats"] == ["prompt_completion"]
    assert {"category", "question_id"} <= set(ds["mt_bench"]["columns"])
    assert ds["bad"]["rows"] == 2 and ds["bad"]["quarantined"] == 2

    p = _cli("rows", "--workspace", str(ws), "--where", "n_turns > 1", "--where", "language = en",
             "--limit", "1000", "--json")
    rows = [json.loads(x) for x in p.stdout.splitlines()]
    assert rows and all(r["n_turns"] > 1 and r["language"] == "en" for r in rows)
    assert {"id", "dataset", "file", "line", "hash", "instruction", "response", "n_turns", "language"} <= set(rows[0])
    store = Store(ws)
    try:
        expect = store.count(Filter((Cond("n_turns", ">", 1), Cond("language", "=", "en"))))
    finally:
        store.close()
    assert len(rows) == expect and expect <= 80  # only MT-Bench has two-turn questions

    p = _cli("export", "--workspace", str(ws), "--dataset", "mt_bench", "--out", "x.jsonl", "--as", "alpaca",
             "--json")
    man = json.loads(p.stdout)
    path = ws / "exports" / "x.jsonl"
    assert Path(man["path"]) == path.resolve() and man["sha256"] == _sha256(path)
    # Vicuna-bench's 80 single questions convert; MT-Bench's 80 two-question rows (no answers between) cannot
    assert man["rows"] == 80 and man["skipped"] == 80 and _n_records(path) == 80
    assert all(x["reason"] == "turns do not alternate user/assistant" for x in man["skipped_rows"])
    assert Path(man["manifest"]).is_file()


@pytest.fixture(scope="module")
def cli_ws(tmp_path_factory):
    _require_shared()
    ws = tmp_path_factory.mktemp("cli") / "ws"
    store = Store(ws)
    import_paths(store, [str(SHARED / "mt_bench" / "vicuna_bench_question.jsonl")])
    store.close()  # the CLI opens the workspace itself
    return ws


@pytest.mark.parametrize("args", [
    ("rows", "--where", "n_turns >"),  # bad --where (no value)
    ("rows", "--where", "n_turns > lots"),  # not a number
    ("rows", "--where", "no_such_column = 1"),  # unknown column
    ("export", "--out", "x.jsonl", "--as", "yaml"),  # bad --as
    ("export", "--out", "../x.jsonl"),  # export outside the workspace
    ("info", "MISSING"),  # missing workspace
])
def test_cli_user_mistakes(cli_ws, args):
    ws = cli_ws
    if args[-1] == "MISSING":
        args, ws = args[:-1], cli_ws.parent / "does-not-exist"
    p = _cli(*args, "--workspace", str(ws), ok=False)
    assert p.returncode != 0, (p.stdout, p.stderr)
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), p.stderr
    assert not (cli_ws.parent / "x.jsonl").exists() and not (ws / "exports" / "x.jsonl").exists()
    assert not (cli_ws.parent / "does-not-exist").exists()


# ------------------------------------------------------------------ fixes behind the round trips

def test_parquet_writer_keeps_late_keys_and_mixed_types(tmp_path):
    """One schema over all records: a key first seen after the first 5,000 records is kept (it used to be
    dropped), and a column that is an object in some rows and a list in others is written as JSON text."""
    import pyarrow.parquet as pq

    from core.export import _write_parquet
    recs = [{"instruction": f"q{i}", "output": "a"} for i in range(5500)]
    recs += [{"instruction": "late", "output": "a", "history": [["u", "v"]], "mixed": {"k": 1}, "empty": {}},
             {"instruction": "late2", "output": "a", "mixed": [1, 2], "empty": {}}]
    out = tmp_path / "x.parquet"
    assert _write_parquet(str(out), iter(recs), "alpaca") == len(recs)
    rows = pq.read_table(out).to_pylist()
    assert len(rows) == len(recs) and rows[0]["history"] is None
    assert rows[5500]["history"] == [["u", "v"]]
    assert json.loads(rows[5500]["mixed"]) == {"k": 1} and json.loads(rows[5501]["mixed"]) == [1, 2]
    assert rows[5500]["empty"] == "{}"


def test_tool_calls_are_canonical_across_formats():
    """The same call gives the same turn whether it comes as OpenAI tool_calls (arguments as JSON text) or a
    ShareGPT function_call value (arguments as JSON text or as an object); text said with a call is kept."""
    from core.formats import normalise
    oa = normalise({"messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{\"city\": \"Oslo\"}"}}]}]},
        "messages")[0].turns
    sg_text = normalise({"conversations": [
        {"from": "human", "value": "Weather?"}, {"from": "gpt", "value": "Checking."},
        {"from": "function_call", "value": "{\"name\": \"w\", \"arguments\": \"{\\\"city\\\": \\\"Oslo\\\"}\"}"}]},
        "sharegpt")[0].turns
    sg_obj = normalise({"conversations": [
        {"from": "human", "value": "Weather?"}, {"from": "gpt", "value": "Checking."},
        {"from": "function_call", "value": "{\"name\": \"w\", \"arguments\": {\"city\": \"Oslo\"}}"}]},
        "sharegpt")[0].turns
    assert oa == sg_text == sg_obj == [("user", "Weather?"), ("assistant", "Checking."),
                                       ("function_call", '{"name":"w","arguments":{"city":"Oslo"}}')]


def test_preference_and_sft_records_share_a_file():
    """Preference is a flag on the Alpaca / ShareGPT / messages layouts: a file detected as one holds both."""
    from core.formats import RowError, normalise
    c = normalise({"instruction": "q", "input": "", "chosen": "good", "rejected": "bad"}, "alpaca")[0]
    assert c.turns == [("user", "q"), ("assistant", "good")] and c.rejected == [("assistant", "bad")]
    c = normalise({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
                   "chosen": None, "rejected": None}, "preference")[0]  # Parquet: absent keys are null
    assert c.turns == [("user", "q"), ("assistant", "a")] and c.rejected is None
    # HH transcripts: an empty reply is an empty turn, and pairs must share their first turn
    with pytest.raises(RowError) as e:
        normalise({"chosen": "\n\nHuman: hi\n\nAssistant: ", "rejected": "\n\nHuman: hi\n\nAssistant: no"},
                  "preference")
    assert (e.value.field, e.value.reason) == ("chosen[1]", "turn content is empty (Assistant turn 2 of the transcript)")
    with pytest.raises(RowError):
        normalise({"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: z\n\nAssistant: c"},
                  "preference")


def test_sharegpt_system_field_and_system_turn_both_kept():
    from core.export import to_messages, to_sharegpt
    from core.formats import normalise
    c = normalise({"system": "A", "conversations": [{"from": "system", "value": "B"}, {"from": "human", "value": "q"},
                                                     {"from": "gpt", "value": "a"}]}, "sharegpt")[0]
    assert c.system == "A" and c.turns == [("system", "B"), ("user", "q"), ("assistant", "a")]
    row = {"system": c.system, "turns": [{"role": r, "content": t} for r, t in c.turns], "rejected": None}
    assert normalise(to_sharegpt(row), "sharegpt")[0] == c
    assert normalise(to_messages(row), "messages")[0] == c
