"""Filter -> SQL: every operator on core and extra columns against a small workspace with known answers and a
pure-Python evaluation; parse_where; describe(); hostile values and column names stay data; a property test
(SIFT_FUZZ_EXAMPLES, default 2,000) that store.count either equals the Python reference or raises FilterError.
"""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.filters import OPS, Cond, Filter, FilterError, parse_where
from core.importer import import_paths
from core.rows import COLUMN_KINDS
from core.store import Store

FUZZ_EXAMPLES = int(os.environ.get("SIFT_FUZZ_EXAMPLES", "2000"))
HOSTILE_KEY = "'; DROP TABLE rows; --"

# ------------------------------------------------------------------ the workspace
ALPACA = [
    # 1
    {"instruction": "Hello world 100% sure", "output": "Yes_indeed", "category": "math", "score": 1, "label": True,
     "code": "7"},
    # 2
    {"instruction": 'It\'s a "quoted" back\\slash', "output": "ok", "category": "a b", "score": 2.5, "label": False,
     "code": "10"},
    # 3
    {"instruction": "Plain question", "output": "Plain answer", "category": HOSTILE_KEY, "score": 3, "code": "x"},
    # 4: no response
    {"instruction": "100 percent", "output": "", "category": "", "label": True},
    # 5
    {"instruction": "Ünïcödé “quotes” 中文 text", "output": "ÉCOLE", "category": "read_csv('/etc/passwd')",
     "score": -1, "label": False, HOSTILE_KEY: "v1"},
    # 6
    {"instruction": "nul\u0000inside and\nnewline", "output": "x", "score": 0.5},
    # 7: exact duplicate of 1
    {"instruction": "Hello world 100% sure", "output": "Yes_indeed", "category": "math", "score": 1, "label": True,
     "code": "7"},
]
SHAREGPT = [
    # 8: two user turns
    {"conversations": [{"from": "human", "value": "first question"}, {"from": "gpt", "value": "first answer"},
                       {"from": "human", "value": "second question"}, {"from": "gpt", "value": "second answer"}],
     "category": "chat", "score": 10.0},
    # 9: three user turns and a system prompt
    {"conversations": [{"from": "system", "value": "You are terse."},
                       {"from": "human", "value": "a?"}, {"from": "gpt", "value": "b"},
                       {"from": "human", "value": "c?"}, {"from": "gpt", "value": "d"},
                       {"from": "human", "value": "e?"}, {"from": "gpt", "value": "f"}],
     "category": "chat"},
    # 10: a question with no answer
    {"conversations": [{"from": "human", "value": "unanswered question"}]},
]
N_ROWS = len(ALPACA) + len(SHAREGPT)
EXTRA_KINDS = {"category": "text", "score": "float", "label": "bool", "code": "text", HOSTILE_KEY: "text"}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    d = tmp_path_factory.mktemp("filters")
    (d / "a.jsonl").write_text("\n".join(json.dumps(r) for r in ALPACA) + "\n", encoding="utf-8")
    (d / "b.jsonl").write_text("\n".join(json.dumps(r) for r in SHAREGPT) + "\n", encoding="utf-8")
    store = Store(d / "ws")
    res = import_paths(store, [str(d / "a.jsonl"), str(d / "b.jsonl")], name="mix")
    assert res.rows == N_ROWS and res.errors == []
    yield store, d
    store.close()


@pytest.fixture(scope="module")
def rows(ws):
    store, _ = ws
    cols = list(COLUMN_KINDS) + ["extra"]
    got = store._q("SELECT " + ", ".join(f'"{c}"' for c in cols) + " FROM rows ORDER BY id")
    out = []
    for r in got:
        d = dict(zip(cols, r))
        d["extra"] = json.loads(d["extra"]) if d["extra"] else {}
        out.append(d)
    return out


def count(store, *conds, **kw) -> int:
    return store.count(Filter(tuple(conds), **kw))


def ids(store, *conds) -> list[int]:
    return sorted(int(x) for x in store.rows(Filter(tuple(conds)), limit=1000, columns=["id"])["id"])


