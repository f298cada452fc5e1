"""The compiled token counter behind core.tokcount (numba): one call counts a whole batch.

Input: texts already BERT-normalised (core.tokcount.bert_normalise) or plain ASCII, as UTF-8 bytes.
Each character is classed by a table over the Basic Multilingual Plane: word character, whitespace,
a character that is a token of its own (punctuation, CJK ideograph), or one that is dropped (ASCII
control characters). A word's WordPiece count comes from a hash table of packed words (compared byte
for byte) that starts with the vocabulary's word-start entries (one token each) and remembers every
word counted since; a new word walks a byte trie of the vocabulary, greedy longest match first,
exactly as core.tokcount._pieces does. Importing this module imports numba (ImportError
without it); compiled code is cached on disk (NUMBA_CACHE_DIR, as core.steps sets it).
"""
from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "sift" / "numba"))

import numba  # noqa: E402
import numpy as np  # noqa: E402

WORD, SPACE, SINGLE, DROP = 0, 1, 2, 3
_LOCK = threading.Lock()
EMPTY = -1
WHOLE_MAX = 24  # bytes of a word packed into three int64 for the word table
TABLES_VERSION = 2  # bump when _build_tables changes
MEMO_SLOTS = 1 << 18  # word table: the vocabulary's word-start entries, then words counted so far (≤ half full)


@lru_cache(maxsize=1)
def tables():
    """(char classes uint8[65536], word table int64[n, 4] (packed word bytes, length | count << 8), its fill
    count, trie edges int64[m], trie accept bool[], max word chars). Trie node 0 is the root for word starts,
    node 1 for continuations ('##' pieces). Built once per machine (core.arraycache)."""
    from core.arraycache import cached, file_key
    from core.tokcount import tokenizer_path
    t = cached("wordpiece", f"{TABLES_VERSION} {file_key(tokenizer_path())}", _build_tables)
    return t["cls"], t["table"], t["fill"], t["trie"], t["accept"], int(t["limit"])


def _build_tables() -> dict:
    from core.tokcount import _CJK, unicode_classes, wordpiece_vocab
    ctrl, mn, punct = unicode_classes()
    cls = np.zeros(0x10000, dtype=np.uint8)
    for cp in range(0x10000):
        if chr(cp).isspace():
            cls[cp] = SPACE
    cls[[ord(c) for c in punct]] = SINGLE
    for lo, hi in re_ranges(_CJK):
        cls[lo:hi + 1] = SINGLE
    cls[[ord(c) for c in ctrl]] = DROP  # after normalising only ASCII ones are left; dropped as BERT does
    vocab, limit = wordpiece_vocab()
    children: list[dict] = [{}, {}]
    accept = [False, False]
    for w in vocab:
        node, b = (1, w[2:].encode()) if w.startswith("##") else (0, w.encode())
        for byte in b:
            nxt = children[node].get(byte)
            if nxt is None:
                nxt = children[node][byte] = len(children)
                children.append({})
                accept.append(False)
            node = nxt
        accept[node] = True
    # trie edges (node, byte) -> child, hashed (open addressing): key << 32 | child
    edges = [(node * 256 + byte, nxt) for node, ch in enumerate(children) for byte, nxt in ch.items()]
    trie = np.full(1 << max(10, (2 * len(edges)).bit_length()), EMPTY, dtype=np.int64)
    _fill_trie(trie, np.array([k for k, _ in edges], dtype=np.int64), np.array([v for _, v in edges], dtype=np.int64))
    # whole words: every word-start entry short enough to pack
    whole = [w.encode() for w in vocab if not w.startswith("##") and len(w.encode()) <= WHOLE_MAX]
    packed = np.zeros((len(whole), 4), dtype=np.int64)
    for i, b in enumerate(whole):
        buf = b.ljust(WHOLE_MAX, b"\0")
        packed[i, :3] = np.frombuffer(buf, dtype="<i8")
        packed[i, 3] = len(b) | 1 << 8
    table = np.full((MEMO_SLOTS, 4), 0, dtype=np.int64)
    table[:, 3] = EMPTY
    _fill_whole(table, packed)
    fill = np.array([len(whole)], dtype=np.int64)
    return {"cls": cls, "table": table, "fill": fill, "trie": trie, "accept": np.asarray(accept, dtype=np.bool_),
            "limit": np.array(limit)}


def re_ranges(spec: str):
    """[(lo, hi)] code point ranges of a regex class body like 'a-zA-Z'."""
    out, i = [], 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            out.append((ord(spec[i]), ord(spec[i + 2])))
            i += 3
        else:
            out.append((ord(spec[i]), ord(spec[i])))
            i += 1
    return out


def count(ascii_texts: list[str], other: list[str]) -> list[int]:
    """Token counts of ASCII texts, then of other BMP texts (BERT-normalised), in that order."""
    cls, table, fill, trie, accept, limit = tables()
    # the batch as one buffer; each text's range takes the newline after it (whitespace: no token)
    enc = [t.encode("utf-8") for t in other]
    data = ("\n".join(ascii_texts) + "\n").encode("ascii") + b"".join(e + b"\n" for e in enc)
    lens = np.fromiter(map(len, ascii_texts), dtype=np.int64, count=len(ascii_texts))
    if enc:
        lens = np.concatenate([lens, np.fromiter(map(len, enc), dtype=np.int64, count=len(enc))])
    offsets = np.zeros(lens.size + 1, dtype=np.int64)
    np.cumsum(lens + 1, out=offsets[1:])
    out = np.zeros(lens.size, dtype=np.int32)
    with _LOCK:  # the word table is shared by the threads of a process
        _count(np.frombuffer(data, dtype=np.uint8), offsets, cls, table, fill, trie, accept, limit, out)
    return out.tolist()


