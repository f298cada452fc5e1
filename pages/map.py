"""Map page: compute embeddings, the 2-D map and clusters; see the rows as points; lasso a region into a Filter.

Hover texts and cluster labels are dataset text: html.escape'd (plotly renders a small HTML subset).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core import region, steps
from core.filters import Filter
from core.rows import COLUMN_KINDS
from pages import _steps_ui as sui
from pages import _ui as ui

COLOR_BY = ["cluster_label", "dataset", "language", "format", "n_turns", "n_tokens", "instruction_chars",
            "response_chars", "is_duplicate"]
MAX_POINTS = (10_000, 25_000, 50_000, 100_000, 200_000)
TOP_CATEGORIES = 20
LABELS_SHOWN = 15  # cluster labels drawn at centroids (largest clusters)
PALETTE = ["#4f6bed", "#e4572e", "#29a36a", "#f3a712", "#8e44ad", "#17becf", "#d62728", "#7f7f7f", "#bcbd22",
           "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#393b79", "#637939", "#8c6d31",
           "#843c39", "#7b4173"]


def compute_panel(stt: dict):
    store = ui.store()
    with st.expander("Compute embeddings, map and clusters", expanded=stt["mapped"] == 0):
        c1, c2, c3 = st.columns(3)
        with c1:
            st.markdown("**1 · Embed**")
            model = st.text_input("Model (sentence-transformers name or local path)", "all-MiniLM-L6-v2",
                                  key="m_model", help="The default ships with Sift and works offline.")
            text = st.selectbox("Text to embed", steps.RECIPES, key="m_text",
                                format_func=lambda r: {"instruction": "first instruction",
                                                       "instruction_input": "instruction + input",
                                                       "conversation": "whole conversation",
                                                       "response": "first response"}[r])
        with c2:
            st.markdown("**2 · Map**")
            mode = st.radio("UMAP mode", steps.MAP_MODES, key="m_mode", horizontal=True,
                            help="fast: parallel, layout varies a little between runs. reproducible: fixed seed, "
                                 "single-threaded (about 1.3x slower).")
        with c3:
            st.markdown("**3 · Cluster**")
            method = st.radio("Method", ("hdbscan", "kmeans"), key="m_method", horizontal=True)
            if method == "hdbscan":
                mcs = st.number_input("Min cluster size (0 = automatic)", 0, 100_000, 0, key="m_mcs")
                ms = st.number_input("Min samples (0 = automatic)", 0, 10_000, 0, key="m_ms")
                reassign = st.toggle("Re-assign noise to the nearest cluster", key="m_reassign")
                k = None
            else:
                k = st.number_input("Clusters (0 = automatic)", 0, 5_000, 0, key="m_k") or None
                mcs = ms = 0
                reassign = False
        st.caption(f"The first map or clustering in a fresh process compiles UMAP/HDBSCAN code (about 15 s); "
                   f"compiled code is cached in {steps.numba_cache_dir()} for later runs.")
        b1, b2, b3, b4 = st.columns(4)
        todo = []
        if b1.button("Embed", key="m_b_embed", width="stretch"):
            todo = ["embed"]
        if b2.button("Map", key="m_b_map", width="stretch", disabled=not stt["spaces"]):
            todo = ["map"]
        if b3.button("Cluster", key="m_b_cluster", width="stretch", disabled=not stt["spaces"]):
            todo = ["cluster"]
        if b4.button("Run all three", key="m_b_all", type="primary", width="stretch"):
            todo = ["embed", "map", "cluster"]
        for step in todo:
            if step == "embed":
                res = sui.run_step("Embed", lambda p: steps.embed(store, model.strip() or None, text, progress=p))
                if res:
                    ui.flash("success", f"Embedded {res['embedded']:,} rows ({res['texts_encoded']:,} distinct texts) "
                                        f"with {ui.md(res['model'])}; {res['cached']:,} already had vectors.")
            elif step == "map":
                res = sui.run_step("Map", lambda p: steps.map2d(store, mode=mode, progress=p))
                if res:
                    ui.flash("success", f"Map {res['how']}: {res['rows']:,} rows placed in {res['seconds']:.1f} s.")
            else:
                res = sui.run_step("Cluster", lambda p: steps.cluster(
                    store, method=method, min_cluster_size=int(mcs) or None, min_samples=int(ms) or None,
                    reassign=reassign, k=k, mode=mode, progress=p))
                if res:
                    ui.flash("success", f"{res['clusters']} clusters; noise {res['noise_fraction']:.1%}"
                                        + (f", {res['noise_fraction_after']:.1%} after re-assignment" if reassign else "")
                                        + f"; {res['seconds']:.1f} s.")
            if res is None:
                break
        if todo:
            st.rerun()


def status_line(stt: dict):
    sp = stt["space"]
    parts = [f"{stt['rows']:,} rows"]
    if sp:
        parts.append(f"{stt['covered']:,} embedded ({sp['model']}, {sp['recipe']})")
    parts.append(f"{stt['mapped']:,} on the map" + (f" ({stt['map']['mode']} mode)" if stt["map"] else ""))
    if stt["cluster"]:
        p = stt["cluster"].get("params", {})
        parts.append(f"{p.get('n_clusters', '?')} clusters ({stt['cluster']['method']})")
    st.caption(" · ".join(parts))


def _categorical(col: str) -> bool:
    return COLUMN_KINDS.get(col, "text") in ("text", "bool") or col == "cluster"


def figure(df, color: str, total: int) -> go.Figure:
    size = 6 if len(df) < 5_000 else 4 if len(df) < 50_000 else 3
    hover = df["instruction"].fillna("").map(lambda s: ui.esc(s[:140].replace("\n", " ")) or "(empty)")
    custom = np.stack([df["id"].to_numpy(), hover.to_numpy()], axis=1)
    fig = go.Figure()
    tmpl = "#%{customdata[0]} · %{customdata[1]}<extra>%{fullData.name}</extra>"
    if _categorical(color):
        vals = df[color].astype(str).where(df[color].notna(), "(none)")
        top = vals.value_counts().index[:TOP_CATEGORIES].tolist()
        groups = [(v, vals == v) for v in top] + [("other", ~vals.isin(top))]
        for i, (name, m) in enumerate(groups):
            if not m.any():
                continue
            col = "#c8c8c8" if name in ("other", "noise", "(none)") else PALETTE[i % len(PALETTE)]
            fig.add_trace(go.Scattergl(x=df["x"][m], y=df["y"][m], mode="markers", name=ui.esc(name)[:40],
                                       customdata=custom[m.to_numpy()], hovertemplate=tmpl,
                                       marker={"size": size, "color": col, "opacity": 0.7}))
    else:
        fig.add_trace(go.Scattergl(x=df["x"], y=df["y"], mode="markers", name=color, customdata=custom,
                                   hovertemplate=tmpl, marker={"size": size, "color": df[color], "opacity": 0.7,
                                                               "colorscale": "Viridis", "showscale": True,
                                                               "colorbar": {"title": color}}))
    if "cluster_label" in df and df["cluster"].notna().any():
        cen = df[df["cluster"] >= 0].groupby("cluster").agg(x=("x", "median"), y=("y", "median"),
                                                            n=("id", "size"), t=("cluster_label", "first"))
        for _, r in cen.sort_values("n", ascending=False).head(LABELS_SHOWN).iterrows():
            fig.add_annotation(x=r.x, y=r.y, text=ui.esc(str(r.t)[:28]), showarrow=False,
                               font={"size": 10, "color": "#111"}, bgcolor="rgba(255,255,255,.65)")
    fig.update_layout(height=680, margin={"l": 0, "r": 0, "t": 10, "b": 0}, dragmode="lasso",
                      legend={"itemsizing": "constant", "font": {"size": 11}},
                      xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x"})
    return fig


def region_block():
    shapes = st.session_state.get("map_region")
    if not shapes:
        st.caption("Draw a box or lasso on the map (toolbar, top right) to select a region.")
        return
    xy = sui.all_xy()
    ids = xy["id"].to_numpy()[region.mask(xy["x"], xy["y"], shapes)]
    st.subheader(f"Selected region: {len(ids):,} rows")
    st.caption("The region is applied to every row under the current filter, including rows not drawn.")
    c1, c2 = st.columns(2)
    if c1.button("Filter to this region", key="map_apply", type="primary", disabled=not len(ids)):
        cur = ui.get_filter()
        ui.set_filter(Filter(cur.conds, cur.search, tuple(int(i) for i in ids), region.describe(shapes)))
        st.session_state.pop("map_region", None)
        ui.flash("success", f"Filter set to the map region ({len(ids):,} rows): Browse, Plots and Export use it.")
        st.rerun()
    if c2.button("Clear selection", key="map_clear"):
        st.session_state.pop("map_region", None)
        st.rerun()
    if len(ids):
        df = ui.store().rows(Filter(ids=tuple(int(i) for i in ids[:200])), ui.get_dataset(), limit=50,
                             columns=["id", "dataset", "cluster_label", "language", "instruction", "response"])
        for c in ("instruction", "response"):
            df[c] = df[c].map(lambda s: (str(s or "")[:200]).replace("\n", " ⏎ "))
        st.dataframe(df, hide_index=True, width="stretch",
                     column_config={"instruction": st.column_config.TextColumn(width="large"),
                                    "response": st.column_config.TextColumn(width="large")})


ui.page_setup("Map")
if not ui.no_data_notice():
    stt = sui.status()
    with st.sidebar:
        ui.dataset_selector()
        extra = [k for k, kind in sorted(ui.store().extra_kinds().items()) if kind in ("text", "int", "float", "bool")]
        color = st.selectbox("Colour by", COLOR_BY + [c for c in extra if c not in COLOR_BY], key="map_color")
        limit = st.select_slider("Points drawn at most", MAX_POINTS, value=50_000, key="map_limit")
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    with c1:
        ui.show_sentence()
    with c2:
        ui.clear_filter_button()
    status_line(stt)
    compute_panel(stt)
    if stt["mapped"]:
        cols = tuple(dict.fromkeys(["instruction", "cluster", "cluster_label", color]))
        df, total = sui.points(cols, limit)
        if not total:
            st.info("No rows under this filter are on the map yet (embed and map them above).")
        else:
            if total > len(df):
                st.caption(f"Drawing a random sample of {len(df):,} of {total:,} points (change the limit in the "
                           f"sidebar); a region selects among all {total:,}.")
            ev = st.plotly_chart(figure(df, color, total), key=f"map_chart_{ui.nonce()}", on_select="rerun",
                                 selection_mode=("box", "lasso"), width="stretch",
                                 config={"displaylogo": False})
            shapes = region.from_plotly(dict(ev.selection) if ev and ev.selection else None)
            if shapes:
                st.session_state["map_region"] = shapes
            region_block()