# ------------------------------------------------------------------ the Python reference

class RefError(Exception):
    """The reference says: this condition is a user error (FilterError expected)."""


_NUM = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def _num_text(t):
    """TRY_CAST(text AS DOUBLE) for the plain numbers used in this workspace."""
    return float(t) if isinstance(t, str) and _NUM.match(t) else None


def _json_text(v):
    """json_extract_string(extra, '/key') for a value of the extra object."""
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v, separators=(",", ":"))


def _bool_text(t):
    return {"true": True, "false": False}.get(t) if isinstance(t, str) else None


def _coerce(v, kind):
    if v is None:
        raise RefError("value required")
    if kind in ("int", "float"):
        if isinstance(v, bool):
            raise RefError("bool for a number")
        if isinstance(v, (int, float)):
            f = float(v)
        else:
            try:
                f = float(str(v).replace(",", "").strip())
            except ValueError:
                raise RefError("not a number") from None
        if math.isnan(f) or math.isinf(f):
            raise RefError("not finite")
        return f
    if kind == "bool":
        if isinstance(v, bool):
            return v
        s = str(v).strip().lower()
        if s in ("true", "yes", "1", "t", "y"):
            return True
        if s in ("false", "no", "0", "f", "n"):
            return False
        raise RefError("not a bool")
    return str(v)


def _as_text(x):
    """CAST(x AS VARCHAR) as DuckDB writes it."""
    if x is None:
        return None
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return repr(x)
    return str(x)


def _list_reference(rows: list, c: Cond, key: str) -> int:
    """Tag-list columns: has / has any / has all / is (not) empty."""
    tags = [list(r.get(key) or []) for r in rows]
    if c.op == "is null":
        return sum(1 for t in tags if not t)
    if c.op == "not null":
        return sum(1 for t in tags if t)
    if c.op not in ("has", "has any", "has all"):
        raise RefError("operator on a tag list")
    v = "" if c.value is None else c.value
    vals = v if isinstance(v, (list, tuple)) else [v] if c.op == "has" else str(v).split(",")
    vals = [str(x).strip() for x in vals if str(x).strip()]
    if not vals or (c.op == "has" and len(vals) != 1):
        raise RefError("no tag")
    test = {"has": lambda t: vals[0] in t, "has any": lambda t: any(x in t for x in vals),
            "has all": lambda t: all(x in t for x in vals)}[c.op]
    return sum(1 for t in tags if test(t))


