"""Tagging Steps: run a tagger (LLM, keyphrase, taxonomy, propagation, label column) against a Store,
incrementally and resumably, then normalise the raw tags and measure them.

Every tagger identity is a *source* (origin + version, see core/store/tags.py): results are cached per content
hash, a re-run asks only for hashes without an ``ok`` result, failed rows are retried. The taggers themselves are
pure and swappable (core.tagllm, core.keyphrase, core.taxonomy, core.propagate); this module moves data between
them and the Store and records each run in the runs table.
"""
from __future__ import annotations

import hashlib
import time

import orjson

from core.filters import Filter
from core.steps import _emit, _finish, active_space
from core.store import Store, StoreError

METHODS = ("llm", "keyphrase", "taxonomy", "propagate", "import")
OFFLINE_VERSION = {"keyphrase": "kp-v1", "taxonomy": "tax-v1"}


def _rate(done: int, total: int, t0: float) -> dict:
    el = max(time.time() - t0, 1e-6)
    rate = done / el
    return {"rows_per_s": rate, "eta_s": (total - done) / rate if rate > 0 and total else None}


# ------------------------------------------------------------------ LLM
def llm_origin(model: str) -> str:
    return f"llm:{model}"


def tag_llm(store: Store, cfg, flt: Filter | None = None, concurrency: int = 8, limit: int | None = None,
            max_tokens: int | None = None, progress=None, cancel=None, client=None) -> dict:
    """InsTag tags by an OpenAI-compatible server for every row (under the filter) not yet tagged by this model
    and prompt version. Each reply is committed as it arrives: a killed run loses only the requests in flight."""
    from core import llm, tagllm
    origin, version = llm_origin(cfg.model), tagllm.PROMPT_VERSION
    params = {"method": "llm", "model": cfg.model, "base_url": cfg.base_url, "prompt": version,
              "concurrency": int(concurrency)}
    store.tag_source(origin, version, params)
    rid = store.start_run("tag", {**params, "filter": (flt or Filter()).to_dict(), "limit": limit,
                                  "max_tokens": max_tokens})

    def go():
        total, batches = store.tag_pending(origin, version, flt, "user_turns", limit)
        items = ((h, turns) for b in batches for h, turns in b)
        own = client is None
        cl = client or llm.LLMClient(cfg)
        t0, done, last = time.time(), [0], [0.0]

        def on_result(key, status, tags, raw, usage):
            usage = usage or {}
            store.save_tags(origin, version, [{
                "hash": key, "status": status, "raw": raw,
                "tags": [(t["tag"], None, t.get("explanation")) for t in (tags or [])],
                "prompt_tokens": usage.get("prompt_tokens", 0),
                "completion_tokens": usage.get("completion_tokens", 0)}], refresh=False)
            done[0] += 1
            if time.time() - last[0] > 2.0:  # the rows' materialised tags follow every couple of seconds
                store.refresh_pending_tags()
                last[0] = time.time()

        def prog(stage, d, tot, info=None):
            # the runner knows no total (it reads a generator): its eta_s is None, ours is not
            _emit(progress, "tag", d, total, **{**_rate(d, total, t0),
                                                **{k: v for k, v in (info or {}).items() if v is not None}})

        try:
            summary = tagllm.run_tagging(items, cl, concurrency=concurrency, max_rows=limit, max_tokens=max_tokens,
                                         on_result=on_result, progress=prog, cancel=cancel)
        finally:
            store.refresh_pending_tags()
            if own:
                cl.close()
        s = summary if isinstance(summary, dict) else summary.__dict__
        note = (f"{s.get('rows_ok', 0)} tagged, {s.get('rows_failed', 0)} failed, "
                f"{s.get('prompt_tokens', 0) + s.get('completion_tokens', 0):,} tokens, stopped: "
                f"{s.get('stopped_reason', 'done')}")
        return {"rows": s.get("rows_ok", 0), "note": note, "source": [origin, version], "pending": total, **s}
    return _finish(store, rid, go)


# ------------------------------------------------------------------ offline taggers
def _offline_tagger(method: str, embedder, opts: dict):
    if method == "keyphrase":
        from core.keyphrase import KeyphraseTagger
        return KeyphraseTagger(embedder, **opts), ""
    from core.taxonomy import TaxonomyTagger, load_taxonomy
    tax = load_taxonomy(opts.pop("taxonomy", None))
    digest = hashlib.sha256(orjson.dumps(tax, option=orjson.OPT_SORT_KEYS)).hexdigest()[:8]
    return TaxonomyTagger(embedder, taxonomy=tax, **opts), f" taxonomy={digest}"


