"""Store, text index: a word-level inverted index over ``instruction`` and ``response`` that answers the
case-insensitive ``contains`` and the free-text search without scanning the texts.

A *token* is a maximal run of the characters that RE2's ``(?i)`` folds onto ASCII letters and digits — ASCII
letters and digits plus U+017F (long s, folds with s) and U+212A (Kelvin sign, folds with k); no other code
point folds onto one of them (checked over all of Unicode) — written folded: ASCII lowercase, ſ as s, K as k.
So for a query made only of such characters, ``regexp_matches(text, icontains_pattern(q))`` holds exactly when
``text`` has a token that contains ``fold(q)``: the matching rows are the postings of the vocabulary entries
containing ``fold(q)``, with nothing to verify. A query with other characters is split into its runs; the rows
having every run (in either column) are candidates, and the exact pattern is run on those rows only. A query
with no such run, or whose runs are too frequent to be worth it, is answered by the scan as before.

Tables (no version bump: no answer changes): ``tx_post(col, tok, id)`` sorted by (col, tok, id), so a token's
postings are contiguous and the zone maps skip the rest; ``tx_vocab`` one row: the tokens ``\n``-joined in id
order and their document frequencies per column; ``tx_info`` one row: the fingerprint of the rows the index was
built from and the build statistics. The index is used only while the rows' fingerprint equals it, so an import
or a deletion retires it until the next build (``Store.build_text_index``, ``python -m core index``, or in the
background on the first text filter where ``auto_text_index`` is set, as the app does).
"""
from __future__ import annotations

import re
import threading
import time

import numpy as np
import pyarrow as pa

from core.filters import Filter, column_kind
from core.store.base import StoreError, now

TEXT_COLUMNS = ("instruction", "response")
# bytes that are part of a token, folded (A-Z -> a-z); every other byte becomes 0, a separator
FOLD = bytes((c | 0x20 if 65 <= c <= 90 else c) if chr(c).isascii() and chr(c).isalnum() else 0 for c in range(256))
SPECIAL = ((b"\xc5\xbf", b"s"), (b"\xe2\x84\xaa", b"k"))  # ſ U+017F, K U+212A (UTF-8) and what they fold to
# a lookup costs about 30 times more per posting than the scan per posting-worth of text: the index answers a
# query only when it reads at most this share of the postings of the columns it searches (the rarest run)
MAX_SHARE = 0.03
MIN_BUDGET = 50_000  # postings any lookup may read (a few milliseconds)
TOKEN_COST = 2  # a matching token costs about as much as this many postings
RARITY = {b: i for i, b in enumerate(b"etaoinsrhldcumfpgwybvk0123456789xjqz")}  # English letters, then the rest
POST_SLICE = 4_000_000  # postings written per INSERT
# what the index was built from: the row count, and a hash of every row's id and text lengths and of the files
# imported (rows change only by importing or deleting files; an import after a deletion adds a files row with a
# new time even where it reuses the deleted ids)
FINGERPRINT_SQL = """SELECT (SELECT count(*) FROM rows),
    hash((SELECT coalesce(bit_xor(hash(id, instruction_chars, response_chars)), 0) FROM rows),
         (SELECT coalesce(bit_xor(hash(dataset, path, sha256, imported, rows)), 0) FROM files))"""


def fold_special(buf: bytes, offsets: np.ndarray | None = None) -> tuple[bytes, np.ndarray | None]:
    """Replace ſ and K by s and k in UTF-8 ``buf``; shift string ``offsets`` into ``buf`` accordingly."""
    for seq, ch in SPECIAL:
        if seq in buf:
            if offsets is not None:
                pos = np.fromiter((m.start() for m in re.finditer(re.escape(seq), buf)), np.int64)
                offsets = offsets - (len(seq) - len(ch)) * np.searchsorted(pos, offsets, "left")
            buf = buf.replace(seq, ch)
    return buf, offsets


