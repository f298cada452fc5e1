"""Curation Steps: dedup, decontamination and budgeted selection against a Store, each recorded so that a
Selection's recipe can rebuild it headless (core.replay).

Composition is filter → dedup → decontaminate → select: dedup writes ``dup_group`` / ``dup_keep`` on the rows,
decontamination writes ``contaminated``, and a selection by default leaves out rows with ``dup_keep = false`` and
contaminated rows. The methods themselves are pure (core.select, core.dedup, core.decontam).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from core import __version__
from core.filters import Cond, Filter
from core.importer import file_sha256
from core.steps import _emit, _finish, active_space
from core.store import Store, StoreError, now

DEDUP_METHODS = ("exact", "minhash", "semantic", "rouge")
DEDUP_TEXT = {"exact": "conversation", "minhash": "conversation", "rouge": "instruction"}
KEEP_RULES = ("first", "longest", "score", "dataset_priority")


def _ids_of(store: Store, flt: Filter | None) -> np.ndarray:
    return store.select_inputs(flt)["id"]


# ------------------------------------------------------------------ dedup
def dedup(store: Store, method: str = "exact", flt: Filter | None = None, threshold: float | None = None,
          keep: str = "first", priority=None, score: str | None = None, text: str | None = None,
          num_perm: int = 128, shingle: int = 5, progress=None) -> dict:
    """Flag duplicate groups among the filter's rows (dup_group) and choose one keeper per group (dup_keep)."""
    from core import dedup as dd
    if method not in DEDUP_METHODS:
        raise StoreError(f"unknown dedup method {method!r}; use one of: {', '.join(DEDUP_METHODS)}")
    if keep not in KEEP_RULES:
        raise StoreError(f"unknown keep rule {keep!r}; use one of: {', '.join(KEEP_RULES)}")
    text = text or DEDUP_TEXT.get(method, "conversation")
    params = {"method": method, "threshold": threshold, "keep": keep, "priority": list(priority or []) or None,
              "score": score, "text": text, "filter": (flt or Filter()).to_dict()}
    if method == "minhash":
        params.update(num_perm=num_perm, shingle=shingle)
    rid = store.start_run("dedup", params)

    def go():
        t0 = time.time()
        scope = flt
        if method == "semantic":  # only rows with an embedding take part (the others keep dup_keep empty)
            vids, vecs = store.vectors(active_space(store), flt)
            scope = Filter(ids=tuple(int(i) for i in vids), ids_label="embedded rows")
        cols = ["response_chars", "dataset"] + (["cluster"] if method == "semantic" else []) + ([score] if score else [])
        inp = store.select_inputs(scope, cols)
        ids = inp["id"]
        keep_args = {"lengths": inp["response_chars"], "scores": inp.get(score) if score else None,
                     "datasets": inp["dataset"], "priority": list(priority) if priority else None}
        _emit(progress, "dedup", 0, len(ids))
        if method == "semantic":
            cl = np.asarray([-1 if c is None or c != c else int(c) for c in inp["cluster"]], np.int64)
            found = dd.semantic_groups(vecs, cl if (cl >= 0).any() else None, threshold=threshold or 0.95)
            res = dd.make_result("semantic", found, {"threshold": threshold or 0.95}, keep, **keep_args)
        elif method == "rouge":
            res = dd.rouge_result(store.texts(ids, text), threshold=threshold or 0.7)
        else:
            texts = store.texts(ids, text)
            if method == "exact":
                g = dd.exact_groups([dd.normalise_text(t) for t in texts])
                found = dd.Groups(g, np.empty((0, 2), np.int64), np.empty(0, np.float32))
                res = dd.make_result("exact", found, {}, keep, **keep_args)
            else:
                found = dd.minhash_groups(texts, threshold=threshold or 0.8, num_perm=num_perm, shingle=shingle,
                                          progress=(lambda d, t: _emit(progress, "dedup", d, t)))
                res = dd.make_result("minhash", found, {"threshold": threshold or 0.8, "num_perm": num_perm,
                                                        "shingle": shingle}, keep, **keep_args)
        groups = np.where(res.groups >= 0, res.groups, -1)
        store.set_step_columns(ids, {"dup_group": [int(g) if g >= 0 else None for g in groups],
                                     "dup_keep": [bool(k) for k in res.keep]}, clear=("dup_group", "dup_keep"))
        out = {**res.to_dict(), "params": {**params, **res.params}, "seconds": time.time() - t0,
               "rows": int(len(ids))}
        store.set_meta("dedup", out)
        _emit(progress, "dedup", len(ids), len(ids))
        return {**out, "note": f"{out['groups']} groups, {out['dropped']} rows not kept"}
    return _finish(store, rid, go)


