"""Clustering stage: embeddings in, cluster labels / reduced points / keywords out.

Pure numpy/scikit-learn/UMAP/HDBSCAN code (no Streamlit, no DuckDB). The default pipeline is UMAP (cosine) to a
few dimensions, then HDBSCAN (euclidean) on the reduced points, optionally every noise point reassigned to a
cluster; `method="kmeans"` runs (MiniBatch)KMeans on the normalised vectors instead. Labels are renumbered
0..K-1 by decreasing cluster size, -1 = noise. Defaults were tuned with bench/cluster.py.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from core.labels import ctfidf_keywords, match_clusters, representatives

__all__ = [
    "ClusterResult", "cluster", "ctfidf_keywords", "default_k", "default_min_cluster_size", "default_min_samples",
    "enable_numba_cache", "hdbscan_labels", "kmeans_labels", "match_clusters", "reassign_noise", "representatives",
    "umap_reduce", "umap_settings", "umap_transform",
]

MODES = ("fast", "reproducible")
PCA_INIT_ABOVE = 50_000  # spectral init can hang on big graphs
UMAP_MIN_DIST = 0.0  # packed clusters for density-based clustering
MAP_MIN_DIST = 0.1  # the 2-D map: UMAP's own default, points spread enough to see and select
REASSIGN_K = 10
# Above BIG_FIT fitted rows UMAP runs UMAP_BIG_EPOCHS epochs (UMAP's own default there: 200; 500 below). Measured
# on 52k Alpaca: half the layout time, and the clusters agree with a 200-epoch run (ARI 0.89) about as well as
# two 200-epoch runs agree with each other (0.90).
BIG_FIT = 10_000
UMAP_BIG_EPOCHS = 100


def default_min_cluster_size(n: int) -> int:
    """Smallest cluster HDBSCAN may report: 5 for a few hundred rows, growing like sqrt(n) (52k rows -> 114)."""
    return int(max(5, round(0.5 * math.sqrt(max(n, 0)))))


def default_min_samples(n: int) -> int:
    """HDBSCAN's density smoothing: 2 up to ~16k rows, then up to 5 (52k rows -> 5). On the labelled bench sets
    min_samples 1-2 scored as well as or better than larger values and gave less noise; on 52k Alpaca it made
    little difference to noise (24-34% for 1..10 before reassignment)."""
    return int(max(2, min(5, round(default_min_cluster_size(n) / 25))))


def default_k(n: int) -> int:
    """KMeans cluster count: about sqrt(n/2), at least 2 and at most 200 (never more than n)."""
    return int(max(1, min(n, max(2, min(200, round(math.sqrt(max(n, 0) / 2)))))))


def _progress(progress, *args) -> None:
    if progress is not None:
        progress(*args)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    V = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(V, axis=1, keepdims=True)
    return V / np.where(norms == 0, 1.0, norms)


class LinearReducer:
    """Stand-in for a UMAP model when there are too few rows for UMAP: a PCA projection (zero-padded)."""

    def __init__(self, vectors: np.ndarray, n_components: int):
        X = np.asarray(vectors, dtype=np.float64)
        self.n_components = n_components
        self.mean_ = X.mean(axis=0) if len(X) else np.zeros(X.shape[1])
        if len(X) > 1:
            _, _, vt = np.linalg.svd(X - self.mean_, full_matrices=False)
            self.components_ = vt[:n_components]
        else:
            self.components_ = np.zeros((0, X.shape[1]))

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        Y = (np.asarray(vectors, dtype=np.float64) - self.mean_) @ self.components_.T
        out = np.zeros((len(Y), self.n_components), dtype=np.float32)
        out[:, : Y.shape[1]] = Y
        return out


_CACHE_ENABLED = False


def enable_numba_cache() -> int:
    """Turn on Numba's on-disk cache (NUMBA_CACHE_DIR, else __pycache__) for the module-level jitted functions of
    umap / pynndescent / fast_hdbscan that do not enable it themselves. Without this every new process spends
    tens of seconds compiling UMAP before its first fit. Returns how many functions were switched; harmless when
    no cache location is writable (those functions just stay uncached)."""
    global _CACHE_ENABLED
    if _CACHE_ENABLED:
        return 0
    _CACHE_ENABLED = True
    import sys

    try:
        import fast_hdbscan  # noqa: F401
        import umap  # noqa: F401
        from numba.core.caching import NullCache
        from numba.core.registry import CPUDispatcher
    except ImportError:  # pragma: no cover - numba internals moved
        return 0
    count = 0
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(("umap", "pynndescent", "fast_hdbscan")):
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, CPUDispatcher) and isinstance(getattr(obj, "_cache", None), NullCache):
                try:
                    obj.enable_caching()
                    count += 1
                except Exception:  # noqa: BLE001, S110 - e.g. no writable cache location: stays uncached
                    pass
    return count


def umap_settings(n: int, n_fit: int | None = None, n_epochs: int | None = None) -> dict:
    """init and n_epochs that umap_reduce uses for n rows of which n_fit are fitted."""
    n_fit = n if n_fit is None else n_fit
    if n_epochs is None:
        n_epochs = UMAP_BIG_EPOCHS if n_fit > BIG_FIT else 500
    return {"init": "pca" if n > PCA_INIT_ABOVE else "spectral", "n_epochs": int(n_epochs)}


def _umap(n: int, n_fit: int, n_components: int, mode: str, seed: int, n_neighbors: int, n_epochs,
          min_dist: float = UMAP_MIN_DIST):
    import umap

    enable_numba_cache()
    return umap.UMAP(
        n_components=n_components, n_neighbors=max(2, min(n_neighbors, n_fit - 1)), metric="cosine",
        min_dist=min_dist, **umap_settings(n, n_fit, n_epochs),
        random_state=seed if mode == "reproducible" else None, n_jobs=1 if mode == "reproducible" else -1,
        low_memory=True, verbose=False,
    )


def umap_reduce(vectors: np.ndarray, n_components: int = 2, *, mode: str = "fast", seed: int = 42,
                sample_threshold: int = 50_000, n_neighbors: int = 15, progress=None, n_epochs: int | None = None,
                chunk_size: int = 20_000, min_dist: float = UMAP_MIN_DIST) -> tuple[np.ndarray, object]:
    """UMAP (cosine) to n_components. mode "fast": parallel, not reproducible; "reproducible": random_state=seed,
    single-threaded. Above sample_threshold rows, fit on a uniform random sample of that many rows (drawn with
    `seed`) and transform the rest in chunks, calling progress(done_rows, total_rows) after the fit and each chunk.
    min_dist: 0 (the default) packs clusters for HDBSCAN; the 2-D map passes MAP_MIN_DIST (0.1).
    Returns float32 (n, n_components) coordinates and the fitted model (picklable; see umap_transform)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    X = np.asarray(vectors, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"vectors must be 2-D, got shape {X.shape}")
    n = len(X)
    if n < max(n_components + 2, 10):  # too few rows for a neighbour graph
        model = LinearReducer(X, n_components)
        _progress(progress, n, n)
        return model.transform(X), model
    sample = None
    if n > sample_threshold:
        sample = np.sort(np.random.default_rng(seed).choice(n, size=sample_threshold, replace=False))
    fit_X = X if sample is None else X[sample]
    model = _umap(n, len(fit_X), n_components, mode, seed, n_neighbors, n_epochs, min_dist)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = model.fit_transform(fit_X).astype(np.float32)
    if sample is None:
        _progress(progress, n, n)
        return fitted, model
    out = np.empty((n, n_components), dtype=np.float32)
    out[sample] = fitted
    _progress(progress, len(sample), n)
    rest = np.setdiff1d(np.arange(n), sample, assume_unique=True)
    done = len(sample)
    for start in range(0, len(rest), chunk_size):
        idx = rest[start:start + chunk_size]
        out[idx] = umap_transform(model, X[idx])
        done += len(idx)
        _progress(progress, done, n)
    return out, model


