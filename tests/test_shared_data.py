"""Every folder of ../shared/data imports: per-file row counts, detected formats, normalisation details,
provenance (true 1-based lines, verbatim raw text).

The shared data lives beside the clone (``../shared/data``) and is never copied into the repository.
Without it these tests FAIL (set SIFT_ALLOW_NO_SHARED=1 to skip them instead).
Expected numbers are hard-coded from each folder's SOURCE.md; differences are explained by quarantine
entries asserted below.
"""
from __future__ import annotations

import bisect
import gzip
import itertools
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.shared import require_shared

from core.filters import Cond, Filter
from core.importer import import_paths
from core.readers import list_files
from core.store import Store

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# folder -> {file name: (rows in SOURCE.md, detected format)}; every number is the "rows:" line of SOURCE.md
EXPECTED = {
    "alpaca_52k": {"alpaca_data_reconstructed.json": (52002, "alpaca")},
    "alpaca_chinese": {
        "zh-data-part-00.json": (10021, "alpaca"),
        # bilingual parts: en_instruction/en_input/en_output (+ zh_* kept as extra columns)
        **{f"alpaca_chinese_part_{i}.json": (1000, "alpaca") for i in range(5)},
    },
    "alpaca_eval": {"alpaca_eval_outputs_example.json": (805, "alpaca")},
    "belle_eval_zh": {
        "eval_set.json": (1000, "prompt_completion"),  # JSON Lines despite .json: question / std_answer
        "eval_prompt.json": (11, "prompt_completion"),  # scoring-prompt templates: class / prompt
    },
    "code_alpaca_2k": {"code_alpaca_2k.json": (2017, "alpaca")},
    "gpteacher": {
        "roleplay-simple-deduped-roleplay-instruct.json": (1923, "alpaca"),
        "codegen-instruct.json": (4535, "alpaca"),
    },
    "hh_rlhf_harmless": {"harmless-base_test.jsonl.gz": (2312, "preference")},
    "ifeval": {"input_data.jsonl": (541, "prompt_completion")},
    "koala_test": {"koala_test_set.jsonl": (180, "prompt_completion")},
    "lima": {"lima.json": (1029, "alpaca")},  # the shared copy is LLaMA-Factory's Alpaca+history form
    "llamafactory_demos": {
        "alpaca_en_demo.json": (999, "alpaca"),
        "alpaca_zh_demo.json": (1000, "alpaca"),
        "glaive_toolcall_en_demo.json": (300, "sharegpt"),
        "dpo_en_demo.json": (300, "preference"),
        "kto_en_demo.json": (300, "messages"),
        "mllm_demo.json": (6, "messages"),
        "v1_sft_demo.jsonl": (500, "messages"),
        "v1_dpo_demo.jsonl": (10, "preference"),
        # dataset_info.json ("rows: 1") is LLaMA-Factory's registry, not data: never imported
    },
    "mt_bench": {
        "mt_bench_question.jsonl": (80, "prompt_completion"),
        "vicuna_bench_question.jsonl": (80, "prompt_completion"),
    },
    "oasst1_zh": {"oaast_sft_zh.json": (689, "alpaca"), "oaast_rm_zh.json": (775, "preference")},
    # 100 trees each; rows = one per root-to-leaf path, counted from the raw JSON in test_oasst_paths
    "oasst_en_sample": {"en_100_tree.jsonl": (100, "oasst"), "en_100_message.jsonl": (100, "oasst")},
    "self_instruct": {"seed_tasks.jsonl": (175, "alpaca"), "user_oriented_instructions.jsonl": (252, "alpaca")},
    "sharegpt_subset": {
        "sharegpt_zh_1K_format.jsonl": (1000, "sharegpt"),
        "ShareGPT_V3_filtered_1000.json": (1000, "sharegpt"),
    },
}

