"""Budgeted selection methods: pure functions over arrays (no Store, no streamlit).

Every method returns an ordered np.ndarray of POSITIONS (int64 indices into the arrays it was given), at most
`budget` long, in the order the method picked the rows, so any prefix is what a smaller budget would give (for
stratified sampling, approximately). A budget larger than the input gives every eligible row; an empty input
gives an empty array. Deterministic given the inputs and `seed`; `progress(done, total)` is called now and then
when given. The caller maps positions back to row ids and records the method, its parameters and the seed.

Methods (METHODS below says which inputs each needs, so a caller fetches only those):
- cfds: InsTag complexity-first diverse sampling over per-row tag lists.
- deita: score-first diversity filter (Deita): best score first, skipping rows too similar to a picked row.
- longest: top-N by length (Long Is More).
- kcenter, facility: embedding-space methods, in core/select_geo.py.
- stratified: per-group quotas (proportional, equal or square-root; largest-remainder rounding), rows within a
  group at random or by score; groups are clusters, datasets, languages or any label (kmeans_groups makes
  clusters when there are none).
- random: a seeded random permutation prefix.
"""
from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np
import pandas as pd

from core.select_geo import clamp_budget, facility_location, kcenter, kmeans_groups, knn_graph, unit_rows

__all__ = [
    "METHODS",
    "cfds",
    "deita",
    "facility_location",
    "kcenter",
    "kmeans_groups",
    "knn_graph",
    "longest",
    "quotas",
    "random_sample",
    "required_inputs",
    "resolve_budget",
    "run_method",
    "stratified",
]

Progress = Callable[[int, int], None] | None


def resolve_budget(budget, n: int) -> int:
    """Rows to select out of n: an int is a row count; a float in (0, 1) or a string "5%" is a share of n
    (rounded, at least 1 when n > 0); "1200" as a string is a row count. Clipped to [0, n]."""
    if isinstance(budget, str):
        text = budget.strip()
        share = text.endswith("%")
        try:
            value = float(text[:-1]) / 100 if share else float(text)
        except ValueError:
            raise ValueError(f"budget must be a row count or a share like '5%', got {budget!r}") from None
        if share:
            return resolve_budget(value, n) if value < 1 else clamp_budget(n, n)
        budget = int(value) if value.is_integer() else value
    if isinstance(budget, float) and not budget.is_integer():
        if not 0 < budget < 1:
            raise ValueError(f"a fractional budget is a share of the rows and must be in (0, 1), got {budget}")
        return min(int(n), max(1 if n else 0, round(budget * n)))
    return clamp_budget(budget, n)


def _tie_order(n: int, seed: int | None) -> np.ndarray:
    """Positions in the order ties are broken: position order (seed None) or a seeded shuffle."""
    return np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)


def _rank_desc(values, seed: int | None = None) -> np.ndarray:
    """Positions by value descending; NaN last; ties in position order (seed None) or seeded random order."""
    v = np.asarray(values, np.float64)
    base = _tie_order(len(v), seed)
    key = np.where(np.isnan(v[base]), np.inf, -v[base])
    return base[np.argsort(key, kind="stable")]


