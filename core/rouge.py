"""ROUGE-L and the Self-Instruct filter (pure functions; the filter's inner loop is compiled with numba).

ROUGE-L F of texts a and b (tokens: core.textnorm.word_tokens, no stemming): with L the length of the
longest common subsequence of the two token lists, P = L/|a|, R = L/|b|, F = 2PR/(P+R) = 2L/(|a|+|b|),
0 when either text has no tokens. This is rouge_score's ``rougeL`` F-measure with use_stemmer=False, except
that tokens are Unicode-aware (rouge_score keeps only [a-z0-9], so non-Latin text scores 0 there).

``rouge_filter`` walks the rows in ``order`` and keeps a row only if its ROUGE-L F against every row kept
so far is < threshold (so F = threshold drops it; Self-Instruct's own script drops at F > 0.7). It is exact (the same keep mask as
comparing with every kept row) but prunes candidates first:
- length: F <= 2 min(m, n)/(m + n), so F >= t needs min/max >= t/(2 - t);
- overlap: L <= |a ∩ b| (multiset), so F >= t needs the token overlap >= t(m + n)/2 >= t m/(2 - t);
- prefix filtering (as in set-similarity joins, AllPairs/PPJoin): tokens (each occurrence its own item:
  "the#1", "the#2") are ordered rarest first; two rows whose overlap must reach their thresholds share an
  item among the first m - ceil(t m/(2 - t)) + 1 of each row's ordered items, so only kept rows that share
  such a "prefix" item with the new row (an inverted index over the kept rows' prefixes) are candidates;
- on each candidate, before anything else: the positional bound (at the first shared prefix item, at
  positions i and j, overlap <= min(m - i, n - j)) and a 128-bit set per row (a bit in a's set and not in
  b's stands for an item of a missing from b, so overlap <= m - popcount(a & ~b)); then the exact overlap
  by merging the two sorted item lists.
Candidates passing all bounds get a bit-parallel LCS (Hyyrö's: O(n ceil(m/64)) word operations). Cost:
O(total tokens) to index, plus per row a sequential scan of the postings of its prefix items (O(1) each)
and the merges/LCS of the few that pass the bounds; worst case (rows sharing frequent items) O(rows x kept)
cheap checks, measured on Alpaca in bench/dedup.py (52k instructions: ~30M postings scanned, ~13k merges,
at most ~5k LCS). The dropped row's ``matched`` is the earliest kept row (in walk order) whose F reaches the
threshold.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "sift" / "numba"))

import numba  # noqa: E402
import numpy as np  # noqa: E402

from core.textnorm import word_tokens  # noqa: E402

U = np.uint64
ONE, ZERO, ALL = U(1), U(0), U(0xFFFFFFFFFFFFFFFF)
EPS = 1e-9


class RougeFilter(NamedTuple):
    """keep[i]: row i survives; matched[i]: the kept row that dropped it (-1 when kept); scores[i]: that
    ROUGE-L F (0 when kept)."""
    keep: np.ndarray
    matched: np.ndarray
    scores: np.ndarray


def lcs_length(a: list, b: list) -> int:
    """Longest common subsequence length (plain dynamic programming; the reference for the fast path)."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F-measure of two texts (symmetric)."""
    ta, tb = word_tokens(a), word_tokens(b)
    if not ta or not tb:
        return 0.0
    return 2.0 * lcs_length(ta, tb) / (len(ta) + len(tb))