# ------------------------------------------------------------------ decontamination
def decontaminate(store: Store, evals, n: int = 13, embed_threshold: float | None = None,
                  flt: Filter | None = None, text: str = "conversation", progress=None) -> dict:
    """Flag rows sharing a word n-gram (default 13) with any evaluation prompt (and, with ``embed_threshold``,
    rows whose embedding is that close to one), naming the matching eval item in ``contaminated``."""
    from core import decontam as dc
    paths = [Path(p) for p in evals]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"evaluation file not found: {', '.join(missing)}")
    info = [{"path": str(p.resolve()), "sha256": file_sha256(p)} for p in paths if p.is_file()]
    params = {"evals": info, "n": n, "embed_threshold": embed_threshold, "text": text,
              "filter": (flt or Filter()).to_dict()}
    rid = store.start_run("decontaminate", params)

    def go():
        t0 = time.time()
        items = dc.load_eval_texts([str(p) for p in paths])  # one EvalPrompt per user turn
        labels = [f"{Path(i.source).name}:{i.line}" for i in items]
        etexts = [i.text for i in items]
        ids = _ids_of(store, flt)
        texts = store.texts(ids, text)
        hit: dict[int, str] = {}
        for pos, epos, gram in dc.ngram_matches(texts, dc.ngram_index(etexts, n), n):
            hit.setdefault(int(pos), f"{labels[epos]}: {str(gram)[:120]}")
        if embed_threshold:
            from core import embed as em
            sid = active_space(store)
            info_s = store.space_info(sid)
            e = em.embedder_for_model_id(info_s["model"])
            vids, vecs = store.vectors(sid, Filter(ids=tuple(int(i) for i in ids)))
            pos_of = np.searchsorted(ids, vids)
            for vpos, epos, sim in zip(*dc.embedding_matches(vecs, e.encode(etexts), embed_threshold)):
                hit.setdefault(int(pos_of[vpos]), f"{labels[epos]} (cosine {sim:.2f})")
        vals = [hit.get(i) for i in range(len(ids))]
        store.set_step_columns(ids, {"contaminated": vals}, clear=("contaminated",))
        out = {"rows": int(len(ids)), "contaminated": len(hit), "eval_items": len(etexts), "params": params,
               "seconds": time.time() - t0,
               "examples": [{"id": int(ids[p]), "match": m} for p, m in sorted(hit.items())[:20]]}
        store.set_meta("decontam", out)
        return {**out, "note": f"{len(hit)} of {len(ids)} rows match {len(etexts)} eval items"}
    return _finish(store, rid, go)


# ------------------------------------------------------------------ selection
def pool_filter(flt: Filter | None, exclude_duplicates: bool = True, exclude_contaminated: bool = True) -> Filter:
    """The rows a selection draws from: the filter, minus non-kept duplicates and contaminated rows."""
    f = flt or Filter()
    if exclude_duplicates:
        f = f.and_(Cond("dup_keep", "!=", False))
    if exclude_contaminated:
        f = f.and_(Cond("contaminated", "is null"))
    return f


