"""Embedding-space selection methods (pure numpy; see core/select.py for the registry and the other methods).

Every function takes row vectors (any float array; rows are L2-normalised here unless they already are) and
returns an ordered np.ndarray of POSITIONS (int64 indices into the given array), at most `budget` long, in the
order the method picked them. Deterministic given the inputs (and `seed` where there is one). `progress(done,
total)` is called now and then when given.

- kcenter: greedy k-center (farthest point first, DiverseEvol), exact, on cosine distance. Each pick is the row
  whose cosine distance to its nearest picked row is largest. Plain greedy reads all n vectors per pick (100k x
  10k picks = 10k passes over 150 MB); here a pool of the rows with the largest distances is updated per pick
  and the full distance array only every so often, with one matrix product against all picks made since (see
  `kcenter`), which gives the same picks (exact ties aside) in a fraction of the time.
- facility_location: SMART-style submodular selection maximising F(S) = sum_i max_{j in S} sim(i, j) over an
  exact k-nearest-neighbour cosine graph (non-neighbours count as similarity 0, negative cosines as 0), with the
  lazy greedy algorithm (Minoux): marginal gains only shrink, so a stale gain is an upper bound and only the top
  of the heap is re-evaluated.
- knn_graph: that exact kNN graph, in row blocks with matrix products (memory ~ block x n floats).
- kmeans_groups: cluster labels for stratified sampling when the rows have no clusters yet (spherical k-means
  from core.propagate, fitted on at most `fit_rows` random rows, every row assigned to its nearest centroid).
"""
from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from core.propagate import spherical_kmeans

Progress = Callable[[int, int], None] | None
_BLOCK_FLOATS = 1 << 24  # floats in one similarity block (64 MB)