# the only records of the shared data that are quarantined: (file, 1-based line, field, reason)
QUARANTINE = {
    "sharegpt_subset": [
        # the third turn of the conversation on line 59 is an empty string
        ("sharegpt_zh_1K_format.jsonl", 59, "conversations[2].value", "turn content is empty"),
    ],
    "hh_rlhf_harmless": [
        # transcripts whose chosen dialogue ends in "\n\nAssistant: " with no reply
        ("harmless-base_test.jsonl.gz", 87, "chosen[3]", "turn content is empty (Assistant turn 4 of the transcript)"),
        ("harmless-base_test.jsonl.gz", 517, "chosen[1]", "turn content is empty (Assistant turn 2 of the transcript)"),
        ("harmless-base_test.jsonl.gz", 926, "chosen[1]", "turn content is empty (Assistant turn 2 of the transcript)"),
        ("harmless-base_test.jsonl.gz", 1104, "chosen[1]",
         "turn content is empty (Assistant turn 2 of the transcript)"),
    ],
}
OASST_FILES = ("en_100_tree.jsonl", "en_100_message.jsonl")


def _require_shared():
    require_shared()


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory):
    """folder -> (Store, ImportResult), imported once per module, one workspace per folder."""
    cache: dict = {}

    def get(folder: str):
        _require_shared()
        if folder not in cache:
            store = Store(tmp_path_factory.mktemp(folder))
            cache[folder] = (store, import_paths(store, [str(SHARED / folder)], name=folder))
        return cache[folder]

    yield get
    for store, _ in cache.values():
        store.close()


def _rows(store: Store, columns=None, flt=None) -> list[dict]:
    return [r for batch in store.iter_rows(flt, batch=100_000, columns=columns) for r in batch]


def _by_file(rows) -> dict:
    out: dict = {}
    for r in rows:
        out.setdefault(Path(r["file"]).name, []).append(r)
    return out


def _text(path: Path) -> str:
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    return data.decode("utf-8")


def _source_records(path: Path) -> list:
    """The records of a shared file, read independently of core.readers."""
    text = _text(path)
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _leaves(root: dict) -> list:
    """Message ids of the leaves of an OASST tree (walking `replies`)."""
    out, stack = [], [root]
    while stack:
        m = stack.pop()
        if m.get("replies"):
            stack.extend(m["replies"])
        else:
            out.append(m["message_id"])
    return out


# ------------------------------------------------------------------ the folder set itself

def test_shared_folder_present_and_complete():
    _require_shared()
    folders = sorted(p.name for p in SHARED.iterdir() if p.is_dir())
    assert folders == sorted(EXPECTED), "a shared folder was added or removed: update EXPECTED from its SOURCE.md"
    for folder, files in EXPECTED.items():
        listed = sorted(p.name for p in list_files(SHARED / folder))
        assert listed == sorted(files), folder


def test_dataset_info_json_is_not_data():
    _require_shared()
    names = [p.name for p in list_files(SHARED / "llamafactory_demos")]
    assert "dataset_info.json" not in names
    assert (SHARED / "llamafactory_demos" / "dataset_info.json").is_file()  # it is there, just skipped


# ------------------------------------------------------------------ counts, formats, quarantine

@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_folder_imports_with_source_counts(workspaces, folder):
    store, res = workspaces(folder)
    files = {Path(f["path"]).name: f for f in store.files(folder)}
    assert sorted(files) == sorted(EXPECTED[folder]), "imported files differ from SOURCE.md"
    assert "dataset_info.json" not in files
    q = store.quarantine(folder)
    got_q = sorted(zip(q["file"].map(lambda p: Path(p).name), q["line"], q["field"], q["reason"]))
    assert got_q == sorted(QUARANTINE.get(folder, [])), "unexpected quarantine entries"
    assert res.quarantined == len(got_q)
    assert sorted((Path(e["file"]).name, e["line"], e["field"], e["reason"]) for e in res.errors) == got_q
    q_per_file = Counter(x[0] for x in got_q)
    for name, (n_source, fmt) in EXPECTED[folder].items():
        f = files[name]
        assert f["format"] == fmt, f"{name}: detected {f['format']}, expected {fmt}"
        assert f["quarantined"] == q_per_file[name], name
        if name in OASST_FILES:
            continue  # one row per root-to-leaf path: see test_oasst_paths
        # one row per record; every record missing from the rows is a quarantine entry asserted above
        assert f["rows"] + f["quarantined"] == n_source, name
    assert res.rows == sum(f["rows"] for f in files.values())
    assert store.count(None, folder) == res.rows


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_provenance_lines_and_raw_are_exact(workspaces, folder):
    """line = the true 1-based line where the record starts (for a JSON array: the line of its '{');
    raw = the exact original text of the record; rows are in file order."""
    store, _ = workspaces(folder)
    for name, rows in _by_file(_rows(store, ["id", "file", "line", "raw"])).items():
        path = SHARED / folder / name
        text = _text(path)
        if not text.lstrip().startswith("["):  # JSON Lines (also .json files holding JSON Lines)
            lines = text.split("\n")
            for r in rows:
                assert r["raw"] == lines[r["line"] - 1].rstrip("\r"), (name, r["line"])
            assert [r["line"] for r in rows] == sorted(r["line"] for r in rows)
            continue
        starts = [0] + [m.end() for m in re.finditer("\n", text)]
        records = json.loads(text)
        cursor, i = text.index("[") + 1, 0
        for r in rows:
            pos = re.compile(r"[\s,]*").match(text, cursor).end()  # the next element of the array
            assert text.startswith(r["raw"], pos), (name, r["line"])
            assert bisect.bisect_right(starts, pos) == r["line"], (name, r["line"])
            if pos > 0 and text.rfind("\n", 0, pos) > cursor - len(r["raw"]) - 1:  # first element on its line
                assert text[starts[r["line"] - 1]:pos].strip(" \t[,") == "", (name, r["line"])
            assert json.loads(r["raw"]) == records[i]
            cursor, i = pos + len(r["raw"]), i + 1
        assert i == len(records)