def recipe(store: Store, flt: Filter | None, selection: dict, exclude: dict) -> dict:
    """What a replay needs: the source files in import order (with sha256), the filter, the dedup and
    decontamination settings in force, the method with its parameters and seed, and the tool version."""
    return {"tool": "sift", "version": __version__, "created": now(), "files": store.import_order(),
            "filter": (flt or Filter()).to_dict(), "dedup": _meta_params(store, "dedup"),
            "decontamination": _meta_params(store, "decontam"), "exclude": exclude, "selection": selection}


def _meta_params(store: Store, key: str):
    m = store.get_meta(key)
    return m.get("params") if m else None


def select(store: Store, method: str, budget, flt: Filter | None = None, name: str | None = None, seed: int = 0,
           params: dict | None = None, score: str = "n_tags", length: str = "response_chars", group: str = "cluster",
           exclude_duplicates: bool = True, exclude_contaminated: bool = True, include=(), exclude=(),
           progress=None) -> dict:
    """Select ``budget`` rows (a count, a share like 0.05, or "5%") of the pool with a method of core.select and
    save them as a named Selection with its recipe. Manual ``include`` ids are kept first, ``exclude`` ids never."""
    from core import select as sel
    params = dict(params or {})
    if method in ("kcenter", "random", "cfds", "stratified"):
        params.setdefault("seed", seed)
    needs = sel.required_inputs(method, params)
    pool = pool_filter(flt, exclude_duplicates, exclude_contaminated)
    cols = {"tags": "tags", "scores": score, "lengths": length, "groups": group}
    inp = store.select_inputs(pool, [cols[k] for k in needs if k in cols])
    ids = inp["id"]
    inputs: dict = {"n": len(ids)}
    for k in needs:
        if k in cols:
            v = inp[cols[k]]
            inputs[k] = np.asarray(v, dtype=float) if k in ("scores", "lengths") else v
    note = ""
    space = None
    if "vecs" in needs:
        space = active_space(store)
        vids, vecs = store.vectors(space, pool)
        if len(vids) < len(ids):
            note = f"{len(ids) - len(vids)} rows without an embedding left out; "
        keep = np.isin(ids, vids)
        ids = vids
        inputs = {k: ([x for x, m in zip(v, keep) if m] if isinstance(v, list) else
                      v[keep] if isinstance(v, np.ndarray) else len(vids)) for k, v in inputs.items()}
        inputs["vecs"] = vecs
    if "groups" in inputs and group == "cluster" and all(g is None or g != g for g in inputs["groups"]):
        raise StoreError("no clusters yet: cluster the rows (Map page) or choose another group column")
    if method == "facility" and len(ids) > 50_000:  # exact kNN graph is O(n^2): approximate cells past 50k rows
        params.setdefault("cells", int(np.sqrt(len(ids))))
    t0 = time.time()
    pos = sel.run_method(method, budget, inputs, params, progress=lambda d, t: _emit(progress, "select", d, t))
    chosen = [int(i) for i in np.asarray(ids)[pos]]
    excl = {int(x) for x in exclude}
    inc = list(dict.fromkeys(int(i) for i in include if int(i) not in excl))
    skip = excl | set(inc)
    chosen = inc + [i for i in chosen if i not in skip]
    got = store.select_inputs(Filter(ids=tuple(chosen)), ["hash"]) if chosen else {"id": np.array([]), "hash": []}
    hmap = dict(zip(got["id"].tolist(), got["hash"]))
    selection = {"ids": chosen, "hashes": [hmap[i] for i in chosen], "method": method, "budget": budget,
                 "seed": seed, "params": params, "score": score,
                 "length": length, "group": group, "include": inc, "exclude": [int(x) for x in exclude],
                 "space": store.space_info(space) if space else None, "rows": len(chosen)}
    rec = recipe(store, flt, selection, {"duplicates": exclude_duplicates, "contaminated": exclude_contaminated})
    saved = store.save_selection(name or f"{method}_{len(chosen)}", chosen, rec)
    return {"name": saved, "rows": len(chosen), "pool": int(len(ids)), "method": method,
            "seconds": time.time() - t0, "note": note.rstrip("; "), "recipe": rec}