# ------------------------------------------------------------------------------------------------ tags: CFDS
def cfds(tag_lists: list[list[str] | None], budget, seed: int = 0, progress: Progress = None) -> np.ndarray:
    """InsTag complexity-first diverse sampling. Rows are ordered by their number of distinct tags, descending;
    ties are broken by a shuffle drawn with `seed` (so equal rows are not taken in file order). A pass walks the
    rows not yet selected in that order and takes a row only when it has at least one tag not covered by the rows
    taken earlier in the same pass; when a pass ends short of the budget, the next pass starts over the rest
    with the covered set reset. Rows with no tags (None or []) can never bring a tag: they come last, in the
    seeded order, only when every tagged row is taken.

    Implementation (same result as the walk, without rescanning): per tag, the rows having it in walk order; in a
    pass the next row taken is the earliest first-remaining-row among the tags still uncovered (a heap), and all
    its tags become covered. A pass costs O(tags in play), so many short passes (small vocabularies) stay cheap:
    300k rows in ~2 s (bench/select.py)."""
    n = len(tag_lists)
    budget = clamp_budget(budget, n)
    if budget == 0:
        return np.zeros(0, np.int64)
    index: dict[str, int] = {}
    lengths = np.zeros(n, np.int64)
    flat: list[int] = []
    for r, tags in enumerate(tag_lists):
        ids = {index.setdefault(str(t), len(index)) for t in tags} if tags else ()
        lengths[r] = len(ids)
        flat.extend(ids)
    order = _tie_order(n, seed)
    order = order[np.argsort(-lengths[order], kind="stable")]  # walk order: position in walk -> row
    walk_pos = np.empty(n, np.int64)
    walk_pos[order] = np.arange(n)
    row_tag_ptr = np.concatenate([[0], np.cumsum(lengths)])
    tags_flat = np.asarray(flat, np.int64)
    pos_flat = np.repeat(walk_pos, lengths)
    by_tag = np.lexsort((pos_flat, tags_flat))  # postings: for each tag, its rows' walk positions ascending
    post_pos = pos_flat[by_tag]
    post_ptr = np.concatenate([[0], np.cumsum(np.bincount(tags_flat, minlength=len(index)))])
    head = post_ptr[:-1].copy()  # per tag: first posting that may still be unselected
    taken = np.zeros(n, bool)  # by walk position
    picks: list[int] = []
    n_tagged = int((lengths > 0).sum())
    live = list(range(len(index)))  # tags that may still have an unselected row
    while len(picks) < min(budget, n_tagged):
        heap, still = [], []
        for t in live:  # first remaining row of each tag that still has one
            h, end = head[t], post_ptr[t + 1]
            while h < end and taken[post_pos[h]]:
                h += 1
            head[t] = h
            if h < end:
                heap.append((int(post_pos[h]), t))
                still.append(t)
        live = still
        heapq.heapify(heap)
        covered = set()
        while heap and len(picks) < budget:
            p, t = heapq.heappop(heap)
            if t in covered:
                continue  # covered by an earlier pick of this pass: its entry is stale
            row = int(order[p])
            taken[p] = True
            picks.append(row)
            covered.update(tags_flat[row_tag_ptr[row]:row_tag_ptr[row + 1]].tolist())
        if progress is not None:
            progress(len(picks), budget)
    if len(picks) < budget:  # untagged rows, in walk (seeded) order
        picks.extend(order[lengths[order] == 0][: budget - len(picks)].tolist())
    if progress is not None:
        progress(len(picks), budget)
    return np.asarray(picks, np.int64)


