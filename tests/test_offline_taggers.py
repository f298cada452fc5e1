"""Offline taggers: keyphrase (KeyBERT-style), taxonomy zero-shot, and nearest-neighbour propagation."""

import numpy as np
import pytest

from core.embed import FakeEmbedder
from core.keyphrase import KeyphraseTagger, candidates, language_path, mmr
from core.propagate import _quotas, choose_sample, evaluate, propagate
from core.taxonomy import GROUPS, TaxonomyError, TaxonomyTagger, load_taxonomy
from tests.test_steps import Counting  # FakeEmbedder that records every text it encodes


def _valid(tags):
    return all(isinstance(t, str) and t and 0.0 <= c <= 1.0 for t, c in tags)


# ---------------------------------------------------------------- keyphrase
def test_candidates_verb_object_code_and_noun_phrases():
    c = candidates("Write a poem about the sea.")
    assert c[0] == "poem writing" and "sea" in c and "about" not in " ".join(c)
    c = candidates("Sort a list of numbers in Python.")
    assert {"number sorting", "python", "python sorting"} <= set(c)
    assert {"text summarization", "summarization"} <= set(candidates("Summarize the following text in 3 sentences."))
    assert "french translation" in candidates("Translate this sentence into French: I like cats.")
    assert "pirate role-play" in candidates("Pretend you are a pirate and describe your ship.")
    # a lexicon verb that is not in verb position stays a noun
    assert "sorting algorithm" in candidates("What is the fastest sorting algorithm?")
    assert candidates("") == [] and candidates("!!! ???") == []


def test_language_paths():
    assert language_path("Explain the rules of cricket to me.") == "en"
    assert language_path("Schreibe ein Gedicht über das Meer und die Wellen") == "skip"
    assert language_path("Напиши стихотворение о море") == "skip"
    assert language_path("写一首关于秋天的诗") == "cjk"
    assert candidates("Schreibe ein Gedicht über das Meer und die Wellen") == []
    assert "秋天" in candidates("写一首关于秋天的诗")


