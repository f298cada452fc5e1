"""Shared UI for the Curate page (not a page): the preview of a selection against its pool (counts per dataset,
cluster, language and tag; InsTag complexity and diversity; coverage gaps from core.coverage; the map with the
selected points and the gap clusters), and cached reads keyed by the store version.

Dataset text (instructions, tags, cluster names, dataset names) is shown only in tables, st.text and widget
options, and html.escape'd in plotly hover texts and labels.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import coverage, tagging
from core.filters import Filter
from pages import _tags_ui as tui
from pages import _ui as ui

PREVIEW_PREFIX = "preview."  # a preview is saved as preview.<session> until "Save as"; hidden from saved lists
PREVIEW_MAX_AGE_S = 24 * 3600  # other sessions' previews older than this are deleted when the page opens
KINDS = {"cluster": "Cluster", "tags": "Tag", "dataset": "Dataset", "language": "Language"}
MAP_POINTS = 20_000  # points drawn per layer (selected / not selected) at most
GAPS_ON_MAP = 30


def preview_name() -> str:
    """This browser session's preview selection (two sessions previewing at once never overwrite each other)."""
    return PREVIEW_PREFIX + st.session_state.setdefault("cur_preview_id", secrets.token_hex(4))


def is_preview(name: str) -> bool:
    return name.startswith(PREVIEW_PREFIX)


def drop_stale_previews(store) -> None:
    """Delete other sessions' previews older than PREVIEW_MAX_AGE_S (left behind by closed browser tabs)."""
    now = datetime.now(timezone.utc)
    for s in store.selections():
        if is_preview(s["name"]) and s["name"] != preview_name():
            created = datetime.fromisoformat(s["created"])
            if (now - created.replace(tzinfo=created.tzinfo or timezone.utc)).total_seconds() > PREVIEW_MAX_AGE_S:
                store.delete_selection(s["name"])


scoped, fkey, _flt = tui.scoped, tui._key, tui._flt  # the current filter within the sidebar's dataset; cache keys


def parse_ids(text: str) -> list[int]:
    """Row ids typed by the user: numbers separated by commas, spaces or new lines."""
    toks = [t for t in (text or "").replace(",", " ").split() if t]
    bad = [t for t in toks if not t.isdigit()]
    if bad:
        raise ValueError(f"not a row id: {bad[0][:40]}")
    return list(dict.fromkeys(int(t) for t in toks))


# ------------------------------------------------------------------ label columns of a set of rows
def labels_of(store, flt: Filter) -> dict:
    """The label columns coverage is measured on, for the filter's rows in id order: id, cluster (None for
    unclustered and noise rows), tags (list or None), dataset, language; and cluster id -> name."""
    inp = store.select_inputs(flt, ["cluster", "cluster_label", "tags", "dataset", "language"])
    cl = [None if c is None or np.isnan(c) or c < 0 else int(c) for c in inp["cluster"]]
    names = {}
    for c, name in zip(cl, inp["cluster_label"]):
        if c is not None:
            names.setdefault(c, name or f"cluster {c}")
    return {"id": inp["id"], "cluster": cl, "tags": inp["tags"], "dataset": inp["dataset"],
            "language": inp["language"], "names": names}


def named(table: pd.DataFrame, kind: str, names: dict) -> pd.DataFrame:
    """A coverage table ready to show: labels as text, cluster names beside cluster ids."""
    t = table.copy()
    if kind == "cluster":
        t.insert(1, "name", [str(names.get(c, "")) for c in t["label"]])
    t["label"] = t["label"].astype(str)
    return t


@st.cache_data(show_spinner=False, max_entries=8)
def _coverage(ws: str, v: int, pool_fk: str, sel: str) -> dict:
    s = ui._open_store(ws)
    pool = _flt(pool_fk)
    lab = labels_of(s, pool)
    ids, _ = s.selection(sel)
    mask = np.isin(lab["id"], ids)
    rep = coverage.coverage_report({k: lab[k] for k in KINDS}, mask)
    tagged = s.count(pool.and_(ui.Cond("tags", "not null")))
    stats = None
    if tagged:
        stats = {"pool": tagging.stats(s, pool), "selection": tagging.stats(s, Filter(ids=tuple(int(i) for i in ids)))}
    return {"report": rep, "names": lab["names"], "pool": len(lab["id"]), "in_pool": int(mask.sum()),
            "selected": len(ids), "stats": stats}


