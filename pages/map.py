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
from pages import _tags_ui as tui
from pages import _ui as ui

COLOR_BY = ["cluster_label", "dataset", "language", "format", "n_turns", "n_tokens", "instruction_chars",
            "response_chars", "is_duplicate"]
# Drawing every point costs time in the browser (measured by bench/map_paint.py; see the README): by default a
# random sample is drawn over a density layer of all points, and the page says so.
MAX_POINTS = (10_000, 20_000, 50_000, 100_000, 200_000)
DEFAULT_POINTS = 10_000
DENSITY_BINS = 160
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
                reassign = st.toggle("Re-assign noise to the nearest cluster", value=True, key="m_reassign",
                                     help="On: every noise point joins its nearest cluster (by cosine); the "
                                          "noise fraction before and after is shown when clustering ends.")
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


def _hover(df) -> np.ndarray:
    """Each point's hover text: the instruction's first 140 characters on one line, escaped. An object array,
    not a list: plotly validates a list element by element (about 1 s at 200k points), an array in one go."""
    texts = df["instruction"].fillna("").astype(str).tolist()
    return np.array([ui.esc(t[:140].replace("\n", " ")) or "(empty)" for t in texts], dtype=object)


def density(xy) -> dict:
    """Where all the points are (not just the drawn sample): a grey log-count heatmap, empty cells transparent."""
    counts, xe, ye = np.histogram2d(xy["x"].to_numpy(), xy["y"].to_numpy(), bins=DENSITY_BINS)
    z = np.where(counts.T > 0, np.log1p(counts.T), np.nan).astype(np.float32)
    return {"type": "heatmap", "z": z, "x": (xe[:-1] + xe[1:]) / 2, "y": (ye[:-1] + ye[1:]) / 2, "name": "density",
            "showscale": False, "hoverinfo": "skip",
            "colorscale": [[0, "rgba(60,60,60,0.08)"], [1, "rgba(60,60,60,0.45)"]]}


def figure(df, color: str, background: dict | None = None) -> go.Figure:
    """One Scattergl trace per category (top TOP_CATEGORIES, then "other") or one with a colour scale, the
    largest clusters' labels at their centroids, and optionally a density layer underneath. Traces are plain
    dicts validated once by go.Figure (add_trace / add_annotation copy the figure each time: 0.4 s at 20k)."""
    n = len(df)
    x, y = df["x"].to_numpy(np.float32), df["y"].to_numpy(np.float32)
    ids = df["id"].to_numpy().astype(object)  # in the JSON as a list of ints, like the hover texts
    hover = _hover(df)
    base = {"type": "scattergl", "mode": "markers", "hovertemplate": "#%{customdata} · %{hovertext}"
            "<extra>%{fullData.name}</extra>"}
    marker = {"size": 6 if n < 5_000 else 4 if n < 50_000 else 3, "opacity": 0.7}
    traces = [background] if background is not None else []
    if _categorical(color):
        vals = df[color].astype(str).where(df[color].notna(), "(none)")
        top = vals.value_counts().index[:TOP_CATEGORIES].tolist()
        codes = vals.to_numpy()
        groups = [(v, codes == v) for v in top] + [("other", ~vals.isin(top).to_numpy())]
        for i, (name, m) in enumerate(groups):
            if m.any():
                col = "#c8c8c8" if name in ("other", "noise", "(none)") else PALETTE[i % len(PALETTE)]
                traces.append({**base, "x": x[m], "y": y[m], "name": ui.esc(str(name)[:40]), "customdata": ids[m],
                               "hovertext": hover[m], "marker": {**marker, "color": col}})
    else:
        traces.append({**base, "x": x, "y": y, "name": color, "customdata": ids, "hovertext": hover,
                       "marker": {**marker, "color": df[color], "colorscale": "Viridis", "showscale": True,
                                  "colorbar": {"title": color}}})
    labels = []
    if "cluster_label" in df and df["cluster"].notna().any():
        cen = df[df["cluster"] >= 0].groupby("cluster").agg(x=("x", "median"), y=("y", "median"),
                                                            n=("id", "size"), t=("cluster_label", "first"))
        labels = [{"x": r.x, "y": r.y, "text": ui.esc(str(r.t)[:28]), "showarrow": False,
                   "font": {"size": 10, "color": "#111"}, "bgcolor": "rgba(255,255,255,.65)"}
                  for r in cen.sort_values("n", ascending=False).head(LABELS_SHOWN).itertuples()]
    return go.Figure(data=traces, layout={
        "height": 680, "margin": {"l": 0, "r": 0, "t": 10, "b": 0}, "dragmode": "lasso", "annotations": labels,
        "legend": {"itemsizing": "constant", "font": {"size": 11}},
        "xaxis": {"visible": False}, "yaxis": {"visible": False, "scaleanchor": "x"}})


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
        color = st.selectbox("Colour by", COLOR_BY + [tui.TAG_COLOR] + [c for c in extra if c not in COLOR_BY],
                             key="map_color")
        tag = st.selectbox("Tag", tui.all_tags(), key="map_tag") if color == tui.TAG_COLOR else None
        if color == tui.TAG_COLOR and tag is None:
            st.caption("No tags yet (Tags page).")
            color = "cluster_label"
        limit = st.select_slider("Points drawn at most", MAX_POINTS, value=DEFAULT_POINTS, key="map_limit",
                                 help="Beyond this a random sample is drawn over a density layer of every point. "
                                      "Every point's hover text travels to the browser: on a 2-core machine "
                                      "without a GPU 10,000 points paint in about 2 s and 200,000 in about 12 s.")
    ui.sentence_bar()
    status_line(stt)
    compute_panel(stt)
    if stt["mapped"]:
        cols = tuple(dict.fromkeys(["instruction", "cluster", "cluster_label", "tags" if tag else color]))
        df, total = sui.points(cols, limit)
        if tag:
            df = df.assign(**{color: tui.has_tag_labels(df["tags"], tag)})
        if not total:
            st.info("No rows under this filter are on the map yet (embed and map them above).")
        else:
            sampled = total > len(df)
            if sampled:
                st.caption(f"Drawing a random sample of {len(df):,} of {total:,} points (change the limit in the "
                           f"sidebar); the grey shading is the density of all {total:,}, and a region selects "
                           f"among all of them.")
            fig = figure(df, color, density(sui.all_xy()) if sampled else None)
            ev = st.plotly_chart(fig, key=f"map_chart_{ui.nonce()}", on_select="rerun",
                                 selection_mode=("box", "lasso"), width="stretch",
                                 config={"displaylogo": False})
            shapes = region.from_plotly(dict(ev.selection) if ev and ev.selection else None)
            if shapes:
                st.session_state["map_region"] = shapes
            region_block()
