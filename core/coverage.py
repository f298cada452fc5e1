"""Coverage of a selection: which labels of the pool (clusters, tags, datasets, languages) a selection keeps, at
what rate compared with the selection's overall rate, and which it misses (coverage gaps). Pure functions over
arrays and lists; no Store.

A label's *expected* count is its pool count times the selection's rate (selected rows / pool rows): what a
uniform random selection of the same size would keep on average. ``ratio`` = selected / expected. A label is a
*gap* when it is present in the pool (pool count >= ``min_pool`` and expected >= ``min_expected``) and the
selection keeps less than ``gap_ratio`` (default 0.5) of its expected count; a label with no selected row at
all is *missing*. Rows whose label is None / NaN count towards no label (untagged or unclustered rows); for
multi-label columns (tags) each row gives one list, a label counted once per row.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

GAP_RATIO = 0.5
MIN_POOL = 5
MIN_EXPECTED = 1.0
COLUMNS = ["label", "pool", "selected", "expected", "ratio", "gap"]


def _codes(labels, multi: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row position, label code) pairs and the labels by code (an object array): one pair per labelled row (scalar labels) or
    per distinct label of a row (lists). None / NaN labels and empty or missing lists give no pair."""
    if multi:
        lists = [v if isinstance(v, (list, tuple, np.ndarray)) else () for v in labels]
        lengths = np.fromiter((len(v) for v in lists), np.int64, len(lists))
        pos = np.repeat(np.arange(len(lists), dtype=np.int64), lengths)
        codes, uniq = pd.factorize(pd.Series(list(itertools.chain.from_iterable(lists)), dtype=object))
    else:
        pos = np.arange(len(labels), dtype=np.int64)
        values = labels if isinstance(labels, np.ndarray) else pd.Series(list(labels), dtype=object)
        codes, uniq = pd.factorize(values)
    keep = codes >= 0  # factorize gives -1 for None / NaN
    pos, codes = pos[keep], codes[keep].astype(np.int64)
    if multi and len(codes):  # a label counted once per row
        key = np.unique(pos * len(uniq) + codes)
        pos, codes = key // len(uniq), key % len(uniq)
    out = np.empty(len(uniq), dtype=object)
    out[:] = np.asarray(uniq, dtype=object).tolist()  # Python values, not numpy scalars
    return pos, codes, out


