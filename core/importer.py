"""Import files into a Store: read -> detect -> normalise -> derive -> write, one transaction per file."""
from __future__ import annotations

import hashlib
import os
import itertools
import shutil
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import pyarrow as pa

from core.chunks import in_worker, process_block, process_items, spool_dir, table_of, warm_up
from core.formats import FORMATS, detect
from core.readers import _sniff, blank_file_item, list_files, read_file
from core.rows import workers
from core.store import Store, StoreError, safe_name

BATCH = int(os.environ.get("SIFT_IMPORT_BATCH", "10000"))  # records per worker task (one Arrow batch)
SNIFF = 200
JSONL = (".jsonl", ".ndjson")  # uncompressed JSON Lines: workers read their own byte ranges


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


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Pool:
    """Worker processes for big files; chunks run inline for small ones."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and workers() > 1
        self.ex = None
        self.spool = None

    def start(self):
        """Start the workers (they load their models while the main process hashes and sniffs the file)."""
        if self.enabled and self.ex is None:
            self.ex = ProcessPoolExecutor(workers(), mp_context=get_context("spawn"), initializer=warm_up)
            self.spool = spool_dir()

    def submit(self, fn, *args):
        if not self.enabled:
            return _Done(fn(*args))
        self.start()
        return self.ex.submit(in_worker, fn, self.spool, *args)

    def close(self):
        if self.ex:
            self.ex.shutdown(cancel_futures=True)
        if self.spool:
            shutil.rmtree(self.spool, ignore_errors=True)


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


def _chunks(items, size: int):
    buf = []
    for it in items:
        buf.append(it)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf


def _by_blocks(path: Path, ffmt: str) -> bool:
    """Whether a file goes to the workers as byte ranges (plain UTF-8 JSON Lines; OASST files need all
    their records at once)."""
    if ffmt == "oasst" or not path.name.lower().endswith(JSONL) or path.stat().st_size == 0:
        return False
    with open(path, "rb") as f:
        return not _sniff(f.read(4)).startswith("utf-16")


def plan_blocks(path: Path, size: int):
    """(offset, length, first line) of consecutive byte ranges of about ``size`` bytes, each ending at a
    line end (or the end of the file)."""
    offset, line = 0, 1
    with open(path, "rb") as f:
        while True:
            chunk = f.read(size)
            if not chunk:
                return
            cut = chunk.rfind(b"\n")
            while cut < 0:  # a line longer than a block: read on to its end
                more = f.read(size)
                if not more:
                    cut = len(chunk) - 1
                    break
                chunk += more
                cut = chunk.rfind(b"\n")
            length = cut + 1
            yield offset, length, line
            line += chunk.count(b"\n", 0, length)
            offset += length
            f.seek(offset)


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
    auto = fmt == "auto"
    by_blocks = _by_blocks(path, ffmt)
    if by_blocks:
        head = list(itertools.islice(items, SNIFF))
        per_line = sum(len(i.raw) + 1 for i in head) / max(1, len(head))
        blocks = plan_blocks(path, max(1, int(BATCH * per_line)))
        tasks = ((process_block, str(path), o, n, ln, ffmt, dataset, auto, display) for o, n, ln in blocks)
    else:
        # OASST flat messages need the whole file at once; everything else streams in chunks
        chunks = [list(items)] if ffmt == "oasst" else _chunks(items, BATCH)
        tasks = ((process_items, c, ffmt, dataset, auto) for c in chunks)
    with store.file_import(dataset) as w:
        next_id = store.next_id()
        pending: deque = deque()
        lines = 0  # non-blank lines (block tasks)

        def consume(fut):
            nonlocal next_id, lines
            table, quarantine, kinds, *nonblank = fut.result()
            table = table_of(table)
            lines += sum(nonblank)
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

        for task in tasks:
            pending.append(pool.submit(*task))
            while len(pending) > 2 * workers():
                consume(pending.popleft())
        while pending:
            consume(pending.popleft())
        if by_blocks and not lines:  # JSON Lines with nothing but blank lines
            it = blank_file_item(display)
            w.add_quarantine([(it.file, it.line, it.error.field, it.error.reason, it.raw)])
            result.errors.append({"file": it.file, "line": it.line, "field": it.error.field, "reason": it.error.reason})
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
        pool.start()
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
