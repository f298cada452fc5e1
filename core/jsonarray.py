"""JSON files (.json, .json.gz) -> stream of Items, as core.readers does for JSON Lines: an array of records
(walked element by element, with true 1-based lines, resynchronising after a bad element), one object or
a {key: [records]} wrapper, or JSON Lines with a .json name."""
from __future__ import annotations

import codecs
import gzip
import io
import json
import re
import zlib
from pathlib import Path

import orjson

from core.formats import RowError, detect_record
from core.readers import (_BAD_BYTE, _DEC, _SURROGATE_ESC, _WS, Item, _check_sizes, _dup_keys, _may_have_dup_keys,
                          _open_bytes, _sniff, read_jsonl_stream)


def _element_error(raw: str, obj, line: int, bad_utf8: bool) -> RowError | None:
    """Checks on one decoded array element (Python's json is lenient: sizes, depth, Unicode, duplicate keys)."""
    if bad_utf8:
        m = _BAD_BYTE.search(raw)
        if m:
            return RowError("(record)", f"invalid UTF-8 on line {line + raw.count(chr(10), 0, m.start())}")
    try:
        _check_sizes(obj, unicode=bool(_SURROGATE_ESC.search(raw)))
    except RowError as e:
        return e
    if isinstance(obj, dict) and _may_have_dup_keys(raw, obj):
        try:
            json.loads(raw, object_pairs_hook=_dup_keys)
        except RowError as e:
            return e
        except (ValueError, RecursionError):
            pass
    return None


def _array_items(text: str, name: str, start: int, line0: int, bad_utf8: bool = False, top: bool = True):
    """Walk a JSON array (``text[start] == '['``) with raw_decode, tracking lines; resync after a bad element.
    ``top``: the array is the whole file (text after its ']' is an error)."""
    n = len(text)
    pos = [start, line0]  # a position and its 1-based line

    def line_at(i: int) -> int:  # positions asked for only move forward
        pos[1] += text.count("\n", pos[0], i)
        pos[0] = i
        return pos[1]

    def not_closed():
        return Item(name, line_at(max(pos[0], len(text.rstrip()) - 1)), "",
                    error=RowError("(file)", "JSON array is not closed (file truncated?)"))

    def after_close(k: int):
        if top and text[k:].strip():
            j = _WS.match(text, k).end()
            yield Item(name, line_at(j), text[j:j + 200],
                       error=RowError("(file)", "unexpected text after the end of the JSON array"))

    i = start + 1
    while True:
        i = _WS.match(text, i).end()
        if i >= n:
            yield not_closed()
            return
        if text[i] == "]":
            yield from after_close(i + 1)
            return
        line = line_at(i)
        try:
            obj, end = _DEC.raw_decode(text, i)
        except (json.JSONDecodeError, RecursionError) as e:
            if isinstance(e, RecursionError):
                reason = "JSON nested too deeply"
            else:
                reason = f"invalid JSON: {e.msg} (line {text.count(chr(10), 0, e.pos) + 1}, column {e.colno})"
            end = _resync(text, i)
            yield Item(name, line, text[i:min(end, i + 2000)].rstrip().rstrip(","), error=RowError("(record)", reason))
            if end >= n:
                if not text.rstrip().endswith("]"):
                    yield not_closed()
                return
            i = end
            continue
        raw = text[i:end]
        err = _element_error(raw, obj, line, bad_utf8)
        yield Item(name, line, raw, None if err else obj, err)
        j = _WS.match(text, end).end()
        if j >= n:
            yield not_closed()
            return
        if text[j] == ",":
            i = j + 1
        elif text[j] == "]":
            yield from after_close(j + 1)
            return
        else:
            yield Item(name, line_at(j), text[j:j + 200],
                       error=RowError("(file)", "expected ',' or ']' after a record"))
            if text[j] in "{[":  # a missing comma: the next record starts right here
                i = j
                continue
            end = _resync(text, j)
            if end >= n:
                return
            i = end


def _resync(text: str, i: int) -> int:
    """Where the array element after a bad one (starting at ``i``) probably starts: the next '{' at the start
    of a line with the same indentation as the bad element (pretty-printed arrays), else the next '{' that
    starts a line; len(text) when there is none."""
    ls = text.rfind("\n", 0, i) + 1
    indent = text[ls:i]
    if indent.strip(" \t") == "":
        m = re.compile(r"\n" + re.escape(indent) + r"\{").search(text, i + 1)
    else:
        m = re.compile(r"\n[ \t]*\{").search(text, i + 1)
    return m.end() - 1 if m else len(text)


def _find_list(text: str, start: int, end: int, key: str, value: list) -> int | None:
    """Position of the '[' that opens ``value`` (the list under ``key`` of the object text[start:end])."""
    pat = re.compile(re.escape(json.dumps(key)) + r"[ \t\r\n]*:[ \t\r\n]*\[")
    for m in pat.finditer(text, start, end):
        p = m.end() - 1
        try:
            if _DEC.raw_decode(text, p)[0] == value:
                return p
        except (ValueError, RecursionError):
            continue
    return None


def read_json_file(path: Path, name: str):
    """A .json(.gz) file: an array of records, one object (or {key: [records]}), or JSON Lines in disguise."""
    with _open_bytes(path) as f:
        try:
            data = f.read()
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
            yield Item(name, 1, "", error=RowError("(file)", f"file is truncated or corrupt: {e}"))
            return
    enc = _sniff(data[:4])
    bad_utf8 = False
    if enc.startswith("utf-16"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError as e:
            yield Item(name, 1, "", error=RowError("(file)", f"invalid UTF-16: {e.reason}"))
            return
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            # keep the bad bytes as lone surrogates: an array names the bad records; other shapes go line by line
            text = data.decode("utf-8-sig", "surrogateescape")
            if not text.lstrip().startswith("["):
                yield from read_jsonl_stream(io.BytesIO(data.lstrip(codecs.BOM_UTF8)), name)
                return
            bad_utf8 = True
    del data
    m = _WS.match(text)
    if m.end() >= len(text):
        yield Item(name, 1, "", error=RowError("(file)", "file is empty"))
        return
    start = m.end()
    line0 = text.count("\n", 0, start) + 1
    if text[start] == "[":
        for it in _array_items(text, name, start, line0, bad_utf8):
            if bad_utf8 and it.error is not None and _BAD_BYTE.search(it.raw):
                it.raw = it.raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            yield it
        return
    try:
        obj, end = _DEC.raw_decode(text, start)
    except (json.JSONDecodeError, RecursionError):
        obj, end = None, -1
    rest = text[end:].strip() if end > 0 else "x"
    if obj is not None and not rest:
        if isinstance(obj, dict) and detect_record(obj) is None:
            lists = [k for k, v in obj.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
            if len(lists) == 1 and len(obj) <= 3:
                # {"data": [...]} wrapper: records are the list's elements, read with their own lines
                k = lists[0]
                p = _find_list(text, start, end, k, obj[k])
                if p is not None:
                    yield from _array_items(text, name, p, text.count("\n", 0, p) + 1, top=False)
                    return
                for r in obj[k]:
                    yield Item(name, line0, orjson.dumps(r).decode(), r)
                return
        err = _element_error(text[start:end], obj, line0, False)
        yield Item(name, line0, text[start:end], None if err else obj, err)
        return
    # JSON Lines with a .json extension
    yield from read_jsonl_stream(io.BytesIO(text.encode("utf-8")), name)
