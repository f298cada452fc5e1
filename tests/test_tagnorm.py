"""Tag normalisation stages and tag metrics on hand-made tag sets whose merges and numbers are known."""
import numpy as np
import pytest

from core import tagmetrics as tm
from core.tagnorm import (
    NormParams,
    Proposal,
    apply,
    cosine_dbscan,
    default_min_count,
    default_support,
    normalize,
    rule_key,
)


def run(rows, stages, embed=None, rejected=frozenset(), **kw):
    return normalize(rows, NormParams(stages=stages, **kw), embed=embed, rejected=rejected)


def merges(result, stage):
    return [(p.before, p.after) for s in result.stages if s.name == stage for p in s.proposals if p.kind == "merge"]


# ------------------------------------------------------------------------------------------------------ rule

def test_rule_key_stems_and_strips():
    assert rule_key("Python Programming") == rule_key("python-programming") == rule_key("python programs") \
        == "python program"
    assert rule_key("  Data__Analysis!! ") == "data analysi"
    assert rule_key("ＰＹＴＨＯＮ") == "python"  # NFKC folds full-width letters
    assert rule_key("Straße") == rule_key("STRASSE")  # casefold, not lower
    assert rule_key("हिन्दी अनुवाद") == "हिन्दी अनुवाद"  # combining marks are part of words
    assert rule_key("写诗") == "写诗"
    assert rule_key("!!! ---") == ""


def test_rule_merges_into_most_frequent_readable_form():
    rows = [["Python Programming"]] * 3 + [["python-programming"], ["python programs", "  Math  "], ["!!!"]]
    r = run(rows, ("rule",))
    assert r.mapping["python-programming"] == r.mapping["python programs"] == "Python Programming"
    assert r.mapping["  Math  "] == "Math"  # whitespace collapsed even for a lone tag
    assert r.mapping["!!!"] is None
    (py,) = [p for p in r.stages[0].proposals if p.after == "Python Programming"]
    assert py.before[0] == "Python Programming" and py.count == 5
    assert r.stages[0].n_before == 5 and r.stages[0].n_after == 2


def test_rule_ties_prefer_shortest_then_alphabetical():
    r = run([["Sorting Lists"], ["sorting-list"], ["sorting list"]], ("rule",))
    assert set(r.mapping.values()) == {"sorting list"}  # three forms once each: shortest (2 of 12), alphabetical


# ---------------------------------------------------------------------------------------------- frequency

def test_default_thresholds_scale_with_size():
    assert default_min_count(306_000) == 20 and default_min_count(52_000) == 3
    assert default_min_count(100) == 2 and default_min_count(50_000_000) == 200
    assert default_support(306_000) == 40 and default_support(52_000) == 7 and default_support(10) == 5
    assert NormParams().resolved(52_000).min_count == 3
    assert NormParams(min_count=7).resolved(52_000).min_count == 7


def test_rule_before_frequency_keeps_a_tag_spelled_two_ways():
    rows = [["Data Analysis"], ["data-analysis"], ["poem"], ["poem"], ["rare"]]
    ours = run(rows, ("rule", "frequency"), min_count=2)
    assert ours.mapping == {"Data Analysis": "Data Analysis", "data-analysis": "Data Analysis",
                            "poem": "poem", "rare": None}
    paper = run(rows, ("frequency", "rule"), min_count=2)  # the paper's order drops both spellings
    assert paper.mapping["Data Analysis"] is None and paper.mapping["data-analysis"] is None
    assert [p.before for p in paper.stages[0].proposals] == [["Data Analysis"], ["data-analysis"], ["rare"]]


def test_rejected_proposal_is_not_applied_and_later_stages_see_it():
    rows = [["Data Analysis"], ["data-analysis"]]
    first = run(rows, ("rule", "frequency"), min_count=2)
    (merge,) = first.stages[0].proposals
    assert first.mapping["data-analysis"] == "Data Analysis"
    again = run(rows, ("rule", "frequency"), min_count=2, rejected={merge.id})
    assert [p.id for p in again.stages[0].proposals] == [merge.id]  # still listed for review
    assert again.mapping == {"Data Analysis": None, "data-analysis": None}  # each alone is below min_count
    keep = {p.id for p in again.stages[1].proposals if p.before == ["data-analysis"]}
    third = run(rows, ("rule", "frequency"), min_count=2, rejected={merge.id} | keep)
    assert third.mapping == {"Data Analysis": None, "data-analysis": "data-analysis"}


