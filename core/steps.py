"""Steps: computed columns (embeddings, 2-D map, clusters) run against a Store, incrementally and resumably.

Each Step is identified by its name, its non-default parameters and its model, and records every run in the
runs table. The stages themselves are pure and swappable (core.embed, core.cluster); this module only moves
arrays between them and the Store.
"""
from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import numpy as np

from core.filters import Filter
from core.store import Store, StoreError

RECIPES = ("instruction", "instruction_input", "conversation", "response")
MAP_MODES = ("fast", "reproducible")
NOISE_LABEL = "noise"


def numba_cache_dir() -> str:
    """Where numba keeps compiled UMAP/HDBSCAN code between processes (set before numba is imported)."""
    d = os.environ.get("NUMBA_CACHE_DIR") or str(Path.home() / ".cache" / "sift" / "numba")
    os.environ["NUMBA_CACHE_DIR"] = d
    Path(d).mkdir(parents=True, exist_ok=True)
    return d


def _emit(progress, stage: str, done: int, total: int, **info):
    if progress is not None:
        progress(stage, int(done), int(total), info)


def _finish(store: Store, rid: int, fn):
    """Run fn, recording the run's end (done / failed / interrupted) in the runs table."""
    try:
        out = fn()
    except KeyboardInterrupt:
        store.finish_run(rid, "interrupted", 0, "stopped by the user")
        raise
    except Exception as e:
        store.finish_run(rid, "failed", 0, f"{type(e).__name__}: {e}"[:500])
        raise
    store.finish_run(rid, "done", out.get("rows", 0), out.get("note", ""))
    return out


# ------------------------------------------------------------------ embed
def embed(store: Store, model: str | None = None, recipe: str = "instruction", flt: Filter | None = None,
          embedder=None, progress=None, batch: int = 2048, **opts) -> dict:
    """Embed every row (under the filter) that has no vector yet in the space (model, recipe).
    Vectors are keyed by content hash; each batch is committed, so a killed run resumes where it stopped."""
    from core import embed as emb
    if recipe not in RECIPES:
        raise StoreError(f"unknown text {recipe!r}; use one of: {', '.join(RECIPES)}")
    e = embedder or emb.get_embedder(model, **opts)
    sid = store.space(e.model_id, recipe, e.dim)
    store.set_meta("space", sid)
    params = {"model": e.model_id, "text": recipe, "space": sid}
    rid = store.start_run("embed", params)

    def run():
        t0 = time.perf_counter()
        have, total_rows = store.coverage(sid, flt)
        missing, batches = store.missing_texts(sid, recipe, flt, batch=batch)
        done = encoded = 0
        _emit(progress, "embed", 0, missing, rows_per_s=0.0)
        for hashes, texts in batches:
            uniq, inverse = emb.unique_texts(texts)
            vecs = e.encode(uniq)[inverse]
            store.add_vectors(sid, hashes, vecs)
            done += len(hashes)
            encoded += len(uniq)
            el = time.perf_counter() - t0
            _emit(progress, "embed", done, missing, rows_per_s=done / el if el else 0.0,
                  eta_s=(missing - done) / (done / el) if done and el else None)
        secs = time.perf_counter() - t0
        return {"space": sid, "model": e.model_id, "text": recipe, "rows": total_rows, "cached": have,
                "embedded": done, "texts_encoded": encoded, "seconds": round(secs, 3),
                "rows_per_s": round(done / secs, 1) if secs and done else None, "run": rid}
    return _finish(store, rid, run)


def active_space(store: Store, space: int | None = None) -> int:
    if space is not None:
        store.space_info(space)
        return int(space)
    sid = store.get_meta("space")
    if sid is None:
        spaces = store.spaces()
        if not spaces:
            raise StoreError("no embeddings yet: run embed first (Map page, or `python -m core embed`)")
        sid = spaces[-1]["space"]
    return int(sid)


def _model_path(store: Store, name: str) -> Path:
    d = store.workspace / "models"
    d.mkdir(exist_ok=True)
    return d / f"{name}.pkl"


# ------------------------------------------------------------------ 2-D map
def map2d(store: Store, space: int | None = None, mode: str = "fast", seed: int = 42, refit: bool = False,
          progress=None, min_dist: float | None = None) -> dict:
    """UMAP (cosine) to 2-D coordinates x, y. With the same space, mode and min_dist as the last map, only rows
    without coordinates are placed (by the saved model's transform); otherwise, or with refit, the map is refitted.
    min_dist defaults to core.cluster.MAP_MIN_DIST (0.1: the clustering reduction keeps 0, packed for HDBSCAN)."""
    if mode not in MAP_MODES:
        raise StoreError(f"mode must be one of {', '.join(MAP_MODES)}")
    numba_cache_dir()
    from core import cluster as cl
    min_dist = cl.MAP_MIN_DIST if min_dist is None else float(min_dist)
    sid = active_space(store, space)
    info = store.space_info(sid)
    ident = {"space": sid, "model": info["model"], "text": info["recipe"], "mode": mode, "min_dist": min_dist}
    if mode == "reproducible":
        ident["seed"] = seed
    rid = store.start_run("map", ident)
    path = _model_path(store, "map")

    def run():
        t0 = time.perf_counter()
        incremental = (not refit and store.get_meta("map") == ident and path.exists())
        if incremental:  # only rows without coordinates: load just their vectors
            missing = store.step_ids("x", missing=True)
            ids, vecs = store.vectors(sid, Filter(ids=tuple(missing.tolist()))) if len(missing) else ([], None)
            if len(ids):
                model = pickle.loads(path.read_bytes())
                xy = cl.umap_transform(model, vecs, progress=lambda d, t: _emit(progress, "map", d, t))
                store.set_step_columns(ids, {"x": xy[:, 0].astype(np.float32), "y": xy[:, 1].astype(np.float32)})
            placed, how = len(ids), "placed new rows with the saved map"
            mapped = store.coverage(sid)[0]
        else:
            ids, vecs = store.vectors(sid)
            if not len(ids):
                raise StoreError("no rows have embeddings in this space yet: run embed first")
            xy, model = cl.umap_reduce(vecs, 2, mode=mode, seed=seed, min_dist=min_dist,
                                       progress=lambda d, t: _emit(progress, "map", d, t))
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps(model))
            os.replace(tmp, path)
            store.set_step_columns(ids, {"x": xy[:, 0].astype(np.float32), "y": xy[:, 1].astype(np.float32)},
                                   clear=("x", "y"))
            store.set_meta("map", ident)
            placed, how, mapped = len(ids), "fitted", len(ids)
        secs = time.perf_counter() - t0
        return {"rows": placed, "mapped": mapped, "how": how, "mode": mode, "min_dist": min_dist, "space": sid,
                "seconds": round(secs, 3), "note": how}
    return _finish(store, rid, run)


