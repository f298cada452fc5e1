"""Compiled kernels of core.dedup (numba): MinHash signatures, LSH band keys, bucket verification and
union-find. Importing this module imports numba; compiled code is cached on disk (NUMBA_CACHE_DIR).

MinHash follows datasketch 2.x's default "affine32" scheme bit for bit: a shingle's 32-bit hash ``h`` is
pre-mixed with the MurmurHash3 32-bit finalizer, then permutation k is ``a_k * h + b_k mod 2**32`` (a_k odd,
drawn by ``datasketch.MinHash._init_permutations``); a signature is the per-permutation minimum. Only the
shingle hash differs from datasketch (FNV-1a over code points / word hashes + splitmix64 instead of SHA-1),
so ``datasketch.MinHash(hashfunc=lambda v: v).update_batch(shingle_hashes(...))`` gives the same values.

Texts arrive as UTF-32 code points (uint32) with row offsets. Units: in word mode a word is a run of word
characters (core.textnorm classes) hashed with FNV-1a over its lower-cased code points, and each CJK
character is a word of its own; in char mode the units are the lower-cased characters with every run of
separators (whitespace, punctuation, symbols) collapsed to one space. A shingle is ``k`` consecutive units; a
row with fewer than ``k`` units has one shingle of all its units; a row with none has no shingles.
"""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "sift" / "numba"))

import numba  # noqa: E402
import numpy as np  # noqa: E402

U = np.uint64
FNV_OFF, FNV_PRIME, M32 = U(0xCBF29CE484222325), U(0x100000001B3), U(0xFFFFFFFF)
SM1, SM2 = U(0xBF58476D1CE4E5B9), U(0x94D049BB133111EB)
FM1, FM2 = U(0x85EBCA6B), U(0xC2B2AE35)
S13, S16, S27, S30, S31 = U(13), U(16), U(27), U(30), U(31)
SPACE = U(32)
MAX32 = np.uint32(0xFFFFFFFF)


@numba.njit(cache=True, inline="always")
def _mix64(h):
    """splitmix64 finaliser."""
    h = (h ^ (h >> S30)) * SM1
    h = (h ^ (h >> S27)) * SM2
    return h ^ (h >> S31)


@numba.njit(cache=True, inline="always")
def _fmix32(h):
    """MurmurHash3 32-bit finalizer of a value < 2**32 (held in uint64)."""
    h = h ^ (h >> S16)
    h = (h * FM1) & M32
    h = h ^ (h >> S13)
    h = (h * FM2) & M32
    return h ^ (h >> S16)


@numba.njit(cache=True, inline="always")
def _units(cps, s, e, cls, low, char_mode, out) -> int:
    """Units of code points cps[s:e] into ``out`` (see the module docstring); returns their number."""
    n = 0
    if char_mode:
        gap = False
        for p in range(s, e):
            c = cps[p]
            if cls[c] == 0:
                gap = n > 0
            else:
                if gap:
                    out[n] = SPACE
                    n += 1
                    gap = False
                out[n] = U(low[c])
                n += 1
        return n
    h = FNV_OFF
    inword = False
    for p in range(s, e):
        c = cps[p]
        k = cls[c]
        if k == 1:
            if not inword:
                h = FNV_OFF
                inword = True
            h = (h ^ U(low[c])) * FNV_PRIME
        else:
            if inword:
                out[n] = h
                n += 1
                inword = False
            if k == 2:
                out[n] = (FNV_OFF ^ U(c)) * FNV_PRIME
                n += 1
    if inword:
        out[n] = h
        n += 1
    return n


@numba.njit(cache=True, inline="always")
def _shingle(units, j, k, n):
    """32-bit hash of units[j:min(j + k, n)]."""
    h = FNV_OFF
    for t in range(j, min(j + k, n)):
        h = (h ^ units[t]) * FNV_PRIME
    return _mix64(h) & M32


@numba.njit(cache=True, nogil=True)
def shingle_hashes(cps, cls, low, k, char_mode):
    """The 32-bit shingle hashes of one text (before the MurmurHash pre-mix), in order."""
    units = np.empty(cps.size + 1, np.uint64)
    m = _units(cps, 0, cps.size, cls, low, char_mode, units)
    if m == 0:
        return np.empty(0, np.uint64)
    ns = max(1, m - k + 1)
    out = np.empty(ns, np.uint64)
    for j in range(ns):
        out[j] = _shingle(units, j, k, m)
    return out


