"""core.cluster / core.labels: synthetic data only (no model downloads, no shared data)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from core import cluster as C


def blobs(n_per=100, k=6, dim=48, spread=0.08, seed=0):
    """k Gaussian blobs around random directions of the unit sphere (so cosine separates them)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, dim))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    X = np.concatenate([c + spread * rng.normal(size=(n_per, dim)) for c in centers]).astype(np.float32)
    y = np.repeat(np.arange(k), n_per)
    perm = rng.permutation(len(y))
    return X[perm], y[perm]


@pytest.fixture(scope="module")
def blob_run():
    X, y = blobs()
    stages = []
    res = C.cluster(X, None, mode="reproducible", progress=lambda s, d, t: stages.append((s, d, t)))
    return X, y, res, stages


def test_hdbscan_pipeline_recovers_blobs(blob_run):
    X, y, res, stages = blob_run
    assert res.labels.shape == (len(X),) and res.labels.dtype == np.int64
    assert res.reduced.shape == (len(X), 5) and res.reduced.dtype == np.float32
    assert adjusted_rand_score(y, res.labels) > 0.9
    assert res.noise_fraction < 0.15
    assert res.params["method"] == "hdbscan" and res.params["n_clusters"] == 6
    for key in ("n_components", "min_cluster_size", "min_samples", "reassign", "mode", "seed", "umap_sample",
                "hdbscan_sample"):
        assert key in res.params
    assert {s for s, _, _ in stages} == {"reduce", "cluster", "keywords", "representatives"}
    assert ("reduce", len(X), len(X)) in stages


def test_labels_numbered_by_size_and_representatives(blob_run):
    _, _, res, _ = blob_run
    sizes = [int((res.labels == c).sum()) for c in range(res.params["n_clusters"])]
    assert sizes == sorted(sizes, reverse=True)
    assert set(res.representatives) == set(range(res.params["n_clusters"]))
    for c, rows in res.representatives.items():
        assert len(rows) == 3 and all(res.labels[r] == c for r in rows)
    assert pickle.loads(pickle.dumps(res.model)) is not None


def test_clusters_numbered_by_decreasing_size():
    rng = np.random.default_rng(8)
    X, _ = blobs(n_per=1, k=3, dim=16, seed=8)
    sizes = [20, 90, 45]
    V = np.concatenate([X[i] + 0.05 * rng.normal(size=(m, 16)) for i, m in enumerate(sizes)]).astype(np.float32)
    for method in ("kmeans", "hdbscan"):
        res = C.cluster(V, None, method=method, k=3, min_cluster_size=10, mode="reproducible")
        assert np.bincount(res.labels[res.labels >= 0]).tolist() == [90, 45, 20]
        assert (res.labels[20:110] == 0).all()


def test_reassign_noise_leaves_no_noise(blob_run):
    _, y, res, _ = blob_run
    noisy = res.labels.copy()
    noisy[::7] = -1
    fixed = C.reassign_noise(res.reduced, noisy)
    assert (fixed >= 0).all()
    assert (fixed[noisy >= 0] == noisy[noisy >= 0]).all()
    assert adjusted_rand_score(y, fixed) > 0.9  # reassigned to the right (nearest) cluster


def test_reassign_noise_nearest_cluster_and_no_cluster():
    pts = np.array([[0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10], [1, 1], [9, 9]], dtype=float)
    lab = np.array([0, 0, 0, 1, 1, 1, -1, -1])
    assert C.reassign_noise(pts, lab).tolist() == [0, 0, 0, 1, 1, 1, 0, 1]
    assert C.reassign_noise(pts, np.full(8, -1)).tolist() == [0] * 8


def test_cluster_with_reassign_has_no_noise():
    X, y = blobs(n_per=60, k=4, seed=3)
    X[:10] = np.random.default_rng(1).normal(size=(10, X.shape[1]))  # scattered outliers
    res = C.cluster(X, None, reassign=True, mode="reproducible")
    assert (res.labels >= 0).all()
    assert res.params["reassign"] is True
    assert adjusted_rand_score(y[10:], res.labels[10:]) > 0.9


def test_hdbscan_labels_sample_path_keeps_noise():
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.normal(0, 0.1, (300, 2)), rng.normal(5, 0.1, (300, 2)), [[100.0, 100.0]]])
    full = C.hdbscan_labels(pts, 20, 5)
    sampled = C.hdbscan_labels(pts, 20, 5, sample_threshold=200)
    assert adjusted_rand_score(full[:600], sampled[:600]) > 0.99
    assert len(set(sampled[:600])) == 2
    # a point whose nearest sampled neighbour is noise stays noise
    lab = C.hdbscan_labels(np.concatenate([pts[:600], [[100.0, 100.0]] * 3]), 20, 5, sample_threshold=602)
    assert (lab[-3:] == -1).all()


