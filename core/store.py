"""Store: one DuckDB file per workspace, and the only module that writes SQL.

All values reach SQL as parameters. The connection is locked down after opening: no external file
access (imports are parsed in Python, exports written by Python) and a locked configuration, so a
filter can never read or write files or change settings.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import threading
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from core.filters import Filter, FilterError
from core.rows import ROW_COLUMNS

DB_NAME = "sift.duckdb"
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS datasets (name VARCHAR PRIMARY KEY, created VARCHAR, formats VARCHAR,
           extra_kinds VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS files (dataset VARCHAR, path VARCHAR, sha256 VARCHAR, size BIGINT,
           format VARCHAR, rows BIGINT, quarantined BIGINT, imported VARCHAR, seconds DOUBLE)""",
    "CREATE TABLE IF NOT EXISTS rows (" + ", ".join(f'"{k}" {v}' for k, v in ROW_COLUMNS.items()) + ")",
    """CREATE TABLE IF NOT EXISTS quarantine (dataset VARCHAR, file VARCHAR, line INTEGER, field VARCHAR,
           reason VARCHAR, raw VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS runs (id BIGINT, step VARCHAR, params VARCHAR, status VARCHAR,
           started VARCHAR, finished VARCHAR, rows BIGINT, note VARCHAR)""",
]
LIST_COLUMNS = ["id", "dataset", "format", "file", "line", "instruction", "response", "n_turns", "n_messages",
                "roles", "instruction_chars", "response_chars", "total_chars", "n_tokens", "language", "hash",
                "is_duplicate", "dup_count"]
NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def safe_name(name: str, default: str = "dataset") -> str:
    """A user-given name reduced to [A-Za-z0-9._-], at most 80 characters."""
    s = NAME_RE.sub("_", (name or "").strip()).strip("._-")[:80]
    return s or default


def merge_kind(old: str | None, new: str) -> str:
    """Kind of an extra column seen with two kinds of values: int+float is float, anything else mixed is text."""
    if old is None or old == new:
        return new
    return "float" if {old, new} <= {"int", "float"} else "text"


class StoreError(RuntimeError):
    """A problem the user can act on; the message is shown as is."""


