"""Store, base: the connection, the schema, the version and the plumbing of every query.

All values reach SQL as parameters. The connection is locked down after opening: no external file
access (imports are parsed in Python, exports written by Python) and a locked configuration, so a
filter can never read or write files or change settings.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import threading
from pathlib import Path

import duckdb

from core.rows import ROW_COLUMNS, STEP_COLUMNS, TAG_COLUMNS

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
    """CREATE TABLE IF NOT EXISTS spaces (id INTEGER, model VARCHAR, recipe VARCHAR, dim INTEGER, created VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS clusters (cluster INTEGER, label VARCHAR, name VARCHAR, size BIGINT,
           keywords VARCHAR, reps VARCHAR)""",
    # tagging (see tags.py): sources, per-hash results and raw tags, normalisation map, vocabulary edits,
    # manual per-row tags and the append-only event log
    """CREATE TABLE IF NOT EXISTS tag_sources (origin VARCHAR, version VARCHAR, enabled BOOLEAN, created VARCHAR,
           params VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS tag_done (origin VARCHAR, version VARCHAR, hash VARCHAR, status VARCHAR, raw VARCHAR,
           prompt_tokens INTEGER, completion_tokens INTEGER, time VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS tag_raw (origin VARCHAR, version VARCHAR, hash VARCHAR, tag VARCHAR, confidence FLOAT,
           explanation VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS tag_map (raw VARCHAR, tag VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS tag_override (tag_from VARCHAR, tag_to VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS tag_manual (id BIGINT, tag VARCHAR, op VARCHAR, time VARCHAR)""",
    # curation: named Selections (ordered row ids + the recipe that produced them)
    """CREATE TABLE IF NOT EXISTS selections (name VARCHAR, created VARCHAR, n BIGINT, recipe VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS selection_rows (name VARCHAR, pos BIGINT, id BIGINT)""",
    """CREATE TABLE IF NOT EXISTS tag_events (seq BIGINT, time VARCHAR, op VARCHAR, summary VARCHAR, undo VARCHAR,
           ref BIGINT)""",
]
LIST_COLUMNS = ["id", "dataset", "format", "file", "line", "instruction", "response", "n_turns", "n_messages",
                "roles", "instruction_chars", "response_chars", "total_chars", "n_tokens", "language", "hash",
                "is_duplicate", "dup_count", "cluster", "cluster_label", "x", "y", "tags", "raw_tags", "dup_group", "dup_keep",
                "contaminated"]
ALL_COLUMNS = {**ROW_COLUMNS, **STEP_COLUMNS, **TAG_COLUMNS}
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


class StoreBase:
    """Connection, schema, version and the plumbing every part of the Store uses."""
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
            for k, typ in {**STEP_COLUMNS, **TAG_COLUMNS}.items():  # Step columns (older workspaces lack them)
                self._con.execute(f'ALTER TABLE rows ADD COLUMN IF NOT EXISTS "{k}" {typ}')
            # a run still marked running when the workspace opens was killed (only one process can open it)
            killed_tag = self._con.execute("SELECT count(*) FROM runs WHERE status = 'running' AND step = 'tag'"
                                           ).fetchall()[0][0]
            self._con.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
            if killed_tag:  # a tagging run killed mid-way may have results whose rows were not refreshed yet
                with self._con.cursor() as c:
                    c.execute("BEGIN TRANSACTION")
                    self._refresh(c)
                    c.execute("COMMIT")
            with self._con.cursor() as c:  # an import killed mid-file left rows behind: remove them
                self.recovered_rows = self._undo_import(c)
        # bounded memory: DuckDB spills past this (imports of a million rows stay within a few GB in all)
        self._con.execute("SET memory_limit = ?", [os.environ.get("SIFT_DUCKDB_MEMORY", "1GB")])
        self._con.execute("SET preserve_insertion_order = true")
        # strings compressed with zstd: measured on 1M Alpaca rows (2 cores) a 54 s import and a 0.97 GB file,
        # against 67 s and 1.25 GB with DuckDB's default (dictionary/FSST), with the same query times
        # (p50 40 ms, p95 161 ms with the text index). SIFT_COMPRESSION=auto restores DuckDB's own choice.
        comp = os.environ.get("SIFT_COMPRESSION", "zstd")
        if comp != "auto":
            self._con.execute("SET force_compression = ?", [comp])
        self._con.execute("SET enable_external_access = false")
        self._con.execute("SET lock_configuration = true")
        self._extra_cache: tuple[int, dict] | None = None
        self._id_keys: dict = {}  # (version, text filter) -> registered table name
        self._id_tables: dict = {}  # name -> Arrow table of ids
        self._id_seq = 0
        self._id_lock = threading.Lock()  # not the write lock: reads must not wait for an import
        self._big_cache: tuple[int, int] | None = None
        self._tag_dirty: set = set()  # content hashes whose tag results await a rows refresh (see tags.py)

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

    def _q_numpy(self, sql: str, params=None) -> dict:
        with self._cursor_for(sql) as c:
            return c.execute(sql, params or []).fetchnumpy()

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

