"""InsTag-style tag metrics: pure functions over per-row tag lists (no Store, no streamlit).

Input convention (every public function): ``row_tags`` is a sequence with one entry per row considered (a dataset,
a cluster, a Filter, a Selection):
- a list of tags: the row was tagged; an empty list means "tagged, no tag found" and counts as 0 in complexity;
- ``None``: the row was never tagged; it is left out of every metric (it is not a zero).
Tags are counted once per row (a tag repeated within a row counts once), so "count" always means rows.
Every function also accepts a ``TagMatrix`` (``encode(row_tags)``), so a page can encode a dataset once and take
row slices of it (``TagMatrix(m.vocab, m.x[mask])``) for a cluster, a Filter or a Selection.

Definitions (InsTag, Lu et al. 2023): complexity = mean number of distinct tags per tagged query; diversity = number
of distinct tags covered by the set (the same number as ``unique_tags``; both keys are kept in ``summary`` because
the CLI's JSON contract names both).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pandas as pd
import scipy.sparse as sp

RowTags = Sequence[Sequence[str] | None]


@dataclass
class TagMatrix:
    """The tagged rows one-hot encoded: x[r, j] = 1 when tagged row r has vocab[j] (int32 CSR, one entry per
    row and tag however often the row repeats it). Every metric accepts one, so a caller can encode once."""
    vocab: list[str]
    x: sp.csr_matrix

    @property
    def n_rows(self) -> int:
        return int(self.x.shape[0])

    def counts(self) -> np.ndarray:
        """Rows having each tag (int64, vocab order)."""
        return np.asarray(self.x.sum(axis=0), dtype=np.int64).ravel()


def encode(row_tags: RowTags | TagMatrix) -> TagMatrix:
    """One-hot encode the tagged rows (``None`` rows dropped, ``[]`` rows kept); vocab in first-seen order.
    Non-string tags are converted with str()."""
    if isinstance(row_tags, TagMatrix):
        return row_tags
    rows = [tags for tags in row_tags if tags is not None]
    lens = np.fromiter((len(t) for t in rows), dtype=np.int64, count=len(rows))
    flat = [t if type(t) is str else str(t) for t in chain.from_iterable(rows)]
    codes, uniques = pd.factorize(pd.Series(flat, dtype=object), sort=False)
    x = sp.csr_matrix((np.ones(len(flat), np.int32), (np.repeat(np.arange(len(rows)), lens), codes)),
                      shape=(len(rows), len(uniques)))
    x.sum_duplicates()
    x.data[:] = 1
    return TagMatrix([str(u) for u in uniques], x)


def pair_counts(m: TagMatrix, min_count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, both): every tag pair i < j (vocab indices) found together on at least ``min_count`` rows.

    The same pairs, with the same counts, as mlxtend FP-Growth's 2-itemsets at that absolute support
    (``frequent_itemsets(..., max_len=2)``; a test checks the two agree), computed as one sparse product
    X^T X over the tags that reach ``min_count``: milliseconds at 52k rows where FP-Growth takes ~15 s.
    """
    min_count = max(1, int(min_count))
    keep = np.flatnonzero(m.counts() >= min_count)
    sub = m.x[:, keep]
    co = sp.triu(sub.T @ sub, k=1).tocoo()
    hit = co.data >= min_count
    return keep[co.row[hit]], keep[co.col[hit]], co.data[hit].astype(np.int64)


def complexity(row_tags: RowTags | TagMatrix) -> float:
    """Mean number of distinct tags per tagged row (untagged ``None`` rows excluded; 0.0 when none is tagged)."""
    m = encode(row_tags)
    return float(m.x.nnz / m.n_rows) if m.n_rows else 0.0


def diversity(row_tags: RowTags | TagMatrix) -> int:
    """Number of distinct tags over the tagged rows."""
    return int((encode(row_tags).counts() > 0).sum())


def tag_frequencies(row_tags: RowTags | TagMatrix) -> pd.DataFrame:
    """DataFrame(tag, count, share): count = rows having the tag; share = count / tagged rows (so shares of a row
    set with several tags per row sum to the complexity, not to 1). Sorted by count desc, then tag."""
    m = encode(row_tags)
    counts = m.counts()
    df = pd.DataFrame({"tag": pd.Series(m.vocab, dtype=object), "count": counts,
                       "share": counts / max(1, m.n_rows)})
    df = df[df["count"] > 0]
    return df.sort_values(["count", "tag"], ascending=[False, True], kind="stable").reset_index(drop=True)


def cooccurrence(row_tags: RowTags | TagMatrix, top: int = 30,
                 measure: str = "count") -> tuple[list[str], np.ndarray]:
    """Co-occurrence of the ``top`` most frequent tags: (tags, matrix), tags in frequency order.

    measure="count": M[i, j] = rows having both tags (the diagonal is each tag's own count), int64.
    measure="jaccard": M[i, j] = |rows with i and j| / |rows with i or j| (diagonal 1.0), float64. Jaccard is the
    normalised view offered for the heatmap: bounded in [0, 1] and symmetric, so one colour scale serves every cell,
    and unlike PMI it does not blow up for pairs of rare tags or go negative/undefined for absent pairs.
    """
    if measure not in ("count", "jaccard"):
        raise ValueError(f"measure must be 'count' or 'jaccard', not {measure!r}")
    m = encode(row_tags)
    freq = tag_frequencies(m).head(max(0, int(top)))
    index = {t: j for j, t in enumerate(m.vocab)}
    sub = m.x[:, [index[t] for t in freq["tag"]]]
    both = np.asarray((sub.T @ sub).todense(), dtype=np.int64)
    tags = freq["tag"].tolist()
    if measure == "count":
        return tags, both
    own = np.diag(both).astype(np.float64)
    union = own[:, None] + own[None, :] - both
    return tags, np.where(union > 0, both / np.maximum(union, 1), 0.0)


