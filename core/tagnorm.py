"""InsTag tag normalisation as reviewable proposals: raw tags in, a mapping raw tag -> canonical tag (None = dropped).

The four stages of the InsTag paper (Lu et al. 2023), each parameterised (``NormParams``) and each emitting
``Proposal``s (merge or drop, with counts) that a user can reject by id; nothing here edits or destroys raw tags,
the result is only a mapping, so re-running with other parameters or other rejections is always possible.

- rule: ``rule_key`` = NFKC, casefold, every character that is not a letter, digit or combining mark (any script)
  becomes a space, Snowball English stemming per word, whitespace collapsed. Tags with one key merge into their most
  frequent surface form (ties: shortest, then alphabetical), whitespace-collapsed, so users see "python programming"
  and never the key "python program". A tag with an empty key (only punctuation) is dropped.
- frequency: drop canonical tags on fewer than ``min_count`` rows (default ``default_min_count``).
- semantic: embed the surviving canonical tags, DBSCAN with cosine distance (eps 0.05, min_samples 1) on a sparse
  radius-neighbour graph built block by block (never an n x n dense matrix), merge each cluster into its most
  frequent member.
- association: frequent tag pairs over the per-row canonical tag sets (absolute support, default
  ``default_support``), exactly FP-Growth's 2-itemsets but counted by one sparse product
  (``tagmetrics.pair_counts``; mlxtend took ~15 s a round at 52k rows, this takes well under 1 s, a test checks
  they agree); tags A and B merge when BOTH rules A->B and B->A reach ``confidence`` (0.99), i.e. their row
  sets are nearly identical, into the more frequent one; repeated on the merged tags until nothing changes. The
  paper says only that "associated tags" are merged recursively. A one-sided rule is not enough: "python" -> "coding"
  at 0.99 says every python row is also a coding row, and merging would erase the specific tag "python" from every
  row; with the two-sided rule a merge removes at most 1 - confidence of either tag's rows' information.

Order (``NormParams.stages``, default rule, frequency, semantic, association). The paper filters by frequency
first; here the rule stage runs first, so counts are taken after the lossless surface merges: "Python programming"
on 12 rows and "python-programming" on 10 are one tag on 22 rows and must not both be dropped at min_count 20
merely for being spelled two ways. Frequency then runs before the semantic stage so only surviving tags are embedded
(the dominant cost). Any order of any subset can be requested; a stage sees the state left by the previous ones.

Counts are rows: a tag is counted once per row. ``None`` rows (never tagged) are ignored; ``[]`` rows count in n.
"""
from __future__ import annotations

import functools
import hashlib
import re
import threading
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import scipy.sparse as sp

from core.tagmetrics import TagMatrix, encode, pair_counts

STAGES = ("rule", "frequency", "semantic", "association")
PAPER_POOL_ROWS = 306_000  # InsTag normalised ~306k tagged queries with min_count 20 and support 40
MAX_ASSOCIATION_ROUNDS = 20
_local = threading.local()  # Snowball stemmers keep state while stemming: one per thread


def default_min_count(n_rows: int) -> int:
    """The paper's 20 rows at ~306k rows, scaled linearly, clipped to [2, 200].

    A tag's count grows with the pool at a fixed per-row rate, so a fixed share (20/306k) is the scale-free reading
    of the paper's threshold (52k rows -> 3). The floor 2 drops only singletons on small sets (a tag on one row
    describes no group); the cap 200 keeps a tag that 200 rows share at any pool size.
    """
    return int(min(200, max(2, round(20 * int(n_rows) / PAPER_POOL_ROWS))))


def default_support(n_rows: int) -> int:
    """The paper's support 40 rows at ~306k rows, scaled linearly, clipped to [5, 400].

    At confidence 0.99, two tags on fewer than 100 rows merge only with identical row sets; the floor 5 stops two
    rare tags that happen to share two or three rows from being merged by coincidence.
    """
    return int(min(400, max(5, round(40 * int(n_rows) / PAPER_POOL_ROWS))))