def test_mmr_prefers_relevant_then_diverse_and_respects_min_score():
    doc = np.array([1.0, 0.0, 0.0], np.float32)
    c = np.array([[0.9, 0.436, 0], [0.9, 0.436, 0], [0.8, 0, 0.6], [-1, 0, 0]], np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    assert mmr(doc, c, 2, diversity=0.7, min_score=0.0) == [0, 2]  # the duplicate (1) loses to a new direction
    assert mmr(doc, c, 2, diversity=0.0, min_score=0.0) == [0, 1]
    assert 3 not in mmr(doc, c, 4, diversity=0.5, min_score=0.0)
    words = [frozenset({"primary", "colors"}), frozenset({"colors"}), frozenset({"x"}), frozenset({"y"})]
    assert 1 not in mmr(doc, c, 3, diversity=0.0, min_score=0.0, words=words)


def test_keyphrase_tagger_embeds_each_phrase_once_and_caches():
    e = Counting()
    kt = KeyphraseTagger(e, top_k=3, min_score=0.0)
    texts = ["Write a poem about the sea.", "Write a poem about the sea.", "Write a poem about love.",
             "Schreibe ein Gedicht über das Meer und die Wellen", "", None]
    out = kt.tag(texts)
    assert len(out) == len(texts) and all(_valid(r) for r in out)
    assert out[0] == out[1] and out[3] == out[4] == out[5] == []
    assert all(len(r) <= 3 for r in out)
    assert any("poem" in t for t, _ in out[2])
    assert [t for t, _ in out[0]] == sorted([t for t, _ in out[0]], key=dict(out[0]).get, reverse=True)
    assert len(e.seen) == len(set(e.seen))  # texts and phrases: each distinct string embedded once
    assert "German" not in " ".join(e.seen) and "Schreibe ein Gedicht über das Meer und die Wellen" not in e.seen
    e.seen.clear()
    vecs = e.encode(texts[:3])
    e.seen.clear()
    again = kt.tag(texts[:3], vecs=vecs)  # precomputed text vectors + cached phrases: nothing to embed
    assert e.seen == [] and again == out[:3]
    with pytest.raises(ValueError):
        kt.tag(texts[:2], vecs=vecs)


def test_keyphrase_phrase_cache_is_bounded():
    texts = ["Write a poem about the sea.", "Sort a list of numbers in Python.", "Summarize the following text."]
    first = KeyphraseTagger(FakeEmbedder(), min_score=0.0, cache_size=0).tag(texts)
    kt = KeyphraseTagger(FakeEmbedder(), min_score=0.0, cache_size=8)
    for order in ([0], [1], [0, 1], [2, 0], [2, 1, 0]):  # cached phrases looked up while others evict them
        assert kt.tag([texts[i] for i in order]) == [first[i] for i in order]
        assert len(kt._cache) <= 8


def test_keyphrase_progress_reaches_total():
    calls = []
    KeyphraseTagger(FakeEmbedder()).tag(["Sort numbers in Python", "Write a haiku"],
                                        progress=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1][0] == calls[-1][1] and all(d <= t for d, t in calls)


# ---------------------------------------------------------------- taxonomy
def test_default_taxonomy_is_valid_and_sized():
    tax = load_taxonomy()
    assert 250 <= len(tax) <= 400
    assert {t["group"] for t in tax} == set(GROUPS)
    assert len({t["tag"] for t in tax}) == len(tax)
    assert {"python", "translation", "summarization", "json output", "word limit", "role-play"} <= \
        {t["tag"] for t in tax}


@pytest.mark.parametrize("content, needle", [
    ('{"version": 1, "tags": [', "not valid JSON (line 1"),
    ('{"version": 2, "tags": []}', "unsupported taxonomy version"),
    ('{"tags": []}', "non-empty list"),
    ('[{"tag": "a", "group": "domain", "description": "x"}, {"tag": "b", "group": "colour", "description": "y"}]',
     "entry 1 ('b'): 'group' must be one of"),
    ('[{"tag": "A  b", "group": "task", "description": "x"}, {"tag": "a b", "group": "task", "description": "y"}]',
     "entry 1 ('a b'): duplicate tag (first at entry 0)"),
    ('[{"tag": "a", "group": "task", "description": " "}]', "entry 0 ('a'): 'description'"),
    ('[{"tag": "", "group": "task", "description": "x"}]', "entry 0: 'tag' must be a non-empty string"),
    ('[{"tag": "a", "group": "task", "description": "x", "weight": 2}]', "unknown field(s) weight"),
    ('["a"]', "entry 0: expected an object"),
])
def test_taxonomy_validation_names_file_and_entry(tmp_path, content, needle):
    p = tmp_path / "tax.json"
    p.write_text(content)
    with pytest.raises(TaxonomyError) as e:
        load_taxonomy(p)
    assert str(p) in str(e.value) and needle in str(e.value)
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(tmp_path / "missing.json")


TINY = [{"tag": "cooking", "group": "domain", "description": "recipes ingredients kitchen bake"},
        {"tag": "python", "group": "domain", "description": "python code script function"},
        {"tag": "translation", "group": "task", "description": "translate french english language"},
        {"tag": "poem writing", "group": "task", "description": "poem verse rhyme"}]


def test_taxonomy_tagger_with_fake_embedder():
    tt = TaxonomyTagger(FakeEmbedder(), TINY, top_k=2, threshold=0.0)
    out = tt.tag(["translate this into french", "a python function script", "", "bake with these ingredients"])
    assert out[0][0][0] == "translation" and out[1][0][0] == "python" and out[3][0][0] == "cooking"
    assert out[2] == [] and all(len(r) == 2 and _valid(r) for r in (out[0], out[1], out[3]))
    conf = tt.confidence(tt.similarities(FakeEmbedder().encode(["translate french"])))
    assert conf.shape == (1, 4) and ((conf >= 0) & (conf <= 1)).all()
    strict = TaxonomyTagger(FakeEmbedder(), TINY, top_k=2, threshold=0.999).tag(["translate this into french"])
    assert strict == [[]]
    with pytest.raises(ValueError):
        tt.tag(["a"], vecs=np.zeros((2, 64), np.float32))


# ---------------------------------------------------------------- propagation
def _clusters(n_per=60, n_clusters=6, dim=32, noise=0.15, seed=1):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_clusters, dim))
    vecs, tags = [], []
    for c in range(n_clusters):
        vecs.append(centers[c] + noise * rng.normal(size=(n_per, dim)))
        tags += [[f"topic{c}", "even" if c % 2 == 0 else "odd"]] * n_per
    return np.vstack(vecs).astype(np.float32), tags