def _counts(codes: np.ndarray, n_labels: int, pos: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.bincount(codes, weights=mask[pos], minlength=n_labels).astype(np.int64)


def _sorted(df: pd.DataFrame, by: str, ascending: bool) -> pd.DataFrame:
    """Rows by ``by`` (then label as text), index reset."""
    df = df.assign(_key=df["label"].astype(str))
    return df.sort_values([by, "_key"], ascending=[ascending, True], kind="stable").drop(columns="_key") \
        .reset_index(drop=True)


def label_coverage(labels, selected, multi: bool = False, gap_ratio: float = GAP_RATIO, min_pool: int = MIN_POOL,
                   min_expected: float = MIN_EXPECTED) -> pd.DataFrame:
    """One row per label of the pool: label, pool (rows having it), selected (selected rows having it), expected
    (pool x selection rate), ratio (selected / expected; NaN when expected is 0) and gap (bool). ``labels`` has
    one entry per pool row (a list per row when ``multi``); ``selected`` is a boolean mask of the same length.
    Sorted by pool count descending, then label (as text)."""
    sel = np.asarray(selected, dtype=bool)
    if len(sel) != len(labels):
        raise ValueError(f"selected mask has {len(sel)} entries for {len(labels)} rows")
    rate = float(sel.sum()) / len(sel) if len(sel) else 0.0
    pos, codes, lab = _codes(labels, multi)
    out = pd.DataFrame({"label": lab, "pool": np.bincount(codes, minlength=len(lab)).astype(np.int64),
                        "selected": _counts(codes, len(lab), pos, sel)})
    out["expected"] = out["pool"] * rate
    out["ratio"] = out["selected"] / out["expected"].where(out["expected"] > 0)  # NaN where expected is 0
    out["gap"] = ((out["pool"] >= min_pool) & (out["expected"] >= min_expected)
                  & (out["selected"] < gap_ratio * out["expected"]))
    return _sorted(out, "pool", False)


def gaps(table: pd.DataFrame) -> pd.DataFrame:
    """The gap rows of a label_coverage table, worst first (lowest ratio, then largest pool)."""
    g = table[table["gap"]]
    return g.sort_values(["ratio", "pool"], ascending=[True, False], kind="stable").reset_index(drop=True)


def summary(table: pd.DataFrame) -> dict:
    """Counts over a label_coverage table: labels in the pool, labels covered (>= 1 selected row), their share,
    labels missing (none selected), gaps, and the selection rate implied by the table (0 when unknown)."""
    n = len(table)
    covered = int((table["selected"] > 0).sum()) if n else 0
    exp = float(table["expected"].sum()) if n else 0.0
    rate = exp / float(table["pool"].sum()) if n and table["pool"].sum() else 0.0
    return {"labels": n, "covered": covered, "covered_share": covered / n if n else 0.0, "missing": n - covered,
            "gaps": int(table["gap"].sum()) if n else 0, "rate": rate}


def coverage_report(columns: dict, selected, multi=("tags",), **kw) -> dict:
    """label_coverage for several label columns of the same pool rows: ``{name: (table, summary)}``. Columns
    named in ``multi`` hold one list of labels per row."""
    out = {}
    for name, labels in columns.items():
        t = label_coverage(labels, selected, multi=name in multi, **kw)
        out[name] = (t, summary(t))
    return out


def compare(ids_a, ids_b) -> dict:
    """Overlap of two selections (row ids; order and repeats ignored): sizes, both, union, Jaccard (|A∩B| /
    |A∪B|, 0 for two empty selections), only_a / only_b counts and the shares of A in B and of B in A, plus the
    sorted ids of each part (only_a_ids, only_b_ids, both_ids)."""
    a = np.unique(np.asarray(ids_a, dtype=np.int64))
    b = np.unique(np.asarray(ids_b, dtype=np.int64))
    both = np.intersect1d(a, b, assume_unique=True)
    union = len(a) + len(b) - len(both)
    only_a = np.setdiff1d(a, b, assume_unique=True)
    only_b = np.setdiff1d(b, a, assume_unique=True)
    return {"a": len(a), "b": len(b), "both": len(both), "union": union,
            "jaccard": len(both) / union if union else 0.0, "only_a": len(only_a), "only_b": len(only_b),
            "a_in_b": len(both) / len(a) if len(a) else 0.0, "b_in_a": len(both) / len(b) if len(b) else 0.0,
            "only_a_ids": only_a, "only_b_ids": only_b, "both_ids": both}


def compare_coverage(labels, in_a, in_b, multi: bool = False) -> pd.DataFrame:
    """Coverage differences between two selections over the same rows (typically A ∪ B, or the pool): per label
    the rows of A and of B having it, b - a, and which selection alone covers it ("A only", "B only", "both").
    Sorted by |b - a| descending, then label (as text)."""
    a, b = np.asarray(in_a, dtype=bool), np.asarray(in_b, dtype=bool)
    labels = list(labels)
    if not len(a) == len(b) == len(labels):
        raise ValueError("labels and both masks must have one entry per row")
    pos, codes, lab = _codes(labels, multi)
    out = pd.DataFrame({"label": lab, "a": _counts(codes, len(lab), pos, a), "b": _counts(codes, len(lab), pos, b)})
    out = out[(out["a"] > 0) | (out["b"] > 0)].copy()
    out["diff"] = out["b"] - out["a"]
    out["covered_by"] = np.where((out["a"] > 0) & (out["b"] > 0), "both", np.where(out["a"] > 0, "A only", "B only"))
    return _sorted(out.assign(absdiff=out["diff"].abs()), "absdiff", False).drop(columns="absdiff")