def reference(rows: list, c: Cond, extra_kinds: dict) -> int:
    """How many rows match c, evaluated in Python; RefError when c is a user mistake."""
    if c.op not in OPS:
        raise RefError("operator")
    col = c.column
    if not isinstance(col, str):
        raise RefError("column")
    if col.startswith("extra.") and col[6:] in extra_kinds:
        is_extra, key, kind = True, col[6:], extra_kinds[col[6:]]
    elif col in COLUMN_KINDS:
        is_extra, key, kind = False, col, COLUMN_KINDS[col]
    elif col in extra_kinds:
        is_extra, key, kind = True, col, extra_kinds[col]
    else:
        raise RefError("unknown column")
    numeric_op = c.op in ("<", "<=", ">", ">=", "between")
    if c.op in ("has", "has any", "has all") and (is_extra or kind != "list"):
        raise RefError("tag-list operator on a single-valued column")
    if kind == "list":
        return _list_reference(rows, c, key)

    def value_of(r):
        if not is_extra:
            return r[key]
        t = _json_text(r["extra"].get(key))
        if kind == "bool":
            return _bool_text(t)
        if kind in ("int", "float") or numeric_op:
            return _num_text(t)
        return t

    if is_extra and kind not in ("int", "float", "bool") and numeric_op:
        kind = "float"
    if not is_extra and kind == "text" and numeric_op:
        raise RefError("text column with a numeric operator")
    vkind = "float" if kind == "int" else kind  # numbers compare as numbers
    if c.op == "is null":
        pred = (lambda x: x is None or x == "") if kind == "text" else (lambda x: x is None)
    elif c.op == "not null":
        pred = (lambda x: x is not None and x != "") if kind == "text" else (lambda x: x is not None)
    elif c.op == "in":
        vals = c.value if isinstance(c.value, (list, tuple)) else [s.strip() for s in str(c.value).split(",")]
        vals = [_coerce(v, vkind) for v in vals if v != ""]
        if not vals:
            raise RefError("empty in")
        pred = lambda x: x is not None and x in vals  # noqa: E731
    elif c.op == "between":
        v = c.value
        if isinstance(v, str):
            v = re.split(r"\s+and\s+|\s*,\s*", v.strip(), flags=re.IGNORECASE)
        if not isinstance(v, (list, tuple)) or len(v) != 2:
            raise RefError("between needs two")
        lo, hi = (_coerce(x, vkind if vkind != "text" else "float") for x in v)
        pred = lambda x: x is not None and lo <= x <= hi  # noqa: E731
    elif c.op == "contains":
        needle = _coerce(c.value, "text").lower()
        pred = lambda x: x is not None and needle in _as_text(x).lower()  # noqa: E731
    elif c.op == "regex":
        pat = _coerce(c.value, "text")
        try:
            rx = re.compile(pat)
        except re.error:
            raise RefError("bad regex") from None
        pred = lambda x: x is not None and rx.search(_as_text(x)) is not None  # noqa: E731
    else:
        v = _coerce(c.value, vkind)
        ops = {"=": lambda x: x is not None and x == v, "!=": lambda x: x is None or x != v,
               "<": lambda x: x is not None and x < v, "<=": lambda x: x is not None and x <= v,
               ">": lambda x: x is not None and x > v, ">=": lambda x: x is not None and x >= v}
        pred = ops[c.op]
    return sum(1 for r in rows if pred(value_of(r)))


def check(store, rows, c: Cond) -> int:
    """store.count == reference(c), or both refuse; returns the count."""
    try:
        want = reference(rows, c, store.extra_kinds())
    except RefError:
        with pytest.raises(FilterError):
            count(store, c)
        return -1
    got = count(store, c)
    assert got == want, (c, got, want)
    return got


# ------------------------------------------------------------------ the workspace as expected

def test_workspace_shape(ws, rows):
    store, _ = ws
    assert store.extra_kinds() == EXTRA_KINDS
    assert [r["n_turns"] for r in rows] == [1, 1, 1, 1, 1, 1, 1, 2, 3, 1]
    assert rows[5]["instruction"] == "nul\u0000inside and\nnewline"
    assert [r["is_duplicate"] for r in rows] == [False] * 6 + [True] + [False] * 3


