"""Container readers: files -> stream of ``Item(file, line, raw, rec, error)``.

``line`` is the true 1-based line where a record starts (row number for Parquet / Arrow, 1-based).
``raw`` is the record's original text, verbatim. A record that cannot be read becomes an Item with
``error=RowError(field, reason)`` and the stream goes on: one bad record never stops a file.
"""
from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from core.formats import RowError, detect_record

SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".ndjson", ".ndjson.gz", ".parquet", ".csv", ".csv.gz",
            ".arrow")
MAX_VALUE_BYTES = 4 * 1024 * 1024  # a single string above this is quarantined
MAX_LINE_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 100  # objects/lists nested deeper than this are quarantined (orjson writes at most 255 levels)
_SURROGATE_ESC = re.compile(r"\\u[dD][89a-fA-F]")  # a surrogate escape in JSON text (Python's json accepts lone ones)
_SURROGATE = re.compile("[\ud800-\udfff]")
_BAD_BYTE = re.compile("[\udc80-\udcff]")  # an undecodable byte under errors="surrogateescape"
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1
_DEC = json.JSONDecoder()
_WS = re.compile(r"[ \t\r\n]*")


@dataclass
class Item:
    file: str
    line: int
    raw: str
    rec: object = None
    error: RowError | None = None
    parsed: bool = True  # False: ``raw`` is JSON text still to parse (lazy JSONL, parsed in a worker)

    def __reduce__(self):
        # Items travel to worker processes; RowError cannot be unpickled as is (its __init__ takes two arguments)
        err = (self.error.field, self.error.reason) if self.error is not None else None
        return _make_item, (self.file, self.line, self.raw, self.rec, err, self.parsed)

    def parse(self) -> "Item":
        if not self.parsed:
            self.rec, self.error = parse_json(self.raw, self.line)
            self.parsed = True
        return self


def _make_item(file, line, raw, rec, err, parsed):
    return Item(file, line, raw, rec, RowError(*err) if err else None, parsed)


def list_files(path: str | Path) -> list[Path]:
    """The data files a path stands for: the file itself, a HF save_to_disk folder, or a folder of files."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if p.is_file():
        return [p]
    if (p / "state.json").exists() or (p / "dataset_dict.json").exists():
        return sorted(p.rglob("*.arrow"))
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.name.lower().endswith(SUFFIXES)
                   and f.name not in ("dataset_info.json", "state.json", "dataset_dict.json"))
    if not files:
        raise FileNotFoundError(f"{path}: folder holds no .json/.jsonl/.parquet/.csv/.arrow files")
    return files


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _check_sizes(obj, path="", unicode=False):
    """Raise RowError for a string value above the size cap or nesting deeper than MAX_DEPTH (walks nested
    values without recursion). With ``unicode`` (values decoded by Python's json, which accepts what orjson
    refuses) also for text holding unpaired surrogates; integers beyond 64 bits become floats, as orjson reads them."""
    stack = [(obj, path, 0, None, None)]
    while stack:
        v, p, d, parent, key = stack.pop()
        if isinstance(v, str):
            if len(v) > MAX_VALUE_BYTES // 4 and len(v.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
                raise RowError(p or "(value)", f"value is {len(v.encode('utf-8', 'surrogatepass')):,} bytes, "
                                               f"above the {MAX_VALUE_BYTES:,}-byte cap")
            if unicode and _SURROGATE.search(v):
                raise RowError(p or "(value)", "text is not valid Unicode (an unpaired surrogate escape such as \\ud800)")
        elif isinstance(v, dict):
            if d >= MAX_DEPTH:
                raise RowError(_top(p), f"nested more than {MAX_DEPTH} levels deep")
            for k, x in v.items():
                if unicode and _SURROGATE.search(k):
                    raise RowError(p or "(record)", "a key is not valid Unicode (an unpaired surrogate escape)")
                stack.append((x, f"{p}.{k}" if p else str(k), d + 1, v, k))
        elif isinstance(v, list):
            if d >= MAX_DEPTH:
                raise RowError(_top(p), f"nested more than {MAX_DEPTH} levels deep")
            stack.extend((x, f"{p}[{i}]", d + 1, v, i) for i, x in enumerate(v))
        elif type(v) is int and not _INT_MIN <= v <= _INT_MAX and parent is not None:
            try:
                parent[key] = float(v)
            except OverflowError:
                raise RowError(p, "number is too large") from None


def _top(path: str) -> str:
    """The top-level field of a value path ('a' for 'a[0][0].b')."""
    return re.split(r"[.\[]", path, maxsplit=1)[0] or "(record)"


def _may_have_dup_keys(raw: str, obj: dict) -> bool:
    """Cheap pre-check: more '"key":' separators than top-level keys (nested objects or duplicates)."""
    return raw.count('":') + raw.count('" :') > len(obj)


def _dup_keys(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise RowError(k, "duplicate key in the same object")
        seen[k] = v
    return seen


def parse_json(text: str, line: int = 1):
    """Parse one record's JSON text. Returns (rec, error)."""
    lenient = False  # True when Python's json (more lenient than orjson) produced the value
    try:
        rec = orjson.loads(text)
    except orjson.JSONDecodeError:
        # Python's decoder gives a precise position and message
        try:
            rec = json.loads(text)
            lenient = True
        except RecursionError:
            return None, RowError("(record)", "JSON nested too deeply")
        except json.JSONDecodeError as e2:
            return None, RowError("(record)", f"invalid JSON: {e2.msg} at column {e2.colno}"
                                  + (f" of line {line + e2.lineno - 1}" if e2.lineno > 1 else ""))
        except ValueError as e2:
            return None, RowError("(record)", f"invalid JSON: {e2}")
    except RecursionError:
        return None, RowError("(record)", "JSON nested too deeply")
    if isinstance(rec, dict) and _may_have_dup_keys(text, rec) and text.count('":') < 10000:
        try:  # cheap pre-check passed; confirm duplicate keys
            json.loads(text, object_pairs_hook=_dup_keys)
        except RowError as e:
            return None, e
        except (ValueError, RecursionError):
            pass
    # skip the walk when it cannot find anything: orjson parsed it (valid Unicode, 64-bit ints), no value can
    # reach the cap (≤3 UTF-8 bytes per character) and there are too few brackets to nest past MAX_DEPTH
    if lenient or 3 * len(text) > MAX_VALUE_BYTES or text.count("{") + text.count("[") > MAX_DEPTH:
        try:
            _check_sizes(rec, unicode=lenient)
        except RowError as e:
            return None, e
    return rec, None


