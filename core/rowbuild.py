"""A batch of rows, built column by column: conversations in, one Arrow table of the rows table out.

The same values as ``core.rows.conv_row`` (tested), without a dict per row. Plain Alpaca records
(instruction / input / output text only), by far the most common kind of big file, have a shortcut
(``add_pair``): one tuple per row, expanded into columns for the whole batch at once. Token counts and
languages are computed once per batch.
"""
from __future__ import annotations

from hashlib import sha256

import orjson
import pyarrow as pa

from core.rows import ROW_COLUMNS, conv_row, conversation_text, count_tokens, detect_languages

_SCHEMA = None
_TURN = pa.struct([("role", pa.string()), ("content", pa.string())])
_S, _I32 = pa.string(), pa.int32()


def schema() -> pa.Schema:
    """Arrow schema of the rows table (core.rows.ROW_COLUMNS)."""
    global _SCHEMA
    if _SCHEMA is None:
        types = {"BIGINT": pa.int64(), "INTEGER": pa.int32(), "VARCHAR": pa.string(), "BOOLEAN": pa.bool_()}
        _SCHEMA = pa.schema([(k, pa.list_(_TURN) if "STRUCT" in v else types[v]) for k, v in ROW_COLUMNS.items()])
    return _SCHEMA


def has_text(s: str) -> bool:
    """``bool(s.strip())``, without the copy."""
    return bool(s) and not s.isspace()


class RowBatch:
    """Rows of one dataset, appended one by one; ``table()`` derives tokens and language for all at once."""

    def __init__(self, dataset: str):
        self.dataset = dataset
        self.rows: list = []  # (user, out, file, line, raw) for a pair, else (conv_row dict, file, line, raw, fmt, conv)

    def __len__(self):
        return len(self.rows)

    def add_pair(self, user: str, out: str, file: str, line: int, raw: str):
        """A plain Alpaca record: one user turn and, when ``out`` has text, one assistant turn; no system
        prompt, no extra fields (what norm_alpaca makes of instruction / input / output)."""
        self.rows.append((user, out, file, line, raw))

    def add_conv(self, conv, file: str, line: int, raw: str, fmt: str):
        """Any normalised conversation (core.formats.Conv)."""
        self.rows.append((conv_row(conv), file, line, raw, fmt, conv))

    def table(self) -> pa.Table:
        rows = self.rows
        if rows and all(len(r) == 5 for r in rows):
            cols = _pair_columns(rows)
        else:
            cols = _columns([_expand(r) if len(r) == 5 else r for r in rows])
        n = len(rows)
        cols.update(
            id=pa.array([0] * n, pa.int64()), dataset=pa.array([self.dataset] * n, _S),
            n_tokens=pa.array(count_tokens(cols.pop("tok_text")) if n else [], _I32),
            language=pa.array(detect_languages(cols.pop("lang_text")) if n else [], _S),
            is_duplicate=pa.array([False] * n, pa.bool_()), dup_count=pa.array([1] * n, _I32))
        return pa.Table.from_arrays([cols[k] for k in schema().names], schema=schema())


def _turns(off, role, content, null=None):
    values = pa.StructArray.from_arrays([pa.array(role, _S), pa.array(content, _S)], fields=list(_TURN))
    mask = pa.array(null, pa.bool_()) if null is not None and any(null) else None
    return pa.ListArray.from_arrays(pa.array(off, _I32), values, type=pa.list_(_TURN), mask=mask)


def _pair_columns(rows: list) -> dict:
    """Columns of a batch of plain pairs only."""
    users, outs, files, lines, raws = zip(*rows)
    has = [has_text(o) for o in outs]
    n = len(rows)
    t_off = [0] * (n + 1)
    k = 0
    for i, h in enumerate(has):
        k += 2 if h else 1
        t_off[i + 1] = k
    roles, contents = [], []
    for u, o, h in zip(users, outs, has):
        if h:
            roles += ("user", "assistant")
            contents += (u, o)
        else:
            roles.append("user")
            contents.append(u)
    resp = [o if h else "" for o, h in zip(outs, has)]
    ichars = [len(u) for u in users]
    rchars = [len(o) for o in resp]
    dumps = orjson.dumps
    return {
        "format": pa.array(["alpaca"] * n, _S), "file": pa.array(files, _S), "line": pa.array(lines, _I32),
        "system": pa.array([""] * n, _S), "turns": _turns(t_off, roles, contents),
        "rejected": pa.nulls(n, pa.list_(_TURN)), "instruction": pa.array(users, _S), "response": pa.array(resp, _S),
        "n_turns": pa.array([1] * n, _I32), "n_messages": pa.array([2 if h else 1 for h in has], _I32),
        "roles": pa.array(["assistant,user" if h else "user" for h in has], _S),
        "instruction_chars": pa.array(ichars, _I32), "response_chars": pa.array(rchars, _I32),
        "total_chars": pa.array([a + b for a, b in zip(ichars, rchars)], _I32),
        "hash": pa.array([sha256(dumps(["", [["user", u], ["assistant", o]], None] if h else
                                       ["", [["user", u]], None])).hexdigest()
                          for u, o, h in zip(users, outs, has)], _S),
        "extra": pa.nulls(n, _S), "raw": pa.array(raws, _S),
        "tok_text": [f"{u}\n{o}" if h else u for u, o, h in zip(users, outs, has)],
        "lang_text": [f"{u} {r}" for u, r in zip(users, resp)],
    }


def _expand(pair: tuple) -> tuple:
    """A pair as the row a Conv would give (for batches that mix pairs with other rows)."""
    from core.formats import Conv
    user, out, file, line, raw = pair
    conv = Conv("", [("user", user)] + ([("assistant", out)] if has_text(out) else []), None, {})
    return conv_row(conv), file, line, raw, "alpaca", conv


def _columns(rows: list) -> dict:
    """Columns of any batch: (conv_row dict, file, line, raw, format, conv) per row."""
    t_off, t_role, t_content = [0], [], []
    r_off, r_null, r_role, r_content = [0], [], [], []
    tok_text = []
    for r, _, _, _, _, conv in rows:
        t_role.extend(t for t, _ in conv.turns)
        t_content.extend(c for _, c in conv.turns)
        t_off.append(t_off[-1] + len(conv.turns))
        rej = conv.rejected or []
        r_role.extend(t for t, _ in rej)
        r_content.extend(c for _, c in rej)
        r_off.append(r_off[-1] + len(rej))
        r_null.append(not conv.rejected)
        tok_text.append(conversation_text(conv.system, conv.turns))

    def col(key, typ=_S):
        return pa.array([r[0][key] for r in rows], typ)

    return {
        "format": pa.array([r[4] for r in rows], _S), "file": pa.array([r[1] for r in rows], _S),
        "line": pa.array([r[2] for r in rows], _I32), "system": col("system"),
        "turns": _turns(t_off, t_role, t_content), "rejected": _turns(r_off, r_role, r_content, r_null),
        "instruction": col("instruction"), "response": col("response"), "n_turns": col("n_turns", _I32),
        "n_messages": col("n_messages", _I32), "roles": col("roles"), "instruction_chars": col("instruction_chars", _I32),
        "response_chars": col("response_chars", _I32), "total_chars": col("total_chars", _I32), "hash": col("hash"),
        "extra": col("extra"), "raw": pa.array([r[3] for r in rows], _S), "tok_text": tok_text,
        "lang_text": [r[0]["instruction"] + " " + r[0]["response"] for r in rows],
    }