def test_pretty_printed_lines_spot_check(workspaces):
    """Hand-checkable examples: in lima.json (2-space indented array) record k starts at a known line."""
    store, _ = workspaces("lima")
    rows = _rows(store, ["id", "line", "raw", "instruction"])
    lines = (SHARED / "lima" / "lima.json").read_text("utf-8").split("\n")
    assert rows[0]["line"] == 2 and lines[1] == "  {"
    for r in (rows[0], rows[1], rows[500], rows[-1]):
        assert lines[r["line"] - 1] == "  {"
        assert lines[r["line"]].startswith('    "instruction": ')
        rec = json.loads(r["raw"])
        assert lines[r["line"]] == '    "instruction": ' + json.dumps(rec["instruction"], ensure_ascii=False) + ","
        assert r["raw"].startswith("{\n" + lines[r["line"]] + "\n")


# ------------------------------------------------------------------ normalisation on real rows

def test_lima_history_gives_ordered_multi_turn(workspaces):
    store, _ = workspaces("lima")
    rows = _rows(store, ["id", "turns", "n_turns", "raw"])
    records = _source_records(SHARED / "lima" / "lima.json")
    multi = [(r, rec) for r, rec in zip(rows, records) if rec["history"]]
    assert len(multi) == 29  # SOURCE.md: 29 multi-turn examples
    assert sum(1 for r in rows if r["n_turns"] > 1) == 29
    for r, rec in multi:
        expect = []
        for u, a in rec["history"]:
            expect += [("user", u), ("assistant", a)]
        user = rec["instruction"] + (f"\n\n{rec['input']}" if rec["input"].strip() else "")
        expect += [("user", user), ("assistant", rec["output"])]
        assert [(t["role"], t["content"]) for t in r["turns"]] == expect
        assert r["n_turns"] == len(rec["history"]) + 1


def test_glaive_tool_calls(workspaces):
    store, _ = workspaces("llamafactory_demos")
    rows = [r for r in _rows(store, ["id", "file", "turns", "roles", "extra"])
            if r["file"].endswith("glaive_toolcall_en_demo.json")]
    records = _source_records(SHARED / "llamafactory_demos" / "glaive_toolcall_en_demo.json")
    role_map = {"human": "user", "gpt": "assistant", "function_call": "function_call", "observation": "tool"}
    n_calls = 0
    for r, rec in zip(rows, records, strict=True):
        src = rec["conversations"]
        assert [t["role"] for t in r["turns"]] == [role_map[t["from"]] for t in src]
        for t, s in zip(r["turns"], src):
            if s["from"] == "function_call":  # canonical compact JSON of the same call
                n_calls += 1
                assert json.loads(t["content"]) == json.loads(s["value"])
            else:
                assert t["content"] == s["value"]
        assert json.loads(r["extra"])["tools"] == rec["tools"]  # tool schema kept (a JSON string)
        assert ("function_call" in r["roles"].split(",")) == any(t["from"] == "function_call" for t in src)
    assert n_calls == 211
    assert sum("tool" in r["roles"].split(",") for r in rows) > 100