def _encode(texts: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """(offsets, token ids int32, vocabulary size)."""
    vocab: dict[str, int] = {}
    ids: list[int] = []
    offs = np.zeros(len(texts) + 1, np.int64)
    for i, t in enumerate(texts):
        ids.extend([vocab.setdefault(w, len(vocab)) for w in word_tokens(t or "")])
        offs[i + 1] = len(ids)
    return offs, np.asarray(ids, dtype=np.int32), len(vocab)


@numba.njit(cache=True)
def _occurrences(offs, ids, vocab):
    """occ[p]: how many times ids[p] occurred earlier in the same row."""
    seen = np.zeros(max(vocab, 1), np.int64)
    occ = np.empty(ids.size, np.int64)
    for i in range(offs.size - 1):
        for p in range(offs[i], offs[i + 1]):
            occ[p] = seen[ids[p]]
            seen[ids[p]] += 1
        for p in range(offs[i], offs[i + 1]):
            seen[ids[p]] = 0
    return occ


def _ranks(offs: np.ndarray, ids: np.ndarray, vocab: int) -> tuple[np.ndarray, int]:
    """Per row, its items (token, occurrence) as global ranks (rarest first, by document frequency), sorted
    ascending within the row; plus the number of distinct items."""
    if ids.size == 0:
        return np.empty(0, np.int64), 0
    keys = ids.astype(np.int64) << 24 | np.minimum(_occurrences(offs, ids, vocab), (1 << 24) - 1)
    uniq, item = np.unique(keys, return_inverse=True)
    df = np.bincount(item)
    by_rarity = np.lexsort((np.arange(uniq.size), df))
    rank_of = np.empty(uniq.size, np.int64)
    rank_of[by_rarity] = np.arange(uniq.size)
    ranks = rank_of[item]
    row = np.repeat(np.arange(offs.size - 1), np.diff(offs))
    return ranks[np.lexsort((ranks, row))], uniq.size


@numba.njit(cache=True, inline="always")
def _min_overlap(thr, m):
    """ceil(thr m / (2 - thr)), at least 1: the overlap any partner of a row of m tokens needs."""
    t = math.ceil(thr * m / (2.0 - thr) - EPS)
    return max(1, min(m, t))


@numba.njit(cache=True, inline="always")
def _overlap(ranks, s1, e1, s2, e2):
    """Size of the intersection of two ascending rank lists."""
    i, j, c = s1, s2, 0
    while i < e1 and j < e2:
        if ranks[i] == ranks[j]:
            c += 1
            i += 1
            j += 1
        elif ranks[i] < ranks[j]:
            i += 1
        else:
            j += 1
    return c


@numba.njit(cache=True, inline="always")
def _popcount(x):
    x = x - ((x >> U(1)) & U(0x5555555555555555))
    x = (x & U(0x3333333333333333)) + ((x >> U(2)) & U(0x3333333333333333))
    x = (x + (x >> U(4))) & U(0x0F0F0F0F0F0F0F0F)
    return (x * U(0x0101010101010101)) >> U(56)


@numba.njit(cache=True)
def _bitsets(offs, ranks):
    """A 128-bit set per row: bit (rank * odd constant) >> 57 of each item. A bit in row a's set and not in
    row b's stands for at least one item of a missing from b, so overlap(a, b) <= |a| - popcount(a & ~b)."""
    out = np.zeros((offs.size - 1, 2), np.uint64)
    for i in range(offs.size - 1):
        for p in range(offs[i], offs[i + 1]):
            h = (U(ranks[p]) * U(0x9E3779B97F4A7C15)) >> U(57)
            out[i, h >> U(6)] |= ONE << (h & U(63))
    return out


@numba.njit(cache=True, inline="always")
def _lcs(masks, slot, ids, s, e, m, v):
    """LCS length of the row whose match masks are ``masks`` (slot[token] -> mask row, -1 absent; m tokens)
    and ids[s:e] (bit-parallel, Hyyrö 2004: V' = (V + (V & M)) | (V & ~M); LCS = zero bits of V)."""
    words = masks.shape[1]
    v[:words] = ALL
    for p in range(s, e):
        k = slot[ids[p]]
        if k < 0:
            continue
        carry = ZERO
        for w in range(words):
            mw = masks[k, w]
            vw = v[w]
            s1 = vw + (vw & mw)
            c1 = s1 < vw
            s2 = s1 + carry
            carry = ONE if (c1 or s2 < s1) else ZERO
            v[w] = s2 | (vw & ~mw)
    ones = 0
    for w in range(words):
        x = v[w]
        bits = min(64, m - 64 * w)
        if bits < 64:
            x &= (ONE << U(bits)) - ONE
        while x:
            x &= x - ONE
            ones += 1
    return m - ones


@numba.njit(cache=True, nogil=True)
def _walk(order, offs, ids, ranks, vocab, n_items, thr, keep, matched, scores):
    n = order.size
    bits = _bitsets(offs, ranks)
    # postings: one contiguous run per item, sized by how many rows hold it in their prefix; each posting
    # carries what the cheap filters read (row, item position, row length, bit set), so scans are sequential
    start = np.zeros(max(n_items, 1) + 1, np.int64)
    for r in range(n):
        m = offs[r + 1] - offs[r]
        if m > 0:
            for i in range(m - _min_overlap(thr, m) + 1):
                start[ranks[offs[r] + i] + 1] += 1
    for t in range(start.size - 1):
        start[t + 1] += start[t]
    fill = start[:-1].copy()
    total = max(start[-1], 1)
    pdoc = np.empty(total, np.int32)
    ppos = np.empty(total, np.int32)
    plen = np.empty(total, np.int32)
    pbits = np.empty((total, 2), np.uint64)
    stamp = np.full(n, -1, np.int64)
    kept_at = np.full(n, -1, np.int64)
    cand = np.empty(n, np.int64)
    slot = np.full(max(vocab, 1), -1, np.int64)
    longest = 1
    for r in range(n):
        longest = max(longest, offs[r + 1] - offs[r])
    words = (longest + 63) // 64
    masks = np.zeros((longest, words), np.uint64)
    v = np.empty(words, np.uint64)
    lo_ratio = thr / (2.0 - thr)
    for step in range(n):
        x = order[step]
        s, e = offs[x], offs[x + 1]
        m = e - s
        hit = -1
        best = 0.0
        if m > 0:
            nc = 0
            bx0, bx1 = bits[x, 0], bits[x, 1]
            for i in range(m - _min_overlap(thr, m) + 1):  # x's prefix, rarest items first
                item = ranks[s + i]
                for q in range(start[item], fill[item]):
                    ny = plen[q]
                    if ny < lo_ratio * m - EPS or m < lo_ratio * ny - EPS:  # length bound
                        continue
                    need = math.ceil(thr * (m + ny) / 2.0 - EPS)
                    if min(m - i, ny - ppos[q]) < need:  # positional bound (exact at the first shared item)
                        continue
                    only_x = _popcount(bx0 & ~pbits[q, 0]) + _popcount(bx1 & ~pbits[q, 1])
                    only_y = _popcount(pbits[q, 0] & ~bx0) + _popcount(pbits[q, 1] & ~bx1)
                    if min(m - np.int64(only_x), ny - np.int64(only_y)) < need:  # bit-set bound
                        continue
                    d = pdoc[q]
                    if stamp[d] == step:  # seen at an earlier (first) shared item: already decided
                        continue
                    stamp[d] = step
                    if _overlap(ranks, s + i, e, offs[d] + ppos[q], offs[d + 1]) >= need:
                        cand[nc] = d
                        nc += 1
            if nc:
                c = cand[:nc][np.argsort(kept_at[cand[:nc]])]
                xw = (m + 63) // 64
                k = 0
                for p in range(s, e):  # match masks of x, one row per distinct token
                    if slot[ids[p]] < 0:
                        slot[ids[p]] = k
                        masks[k, :xw] = ZERO
                        k += 1
                    j = p - s
                    masks[slot[ids[p]], j // 64] |= ONE << U(j % 64)
                for y in c:
                    ny = offs[y + 1] - offs[y]
                    f = 2.0 * _lcs(masks[:, :xw], slot, ids, offs[y], offs[y + 1], m, v) / (m + ny)
                    if f >= thr - EPS:
                        hit, best = y, f
                        break
                for p in range(s, e):
                    slot[ids[p]] = -1
        if hit >= 0:
            keep[x] = False
            matched[x] = hit
            scores[x] = best
            continue
        keep[x] = True
        kept_at[x] = step
        for i in range(m - _min_overlap(thr, m) + 1 if m > 0 else 0):
            item = ranks[s + i]
            q = fill[item]
            fill[item] += 1
            pdoc[q] = x
            ppos[q] = i
            plen[q] = m
            pbits[q, 0] = bits[x, 0]
            pbits[q, 1] = bits[x, 1]


def rouge_filter(texts: list[str], threshold: float = 0.7, order=None) -> RougeFilter:
    """Self-Instruct filter: walk rows in ``order`` (a permutation of row positions; default row order) and
    keep a row only if its ROUGE-L F against every already kept row is < threshold. Rows without tokens are
    always kept."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError("threshold must be in (0, 1]")
    n = len(texts)
    walk = np.arange(n, dtype=np.int64) if order is None else np.asarray(order, dtype=np.int64)
    if walk.shape != (n,) or not np.array_equal(np.sort(walk), np.arange(n)):
        raise ValueError("order must be a permutation of the row positions")
    offs, ids, vocab = _encode(texts)
    ranks, n_items = _ranks(offs, ids, vocab)
    keep = np.ones(n, bool)
    matched = np.full(n, -1, np.int64)
    scores = np.zeros(n, np.float32)
    if n:
        _walk(walk, offs, ids, ranks, vocab, n_items, float(threshold), keep, matched, scores)
    return RougeFilter(keep, matched, scores)