def tag_offline(store: Store, method: str, flt: Filter | None = None, model: str | None = None, embedder=None,
                text: str = "instruction", limit: int | None = None, progress=None, batch: int = 512,
                **opts) -> dict:
    """Keyphrase or taxonomy tags (no LLM) for every row not yet tagged by this tagger identity (its model,
    non-default options and, for the taxonomy, the taxonomy's content hash)."""
    if method not in OFFLINE_VERSION:
        raise StoreError(f"unknown offline tagger {method!r}; use keyphrase or taxonomy")
    from core import embed as emb
    e = embedder or emb.get_embedder(model)
    tagger, extra = _offline_tagger(method, e, dict(opts))
    shown = " ".join(f"{k}={v}" for k, v in sorted(opts.items()) if k != "taxonomy")
    version = f"{OFFLINE_VERSION[method]} {e.model_id}{extra}" + (f" {shown}" if shown else "") + \
        (f" text={text}" if text != "instruction" else "")
    params = {"method": method, "model": e.model_id, "text": text, **{k: v for k, v in opts.items()}}
    store.tag_source(method, version, params)
    rid = store.start_run("tag", {**params, "version": version, "filter": (flt or Filter()).to_dict()})

    def go():
        total, batches = store.tag_pending(method, version, flt, text, limit, batch=batch)
        t0, done = time.time(), 0
        _emit(progress, "tag", 0, total, **_rate(0, total, t0))
        sid = store.space_id(e.model_id, text)  # rows embedded already (Map page): their stored vectors are reused
        for b in batches:
            texts, vecs = [p or "" for _, p in b], None
            if sid is not None:
                have, v = store.hash_vectors(sid, [h for h, _ in b])
                vecs = v if len(have) == len(b) else None
            tags = tagger.tag(texts, vecs=vecs)
            store.save_tags(method, version, [{"hash": h, "status": "ok", "tags": [(t, c, None) for t, c in tg]}
                                              for (h, _), tg in zip(b, tags)])
            done += len(b)
            _emit(progress, "tag", done, total, **_rate(done, total, t0))
        return {"rows": done, "note": f"{done} rows tagged", "source": [method, version], "pending": total,
                "seconds": time.time() - t0}
    return _finish(store, rid, go)


# ------------------------------------------------------------------ propagation
def enabled_source(store: Store, origin_prefix: str) -> tuple[str, str]:
    """The enabled source whose origin starts with the prefix (e.g. ``llm`` or ``llm:gpt-4o-mini``)."""
    src = store.tag_sources()
    src = src[src["enabled"] & src["origin"].str.startswith(origin_prefix) & (src["done"] > 0)]
    if src.empty:
        raise StoreError(f"no tags from {origin_prefix!r} yet: tag a sample first (python -m core tag ...)")
    r = src.iloc[-1]
    return str(r["origin"]), str(r["version"])


def tag_propagate(store: Store, source: str = "llm", flt: Filter | None = None, k: int = 10,
                  min_conf: float = 0.5, space: int | None = None, progress=None, evaluate: bool = True) -> dict:
    """Spread a tagged sample's tags to the untagged rows by nearest-neighbour voting over the embeddings, with a
    confidence per tag; also reports precision / recall of propagation against held-back tags of the sample."""
    from core import propagate as prop
    origin, version = enabled_source(store, source)
    sid = space or active_space(store)
    hashes, tag_lists = store.source_tags(origin, version)
    have, lvecs = store.hash_vectors(sid, hashes)
    pos = {h: i for i, h in enumerate(hashes)}
    ltags = [tag_lists[pos[h]] for h in have]
    if len(have) < 2:
        raise StoreError("propagation needs at least 2 tagged rows with embeddings (run embed first)")
    pversion = f"from {origin}@{version} space={sid} k={k} min_conf={min_conf}"
    params = {"method": "propagate", "from": [origin, version], "space": sid, "k": k, "min_conf": min_conf}
    store.tag_source("propagated", pversion, params)
    rid = store.start_run("tag", {**params, "filter": (flt or Filter()).to_dict()})

    def go():
        t0 = time.time()
        quality = prop.evaluate(lvecs, ltags, k=k, min_conf=min_conf) if evaluate and len(have) >= 10 else None
        total, batches = store.tag_pending("propagated", pversion, flt, "instruction")
        done, labelled = 0, set(have)
        for b in batches:
            todo = [h for h, _ in b if h not in labelled]
            th, tvecs = store.hash_vectors(sid, todo)
            got = prop.propagate(lvecs, ltags, tvecs, k=k, min_conf=min_conf) if len(th) else []
            store.save_tags("propagated", pversion, [{"hash": h, "status": "ok", "tags": [(t, c, None) for t, c in g]}
                                                     for h, g in zip(th, got)])
            done += len(th)
            _emit(progress, "propagate", done, total, **_rate(done, total, t0))
        note = f"{done} rows from {len(have)} tagged" + (
            f"; held-back precision {quality['precision']:.2f}, recall {quality['recall']:.2f}" if quality else "")
        return {"rows": done, "note": note, "source": ["propagated", pversion], "labelled": len(have),
                "quality": quality}
    return _finish(store, rid, go)


