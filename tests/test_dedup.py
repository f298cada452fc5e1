"""core.dedup / core.rouge / core.decontam on hand-made inputs whose answers are known."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from core import decontam as DC
from core import dedup as D
from core.rouge import lcs_length, rouge_filter, rouge_l
from core.textnorm import normalise_text, text_key, word_tokens

WORDS = [f"w{i}" for i in range(400)] + ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa"]


def sentences(n: int, length: int = 40, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(length)) for _ in range(n)]


def change_words(text: str, k: int, seed: int) -> str:
    rng = random.Random(seed)
    w = text.split()
    for i in rng.sample(range(len(w)), k):
        w[i] = "changed"
    return " ".join(w)


# ---------- exact ----------

def test_normalise_and_exact_groups():
    assert normalise_text("  ¡Hello,   World!! \n") == "hello, world"
    assert normalise_text("Straße") == "strasse"
    assert text_key("Hello world.") == text_key("  hello   WORLD ") != text_key("hello, world")
    g = D.exact_groups(["a", "b", "a", "c", "b", "a"])
    assert g.tolist() == [0, 1, 0, -1, 1, 0]
    assert D.exact_groups([]).size == 0
    assert D.exact_groups(["x", "y"]).tolist() == [-1, -1]


# ---------- MinHash ----------

@pytest.fixture(scope="module")
def planted():
    base = sentences(60, length=120, seed=1)
    near = [change_words(base[i], 2, seed=i) for i in range(30)]  # 2 of 120 words: Jaccard of 5-shingles ~0.84
    texts = base + near  # rows 60..89 are near-duplicates of rows 0..29
    return texts


def test_minhash_finds_near_duplicates_only(planted):
    res = D.minhash_groups(planted, threshold=0.7, workers=1)
    g = res.groups
    for i in range(30):
        assert g[i] >= 0 and g[i] == g[60 + i], i
    assert (g[30:60] == -1).all()  # distinct texts are not grouped
    assert g.max() + 1 == 30
    assert len(res.pairs) == 30 and (res.scores >= 0.7).all()
    assert {tuple(p) for p in res.pairs} == {(i, 60 + i) for i in range(30)}
    seen = []
    again = D.minhash_groups(iter(planted), threshold=0.7, workers=2, progress=lambda d, t: seen.append((d, t)))
    assert np.array_equal(again.groups, g)  # a generator, two threads: same answer
    assert seen[-1] == (90, 0)  # total unknown for a generator
    D.minhash_groups(planted, threshold=0.7, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (90, 90)


def test_minhash_signature_is_datasketch_affine32():
    from datasketch import MinHash

    from core import dedup_nb
    from core.textnorm import char_classes
    cls, low = char_classes()
    text = "The quick brown fox jumps over the lazy dog, again and again! 你好世界"
    for unit in ("word", "char"):
        cps = np.frombuffer(text.encode("utf-32-le"), np.uint32)
        hv = dedup_nb.shingle_hashes(cps, cls, low, 5, unit == "char")
        ref = MinHash(num_perm=64, seed=7, hashfunc=lambda v: v)
        ref.update_batch(list(hv))
        sig, nsh = D.minhash_signatures([text], num_perm=64, unit=unit, seed=7)
        assert nsh[0] == len(hv) and np.array_equal(sig[0], ref.hashvalues)
    assert len(dedup_nb.shingle_hashes(np.frombuffer("one two".encode("utf-32-le"), np.uint32), cls, low, 5,
                                       False)) == 1  # fewer words than k: one shingle


def test_minhash_matches_datasketch_lsh(planted):
    """Our banding + verification gives the groups of datasketch.MinHashLSH candidates verified the same way."""
    from datasketch import LeanMinHash, MinHashLSH
    sig, _ = D.minhash_signatures(planted)
    lsh = MinHashLSH(threshold=0.7, num_perm=128)
    mh = [LeanMinHash(seed=1, hashvalues=s, scheme="affine32") for s in sig]
    for i, m in enumerate(mh):
        lsh.insert(i, m)
    parent = list(range(len(planted)))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x
    for i, m in enumerate(mh):
        for j in lsh.query(m):
            if j != i and m.jaccard(mh[j]) >= 0.7:
                parent[max(find(i), find(j))] = min(find(i), find(j))
    ref = D.dense_groups(np.array([find(i) for i in range(len(planted))]))
    assert np.array_equal(ref, D.minhash_groups(planted, threshold=0.7).groups)


def test_minhash_char_shingles_and_empty_rows():
    texts = ["Photosynthesis converts light energy into chemical energy in plants.",
             "Photosynthesis converts light energy into chemical energy in plantss.",  # a typo
             "Mitochondria are the powerhouse of the cell, producing ATP.", "", "  ...  ", ""]
    g = D.minhash_groups(texts, threshold=0.8, unit="char", shingle=4).groups
    assert g[0] == g[1] >= 0 and g[2] == -1
    assert (g[3:] == -1).all()  # rows without shingles are never grouped, not even with each other
    with pytest.raises(ValueError):
        D.minhash_groups(texts, unit="byte")


# ---------- semantic ----------

def test_semantic_groups_within_clusters():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(6, 32)).astype(np.float32)
    near = base[:3] + 0.01 * rng.normal(size=(3, 32)).astype(np.float32)
    vecs = np.concatenate([base, near, base[3:4] * 5.0])  # rows 6,7,8 ~ 0,1,2; row 9 = row 3 scaled
    clusters = np.array([0, 0, 1, 1, 2, 2, 0, 0, 2, 2])  # row 8 (near 2) is in another cluster than row 2
    res = D.semantic_groups(vecs, clusters, threshold=0.95)
    g = res.groups
    assert g[0] == g[6] >= 0 and g[1] == g[7] >= 0 and g[0] != g[1]
    assert g[2] == -1 and g[8] == -1  # not compared across clusters
    assert g[3] == -1 and g[9] == -1  # same direction, different clusters
    assert (res.scores >= 0.95).all()
    assert D.semantic_groups(vecs, None, threshold=0.95).groups[9] >= 0  # one cluster: found
    small = D.semantic_groups(vecs, None, threshold=0.95, block=2)  # tiny blocks, same answer
    assert np.array_equal(small.groups, D.semantic_groups(vecs, None, threshold=0.95).groups)


# ---------- keep rules ----------

def test_keep_rules():
    groups = np.array([0, 0, -1, 1, 1, 1, 0])
    assert D.choose_keepers(groups, "first").tolist() == [1, 0, 1, 1, 0, 0, 0]
    lengths = [5, 9, 1, 3, 3, 2, 9]  # group 0: tie 9/9 -> earliest (row 1); group 1: tie 3/3 -> row 3
    assert D.choose_keepers(groups, "longest", lengths=lengths).tolist() == [0, 1, 1, 1, 0, 0, 0]
    scores = [np.nan, 0.1, 0.0, 0.5, 0.9, np.nan, 0.2]
    assert D.choose_keepers(groups, "score", scores=scores).tolist() == [0, 0, 1, 0, 1, 0, 1]
    ds = ["b", "c", "a", "x", "a", "b", "a"]
    keep = D.choose_keepers(groups, "dataset_priority", datasets=ds, priority=["a", "b"])
    assert keep.tolist() == [0, 0, 1, 0, 1, 0, 1]  # group 0: row 6 (a); group 1: row 4 (a)
    keep = D.choose_keepers(groups, "dataset_priority", datasets=ds, priority=["c"])
    assert keep.tolist() == [0, 1, 1, 1, 0, 0, 0]  # unlisted datasets tie -> earliest row
    with pytest.raises(ValueError):
        D.choose_keepers(groups, "longest")
    with pytest.raises(ValueError):
        D.choose_keepers(groups, "biggest")


def test_dedup_result():
    found = D.Groups(np.array([0, 0, -1, 1, 1]), np.array([[0, 1], [3, 4]]), np.array([0.9, 0.85], np.float32))
    res = D.make_result("minhash", found, {"threshold": 0.8}, rule="longest", lengths=[1, 2, 3, 4, 4])
    assert res.keep.tolist() == [False, True, True, True, False]
    assert res.members(1).tolist() == [3, 4]
    assert res.evidence(0) == [(0, 1, pytest.approx(0.9))]
    d = res.to_dict()
    assert d == {"method": "minhash", "params": {"threshold": 0.8, "keep_rule": "longest"}, "rows": 5,
                 "groups": 2, "duplicate_rows": 4, "dropped": 2}
    assert res.to_dict(rows=True)["keep"] == [False, True, True, True, False]
    json.dumps(res.to_dict(rows=True))
    exact = D.make_result("exact", D.exact_groups(["b", "a", "b", "c", "a", "b"]), rule="first")
    assert exact.pairs.tolist() == [[0, 2], [1, 4], [0, 5]]  # (first row of the group, row)
    assert exact.keep.tolist() == [True, True, False, True, False, False] and (exact.scores == 1).all()


# ---------- ROUGE-L and the Self-Instruct filter ----------

def test_rouge_l_hand_pairs():
    # LCS("the cat sat on the mat", "the cat lay on the mat") = "the cat on the mat" = 5; F = 2*5/(6+6)
    assert lcs_length(["the", "cat", "sat", "on", "the", "mat"], ["the", "cat", "lay", "on", "the", "mat"]) == 5
    assert rouge_l("the cat sat on the mat", "the cat lay on the mat") == pytest.approx(10 / 12)
    assert rouge_l("The cat, sat!", "the CAT sat") == 1.0  # case and punctuation ignored
    assert rouge_l("a b c d", "d c b a") == pytest.approx(2 * 1 / 8)
    # LCS("a b c d e", "a c e") = 3: P = 3/5, R = 3/3, F = 2PR/(P+R) = 0.75
    assert rouge_l("a b c d e", "a c e") == pytest.approx(0.75)
    assert rouge_l("", "anything") == 0.0 and rouge_l("x y", "z w") == 0.0
    assert word_tokens("你好 world") == ["你", "好", "world"]


def test_rouge_filter_order_dependence():
    texts = ["the cat sat on the mat", "the cat lay on the mat", "a dog ran in the park today"]
    r = rouge_filter(texts)
    assert r.keep.tolist() == [True, False, True]
    assert r.matched.tolist() == [-1, 0, -1] and r.scores[1] == pytest.approx(10 / 12)
    r = rouge_filter(texts, order=[1, 0, 2])
    assert r.keep.tolist() == [False, True, True] and r.matched[0] == 1
    assert rouge_filter(texts, threshold=0.9).keep.all()  # 0.83 < 0.9
    with pytest.raises(ValueError):
        rouge_filter(texts, order=[0, 0, 1])


def _brute_filter(texts, thr, order):
    toks = [word_tokens(t) for t in texts]
    kept, out = [], {}
    for i in order:
        hit = next((j for j in kept if toks[i] and toks[j]
                    and 2 * lcs_length(toks[i], toks[j]) / (len(toks[i]) + len(toks[j])) >= thr - 1e-9), -1)
        out[i] = hit
        if hit < 0:
            kept.append(i)
    return [out[i] for i in range(len(texts))]


@pytest.mark.parametrize("thr", [0.5, 0.7, 0.9])
def test_rouge_filter_equals_brute_force(thr):
    """Pruning never changes the answer: long texts (several 64-bit words of LCS state) and a random walk."""
    base = sentences(14, length=80, seed=3) + sentences(14, length=8, seed=4)
    texts = base + [change_words(t, min(k, len(t.split())), seed=i)
                    for i, (t, k) in enumerate(zip(base, [1, 5, 20, 40] * 7))]
    order = np.random.default_rng(5).permutation(len(texts))
    r = rouge_filter(texts, thr, order)
    assert r.matched.tolist() == _brute_filter(texts, thr, order)
    assert (r.keep == (r.matched < 0)).all()
    for i in np.flatnonzero(~r.keep):
        assert r.scores[i] == pytest.approx(rouge_l(texts[i], texts[r.matched[i]]), abs=1e-6)


def test_rouge_result_groups():
    texts = ["the cat sat on the mat", "the cat lay on the mat", "other words here", "the cat sat on a mat"]
    res = D.rouge_result(texts, 0.7)
    assert res.keep.tolist() == [True, False, True, False]
    assert res.groups[0] == res.groups[1] == res.groups[3] >= 0 and res.groups[2] == -1
    assert sorted(map(tuple, res.pairs.tolist())) == [(0, 1), (0, 3)]


# ---------- decontamination ----------

EVAL_LONG = ("Compose an engaging travel blog post about a recent trip to Hawaii highlighting cultural "
             "experiences and must see attractions")  # 19 words


def test_ngram_decontamination_planted():
    evals = [EVAL_LONG, "What is the meaning of life?", 'Write "Test"']
    idx = DC.ngram_index(evals, n=13)
    w = EVAL_LONG.split()
    rows = [
        "Please " + " ".join(w[2:15]).upper() + "!!! thanks",  # 13 consecutive words, other case/punctuation
        "Intro: " + " ".join(w[3:15]) + " plus more",  # only 12 consecutive words: no hit
        " ".join(w[:6]) + " something else " + " ".join(w[6:13]),  # 13 words but broken up: no hit
        "Answer this: what is the meaning of life? Briefly.",  # a short prompt contained: hit
        "Write test cases for this function",  # below min_words: only the whole text matches
        "write, TEST!",  # ... like this
        "",
    ]
    hits = DC.ngram_matches(rows, idx)
    assert [(r, e) for r, e, _ in hits] == [(0, 0), (3, 1), (5, 2)]
    assert hits[0][2] == " ".join(w[2:15]).lower()
    assert hits[1][2] == "what is the meaning of life"
    flag, first = DC.flag_rows(len(rows), hits)
    assert flag.tolist() == [True, False, False, True, False, True, False] and first[3] == 1
    small = DC.ngram_index(evals, n=5)
    assert (1, 0) in {(r, e) for r, e, _ in DC.ngram_matches(rows, small)}  # 12 words share 5-grams
    with pytest.raises(ValueError):
        DC.ngram_matches(rows, idx, n=8)


def test_embedding_matches():
    rng = np.random.default_rng(0)
    ev = rng.normal(size=(5, 16)).astype(np.float32)
    rows = np.concatenate([rng.normal(size=(4, 16)), ev[[3]] + 0.01 * rng.normal(size=(1, 16)), 2 * ev[[1]]])
    r, e, c = DC.embedding_matches(rows, ev, threshold=0.9, block=2)
    assert r.tolist() == [4, 5] and e.tolist() == [3, 1] and (c >= 0.9).all()
    flag, first = DC.flag_rows(6, (r, e, c))
    assert flag.tolist() == [False] * 4 + [True, True] and first[5] == 1
    assert DC.embedding_matches(rows[:0], ev)[0].size == 0


def test_load_eval_texts(tmp_path):
    (tmp_path / "mt.jsonl").write_text(
        json.dumps({"question_id": 1, "turns": ["First question here?", "Now rewrite it."]}) + "\n"
        + json.dumps({"question_id": 2, "turns": ["Second question."]}) + "\n")
    (tmp_path / "alpaca.json").write_text(json.dumps([{"instruction": "Do a thing.", "input": "with this",
                                                       "output": "done"}]))
    (tmp_path / "chat.jsonl").write_text(json.dumps({"messages": [
        {"role": "system", "content": "be nice"}, {"role": "user", "content": "hi there"},
        {"role": "assistant", "content": "hello"}]}) + "\n")
    got = DC.load_eval_texts([tmp_path / "mt.jsonl"])
    assert [(p.text, p.line, p.turn) for p in got] == [("First question here?", 1, 0), ("Now rewrite it.", 1, 1),
                                                      ("Second question.", 2, 0)]
    assert len(DC.load_eval_texts([tmp_path / "mt.jsonl"], turns="first")) == 2
    got = DC.load_eval_texts([tmp_path / "alpaca.json", tmp_path / "chat.jsonl"])
    assert [p.text for p in got] == ["Do a thing.\n\nwith this", "hi there"]
    assert len(DC.load_eval_texts(tmp_path)) == 5  # a folder: every data file in it
    (tmp_path / "bad.jsonl").write_text('{"nothing": 1}\n')
    with pytest.raises(ValueError):
        DC.load_eval_texts([tmp_path / "bad.jsonl"])