def query_parts(text: str) -> tuple[list[bytes], bool]:
    """The folded token runs of a ``contains`` value, and whether the value is exactly one run (then the index
    answer is exact). No runs: the index cannot help."""
    try:
        buf = fold_special(str(text).encode("utf-8"))[0].translate(FOLD)
    except UnicodeEncodeError:  # a lone surrogate: leave it to the scan
        return [], False
    parts = [p for p in buf.split(b"\0") if p]
    return parts, len(parts) == 1 and len(parts[0]) == len(buf)


def tokenize(arr: pa.Array) -> tuple[np.ndarray, pa.BinaryArray]:
    """Tokens of a string array (no nulls): (number of tokens of each string, the tokens in order)."""
    if pa.types.is_string_view(arr.type) or pa.types.is_binary_view(arr.type):
        arr = arr.cast(pa.large_string())
    wide = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    size = 8 if wide else 4
    offs = np.frombuffer(arr.buffers()[1], np.int64 if wide else np.int32, len(arr) + 1,
                         arr.offset * size).astype(np.int64)
    lo, hi = int(offs[0]), int(offs[-1])
    data = arr.buffers()[2]
    buf = data.to_pybytes()[lo:hi] if data is not None and hi > lo else b""
    offs = offs - lo
    if not buf.isascii():
        buf, offs = fold_special(buf, offs)
    t = np.frombuffer(buf.translate(FOLD), np.uint8)
    n = len(t)
    inside = np.zeros(n + 1, bool)  # inside[i]: byte i is part of a token; prev[i]: byte i - 1 is
    np.not_equal(t, 0, out=inside[:n])
    prev = np.zeros(n + 1, bool)
    prev[1:] = inside[:n]
    starts, ends = inside & ~prev, prev & ~inside
    rs = offs[1:-1]
    cut = rs[inside[rs] & prev[rs]]  # a string boundary inside a run of token bytes splits it
    starts[cut] = ends[cut] = True
    starts, ends = np.flatnonzero(starts), np.flatnonzero(ends)
    lens = np.zeros(len(starts) + 1, np.int32)
    np.cumsum(ends - starts, out=lens[1:])
    chars = t[inside[:n]]
    toks = pa.BinaryArray.from_buffers(pa.binary(), len(starts), [None, pa.py_buffer(lens), pa.py_buffer(chars)])
    return np.diff(np.searchsorted(starts, offs, "left")), toks