# ------------------------------------------------------------------ label columns
def _label_tags(value: str | None) -> list[str]:
    if value is None:
        return []
    try:
        v = orjson.loads(value)
    except orjson.JSONDecodeError:
        v = value
    vals = v if isinstance(v, list) else [v]
    return [str(x).strip() for x in vals if x is not None and not isinstance(x, (dict, list)) and str(x).strip()]


def tag_import(store: Store, column: str, flt: Filter | None = None, progress=None) -> dict:
    """An existing label column (a ``category`` field, an ``instruction_id_list``) becomes tags."""
    origin, version = f"imported:{column}", "1"
    store.tag_source(origin, version, {"method": "import", "column": column})
    rid = store.start_run("tag", {"method": "import", "column": column, "filter": (flt or Filter()).to_dict()})

    def go():
        # a row without the field was not labelled: it stays untagged (None), not "tagged with no tag" ([])
        vals = [(h, v) for h, v in store.column_values(column, flt) if v is not None]
        res = [{"hash": h, "status": "ok", "tags": [(t, 1.0, None) for t in _label_tags(v)]} for h, v in vals]
        for i in range(0, len(res), 20_000):
            store.save_tags(origin, version, res[i:i + 20_000])
            _emit(progress, "import", min(i + 20_000, len(res)), len(res))
        n = sum(1 for r in res if r["tags"])
        return {"rows": len(res), "note": f"{n} of {len(res)} rows carry a value", "source": [origin, version]}
    return _finish(store, rid, go)


# ------------------------------------------------------------------ measures
def stats(store: Store, flt: Filter | None = None, by: str | None = None, top: int = 20) -> dict:
    """InsTag's measures of the filter's rows: ``{"rows_tagged", "unique_tags", "complexity", "diversity",
    "top_tags": [{"tag", "count"}]}`` (complexity = mean normalised tags per tagged row; diversity = distinct
    normalised tags; unique_tags = distinct raw tags), plus ``rows`` and, with ``by``, one such entry per group."""
    whole = store.tag_summary(flt, None, top)[0] if store.count(flt) else {
        "rows": 0, "rows_tagged": 0, "complexity": 0.0, "diversity": 0, "unique_tags": 0, "top_tags": []}
    whole.pop("group", None)
    out = {k: whole[k] for k in ("rows_tagged", "unique_tags", "complexity", "diversity", "top_tags", "rows")}
    out["filter"] = (flt or Filter()).describe()
    if by:
        out["groups"] = store.tag_summary(flt, by, top)
    return out


# ------------------------------------------------------------------ normalisation
def normalize(store: Store, min_count: int | None = None, eps: float = 0.05, support: int | None = None,
              confidence: float = 0.99, stages=None, rejected=(), apply: bool = True, model: str | None = None,
              embedder=None, flt: Filter | None = None, progress=None, accepted=()) -> dict:
    """Run InsTag's normalisation over the raw tags of the enabled sources (one tag set per distinct sample) and,
    unless ``apply`` is False, make its mapping the workspace's vocabulary (logged, undoable; raw tags are kept).
    Rejected proposal ids are remembered: they stay rejected on later runs until accepted again (``accepted``)."""
    from core import tagnorm
    stages = tuple(stages or tagnorm.STAGES)
    old = store.get_meta("tag_norm_params", {}) or {}
    rejected = (set(rejected) | set(old.get("rejected", []))) - set(accepted)
    params = tagnorm.NormParams(min_count=min_count, eps=eps, support=support, confidence=confidence, stages=stages)
    _emit(progress, "normalize", 0, len(stages))
    row_tags = store.raw_tag_sets(flt)
    emb = None
    if "semantic" in stages:
        from core import embed as em
        emb = embedder or em.get_embedder(model)
    t0 = time.time()
    res = tagnorm.normalize(row_tags, params, emb, rejected)
    vocab = {v for v in res.mapping.values() if v is not None}
    out = {"rows": len(row_tags), "raw_tags": len(res.mapping), "vocabulary": len(vocab),
           "dropped": sum(1 for v in res.mapping.values() if v is None),
           "merged": sum(1 for k, v in res.mapping.items() if v is not None and v != k),
           "params": {**res.params.to_dict(), "rejected": sorted(rejected)}, "applied": bool(apply),
           "seconds": time.time() - t0,
           "stages": [{"name": s.name, "n_before": s.n_before, "n_after": s.n_after,
                       "proposals": [{**p.to_dict(), "rejected": p.id in rejected} for p in s.proposals]}
                      for s in res.stages]}
    if apply:
        store.set_tag_map(res.mapping, out["params"],
                          summary=f"normalised {out['raw_tags']:,} raw tags into {out['vocabulary']:,} "
                                  f"({out['merged']:,} merged, {out['dropped']:,} dropped)")
    _emit(progress, "normalize", len(stages), len(stages))
    return out