def frequent_itemsets(row_tags: RowTags | TagMatrix, min_count: int, max_len: int | None = 2) -> pd.DataFrame:
    """mlxtend FP-Growth over the rows' tag sets: DataFrame(itemsets: frozenset[str], count: int, support: float).

    ``min_count`` is an absolute number of rows (the InsTag paper states support as a count). Only tags that reach
    it are given to FP-Growth (no itemset containing a rarer tag can reach it), and ``max_len`` bounds the itemset
    size so the search cannot blow up combinatorially.
    """
    from mlxtend.frequent_patterns import fpgrowth

    m = encode(row_tags)
    min_count = max(1, int(min_count))
    keep = np.flatnonzero(m.counts() >= min_count)
    if keep.size == 0:
        return pd.DataFrame({"itemsets": pd.Series([], dtype=object), "count": pd.Series([], dtype=np.int64),
                             "support": pd.Series([], dtype=np.float64)})
    df = pd.DataFrame.sparse.from_spmatrix(m.x[:, keep].astype(bool), columns=[m.vocab[j] for j in keep])
    # Half a row below the threshold: a support of exactly min_count/n must not fail a float comparison.
    out = fpgrowth(df, min_support=(min_count - 0.5) / m.n_rows, use_colnames=True, max_len=max_len)
    out["count"] = np.rint(out["support"].to_numpy() * m.n_rows).astype(np.int64)
    return out[["itemsets", "count", "support"]].reset_index(drop=True)


def _pair_rules(m: TagMatrix, min_count: int) -> pd.DataFrame:
    """Both rules a->b and b->a of every frequent pair, from ``pair_counts``."""
    counts, n = m.counts(), m.n_rows
    i, j, both = pair_counts(m, min_count)
    ante, cons, both = np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([both, both])
    vocab = np.asarray(m.vocab, dtype=object)
    conf = both / counts[ante]
    return pd.DataFrame({"antecedent": vocab[ante], "consequent": vocab[cons], "support": both / n,
                         "confidence": conf, "lift": conf / (counts[cons] / n)})


def _mlxtend_rules(m: TagMatrix, min_count: int, max_len: int | None) -> pd.DataFrame:
    from mlxtend.frequent_patterns import association_rules as mx_rules

    items = frequent_itemsets(m, min_count, max_len=max_len)
    if not (items["itemsets"].map(len) > 1).any():
        return pd.DataFrame(columns=RULE_COLUMNS)
    rules = mx_rules(items[["support", "itemsets"]], num_itemsets=m.n_rows, metric="confidence",
                     min_threshold=0.0)
    return pd.DataFrame({"antecedent": rules["antecedents"].map(lambda s: " + ".join(sorted(s))),
                         "consequent": rules["consequents"].map(lambda s: " + ".join(sorted(s))),
                         "support": rules["support"], "confidence": rules["confidence"], "lift": rules["lift"]})


RULE_COLUMNS = ["antecedent", "consequent", "support", "confidence", "lift"]


def association_rules(row_tags: RowTags | TagMatrix, min_support: float = 0.01, min_confidence: float = 0.5,
                      top: int = 50, max_len: int | None = 2) -> pd.DataFrame:
    """The strongest tag association rules: DataFrame(antecedent, consequent, support, confidence, lift).

    ``min_support`` is a fraction of the tagged rows (0 < s <= 1, mlxtend's convention). ``max_len`` = 2 (one tag
    implies another, what the co-occurrence view needs) counts pairs exactly with ``pair_counts``; a larger
    ``max_len`` (or None) runs mlxtend FP-Growth + association_rules, multi-tag sides joined by " + " in sorted
    order. Sorted by lift desc (how much more often than chance: confidence alone favours very common
    consequents), then confidence, support, names; at most ``top`` rules.
    """
    if not 0 < float(min_support) <= 1:
        raise ValueError(f"min_support is a fraction in (0, 1], not {min_support!r}")
    m = encode(row_tags)
    min_count = max(1, int(np.ceil(float(min_support) * m.n_rows - 1e-9)))
    if m.n_rows == 0:
        out = pd.DataFrame(columns=RULE_COLUMNS)
    elif max_len == 2:
        out = _pair_rules(m, min_count)
    else:
        out = _mlxtend_rules(m, min_count, max_len)
    out = out[out["confidence"] >= float(min_confidence) - 1e-12].astype(
        {"antecedent": object, "consequent": object, "support": np.float64, "confidence": np.float64,
         "lift": np.float64})
    out = out.sort_values(["lift", "confidence", "support", "antecedent", "consequent"],
                          ascending=[False, False, False, True, True], kind="stable")
    return out.head(max(0, int(top))).reset_index(drop=True)


def summary(row_tags: RowTags | TagMatrix, top: int = 20) -> dict:
    """The CLI's JSON contract: {"rows_tagged", "unique_tags", "complexity", "diversity", "top_tags": [{tag, count}]}.

    rows_tagged counts tagged rows (including those tagged with no tag); top_tags are the ``top`` most frequent.
    """
    m = encode(row_tags)
    freq = tag_frequencies(m)
    return {
        "rows_tagged": m.n_rows,
        "unique_tags": len(freq),
        "complexity": complexity(m),
        "diversity": len(freq),
        "top_tags": [{"tag": str(t), "count": int(c)}
                     for t, c in zip(freq["tag"].head(top), freq["count"].head(top))],
    }
