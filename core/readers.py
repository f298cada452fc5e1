"""Container readers: files -> stream of ``Item(file, line, raw, rec, error)``.

``line`` is the true 1-based line where a record starts (row number for Parquet / Arrow, 1-based).
``raw`` is the record's original text, verbatim. A record that cannot be read becomes an Item with
``error=RowError(field, reason)`` and the stream goes on: one bad record never stops a file.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from core.formats import RowError

SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".ndjson", ".parquet", ".csv", ".arrow")
MAX_VALUE_BYTES = 4 * 1024 * 1024  # a single string above this is quarantined
MAX_LINE_BYTES = 64 * 1024 * 1024
_DEC = json.JSONDecoder()
_WS = re.compile(r"[ \t\r\n]*")


@dataclass
class Item:
    file: str
    line: int
    raw: str
    rec: object = None
    error: RowError | None = None


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


def _check_sizes(obj, path="", depth=0):
    """Raise RowError for a string value above the size cap (walks nested values)."""
    stack = [(obj, path)]
    while stack:
        v, p = stack.pop()
        if isinstance(v, str):
            if len(v) > MAX_VALUE_BYTES // 4 and len(v.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
                raise RowError(p or "(value)", f"value is {len(v.encode('utf-8', 'surrogatepass')):,} bytes, "
                                               f"above the {MAX_VALUE_BYTES:,}-byte cap")
        elif isinstance(v, dict):
            stack.extend((x, f"{p}.{k}" if p else str(k)) for k, x in v.items())
        elif isinstance(v, list):
            stack.extend((x, f"{p}[{i}]") for i, x in enumerate(v))


def _dup_keys(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise RowError(k, "duplicate key in the same object")
        seen[k] = v
    return seen


def parse_json(text: str, line: int = 1):
    """Parse one record's JSON text. Returns (rec, error)."""
    try:
        rec = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        # Python's decoder gives a precise position and message
        try:
            rec = json.loads(text)
        except RecursionError:
            return None, RowError("(record)", "JSON nested too deeply")
        except json.JSONDecodeError as e2:
            return None, RowError("(record)", f"invalid JSON: {e2.msg} at column {e2.colno}"
                                  + (f" of line {line + e2.lineno - 1}" if e2.lineno > 1 else ""))
        except ValueError as e2:
            return None, RowError("(record)", f"invalid JSON: {e2}")
    except RecursionError:
        return None, RowError("(record)", "JSON nested too deeply")
    if isinstance(rec, dict) and text.count('":') > len(rec) and text.count('":') < 10000:
        try:  # cheap pre-check passed; confirm duplicate keys
            json.loads(text, object_pairs_hook=_dup_keys)
        except RowError as e:
            return None, e
        except (ValueError, RecursionError):
            pass
    try:
        _check_sizes(rec)
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


def read_jsonl_stream(f, name: str, encoding: str = "utf-8"):
    """Yield Items from a binary stream of JSON Lines."""
    lineno = 0
    try:
        for b in f:
            lineno += 1
            if lineno == 1 and b.startswith(codecs.BOM_UTF8):
                b = b[3:]
            if not b.strip():
                continue
            if len(b) > MAX_LINE_BYTES:
                yield Item(name, lineno, "", error=RowError("(line)", f"line is {len(b):,} bytes, above the cap"))
                continue
            text, err = _decode(b, lineno) if encoding.startswith("utf-8") else (b.decode(encoding, "replace"), None)
            if err:
                yield Item(name, lineno, b.decode("utf-8", "replace").rstrip("\r\n"), error=err)
                continue
            text = text.rstrip("\r\n")
            if "\x00" in text:
                yield Item(name, lineno, text.replace("\x00", "\\u0000"), error=RowError("(line)", "line contains a NUL byte"))
                continue
            rec, err = parse_json(text, lineno)
            yield Item(name, lineno, text, rec, err)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
        yield Item(name, lineno + 1, "", error=RowError("(file)", f"file is truncated or corrupt after line {lineno}: {e}"))


def _array_items(text: str, name: str, start: int, line0: int):
    """Walk a top-level JSON array with raw_decode, tracking lines; resync after a bad element."""
    i, line, n = start + 1, line0, len(text)
    pos_counted = start  # newlines counted up to here
    while True:
        m = _WS.match(text, i)
        i = m.end()
        if i >= n:
            line += text.count("\n", pos_counted, i)
            yield Item(name, line, "", error=RowError("(file)", "JSON array is not closed (file truncated?)"))
            return
        if text[i] == "]":
            return
        line += text.count("\n", pos_counted, i)
        pos_counted = i
        try:
            obj, end = _DEC.raw_decode(text, i)
            raw = text[i:end]
            err = None
            try:
                _check_sizes(obj)
            except RowError as e:
                err, obj = e, None
            if err is None and isinstance(obj, dict) and raw.count('":') > len(obj):
                try:
                    json.loads(raw, object_pairs_hook=_dup_keys)
                except RowError as e:
                    err, obj = e, None
                except (ValueError, RecursionError):
                    pass
            yield Item(name, line, raw, obj, err)
        except RecursionError:
            end = _resync(text, i + 1)
            yield Item(name, line, text[i:min(end, i + 2000)], error=RowError("(record)", "JSON nested too deeply"))
        except json.JSONDecodeError as e:
            end = _resync(text, i + 1)
            errline = text.count("\n", 0, e.pos) + 1
            yield Item(name, line, text[i:min(end, i + 2000)],
                       error=RowError("(record)", f"invalid JSON: {e.msg} (line {errline}, column {e.colno})"))
            if end >= n:
                return
            line += text.count("\n", pos_counted, end)
            pos_counted = i = end
            continue
        m = _WS.match(text, end)
        j = m.end()
        if j < n and text[j] == ",":
            i = j + 1
        elif j < n and text[j] == "]":
            return
        else:
            errline = text.count("\n", 0, j) + 1
            yield Item(name, errline, text[j:j + 200], error=RowError("(file)", "expected ',' or ']' after a record"))
            end = _resync(text, j)
            if end >= n:
                return
            i = end
        line += text.count("\n", pos_counted, i)
        pos_counted = i