# every operator on core and extra columns: (column, op, value, expected count)
KNOWN = [
    # core text
    ("instruction", "=", "Plain question", 1),
    ("instruction", "=", "plain question", 0),  # = is exact
    ("instruction", "!=", "Plain question", N_ROWS - 1),
    ("instruction", "in", ["Plain question", "100 percent", "nope"], 2),
    ("instruction", "in", "Plain question,100 percent", 2),
    ("instruction", "contains", "HELLO", 2),  # case-insensitive
    ("instruction", "contains", "%", 2),  # % is a literal
    ("instruction", "contains", "_", 0),  # _ is a literal
    ("response", "contains", "_", 2),
    ("response", "contains", "s_i", 2),
    ("response", "contains", "école", 1),  # lower() beyond ASCII
    ("instruction", "contains", "\\", 1),
    ("instruction", "contains", '"quoted"', 1),
    ("instruction", "contains", "it's", 1),
    ("instruction", "contains", "“quotes”", 1),
    ("instruction", "contains", "\u0000", 1),
    ("instruction", "contains", "\n", 1),
    ("instruction", "regex", "^Hello", 2),
    ("instruction", "regex", "[0-9]+ percent", 1),
    ("instruction", "regex", "question$", 3),  # rows 3, 8 and 10
    ("response", "is null", None, 2),  # empty text counts as empty
    ("response", "not null", None, N_ROWS - 2),
    ("system", "not null", None, 1),
    ("roles", "=", "assistant,system,user", 1),
    # core numbers
    ("n_turns", "=", 1, 8),
    ("n_turns", "=", "2", 1),
    ("n_turns", "!=", 1, 2),
    ("n_turns", "in", "2,3", 2),
    ("n_turns", "<", 2, 8),
    ("n_turns", "<=", 2, 9),
    ("n_turns", ">", 1, 2),
    ("n_turns", ">=", 3, 1),
    ("n_turns", "between", "2 and 3", 2),
    ("n_turns", "between", [1, 1], 8),
    ("n_messages", ">", 2, 2),
    ("id", "between", "1,3", 3),
    ("line", "=", 1, 2),
    ("dup_count", "=", 2, 2),
    ("n_turns", "is null", None, 0),
    ("n_tokens", "not null", None, N_ROWS),
    ("n_turns", "contains", "2", 1),
    ("n_turns", "regex", "^3$", 1),
    # core bool
    ("is_duplicate", "=", "true", 1),
    ("is_duplicate", "!=", True, N_ROWS - 1),
    ("is_duplicate", "in", "yes,no", N_ROWS),
    # extra text
    ("category", "=", "math", 2),
    ("category", "!=", "math", N_ROWS - 2),  # rows without a category count as different
    ("category", "in", ["a b", "chat"], 3),
    ("category", "contains", "DROP", 1),
    ("category", "contains", "%", 0),
    ("category", "regex", "^read_csv\\(", 1),
    ("category", "is null", None, 3),  # rows 4 (""), 6 and 10 (missing)
    ("category", "not null", None, N_ROWS - 3),
    ("extra.category", "=", "math", 2),
    ("category", "=", HOSTILE_KEY, 1),
    ("category", "=", "read_csv('/etc/passwd')", 1),
    # extra numbers (ints and floats mixed -> float)
    ("score", "=", 1, 2),
    ("score", "=", "2.5", 1),
    ("score", "!=", 1, N_ROWS - 2),
    ("score", "in", "1,10", 3),
    ("score", "<", 1, 2),
    ("score", "<=", 1, 4),
    ("score", ">", 2, 3),
    ("score", ">=", 3, 2),
    ("score", "between", "0.5 and 2.5", 4),
    ("score", "is null", None, 3),
    ("score", "not null", None, N_ROWS - 3),
    ("score", "contains", "2.5", 1),
    # extra booleans
    ("label", "=", "true", 3),
    ("label", "=", False, 2),
    ("label", "!=", True, N_ROWS - 3),
    ("label", "in", "true,false", 5),
    ("label", "is null", None, 5),
    ("label", "not null", None, 5),
    ("label", "<", True, 2),
    ("label", "contains", "tru", 3),
    # extra text holding numbers: numeric operators compare the numbers
    ("code", "=", "7", 2),
    ("code", ">", 8, 1),
    ("code", "<", "9", 2),
    ("code", "between", "5,20", 3),
    # an extra key that is itself hostile text reaches SQL only as a JSON-pointer parameter
    (HOSTILE_KEY, "=", "v1", 1),
    (HOSTILE_KEY, "not null", None, 1),
    ("extra." + HOSTILE_KEY, "contains", "V", 1),
]


@pytest.mark.parametrize("column,op,value,expected", KNOWN, ids=[f"{c} {o} {v!r}" for c, o, v, _ in KNOWN])
def test_operator_known_answer(ws, rows, column, op, value, expected):
    store, _ = ws
    assert check(store, rows, Cond(column, op, value)) == expected


def test_every_operator_is_covered_on_core_and_extra():
    core = {op for c, op, _, _ in KNOWN if c in COLUMN_KINDS}
    extra = {op for c, op, _, _ in KNOWN if c not in COLUMN_KINDS}
    list_only = {"has", "has any", "has all"}  # tag-list operators: known answers in test_tags_store.py
    assert core == set(OPS) - list_only and extra == set(OPS) - list_only