@dataclass
class NormParams:
    """Parameters; None for min_count/support means "scale with the number of tagged rows" (see ``resolved``).
    ``stages`` lists the enabled stages in the order they run."""
    min_count: int | None = None
    eps: float = 0.05
    min_samples: int = 1
    support: int | None = None
    confidence: float = 0.99
    stages: tuple[str, ...] = STAGES

    def __post_init__(self):
        self.stages = tuple(self.stages)
        bad = [s for s in self.stages if s not in STAGES]
        if bad or len(set(self.stages)) != len(self.stages):
            raise ValueError(f"stages must be distinct names from {STAGES}, got {self.stages}")
        if not 0 < float(self.eps) <= 2:
            raise ValueError(f"eps is a cosine distance in (0, 2], not {self.eps!r}")
        if not 0 < float(self.confidence) <= 1:
            raise ValueError(f"confidence must be in (0, 1], not {self.confidence!r}")
        if int(self.min_samples) < 1:
            raise ValueError("min_samples must be >= 1")

    def resolved(self, n_rows: int) -> NormParams:
        """A copy with min_count and support filled in for ``n_rows`` tagged rows."""
        d = self.to_dict()
        d["min_count"] = default_min_count(n_rows) if self.min_count is None else int(self.min_count)
        d["support"] = default_support(n_rows) if self.support is None else int(self.support)
        return NormParams.from_dict(d)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stages"] = list(self.stages)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> NormParams:
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown normalisation parameters: {sorted(unknown)}")
        return cls(**d)


@dataclass
class Proposal:
    """One reviewable change. merge: every tag in ``before`` becomes ``after``; drop: ``before`` -> None.
    ``count`` = rows having any of ``before``. ``id`` is stable across runs for the same stage, kind and tags."""
    stage: str
    kind: str
    before: list[str]
    after: str | None
    count: int
    detail: str = ""
    id: str = field(init=False)

    def __post_init__(self):
        key = "\x1f".join([self.stage, self.kind, *sorted(self.before), "\x1e", self.after or ""])
        self.id = hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class StageResult:
    name: str
    proposals: list[Proposal]
    n_before: int  # distinct canonical tags entering the stage
    n_after: int   # ... leaving it (rejected proposals not applied)
    seconds: float = 0.0  # wall time of the stage (embedding included for the semantic stage)


@dataclass
class NormResult:
    mapping: dict[str, str | None]  # every raw tag seen -> canonical tag, or None when dropped
    stages: list[StageResult]
    params: NormParams  # resolved: the min_count and support actually used

    def proposals(self) -> list[Proposal]:
        return [p for s in self.stages for p in s.proposals]