def _consume(text: str, turns: list) -> int:
    """How much of an HH transcript the turns re-create ("\n\nHuman: ..." / "\n\nAssistant: ..."), or -1."""
    pos = 0
    for role, content in turns:
        tag = "\n\nHuman:" if role == "user" else "\n\nAssistant:"
        if not text.startswith(tag, pos):
            return -1
        pos += len(tag)
        if text.startswith(" " + content, pos):
            pos += 1 + len(content)
        elif text.startswith(content, pos):
            pos += len(content)
        else:
            return -1
    return pos


def test_hh_rlhf_prompt_chosen_rejected(workspaces):
    store, _ = workspaces("hh_rlhf_harmless")
    rows = _rows(store, ["id", "line", "turns", "rejected", "roles"])
    src = _text(SHARED / "hh_rlhf_harmless" / "harmless-base_test.jsonl.gz").split("\n")
    assert len(rows) == 2308
    for r in rows:
        rec = json.loads(src[r["line"] - 1])
        turns = [(t["role"], t["content"]) for t in r["turns"]]
        rej = [(t["role"], t["content"]) for t in r["rejected"]]
        assert turns[0][0] == "user" and turns[-1][0] == "assistant" and rej and rej[0][0] == "assistant"
        # prompt turns + chosen reply re-create the chosen transcript exactly ...
        assert _consume(rec["chosen"], turns) == len(rec["chosen"]), r["line"]
        # ... and a prefix of those prompt turns + the rejected reply re-create the rejected transcript
        assert any(_consume(rec["rejected"], turns[:p] + rej) == len(rec["rejected"])
                   for p in range(len(turns) - 1, 0, -1)), r["line"]
    first = rows[0]
    assert first["line"] == 1
    assert [t["role"] for t in first["turns"]] == ["user", "assistant", "user", "assistant", "user", "assistant"]
    assert first["turns"][0]["content"] == "what are some pranks with a pen i can do?"
    assert len(first["rejected"]) == 1
    assert first["rejected"][0]["content"] != first["turns"][-1]["content"]


@pytest.mark.parametrize("name", OASST_FILES)
def test_oasst_paths(workspaces, name):
    """One conversation per root-to-leaf path; the leaf count is computed here from the raw JSON."""
    store, _ = workspaces("oasst_en_sample")
    rows = [r for r in _rows(store, ["id", "file", "line", "turns", "extra", "raw"]) if r["file"].endswith(name)]
    records = _source_records(SHARED / "oasst_en_sample" / name)
    assert len(records) == 100
    roots = [rec.get("prompt", rec) for rec in records]
    leaves = [leaf for root in roots for leaf in _leaves(root)]
    assert len(rows) == len(leaves)
    assert sorted(json.loads(r["extra"])["leaf_message_id"] for r in rows) == sorted(leaves)
    texts = {}
    for root in roots:
        stack = [root]
        while stack:
            m = stack.pop()
            texts[m["message_id"]] = (m["role"], m["text"])
            stack.extend(m.get("replies") or [])
    for r in rows:
        ex = json.loads(r["extra"])
        roles = [t["role"] for t in r["turns"]]
        assert roles[0] == "user"
        assert all(a != b for a, b in itertools.pairwise(roles)), "turns must alternate"
        assert ex["path_message_ids"][-1] == ex["leaf_message_id"]
        assert [(t["role"], t["content"]) for t in r["turns"]] == [
            ({"prompter": "user", "assistant": "assistant"}[texts[m][0]], texts[m][1]) for m in ex["path_message_ids"]]
        assert ex["message_tree_id"] == json.loads(r["raw"]).get("message_tree_id", ex["path_message_ids"][0])