def test_kmeans_labels():
    X, y = blobs(n_per=80, k=5, seed=1)
    assert adjusted_rand_score(y, C.kmeans_labels(X, 5)) > 0.95
    res = C.cluster(X, None, method="kmeans", k=5)
    assert res.noise_fraction == 0.0 and (res.labels >= 0).all() and res.params["k"] == 5
    assert adjusted_rand_score(y, res.labels) > 0.95
    assert C.default_k(400) == len(np.unique(C.kmeans_labels(X)))
    big, ybig = blobs(n_per=2100, k=5, dim=8, spread=0.05, seed=2)  # MiniBatchKMeans path (> 10k rows)
    assert adjusted_rand_score(ybig, C.kmeans_labels(big, 5)) > 0.95


def test_defaults_scale_with_n():
    assert 4 <= C.default_min_cluster_size(300) <= 10
    assert C.default_min_cluster_size(52_000) > C.default_min_cluster_size(5_000) > C.default_min_cluster_size(300)
    assert 1 <= C.default_min_samples(300) <= C.default_min_cluster_size(300)
    assert C.default_min_samples(52_000) <= C.default_min_cluster_size(52_000)
    assert C.default_k(100) < C.default_k(10_000) <= 200


def test_umap_reduce_shapes_and_sample_transform_path():
    X, y = blobs(n_per=100, k=5, seed=4)
    calls = []
    Y, model = C.umap_reduce(X, 2, mode="reproducible", sample_threshold=200, progress=lambda d, t: calls.append((d, t)))
    assert Y.shape == (500, 2) and Y.dtype == np.float32 and np.isfinite(Y).all()
    assert calls[0] == (200, 500) and calls[-1] == (500, 500)
    assert model._raw_data.shape[0] == 200  # fitted on the sample only
    # the transformed rows land with their own blob
    assert adjusted_rand_score(y, C.hdbscan_labels(Y, 30, 5)) > 0.9
    again = pickle.loads(pickle.dumps(model))
    Z = C.umap_transform(again, X[:20])
    assert Z.shape == (20, 2) and Z.dtype == np.float32


def test_umap_reproducible_mode_is_deterministic():
    X, _ = blobs(n_per=40, k=4, seed=5)
    a, _ = C.umap_reduce(X, 3, mode="reproducible", seed=7)
    b, _ = C.umap_reduce(X, 3, mode="reproducible", seed=7)
    assert np.array_equal(a, b)
    with pytest.raises(ValueError):
        C.umap_reduce(X, 2, mode="slow")


def test_tiny_inputs_do_not_crash():
    for n in (0, 1, 2, 5):
        X = np.random.default_rng(n).normal(size=(n, 16)).astype(np.float32)
        res = C.cluster(X, ["x"] * n)
        assert res.labels.shape == (n,) and res.reduced.shape == (n, 5)
        res = C.cluster(X, ["x"] * n, reassign=True)
        assert res.labels.shape == (n,) and (res.labels >= 0).all()
    _, model = C.umap_reduce(np.ones((3, 4)), 2)
    assert C.umap_transform(model, np.ones((2, 4))).shape == (2, 2)


COOKING = ["Bake the bread in a hot oven and knead the dough well", "Simmer the tomato sauce and add garlic to the pasta",
           "Chop onions and garlic for the soup recipe", "Roast the chicken in the oven with garlic and herbs",
           "This pasta recipe needs fresh tomato sauce"]
FOOTBALL = ["The striker scored a goal in the football match", "The goalkeeper saved a penalty in the final match",
            "Football fans cheered when the team scored a late goal", "The referee gave a penalty after the foul",
            "The coach picked the team for the football league match"]
PYTHON = ["Write a Python function that returns a list of integers", "Fix the Python function raising an exception",
          "Use a Python list comprehension inside a function", "Import the module and call the Python function",
          "Python dictionary and list methods explained with code"]


def test_ctfidf_keywords_known_topics():
    texts = COOKING + FOOTBALL + PYTHON + ["stray noise text about weather"]
    labels = np.array([0] * 5 + [1] * 5 + [2] * 5 + [-1])
    kw = C.ctfidf_keywords(texts, labels, top_n=5)
    assert set(kw) == {0, 1, 2}
    assert all(len(v) == 5 for v in kw.values())
    assert "garlic" in kw[0][:2] and {"oven", "pasta", "recipe", "sauce", "tomato"} & set(kw[0])
    assert "match" in kw[1][:3] and {"football", "goal", "penalty", "team"} & set(kw[1])
    assert kw[2][0] == "python" and "function" in kw[2][:3]
    assert not any("weather" in t for v in kw.values() for t in v)  # noise excluded
    assert not any(t in ("the", "and", "a", "in") for v in kw.values() for t in v)  # stop words removed


