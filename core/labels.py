"""Cluster descriptions: c-TF-IDF keywords, representative rows, and matching clusters across re-runs.

Pure functions on numpy arrays and lists (no Streamlit, no DuckDB); used by core.cluster.
"""
from __future__ import annotations

import re

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

# Han, kana, hangul: scripts written without spaces, tokenised as character bigrams
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_SPLIT = re.compile(f"([{_CJK}]+)")
_WORD = re.compile(r"(?u)\b\w\w+\b")
_DIGITS = re.compile(r"^[\d_]+$")
# very common Chinese function bigrams that c-TF-IDF would otherwise surface for every class
_ZH_STOP = frozenset(
    "一个 一些 一下 什么 如何 怎么 怎样 为什么 可以 能够 请你 请问 我们 你们 他们 这个 那个 这些 那些 以下 下面 "
    "哪些 是否 如果 因为 所以 但是 并且 或者 以及 关于 进行 需要 没有 就是 还是 已经 自己 其中 使用 给出 "
    "的是 是一 了一 在一 我的 你的 他的 她的 它的".split()
)
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | _ZH_STOP
# Chinese function characters; runs are cut at these and at the stop words before taking bigrams, so bigrams do
# not straddle word boundaries ("请将以下句子" -> 句子; "给我推荐一本书" -> 推荐, 本书, not 我推 / 荐一)
_ZH_STOP_CHARS = "的了是在我你他她它们这那个一和与或将把被以请给吗呢吧啊之其并也都就而及等着地得过"
_ZH_CUT = re.compile("|".join(sorted(_ZH_STOP, key=len, reverse=True)) + f"|[{_ZH_STOP_CHARS}]")


def analyze(text: str) -> list[str]:
    """Tokens of one text: lower-cased words (2+ chars, not digits, English stop words removed) as unigrams and
    bigrams of adjacent kept words; runs of CJK characters, cut at common function words and characters, as
    character bigrams (a piece of one character as itself)."""
    out: list[str] = []
    for i, seg in enumerate(_SPLIT.split(text or "")):
        if not seg:
            continue
        if i % 2:  # a CJK run
            if len(seg) == 1:
                out.append(seg)
                continue
            for piece in _ZH_CUT.split(seg):
                if len(piece) == 1:
                    out.append(piece)  # a one-character word between function words ("春天的诗" -> 诗)
                else:
                    out.extend(piece[j:j + 2] for j in range(len(piece) - 1))
            continue
        words = [w for w in _WORD.findall(seg.lower()) if w not in STOP_WORDS and not _DIGITS.match(w)]
        out.extend(words)
        out.extend(f"{a} {b}" for a, b in zip(words, words[1:]))
    return out


def _default_min_df(n_docs: int) -> int:
    # drop terms seen in a single row once there are enough rows for that to be noise
    return 1 if n_docs < 200 else 2 if n_docs < 20_000 else 3


def ctfidf_keywords(texts: list[str], labels: np.ndarray, top_n: int = 5, *, min_df: int | None = None
                    ) -> dict[int, list[str]]:
    """Top `top_n` terms per cluster by class-based TF-IDF (BERTopic's formula): the term counts of all rows of a
    cluster, L1-normalised per cluster, times log(1 + average number of terms per cluster / the term's total
    count). Noise rows (-1) are left out. Clusters with no usable term get an empty list."""
    labels = np.asarray(labels)
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    keep = np.flatnonzero(labels >= 0)
    classes = np.unique(labels[keep])
    result: dict[int, list[str]] = {int(c): [] for c in classes}
    if len(keep) == 0:
        return result
    docs = [texts[i] if isinstance(texts[i], str) else "" for i in keep]
    md = _default_min_df(len(docs)) if min_df is None else min_df
    try:
        vec = CountVectorizer(analyzer=analyze, min_df=md)
        X = vec.fit_transform(docs)
    except ValueError:  # empty vocabulary (all texts empty / stop words / pruned by min_df)
        if md == 1:
            return result
        try:
            vec = CountVectorizer(analyzer=analyze, min_df=1)
            X = vec.fit_transform(docs)
        except ValueError:
            return result
    vocab = vec.get_feature_names_out()
    cls_index = np.searchsorted(classes, labels[keep])
    onehot = sp.csr_matrix((np.ones(len(keep)), (cls_index, np.arange(len(keep)))), shape=(len(classes), len(keep)))
    C = (onehot @ X).tocsr().astype(np.float64)  # classes x terms
    df = np.asarray(C.sum(axis=0)).ravel()
    avg = max(float(C.sum(axis=1).mean()), 1.0)
    idf = np.log(1.0 + avg / np.maximum(df, 1.0))
    row_sums = np.asarray(C.sum(axis=1)).ravel()
    for ci, c in enumerate(classes):
        lo, hi = C.indptr[ci], C.indptr[ci + 1]
        if hi == lo:
            continue
        cols = C.indices[lo:hi]
        scores = C.data[lo:hi] / row_sums[ci] * idf[cols]
        order = np.lexsort((cols, -scores))  # by score, ties by vocabulary order: deterministic
        chosen: list[str] = []
        for j in order:
            term = str(vocab[cols[j]])
            # skip a word already shown inside a chosen bigram
            if " " not in term and any(term in t.split(" ") for t in chosen):
                continue
            chosen.append(term)
            if len(chosen) >= top_n:
                break
        result[int(c)] = chosen
    return result


def representatives(vectors: np.ndarray, labels: np.ndarray, k: int = 3) -> dict[int, list[int]]:
    """For every cluster (noise excluded), the indices of up to k rows most similar (cosine) to its centroid,
    most similar first."""
    labels = np.asarray(labels)
    V = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(V, axis=1, keepdims=True)
    V = V / np.where(norms == 0, 1.0, norms)
    out: dict[int, list[int]] = {}
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    bounds = np.flatnonzero(np.diff(sorted_labels)) + 1
    for members in np.split(order, bounds):
        if len(members) == 0 or labels[members[0]] < 0:
            continue
        centroid = V[members].mean(axis=0)
        cn = np.linalg.norm(centroid)
        sims = V[members] @ (centroid / cn if cn > 0 else centroid)
        top = members[np.argsort(-sims, kind="stable")[:k]]
        out[int(labels[members[0]])] = [int(i) for i in top]
    return out


def match_clusters(old: dict[int, set], new: dict[int, set], min_jaccard: float = 0.5) -> dict[int, int]:
    """Map new cluster id -> old cluster id for pairs whose member sets have Jaccard similarity >= min_jaccard,
    one-to-one, best pairs first (greedy by Jaccard, ties by ids)."""
    owner: dict = {}
    for oid, members in old.items():
        for m in members:
            owner.setdefault(m, []).append(oid)
    pairs = []
    for nid, members in new.items():
        inter: dict[int, int] = {}
        for m in members:
            for oid in owner.get(m, ()):
                inter[oid] = inter.get(oid, 0) + 1
        for oid, i in inter.items():
            union = len(members) + len(old[oid]) - i
            jac = i / union if union else 0.0
            if jac >= min_jaccard:
                pairs.append((-jac, nid, oid))
    pairs.sort()
    out: dict[int, int] = {}
    used: set = set()
    for _, nid, oid in pairs:
        if nid in out or oid in used:
            continue
        out[nid] = oid
        used.add(oid)
    return out