# ------------------------------------------------------------------ clusters
def cluster(store: Store, space: int | None = None, method: str = "hdbscan", n_components: int = 5,
            min_cluster_size: int | None = None, min_samples: int | None = None, reassign: bool = False,
            k: int | None = None, mode: str = "fast", seed: int = 42, progress=None) -> dict:
    """Cluster every embedded row; label clusters by c-TF-IDF keywords; keep user-given names of clusters
    that are the same as before (by member overlap)."""
    numba_cache_dir()
    from core import cluster as cl
    sid = active_space(store, space)
    info = store.space_info(sid)
    ident = {"space": sid, "model": info["model"], "text": info["recipe"], "method": method, "mode": mode}
    for key, val, default in (("n_components", n_components, 5), ("min_cluster_size", min_cluster_size, None),
                              ("min_samples", min_samples, None), ("reassign", reassign, False), ("k", k, None),
                              ("seed", seed if mode == "reproducible" else 42, 42)):
        if val != default:
            ident[key] = val
    rid = store.start_run("cluster", ident)

    def run():
        t0 = time.perf_counter()
        ids, vecs = store.vectors(sid)
        if not len(ids):
            raise StoreError("no rows have embeddings in this space yet: run embed first")
        texts = store.texts(ids, info["recipe"])
        res = cl.cluster(vecs, texts, method=method, n_components=n_components, min_cluster_size=min_cluster_size,
                         min_samples=min_samples, reassign=reassign, k=k, mode=mode, seed=seed,
                         progress=lambda s, d, t: _emit(progress, s, d, t))
        labels = np.asarray(res.labels, dtype=np.int64)
        old_members = store.cluster_members()
        old_names = {c["cluster"]: c["name"] for c in store.clusters() if c["name"]}
        new_members = {int(c): set(ids[labels == c].tolist()) for c in np.unique(labels) if c >= 0}
        carried = {new: old_names[old] for new, old in cl.match_clusters(old_members, new_members).items()
                   if old in old_names}
        sizes = {int(c): int(n) for c, n in zip(*np.unique(labels, return_counts=True))}
        table, title = [], {}
        for c, n in sorted(sizes.items()):
            kw = list(res.keywords.get(c, [])) if c >= 0 else []
            label = NOISE_LABEL if c < 0 else (", ".join(kw[:4]) or f"cluster {c}")
            name = carried.get(c, "")
            title[c] = name or label
            reps = [int(ids[i]) for i in res.representatives.get(c, [])]
            table.append({"cluster": c, "label": label, "name": name, "size": n, "keywords": kw, "reps": reps})
        store.set_clusters(table)
        store.set_step_columns(ids, {"cluster": labels.astype(np.int32),
                                     "cluster_label": np.array([title[int(c)] for c in labels], dtype=object)},
                               clear=("cluster", "cluster_label"))
        store.set_meta("cluster", {**ident, "params": _jsonable(res.params)})
        n_clusters = sum(1 for c in sizes if c >= 0)
        secs = time.perf_counter() - t0
        return {"clusters": n_clusters, "rows": len(ids), "sizes": {str(c): n for c, n in sizes.items()},
                "labels": {str(c): title[c] for c in sizes}, "noise_fraction": round(res.noise_fraction, 4),
                "noise_fraction_after": round(float((labels < 0).mean()), 4), "renamed_kept": len(carried),
                "method": method, "params": _jsonable(res.params), "seconds": round(secs, 3),
                "note": f"{n_clusters} clusters, noise {res.noise_fraction:.1%}"}
    return _finish(store, rid, run)


def _jsonable(d: dict) -> dict:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in d.items()}


# ------------------------------------------------------------------ semantic search
def similar(store: Store, text: str | None = None, row_id: int | None = None, space: int | None = None,
            flt: Filter | None = None, k: int = 20, embedder=None):
    """Rows nearest a query text (embedded with the space's model) or another row, by cosine."""
    from core import embed as emb
    sid = active_space(store, space)
    if row_id is not None:
        q = store.row_vector(sid, row_id)
        if q is None:
            raise StoreError(f"row {row_id} has no embedding yet: run embed first")
    else:
        if not (text or "").strip():
            raise StoreError("type some text to search for")
        info = store.space_info(sid)
        e = embedder or emb.embedder_for_model_id(info["model"])
        q = e.encode([text])[0]
    return store.nearest(sid, q, flt, k=k, exclude_id=row_id)
