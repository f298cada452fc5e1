"""Import files into a Store: read -> detect -> normalise -> derive -> write, one transaction per file."""
from __future__ import annotations

import hashlib
import os
import itertools
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import pyarrow as pa

from core import oasst
from core.formats import FORMATS, RowError, detect, detect_record, has_format_keys, normalise
from core.readers import list_files, read_file
from core.rows import ROW_COLUMNS, conv_row, conversation_text, derive_batch, workers
from core.store import Store, StoreError, merge_kind, safe_name

BATCH = int(os.environ.get("SIFT_IMPORT_BATCH", "10000"))  # records per worker task (one Arrow batch, one commit)
SNIFF = 200
_SCHEMA = None


@dataclass
class ImportResult:
    dataset: str
    format: str
    rows: int = 0
    quarantined: int = 0
    duplicates: int = 0
    errors: list = field(default_factory=list)
    files: list = field(default_factory=list)
    skipped_files: list = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self, max_errors: int = 1000) -> dict:
        d = asdict(self)
        if len(self.errors) > max_errors:
            d["errors"] = self.errors[:max_errors]
            d["errors_truncated"] = len(self.errors) - max_errors
        return d


def _schema() -> pa.Schema:
    global _SCHEMA
    if _SCHEMA is None:
        turn = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
        types = {"BIGINT": pa.int64(), "INTEGER": pa.int32(), "VARCHAR": pa.string(), "BOOLEAN": pa.bool_()}
        _SCHEMA = pa.schema([(k, turn if "STRUCT" in v else types[v]) for k, v in ROW_COLUMNS.items()])
    return _SCHEMA


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _kind(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "text"
    return "nested" if v is not None else ""


def _merge_kind(kinds: dict, extra: dict):
    for k, v in extra.items():
        kd = _kind(v)
        if kd:
            kinds[k] = merge_kind(kinds.get(k), kd)


def process_chunk(items: list, fmt: str, dataset: str, auto: bool = False) -> tuple:
    """Worker: Items -> (Arrow table of rows without ids, quarantine entries, extra-column kinds).
    Parsing (lazy JSONL), normalising, hashing, token counts and language all happen here."""
    rows, quarantine, kinds = [], [], {}
    for it, res, used in _convs((i.parse() for i in items), fmt, auto):
        if isinstance(res, RowError):
            quarantine.append((it.file, it.line, res.field, res.reason, it.raw))
            continue
        for conv in res:
            r = conv_row(conv)
            # preference is a flag on the SFT layouts: a pair inside an SFT file is a preference row, and so on
            kind = "preference" if conv.rejected else (used if used != "preference" else
                                                        detect_record(it.rec) or used)
            r.update(id=0, dataset=dataset, format=kind, file=it.file, line=it.line, raw=it.raw,
                     is_duplicate=False, dup_count=1)
            if conv.extra:
                _merge_kind(kinds, conv.extra)
            rows.append(r)
    if rows:
        derived = derive_batch([(i, conversation_text(r["system"], r["turns"]),
                                 r["instruction"] + " " + r["response"]) for i, r in enumerate(rows)])
        for i, ntok, lang in derived:
            rows[i]["n_tokens"] = ntok
            rows[i]["language"] = lang
    return pa.Table.from_pylist(rows, schema=_schema()), quarantine, kinds


class _Pool:
    """Worker processes for big files; chunks run inline for small ones."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and workers() > 1
        self.ex = None

    def submit(self, *args):
        if not self.enabled:
            return _Done(process_chunk(*args))
        if self.ex is None:
            self.ex = ProcessPoolExecutor(workers(), mp_context=get_context("spawn"))
        return self.ex.submit(process_chunk, *args)

    def close(self):
        if self.ex:
            self.ex.shutdown(cancel_futures=True)


class _Done:
    def __init__(self, v):
        self.v = v

    def result(self):
        return self.v


def _items_with_format(items, fmt: str):
    """(format, item iterator): detect from the first records when fmt is 'auto'."""
    if fmt != "auto":
        return fmt, items
    head = list(itertools.islice(items, SNIFF))
    recs = [i.rec for i in head if i.error is None]
    if not recs and head:
        return None, iter(head)
    return detect(recs), itertools.chain(head, items)


def _convs(items, fmt: str, auto: bool = False):
    """Yield (item, [Conv] | RowError, format used). With ``auto``, a record that does not fit the file's
    format but has the fields of another one is read as that one (files mixing formats)."""
    if fmt == "oasst":
        flat, other = [], []
        for it in items:
            if it.error is None and oasst.is_flat(it.rec):
                flat.append(it)
            else:
                other.append(it)
        for it in other:
            yield (it, *_norm_item(it, fmt, auto))
        by_raw = {}
        for it in flat:
            by_raw[it.line] = it
        for line, raw, res in oasst.assemble_flat([(i.line, i.raw, i.rec) for i in flat]):
            yield by_raw[line], (res if isinstance(res, RowError) else [res]), fmt
        return
    for it in items:
        yield (it, *_norm_item(it, fmt, auto))


def _norm_item(it, fmt: str, auto: bool):
    if it.error:
        return it.error, fmt
    res = _safe_norm(it.rec, fmt)
    if auto and isinstance(res, RowError) and isinstance(it.rec, dict) and not has_format_keys(it.rec, fmt):
        own = detect_record(it.rec)
        if own and own != fmt:
            alt = _safe_norm(it.rec, own)
            if not isinstance(alt, RowError):
                return alt, own
    return res, fmt


def _safe_norm(rec, fmt):
    try:
        return normalise(rec, fmt)
    except RowError as e:
        return e
    except RecursionError:
        return RowError("(record)", "record is nested too deeply")


def _chunks(items, size: int):
    buf = []
    for it in items:
        buf.append(it)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf


def import_file(store: Store, path: Path, dataset: str, fmt: str, result: ImportResult, pool: _Pool,
                progress=None, display: str | None = None):
    t0 = time.time()
    display = display or str(path)
    sha = file_sha256(path)
    if store.file_imported(dataset, sha):
        result.skipped_files.append({"file": display, "reason": "already imported (same content)"})
        return
    items = (i.parse() if n < SNIFF else i for n, i in enumerate(read_file(path, display, lazy=True)))
    try:
        ffmt, items = _items_with_format(items, fmt)
    except ValueError as e:
        result.errors.append({"file": display, "line": 1, "field": "(file)", "reason": f"{display}: {e}"})
        return
    if ffmt is None:  # every sniffed record was bad: quarantine them under the best guess
        ffmt = "alpaca" if fmt == "auto" else fmt
    result.files.append({"file": display, "format": ffmt})
    # OASST flat messages need the whole file at once; everything else streams in chunks
    chunks = [list(items)] if ffmt == "oasst" else _chunks(items, BATCH)
    with store.file_import(dataset) as w:
        next_id = store.next_id()
        pending: deque = deque()

        def consume(fut):
            nonlocal next_id
            table, quarantine, kinds = fut.result()
            n = table.num_rows
            if n:
                table = table.set_column(0, "id", pa.array(range(next_id, next_id + n), pa.int64()))
                next_id += n
                w.add_rows(table)
            w.add_quarantine(quarantine)
            w.merge_kinds(kinds)
            result.errors.extend({"file": f, "line": ln, "field": fl, "reason": r} for f, ln, fl, r, _ in quarantine)
            if progress:
                progress(display, w.rows)

        for chunk in chunks:
            pending.append(pool.submit(chunk, ffmt, dataset, fmt == "auto"))
            while len(pending) > 2 * workers():
                consume(pending.popleft())
        while pending:
            consume(pending.popleft())
        w.set_file(display, sha, path.stat().st_size, ffmt, time.time() - t0)
        result.rows += w.rows
        result.quarantined += w.quarantined
        result.files[-1]["rows"] = w.rows


def import_paths(store: Store, paths: list, name: str | None = None, fmt: str = "auto",
                 progress=None) -> ImportResult:
    """Import files/folders as one dataset. Raises StoreError/FileNotFoundError for unusable input."""
    if fmt != "auto" and fmt not in FORMATS:
        raise StoreError(f"unknown format {fmt!r}; choose auto or one of: {', '.join(FORMATS)}")
    if not paths:
        raise StoreError("give at least one file or folder to import")
    files = []
    for p in paths:
        files.extend(list_files(p))
    stem = Path(str(paths[0]).rstrip("/")).name
    for suf in (".gz", ".jsonl", ".json", ".ndjson", ".parquet", ".csv"):
        stem = stem[: -len(suf)] if stem.lower().endswith(suf) else stem
    dataset = safe_name(name or stem)
    t0 = time.time()
    result = ImportResult(dataset=dataset, format=fmt)
    pool = _Pool(enabled=sum(f.stat().st_size for f in files) > 8_000_000)
    run = store.start_run("import", {"paths": [str(p) for p in paths], "dataset": dataset, "format": fmt})
    try:
        for f in files:
            import_file(store, f, dataset, fmt, result, pool, progress)
    except BaseException as e:
        store.finish_run(run, "failed", result.rows, f"{type(e).__name__}: {e}"[:500])
        raise
    finally:
        pool.close()
    store.mark_duplicates()
    rows = {}
    for x in result.files:
        rows[x["format"]] = rows.get(x["format"], 0) + x.get("rows", 0)
    result.format = max(rows, key=rows.get) if rows else fmt
    result.duplicates = int(store.stats(None, dataset=dataset)["duplicates"] or 0)
    result.seconds = round(time.time() - t0, 3)
    store.finish_run(run, "done", result.rows, f"{result.quarantined} quarantined, "
                                                f"{len(result.skipped_files)} files skipped")
    return result
