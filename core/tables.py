"""Tabular containers (CSV, Parquet, Arrow / HF save_to_disk) -> stream of Items, as core.readers does
for JSON: true 1-based row numbers, one bad record never stops a file."""
from __future__ import annotations

import csv
import decimal
import io
from pathlib import Path

import orjson

from core.formats import RowError
from core.readers import _BAD_BYTE, MAX_LINE_BYTES, Item, _check_sizes, _open_bytes, _sniff


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
    if v is None or isinstance(v, (str, int, float)):
        return v
    if isinstance(v, decimal.Decimal):
        return float(v) if v.is_finite() else None
    return str(v)  # timedelta and other Arrow values orjson cannot write


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
    bad_utf8 = False
    try:
        text = data.decode("utf-8-sig" if not enc.startswith("utf-16") else enc)
    except UnicodeDecodeError as e:
        if enc.startswith("utf-16"):
            yield Item(name, 1, "", error=RowError("(file)", f"invalid UTF-16: {e.reason}"))
            return
        # keep the bad bytes as lone surrogates: the records holding them are quarantined, the rest load
        text, bad_utf8 = data.decode("utf-8-sig", "surrogateescape"), True
    del data
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
    if bad_utf8 and any(_BAD_BYTE.search(h) for h in header):
        yield Item(name, 1, "", error=RowError("(header)", "invalid UTF-8 in the header line; re-save the CSV as UTF-8"))
        return
    records = []  # (line, values) or an error Item, in file order
    prev_end = reader.line_num
    while True:
        start = prev_end + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            records.append(Item(name, start, "", error=RowError("(record)", f"invalid CSV: {e}")))
            break
        prev_end = reader.line_num
        if not values or values == [""]:
            continue
        if bad_utf8 and any(_BAD_BYTE.search(v) for v in values):
            raw = ",".join(values)[:2000].encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            records.append(Item(name, start, raw,
                                error=RowError("(record)", "invalid UTF-8 in this record; re-save the CSV as UTF-8")))
            continue
        if len(values) != len(header):
            records.append(Item(name, start, ",".join(values)[:2000],
                                error=RowError("(record)", f"has {len(values)} fields, the header has {len(header)}")))
            continue
        records.append((start, values))
    json_cols = _json_columns(header, [r[1] for r in records if isinstance(r, tuple)])
    for r in records:
        if isinstance(r, Item):
            yield r
            continue
        start, values = r
        rec = {k: v for k, v in zip(header, values) if v != ""}  # an empty cell is a missing value
        for k in json_cols.intersection(rec):
            rec[k] = orjson.loads(rec[k])
        raw = orjson.dumps(rec).decode()
        try:
            _check_sizes(rec)
            yield Item(name, start, raw, rec)
        except RowError as e:
            yield Item(name, start, raw[:2000], error=e)


# fields that hold text in every format: a cell like '["a", "b"]' there is an answer, not a list
CSV_TEXT_FIELDS = {"instruction", "input", "output", "response", "completion", "question", "answer", "system",
                   "query", "target", "targets", "inputs", "std_answer", "text", "content", "value"}


def _json_columns(header: list, rows: list) -> set:
    """Columns whose every non-empty cell is a JSON list or object (e.g. exported conversations), except the
    text fields of the formats; a column with some JSON-looking text among plain text stays text too."""
    cols = set()
    for i, k in enumerate(header):
        if k in CSV_TEXT_FIELDS:
            continue
        seen = False
        for values in rows:
            v = values[i]
            if not v:
                continue
            if v[:1] not in ("[", "{") or v[-1:] not in ("]", "}"):
                break
            try:
                orjson.loads(v)
            except orjson.JSONDecodeError:
                break
            seen = True
        else:
            if seen:
                cols.add(k)
    return cols