@numba.njit(cache=True, nogil=True)
def signatures(cps, offs, cls, low, k, char_mode, a, b, sig, nsh):
    """MinHash signature of each row r (code points cps[offs[r]:offs[r + 1]]) into sig[r] (uint32, one
    column per permutation, 0xFFFFFFFF where a row has no shingle) and its shingle count into nsh[r]."""
    n = offs.size - 1
    perms = a.size
    longest = 0
    for i in range(n):
        longest = max(longest, offs[i + 1] - offs[i])
    units = np.empty(longest + 1, np.uint64)
    cur = np.empty(perms, np.uint32)
    for i in range(n):
        m = _units(cps, offs[i], offs[i + 1], cls, low, char_mode, units)
        cur[:] = MAX32
        ns = max(1, m - k + 1) if m else 0
        for j in range(ns):
            hv = np.uint32(_fmix32(_shingle(units, j, k, m)))
            for q in range(perms):
                cur[q] = min(cur[q], np.uint32(a[q] * hv + b[q]))
        sig[i, :] = cur
        nsh[i] = ns


@numba.njit(cache=True, nogil=True)
def band_keys(sig, bands, rows):
    """keys[j, i]: a 64-bit hash of row i's signature values in band j (columns j*rows .. (j+1)*rows - 1)."""
    n = sig.shape[0]
    keys = np.empty((bands, n), np.uint64)
    for i in range(n):
        for j in range(bands):
            h = FNV_OFF ^ U(j)
            for q in range(j * rows, (j + 1) * rows):
                h = (h ^ U(sig[i, q])) * FNV_PRIME
            keys[j, i] = _mix64(h)
    return keys


@numba.njit(cache=True, inline="always")
def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(cache=True, inline="always")
def _union(parent, rx, ry):
    """Join two roots; the smaller row index becomes the root (so a group's root is its first row)."""
    if rx < ry:
        parent[ry] = rx
    else:
        parent[rx] = ry


@numba.njit(cache=True, nogil=True)
def link_buckets(keys_sorted, order, sig, min_equal, parent, eu, ev, es, ne):
    """Verify one band's buckets (runs of equal keys in ``keys_sorted``; ``order`` holds their rows, ascending
    within a run) and join verified rows in ``parent`` (union-find).

    Leader scheme per bucket: rows are taken in order; a row is compared with every leader of the bucket
    that is not already in its group, and joined to each whose signature agrees on at least ``min_equal``
    of the permutations (estimated Jaccard >= threshold); a row linked to no leader becomes a leader.
    Each join that merges two groups is recorded as an evidence edge (eu, ev, es = estimated Jaccard) at
    index ne[0]. Cost: sum over buckets of size x leaders signature comparisons."""
    n = order.size
    perms = sig.shape[1]
    leaders = np.empty(max(n, 1), np.int64)
    i = 0
    while i < n:
        j = i + 1
        while j < n and keys_sorted[j] == keys_sorted[i]:
            j += 1
        if j - i >= 2:
            nl = 0
            for t in range(i, j):
                x = order[t]
                linked = False
                for li in range(nl):
                    y = leaders[li]
                    rx = _find(parent, x)
                    ry = _find(parent, y)
                    if rx == ry:
                        linked = True
                        continue
                    eq = 0
                    for q in range(perms):
                        eq += sig[x, q] == sig[y, q]
                    if eq >= min_equal:
                        _union(parent, rx, ry)
                        eu[ne[0]] = y
                        ev[ne[0]] = x
                        es[ne[0]] = eq / perms
                        ne[0] += 1
                        linked = True
                if not linked:
                    leaders[nl] = x
                    nl += 1
        i = j


@numba.njit(cache=True, nogil=True)
def union_edges(parent, us, vs, ws, eu, ev, es, ne):
    """Join the rows of each edge (us[i], vs[i]); record the edges that merged two groups (as above)."""
    for i in range(us.size):
        rx = _find(parent, us[i])
        ry = _find(parent, vs[i])
        if rx != ry:
            _union(parent, rx, ry)
            eu[ne[0]] = us[i]
            ev[ne[0]] = vs[i]
            es[ne[0]] = ws[i]
            ne[0] += 1


@numba.njit(cache=True, nogil=True)
def roots(parent):
    """The root (first row) of every row's group."""
    out = np.empty(parent.size, np.int64)
    for i in range(parent.size):
        out[i] = _find(parent, i)
    return out