def test_conditions_are_anded_and_search_combines(ws):
    store, _ = ws
    assert count(store, Cond("n_turns", "=", 1), Cond("category", "=", "math")) == 2
    assert count(store, Cond("n_turns", "=", 1), Cond("score", ">", 2)) == 2
    assert ids(store, Cond("category", "=", "chat"), Cond("n_turns", ">", 2)) == [9]
    assert count(store, Cond("category", "=", "math"), search="HELLO") == 2
    assert count(store, search="100%") == 2
    assert count(store, search="_") == 2  # searches responses too; '_' literal
    assert store.count(Filter(ids=(1, 2, 99))) == 2


def test_operators_on_text_columns_refuse_numeric_ops(ws):
    store, _ = ws
    for op in ("<", "<=", ">", ">=", "between"):
        with pytest.raises(FilterError, match="is text"):
            count(store, Cond("language", op, "1" if op != "between" else "1 and 2"))


@pytest.mark.parametrize("bad", [
    Cond("n_turns", ">", "many"), Cond("n_turns", "between", "1"), Cond("n_turns", "between", [1, 2, 3]),
    Cond("n_turns", "=", None), Cond("n_turns", "in", ""), Cond("is_duplicate", "=", "perhaps"),
    Cond("n_turns", ">", float("nan")), Cond("n_turns", "<", "inf"), Cond("label", "=", "maybe"),
    Cond("n_turns", "like", "1"), Cond("n_turns", "= 1; --", "1"), Cond(None, "=", "x"), Cond(3, "=", "x"),
])
def test_user_mistakes_are_filter_errors(ws, bad):
    store, _ = ws
    with pytest.raises(FilterError):
        count(store, bad)


def test_huge_numbers_do_not_crash(ws, rows):
    store, _ = ws
    for v in (10 ** 40, -(10 ** 40), "1e300", 2 ** 63, [10 ** 30, 1]):
        for op in ("=", "<", ">", "in"):
            check(store, rows, Cond("n_turns", op, v))
            check(store, rows, Cond("score", op, v))


BAD_REGEXES = ("(", "[a-", "a{2,1}", "(?=look)", "\\")


def test_invalid_regex_is_a_filter_error_without_sql(ws):
    store, _ = ws
    for pat in BAD_REGEXES:
        with pytest.raises(FilterError) as e:
            count(store, Cond("instruction", "regex", pat))
        msg = str(e.value)
        assert "SELECT" not in msg and "regexp_matches" not in msg and "extra" not in msg, msg


def test_invalid_regex_message_says_regular_expression(ws):
    store, _ = ws
    for pat in BAD_REGEXES:
        with pytest.raises(FilterError, match="regular expression"):
            count(store, Cond("instruction", "regex", pat))


