"""Store, writing side: one file's atomic import, rollback of a killed import, duplicate flags."""
from __future__ import annotations

import contextlib
import os

import orjson
import pyarrow as pa

from core.store.base import StoreError, merge_kind, now


class ImportsMixin:
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


class _FileWriter:
    """Writes one file's rows inside the Store's open transaction (see file_import)."""
    COMMIT_ROWS = int(os.environ.get("SIFT_COMMIT_ROWS", "122880"))  # one DuckDB row group: committing whole row groups keeps scans and compression good

    def __init__(self, store, cur, dataset: str):
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