def test_proposal_ids_are_stable_and_distinct():
    a = Proposal("rule", "merge", ["x", "y"], "x", 3)
    assert a.id == Proposal("rule", "merge", ["y", "x"], "x", 9, "other detail").id
    assert a.id != Proposal("semantic", "merge", ["x", "y"], "x", 3).id
    assert a.id != Proposal("rule", "merge", ["x", "y"], "y", 3).id
    rows = [["A b"], ["a-b"], ["c"]]
    assert [p.id for p in run(rows, ("rule",)).proposals()] == [p.id for p in run(rows, ("rule",)).proposals()]


# ----------------------------------------------------------------------------------------------- semantic

S15, C15 = np.sin(np.radians(15)), np.cos(np.radians(15))
VECS = {"poem writing": [1, 0, 0], "Poem Writing": [1, 0, 0], "poetry writing": [0.999, 0.0447, 0],
        "essay writing": [0, 1, 0], "rhyme": [0.6, 0, 0.8],
        # 15 degrees apart in turn (cosine distance 0.034 < 0.05); the two ends are 30 degrees apart (0.134)
        "sql query": [0, 0, 1], "sql queries help": [0, S15, C15], "sql help": [0, 0.5, np.sqrt(0.75)]}


class TableEmbed:
    """Fixed vectors, so which tags lie within eps is known; records what it was asked to embed."""

    def __init__(self):
        self.calls = []

    def __call__(self, texts):
        self.calls.append(list(texts))
        return np.array([VECS[t] for t in texts], dtype=np.float32)


def test_semantic_merges_close_tags_into_most_frequent():
    rows = [["poem writing"]] * 3 + [["poetry writing"], ["essay writing"], ["essay writing"]]
    r = run(rows, ("semantic",), embed=TableEmbed())
    assert merges(r, "semantic") == [(["poem writing", "poetry writing"], "poem writing")]
    assert r.mapping["essay writing"] == "essay writing"
    assert "poetry writing" in r.stages[0].proposals[0].detail and r.stages[0].proposals[0].count == 4


def test_semantic_chains_like_dbscan_and_embeds_only_survivors():
    # sql query ~ sql queries help ~ sql help: neighbours in turn, the ends are not; min_samples 1 chains them.
    assert 1 - float(np.dot(VECS["sql query"], VECS["sql help"])) > 0.05
    rows = [["sql query"]] * 2 + [["sql queries help"], ["sql help"], ["sql help"], ["sql help"], ["poem writing"]]
    emb = TableEmbed()
    r = run(rows, ("frequency", "semantic"), embed=emb, min_count=1)
    assert merges(r, "semantic") == [(["sql help", "sql query", "sql queries help"], "sql help")]
    r = run(rows, ("frequency", "semantic"), embed=emb, min_count=2)
    assert emb.calls[-1] == ["sql query", "sql help"]  # "sql queries help" and "poem writing" were dropped first
    with pytest.raises(ValueError, match="embed"):
        run(rows, ("semantic",))


def test_cosine_dbscan_matches_sklearn_in_small_blocks():
    from sklearn.cluster import DBSCAN
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 16))
    x = np.concatenate([c + rng.normal(scale=0.08, size=(30, 16)) for c in centres] + [rng.normal(size=(20, 16))])
    x = np.concatenate([x, x[:5]])  # exact duplicates: distance 0 must still count as a neighbour
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    for min_samples in (1, 3):
        want = DBSCAN(eps=0.05, min_samples=min_samples, metric="cosine").fit(x).labels_
        got = cosine_dbscan(x, 0.05, min_samples, block_elems=1000)  # ~5 rows a block
        assert (got == want).all()
        assert len(set(want)) > 3


# -------------------------------------------------------------------------------------------- association

def assoc_rows():
    """latex on rows 0-19, latex formatting on 0-18 and 20, math typesetting on 0-21; sql on 10 rows of
    database's 20 (one-sided); haiku+japanese poetry together on 3 rows only (below support)."""
    rows = [[] for _ in range(40)]
    for i in range(20):
        rows[i].append("latex")
    for i in [*range(19), 20]:
        rows[i].append("latex formatting")
    for i in range(22):
        rows[i].append("math typesetting")
    for i in range(20, 40):
        rows[i].append("database")
    for i in range(20, 30):
        rows[i].append("sql")
    for i in range(30, 33):
        rows[i] += ["haiku", "japanese poetry"]
    return rows