def test_extra_kind_int_and_float_across_files_is_float(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"instruction": "q", "output": "a", "score": 1.5}) + "\n")
    (tmp_path / "b.jsonl").write_text(json.dumps({"instruction": "r", "output": "b", "score": 10}) + "\n")
    store = Store(tmp_path / "ws")
    try:
        import_paths(store, [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")], name="x")
        assert store.extra_kinds()["score"] == "float"
        assert store.count(Filter((Cond("score", "=", 10),))) == 1
    finally:
        store.close()


# ------------------------------------------------------------------ parse_where and describe

@pytest.mark.parametrize("text,cond", [
    ("n_turns > 1", Cond("n_turns", ">", "1")),
    ("language = en", Cond("language", "=", "en")),
    ("language in en,zh", Cond("language", "in", ["en", "zh"])),
    ("language IN en, zh", Cond("language", "in", ["en", "zh"])),
    ("n_tokens between 10 and 100", Cond("n_tokens", "between", ["10", "100"])),
    ("n_tokens between 10,100", Cond("n_tokens", "between", ["10", "100"])),
    ("response is null", Cond("response", "is null")),
    ("response is not null", Cond("response", "not null")),
    ("response not null", Cond("response", "not null")),
    ('category = "a b"', Cond("category", "=", "a b")),
    ('"my col" = 3', Cond("my col", "=", "3")),
    ("x>=3", Cond("x", ">=", "3")),
    ("x<=3", Cond("x", "<=", "3")),
    ("x!=3", Cond("x", "!=", "3")),
    ("x<>3", Cond("x", "!=", "3")),
    ("x == 3", Cond("x", "=", "3")),
    ("language=en", Cond("language", "=", "en")),
    ("instruction contains 100%", Cond("instruction", "contains", "100%")),
    ("instruction regex ^a.*b$", Cond("instruction", "regex", "^a.*b$")),
    ("instruction contains a = b", Cond("instruction", "contains", "a = b")),
    ("  score  <  2.5  ", Cond("score", "<", "2.5")),
])
def test_parse_where(text, cond):
    assert parse_where(text) == cond


@pytest.mark.parametrize("text", ["", "language", "n_turns >", "language = ", "response is null x",
                                  "language not in a,b", "n_tokens between 1", "= en"])
def test_parse_where_refuses(text):
    with pytest.raises(FilterError):
        parse_where(text)


def test_parsed_filters_run(ws):
    store, _ = ws
    f = Filter((parse_where("n_turns > 1"), parse_where('category = "chat"')))
    assert store.count(f) == 2
    assert store.count(Filter((parse_where("score between 0.5 and 2.5"),))) == 4
    assert store.count(Filter((parse_where("category in math,a b"),))) == 3
    assert store.count(Filter((parse_where("response is null"),))) == 2


def test_describe():
    f = Filter((parse_where("language = en"), parse_where("n_turns > 1")))
    assert f.describe() == "language is en and n_turns > 1"
    assert Filter().describe() == "all rows"
    assert Filter((Cond("language", "in", ["en", "zh"]),)).describe() == "language is one of en, zh"
    assert Filter((Cond("n_tokens", "between", ["10", "100"]),)).describe() == "n_tokens is between 10 and 100"
    assert Filter((Cond("response", "is null"),)).describe() == "response is empty"
    assert Filter((Cond("response", "not null"),)).describe() == "response is not empty"
    assert Filter((Cond("instruction", "contains", "a%b"),)).describe() == 'instruction contains "a%b"'
    assert Filter((Cond("language", "!=", "en"),), search="hi").describe() == 'language is not en and text contains "hi"'
    f = Filter.from_dict(json.loads(json.dumps(f.to_dict())))
    assert f.describe() == "language is en and n_turns > 1"


# ------------------------------------------------------------------ hostile input stays data

def _hostile(tmp: Path) -> list[str]:
    return ["'", '"', "%", "_", "\\", "\\'", "''", "' OR '1'='1", '" OR "1"="1', "%' OR 1=1 --",
            "'; DROP TABLE rows; --", "\"; DROP TABLE rows; --", "read_csv('/etc/passwd')",
            "SELECT * FROM read_csv('/etc/passwd')", "COPY rows TO '/tmp/x'", f"COPY rows TO '{tmp}/x.csv'",
            "ATTACH '/tmp/x.db'", f"ATTACH '{tmp}/x.db' AS y", "INSTALL httpfs", "LOAD httpfs",
            "pragma version", "PRAGMA database_list", "SET enable_external_access=true",
            "‘smart’ “quotes”", "nul\u0000byte", "new\nline", "tab\there", "$1", "?", "?::VARCHAR", "/* c */",
            "); DELETE FROM rows; --", "1); DROP TABLE files; --", "extra", "extra.", "/", "~0", "~1",
            "\ud7ff\ue000", "🙂", "a" * 2000]


def test_hostile_values_and_column_names(ws, rows, tmp_path):
    store, d = ws
    before_rows = store._q("SELECT id, hash FROM rows ORDER BY id")
    before_tables = store._q("SELECT table_name FROM information_schema.tables ORDER BY 1")
    before_files = sorted(p.name for p in (d / "ws").rglob("*"))
    tmp_existed = {p: Path(p).exists() for p in ("/tmp/x", "/tmp/x.db")}
    hostile = _hostile(tmp_path)
    for v in hostile:
        # as values: every operator, core and extra columns -> a count equal to the reference, or FilterError
        for col in ("instruction", "category", "score", HOSTILE_KEY):  # core text, extra text / number / hostile key
            for op in OPS:
                value = v if op not in ("is null", "not null") else None
                if op == "regex":
                    try:
                        re.compile(v)
                    except re.error:
                        with pytest.raises(FilterError):
                            count(store, Cond(col, op, value))
                        continue
                check(store, rows, Cond(col, op, value))
            check(store, rows, Cond(col, "in", [v, "math"]))
            check(store, rows, Cond(col, "between", [v, v]))
        assert count(store, Cond("instruction", "=", v)) == 0
        assert store.count(Filter(search=v)) == sum(
            1 for r in rows if v.lower() in r["instruction"].lower() or v.lower() in r["response"].lower())
        # as column names: refused unless a known extra key (and then only a JSON-pointer parameter)
        for col in (v, "extra." + v, f'"{v}"'):
            if col == HOSTILE_KEY or col == "extra." + HOSTILE_KEY:
                continue
            for op in ("=", "is null", "<", "contains"):
                with pytest.raises(FilterError) as e:
                    count(store, Cond(col, op, "1" if op != "is null" else None))
                assert "unknown column" in str(e.value) or "column name" in str(e.value)
            with pytest.raises(FilterError):
                store.facet(col)
        if v.lstrip("-") not in ("extra", "raw"):
            with pytest.raises(FilterError):
                store.rows(Filter(), order=v)
    # nothing changed, nothing was created
    assert store._q("SELECT id, hash FROM rows ORDER BY id") == before_rows
    assert store._q("SELECT table_name FROM information_schema.tables ORDER BY 1") == before_tables
    assert store._q("SELECT count(*) FROM files")[0][0] == 2
    assert sorted(p.name for p in (d / "ws").rglob("*")) == before_files
    assert list(tmp_path.iterdir()) == []
    for p, existed in tmp_existed.items():
        assert Path(p).exists() == existed, p


def test_contains_matches_percent_and_underscore_literally(ws):
    store, _ = ws
    assert ids(store, Cond("instruction", "contains", "100%")) == [1, 7]
    assert ids(store, Cond("instruction", "contains", "0%")) == [1, 7]
    assert ids(store, Cond("instruction", "contains", "1_0")) == []
    assert ids(store, Cond("instruction", "contains", "%%")) == []
    assert ids(store, Cond("response", "contains", "S_I")) == [1, 7]
    assert ids(store, Cond("response", "contains", "s%i")) == []
    assert ids(store, Cond("category", "contains", "_c")) == [5]  # read_csv


def test_connection_is_locked_down(ws):
    store, d = ws
    target = d / "leak.csv"
    for sql in ["SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM read_text('/etc/passwd')",
                f"COPY rows TO '{target}'", f"ATTACH '{d / 'x.db'}' AS x", "INSTALL httpfs", "LOAD httpfs"]:
        with pytest.raises(duckdb.Error):
            store._q(sql)
    for sql in ["SET enable_external_access = true", "SET lock_configuration = false",
                "RESET enable_external_access"]:
        with pytest.raises(duckdb.Error):
            store._q(sql)
    assert not target.exists() and not (d / "x.db").exists()
    assert store._q("SELECT current_setting('enable_external_access')")[0][0] is False
    assert store._q("SELECT count(*) FROM rows")[0][0] == N_ROWS


# ------------------------------------------------------------------ property test

ALPHABET = "abcxyzABEHÉÄéä中 0123456789.,-'\"%_;\\()*=<>“”‘’\u0000\n"
REGEX_ATOMS = ["a", "b", "e", "l", "o", "1", "0", "%", "_", "'", '"', " ", "中", ".", "\\.", "\\(", "\\\\",
               "[ab]", "[0-9]", "(a|b)", "(l|o)", "\\s", "\\d"]

texts = st.text(alphabet=ALPHABET, max_size=12)
numbers = st.one_of(st.integers(-5, 15), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0.5, 1.0, 2.5, -1, 10, 1e300]))
scalars = st.one_of(texts, numbers, st.booleans(), st.none(),
                    st.sampled_from(["math", "chat", "a b", "7", "10", "x", "true", "false", "yes", "1", "2",
                                     "1 and 3", "0.5,2.5", "1,000", " 2 ", HOSTILE_KEY, "Hello", "100%"]))


