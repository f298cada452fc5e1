"""Worker side of an import: records -> one Arrow table of rows, quarantine entries and extra-column kinds.

``process_items`` takes Items from any reader (core.readers / core.tables). ``process_block`` reads a
byte range of a JSON Lines file itself, so the main process hands over three numbers instead of the
text: it treats each line exactly as core.readers.read_jsonl_stream + Item.parse would (lines that are
not plain valid JSON objects go through those very functions), with a shortcut for plain Alpaca
records. Everything here runs in worker processes (or inline for small files) and never touches the Store.
"""
from __future__ import annotations

import codecs
import os
import tempfile

import orjson
import pyarrow as pa

from core import oasst
from core.formats import RowError, detect_record, has_format_keys, normalise
from core import readers
from core.readers import line_item
from core.rowbuild import RowBatch, has_text

_ALPACA_KEYS = frozenset(("instruction", "input", "output"))


def process_items(items: list, fmt: str, dataset: str, auto: bool = False) -> tuple:
    """Items -> (Arrow table of rows without ids, quarantine entries, extra-column kinds).
    Parsing (lazy JSONL), normalising, hashing, token counts and language all happen here."""
    batch, quarantine, kinds = RowBatch(dataset), [], {}
    for it, res, used in _convs((i.parse() for i in items), fmt, auto):
        if isinstance(res, RowError):
            quarantine.append((it.file, it.line, res.field, res.reason, it.raw))
        else:
            _add(batch, kinds, res, used, it.rec, it.file, it.line, it.raw)
    return batch.table(), quarantine, kinds


def process_block(path: str, offset: int, length: int, first_line: int, fmt: str, dataset: str,
                  auto: bool, name: str) -> tuple:
    """Lines first_line.. of a JSON Lines file, read from bytes offset..offset+length (whole lines) ->
    (table, quarantine, kinds, number of non-blank lines)."""
    with open(path, "rb") as f:
        data = os.pread(f.fileno(), length, offset)
    lines = data.split(b"\n")
    last = len(lines) - 1  # every piece but the last had a newline after it
    batch, quarantine, kinds = RowBatch(dataset), [], {}
    fast_alpaca = fmt == "alpaca"
    loads = orjson.loads
    max_line, max_value, max_depth = readers.MAX_LINE_BYTES, readers.MAX_VALUE_BYTES, readers.MAX_DEPTH
    nonblank = 0
    for k, b in enumerate(lines):
        lineno = first_line + k
        if lineno == 1 and b.startswith(codecs.BOM_UTF8):
            b = b[3:]
        if not b or b.isspace():  # (not b.strip(), without the copy)
            continue
        nonblank += 1
        rec = text = None
        # the common case, decided here; anything else is left to the reader's own functions
        if len(b) < max_line and b"\x00" not in b:
            try:
                text = b.decode("utf-8")
                rec = loads(b)
            except (UnicodeDecodeError, orjson.JSONDecodeError, RecursionError):
                rec = None
            if (type(rec) is not dict or b.count(b'":') + b.count(b'" :') > len(rec)
                    or 3 * len(text) > max_value or b.count(b"{") + b.count(b"[") > max_depth):
                rec = None  # not a plain object: possible duplicate keys, big values or deep nesting
            elif text[-1:] == "\r":
                text = text.rstrip("\r\n")
        if rec is None:
            it = line_item(b + b"\n" if k < last else b, lineno, name)
            if it.error is not None:
                quarantine.append((name, lineno, it.error.field, it.error.reason, it.raw))
                continue
            rec, text = it.rec, it.raw
        if fast_alpaca and type(rec) is dict and len(rec) <= 3 and _ALPACA_KEYS.issuperset(rec):
            ins, inp, out = rec.get("instruction"), rec.get("input"), rec.get("output")
            if type(ins) is str and (inp is None or type(inp) is str) and (out is None or type(out) is str):
                inp = inp or ""
                user = (f"{ins}\n\n{inp}" if has_text(inp) else ins) if has_text(ins) else inp
                if has_text(user):  # (an empty one is quarantined below, with the format fallback of auto mode)
                    batch.add_pair(user, out or "", name, lineno, text)
                    continue
        res, used = _norm(rec, None, fmt, auto)
        if isinstance(res, RowError):
            quarantine.append((name, lineno, res.field, res.reason, text))
        else:
            _add(batch, kinds, res, used, rec, name, lineno, text)
    return batch.table(), quarantine, kinds, nonblank


