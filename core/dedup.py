"""Dedup: flag duplicate groups, then choose one keeper per group (pure functions over lists and arrays).

Every ``*_groups`` function labels rows with a group id: rows in the same group are duplicates of each
other, ids are dense (0, 1, ...) in the order of each group's first row, and -1 marks a row that
duplicates nothing. ``choose_keepers`` turns groups into a keep mask; ``make_result`` wraps both, with the
evidence pairs and parameters, into a ``DedupResult`` for the UI and the recipe.

- exact: ``exact_groups(keys)`` over any keys, e.g. ``[text_key(t) for t in texts]`` (core.textnorm:
  a hash of the casefolded text with whitespace collapsed and punctuation stripped at the ends).
- near-duplicate: ``minhash_groups`` (MinHash signatures compiled in core.dedup_nb, LSH banding with
  datasketch's (b, r) choice, each candidate verified by estimated Jaccard).
- semantic: ``semantic_groups`` (SemDeDup: cosine within each cluster).
- Self-Instruct: ``rouge_filter`` (core.rouge, re-exported here).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import NamedTuple

import numpy as np

from core.rouge import RougeFilter, rouge_filter, rouge_l
from core.textnorm import normalise_text, text_key

__all__ = ["KEEP_RULES", "DedupResult", "Groups", "RougeFilter", "choose_keepers", "dense_groups", "exact_groups",
           "lsh_groups", "lsh_params", "make_result", "minhash_groups", "minhash_signatures", "normalise_text",
           "permutations", "rouge_filter", "rouge_l", "rouge_result", "semantic_groups", "text_key"]

KEEP_RULES = ("first", "longest", "score", "dataset_priority")
CHUNK = 8192  # rows per MinHash task
RECALL_WEIGHTS = (0.1, 0.9)  # datasketch MinHashLSH (false positive, false negative) weights for the bands


class Groups(NamedTuple):
    """Group id per row (-1: unique) and evidence: the (k, 2) row pairs that joined each group (a spanning
    forest: every row of a group is reachable from its first row through them) with their similarity."""
    groups: np.ndarray
    pairs: np.ndarray
    scores: np.ndarray


def dense_groups(labels: np.ndarray) -> np.ndarray:
    """Rows with equal labels form a group: ids 0.. in order of each group's first row, -1 for a label seen
    once."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return np.empty(0, np.int64)
    _, first, inv, counts = np.unique(labels, return_index=True, return_inverse=True, return_counts=True)
    multi = counts >= 2
    rank = np.full(first.size, -1, np.int64)
    by_first = np.argsort(first[multi], kind="stable")
    rank[np.flatnonzero(multi)[by_first]] = np.arange(by_first.size)
    return rank[inv.reshape(-1)]


def exact_groups(keys: list[str]) -> np.ndarray:
    """Group id per row for rows whose keys are equal (-1 = unique)."""
    import pandas as pd
    codes, _ = pd.factorize(pd.Series(list(keys), dtype=object), use_na_sentinel=False)
    return dense_groups(codes)


def lsh_params(threshold: float, num_perm: int, weights: tuple[float, float] = (0.5, 0.5)) -> tuple[int, int]:
    """(bands, rows per band) as datasketch.MinHashLSH chooses them for these (false positive, false negative)
    weights."""
    from datasketch import MinHashLSH
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=weights)
    return lsh.b, lsh.r


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) uint32 of datasketch's affine32 scheme for this seed (datasketch.MinHash._init_permutations)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _codepoints(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    offs = np.zeros(len(texts) + 1, np.int64)
    np.cumsum([len(t) for t in texts], out=offs[1:])
    cps = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return cps, offs