@st.cache_data(show_spinner=False, max_entries=8)
def _map(ws: str, v: int, pool_fk: str, sel: str) -> dict | None:
    s = ui._open_store(ws)
    pool = _flt(pool_fk)
    df, total = s.points(pool, columns=("cluster",))
    if not total:
        return None
    ids, _ = s.selection(sel)
    df["selected"] = np.isin(df["id"].to_numpy(), ids)
    cen = df[df["cluster"].notna() & (df["cluster"] >= 0)].groupby("cluster")[["x", "y"]].median()
    drawn = []
    for flag in (False, True):
        part = df[df["selected"] == flag]
        if len(part) > MAP_POINTS:
            part = part.sample(MAP_POINTS, random_state=0)
        drawn.append(part)
    drawn = pd.concat(drawn)
    hov, _ = s.points(Filter(ids=tuple(int(i) for i in drawn["id"])), columns=("instruction",))
    drawn = drawn.merge(hov[["id", "instruction"]], on="id", how="left")
    return {"points": drawn, "centroids": cen, "total": total, "selected": int(df["selected"].sum())}


def coverage_data(pool: Filter, sel: str) -> dict:
    return _coverage(ui.workspace(), ui.version(), fkey(pool), sel)


# ------------------------------------------------------------------ the map
def _hover(texts) -> np.ndarray:
    return np.array([ui.esc(str(t or "")[:140].replace("\n", " ")) or "(empty)" for t in texts], dtype=object)


def selection_figure(points: pd.DataFrame, centroids: pd.DataFrame, gap_rows: pd.DataFrame, names: dict) -> go.Figure:
    """Pool points in grey, selected points in colour, and an X at the centroid of each gap cluster."""
    traces = []
    for flag, name, colour, size in ((False, "not selected", "#c8c8c8", 4), (True, "selected", "#4f6bed", 5)):
        p = points[points["selected"] == flag]
        if len(p):
            traces.append({"type": "scattergl", "mode": "markers", "name": name, "x": p["x"].to_numpy(np.float32),
                           "y": p["y"].to_numpy(np.float32), "customdata": p["id"].to_numpy().astype(object),
                           "hovertext": _hover(p["instruction"]), "marker": {"size": size, "color": colour,
                                                                              "opacity": 0.75},
                           "hovertemplate": "#%{customdata} · %{hovertext}<extra>%{fullData.name}</extra>"})
    gx = [c for c in gap_rows["label"].head(GAPS_ON_MAP) if c in centroids.index]
    if gx:
        text = np.array([ui.esc(f"gap: {str(names.get(c, c))[:28]}") for c in gx], dtype=object)
        sub = gap_rows.set_index("label").loc[gx]
        info = np.array([ui.esc(f"{names.get(c, c)}: {int(r.selected)} of {int(r.pool)} rows selected "
                                f"(expected {r.expected:.1f})") for c, r in zip(gx, sub.itertuples())], dtype=object)
        # WebGL like the points: an SVG trace would be drawn underneath them
        traces.append({"type": "scattergl", "mode": "markers+text", "name": "coverage gap (cluster)",
                       "x": centroids.loc[gx, "x"].to_numpy(), "y": centroids.loc[gx, "y"].to_numpy(),
                       "text": text, "textposition": "top center", "hovertext": info, "hoverinfo": "text",
                       "textfont": {"size": 10, "color": "#b91c1c"},
                       "marker": {"symbol": "x", "size": 16, "color": "#e4572e", "line": {"width": 1,
                                                                                           "color": "#7f1d1d"}}})
    return go.Figure(data=traces, layout={
        "height": 560, "margin": {"l": 0, "r": 0, "t": 10, "b": 0}, "legend": {"itemsizing": "constant"},
        "xaxis": {"visible": False}, "yaxis": {"visible": False, "scaleanchor": "x"}})