def umap_transform(model, vectors: np.ndarray, progress=None, chunk_size: int = 20_000) -> np.ndarray:
    """Place new rows with a model returned by umap_reduce (float32 output, progress(done, total) per chunk)."""
    X = np.asarray(vectors, dtype=np.float32)
    enable_numba_cache()
    parts = []
    for start in range(0, len(X), chunk_size):
        chunk = X[start:start + chunk_size]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parts.append(np.asarray(model.transform(chunk), dtype=np.float32))
        _progress(progress, start + len(chunk), len(X))
    return np.concatenate(parts) if parts else np.zeros((0, model.n_components), dtype=np.float32)


def _hdbscan_fit(points: np.ndarray, min_cluster_size: int, min_samples: int) -> np.ndarray:
    import fast_hdbscan

    enable_numba_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(fast_hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples,
                                               cluster_selection_method="eom").fit_predict(points), dtype=np.int64)


def hdbscan_labels(points: np.ndarray, min_cluster_size: int | None = None, min_samples: int | None = None,
                   sample_threshold: int = 200_000, seed: int = 42) -> np.ndarray:
    """HDBSCAN (euclidean, excess-of-mass) labels, -1 = noise. Above sample_threshold rows, cluster a uniform
    random sample and give every other row the label of its nearest sample point (noise stays noise)."""
    P = np.ascontiguousarray(points, dtype=np.float64)
    n = len(P)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    mcs = default_min_cluster_size(n) if min_cluster_size is None else int(min_cluster_size)
    ms = default_min_samples(n) if min_samples is None else int(min_samples)
    mcs = max(2, mcs)
    ms = max(1, min(ms, n - 1)) if n > 1 else 1
    if n < max(mcs, 3):
        return np.full(n, -1, dtype=np.int64)
    if n <= sample_threshold:
        return _hdbscan_fit(P, mcs, ms)
    from sklearn.neighbors import NearestNeighbors

    sample = np.sort(np.random.default_rng(seed).choice(n, size=sample_threshold, replace=False))
    sample_labels = _hdbscan_fit(P[sample], mcs, ms)
    labels = np.empty(n, dtype=np.int64)
    labels[sample] = sample_labels
    rest = np.setdiff1d(np.arange(n), sample, assume_unique=True)
    nearest = NearestNeighbors(n_neighbors=1).fit(P[sample]).kneighbors(P[rest], return_distance=False)[:, 0]
    labels[rest] = sample_labels[nearest]
    return labels