def _decode(b: bytes, line: int) -> tuple[str | None, RowError | None]:
    try:
        return b.decode("utf-8"), None
    except UnicodeDecodeError as e:
        return None, RowError("(line)", f"invalid UTF-8 at byte {e.start + 1} of the line")


def _sniff(head: bytes) -> str:
    """'utf-16', 'utf-8-sig' or 'utf-8'."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if len(head) >= 4 and head[1:2] == b"\x00" and head[3:4] == b"\x00" and head[0:1] != b"\x00":
        return "utf-16-le"
    return "utf-8"


def line_item(b: bytes, lineno: int, name: str, encoding: str = "utf-8", lazy: bool = False) -> Item:
    """The Item of one non-blank JSON Lines line (``b`` without its BOM, with or without its newline)."""
    if len(b) > MAX_LINE_BYTES:
        return Item(name, lineno, "", error=RowError("(line)", f"line is {len(b):,} bytes, above the cap"))
    text, err = _decode(b, lineno) if encoding.startswith("utf-8") else (b.decode(encoding, "replace"), None)
    if err:
        return Item(name, lineno, b.decode("utf-8", "replace").rstrip("\r\n"), error=err)
    text = text.rstrip("\r\n")
    if "\x00" in text:
        return Item(name, lineno, text.replace("\x00", "\\u0000"), error=RowError("(line)", "line contains a NUL byte"))
    if lazy:
        return Item(name, lineno, text, parsed=False)
    rec, err = parse_json(text, lineno)
    return Item(name, lineno, text, rec, err)


def read_jsonl_stream(f, name: str, encoding: str = "utf-8", lazy: bool = False):
    """Yield Items from a binary stream of JSON Lines (with ``lazy``, JSON parsing is left to Item.parse)."""
    lineno = lineno_seen = 0
    try:
        for b in f:
            lineno += 1
            if lineno == 1 and b.startswith(codecs.BOM_UTF8):
                b = b[3:]
            if not b.strip():
                continue
            lineno_seen = lineno
            yield line_item(b, lineno, name, encoding, lazy)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
        yield Item(name, lineno + 1, "", error=RowError("(file)", f"file is truncated or corrupt after line {lineno}: {e}"))
        return
    if lineno_seen == 0:
        yield blank_file_item(name)


def blank_file_item(name: str) -> Item:
    """The error Item of a JSON Lines file with only blank lines."""
    return Item(name, 1, "", error=RowError("(file)", "file is empty (only blank lines)"))


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


def read_file(path: Path, display: str | None = None, lazy: bool = False):
    """Items of one data file, by extension (and content sniffing for .json)."""
    name = display or str(path)
    low = path.name.lower()
    if os.path.getsize(path) == 0:
        yield Item(name, 1, "", error=RowError("(file)", "file is empty"))
        return
    from core.tables import read_arrow, read_csv, read_parquet  # csv / Parquet / Arrow readers

    if low.endswith(".parquet"):
        yield from read_parquet(path, name)
    elif low.endswith(".arrow"):
        yield from read_arrow(path, name)
    elif low.endswith((".csv", ".csv.gz")):
        yield from read_csv(path, name)
    elif low.endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")):
        with _open_bytes(path) as f:
            head = f.read(4)
        enc = _sniff(head)
        if enc.startswith("utf-16"):
            yield from read_json_file(path, name)  # decodes whole file, then falls back to lines
        else:
            with _open_bytes(path) as f:
                yield from read_jsonl_stream(f, name, lazy=lazy)
    else:
        yield from read_json_file(path, name)