class Store:
    TEXT_CACHE_MIN_ROWS = 50_000  # from this size on, text filters' matching ids are cached per version
    def __init__(self, workspace: str | Path, read_only: bool = False):
        self.workspace = Path(workspace).resolve()
        self.workspace.mkdir(parents=True, exist_ok=True)
        (self.workspace / "exports").mkdir(exist_ok=True)
        self.path = self.workspace / DB_NAME
        self._lock = threading.RLock()
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as e:
            msg = str(e).split("\n")[0]
            if "lock" in msg.lower():
                raise StoreError(f"workspace {self.workspace} is open in another process (the app or a CLI "
                                 f"command); close it first") from None
            raise StoreError(f"cannot open {self.path}: {msg}") from None
        self.recovered_rows = 0
        if not read_only:
            for s in SCHEMA:
                self._con.execute(s)
            with self._con.cursor() as c:  # an import killed mid-file left rows behind: remove them
                self.recovered_rows = self._undo_import(c)
        # bounded memory: DuckDB spills past this (imports of a million rows stay within a few GB in all)
        self._con.execute("SET memory_limit = ?", [os.environ.get("SIFT_DUCKDB_MEMORY", "1GB")])
        self._con.execute("SET preserve_insertion_order = true")
        self._con.execute("SET enable_external_access = false")
        self._con.execute("SET lock_configuration = true")
        self._extra_cache: tuple[int, dict] | None = None
        self._id_keys: dict = {}  # (version, text filter) -> registered table name
        self._id_tables: dict = {}  # name -> Arrow table of ids
        self._id_seq = 0
        self._id_lock = threading.Lock()  # not the write lock: reads must not wait for an import
        self._big_cache: tuple[int, int] | None = None

    def _big(self) -> bool:
        """Whether the workspace is large enough for text filters to be worth caching (≥ 50,000 rows)."""
        v = self.version
        if not self._big_cache or self._big_cache[0] != v:
            self._big_cache = (v, int(self._q("SELECT count(*) FROM rows")[0][0]))
        return self._big_cache[1] >= self.TEXT_CACHE_MIN_ROWS

    # ------------------------------------------------------------------ plumbing
    def close(self):
        with self._lock:
            self._con.close()

    def _cur(self):
        return self._con.cursor()

    def _cursor_for(self, sql: str):
        c = self._cur()
        for name in re.findall(r"_sift_ids_\d+", sql):  # cached id sets of text filters (see _text_ids)
            c.register(name, self._id_tables[name])
        return c

    def _q(self, sql: str, params=None) -> list:
        with self._cursor_for(sql) as c:
            return c.execute(sql, params or []).fetchall()

    def _df(self, sql: str, params=None):
        with self._cursor_for(sql) as c:
            return c.execute(sql, params or []).df()

    @property
    def version(self) -> int:
        """Increases with every committed write; key st.cache_data on it."""
        r = self._q("SELECT value FROM meta WHERE key = 'version'")
        return int(r[0][0]) if r else 0

    def _bump(self, c):
        c.execute("INSERT OR REPLACE INTO meta VALUES ('version', CAST(? AS VARCHAR))", [self.version + 1])

    # ------------------------------------------------------------------ writing an import
    def file_imported(self, dataset: str, sha256: str) -> bool:
        return bool(self._q("SELECT 1 FROM files WHERE dataset = ? AND sha256 = ?", [dataset, sha256]))

    def next_id(self) -> int:
        return int(self._q("SELECT coalesce(max(id), 0) + 1 FROM rows")[0][0])

    @contextlib.contextmanager
    def file_import(self, dataset: str):
        """One file's import: its rows, quarantine entries and files row appear together or not at all.

        Rows are committed batch by batch (a single million-row transaction would hold every row in memory
        until COMMIT); the file's first row id is recorded in ``meta`` first, so an import that fails or is
        killed is rolled back by deleting its rows — at once on an exception, or when the workspace is next
        opened after a crash. The quarantine entries and the files row are written in the final commit."""
        with self._lock:
            c = self._con.cursor()
            first = self.next_id()
            c.execute("INSERT OR REPLACE INTO meta VALUES ('importing', ?)",
                      [orjson.dumps({"dataset": dataset, "first_id": first}).decode()])
            c.execute("BEGIN TRANSACTION")
            w = _FileWriter(self, c, dataset)
            try:
                yield w
                w.finish()
                c.execute("DELETE FROM meta WHERE key = 'importing'")
                self._bump(c)
                c.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    c.execute("ROLLBACK")
                with contextlib.suppress(Exception):
                    self._undo_import(c)
                raise
            finally:
                c.close()

    def _undo_import(self, c):
        """Delete the rows of an import that did not finish (see file_import)."""
        got = c.execute("SELECT value FROM meta WHERE key = 'importing'").fetchone()
        if not got:
            return 0
        first = int(orjson.loads(got[0])["first_id"])
        c.execute("BEGIN TRANSACTION")
        n = c.execute("DELETE FROM rows WHERE id >= ?", [first]).fetchone()[0]
        c.execute("DELETE FROM meta WHERE key = 'importing'")
        self._bump(c)
        c.execute("COMMIT")
        return n

    def mark_duplicates(self):
        """Flag rows whose content hash appeared earlier (is_duplicate) and the size of each hash group.
        Only groups of two or more are touched, so a clean million-row import costs one aggregation."""
        with self._lock, self._cur() as c:
            c.execute("BEGIN TRANSACTION")
            c.execute("""CREATE TEMP TABLE _dups AS SELECT hash, count(*) AS n, min(id) AS first
                         FROM rows GROUP BY hash HAVING count(*) > 1""")
            c.execute("""UPDATE rows SET dup_count = g.n, is_duplicate = rows.id <> g.first FROM _dups g
                         WHERE rows.hash = g.hash AND (rows.dup_count IS DISTINCT FROM g.n
                               OR rows.is_duplicate IS DISTINCT FROM (rows.id <> g.first))""")
            c.execute("""UPDATE rows SET dup_count = 1, is_duplicate = false
                         WHERE (dup_count IS DISTINCT FROM 1 OR is_duplicate)
                           AND hash NOT IN (SELECT hash FROM _dups)""")
            c.execute("DROP TABLE _dups")
            self._bump(c)
            c.execute("COMMIT")

    def delete_dataset(self, dataset: str):
        with self._lock, self._cur() as c:
            c.execute("BEGIN TRANSACTION")
            for t in ("rows", "quarantine", "files", "datasets"):
                c.execute(f"DELETE FROM {t} WHERE {'name' if t == 'datasets' else 'dataset'} = ?", [dataset])
            self._bump(c)
            c.execute("COMMIT")
        self.mark_duplicates()

    # ------------------------------------------------------------------ reading
    def datasets(self) -> list[dict]:
        rows = self._q("""SELECT d.name, d.formats, d.created,
                              (SELECT count(*) FROM rows r WHERE r.dataset = d.name),
                              (SELECT count(*) FROM quarantine q WHERE q.dataset = d.name),
                              (SELECT count(*) FROM rows r WHERE r.dataset = d.name AND r.is_duplicate),
                              (SELECT count(*) FROM files f WHERE f.dataset = d.name),
                              d.extra_kinds
                          FROM datasets d ORDER BY d.created, d.name""")
        return [{"dataset": n, "formats": f.split(",") if f else [], "created": cr, "rows": r, "quarantined": q,
                 "duplicates": du, "files": nf, "columns": list(orjson.loads(ek or "{}"))}
                for n, f, cr, r, q, du, nf, ek in rows]

    def files(self, dataset: str | None = None) -> list[dict]:
        cols = ["dataset", "path", "sha256", "size", "format", "rows", "quarantined", "imported", "seconds"]
        sql = f"SELECT {', '.join(cols)} FROM files" + (" WHERE dataset = ?" if dataset else "") + " ORDER BY imported"
        return [dict(zip(cols, r)) for r in self._q(sql, [dataset] if dataset else [])]

    def extra_kinds(self) -> dict:
        """Extra (non-core) columns over all datasets -> kind (int/float/bool/text/nested)."""
        v = self.version
        if self._extra_cache and self._extra_cache[0] == v:
            return self._extra_cache[1]
        kinds: dict = {}
        for (ek,) in self._q("SELECT extra_kinds FROM datasets"):
            for k, kind in orjson.loads(ek or "{}").items():
                kinds[k] = merge_kind(kinds.get(k), kind)
        self._extra_cache = (v, kinds)
        return kinds

    def _text_ids(self, text_flt: Filter) -> str:
        """Name of a registered Arrow table holding the ids that match a text filter (search, contains,
        regex). Text conditions scan every string; the table, three facets and the plots of one filter
        would scan them again and again, so the matching ids are computed once per store version."""
        key = (self.version, orjson.dumps(text_flt.to_dict()).decode())
        with self._id_lock:
            name = self._id_keys.get(key)
            if name:
                return name
        where, params = text_flt.to_sql(self.extra_kinds())
        with self._cur() as c:
            ids = pa.table({"id": c.execute(f"SELECT id FROM rows WHERE {where}", params).fetchnumpy()["id"]})
        with self._id_lock:
            self._id_seq += 1
            name = f"_sift_ids_{self._id_seq}"
            self._id_keys[key] = name
            self._id_tables[name] = ids
            while len(self._id_keys) > 32:  # keep the 32 most recent filters
                old = next(iter(self._id_keys))
                self._id_tables.pop(self._id_keys.pop(old), None)
        return name

    def _where(self, flt: Filter | None, dataset: str | None = None) -> tuple[str, list]:
        flt = flt or Filter()
        text = tuple(c for c in flt.conds if c.op in ("contains", "regex"))
        if (text or flt.search) and self._big():
            name = self._text_ids(Filter(text, flt.search))
            rest = Filter(tuple(c for c in flt.conds if c not in text), "", flt.ids)
            where, params = rest.to_sql(self.extra_kinds())
            where = f"({where}) AND id IN (SELECT id FROM {name})"
        else:
            where, params = flt.to_sql(self.extra_kinds())
        if dataset:
            where, params = f"({where}) AND dataset = ?", params + [dataset]
        return where, params

    def _run_user(self, fn, flt: Filter | None = None):
        """Run a user-driven query; turn engine errors into a clear message without SQL."""
        regex = any(c.op == "regex" for c in (flt.conds if flt else ()))
        try:
            return fn()
        except FilterError:
            raise
        except duckdb.InvalidInputException as e:
            msg = str(e).split("\n")[0]
            if regex:
                raise FilterError("invalid regular expression: " + msg.split(": ", 1)[-1][:200]) from None
            raise FilterError("a filter value could not be used: " + msg.split(": ", 1)[-1][:200]) from None
        except duckdb.Error as e:
            raise FilterError("the filter could not be run (" + type(e).__name__ + ")") from None

    def count(self, flt: Filter | None = None, dataset: str | None = None) -> int:
        where, params = self._where(flt, dataset)
        return self._run_user(lambda: int(self._q(f"SELECT count(*) FROM rows WHERE {where}", params)[0][0]), flt)

    def rows(self, flt: Filter | None = None, dataset: str | None = None, limit: int = 50, offset: int = 0,
             columns: list[str] | None = None, order: str = "id"):
        """A page of rows as a DataFrame (columns from the whitelist only)."""
        cols = [c for c in (columns or LIST_COLUMNS) if c in ROW_COLUMNS]
        if order.lstrip("-") not in ROW_COLUMNS:
            raise FilterError(f"cannot sort by {order!r}")
        ob = f'"{order.lstrip("-")}" {"DESC" if order.startswith("-") else "ASC"}, id'
        where, params = self._where(flt, dataset)
        sql = (f"SELECT {', '.join(chr(34) + c + chr(34) for c in cols)} FROM rows WHERE {where} "
               f"ORDER BY {ob} LIMIT ? OFFSET ?")
        return self._run_user(lambda: self._df(sql, params + [int(limit), int(offset)]), flt)

    def row(self, row_id: int) -> dict | None:
        cols = list(ROW_COLUMNS)
        r = self._q(f"SELECT {', '.join(chr(34) + c + chr(34) for c in cols)} FROM rows WHERE id = ?", [int(row_id)])
        if not r:
            return None
        d = dict(zip(cols, r[0]))
        d["extra"] = orjson.loads(d["extra"]) if d["extra"] else {}
        return d

    def iter_rows(self, flt: Filter | None = None, dataset: str | None = None, batch: int = 10_000,
                  columns: list[str] | None = None):
        """Yield lists of row dicts in id order, keyset-paginated so memory stays bounded."""
        cols = [c for c in (columns or list(ROW_COLUMNS)) if c in ROW_COLUMNS]
        if "id" not in cols:
            cols = ["id"] + cols
        where, params = self._where(flt, dataset)
        last = -1
        sel = ", ".join(chr(34) + c + chr(34) for c in cols)
        while True:
            got = self._run_user(lambda: self._q(
                f"SELECT {sel} FROM rows WHERE ({where}) AND id > ? ORDER BY id LIMIT ?", params + [last, batch]), flt)
            if not got:
                return
            yield [dict(zip(cols, r)) for r in got]
            last = got[-1][cols.index("id")]

    def facet(self, column: str, flt: Filter | None = None, dataset: str | None = None, limit: int = 20):
        """[(value, count)] of a column (core or extra) under the filter, most frequent first."""
        expr, eparams = self._column_expr(column)
        where, params = self._where(flt, dataset)
        sql = (f"SELECT {expr} AS v, count(*) AS n FROM rows WHERE {where} GROUP BY v "
               f"ORDER BY n DESC, v NULLS LAST LIMIT ?")
        return self._run_user(lambda: self._q(sql, eparams + params + [int(limit)]), flt)

    def distinct_estimate(self, column: str, dataset: str | None = None) -> int:
        expr, eparams = self._column_expr(column)
        where, params = self._where(None, dataset)
        # sample only the one column (not whole rows with their texts) and estimate its distinct values
        return self._run_user(lambda: int(self._q(
            f"SELECT approx_count_distinct(v) FROM (SELECT {expr} AS v FROM rows WHERE {where} "
            f"USING SAMPLE 20000 ROWS)", eparams + params)[0][0] or 0))

    def _column_expr(self, column: str) -> tuple[str, list]:
        from core.filters import column_kind, json_pointer
        kind, is_extra = column_kind(column, self.extra_kinds())
        if is_extra:
            key = column[len("extra."):] if column.startswith("extra.") else column
            return "json_extract_string(extra, ?)", [json_pointer(key)]
        return f'"{column}"', []

    def histogram(self, column: str, flt: Filter | None = None, dataset: str | None = None, bins: int = 40):
        """Histogram of a numeric column computed in SQL: [(bin_start, bin_end, count)]."""
        expr, eparams = self._column_expr(column)
        expr = f"TRY_CAST({expr} AS DOUBLE)"
        where, params = self._where(flt, dataset)
        lo_hi = self._run_user(lambda: self._q(
            f"SELECT min({expr}), quantile_cont({expr}, 0.99), max({expr}) FROM rows WHERE {where}",
            eparams * 3 + params), flt)[0]
        if lo_hi[0] is None:
            return []
        lo, hi = float(lo_hi[0]), float(max(lo_hi[1], lo_hi[0] + 1))
        width = (hi - lo) / bins or 1.0
        sql = (f"SELECT least(floor(({expr} - ?) / ?), ?) AS b, count(*) FROM rows WHERE {where} "
               f"AND {expr} IS NOT NULL GROUP BY b ORDER BY b")
        got = self._run_user(lambda: self._q(sql, eparams + [lo, width, bins - 1] + params + eparams), flt)
        return [(lo + b * width, lo + (b + 1) * width if b < bins - 1 else float(lo_hi[2]), n) for b, n in got]

    def stats(self, flt: Filter | None = None, dataset: str | None = None) -> dict:
        where, params = self._where(flt, dataset)
        r = self._run_user(lambda: self._q(
            f"""SELECT count(*), count(DISTINCT dataset), sum(CASE WHEN is_duplicate THEN 1 ELSE 0 END),
                       avg(n_turns), median(instruction_chars), median(response_chars), sum(n_tokens)
                FROM rows WHERE {where}""", params), flt)[0]
        keys = ["rows", "datasets", "duplicates", "avg_turns", "median_instruction_chars",
                "median_response_chars", "tokens"]
        return {k: (v if v is not None else 0) for k, v in zip(keys, r)}

    def quarantine(self, dataset: str | None = None, limit: int | None = None):
        sql = "SELECT dataset, file, line, field, reason, raw FROM quarantine" + (
            " WHERE dataset = ?" if dataset else "") + " ORDER BY dataset, file, line" + (
            " LIMIT ?" if limit else "")
        params = ([dataset] if dataset else []) + ([int(limit)] if limit else [])
        return self._df(sql, params)

    def quarantine_summary(self, dataset: str | None = None) -> list[tuple]:
        sql = "SELECT dataset, reason, count(*) FROM quarantine" + (" WHERE dataset = ?" if dataset else "") + \
              " GROUP BY dataset, reason ORDER BY count(*) DESC"
        return self._q(sql, [dataset] if dataset else [])

    # ------------------------------------------------------------------ runs (Step bookkeeping)
    def start_run(self, step: str, params: dict) -> int:
        with self._lock, self._cur() as c:
            rid = int(c.execute("SELECT coalesce(max(id), 0) + 1 FROM runs").fetchone()[0])
            c.execute("INSERT INTO runs VALUES (?, ?, ?, 'running', ?, NULL, 0, NULL)",
                      [rid, step, orjson.dumps(params).decode(), now()])
            return rid

    def finish_run(self, rid: int, status: str, rows: int, note: str = ""):
        with self._lock, self._cur() as c:
            c.execute("UPDATE runs SET status = ?, finished = ?, rows = ?, note = ? WHERE id = ?",
                      [status, now(), int(rows), note, rid])

    def runs(self):
        return self._df("SELECT * FROM runs ORDER BY id DESC")