def test_association_merges_mutual_pairs_recursively():
    r = run(assoc_rows(), ("association",), support=5, confidence=0.94)
    props = r.stages[0].proposals
    # round 1: latex/latex formatting (19 of 20 each); math typesetting is 20/22 with either, below 0.94;
    # round 2: merged latex (21 rows) and math typesetting (22) share 21 rows: 21/21 and 21/22 >= 0.94.
    assert [(p.before, p.after) for p in props] == [(["latex", "latex formatting"], "latex"),
                                                   (["math typesetting", "latex"], "math typesetting")]
    assert props[0].detail.startswith("round 1") and props[1].detail.startswith("round 2")
    assert {t for t, c in r.mapping.items() if c == "math typesetting"} == {"latex", "latex formatting",
                                                                            "math typesetting"}
    # one-sided sql -> database and the below-support haiku pair are left alone
    assert r.mapping["sql"] == "sql" and r.mapping["haiku"] == "haiku"
    assert run(assoc_rows(), ("association",), support=3, confidence=0.94).mapping["japanese poetry"] == "haiku"
    assert r.stages[0].n_before == 7 and r.stages[0].n_after == 5


def test_association_rejection_stops_the_recursion():
    first = run(assoc_rows(), ("association",), support=5, confidence=0.94)
    r = run(assoc_rows(), ("association",), support=5, confidence=0.94, rejected={first.proposals()[0].id})
    assert [p.id for p in r.proposals()] == [first.proposals()[0].id]  # proposed once, nothing else follows
    assert all(r.mapping[t] == t for t in r.mapping)


# ------------------------------------------------------------------------------------- composition, apply

def test_full_pipeline_and_apply():
    rows = [["Poem Writing", "rhyme"], ["poem-writing", "rhyme"], ["poetry writing", "rhyme"],
            ["poetry writing", "rhyme"], ["typo"], None, ["essay writing"], ["essay writing"], ["!!"]]
    r = normalize(rows, NormParams(min_count=2, support=2), embed=TableEmbed())
    assert [s.name for s in r.stages] == ["rule", "frequency", "semantic", "association"]
    assert r.params.min_count == 2 and r.params.support == 2
    # rule: Poem Writing + poem-writing, "!!" dropped; frequency: typo dropped; semantic: poetry writing joins
    # Poem Writing (4 rows now); association: that tag and rhyme share all 4 rows -> the shorter name, rhyme.
    assert [s.n_after for s in r.stages] == [5, 4, 3, 2]
    assert merges(r, "semantic") == [(["Poem Writing", "poetry writing"], "Poem Writing")]
    assert {t for t, c in r.mapping.items() if c == "rhyme"} == {"Poem Writing", "poem-writing", "poetry writing",
                                                                 "rhyme"}
    assert r.mapping["typo"] is None and r.mapping["!!"] is None and r.mapping["essay writing"] == "essay writing"
    assert apply(r.mapping, ["poem-writing", "rhyme", "typo", "new tag", "new tag"]) == ["rhyme", "new tag"]


def test_params_round_trip_and_validation():
    p = NormParams(min_count=4, eps=0.1, stages=("rule", "association"))
    assert NormParams.from_dict(p.to_dict()) == p and p.to_dict()["stages"] == ["rule", "association"]
    with pytest.raises(ValueError):
        NormParams.from_dict({"min_cout": 3})
    with pytest.raises(ValueError):
        NormParams(stages=("rule", "rule"))
    with pytest.raises(ValueError):
        NormParams(confidence=1.5)


# ------------------------------------------------------------------------------------------------ metrics

TINY = [["a", "b"], ["a", "c"], ["a", "b", "c", "a"], [], None]  # 4 tagged rows (one with no tag), 1 untagged


def test_complexity_diversity_frequencies():
    assert tm.complexity(TINY) == pytest.approx((2 + 2 + 3 + 0) / 4)
    assert tm.complexity([None]) == 0.0
    assert tm.diversity(TINY) == 3
    f = tm.tag_frequencies(TINY)
    assert f["tag"].tolist() == ["a", "b", "c"] and f["count"].tolist() == [3, 2, 2]
    assert f["share"].tolist() == pytest.approx([0.75, 0.5, 0.5])


