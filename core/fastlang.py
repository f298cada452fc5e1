"""Batched, vectorised py3langid: the same model and the same answer as ``py3langid.classify``,
computed for many texts at once with numpy (the DFA walk runs over all texts in lock-step).

py3langid walks a byte-level DFA in Python, ~200-400 us per text; a million rows would spend
minutes there. Here one numpy step advances every text by one byte; where numba is installed, big
batches go through the compiled walk of core.fastlang_nb instead (same sums, same answers). Results
are checked against ``py3langid.classify`` in tests/test_rows.py.
"""
from __future__ import annotations

import os
import unicodedata
from functools import lru_cache

import numpy as np

FAST_MIN = 512  # batches from this size use the compiled walk (when numba is installed)


@lru_cache(maxsize=1)
def _model():
    """(DFA next-move table, row bases, feature per state, class weights, class priors, class labels) of
    py3langid's model, from the array cache (decompressing the model takes a second per process)."""
    from importlib.metadata import version

    import py3langid.langid as L

    def build():
        ident = L._get_identifier()
        return {
            "nm": np.frombuffer(ident.tk_nextmove, dtype=np.dtype(ident.tk_nextmove.typecode)).astype(np.int32),
            "rowbase": np.asarray(ident._rowbase, dtype=np.int32), "out": np.asarray(ident.tk_output, dtype=np.int32),
            "ptc": np.asarray(ident.nb_ptc, dtype=np.float32), "pc": np.asarray(ident.nb_pc, dtype=np.float32),
            "classes": np.asarray(list(ident.nb_classes)),
        }

    from core.arraycache import cached, file_key
    key = f"py3langid {version('py3langid')} {file_key(L.MODEL_DIR / L.MODEL_FILE)}"
    m = cached("langid", key, build)
    return m["nm"], m["rowbase"], m["out"], m["ptc"], m["pc"], [str(c) for c in m["classes"]]


def _encode(text: str) -> bytes:
    """As py3langid's LanguageIdentifier._encode for str input."""
    if text.isupper():
        text = text.lower()
    return unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")


@lru_cache(maxsize=1)
def compiled():
    """core.fastlang_nb, or None where numba is not installed (or does not work here)."""
    try:
        from core import fastlang_nb
        fastlang_nb.classify([_encode("numba works")], _model())
        return fastlang_nb
    except Exception:  # noqa: BLE001 - any failure means: the numpy path
        return None


def use_compiled(n: int) -> bool:
    """SIFT_FAST_COUNT (as core.tokcount): 'auto' compiles for big batches, '1' always, '0' never."""
    mode = os.environ.get("SIFT_FAST_COUNT", "auto")
    if mode == "0" or (mode != "1" and n < FAST_MIN):
        return False
    return compiled() is not None


def classify_many(texts: list[str], chunk: int = 8192) -> list[str]:
    """Language codes for texts (py3langid's label for each, exactly)."""
    if use_compiled(len(texts)):
        classes = _model()[5]
        best = compiled().classify([_encode(t) for t in texts], _model())
        return [classes[max(0, int(b))] for b in best]
    res: list[str] = []
    for i in range(0, len(texts), chunk):
        res.extend(_classify_chunk(texts[i:i + chunk]))
    return res


def _classify_chunk(texts: list[str]) -> list[str]:
    from scipy.sparse import csr_matrix

    nm, rowbase, out, ptc, pc, classes = _model()
    n = len(texts)
    if n == 0:
        return []
    enc = [_encode(t) for t in texts]
    lens = np.fromiter((len(b) for b in enc), dtype=np.int64, count=n)
    order = np.argsort(-lens, kind="stable")  # longest first: active texts are a prefix at every step
    lens_sorted = lens[order]
    width = int(lens_sorted[0]) if n else 0
    buf = np.zeros((max(width, 1), n), dtype=np.uint8)  # position-major: one step reads a contiguous row
    flat = np.frombuffer(b"".join(enc[i] for i in order), dtype=np.uint8)
    if flat.size:  # scatter every text's bytes into its column in one go
        starts = np.repeat(np.cumsum(lens_sorted) - lens_sorted, lens_sorted)
        buf[np.arange(flat.size) - starts, np.repeat(np.arange(n), lens_sorted)] = flat
    state = np.zeros(n, dtype=np.int32)
    feats_l, actives = [], []
    active = n
    for pos in range(width):
        while active and lens_sorted[active - 1] <= pos:
            active -= 1
        if not active:
            break
        s = nm[rowbase[state[:active]] + buf[pos, :active]]
        state[:active] = s
        feats_l.append(out[s])  # feature index per text at this step, -1 for none (filtered once below)
        actives.append(active)
    scores = np.full((n, len(classes)), -3.4028234663852886e38, dtype=np.float32)
    if feats_l:
        every = np.arange(n, dtype=np.int32)
        rows = np.concatenate([every[:a] for a in actives])
        feats = np.concatenate(feats_l)
        keep = feats >= 0
        rows, feats = rows[keep], feats[keep]
        nfeat = ptc.shape[0]
        # feature visit counts per text: building a CSR matrix sums duplicate (row, feature) pairs, which
        # is much cheaper than sorting all pairs (np.unique); then log1p of the counts, as py3langid does
        mat = csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, feats)), shape=(n, nfeat))
        mat.sum_duplicates()
        np.log1p(mat.data, out=mat.data)
        has = np.diff(mat.indptr) > 0
        dense = np.asarray(mat[has] @ ptc, dtype=np.float32) + pc
        scores[has] = dense
    best = scores.argmax(axis=1)
    labels = [""] * n
    for r, idx in enumerate(order):
        labels[idx] = classes[int(best[r])]
    return labels