def posting_keys(ids: np.ndarray, arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """A batch's distinct (token, row) pairs: its tokens (a dictionary) and ``token index << 32 | row id``."""
    per_row, toks = tokenize(arr)
    enc = toks.dictionary_encode()
    keys = enc.indices.to_numpy().astype(np.uint64) << np.uint64(32)
    keys |= np.repeat(ids.astype(np.uint64), per_row)
    return enc.dictionary, _distinct(keys)


def _distinct(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (np.unique is far slower on large arrays here)."""
    a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if a.size else a


class _Vocab:
    """The vocabulary of one built index, in memory: tokens as one ``\\n``-joined byte array, df per column."""

    def __init__(self, blob: bytes, df: bytes):
        self.blob = np.frombuffer(blob, np.uint8)
        self.starts = np.concatenate(([0], np.flatnonzero(self.blob == 10) + 1)).astype(np.int64)
        self.df = np.frombuffer(df, np.int32).reshape(2, -1)

    def tokens_containing(self, part: bytes) -> np.ndarray:
        """Ids of the tokens that contain ``part`` (folded token bytes)."""
        n, b = len(part), self.blob
        j = max(range(n), key=lambda k: RARITY[part[k]])  # anchor on the rarest byte: fewest places to check
        pos = np.flatnonzero(b == part[j]) - j
        pos = pos[(pos >= 0) & (pos + n <= len(b))]
        for k in range(n):
            if k != j:
                pos = pos[b[pos + k] == part[k]]
        tok = np.searchsorted(self.starts, pos, "right") - 1  # the separator never matches, so no straddling
        return tok[np.concatenate(([True], tok[1:] != tok[:-1]))] if tok.size else tok


class TextIndexMixin:
    auto_text_index = False  # the app sets it: the first text filter on a large workspace starts a build
    text_index_error: str | None = None  # why the last background build failed, if it did

    # ------------------------------------------------------------------ building
    def build_text_index(self, batch: int = 50_000) -> dict:
        """Build (or rebuild) the text index from the rows as they are now; returns its statistics.
        The texts are read in one snapshot; the postings go to a staging table in slices (bounded memory) and
        replace the old index in one transaction, so readers see the old index or the new, never a mix."""
        if self._tx_read_only():
            raise StoreError("the workspace is open read-only; the text index cannot be built")
        with self.__dict__.setdefault("_tx_building", threading.Lock()):
            t0, c0 = time.perf_counter(), time.process_time()
            with self._cur() as c:
                c.execute("BEGIN TRANSACTION")
                try:
                    n_rows, fp, chunks = self._tx_read(c, batch)
                finally:
                    c.execute("ROLLBACK")  # nothing was written: the transaction only held the snapshot
                n_tok, n_post, vocab_blob, df = self._tx_stage(c, chunks)
                info = {"rows": int(n_rows), "tokens": n_tok, "postings": n_post, "built": now(),
                        "seconds": round(time.perf_counter() - t0, 2),
                        "cpu_seconds": round(time.process_time() - c0, 2)}
                with self._lock:
                    c.execute("BEGIN TRANSACTION")
                    c.execute("DROP TABLE IF EXISTS tx_post")
                    c.execute("ALTER TABLE tx_post_new RENAME TO tx_post")
                    c.execute("CREATE OR REPLACE TABLE tx_vocab AS SELECT ?::BLOB AS tokens, ?::BLOB AS df",
                              [vocab_blob, df])
                    c.execute("""CREATE OR REPLACE TABLE tx_info AS SELECT ?::UBIGINT AS fingerprint,
                                 ?::BIGINT AS rows, ?::BIGINT AS tokens, ?::BIGINT AS postings, ?::VARCHAR AS built,
                                 ?::DOUBLE AS seconds, ?::DOUBLE AS cpu_seconds""", [fp] + list(info.values()))
                    c.execute("COMMIT")
            self._tx_cache = None
            return info

    @staticmethod
    def _tx_read(c, batch: int) -> tuple[int, int, tuple[list, list]]:
        """(row count, fingerprint, per column the (tokens, keys) of each batch) from one snapshot."""
        n_rows, fp = c.execute(FINGERPRINT_SQL).fetchall()[0]
        lo, hi = c.execute("SELECT min(id), max(id) FROM rows").fetchall()[0]
        if lo is not None and (lo < 0 or hi >= 1 << 32):
            raise StoreError("the text index needs row ids between 0 and 2^32")
        chunks: tuple[list, list] = ([], [])
        reader = c.sql("SELECT id, coalesce(instruction, ''), coalesce(response, '') FROM rows").to_arrow_reader(batch)
        for b in reader:
            ids = b.column(0).to_numpy()
            for col in (0, 1):
                chunks[col].append(posting_keys(ids, b.column(col + 1)))
        return n_rows, fp, chunks

    @staticmethod
    def _tx_stage(c, chunks: tuple[list, list]) -> tuple[int, int, bytes, bytes]:
        """Write the postings, sorted by (col, tok, id), to ``tx_post_new``; (tokens, postings, vocabulary, df)."""
        # one vocabulary: the batches' tokens encoded together; each batch's token indices map into it
        enc = pa.chunked_array([d for ch in chunks for d, _ in ch], pa.binary()).combine_chunks().dictionary_encode()
        gids = enc.indices.to_numpy().astype(np.uint64)
        n_tok = len(enc.dictionary)
        c.execute("CREATE OR REPLACE TABLE tx_post_new (col UTINYINT, tok INTEGER, id BIGINT)")
        df = np.zeros((2, n_tok), np.int64)
        at, n_post, low, shift = 0, 0, np.uint64(0xFFFFFFFF), np.uint64(32)
        for col in (0, 1):
            k = np.empty(sum(len(x) for _, x in chunks[col]), np.uint64)
            pos = 0
            while chunks[col]:
                d, x = chunks[col].pop(0)
                k[pos:pos + len(x)] = (gids[at:at + len(d)][x >> shift] << shift) | (x & low)
                pos, at = pos + len(x), at + len(d)
            k.sort()  # batches are disjoint in ids, so the keys stay distinct
            for s in range(0, len(k), POST_SLICE):
                part = k[s:s + POST_SLICE]
                tok = (part >> shift).astype(np.int32)
                df[col] += np.bincount(tok, minlength=n_tok)
                c.register("_tx_slice", pa.table({"col": pa.array(np.full(len(part), col, np.uint8)),
                                                  "tok": pa.array(tok), "id": pa.array((part & low).astype(np.int64))}))
                c.execute("INSERT INTO tx_post_new SELECT * FROM _tx_slice")
                c.unregister("_tx_slice")
            n_post += len(k)
            del k
        return n_tok, n_post, b"\n".join(enc.dictionary.to_pylist()), df.astype(np.int32).tobytes()

    def ensure_text_index(self, wait: bool = False) -> bool:
        """Whether a current index exists; if not, build it — in a background thread unless ``wait`` (one at a
        time; after a failed background build, not again until the rows change)."""
        if self._tx_current() is not None:
            return True
        if self._tx_read_only():
            return False
        if wait:
            self.build_text_index()
            return True
        with self.__dict__.setdefault("_tx_start", threading.Lock()):
            t = getattr(self, "_tx_thread", None)
            if (t is None or not t.is_alive()) and getattr(self, "_tx_failed", None) != self.version:
                self._tx_thread = threading.Thread(target=self._tx_background, name="sift-text-index", daemon=True)
                self._tx_thread.start()
        return False

    def _tx_background(self):
        v = self.version
        try:
            self.build_text_index()
            self.text_index_error = None
        except Exception as e:  # e.g. the store was closed meanwhile
            self.text_index_error, self._tx_failed = f"{type(e).__name__}: {e}", v

    def drop_text_index(self):
        with self._lock, self._cur() as c:
            c.execute("BEGIN TRANSACTION")
            for t in ("tx_info", "tx_vocab", "tx_post", "tx_post_new"):
                c.execute(f"DROP TABLE IF EXISTS {t}")
            c.execute("COMMIT")
        self._tx_cache = None

    def text_index_info(self) -> dict | None:
        """Statistics of the stored index (None when there is none) and whether it matches the rows now."""
        got = self._tx_info()
        if got is None:
            return None
        keys = ["fingerprint", "rows", "tokens", "postings", "built", "seconds", "cpu_seconds"]
        info = dict(zip(keys, got))
        info["current"] = self._tx_current() is not None
        info["building"] = bool(getattr(self, "_tx_thread", None) and self._tx_thread.is_alive())
        info.pop("fingerprint")
        blocks = self._q("SELECT count(DISTINCT block_id) FROM pragma_storage_info('tx_post') WHERE block_id >= 0")
        size = self._q("SELECT block_size FROM pragma_database_size()")
        vocab = self._q("SELECT octet_length(tokens) + octet_length(df) FROM tx_vocab")[0][0]
        info["disk_mb"] = round((blocks[0][0] * size[0][0] + vocab) / 1e6, 1)  # postings blocks + vocabulary
        return info

    # ------------------------------------------------------------------ reading
    def _tx_read_only(self) -> bool:
        return self._q("SELECT current_setting('access_mode')")[0][0] == "read_only"

    def _tx_info(self):
        if not self._q("SELECT 1 FROM duckdb_tables() WHERE table_name = 'tx_info' AND schema_name = 'main'"):
            return None
        got = self._q("SELECT * FROM tx_info")
        return got[0] if got else None

    def _tx_current(self) -> _Vocab | None:
        """The vocabulary of the stored index if it was built from the rows as they are now (cached per version)."""
        v = self.version
        cache = getattr(self, "_tx_cache", None)
        if cache and cache[0] == v:
            return cache[1]
        info = self._tx_info()
        vocab = None
        if info is not None and tuple(self._q(FINGERPRINT_SQL)[0]) == (info[1], info[0]):
            loaded = getattr(self, "_tx_loaded", None)  # the same build stays loaded across versions
            if loaded and loaded[0] == info:
                vocab = loaded[1]
            else:
                vocab = _Vocab(*self._q("SELECT tokens, df FROM tx_vocab")[0])
                self._tx_loaded = (info, vocab)
        self._tx_cache = (v, vocab)
        return vocab

    def _tx_lookup(self, vocab: _Vocab, text: str, cols: tuple) -> tuple[np.ndarray, bool] | None:
        """(row ids, exact) for a ``contains`` of ``text`` in any of ``cols`` (0 instruction, 1 response); the ids
        are a superset to verify unless exact. None: the scan is the better way."""
        parts, exact = query_parts(text)
        if not parts:
            return None
        found = []
        for p in set(parts):
            toks = vocab.tokens_containing(p)
            found.append((int(vocab.df[list(cols)][:, toks].sum()) + TOKEN_COST * len(toks), toks))
        found.sort(key=lambda f: f[0])
        budget = max(MIN_BUDGET, MAX_SHARE * int(vocab.df[list(cols)].sum()))
        if found[0][0] > budget:
            return None
        ids = self._tx_postings(found[0][1], cols)
        for cost, toks in found[1:]:  # a further run only while it is cheap next to verifying the candidates
            if cost > 2 * len(ids):
                break
            ids = np.intersect1d(ids, self._tx_postings(toks, cols), assume_unique=True)
        return ids, exact

    def _tx_postings(self, toks: np.ndarray, cols: tuple) -> np.ndarray:
        """Distinct sorted ids of the rows having one of the tokens ``toks`` in one of ``cols``."""
        with self._cur() as c:
            c.register("_tx_toks", pa.table({"tok": toks.astype(np.int32)}))
            col = " AND col = ?" if len(cols) == 1 else ""  # both columns: no condition on col
            got = c.execute(f"SELECT id FROM tx_post WHERE tok IN (SELECT tok FROM _tx_toks){col}",
                            list(cols[:1]) if col else []).fetchnumpy()["id"]
        return _distinct(np.asarray(got, np.int64))

    def _text_index_ids(self, text_flt: Filter) -> np.ndarray | None:
        """Ids of the rows matching a text filter (contains / regex conditions and search), answered with the
        index where it can (see the module docstring); None when there is no current index or it cannot help."""
        vocab = self._tx_current()
        if vocab is None:
            if self.auto_text_index:
                self.ensure_text_index()
            return None
        sets, residual = [], []
        for cond in text_flt.conds:
            got = None
            if cond.op == "contains" and cond.column in TEXT_COLUMNS and cond.value is not None:
                got = self._tx_lookup(vocab, str(cond.value), (TEXT_COLUMNS.index(cond.column),))
            if got is None or not got[1]:
                residual.append(cond)
            if got is not None:
                sets.append(got[0])
        search = text_flt.search
        if search:
            got = self._tx_lookup(vocab, search, (0, 1))
            if got is not None:
                sets.append(got[0])
                search = "" if got[1] else search
        if not sets:
            return None
        ids = sets[0]
        for s in sets[1:]:
            ids = np.intersect1d(ids, s, assume_unique=True)
        if residual or search:  # run even on no candidates: a bad value (an invalid regex) fails as in the scan
            where, params = Filter(tuple(residual), search).to_sql(self.extra_kinds())
            need = {"id"} | ({"instruction", "response"} if search else set())
            for cond in residual:  # the columns the exact conditions read (names from the whitelist)
                need.add("extra" if column_kind(cond.column, self.extra_kinds())[1] else cond.column)
            cols = ", ".join(f'"{n}"' for n in sorted(need))
            with self._cur() as c:  # the candidates' rows first (materialised), then the exact conditions on them
                c.register("_tx_cand", pa.table({"id": ids.astype(np.int64)}))
                ids = c.execute(f"WITH cand AS MATERIALIZED (SELECT {cols} FROM rows WHERE id IN "
                                f"(SELECT id FROM _tx_cand)) SELECT id FROM cand WHERE {where}",
                                params).fetchnumpy()["id"]
        return np.asarray(ids, np.int64)