def _resync(text: str, i: int) -> int:
    """Position of the next line that starts a new array element ('{' after a newline), or len(text)."""
    m = re.compile(r"\n[ \t]*\{").search(text, i)
    return m.end() - 1 if m else len(text)


def read_json_file(path: Path, name: str):
    """A .json(.gz) file: an array of records, one object (or {key: [records]}), or JSON Lines in disguise."""
    with _open_bytes(path) as f:
        try:
            data = f.read()
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
            yield Item(name, 1, "", error=RowError("(file)", f"file is truncated or corrupt: {e}"))
            return
    enc = _sniff(data[:4])
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
            # decode line by line so the bad line is named and the rest loads
            yield from read_jsonl_stream(io.BytesIO(data.lstrip(codecs.BOM_UTF8)), name)
            return
    del data
    m = _WS.match(text)
    if m.end() >= len(text):
        yield Item(name, 1, "", error=RowError("(file)", "file is empty"))
        return
    start = m.end()
    line0 = text.count("\n", 0, start) + 1
    if text[start] == "[":
        yield from _array_items(text, name, start, line0)
        return
    try:
        obj, end = _DEC.raw_decode(text, start)
    except (json.JSONDecodeError, RecursionError):
        obj, end = None, -1
    rest = text[end:].strip() if end > 0 else "x"
    if obj is not None and not rest:
        if isinstance(obj, dict):
            lists = [k for k, v in obj.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
            if len(lists) == 1 and len(obj) <= 3 and "message_id" not in obj:
                # {"data": [...]} wrapper: records are the list's elements
                k = lists[0]
                for i, r in enumerate(obj[k]):
                    yield Item(name, line0, orjson.dumps(r).decode(), r)
                return
        yield Item(name, line0, text[start:end], obj)
        return
    # JSON Lines with a .json extension
    yield from read_jsonl_stream(io.BytesIO(text.encode("utf-8")), name)


def _jsonable(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, float) and v != v:
        return None
    return v


def _table_items(batches, name: str):
    row = 0
    for batch in batches:
        for rec in batch.to_pylist():
            row += 1
            rec = _jsonable(rec)
            raw = orjson.dumps(rec, option=orjson.OPT_NON_STR_KEYS).decode()
            try:
                _check_sizes(rec)
                yield Item(name, row, raw, rec)
            except RowError as e:
                yield Item(name, row, raw[:2000], error=e)


def read_parquet(path: Path, name: str):
    import pyarrow.parquet as pq
    try:
        pf = pq.ParquetFile(path)
        yield from _table_items(pf.iter_batches(batch_size=10_000), name)
    except Exception as e:  # pyarrow raises many types for corrupt files
        yield Item(name, 1, "", error=RowError("(file)", f"cannot read Parquet: {e}"))


def read_arrow(path: Path, name: str):
    import pyarrow as pa
    try:
        with pa.memory_map(str(path)) as src:
            try:
                reader = pa.ipc.open_stream(src)
            except pa.ArrowInvalid:
                reader = pa.ipc.open_file(src)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
                yield from _table_items(batches, name)
                return
            yield from _table_items(reader, name)
    except Exception as e:
        yield Item(name, 1, "", error=RowError("(file)", f"cannot read Arrow file: {e}"))


def read_csv(path: Path, name: str):
    with _open_bytes(path) as fb:
        data = fb.read()
    enc = _sniff(data[:4])
    try:
        text = data.decode("utf-8-sig" if not enc.startswith("utf-16") else enc)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        yield Item(name, line, "", error=RowError("(file)", f"invalid UTF-8 on line {line}; re-save the CSV as UTF-8"))
        return
    csv.field_size_limit(MAX_LINE_BYTES)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        yield Item(name, 1, "", error=RowError("(file)", "file is empty"))
        return
    except csv.Error as e:
        yield Item(name, 1, "", error=RowError("(header)", f"invalid CSV: {e}"))
        return
    prev_end = reader.line_num
    while True:
        start = prev_end + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield Item(name, start, "", error=RowError("(record)", f"invalid CSV: {e}"))
            return
        prev_end = reader.line_num
        if not values or values == [""]:
            continue
        if len(values) != len(header):
            yield Item(name, start, ",".join(values)[:2000],
                       error=RowError("(record)", f"has {len(values)} fields, the header has {len(header)}"))
            continue
        rec = {k: v for k, v in zip(header, values) if v != ""}  # an empty cell is a missing value
        for k, v in rec.items():  # cells holding JSON lists/objects (e.g. exported conversations)
            if v[:1] in ("[", "{") and v[-1:] in ("]", "}"):
                try:
                    rec[k] = orjson.loads(v)
                except orjson.JSONDecodeError:
                    pass
        raw = orjson.dumps(rec).decode()
        try:
            _check_sizes(rec)
            yield Item(name, start, raw, rec)
        except RowError as e:
            yield Item(name, start, raw[:2000], error=e)


def read_file(path: Path, display: str | None = None):
    """Items of one data file, by extension (and content sniffing for .json)."""
    name = display or str(path)
    low = path.name.lower()
    if os.path.getsize(path) == 0:
        yield Item(name, 1, "", error=RowError("(file)", "file is empty"))
        return
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
                yield from read_jsonl_stream(f, name)
    else:
        yield from read_json_file(path, name)