# ------------------------------------------------------------------ compiled parts

@numba.njit(cache=True, inline="always")
def _edge_slot(key, mask):
    return ((key * 2654435761) & 0xFFFFFFFF) & mask


@numba.njit(cache=True)
def _fill_trie(trie, keys, vals):
    mask = trie.size - 1
    for i in range(keys.size):
        h = _edge_slot(keys[i], mask)
        while trie[h] != EMPTY:
            h = (h + 1) & mask
        trie[h] = (keys[i] << 32) | vals[i]


@numba.njit(cache=True, inline="always")
def _child(node, byte, trie):
    key = node * 256 + byte
    mask = trie.size - 1
    h = _edge_slot(key, mask)
    while True:
        e = trie[h]
        if e == EMPTY:
            return -1
        if (e >> 32) == key:
            return e & 0xFFFFFFFF
        h = (h + 1) & mask


@numba.njit(cache=True, inline="always")
def _whole_slot(w0, w1, w2, n, mask):
    h = (w0 * -7046029254386353131) ^ (w1 * -4417276706812531889) ^ (w2 * 1609587929392839161) ^ n
    h ^= h >> 29
    return (h * -7723592293110705685 >> 32) & mask


@numba.njit(cache=True)
def _fill_whole(table, packed):
    mask = table.shape[0] - 1
    for i in range(packed.shape[0]):
        h = _whole_slot(packed[i, 0], packed[i, 1], packed[i, 2], packed[i, 3] & 0xFF, mask)
        while table[h, 3] != EMPTY:
            h = (h + 1) & mask
        for j in range(4):
            table[h, j] = packed[i, j]


@numba.njit(cache=True, inline="always")
def _lookup(w0, w1, w2, n, table):
    """(slot, count): count 0 when the word is not in the table (slot is then where it would go)."""
    mask = table.shape[0] - 1
    h = _whole_slot(w0, w1, w2, n, mask)
    while True:
        m = table[h, 3]
        if m == EMPTY:
            return h, 0
        if (m & 0xFF) == n and table[h, 0] == w0 and table[h, 1] == w1 and table[h, 2] == w2:
            return h, m >> 8
        h = (h + 1) & mask


@numba.njit(cache=True)
def _pieces(word, n, trie, accept):
    """WordPiece count of word[:n] (greedy longest match; 1 for a word that cannot be covered)."""
    pos, count, root = 0, 0, 0
    while pos < n:
        node, best, i = root, -1, pos
        while i < n:
            node = _child(node, word[i], trie)
            if node < 0:
                break
            i += 1
            if accept[node]:
                best = i
        if best < 0:
            return 1
        count += 1
        pos, root = best, 1
    return count


@numba.njit(cache=True, inline="always")
def _word(word, wn, wc, w0, w1, w2, table, fill, trie, accept, limit):
    if wc > limit:
        return 1
    if wn > WHOLE_MAX:
        return _pieces(word, wn, trie, accept)
    h, n = _lookup(w0, w1, w2, wn, table)
    if n == 0:
        n = _pieces(word, wn, trie, accept)
        if 2 * fill[0] < table.shape[0]:  # remember it
            table[h, 0], table[h, 1], table[h, 2], table[h, 3] = w0, w1, w2, wn | n << 8
            fill[0] += 1
    return n


@numba.njit(cache=True, nogil=True)
def _count(data, offsets, cls, table, fill, trie, accept, limit, out):
    word = np.empty(max(1, np.max(np.diff(offsets))), dtype=np.uint8)  # the longest word fits
    for r in range(offsets.size - 1):
        i, end = offsets[r], offsets[r + 1]
        total, wn, wc = 0, 0, 0  # tokens, word bytes, word chars
        w0, w1, w2 = np.int64(0), np.int64(0), np.int64(0)
        while i < end:
            b = np.int64(data[i])
            if b < 0x80:
                c, size = cls[b], 1
            elif b < 0xE0:
                c, size = cls[((b & 0x1F) << 6) | (data[i + 1] & 0x3F)], 2
            else:
                c, size = cls[((b & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)], 3
            if c == WORD:
                if size == 1:
                    x = b + 32 if 65 <= b <= 90 else b
                    word[wn] = x
                    if wn < 8:
                        w0 |= x << (8 * wn)
                    elif wn < 16:
                        w1 |= x << (8 * (wn - 8))
                    elif wn < 24:
                        w2 |= x << (8 * (wn - 16))
                    wn += 1
                else:
                    for j in range(size):
                        x = np.int64(data[i + j])
                        word[wn] = x
                        if wn < 8:
                            w0 |= x << (8 * wn)
                        elif wn < 16:
                            w1 |= x << (8 * (wn - 8))
                        elif wn < 24:
                            w2 |= x << (8 * (wn - 16))
                        wn += 1
                wc += 1
            elif c != DROP:
                if wn:
                    total += _word(word, wn, wc, w0, w1, w2, table, fill, trie, accept, limit)
                    wn, wc = 0, 0
                    w0, w1, w2 = np.int64(0), np.int64(0), np.int64(0)
                if c == SINGLE:
                    total += 1
            i += size
        if wn:
            total += _word(word, wn, wc, w0, w1, w2, table, fill, trie, accept, limit)
        out[r] = total
