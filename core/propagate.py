"""Tag propagation: tag a budgeted, diverse sample (with the LLM or any tagger), then give every other row the tags
of its nearest labelled neighbours in embedding space, each with a confidence.

- choose_sample: which rows to send to the (costly) tagger. Stratified sampling over k-means clusters: the vectors
  are clustered (spherical k-means, about 2 * sqrt(budget) clusters), the budget is shared among clusters in
  proportion to their size with at least one row per cluster, and rows are drawn at random inside each cluster.
  Every region of the space is covered (small clusters too), big regions get proportionally more rows, and unlike
  farthest-first (k-center) selection it does not spend the budget on outliers.
- propagate: exact k nearest neighbours by cosine (numpy, in batches of targets normalised batch by batch, so the
  working memory stays ~100 MB whatever the sizes: 200k targets x 10k labelled took ~60 s and +260 MB peak RSS,
  the tag lists included, on the shared 2-core machine; 1M targets scale linearly), similarity-weighted votes;
  a tag's confidence = (sum of the similarities of the neighbours carrying it) / (sum of all k similarities),
  i.e. the weighted share of neighbours with the tag. Neighbours with cosine <= 0 get no vote; a labelled row with
  no tags is still a neighbour (it votes for no tag).
- evaluate: hold back a share of the tagged rows, propagate to them from the rest, and score against their real
  tags (micro-averaged precision / recall / F1 over (row, tag) pairs).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

_BLOCK_FLOATS = 1 << 23  # similarity block (float32 entries: 32 MB, plus 64 MB of neighbour indices) per batch


def _unit(x) -> np.ndarray:
    x = np.asarray(x, np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-d array of vectors, got shape {x.shape}")
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _vocab(tags: list[list[str]]) -> tuple[list[str], sp.csr_matrix]:
    """(tag names, rows x tags 0/1 sparse matrix); a tag repeated in one row counts once."""
    index: dict[str, int] = {}
    indptr, cols = [0], []
    for row in tags:
        ids = {index.setdefault(str(t), len(index)) for t in row}
        cols.extend(sorted(ids))
        indptr.append(len(cols))
    y = sp.csr_matrix((np.ones(len(cols), np.float32), np.array(cols, np.int64), np.array(indptr, np.int64)),
                      shape=(len(tags), max(1, len(index))))
    return list(index), y


def propagate(labelled_vecs: np.ndarray, labelled_tags: list[list[str]], target_vecs: np.ndarray, k: int = 10,
              min_conf: float = 0.5, batch: int | None = None,
              progress: Callable[[int, int], None] | None = None) -> list[list[tuple[str, float]]]:
    """Tags of each target row from its k nearest labelled rows: [(tag, confidence)] with confidence >= min_conf,
    best first. Vectors need not be normalised (they are, here). batch: targets per similarity block (default:
    as many as keep the block at ~8M floats). progress(done, total) counts target rows."""
    lab, tgt = _unit(labelled_vecs), np.asarray(target_vecs)
    if tgt.ndim != 2:
        raise ValueError(f"expected a 2-d array of target vectors, got shape {tgt.shape}")
    if len(lab) != len(labelled_tags):
        raise ValueError(f"{len(lab)} labelled vectors but {len(labelled_tags)} tag lists")
    if len(lab) and len(tgt) and lab.shape[1] != tgt.shape[1]:
        raise ValueError(f"labelled vectors are {lab.shape[1]}-d, targets {tgt.shape[1]}-d")
    n, m = len(tgt), len(lab)
    if m == 0 or n == 0:
        return [[] for _ in range(n)]
    names, y = _vocab(labelled_tags)
    k = max(1, min(int(k), m))
    batch = int(batch) if batch else max(1, min(65536, _BLOCK_FLOATS // m))
    out: list[list[tuple[str, float]]] = []
    for s in range(0, n, batch):
        sims = _unit(tgt[s:s + batch]) @ lab.T
        if k < m:
            idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            idx = np.broadcast_to(np.arange(m), (len(sims), m))
        w = np.maximum(np.take_along_axis(sims, idx, axis=1), 0.0)
        total = w.sum(axis=1)
        b = len(sims)
        weights = sp.csr_matrix((w.ravel(), idx.ravel(), np.arange(0, b * k + 1, k)), shape=(b, m))
        votes = (weights @ y).tocsr()
        for r in range(b):
            lo, hi = votes.indptr[r], votes.indptr[r + 1]
            if total[r] <= 0 or lo == hi:
                out.append([])
                continue
            conf = np.minimum(votes.data[lo:hi] / total[r], 1.0)
            keep = np.flatnonzero(conf >= min_conf)
            keep = keep[np.argsort(-conf[keep], kind="stable")]
            out.append([(names[votes.indices[lo + j]], float(conf[j])) for j in keep])
        if progress is not None:
            progress(min(n, s + batch), n)
    return out


def evaluate(vecs: np.ndarray, tags: list[list[str]], holdout: float = 0.2, k: int = 10, min_conf: float = 0.5,
             seed: int = 0, batch: int | None = None) -> dict:
    """Propagation quality against known tags: a random `holdout` share of the rows is tagged by propagation from
    the rest and compared with its real tags. Returns precision, recall, f1 (micro over (row, tag) pairs),
    n_train, n_test, plus n_pred / n_true (pairs) and coverage (share of test rows given at least one tag)."""
    vecs = np.asarray(vecs, np.float32)
    n = len(vecs)
    if n != len(tags):
        raise ValueError(f"{n} vectors but {len(tags)} tag lists")
    if n < 2 or not 0.0 < holdout < 1.0:
        raise ValueError("evaluate needs at least 2 rows and 0 < holdout < 1")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = min(n - 1, max(1, round(holdout * n)))
    test, train = perm[:n_test], perm[n_test:]
    pred = propagate(vecs[train], [tags[i] for i in train], vecs[test], k=k, min_conf=min_conf, batch=batch)
    tp = n_pred = n_true = 0
    for p, i in zip(pred, test):
        truth = {str(t) for t in tags[i]}
        got = {t for t, _ in p}
        tp += len(got & truth)
        n_pred += len(got)
        n_true += len(truth)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "n_train": len(train), "n_test": n_test,
            "n_pred": n_pred, "n_true": n_true, "coverage": sum(bool(p) for p in pred) / n_test}


def _quotas(sizes: np.ndarray, budget: int) -> np.ndarray:
    """Rows to draw per cluster: proportional to size (largest remainders), >= 1 per non-empty cluster while the
    budget allows, never more than the cluster holds; sums to min(budget, sizes.sum())."""
    budget = min(int(budget), int(sizes.sum()))
    exact = budget * sizes / max(1, sizes.sum())
    q = np.minimum(sizes, np.maximum((sizes > 0).astype(np.int64), np.floor(exact).astype(np.int64)))
    while q.sum() > budget:  # more clusters than budget: drop the ones from the largest quotas first
        q[np.argmax(q)] -= 1
    while q.sum() < budget:
        room = np.flatnonzero(q < sizes)
        order = room[np.argsort(-(exact[room] - q[room]), kind="stable")]
        q[order[: budget - q.sum()]] += 1
    return q


def spherical_kmeans(x: np.ndarray, c: int, seed: int = 0, iters: int = 15) -> np.ndarray:
    """Centroids (c, dim), unit length, of k-means on unit vectors by cosine: k-means++ seeding (D^2 sampling),
    then `iters` Lloyd steps (assign by largest dot product, centroid = normalised mean; an emptied cluster is
    re-seeded with the row farthest from its centroid). Plain numpy: sklearn's threaded k-means measured 10-25 s
    on 10k x 384 on the shared 2-core machine, this well under a second."""
    rng = np.random.default_rng(seed)
    n = len(x)
    c = max(1, min(int(c), n))
    centers = np.empty((c, x.shape[1]), np.float32)
    centers[0] = x[rng.integers(n)]
    d2 = np.maximum(0.0, 2.0 - 2.0 * (x @ centers[0]))
    for j in range(1, c):
        total = d2.sum()
        i = int(rng.choice(n, p=d2 / total)) if total > 0 else int(rng.integers(n))
        centers[j] = x[i]
        d2 = np.minimum(d2, np.maximum(0.0, 2.0 - 2.0 * (x @ centers[j])))
    for _ in range(iters):
        sims = x @ centers.T
        labels = sims.argmax(axis=1)
        best = sims[np.arange(n), labels]
        sums = np.asarray(sp.csr_matrix((np.ones(n, np.float32), (labels, np.arange(n))), shape=(c, n)) @ x)
        counts = np.bincount(labels, minlength=c)
        for j in np.flatnonzero(counts == 0):
            far = int(np.argmin(best))
            sums[j], best[far] = x[far], 1.0
        centers = _unit(sums)
    return centers


def choose_sample(vecs: np.ndarray, budget: int, seed: int = 0, n_clusters: int | None = None,
                  fit_rows: int = 50_000, batch: int = 65536) -> np.ndarray:
    """Indices (sorted) of `budget` diverse rows to tag: stratified over k-means clusters (see module doc).
    n_clusters defaults to ~2 * sqrt(budget) (at most budget); k-means is fitted on at most fit_rows random rows,
    then every row is assigned to its nearest centroid (in batches of `batch` rows)."""
    x = _unit(vecs)
    n, budget = len(x), int(budget)
    if budget >= n:
        return np.arange(n)
    if budget <= 0:
        return np.zeros(0, np.int64)
    rng = np.random.default_rng(seed)
    c = int(n_clusters) if n_clusters else max(2, round(2 * np.sqrt(budget)))
    c = max(1, min(c, budget, n))
    fit = x if n <= fit_rows else x[rng.choice(n, fit_rows, replace=False)]
    centers = spherical_kmeans(fit, c, seed=seed)
    labels = np.concatenate([(x[s:s + batch] @ centers.T).argmax(axis=1) for s in range(0, n, batch)])
    q = _quotas(np.bincount(labels, minlength=c), budget)
    members = np.argsort(labels, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=c))])
    picked = [rng.choice(members[bounds[j]:bounds[j + 1]], q[j], replace=False) for j in range(c) if q[j]]
    return np.sort(np.concatenate(picked)).astype(np.int64)