# ----------------------------------------------------------------------------------- scores and lengths
def deita(scores, vecs, budget, threshold: float = 0.9, seed: int | None = None, block: int = 1024,
          progress: Progress = None) -> np.ndarray:
    """Deita's score-first diversity filter: rows by score descending (NaN last; ties in position order, or a
    shuffle drawn with `seed` when given); a row is skipped when its cosine to any row already selected exceeds
    `threshold`. Vectors are normalised here when they are not unit length.

    Blocked: each block of `block` candidates is compared with all selected rows by one matrix product (rows
    over the threshold dropped), then the survivors with each other (one block x block product) and taken in
    order, a taken row knocking out the later survivors too close to it. Same result as the one-by-one walk."""
    scores = np.asarray(scores, np.float64)
    x = unit_rows(vecs)
    n = len(scores)
    if len(x) != n:
        raise ValueError(f"{n} scores but {len(x)} vectors")
    budget = clamp_budget(budget, n)
    if budget == 0:
        return np.zeros(0, np.int64)
    order = _rank_desc(scores, seed)
    chosen = np.empty((budget, x.shape[1]), np.float32)
    picks: list[int] = []
    thr = np.float32(threshold)
    for s in range(0, n, block):
        idx = order[s:s + block]
        cand = x[idx]
        if picks:
            m = len(picks)
            step = max(1, (1 << 23) // max(1, len(idx)))
            far = np.ones(len(idx), bool)
            for c in range(0, m, step):  # compare with the selected rows, a slice at a time
                far &= (cand @ chosen[c:min(m, c + step)].T).max(axis=1) <= thr
            idx, cand = idx[far], cand[far]
        close = (cand @ cand.T) > thr
        knocked = np.zeros(len(idx), bool)
        for i in range(len(idx)):
            if knocked[i]:
                continue
            chosen[len(picks)] = cand[i]
            picks.append(int(idx[i]))
            if len(picks) == budget:
                break
            knocked |= close[i]
        if progress is not None:
            progress(min(n, s + block), n)
        if len(picks) == budget:
            break
    if progress is not None:
        progress(n, n)
    return np.asarray(picks, np.int64)


def longest(lengths, budget) -> np.ndarray:
    """Long Is More: the `budget` longest rows (tokens or characters, whatever `lengths` holds), longest first;
    equal lengths in position order; NaN lengths last."""
    lengths = np.asarray(lengths, np.float64)
    return _rank_desc(lengths)[: clamp_budget(budget, len(lengths))].astype(np.int64)


def random_sample(n: int, budget, seed: int = 0) -> np.ndarray:
    """`budget` positions out of range(n) drawn without replacement with `seed`, in drawing order."""
    n = int(n)
    return np.random.default_rng(seed).permutation(n)[: clamp_budget(budget, n)].astype(np.int64)


# ---------------------------------------------------------------------------------------------- stratified
QUOTAS = ("proportional", "equal", "sqrt")


def quotas(sizes, budget, quota: str = "proportional", seed: int = 0) -> np.ndarray:
    """Rows to draw per group (int64, sums to min(budget, sizes.sum())), never more than a group holds.
    Targets: budget x weight / sum(weights) with weight = size (proportional), 1 (equal) or sqrt(size) (sqrt),
    over non-empty groups. A group whose target exceeds its size gets all its rows and the excess is shared
    again among the other groups by the same weights (repeated until no group overflows). The fractional targets
    are rounded by largest remainder; equal remainders are ordered by a shuffle drawn with `seed`."""
    sizes = np.asarray(sizes, np.int64)
    if quota not in QUOTAS:
        raise ValueError(f"quota must be one of {', '.join(QUOTAS)}, got {quota!r}")
    budget = clamp_budget(budget, int(sizes.sum()))
    weight = {"proportional": sizes.astype(np.float64), "equal": (sizes > 0).astype(np.float64),
              "sqrt": np.sqrt(sizes.astype(np.float64))}[quota]
    q = np.zeros(len(sizes), np.int64)
    active = sizes > 0
    left = budget
    while active.any():
        exact = np.where(active, left * weight / weight[active].sum(), 0.0)
        over = active & (exact >= sizes)
        if not over.any():
            break
        q[over] = sizes[over]
        left -= int(sizes[over].sum())
        active &= ~over
    if active.any():
        exact = np.where(active, left * weight / weight[active].sum(), 0.0)
        base = np.floor(exact + 1e-9).astype(np.int64)
        q[active] = base[active]
        extra = max(0, left - int(base[active].sum()))
        tie = _tie_order(len(sizes), seed)
        cand = tie[active[tie]]
        cand = cand[np.argsort(-(exact[cand] - base[cand]), kind="stable")]
        q[cand[:extra]] += 1
    return q


def _group_codes(groups) -> np.ndarray:
    """Integer code per row, groups numbered in order of first appearance (None / NaN is a group of its own)."""
    values = np.empty(len(groups), dtype=object)
    values[:] = list(groups)
    codes, _ = pd.factorize(values, use_na_sentinel=False)
    return np.asarray(codes, np.int64)


def stratified(groups, budget, quota: str = "proportional", within: str = "random", scores=None, seed: int = 0,
               progress: Progress = None) -> np.ndarray:
    """Cluster- or label-stratified sampling (Diversify-and-Conquer kMQ; stratified random by dataset, cluster,
    language or tag). `groups`: one label per row (cluster ids, dataset names, ...); quotas per group from
    `quotas(sizes, budget, quota, seed)`; within a group the rows are drawn at random (seeded) or, with
    within="score", the highest `scores` first (NaN last, ties in position order). The result interleaves the
    groups: rows are ordered by (rank in group + 0.5) / group quota, ties by group (first-appearance order), so
    any prefix is close to stratified too."""
    if within not in ("random", "score"):
        raise ValueError(f"within must be 'random' or 'score', got {within!r}")
    codes = _group_codes(groups)
    n = len(codes)
    budget = clamp_budget(budget, n)
    if budget == 0:
        return np.zeros(0, np.int64)
    if within == "score":
        if scores is None or len(scores) != n:
            raise ValueError("within='score' needs one score per row")
        ranked = _rank_desc(scores)
    else:
        ranked = np.random.default_rng(seed).permutation(n)
    ranked = ranked[np.argsort(codes[ranked], kind="stable")]  # grouped, each group in its within-order
    sizes = np.bincount(codes)
    q = quotas(sizes, budget, quota, seed)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.arange(n) - starts[codes[ranked]]
    keep = rank < q[codes[ranked]]
    rows, g, r = ranked[keep], codes[ranked][keep], rank[keep]
    out = rows[np.lexsort((g, (r + 0.5) / q[g]))].astype(np.int64)
    if progress is not None:
        progress(len(out), budget)
    return out


# -------------------------------------------------------------------------------------------------- registry
# name -> (function, inputs it needs); inputs: "tags" (list of tag lists), "vecs" (n x d embeddings), "scores",
# "lengths" (numbers per row), "groups" (labels per row), "n" (row count only). stratified with within="score"
# needs "scores" too, and without "groups" it can make them from "vecs" (see required_inputs / run_method).
METHODS: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "cfds": (cfds, ("tags",)),
    "deita": (deita, ("scores", "vecs")),
    "longest": (longest, ("lengths",)),
    "kcenter": (kcenter, ("vecs",)),
    "stratified": (stratified, ("groups",)),
    "facility": (facility_location, ("vecs",)),
    "random": (random_sample, ("n",)),
}
_ARG = {"tags": "tag_lists", "vecs": "vecs", "scores": "scores", "lengths": "lengths", "groups": "groups", "n": "n"}