class _FileWriter:
    """Writes one file's rows inside the Store's open transaction (see Store.file_import)."""
    COMMIT_ROWS = int(os.environ.get("SIFT_COMMIT_ROWS", "122880"))  # one DuckDB row group: committing whole row groups keeps scans and compression good

    def __init__(self, store: Store, cur, dataset: str):
        self.store, self.cur, self.dataset = store, cur, dataset
        self.rows = 0
        self.quarantined = 0
        self.extra_kinds: dict = {}
        self.formats: set = set()
        self.file_meta: dict | None = None
        self._quarantine: list = []
        self._uncommitted = 0

    def add_rows(self, table: pa.Table):
        self.cur.register("_batch", table)
        cols = ", ".join(f'"{c}"' for c in table.column_names)
        self.cur.execute(f"INSERT INTO rows ({cols}) SELECT {cols} FROM _batch")
        self.cur.unregister("_batch")
        self.rows += table.num_rows
        self._uncommitted += table.num_rows
        if self._uncommitted >= self.COMMIT_ROWS:  # bounded memory; file_import undoes the rows if the file fails
            self.cur.execute("COMMIT")
            self.cur.execute("BEGIN TRANSACTION")
            self._uncommitted = 0

    def add_quarantine(self, entries: list[tuple]):
        """entries: (file, line, field, reason, raw); written with the file's final commit."""
        self._quarantine.extend((self.dataset, f, int(ln), fld, reason, (raw or "")[:4000])
                                for f, ln, fld, reason, raw in entries)
        self.quarantined += len(entries)

    def set_file(self, path: str, sha256: str, size: int, fmt: str, seconds: float):
        self.file_meta = dict(path=path, sha256=sha256, size=size, format=fmt, seconds=seconds)
        if fmt:
            self.formats.add(fmt)

    def merge_kinds(self, kinds: dict):
        for k, v in kinds.items():
            self.extra_kinds[k] = merge_kind(self.extra_kinds.get(k), v)

    def finish(self):
        c, m = self.cur, self.file_meta
        if m is None:
            raise StoreError("internal: file import finished without file metadata")
        if self._quarantine:
            c.executemany("INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?)", self._quarantine)
        c.execute("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  [self.dataset, m["path"], m["sha256"], m["size"], m["format"], self.rows, self.quarantined,
                   now(), m["seconds"]])
        old = c.execute("SELECT formats, extra_kinds FROM datasets WHERE name = ?", [self.dataset]).fetchone()
        if old:
            formats = set(filter(None, (old[0] or "").split(","))) | self.formats
            kinds = orjson.loads(old[1] or "{}")
            for k, v in self.extra_kinds.items():
                kinds[k] = merge_kind(kinds.get(k), v)
            c.execute("UPDATE datasets SET formats = ?, extra_kinds = ? WHERE name = ?",
                      [",".join(sorted(formats)), orjson.dumps(kinds).decode(), self.dataset])
        else:
            c.execute("INSERT INTO datasets VALUES (?, ?, ?, ?)",
                      [self.dataset, now(), ",".join(sorted(self.formats)), orjson.dumps(self.extra_kinds).decode()])