def test_ctfidf_bigrams_and_min_df():
    texts = ["machine learning model training"] * 3 + ["ice cream dessert"] * 3
    kw = C.ctfidf_keywords(texts, np.array([0, 0, 0, 1, 1, 1]), top_n=10)
    assert "machine learning" in kw[0] and "ice cream" in kw[1]
    many = [f"alpha beta unique{i}" for i in range(300)]
    kw = C.ctfidf_keywords(many, np.zeros(300, dtype=int), top_n=10)
    assert not any(t.startswith("unique") for t in kw[0])  # single-row terms pruned on bigger corpora


def test_ctfidf_cjk_and_empty_texts():
    zh = ["请你写一个Python程序生成随机数", "用Python程序计算斐波那契数列", "Python程序如何读取文件",
          "写一首关于春天的诗", "请写一首描写月亮的诗", "创作一首秋天的诗歌"]
    kw = C.ctfidf_keywords(zh, np.array([0, 0, 0, 1, 1, 1]))
    assert "python" in kw[0] or "程序" in kw[0]
    assert any("诗" in t for t in kw[1])
    assert C.ctfidf_keywords(["", "", "  "], np.array([0, 0, 1])) == {0: [], 1: []}
    assert C.ctfidf_keywords(["the and of", "", "日"], np.array([0, 1, 1])) == {0: [], 1: ["日"]}
    assert C.ctfidf_keywords([], np.array([], dtype=int)) == {}
    assert C.ctfidf_keywords(["a", "b"], np.array([-1, -1])) == {}
    kw = C.ctfidf_keywords(["こんにちは世界", "안녕하세요 세계", "", "Ünïcode wörds ñ"], np.array([0, 0, 1, 1]))
    assert set(kw) == {0, 1}


def test_match_clusters():
    old = {0: {1, 2, 3, 4}, 1: {5, 6, 7, 8}, 2: {9, 10}}
    new = {10: {5, 6, 7, 8, 20}, 11: {1, 2, 3}, 12: {30, 31}, 13: {9}}
    assert C.match_clusters(old, new) == {10: 1, 11: 0, 13: 2}
    assert C.match_clusters(old, new, min_jaccard=0.7) == {10: 1, 11: 0}
    # one-to-one: two new clusters overlapping the same old one, the better match wins
    old = {0: {1, 2, 3, 4, 5, 6}}
    new = {1: {1, 2, 3}, 2: {1, 2, 3, 4, 5}}
    assert C.match_clusters(old, new) == {2: 0}
    assert C.match_clusters({}, new) == {} and C.match_clusters(old, {}) == {}


def test_cluster_keywords_end_to_end():
    rng = np.random.default_rng(0)
    X, y = blobs(n_per=15, k=3, seed=6)
    texts = [[COOKING, FOOTBALL, PYTHON][c][int(rng.integers(5))] for c in y]
    res = C.cluster(X, texts, mode="reproducible", reassign=True)
    assert adjusted_rand_score(y, res.labels) > 0.9
    for c, words in res.keywords.items():
        topic = np.bincount(y[res.labels == c]).argmax()
        assert ["garlic", "match", "python"][topic] in " ".join(words)
    with pytest.raises(ValueError):
        C.cluster(X, texts[:-1])
    with pytest.raises(ValueError):
        C.cluster(X, texts, method="dbscan")


def test_reassign_noise_variants():
    pts = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [3, 0.5], [0.2, 4]], dtype=float)
    lab = np.array([0, 0, 1, 1, -1, -1])
    for how in ("centroid", "knn"):
        assert C.reassign_noise(pts, lab, how=how).tolist() == [0, 0, 1, 1, 0, 1]
    # cosine looks at the direction only: the last point points like cluster 0 but lies nearer cluster 1
    cos_pts = np.array([[0.1, 0], [0.1, 0.001], [4, 3], [4, 3.1], [5, 0.5]], dtype=float)
    cos_lab = np.array([0, 0, 1, 1, -1])
    assert C.reassign_noise(cos_pts, cos_lab, metric="cosine")[-1] == 0
    assert C.reassign_noise(cos_pts, cos_lab)[-1] == 1
    with pytest.raises(ValueError):
        C.reassign_noise(pts, lab, how="vote")


def test_umap_settings_and_numba_cache():
    assert C.umap_settings(500) == {"init": "spectral", "n_epochs": 500}
    assert C.umap_settings(52_002, 50_000) == {"init": "pca", "n_epochs": C.UMAP_BIG_EPOCHS}
    assert C.umap_settings(20_000)["init"] == "spectral" and C.umap_settings(20_000, n_epochs=7)["n_epochs"] == 7
    C.enable_numba_cache()
    assert C.enable_numba_cache() == 0  # idempotent
    import umap.layouts
    from numba.core.caching import NullCache

    assert not isinstance(umap.layouts._nb_optimize_layout_euclidean_single_epoch._cache, NullCache)