def test_propagation_recovers_cluster_tags():
    vecs, tags = _clusters()
    r = evaluate(vecs, tags, holdout=0.25, k=10, min_conf=0.5, seed=0)
    assert r["n_test"] == 90 and r["n_train"] == 270
    assert r["precision"] > 0.98 and r["recall"] > 0.98 and r["f1"] > 0.98 and r["coverage"] == 1.0
    # scrambled tags: propagation cannot beat chance, and evaluate() says so
    rng = np.random.default_rng(0)
    bad = [tags[i] for i in rng.permutation(len(tags))]
    assert evaluate(vecs, bad, holdout=0.25, seed=0)["f1"] < 0.7


def test_propagate_confidences_batches_and_edges():
    vecs, tags = _clusters(n_per=20, n_clusters=3)
    lab, tgt = vecs[::2], vecs[1::2]
    ltags = tags[::2]
    a = propagate(lab, ltags, tgt, k=5, min_conf=0.0)
    b = propagate(lab, ltags, tgt, k=5, min_conf=0.0, batch=7)
    assert a == b and all(_valid(r) for r in a)
    assert all(r[0][1] >= r[-1][1] for r in a)
    # half of the neighbours carry "x": confidence about one half
    two = np.array([[1, 0], [1, 0.01]], np.float32)
    half = propagate(two, [["x"], []], np.array([[1, 0.005]]), k=2, min_conf=0.1)[0]
    assert half == [("x", pytest.approx(0.5, abs=0.01))]
    assert propagate(two, [["x"], ["x"]], np.array([[-1, 0]]), k=2) == [[]]  # only dissimilar neighbours
    assert propagate(two, [["x"], ["x", "x"]], two, k=50)[1] == [("x", pytest.approx(1.0))]  # k > labelled rows
    assert propagate(np.zeros((0, 2)), [], two) == [[], []]
    with pytest.raises(ValueError):
        propagate(two, [["x"]], two)


def test_choose_sample_covers_every_cluster():
    vecs, tags = _clusters(n_per=100, n_clusters=6)
    vecs = np.vstack([vecs, vecs[:5] + 10])  # a small far-away group
    idx = choose_sample(vecs, 24, seed=0)
    assert len(idx) == 24 == len(set(idx.tolist())) and (np.diff(idx) > 0).all()
    assert {tags[i][0] for i in idx if i < 600} == {f"topic{c}" for c in range(6)}
    assert choose_sample(vecs, 10_000).tolist() == list(range(len(vecs)))
    assert (choose_sample(vecs, 24, seed=0) == idx).all()
    q = _quotas(np.array([50, 30, 15, 4, 1, 0]), 10)
    assert q.sum() == 10 and (q[:5] >= 1).all() and q[5] == 0 and q[0] >= q[1] >= q[2]
    assert _quotas(np.array([5, 5, 5]), 2).sum() == 2


# ---------------------------------------------------------------- the real model
def test_real_minilm_tags_make_sense():
    from core.embed import get_embedder
    e = get_embedder()
    texts = ["Write a Python function that sorts a list of integers in ascending order.",
             "Write a poem about the sea at night.",
             "Translate the following sentence into French: The weather is nice today.",
             "Summarize this article about climate change in three sentences."]
    vecs = e.encode(texts)
    kp = KeyphraseTagger(e).tag(texts, vecs=vecs)
    assert all(_valid(r) and r for r in kp)
    assert any("python" in t or "sort" in t for t, _ in kp[0])
    assert any("poem" in t for t, _ in kp[1])
    assert any("translation" in t or "french" in t for t, _ in kp[2])
    tt = TaxonomyTagger(e, top_k=3)
    tx = tt.tag(texts, vecs=vecs)
    assert all(_valid(r) for r in tx)
    names = [[t for t, _ in r] for r in tx]
    assert "poem writing" in names[1]
    assert "translation" in names[2]
    assert "summarization" in names[3]
    tt.threshold = 0.0
    ranked = tt.tag(texts[:1], vecs=vecs[:1])[0]
    assert "python" in [t for t, _ in ranked]  # by similarity, below the default threshold (see the report)