def reassign_noise(points: np.ndarray, labels: np.ndarray, *, how: str = "centroid", metric: str = "euclidean",
                   k: int = REASSIGN_K) -> np.ndarray:
    """Give every noise point (-1) a cluster. how="centroid" (default): the nearest cluster centroid (metric
    "euclidean", or "cosine" for embeddings); how="knn": the distance-weighted vote of its k nearest clustered
    points (euclidean). With no cluster at all, everything becomes cluster 0."""
    if how not in ("centroid", "knn"):
        raise ValueError(f"how must be 'centroid' or 'knn', not {how!r}")
    labels = np.asarray(labels, dtype=np.int64).copy()
    noise = np.flatnonzero(labels < 0)
    if len(noise) == 0:
        return labels
    clustered = np.flatnonzero(labels >= 0)
    if len(clustered) == 0:
        labels[:] = 0
        return labels
    P = np.asarray(points, dtype=np.float64)
    if how == "centroid":
        if metric == "cosine":
            P = _normalise(P).astype(np.float64)
        ids, inv = np.unique(labels[clustered], return_inverse=True)
        cents = np.zeros((len(ids), P.shape[1]))
        np.add.at(cents, inv, P[clustered])
        cents /= np.bincount(inv, minlength=len(ids))[:, None]
        if metric == "cosine":
            cents = _normalise(cents).astype(np.float64)
        sq = (cents ** 2).sum(axis=1)
        for start in range(0, len(noise), 8192):
            rows = noise[start:start + 8192]
            if metric == "cosine":
                labels[rows] = ids[np.argmax(P[rows] @ cents.T, axis=1)]
            else:
                labels[rows] = ids[np.argmin(sq[None, :] - 2 * P[rows] @ cents.T, axis=1)]
        return labels
    from sklearn.neighbors import NearestNeighbors

    kk = min(k, len(clustered))
    dist, idx = NearestNeighbors(n_neighbors=kk).fit(P[clustered]).kneighbors(P[noise])
    cand = labels[clustered][idx]  # (n_noise, kk)
    uniq, inv = np.unique(cand, return_inverse=True)
    votes = np.zeros((len(noise), len(uniq)))
    np.add.at(votes, (np.repeat(np.arange(len(noise)), kk), inv.ravel()), (1.0 / (dist + 1e-9)).ravel())
    labels[noise] = uniq[votes.argmax(axis=1)]
    return labels


def kmeans_labels(vectors: np.ndarray, k: int | None = None, seed: int = 42) -> np.ndarray:
    """KMeans on the L2-normalised vectors (so euclidean ~ cosine); MiniBatchKMeans above 10,000 rows."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    V = _normalise(vectors)
    n = len(V)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    k = default_k(n) if k is None else max(1, min(int(k), n))
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    if n <= 10_000:
        model = KMeans(n_clusters=k, n_init=3, random_state=seed)
    else:
        # k-means++ on a small init sample: sklearn's default init (3 x 4096 rows, 3 inits) took minutes here
        model = MiniBatchKMeans(n_clusters=k, n_init=1, batch_size=4096, init_size=min(n, max(3 * k, 2048)),
                                random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(model.fit_predict(V), dtype=np.int64)


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..K-1 by decreasing size (ties by old id); -1 stays."""
    labels = np.asarray(labels, dtype=np.int64)
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    if len(ids) == 0:
        return labels.copy()
    order = ids[np.lexsort((ids, -counts))]
    mapping = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
    mapping[order] = np.arange(len(order))
    out = labels.copy()
    out[labels >= 0] = mapping[labels[labels >= 0]]
    return out