@st.composite
def regexes(draw):
    atoms = draw(st.lists(st.sampled_from(REGEX_ATOMS), min_size=1, max_size=4))
    pat = "".join(a + draw(st.sampled_from(["", "", "*", "+", "?"])) for a in atoms)
    if draw(st.booleans()):
        pat = "^" + pat
    if draw(st.integers(0, 9)) == 0:
        pat += draw(st.sampled_from(["(", "[", ")", "[z-a]"]))  # invalid in Python and RE2 alike
    return pat


columns = st.one_of(
    st.sampled_from(list(COLUMN_KINDS)),
    st.sampled_from(["category", "score", "label", "code", HOSTILE_KEY, "extra.category", "extra.score",
                     "extra.label", "extra.nope", "nope", "extra", "raw", "turns", "Language", ""]),
    texts)
ops = st.one_of(st.sampled_from(OPS), st.sampled_from(["like", "==", "IN", "not in", ""]))


@st.composite
def conds(draw):
    op = draw(ops)
    if op in ("in", "between"):
        value = draw(st.one_of(st.lists(scalars, max_size=3), scalars))
    elif op == "regex":
        value = draw(st.one_of(regexes(), st.text(alphabet="abe 'l%_\"中", max_size=5)))
    else:
        value = draw(scalars)
    return Cond(draw(columns), op, value)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          database=None)