@functools.lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    """Snowball English stem of one word (cached: tag vocabularies reuse few words; the stemmer is pure Python)."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import snowballstemmer
        stemmer = _local.stemmer = snowballstemmer.stemmer("english")
    return stemmer.stemWord(word)


_NON_ALNUM_ASCII = re.compile(r"[^a-z0-9]+")
_SYMBOL_WORDS = re.compile(r"(?<=\w)(\+\+|#|\+)")  # c++, c#, f#, g++: the symbol is part of the name


def rule_key(tag: str) -> str:
    """The rule stage's merge key: NFKC, casefold, a ``++`` / ``+`` / ``#`` right after a letter or digit
    spelled out (so "C++" and "C#" stay apart), then non letter/digit/mark -> space, Snowball stem per word."""
    s = unicodedata.normalize("NFKC", str(tag)).casefold()
    s = _SYMBOL_WORDS.sub(lambda m: {"++": "plusplus", "+": "plus", "#": "sharp"}[m.group(1)], s)
    if s.isascii():
        s = _NON_ALNUM_ASCII.sub(" ", s)
    else:
        s = "".join(c if unicodedata.category(c)[0] in "LNM" else " " for c in s)
    return " ".join(w if w.isdigit() else _stem(w) for w in s.split())


def apply(mapping: dict[str, str | None], tags: Sequence[str]) -> list[str]:
    """A row's tags through the mapping: dropped tags removed, duplicates removed, first-seen order kept.
    Tags unknown to the mapping (tagged after it was built) pass through unchanged."""
    out: dict[str, None] = {}
    for t in tags:
        c = mapping.get(t, t)  # a tag mapped to None stays None
        if c is not None:
            out.setdefault(c, None)
    return list(out)


def cosine_dbscan(x: np.ndarray, eps: float = 0.05, min_samples: int = 1,
                  block_elems: int = 8_000_000) -> np.ndarray:
    """sklearn DBSCAN labels with cosine distance (1 - dot of L2-normalised rows), same as
    ``DBSCAN(eps, min_samples=..., metric="cosine")``, but fed a sparse precomputed radius graph built in row blocks
    of about ``block_elems`` similarities, so memory stays O(n * block + edges) at any n."""
    from sklearn.cluster import DBSCAN

    x = np.asarray(x, dtype=np.float32)
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    step = max(1, int(block_elems) // n)
    rs, cs, ds = [], [], []
    for i in range(0, n, step):  # upper triangle only (j >= i), mirrored below: half the products
        sim = x[i:i + step] @ x[i:].T
        r, c = np.nonzero(sim >= 1.0 - eps)
        upper = c >= r
        r, c = r[upper], c[upper]
        # Stored distances must stay > 0: a sparse graph's missing entries mean "not a neighbour".
        d = np.maximum(1.0 - sim[r, c].astype(np.float64), 1e-12)
        off = r != c
        rs += [r + i, c[off] + i]
        cs += [c + i, r[off] + i]
        ds += [d, d[off]]
    graph = sp.csr_matrix((np.concatenate(ds), (np.concatenate(rs), np.concatenate(cs))), shape=(n, n))
    return DBSCAN(eps=eps, min_samples=int(min_samples), metric="precomputed").fit(graph).labels_.astype(np.int64)


# ---------------------------------------------------------------------------------------------------- internals

class _View:
    """The canonical vocabulary under a partial mapping: names, row counts and the rows x names matrix."""

    def __init__(self, m: TagMatrix):
        self.m, self.names, self.counts = m, m.vocab, m.counts()

    def group_counts(self, groups: list[list[int]]) -> np.ndarray:
        """Rows having any name of each group."""
        members = [i for g in groups for i in g]
        cols = [k for k, g in enumerate(groups) for _ in g]
        onehot = sp.csr_matrix((np.ones(len(members), np.int32), (members, cols)),
                               shape=(len(self.names), len(groups)))
        return np.asarray(((self.m.x @ onehot) > 0).sum(axis=0), dtype=np.int64).ravel()

    def pick(self, members: Sequence[int]) -> int:
        """The canonical member: most rows, then shortest name, then alphabetical."""
        return min(members, key=lambda i: (-int(self.counts[i]), len(self.names[i]), self.names[i]))


def _view(raw: TagMatrix, cur: list[str | None]) -> _View:
    """Raw rows x tags times the 0/1 raw -> canonical matrix of ``cur`` (dropped tags have no column)."""
    cid: dict[str, int] = {}
    cols = np.fromiter((-1 if c is None else cid.setdefault(c, len(cid)) for c in cur), np.int64, len(cur))
    keep = np.flatnonzero(cols >= 0)
    to_canon = sp.csr_matrix((np.ones(len(keep), np.int32), (keep, cols[keep])), shape=(len(cur), len(cid)))
    x = (raw.x @ to_canon).tocsr()
    x.data[:] = 1  # a row with two raw tags of one canonical tag has it once
    return _View(TagMatrix(list(cid), x))


def _apply(cur: list[str | None], proposals: list[Proposal], rejected) -> list[str | None]:
    m: dict[str, str | None] = {}
    for p in proposals:
        if p.id not in rejected:
            for b in p.before:
                m[b] = p.after
    return [m.get(c, c) if c is not None else None for c in cur] if m else cur


def _merge_groups(stage: str, view: _View, groups: list[list[int]], detail: Callable[[list[int], int], str],
                  after_name: Callable[[str], str] = lambda s: s) -> list[Proposal]:
    """Merge proposals for groups of name ids (ordered by count desc in ``before``); a group whose only member
    keeps its name proposes nothing."""
    totals = view.group_counts(groups)
    out = []
    for g, members in enumerate(groups):
        best = view.pick(members)
        after = after_name(view.names[best])
        if len(members) == 1 and view.names[best] == after:
            continue
        ordered = sorted(members, key=lambda i: (-int(view.counts[i]), view.names[i]))
        out.append(Proposal(stage, "merge", [view.names[i] for i in ordered], after, int(totals[g]),
                            detail(ordered, best)))
    return out


def _counts_text(view: _View, ids: list[int]) -> str:
    return ", ".join(f"{view.names[i]!r} x{int(view.counts[i])}" for i in ids)


def _rule(view: _View, p: NormParams, embed) -> list[Proposal]:
    keys = [rule_key(name) for name in view.names]
    by_key: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        by_key[k].append(i)
    drops = [Proposal("rule", "drop", [view.names[i]], None, int(view.counts[i]), "no letters or digits")
             for i in by_key.pop("", [])]
    return drops + _merge_groups("rule", view, list(by_key.values()),
                                 lambda ids, best: f"key {keys[best]!r}: {_counts_text(view, ids)}",
                                 after_name=lambda s: " ".join(s.split()))


def _frequency(view: _View, p: NormParams, embed) -> list[Proposal]:
    return [Proposal("frequency", "drop", [name], None, int(c), f"{int(c)} rows < min_count {p.min_count}")
            for name, c in zip(view.names, view.counts) if c < p.min_count]


def _semantic(view: _View, p: NormParams, embed) -> list[Proposal]:
    if embed is None:
        raise ValueError("the semantic stage needs embed= (texts -> normalised vectors); "
                         "or leave 'semantic' out of NormParams.stages")
    if len(view.names) < 2:
        return []
    encode = embed.encode if hasattr(embed, "encode") else embed
    x = np.asarray(encode(list(view.names)), dtype=np.float32)
    if x.ndim != 2 or len(x) != len(view.names):
        raise ValueError(f"embed returned shape {x.shape} for {len(view.names)} tags")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    labels = cosine_dbscan(x, p.eps, p.min_samples)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, lab in enumerate(labels.tolist()):
        if lab >= 0:
            groups[lab].append(i)

    def detail(ids: list[int], best: int) -> str:
        sims = x[ids] @ x[best]
        return f"cosine to {view.names[best]!r}: " + ", ".join(
            f"{view.names[i]!r} {s:.3f} x{int(view.counts[i])}" for i, s in zip(ids, sims) if i != best)

    return _merge_groups("semantic", view, [g for g in groups.values() if len(g) > 1], detail)


def _mutual_pairs(view: _View, p: NormParams) -> list[tuple[int, int, int]]:
    """(a, b, rows with both) for tag pairs on >= p.support rows together whose rules a->b and b->a both reach
    p.confidence (pairs as FP-Growth with max_len 2 would find them; see ``tagmetrics.pair_counts``)."""
    a, b, both = pair_counts(view.m, p.support)
    ok = (both >= p.confidence * view.counts[a]) & (both >= p.confidence * view.counts[b])
    return list(zip(a[ok].tolist(), b[ok].tolist(), both[ok].tolist()))


def _components(n: int, edges: list[tuple[int, int, int]]) -> list[list[int]]:
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b, _ in edges:
        parent[find(a)] = find(b)
    comps: dict[int, list[int]] = defaultdict(list)
    for i in sorted({i for a, b, _ in edges for i in (a, b)}):
        comps[find(i)].append(i)
    return list(comps.values())


def _association(raw: TagMatrix, cur: list[str | None], p: NormParams, rejected):
    """Recursive association merges: mine, merge the accepted groups, mine the merged state again, until no
    accepted merge is left (a rejected group is proposed once and leaves the state unchanged)."""
    proposals: list[Proposal] = []
    seen: set[str] = set()
    for rnd in range(1, MAX_ASSOCIATION_ROUNDS + 1):
        view = _view(raw, cur)
        edges = _mutual_pairs(view, p)
        both = {(a, b): c for a, b, c in edges}

        def detail(ids: list[int], best: int, rnd=rnd, view=view, both=both) -> str:
            pairs = [f"{view.names[a]!r}+{view.names[b]!r} on {c} rows "
                     f"(conf {c / view.counts[a]:.3f} / {c / view.counts[b]:.3f})"
                     for (a, b), c in both.items() if a in ids and b in ids]
            return f"round {rnd}: " + "; ".join(pairs)

        new = [q for q in _merge_groups("association", view, _components(len(view.names), edges), detail)
               if q.id not in seen]
        seen.update(q.id for q in new)
        proposals += new
        accepted = [q for q in new if q.id not in rejected]
        if not accepted:
            break
        cur = _apply(cur, accepted, rejected)
    return proposals, cur


_SIMPLE = {"rule": _rule, "frequency": _frequency, "semantic": _semantic}


def normalize(row_tags: Sequence[Sequence[str] | None], params: NormParams | None = None,
              embed: Callable[[list[str]], np.ndarray] | None = None,
              rejected: set[str] | frozenset[str] = frozenset()) -> NormResult:
    """Run the enabled stages in order over the tagged rows; proposals whose id is in ``rejected`` are listed but
    not applied (later stages see the state without them). ``embed`` (a callable or an object with ``.encode``)
    is needed only when the semantic stage is enabled and is called once, on the tags that survive until then."""
    raw = encode(row_tags)
    p = (params or NormParams()).resolved(raw.n_rows)
    cur: list[str | None] = list(raw.vocab)
    results = []
    for name in p.stages:
        t0 = time.perf_counter()
        n_before = len({c for c in cur if c is not None})
        if name == "association":
            props, cur = _association(raw, cur, p, rejected)
        else:
            props = _SIMPLE[name](_view(raw, cur), p, embed)
            cur = _apply(cur, props, rejected)
        results.append(StageResult(name, props, n_before, len({c for c in cur if c is not None}),
                                   time.perf_counter() - t0))
    return NormResult(dict(zip(raw.vocab, cur)), results, p)