@dataclass
class ClusterResult:
    labels: np.ndarray  # int64 (n,), -1 = noise (none when reassign=True or method="kmeans")
    reduced: np.ndarray  # float32 points that were clustered: UMAP output, or the normalised vectors for kmeans
    keywords: dict = field(default_factory=dict)  # cluster id -> c-TF-IDF terms
    representatives: dict = field(default_factory=dict)  # cluster id -> row indices nearest the centroid
    noise_fraction: float = 0.0  # share of -1 before reassignment
    params: dict = field(default_factory=dict)  # everything needed to reproduce the run
    model: object = None  # the fitted UMAP model (hdbscan method), for placing new rows with umap_transform


def cluster(vectors: np.ndarray, texts: list[str] | None, *, method: str = "hdbscan", n_components: int = 5,
            min_cluster_size=None, min_samples=None, reassign: bool = False, k=None, mode: str = "fast",
            seed: int = 42, progress=None, n_neighbors: int = 10, umap_sample: int = 50_000,
            hdbscan_sample: int = 200_000, top_n: int = 5, n_representatives: int = 3) -> ClusterResult:
    """Cluster embeddings. method "hdbscan": UMAP (cosine, n_neighbors 10) to n_components, then HDBSCAN
    (euclidean) on that, noise optionally reassigned to the nearest centroid (cosine, on the original vectors);
    "kmeans": KMeans on the normalised vectors. n_neighbors 10 (not umap_reduce's 15, which suits a 2-D map)
    scored the same on the labelled bench sets and makes the 52k UMAP fit ~25% faster.
    progress(stage, done, total) is called with stage in reduce / cluster / reassign / keywords / representatives."""
    if method not in ("hdbscan", "kmeans"):
        raise ValueError(f"method must be 'hdbscan' or 'kmeans', not {method!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    V = np.asarray(vectors, dtype=np.float32)
    n = len(V)
    if texts is not None and len(texts) != n:
        raise ValueError(f"{n} vectors but {len(texts)} texts")
    params: dict = {"method": method, "mode": mode, "seed": seed, "n_rows": n}
    model = None
    if method == "kmeans":
        kk = default_k(n) if k is None else int(k)
        params.update(k=kk, normalised=True, reassign=reassign)
        _progress(progress, "cluster", 0, 1)
        labels = kmeans_labels(V, kk, seed=seed)
        _progress(progress, "cluster", 1, 1)
        reduced, noise_fraction = _normalise(V), 0.0
    else:
        mcs = default_min_cluster_size(n) if min_cluster_size is None else int(min_cluster_size)
        ms = default_min_samples(n) if min_samples is None else int(min_samples)
        params.update(n_components=n_components, n_neighbors=n_neighbors, umap_metric="cosine",
                      umap_min_dist=UMAP_MIN_DIST, umap_sample=umap_sample, umap_fit_rows=min(n, umap_sample),
                      **{f"umap_{key}": v for key, v in umap_settings(n, min(n, umap_sample)).items()},
                      min_cluster_size=mcs, min_samples=ms, hdbscan_metric="euclidean",
                      cluster_selection_method="eom", hdbscan_sample=hdbscan_sample,
                      hdbscan_fit_rows=min(n, hdbscan_sample), reassign=reassign,
                      reassign_how="centroid (cosine, original vectors)")
        reduced, model = umap_reduce(V, n_components, mode=mode, seed=seed, sample_threshold=umap_sample,
                                     n_neighbors=n_neighbors,
                                     progress=lambda d, t: _progress(progress, "reduce", d, t))
        _progress(progress, "cluster", 0, 1)
        labels = hdbscan_labels(reduced, mcs, ms, sample_threshold=hdbscan_sample, seed=seed)
        _progress(progress, "cluster", 1, 1)
        noise_fraction = float((labels < 0).mean()) if n else 0.0
        if reassign:
            _progress(progress, "reassign", 0, 1)
            labels = reassign_noise(V, labels, how="centroid", metric="cosine")
            _progress(progress, "reassign", 1, 1)
    labels = _by_size(labels)
    params["n_clusters"] = len(np.unique(labels[labels >= 0]))
    _progress(progress, "keywords", 0, 1)
    keywords = ctfidf_keywords(list(texts), labels, top_n=top_n) if texts is not None else {}
    _progress(progress, "keywords", 1, 1)
    _progress(progress, "representatives", 0, 1)
    reps = representatives(V, labels, k=n_representatives) if n else {}
    _progress(progress, "representatives", 1, 1)
    return ClusterResult(labels=labels, reduced=np.asarray(reduced, dtype=np.float32), keywords=keywords,
                         representatives=reps, noise_fraction=noise_fraction, params=params, model=model)