def test_extra_fields_kept_and_filterable(workspaces):
    store, _ = workspaces("mt_bench")
    cats = dict(store.facet("category", None, "mt_bench", limit=50))
    assert cats["writing"] == 20 and cats["coding"] == 17 and cats["math"] == 13  # 10+10, 10+7, 10+3
    assert store.count(Filter((Cond("category", "=", "fermi"),)), "mt_bench") == 10
    row = store.row(_rows(store, ["id"])[0]["id"])
    assert row["extra"]["category"] == "writing" and row["extra"]["question_id"] == 81
    assert row["n_turns"] == 2 and [t["role"] for t in row["turns"]] == ["user", "user"]

    store, _ = workspaces("alpaca_eval")  # "dataset" collides with the core column: reach it as extra.dataset
    counts = dict(store.facet("extra.dataset", None, "alpaca_eval", limit=10))
    assert counts == {"selfinstruct": 252, "oasst": 188, "koala": 156, "helpful_base": 129, "vicuna": 80}

    store, _ = workspaces("ifeval")
    records = _source_records(SHARED / "ifeval" / "input_data.jsonl")
    rows = _rows(store, ["id", "extra", "instruction"])
    for r, rec in zip(rows, records, strict=True):
        ex = json.loads(r["extra"])
        assert ex["instruction_id_list"] == rec["instruction_id_list"]
        assert ex["kwargs"] == rec["kwargs"] and ex["key"] == rec["key"]
        assert r["instruction"] == rec["prompt"]
    assert store.count(Filter((Cond("instruction_id_list", "contains", "punctuation:no_comma"),)), "ifeval") > 0

    store, _ = workspaces("belle_eval_zh")
    assert dict(store.facet("class", None, "belle_eval_zh", limit=20))["closed\u00a0qa"] == 52


def test_other_layouts_normalised(workspaces):
    store, _ = workspaces("llamafactory_demos")
    by_file = _by_file(_rows(store, ["id", "file", "system", "turns", "rejected", "extra"]))
    # v1 messages: typed content parts joined; v1 dpo: system turn -> system, shared prefix -> prompt
    v1 = _source_records(SHARED / "llamafactory_demos" / "v1_sft_demo.jsonl")
    r = by_file["v1_sft_demo.jsonl"][0]
    assert r["turns"][0] == {"role": "user", "content": v1[0]["messages"][0]["content"][0]["value"]}
    dpo1 = by_file["v1_dpo_demo.jsonl"][0]
    assert dpo1["system"].startswith("You are an AI assistant.") and len(dpo1["rejected"]) == 1
    # kto: messages + boolean label kept
    assert all(json.loads(r["extra"])["label"] in (True, False) for r in by_file["kto_en_demo.json"])
    # dpo_en_demo: conversations + chosen/rejected objects
    src = _source_records(SHARED / "llamafactory_demos" / "dpo_en_demo.json")
    for r, rec in zip(by_file["dpo_en_demo.json"], src, strict=True):
        assert r["turns"][-1]["content"] == rec["chosen"]["value"]
        assert r["rejected"] == [{"role": "assistant", "content": rec["rejected"]["value"]}]
    # oaast_rm_zh: Alpaca ranking output [chosen, rejected, ...] with history as prompt turns
    store, _ = workspaces("oasst1_zh")
    rm = _by_file(_rows(store, ["id", "file", "turns", "rejected"]))["oaast_rm_zh.json"]
    src = _source_records(SHARED / "oasst1_zh" / "oaast_rm_zh.json")
    for r, rec in zip(rm, src, strict=True):
        assert r["turns"][-1] == {"role": "assistant", "content": rec["output"][0]}
        assert r["rejected"] == [{"role": "assistant", "content": rec["output"][1]}]
        assert len(r["turns"]) == 2 * len(rec["history"]) + 2
    # alpaca_chinese bilingual parts: en_* fields make the conversation, zh_* and metadata are extra
    store, _ = workspaces("alpaca_chinese")
    row = _rows(store, ["id", "file", "turns", "extra"])
    part0 = next(r for r in row if r["file"].endswith("alpaca_chinese_part_0.json"))
    assert part0["turns"][0]["content"] == "Give three tips for staying healthy."
    assert json.loads(part0["extra"])["metadata"] == {"translated": True, "score": 5}
    # self-instruct: the first instance is the example
    store, _ = workspaces("self_instruct")
    seed = _rows(store, ["id", "turns", "extra"])[0]
    assert seed["turns"][1]["content"].startswith("Yes, you can have 1 oatmeal banana protein shake")
    assert json.loads(seed["extra"])["is_classification"] is False


def test_alpaca_52k_scale(workspaces):
    store, res = workspaces("alpaca_52k")
    assert res.rows == 52002 and res.quarantined == 0
    assert store.count(Filter((Cond("n_turns", "=", 1),)), "alpaca_52k") == 52002
    # about 60% have an empty input (SOURCE.md): those rows' instruction is the instruction field alone
    st = store.stats(None, "alpaca_52k")
    assert st["rows"] == 52002 and st["tokens"] > 0
