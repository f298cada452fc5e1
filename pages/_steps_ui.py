"""Shared UI for Steps (embed, map, clusters, similar rows): cached reads and runs with progress bars.

Not a page. Reads are st.cache_data keyed by the store version, like pages/_ui.py.
"""
from __future__ import annotations

import json
import time

import pandas as pd
import streamlit as st

from core import steps
from core.filters import Filter, FilterError
from core.store import StoreError
from pages import _ui as ui

STAGE_WORDS = {"embed": "Embedding", "map": "Placing rows on the 2-D map", "reduce": "UMAP reduction",
               "cluster": "HDBSCAN / k-means", "reassign": "Re-assigning noise", "keywords": "Keywords (c-TF-IDF)",
               "representatives": "Representative samples"}


@st.cache_data(show_spinner=False, max_entries=32)
def _points(ws: str, v: int, fk: str, dataset: str | None, cols: tuple, limit: int):
    return ui._open_store(ws).points(_flt(fk, dataset), columns=cols, limit=limit)


@st.cache_data(show_spinner=False, max_entries=16)
def _all_xy(ws: str, v: int, fk: str, dataset: str | None):
    df, _ = ui._open_store(ws).points(_flt(fk, dataset))
    return df


@st.cache_data(show_spinner=False, max_entries=16)
def _clusters(ws: str, v: int, fk: str, dataset: str | None) -> list:
    return ui._open_store(ws).clusters(_flt(fk, dataset))


@st.cache_data(show_spinner=False, max_entries=8)
def _status(ws: str, v: int) -> dict:
    s = ui._open_store(ws)
    spaces = s.spaces()
    sid = s.get_meta("space")
    space = next((x for x in spaces if x["space"] == sid), spaces[-1] if spaces else None)
    total = s.count()
    return {"spaces": spaces, "space": space, "rows": total,
            "covered": s.coverage(space["space"])[0] if space else 0,
            "mapped": int(s.count(Filter((ui.Cond("x", "not null"),)))),
            "clustered": int(s.count(Filter((ui.Cond("cluster", "not null"),)))),
            "map": s.get_meta("map"), "cluster": s.get_meta("cluster")}


def _flt(fk: str, dataset: str | None) -> Filter:
    return _scoped(Filter.from_dict(json.loads(fk)), dataset)


def _scoped(flt: Filter, dataset: str | None) -> Filter:
    """The filter limited to the selected dataset (Steps take one Filter, not a dataset argument)."""
    return flt.and_(ui.Cond("dataset", "=", dataset)) if dataset else flt


def points(cols: tuple, limit: int):
    return _points(ui.workspace(), ui.version(), ui._fkey(), ui.get_dataset(), tuple(cols), int(limit))


def all_xy():
    return _all_xy(ui.workspace(), ui.version(), ui._fkey(), ui.get_dataset())


def clusters() -> list:
    return _clusters(ui.workspace(), ui.version(), ui._fkey(), ui.get_dataset())


def status() -> dict:
    return _status(ui.workspace(), ui.version())


def run_step(label: str, fn) -> dict | None:
    """Run a Step with a progress bar (stage, done/total, rows/s, ETA); show its outcome; return its result."""
    bar = st.progress(0.0, text=f"{label}: starting…")
    t0 = time.perf_counter()

    def progress(stage, done, total, info=None):
        frac = min(1.0, done / total) if total else 0.0
        words = STAGE_WORDS.get(stage, stage)
        extra = ""
        if info and info.get("rows_per_s"):
            extra = f" · {info['rows_per_s']:,.0f} rows/s"
            if info.get("eta_s") is not None:
                extra += f" · about {info['eta_s']:,.0f} s left"
        bar.progress(frac, text=f"{label} — {words}: {done:,} of {total:,}{extra} · {time.perf_counter() - t0:,.0f} s")

    try:
        res = fn(progress)
    except (StoreError, FilterError, ValueError, RuntimeError) as e:
        bar.empty()
        st.error(f"{label} failed: {ui.md(e)}")
        return None
    bar.empty()
    return res


def similar_rows(row_id: int):
    """Nearest rows to a row by cosine over the stored vectors (within the current filter)."""
    try:
        sid = steps.active_space(ui.store())
    except StoreError:
        st.caption("Similar rows appear here once the rows are embedded (Map page).")
        return
    try:
        df = steps.similar(ui.store(), row_id=int(row_id), space=sid, flt=_scoped(ui.get_filter(), ui.get_dataset()),
                           k=10)
    except StoreError as e:
        st.caption(ui.md(e))
        return
    show_scored(df)


def show_scored(df: pd.DataFrame):
    if df is None or not len(df):
        st.info("No rows with embeddings match.")
        return
    view = df[["score", "id", "dataset", "cluster_label", "instruction"]].copy()
    view["instruction"] = view["instruction"].map(lambda s: (str(s or "")[:200]).replace("\n", " ⏎ "))
    st.dataframe(view, hide_index=True, width="stretch",
                 column_config={"score": st.column_config.NumberColumn(format="%.3f", width="small"),
                                "instruction": st.column_config.TextColumn(width="large")})


def semantic_search_box():
    """Query text -> nearest rows by cosine (within the current filter), for the Browse page."""
    with st.expander("Search by meaning (semantic search over the embeddings)"):
        q = st.text_input("Find rows similar in meaning to", key="sem_q", placeholder="e.g. how to bake bread")
        if not q.strip():
            return
        try:
            with st.spinner("searching…"):
                df = steps.similar(ui.store(), text=q, flt=_scoped(ui.get_filter(), ui.get_dataset()), k=20)
        except (StoreError, FilterError, RuntimeError) as e:
            st.info(ui.md(e))
            return
        show_scored(df)
