"""Container readers: files -> stream of ``Item(file, line, raw, rec, error)``.

``line`` is the true 1-based line where a record starts (row number for Parquet / Arrow, 1-based).
``raw`` is the record's original text, verbatim. A record that cannot be read becomes an Item with
``error=RowError(field, reason)`` and the stream goes on: one bad record never stops a file.
"""
from __future__ import annotations

import codecs
import gzip
import json
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from core.formats import RowError

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


def read_file(path: Path, display: str | None = None, lazy: bool = False):
    """Items of one data file, by extension (and content sniffing for .json)."""
    name = display or str(path)
    low = path.name.lower()
    if os.path.getsize(path) == 0:
        yield Item(name, 1, "", error=RowError("(file)", "file is empty"))
        return
    from core.jsonarray import read_json_file  # .json: arrays, objects, JSON Lines in disguise
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