@given(c=conds())
def test_fuzz_count_equals_reference_or_filter_error(ws, rows, c):
    store, _ = ws
    try:
        want = reference(rows, c, store.extra_kinds())
    except RefError:
        want = None
    try:
        got = store.count(Filter((c,)))
    except FilterError as e:
        assert want is None, (c, want, str(e))
        assert "SELECT" not in str(e)
        return
    assert want is not None, (c, got)
    assert got == want, (c, got, want)


def test_rows_table_intact_after_fuzz(ws):
    store, _ = ws
    assert store._q("SELECT count(*) FROM rows")[0][0] == N_ROWS
    assert store._q("SELECT count(*) FROM datasets")[0][0] == 1


# ------------------------------------------------------------------ cached text-filter ids (large workspaces)

def test_text_filter_cache_gives_same_answers_and_never_goes_stale(tmp_path, monkeypatch):
    rows = [{"instruction": f"Explain {w} number {i}", "output": f"About {w}: {'%' if i % 3 else '_'} {i}"}
            for i, w in enumerate(["water", "Water", "WATER", "fire", "earth"] * 20)]
    src = tmp_path / "a.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    store = Store(tmp_path / "ws")
    try:
        import_paths(store, [str(src)], name="a")
        flts = [Filter((), "water"), Filter((Cond("instruction", "contains", "WATER"),)),
                Filter((Cond("response", "regex", "^About (fire|earth)"), Cond("n_turns", "=", 1))),
                Filter((Cond("instruction", "contains", "number 1"),), "about"), Filter((), "%"), Filter((), "_")]
        plain = [(store.count(f), store.facet("dataset", f), list(store.rows(f, limit=500)["id"])) for f in flts]
        monkeypatch.setattr(Store, "TEXT_CACHE_MIN_ROWS", 0)
        for _ in range(2):  # second pass is served from the cache
            cached = [(store.count(f), store.facet("dataset", f), list(store.rows(f, limit=500)["id"])) for f in flts]
            assert cached == plain
        assert store._id_keys, "the cache was not used"
        assert plain[0][0] == 60 and plain[4][0] == 100 - 34 and plain[5][0] == 34
        # a new import bumps the version: the cached ids of the old version are not reused
        src2 = tmp_path / "b.jsonl"
        src2.write_text(json.dumps({"instruction": "more water", "output": "x"}) + "\n")
        import_paths(store, [str(src2)], name="b")
        assert store.count(flts[0]) == 61
    finally:
        store.close()