def minhash_signatures(texts: Iterable[str], num_perm: int = 128, shingle: int = 5, unit: str = "word",
                       seed: int = 1, progress: Callable[[int, int], None] | None = None,
                       workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(signatures uint32[n, num_perm], shingle count per row) of any iterable of texts, read in chunks of
    CHUNK rows that ``workers`` threads hash in parallel (the kernels release the GIL). ``unit`` is "word" or
    "char" (core.dedup_nb explains both). progress(done, total): total is 0 when texts has no len()."""
    from core import dedup_nb
    from core.rows import workers as default_workers
    from core.textnorm import char_classes
    if unit not in ("word", "char"):
        raise ValueError(f"unit must be 'word' or 'char', not {unit!r}")
    if shingle < 1 or num_perm < 1:
        raise ValueError("shingle and num_perm must be at least 1")
    cls, low = char_classes()
    a, b = permutations(num_perm, seed)
    total = len(texts) if hasattr(texts, "__len__") else 0
    it = iter(texts)

    def task(chunk: list[str]):
        cps, offs = _codepoints(chunk)
        sig = np.empty((len(chunk), num_perm), np.uint32)
        nsh = np.empty(len(chunk), np.int32)
        dedup_nb.signatures(cps, offs, cls, low, shingle, unit == "char", a, b, sig, nsh)
        return sig, nsh

    sigs, counts, done = [], [], 0
    nw = max(1, workers or default_workers())
    with ThreadPoolExecutor(nw) as pool:
        pending = []
        while True:
            while len(pending) < 2 * nw:
                chunk = [t if isinstance(t, str) else "" for t in islice(it, CHUNK)]
                if not chunk:
                    break
                pending.append(pool.submit(task, chunk))
            if not pending:
                break
            sig, nsh = pending.pop(0).result()
            sigs.append(sig)
            counts.append(nsh)
            done += len(nsh)
            if progress is not None:
                progress(done, total)
    if not sigs:
        return np.empty((0, num_perm), np.uint32), np.empty(0, np.int32)
    return np.concatenate(sigs), np.concatenate(counts)


def _edge_buffers(n: int):
    return np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.float32), np.zeros(1, np.int64)


def _finish(parent: np.ndarray, eu, ev, es, ne) -> Groups:
    from core import dedup_nb
    k = int(ne[0])
    return Groups(dense_groups(dedup_nb.roots(parent)), np.stack([eu[:k], ev[:k]], axis=1), es[:k].copy())


def lsh_groups(sig: np.ndarray, valid: np.ndarray, threshold: float, bands: int, rows: int) -> Groups:
    """Connected components of LSH candidates verified by estimated Jaccard >= threshold: rows whose
    signatures agree on all ``rows`` values of any of ``bands`` bands are candidates; core.dedup_nb.link_buckets
    verifies them (leader scheme; every recorded edge has estimated Jaccard >= threshold). Rows with
    ``valid`` False (no shingles) are never grouped."""
    from core import dedup_nb
    n, perms = sig.shape
    parent = np.arange(n, dtype=np.int64)
    eu, ev, es, ne = _edge_buffers(n)
    keys = dedup_nb.band_keys(sig, bands, rows)
    idx = np.flatnonzero(valid)
    min_equal = math.ceil(threshold * perms - 1e-9)
    for j in range(bands):
        kb = keys[j, idx]
        o = np.argsort(kb, kind="stable")
        dedup_nb.link_buckets(kb[o], idx[o], sig, min_equal, parent, eu, ev, es, ne)
    return _finish(parent, eu, ev, es, ne)


def minhash_groups(texts: Iterable[str], threshold: float = 0.8, num_perm: int = 128, shingle: int = 5,
                   unit: str = "word", seed: int = 1, progress: Callable[[int, int], None] | None = None,
                   workers: int | None = None, weights: tuple[float, float] = RECALL_WEIGHTS) -> Groups:
    """Near-duplicate groups by MinHash LSH: ``shingle``-unit shingles (``unit`` "word" or "char"),
    ``num_perm`` permutations (datasketch's affine32 scheme and seed), datasketch's optimal (bands, rows) for
    ``threshold`` and the (false positive, false negative) ``weights``, and each candidate pair verified:
    estimated Jaccard >= threshold. Because every candidate is verified, false positives cost only time, so
    the default weights favour recall (at 0.8 and 128 permutations: 14 bands of 9 rows, a pair with Jaccard 0.8
    becomes a candidate with probability 0.87, against 0.40 with datasketch's default 9 x 13). Groups are
    connected components, so a chain a~b~c is one group even when a and c differ more. Deterministic for a
    seed, whatever the number of workers. Memory: 4 * num_perm bytes per row (512 MB for 1M rows at 128)."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError("threshold must be in (0, 1]")
    sig, nsh = minhash_signatures(texts, num_perm, shingle, unit, seed, progress, workers)
    bands, rows = lsh_params(threshold, num_perm, weights)
    return lsh_groups(sig, nsh > 0, threshold, bands, rows)


def semantic_groups(vecs: np.ndarray, clusters: np.ndarray | None = None, threshold: float = 0.95,
                    block: int = 1 << 24) -> Groups:
    """SemDeDup: within each cluster, rows whose embeddings have cosine >= threshold are joined; groups are
    the connected components. ``clusters`` None puts every row in one cluster; a negative label (noise) is a
    cluster of its own like any other. Blockwise matmul per cluster (about ``block`` similarities at a
    time); cost O(sum of cluster_size^2 * dim)."""
    from core import dedup_nb
    x = np.asarray(vecs, dtype=np.float32)
    n = x.shape[0]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1.0)
    labels = np.zeros(n, np.int64) if clusters is None else np.asarray(clusters)
    if labels.shape != (n,):
        raise ValueError("clusters must have one label per row")
    parent = np.arange(n, dtype=np.int64)
    eu, ev, es, ne = _edge_buffers(n)
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    for members in np.split(order, bounds):
        m = members.size
        if m < 2:
            continue
        xc = x[members]
        step = max(1, block // m)
        for s in range(0, m, step):
            sims = xc[s:s + step] @ xc[s:].T  # rows s.., columns s.. (upper triangle incl. diagonal)
            r, c = np.nonzero(sims >= threshold)
            keep = c > r  # column index c is relative to s, as is the row index r
            r, c = r[keep], c[keep]
            dedup_nb.union_edges(parent, members[s + r], members[s + c], sims[r, c].astype(np.float32),
                                 eu, ev, es, ne)
    return _finish(parent, eu, ev, es, ne)


def choose_keepers(groups: np.ndarray, rule: str = "first", lengths=None, scores=None, datasets=None,
                   priority: list[str] | None = None) -> np.ndarray:
    """Keep mask: every row outside a group, and one keeper per group chosen by ``rule``:
    "first" (earliest row), "longest" (largest ``lengths``), "score" (highest ``scores``; NaN counts as
    lowest), "dataset_priority" (the row whose ``datasets`` value comes earliest in ``priority``; datasets
    not listed come after all listed ones). Ties always go to the earliest row."""
    g = np.asarray(groups)
    n = g.size
    if rule == "first":
        key = np.zeros(n)
    elif rule == "longest":
        key = -_column(lengths, n, "lengths")
    elif rule == "score":
        s = _column(scores, n, "scores")
        key = np.where(np.isnan(s), np.inf, -s)
    elif rule == "dataset_priority":
        if datasets is None or priority is None:
            raise ValueError("rule 'dataset_priority' needs datasets and priority")
        rank = {d: i for i, d in enumerate(priority)}
        key = np.array([rank.get(d, len(rank)) for d in datasets], dtype=np.float64)
        if key.size != n:
            raise ValueError("datasets must have one value per row")
    else:
        raise ValueError(f"unknown keep rule {rule!r}; choose one of {', '.join(KEEP_RULES)}")
    keep = g < 0
    grouped = np.flatnonzero(~keep)
    if grouped.size:
        o = grouped[np.lexsort((grouped, key[grouped], g[grouped]))]
        first = np.ones(o.size, bool)
        first[1:] = g[o[1:]] != g[o[:-1]]
        keep[o[first]] = True
    return keep


def _column(values, n: int, name: str) -> np.ndarray:
    if values is None:
        raise ValueError(f"this keep rule needs {name}")
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (n,):
        raise ValueError(f"{name} must have one value per row")
    return v


@dataclass
class DedupResult:
    """One dedup run: group id and keep flag per row, evidence pairs (row a, row b, similarity) that show
    why rows are grouped (side by side in the UI), and the parameters (method, keep rule, ...) for the
    recipe."""
    method: str
    groups: np.ndarray
    keep: np.ndarray
    pairs: np.ndarray
    scores: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def n_groups(self) -> int:
        return int(self.groups.max()) + 1 if self.groups.size else 0

    def members(self, group: int) -> np.ndarray:
        """Row positions of one group, in row order."""
        return np.flatnonzero(self.groups == group)

    def evidence(self, group: int) -> list[tuple[int, int, float]]:
        """The (row a, row b, similarity) pairs that joined this group."""
        sel = np.flatnonzero(self.groups[self.pairs[:, 0]] == group) if self.pairs.size else []
        return [(int(self.pairs[i, 0]), int(self.pairs[i, 1]), float(self.scores[i])) for i in sel]

    def to_dict(self, rows: bool = False) -> dict:
        """Method, parameters and counts (and, with ``rows``, the per-row groups and keep flags as lists)."""
        d = {"method": self.method, "params": dict(self.params), "rows": int(self.groups.size),
             "groups": self.n_groups, "duplicate_rows": int((self.groups >= 0).sum()),
             "dropped": int((~self.keep).sum())}
        if rows:
            d["group_ids"] = self.groups.tolist()
            d["keep"] = self.keep.tolist()
        return d


def make_result(method: str, found: Groups | np.ndarray, params: dict | None = None, rule: str = "first",
                **keep_args) -> DedupResult:
    """A DedupResult from a grouping and a keep rule (``keep_args`` go to choose_keepers). A plain array of
    group ids (exact dedup) gets evidence pairs (first row of the group, row) with similarity 1."""
    if not isinstance(found, Groups):
        g = np.asarray(found, dtype=np.int64)
        rows = np.flatnonzero(g >= 0)
        firsts = np.full(int(g.max()) + 1 if rows.size else 0, -1, np.int64)
        firsts[g[rows[::-1]]] = rows[::-1]  # reversed: the first row of each group is written last
        rest = rows[firsts[g[rows]] != rows]
        found = Groups(g, np.stack([firsts[g[rest]], rest], axis=1), np.ones(rest.size, np.float32))
    keep = choose_keepers(found.groups, rule, **keep_args)
    p = dict(params or {})
    p["keep_rule"] = rule
    if keep_args.get("priority") is not None:
        p["priority"] = list(keep_args["priority"])
    return DedupResult(method, found.groups, keep, found.pairs, found.scores, p)


def rouge_result(texts: list[str], threshold: float = 0.7, order=None) -> DedupResult:
    """The Self-Instruct filter as a DedupResult: each dropped row joins the group of the kept row it
    matched (pairs: kept row, dropped row, ROUGE-L F); the walk order replaces the keep rule."""
    from core import dedup_nb
    res = rouge_filter(texts, threshold, order)
    n = len(texts)
    dropped = np.flatnonzero(res.matched >= 0)
    parent = np.arange(n, dtype=np.int64)
    eu, ev, es, ne = _edge_buffers(n)
    dedup_nb.union_edges(parent, res.matched[dropped], dropped, res.scores[dropped], eu, ev, es, ne)
    found = _finish(parent, eu, ev, es, ne)
    params = {"threshold": threshold, "order": "given" if order is not None else "row order"}
    return DedupResult("rouge", found.groups, res.keep, found.pairs, found.scores, params | {"keep_rule": "walk"})