def required_inputs(method: str, params: dict | None = None) -> tuple[str, ...]:
    """Inputs `method` needs with these parameters: METHODS' list, plus "scores" for stratified within="score",
    and "vecs" instead of "groups" for stratified with params["kmeans"] = k (clusters made by kmeans_groups)."""
    if method not in METHODS:
        raise ValueError(f"unknown selection method {method!r}; one of {', '.join(METHODS)}")
    params = params or {}
    needs = METHODS[method][1]
    if method == "stratified":
        needs = ("vecs",) if params.get("kmeans") else ("groups",)
        if params.get("within") == "score":
            needs += ("scores",)
    return needs


def run_method(method: str, budget, inputs: dict, params: dict | None = None, progress: Progress = None) -> np.ndarray:
    """Run `method` on `inputs` (a dict with the keys required_inputs names) with `params` (the method's keyword
    arguments; for stratified also "kmeans": k to cluster `vecs` first, seeded by params["seed"]). `budget` is
    resolved against the row count with resolve_budget. Returns ordered positions."""
    params = dict(params or {})
    needs = required_inputs(method, params)
    missing = [k for k in needs if inputs.get(k) is None]
    if missing:
        raise ValueError(f"method {method!r} needs {', '.join(missing)}")
    fn = METHODS[method][0]
    args = {k: inputs[k] for k in needs}
    if method == "stratified" and params.get("kmeans"):
        args = {"groups": kmeans_groups(args.pop("vecs"), int(params.pop("kmeans")), seed=params.get("seed", 0)),
                **args}
    n = int(args["n"]) if "n" in args else len(next(iter(args.values())))
    kwargs = {_ARG[k]: v for k, v in args.items()}
    if method != "random" and method != "longest":
        kwargs["progress"] = progress
    return fn(budget=resolve_budget(budget, n), **kwargs, **params)