def unit_rows(vecs) -> np.ndarray:
    """Rows as float32 unit vectors; the input itself (no copy) when it already is one (|norm - 1| < 1e-3)."""
    x = np.asarray(vecs, np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-d array of vectors, got shape {x.shape}")
    sq = np.einsum("ij,ij->i", x, x)
    if len(x) == 0 or np.all(np.abs(sq - 1.0) < 2e-3):
        return x
    return x / np.sqrt(np.maximum(sq, 1e-24))[:, None]


def clamp_budget(budget, n: int) -> int:
    """int(budget) clipped to [0, n]; rejects a negative budget."""
    b = int(budget)
    if b < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    return min(b, int(n))


def _block_rows(n: int, floor: int = 64) -> int:
    return max(floor, _BLOCK_FLOATS // max(1, n))


def kcenter(vecs, budget, seed: int = 0, start: int | None = None, pool: int = 2048,
            progress: Progress = None) -> np.ndarray:
    """Greedy k-center on cosine distance: the first row is `start` (default: a row drawn with `seed`), then
    repeatedly the row farthest (largest 1 - max cosine) from every row picked so far. Returns the picks in order.

    Exact speed-up: D (distance of each row to its nearest pick) is kept for all rows as of the last refresh; a
    pool of the `pool` rows with the largest D is kept exact after every pick. Distances only shrink, so while the
    pool's best D >= the largest D outside the pool (an upper bound), the pool's best is the true farthest row.
    When it is not, all picks made since the last refresh are applied to all rows in one matrix product and the
    pool is rebuilt. Exact ties may be resolved differently from a plain argmax. Farthest-point selection favours
    outliers: see bench/select.py before making it a default."""
    x = unit_rows(vecs)
    n = len(x)
    budget = clamp_budget(budget, n)
    if budget == 0:
        return np.zeros(0, np.int64)
    first = int(np.random.default_rng(seed).integers(n)) if start is None else int(start)
    if not 0 <= first < n:
        raise ValueError(f"start must be a row position in [0, {n}), got {start}")
    dist = np.full(n, np.inf, np.float32)
    picks = [first]
    pending = [first]  # picks not yet applied to `dist`
    pool_idx = pool_d = None
    outside_max = np.inf
    m = max(1, min(int(pool), n))
    while len(picks) < budget:
        if pool_idx is None or pool_d.max() < outside_max:
            block = _block_rows(len(pending), 1024)
            p = x[pending]
            for s in range(0, n, block):
                d = 1.0 - (x[s:s + block] @ p.T).max(axis=1)
                np.minimum(dist[s:s + block], d, out=dist[s:s + block])
            dist[picks] = -1.0  # picked rows can never be picked again (distance 0 up to rounding)
            pending = []
            if m < n:
                pool_idx = np.argpartition(dist, n - m)[n - m:]
                rest = np.ones(n, bool)
                rest[pool_idx] = False
                outside_max = float(dist[rest].max())
            else:
                pool_idx, outside_max = np.arange(n), -np.inf
            pool_idx = np.sort(pool_idx)  # ties go to the lower position, like argmax
            pool_d = dist[pool_idx].copy()
            pool_x = x[pool_idx]
            continue
        j = int(np.argmax(pool_d))
        q = int(pool_idx[j])
        if pool_d[j] < 0:  # every row is picked (only when budget == n)
            break
        picks.append(q)
        pending.append(q)
        np.minimum(pool_d, 1.0 - pool_x @ x[q], out=pool_d)
        pool_d[j] = -1.0
        if progress is not None and len(picks) % 256 == 0:
            progress(len(picks), budget)
    if progress is not None:
        progress(len(picks), budget)
    return np.asarray(picks, np.int64)


def _top_k(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a (b, m) similarity block: the k largest (columns, values), best first, ties to the lower
    column. np.partition finds each row's k-th value and the entries at or above it are kept (faster than
    argpartition here); ties at the k-th value can give more than k entries, cut by rank."""
    b, m = sims.shape
    if k < m:
        kth = np.partition(sims, m - k, axis=1)[:, m - k]
        rows, cols = np.nonzero(sims >= kth[:, None])
    else:
        rows, cols = np.divmod(np.arange(b * m), m)
    vals = sims[rows, cols]
    order = np.lexsort((cols, -vals, rows))  # by row, then similarity desc, then column
    rows, cols, vals = rows[order], cols[order], vals[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, np.arange(b))[rows]
    keep = rank < k
    out_c = np.empty((b, k), np.int64)
    out_v = np.empty((b, k), np.float32)
    out_c[rows[keep], rank[keep]] = cols[keep]
    out_v[rows[keep], rank[keep]] = vals[keep]
    return out_c, out_v


def knn_graph(vecs, k: int = 10, cells: int = 0, probe: int = 16, seed: int = 0,
              progress: Progress = None) -> tuple[np.ndarray, np.ndarray]:
    """k nearest neighbours by cosine, each row its own first neighbour (similarity 1): (indices int32 (n, k),
    similarities float32 (n, k)), best first, ties to the lower index.

    cells=0 (default): exact, in row blocks of ~16M similarities (64 MB) with one matrix product each; O(n^2 d):
    ~5 min for 100k x 384 on a busy 2-core machine (bench/select.py). cells=C > 0: approximate (IVF): rows are
    split by spherical k-means into C cells (kmeans_groups' fit, seeded), and the rows of a cell look for their
    neighbours among the rows of the `probe` cells whose centroids are nearest that cell's centroid (its own
    first, more cells when those hold fewer than k rows): about probe / C of the exact cost. A neighbour just
    across an unprobed cell border is missed (bench/select.py reports the recall)."""
    x = unit_rows(vecs)
    n = len(x)
    k = max(1, min(int(k), n))
    idx = np.empty((n, k), np.int32)
    sim = np.empty((n, k), np.float32)
    if cells and n > k:
        centers, labels = _kmeans_fit(x, int(cells), seed)
        members = np.argsort(labels, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=len(centers)))])
        near = np.argsort(-(centers @ centers.T), axis=1, kind="stable")
        done = 0
        for c in range(len(centers)):
            q = members[bounds[c]:bounds[c + 1]]
            if not len(q):
                continue
            order = [c] + [int(o) for o in near[c] if o != c]
            sizes = np.diff(bounds)[order]
            take = max(int(probe), int(np.searchsorted(np.cumsum(sizes), k)) + 1)
            cand = np.concatenate([members[bounds[o]:bounds[o + 1]] for o in order[:take]])
            step = _block_rows(len(cand), 16)
            for s in range(0, len(q), step):
                sims = x[q[s:s + step]] @ x[cand].T
                sims[np.arange(len(sims)), np.arange(s, s + len(sims))] = np.inf  # q is cand's first block
                cols, vals = _top_k(sims, k)
                idx[q[s:s + step]], sim[q[s:s + step]] = cand[cols], vals
            done += len(q)
            if progress is not None:
                progress(done, n)
    else:
        block = _block_rows(n)
        for s in range(0, n, block):
            sims = x[s:s + block] @ x.T
            sims[np.arange(len(sims)), np.arange(s, s + len(sims))] = np.inf  # self first, whatever rounding gives
            idx[s:s + block], sim[s:s + block] = _top_k(sims, k)
            if progress is not None:
                progress(min(n, s + block), n)
    sim[:, 0] = 1.0
    return idx, sim


def facility_k(n: int, budget: int) -> int:
    """Default neighbours per row for facility_location: twice the rows each pick stands for (n / budget), within
    [10, 100]. A pick can only serve the rows that list it as a neighbour, so with k much below n / budget the
    sparse objective stops rewarding spread (bench/select.py: on the mixed pool k=10 covered 1.23x the labels
    random did at 5 %, k=20 1.28x, k=50 1.47x)."""
    return int(np.clip(np.ceil(2 * n / max(1, budget)), 10, 100))


def facility_location(vecs, budget, k: int | None = None, graph: tuple[np.ndarray, np.ndarray] | None = None,
                      cells: int = 0, probe: int = 16, progress: Progress = None) -> np.ndarray:
    """Representative rows by facility location (SMART): greedily maximise sum_i max_{j in S} sim(i, j) where sim
    is the cosine kept on the exact kNN graph (`knn_graph(vecs, k)`, k = facility_k(n, budget) by default, or
    `graph` when already built; negative cosines count as 0) and 0 elsewhere; cells / probe > 0 build the graph
    approximately (see knn_graph), for large n. Lazy greedy: exact greedy picks, ties to the lower position. A
    row whose every neighbour is already served by a pick adds nothing; once no row adds anything, the rest of
    the budget is filled in position order (those rows gain 0 under the objective). Each row serves itself with
    similarity 1, so once the dense regions are served, rows far from everything (gain ~1) come next: small
    budgets go to dense regions (in a big pool a small, distinct subset can get less than its share), larger
    ones reach isolated rows (bench/select.py). progress counts graph rows, then picks (one range: n + budget)."""
    x = None if graph is not None else unit_rows(vecs)
    n = len(graph[0]) if graph is not None else len(x)
    budget = clamp_budget(budget, n)
    if budget == 0:
        return np.zeros(0, np.int64)
    total = n + budget
    if graph is None:
        step = None if progress is None else (lambda d, _t: progress(d, total))
        graph = knn_graph(x, facility_k(n, budget) if k is None else k, cells, probe, progress=step)
    nbr, sims = graph
    kk = nbr.shape[1]
    # column j of `cover` lists the rows i that have j among their neighbours, with sim(i, j)
    cover = sp.csr_matrix((np.maximum(sims, 0).ravel(), nbr.ravel(), np.arange(0, n * kk + 1, kk)),
                          shape=(n, n)).tocsc()
    cover.sort_indices()
    indptr, rows, vals = cover.indptr, cover.indices, cover.data
    served = np.zeros(n, np.float32)  # max similarity of each row to the picks so far
    gains = np.bincount(nbr.ravel(), weights=np.maximum(sims, 0).ravel(), minlength=n)  # F({j}) for each j
    heap = [(-float(g), j) for j, g in enumerate(gains)]
    heapq.heapify(heap)
    picked = np.zeros(n, bool)
    picks: list[int] = []
    while heap and len(picks) < budget:
        _, j = heapq.heappop(heap)
        lo, hi = indptr[j], indptr[j + 1]
        gain = float(np.maximum(vals[lo:hi] - served[rows[lo:hi]], 0).sum())
        if heap and (-gain, j) > heap[0]:
            heapq.heappush(heap, (-gain, j))  # stale bound: put back with its true gain
            continue
        if gain <= 0:
            break
        picks.append(j)
        picked[j] = True
        served[rows[lo:hi]] = np.maximum(served[rows[lo:hi]], vals[lo:hi])
        if progress is not None and len(picks) % 256 == 0:
            progress(n + len(picks), total)
    if len(picks) < budget:
        picks.extend(np.flatnonzero(~picked)[: budget - len(picks)].tolist())
    if progress is not None:
        progress(total, total)
    return np.asarray(picks, np.int64)


def _kmeans_fit(x: np.ndarray, k: int, seed: int, fit_rows: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """(centroids, label of every row) of spherical k-means on unit rows x. The fit sample is at most fit_rows
    rows, and fewer for large k (spherical_kmeans holds a rows x k similarity matrix: the sample is cut to keep
    it near 512 MB, but never below 4 rows per centroid); rows are then assigned in blocks of ~16M similarities."""
    n = len(x)
    k = max(1, min(int(k), n))
    rng = np.random.default_rng(seed)
    n_fit = min(n, int(fit_rows), max(4 * k, (1 << 27) // k))
    fit = x if n_fit >= n else x[np.sort(rng.choice(n, n_fit, replace=False))]
    centers = spherical_kmeans(fit, k, seed=seed)
    batch = _block_rows(k, 256)
    labels = np.concatenate([(x[s:s + batch] @ centers.T).argmax(axis=1) for s in range(0, n, batch)])
    return centers, labels.astype(np.int64)


def kmeans_groups(vecs, k: int, seed: int = 0, fit_rows: int = 50_000) -> np.ndarray:
    """Cluster label (int64 in [0, k)) of every row: spherical k-means (core.propagate.spherical_kmeans, k-means++
    seeding + 15 Lloyd steps, cosine) fitted on at most `fit_rows` rows drawn with `seed` (fewer for k in the
    thousands, see _kmeans_fit), then each row assigned to its nearest centroid in batches. A centroid can end
    up with no row when fitted on a sample. Time grows with n_fit x k x d x 16 (k-means++ is sequential)."""
    x = unit_rows(vecs)
    if len(x) == 0:
        return np.zeros(0, np.int64)
    return _kmeans_fit(x, k, seed, fit_rows)[1]
