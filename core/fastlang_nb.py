"""The compiled language identifier behind core.fastlang (numba): py3langid's model and arithmetic.

For each text: walk py3langid's byte DFA, collect the features it emits and count each one; its
score for each class is the sum of log1p(count) times the feature's row of class weights, in
increasing feature order and in float32 (the same sums as core.fastlang's sparse product), plus the
class prior; the first best class wins.

Two things make it fast. The DFA walk is a chain of dependent loads from big tables, so LANES texts
are walked together, their chains interleaved. And the weight rows are read once per block of texts,
in feature order, each added to every text of the block that has the feature: a text still gets its
terms in increasing feature order, so the float32 sums are bit for bit the same. Importing this
module imports numba (ImportError without it); compiled code is cached on disk.
"""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "sift" / "numba"))

import numba  # noqa: E402
import numpy as np  # noqa: E402

LANES = 8  # texts walked together
BLOCK = 1024  # texts whose scores are accumulated together


def classify(encoded: list[bytes], model) -> np.ndarray:
    """Index of the best class for each encoded text (core.fastlang._encode), -1 for a text without
    features."""
    _, _, _, ptc, pc, _ = model
    step = _steps(model)
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    longest = int(np.max(np.diff(offsets))) if encoded else 0
    log1p = np.log1p(np.arange(longest + 2, dtype=np.float32))  # numpy's float32 log1p, as fastlang uses
    res = np.empty(len(encoded), dtype=np.int32)
    _classify(data, offsets, step, int(model[1][0]), ptc, pc, log1p, res)
    return res


_STEPS: list = []


def _steps(model) -> np.ndarray:
    """py3langid's DFA as one table indexed by (row of the current state) * 256 + byte: the next state's
    row << 32 | the feature the next state emits (-1: none, kept in the low 32 bits). One load a byte.
    The walk starts at state 0's row."""
    if not _STEPS:
        from importlib.metadata import version

        import py3langid.langid as L

        from core.arraycache import cached, file_key
        nm, rowbase, out = model[:3]
        key = f"py3langid {version('py3langid')} {file_key(L.MODEL_DIR / L.MODEL_FILE)}"
        _STEPS.append(cached("langid-steps", key, lambda: {
            "steps": (rowbase[nm].astype(np.int64) << 32) | (out[nm].astype(np.int64) & 0xFFFFFFFF)})["steps"])
    return _STEPS[0]


@numba.njit(cache=True, nogil=True)
def _walk(data, offsets, lo, hi, step, start, feats, fstart):
    """Features of texts lo..hi-1 into feats, text t's at feats[fstart[t - lo]:fstart[t - lo + 1]]
    (fstart holds each text's start offset into data relative to offsets[lo]: a text of n bytes emits
    at most n features)."""
    base = offsets[lo]
    for t in range(lo, hi + 1):
        fstart[t - lo] = offsets[t] - base
    count = np.zeros(hi - lo, dtype=np.int64)
    pos = np.zeros(LANES, dtype=np.int64)
    end = np.zeros(LANES, dtype=np.int64)
    row = np.zeros(LANES, dtype=np.int64)
    text = np.full(LANES, -1, dtype=np.int64)
    nxt = lo
    active = 0
    for lane in range(LANES):
        if nxt < hi:
            text[lane], pos[lane], end[lane], row[lane] = nxt, offsets[nxt], offsets[nxt + 1], start
            nxt += 1
            active += 1
    while active:
        for lane in range(LANES):
            t = text[lane]
            if t < 0:
                continue
            if pos[lane] < end[lane]:
                e = step[row[lane] + data[pos[lane]]]
                row[lane] = e >> 32
                f = np.int32(e & 0xFFFFFFFF)
                if f >= 0:
                    feats[fstart[t - lo] + count[t - lo]] = f
                    count[t - lo] += 1
                pos[lane] += 1
            else:
                if nxt < hi:
                    text[lane], pos[lane], end[lane], row[lane] = nxt, offsets[nxt], offsets[nxt + 1], start
                    nxt += 1
                else:
                    text[lane] = -1
                    active -= 1
    return count


@numba.njit(cache=True, nogil=True)
def _classify(data, offsets, step, start, ptc, pc, log1p, res):
    n = offsets.size - 1
    ncls, nfeat = ptc.shape[1], ptc.shape[0]
    bucket = np.zeros(nfeat + 1, dtype=np.int64)
    seen = np.zeros(nfeat, dtype=np.int64)  # (last text that emitted the feature + 1) << 32 | its term
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        feats = np.empty(max(1, offsets[hi] - offsets[lo]), dtype=np.int32)
        fstart = np.empty(hi - lo + 1, dtype=np.int64)
        count = _walk(data, offsets, lo, hi, step, start, feats, fstart)
        # each text's distinct features with their weights: (feature, text, weight) terms
        tf = np.empty(feats.size, dtype=np.int32)
        tt = np.empty(feats.size, dtype=np.int32)
        tw = np.empty(feats.size, dtype=np.float32)
        m = 0
        for t in range(hi - lo):
            first = m
            mark = (lo + t + 1) << 32
            for j in range(fstart[t], fstart[t] + count[t]):
                f = feats[j]
                e = seen[f]
                if e >> 32 != lo + t + 1:  # first time in this text
                    seen[f] = mark | m
                    tf[m], tt[m], tw[m] = f, t, 1
                    m += 1
                else:
                    tw[e & 0xFFFFFFFF] += 1
            for i in range(first, m):
                tw[i] = log1p[int(tw[i])]
        # terms in feature order (counting sort), then one pass over the weight rows
        bucket[:] = 0
        for i in range(m):
            bucket[tf[i] + 1] += 1
        for f in range(nfeat):
            bucket[f + 1] += bucket[f]
        order = np.empty(m, dtype=np.int64)
        for i in range(m):
            order[bucket[tf[i]]] = i
            bucket[tf[i]] += 1
        acc = np.zeros((hi - lo, ncls), dtype=np.float32)
        for i in order:  # (no array views in these loops: each would cost a reference count)
            f, t, w = tf[i], tt[i], tw[i]
            for c in range(ncls):
                acc[t, c] += w * ptc[f, c]
        for t in range(hi - lo):
            if count[t] == 0:
                res[lo + t] = -1
                continue
            best, top = 0, acc[t, 0] + pc[0]
            for c in range(1, ncls):
                v = acc[t, c] + pc[c]
                if v > top:
                    best, top = c, v
            res[lo + t] = best