def in_worker(fn, spool: str | None, *args) -> tuple:
    """Run a task in a worker process. Its table goes back as an Arrow IPC file in the ``spool`` folder
    (the main process maps it, reads it without copying and deletes it), or as IPC bytes without one:
    either is far cheaper than sending a pickled Table through the pipe."""
    table, *rest = fn(*args)
    if spool:
        fd, path = tempfile.mkstemp(dir=spool, suffix=".arrow")
        os.close(fd)
        try:
            with pa.OSFile(path, "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
                w.write_table(table)
            return (path, *rest)
        except OSError:  # e.g. the spool's file system is full: send the bytes instead
            os.unlink(path)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return (sink.getvalue(), *rest)


def table_of(t) -> pa.Table:
    """A task's table, as in_worker sent it (a spooled file, which is deleted, or bytes) or as the task
    returned it (run inline)."""
    if isinstance(t, str):
        with pa.memory_map(t) as src:
            table = pa.ipc.open_stream(src).read_all()
        os.unlink(t)  # the mapping stays readable until the table is dropped
        return table
    return pa.ipc.open_stream(t).read_all() if isinstance(t, pa.Buffer) else t


def spool_dir() -> str | None:
    """A new private folder for the files in_worker hands back: in /dev/shm (memory) when it has room,
    else the temporary folder. Folders left by imports that were killed are removed first."""
    import shutil
    bases = [b for b in ("/dev/shm",) if os.path.isdir(b) and _free(b) > 2 << 30] + [tempfile.gettempdir()]
    for base in bases:
        try:
            for old in os.listdir(base):
                if old.startswith("sift-spool-") and not _alive(old.split("-")[2]):
                    shutil.rmtree(os.path.join(base, old), ignore_errors=True)
            return tempfile.mkdtemp(prefix=f"sift-spool-{os.getpid()}-", dir=base)
        except OSError:
            continue
    return None


def _free(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def warm_up():
    """Worker start-up: load the language model and the compiled counters before the first task arrives
    (a failure here is left for the first task to meet). A task allocates millions of small objects and
    frees them all, without reference cycles: the cyclic garbage collector runs far less often here (it
    cost ~7% of a worker's time), and not over what start-up loaded."""
    import gc

    from core import fastlang, tokcount
    try:
        tokcount.use_compiled(tokcount.FAST_MIN)
        fastlang.use_compiled(fastlang.FAST_MIN)
        fastlang._model()
    except Exception:  # noqa: BLE001
        pass
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _add(batch: RowBatch, kinds: dict, convs: list, used: str, rec, file: str, line: int, raw: str):
    for conv in convs:
        # preference is a flag on the SFT layouts: a pair inside an SFT file is a preference row, and so on
        kind = "preference" if conv.rejected else (used if used != "preference" else detect_record(rec) or used)
        if conv.extra:
            _merge_kinds(kinds, conv.extra)
        batch.add_conv(conv, file, line, raw, kind)


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


def _merge_kinds(kinds: dict, extra: dict):
    from core.store import merge_kind
    for k, v in extra.items():
        kd = _kind(v)
        if kd:
            kinds[k] = merge_kind(kinds.get(k), kd)


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
            yield (it, *_norm(it.rec, it.error, fmt, auto))
        by_raw = {}
        for it in flat:
            by_raw[it.line] = it
        for line, raw, res in oasst.assemble_flat([(i.line, i.raw, i.rec) for i in flat]):
            yield by_raw[line], (res if isinstance(res, RowError) else [res]), fmt
        return
    for it in items:
        yield (it, *_norm(it.rec, it.error, fmt, auto))


def _norm(rec, error, fmt: str, auto: bool):
    if error:
        return error, fmt
    res = _safe_norm(rec, fmt)
    if auto and isinstance(res, RowError) and isinstance(rec, dict) and not has_format_keys(rec, fmt):
        own = detect_record(rec)
        if own and own != fmt:
            alt = _safe_norm(rec, own)
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