def test_cooccurrence_counts_and_jaccard():
    tags, m = tm.cooccurrence(TINY, top=3)
    assert tags == ["a", "b", "c"]
    assert m.tolist() == [[3, 2, 2], [2, 2, 1], [2, 1, 2]]
    _, j = tm.cooccurrence(TINY, top=2, measure="jaccard")
    assert j == pytest.approx(np.array([[1, 2 / 3], [2 / 3, 1]]))


def test_association_rules_confidence_and_lift():
    r = tm.association_rules(TINY, min_support=0.5, min_confidence=0.9)
    assert sorted(zip(r["antecedent"], r["consequent"])) == [("b", "a"), ("c", "a")]
    assert r["support"].tolist() == pytest.approx([0.5, 0.5])
    assert r["confidence"].tolist() == pytest.approx([1.0, 1.0])
    assert r["lift"].tolist() == pytest.approx([4 / 3, 4 / 3])  # 1.0 / P(a) = 1 / 0.75
    loose = tm.association_rules(TINY, min_support=0.25, min_confidence=0.5)
    bc = loose[(loose["antecedent"] == "b") & (loose["consequent"] == "c")].iloc[0]
    assert bc["confidence"] == pytest.approx(0.5) and bc["lift"] == pytest.approx(1.0)  # 0.5 / P(c)
    assert tm.association_rules([None, []], min_support=0.5).columns.tolist() == \
        ["antecedent", "consequent", "support", "confidence", "lift"]


def test_summary_contract():
    assert tm.summary(TINY, top=2) == {"rows_tagged": 4, "unique_tags": 3, "complexity": 1.75, "diversity": 3,
                                       "top_tags": [{"tag": "a", "count": 3}, {"tag": "b", "count": 2}]}
    assert tm.summary([]) == {"rows_tagged": 0, "unique_tags": 0, "complexity": 0.0, "diversity": 0,
                              "top_tags": []}


def random_rows(seed=1, n=300, k=25):
    rng = np.random.default_rng(seed)
    return [[f"t{j}" for j in rng.choice(k, size=rng.integers(0, 6), p=np.arange(k, 0, -1) / (k * (k + 1) / 2))]
            for _ in range(n)]


def test_pair_counts_equal_mlxtend_fpgrowth_pairs():
    m = tm.encode(random_rows())
    items = tm.frequent_itemsets(m, 8, max_len=2)
    want = {tuple(sorted(s)): c for s, c in zip(items["itemsets"], items["count"]) if len(s) == 2}
    i, j, both = tm.pair_counts(m, 8)
    got = {tuple(sorted((m.vocab[a], m.vocab[b]))): int(c) for a, b, c in zip(i, j, both)}
    assert got == want and len(want) > 10


def test_pairwise_rules_equal_mlxtend_rules():
    rows = random_rows(2)
    fast = tm.association_rules(rows, min_support=0.03, min_confidence=0.2, top=1000)
    slow = tm.association_rules(rows, min_support=0.03, min_confidence=0.2, top=1000, max_len=3)
    slow = slow[~slow["antecedent"].str.contains(r"\+") & ~slow["consequent"].str.contains(r"\+")]
    assert len(fast) > 10 and len(slow) == len(fast)
    key = ["antecedent", "consequent"]
    a, b = fast.sort_values(key).reset_index(drop=True), slow.sort_values(key).reset_index(drop=True)
    assert a[key].equals(b[key])
    assert np.allclose(a[["support", "confidence", "lift"]], b[["support", "confidence", "lift"]])


def test_metrics_accept_a_row_slice_of_one_encoding():
    m = tm.encode(TINY)
    sub = tm.TagMatrix(m.vocab, m.x[[1, 3]])  # rows ["a", "c"] and []: "b" is in the vocab with count 0
    assert tm.summary(sub)["unique_tags"] == tm.diversity(sub) == 2 and tm.complexity(sub) == 1.0
    assert tm.tag_frequencies(sub)["tag"].tolist() == ["a", "c"]


def test_rule_key_keeps_language_names_with_symbols_apart():
    from core.tagnorm import rule_key
    assert len({rule_key("C++"), rule_key("C#"), rule_key("C"), rule_key("F#")}) == 4
    assert rule_key("c++ programming") == rule_key("C++ Programming")
    assert rule_key("python-programming") == rule_key("Python Programming")