# ------------------------------------------------------------------ the preview
def _stats_block(stats: dict | None):
    if not stats:
        st.caption("Complexity and diversity appear once rows carry tags (Tags page).")
        return
    p, s = stats["pool"], stats["selection"]
    c = st.columns(4)
    c[0].metric("Complexity (selection)", f"{s['complexity']:.2f}", f"{s['complexity'] - p['complexity']:+.2f} vs pool",
                help="InsTag: mean number of tags per tagged row")
    c[1].metric("Complexity (pool)", f"{p['complexity']:.2f}")
    c[2].metric("Diversity (selection)", f"{s['diversity']:,}", f"{s['diversity'] - p['diversity']:+,} vs pool",
                help="InsTag: distinct tags covered")
    c[3].metric("Diversity (pool)", f"{p['diversity']:,}")


def gap_table(data: dict) -> pd.DataFrame:
    """Every kind's gaps in one table (kind, label, name, pool, selected, expected, ratio), worst first."""
    parts = []
    for kind, (table, _) in data["report"].items():
        g = coverage.gaps(table)
        if len(g):
            g = named(g, kind, data["names"]) if kind == "cluster" else named(g, kind, {}).assign(name="")
            parts.append(g.drop(columns="gap").assign(kind=KINDS[kind]))
    if not parts:
        return pd.DataFrame(columns=["kind", "label", "name", "pool", "selected", "expected", "ratio"])
    return pd.concat(parts)[["kind", "label", "name", "pool", "selected", "expected", "ratio"]].reset_index(drop=True)


NUM = {"expected": st.column_config.NumberColumn(format="%.1f"), "ratio": st.column_config.NumberColumn(format="%.2f")}


def show_coverage(pool: Filter, sel: str, key: str):
    """Counts kept per dataset / cluster / language / tag, InsTag measures, gaps and the map of ``sel`` vs ``pool``."""
    data = coverage_data(pool, sel)
    out_pool = data["selected"] - data["in_pool"]
    st.caption(f"Pool: {data['pool']:,} rows · selected: {data['in_pool']:,} of them"
               + (f" (+{out_pool:,} included by hand from outside the pool)" if out_pool else "")
               + f". A gap is a label with at least {coverage.MIN_POOL} rows in the pool (and at least "
                 f"{coverage.MIN_EXPECTED:g} expected) of which the selection keeps less than "
                 f"{coverage.GAP_RATIO:.0%} of what a random selection of the same size would keep on average.")
    sums = {k: s for k, (_, s) in data["report"].items()}
    c = st.columns(len(KINDS))
    for i, (k, word) in enumerate(KINDS.items()):
        s = sums[k]
        c[i].metric(f"{word}s covered", f"{s['covered']:,} of {s['labels']:,}" if s["labels"] else "—",
                    f"{s['gaps']} gaps" if s["gaps"] else None, delta_color="inverse")
    _stats_block(data["stats"])
    gaps = gap_table(data)
    st.markdown(f"**Coverage gaps** ({len(gaps):,})")
    if len(gaps):
        st.dataframe(gaps, hide_index=True, width="stretch", key=f"{key}_gaps", column_config=NUM)
    else:
        st.caption("No gaps: every label of the pool is kept at least at half its expected rate.")
    tabs = st.tabs([f"Per {w.lower()}" for w in KINDS.values()] + ["Map"])
    for tab, kind in zip(tabs, KINDS):
        with tab:
            table, s = data["report"][kind]
            if not len(table):
                st.caption({"cluster": "No clusters yet (Map page).", "tags": "No tags yet (Tags page)."}.get(
                    kind, "No labels."))
                continue
            st.dataframe(named(table, kind, data["names"]), hide_index=True, width="stretch",
                         key=f"{key}_{kind}", column_config=NUM)
    with tabs[-1]:
        m = _map(ui.workspace(), ui.version(), fkey(pool), sel)
        if m is None:
            st.caption("No rows of the pool are on the map yet (Map page: embed, map and cluster).")
            return
        cl_gaps = coverage.gaps(data["report"]["cluster"][0])
        if len(m["points"]) < m["total"]:
            st.caption(f"Drawing at most {MAP_POINTS:,} selected and {MAP_POINTS:,} other points of {m['total']:,}.")
        st.plotly_chart(selection_figure(m["points"], m["centroids"], cl_gaps, data["names"]), width="stretch",
                        key=f"{key}_map", config={"displaylogo": False})
