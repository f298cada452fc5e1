"""core.coverage on hand-made pools whose answers are worked out by hand in the comments."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core import coverage as cov


def _row(t, label):
    r = t[t["label"] == label]
    assert len(r) == 1, f"{label!r} not in the table"
    return r.iloc[0]


def test_scalar_labels_counts_expected_ratio_and_gaps():
    # pool of 20 rows: a x10, b x6, c x4; 5 selected -> rate 0.25
    labels = ["a"] * 10 + ["b"] * 6 + ["c"] * 4
    sel = np.zeros(20, bool)
    sel[[0, 1, 2, 3]] = True  # 4 of a
    sel[10] = True  # 1 of b, none of c
    t = cov.label_coverage(labels, sel, min_pool=1)
    assert list(t["label"]) == ["a", "b", "c"]  # by pool count
    a, b, c = _row(t, "a"), _row(t, "b"), _row(t, "c")
    assert (a.pool, a.selected, a.expected, a.ratio) == (10, 4, 2.5, 1.6)
    assert (b.pool, b.selected, b.expected) == (6, 1, 1.5)
    assert b.ratio == pytest.approx(2 / 3)  # 1 / 1.5 >= 0.5: not a gap
    assert (c.pool, c.selected, c.expected, c.ratio) == (4, 0, 1.0, 0.0)  # expected 1, got 0: gap
    assert list(t["gap"]) == [False, False, True]
    s = cov.summary(t)
    assert s == {"labels": 3, "covered": 2, "covered_share": 2 / 3, "missing": 1, "gaps": 1, "rate": 0.25}
    assert list(cov.gaps(t)["label"]) == ["c"]


def test_gap_thresholds_min_pool_min_expected_and_ratio():
    labels = ["a"] * 10 + ["b"] * 6 + ["c"] * 4
    sel = np.zeros(20, bool)
    sel[[0, 1, 2, 3, 10]] = True
    # default min_pool 5: c (4 rows) is too small to be called a gap
    assert not cov.label_coverage(labels, sel)["gap"].any()
    # min_expected 1.5: c expects 1.0, not enough; b expects 1.5 and keeps 1 (ratio 0.67) -> still not a gap
    assert not cov.label_coverage(labels, sel, min_pool=1, min_expected=1.5)["gap"].any()
    # a stricter ratio (0.7): b at 0.67 becomes a gap too
    t = cov.label_coverage(labels, sel, min_pool=1, gap_ratio=0.7)
    assert set(t.loc[t["gap"], "label"]) == {"b", "c"}
    assert list(cov.gaps(t)["label"]) == ["c", "b"]  # worst ratio first


def test_missing_labels_are_skipped_and_numbers_work():
    # cluster ids with unclustered rows (None / NaN): those rows count toward no label, but towards the rate
    labels = [0, 0, 1, 1, None, float("nan"), 0, 1]
    sel = [True, False, False, False, True, True, True, False]  # 4 of 8 -> rate 0.5
    t = cov.label_coverage(labels, sel, min_pool=1)
    assert set(t["label"]) == {0, 1}
    z, o = _row(t, 0), _row(t, 1)
    assert (z.pool, z.selected, z.expected) == (3, 2, 1.5)
    assert (o.pool, o.selected, o.expected, o.ratio) == (3, 0, 1.5, 0.0)
    assert list(t.loc[t["gap"], "label"]) == [1]
    assert type(t["label"].iloc[0]) is int  # numpy scalars come back as Python values


def test_multi_label_tags_counted_once_per_row():
    tags = [["x", "y"], ["x", "x"], ["y"], None, [], ["z"], ["x", "z"], ["y"]]
    sel = [True, True, False, False, False, False, False, False]  # 2 of 8 -> rate 0.25
    t = cov.label_coverage(tags, sel, multi=True, min_pool=1)
    x, y, z = _row(t, "x"), _row(t, "y"), _row(t, "z")
    assert (x.pool, x.selected, x.expected, x.ratio) == (3, 2, 0.75, pytest.approx(8 / 3))  # "x","x" counts once
    assert (y.pool, y.selected, y.expected) == (3, 1, 0.75)
    assert (z.pool, z.selected, z.expected) == (2, 0, 0.5)
    assert not t["gap"].any()  # z expects 0.5 < min_expected 1
    assert cov.summary(t)["missing"] == 1


def test_empty_pool_and_empty_selection():
    t = cov.label_coverage([], [])
    assert list(t.columns) == cov.COLUMNS and len(t) == 0
    assert cov.summary(t)["labels"] == 0
    t = cov.label_coverage(["a"] * 6, [False] * 6)
    assert t.iloc[0].expected == 0 and math.isnan(t.iloc[0].ratio) and not t["gap"].any()
    with pytest.raises(ValueError):
        cov.label_coverage(["a", "b"], [True])


def test_coverage_report_several_columns():
    rep = cov.coverage_report({"dataset": ["d1", "d1", "d2", "d2"], "tags": [["t"], ["t", "u"], None, ["u"]]},
                              [True, False, True, False], min_pool=1)
    t, s = rep["tags"]
    assert dict(zip(t["label"], t["pool"])) == {"t": 2, "u": 2}
    assert dict(zip(t["label"], t["selected"])) == {"t": 1, "u": 0}
    assert s["covered"] == 1 and rep["dataset"][1]["covered"] == 2


def test_compare_overlap_stats():
    c = cov.compare([1, 2, 3, 4, 4], [3, 4, 5])
    assert (c["a"], c["b"], c["both"], c["union"], c["only_a"], c["only_b"]) == (4, 3, 2, 5, 2, 1)
    assert c["jaccard"] == pytest.approx(2 / 5)
    assert c["a_in_b"] == 0.5 and c["b_in_a"] == pytest.approx(2 / 3)
    assert list(c["only_a_ids"]) == [1, 2] and list(c["only_b_ids"]) == [5] and list(c["both_ids"]) == [3, 4]
    assert cov.compare([], [])["jaccard"] == 0.0
    assert cov.compare([7], [7])["jaccard"] == 1.0


def test_compare_coverage_differences():
    # rows 0..5; A = {0, 1, 2}, B = {2, 3, 4}; row 5 in neither
    labels = ["p", "p", "q", "r", "r", "s"]
    a = [True, True, True, False, False, False]
    b = [False, False, True, True, True, False]
    t = cov.compare_coverage(labels, a, b)
    got = {r.label: (r.a, r.b, r.diff, r.covered_by) for r in t.itertuples()}
    assert got == {"p": (2, 0, -2, "A only"), "q": (1, 1, 0, "both"), "r": (0, 2, 2, "B only")}  # s: in neither
    assert list(t["label"][:2]) == ["p", "r"]  # largest |diff| first, ties by label
    tags = [["x"], ["x", "y"], None, ["y"]]
    t = cov.compare_coverage(tags, [True, True, False, False], [False, False, True, True], multi=True)
    assert {r.label: (r.a, r.b) for r in t.itertuples()} == {"x": (2, 0), "y": (1, 1)}
