"""Tags page: InsTag-style tagging. Run a tagger on the current filter, compare the sources, normalise the raw tags,
measure complexity and diversity, browse the vocabulary (filter by a tag, rename, merge, delete), edit tags by
hand with undo. Sections render one at a time (a radio), so only the chosen one reads the tags.

Tags are dataset (or model) text: shown through st.dataframe / st.text / widget options, html.escape'd in plotly.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.filters import Cond
from pages import _steps_ui as sui
from pages import _tags_edit as edit
from pages import _tags_run as run
from pages import _tags_ui as tui
from pages import _ui as ui

SECTIONS = ("Measures", "Vocabulary", "Tag rows", "Sources", "Normalise", "Edit by hand")
VOCAB_SHOWN = 5_000
PICK_MAX = 1_000
EMPTY = ("No tags yet. Tag the rows under Tag rows: offline with keyphrases or the taxonomy (no LLM needed), with "
         "an OpenAI-compatible LLM, or from a label column already in the data. Measures, the vocabulary and hand "
         "edits appear here once rows carry tags.")


# ------------------------------------------------------------------ measures
def _group_table(by: str, title: str):
    groups = tui.summary(by, 3)
    if len(groups) < 2:
        return
    st.caption(title)
    st.dataframe([{by: g["group"], "rows": g["rows"], "tagged": g["rows_tagged"], "complexity": g["complexity"],
                   "diversity": g["diversity"], "raw tags": g["unique_tags"],
                   "top tags": ", ".join(t["tag"] for t in g["top_tags"])} for g in groups],
                 hide_index=True, width="stretch",
                 column_config={"complexity": st.column_config.NumberColumn(format="%.2f"),
                                "top tags": st.column_config.TextColumn(width="large")})


def long_tail(voc):
    top = voc.head(VOCAB_SHOWN)
    fig = go.Figure(go.Scatter(x=list(range(1, len(top) + 1)), y=top["rows"], mode="lines+markers",
                               marker={"size": 4}, customdata=top["tag"].map(ui.esc),
                               hovertemplate="#%{x} %{customdata}: %{y:,} rows<extra></extra>"))
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title="tag rank",
                      yaxis_title="rows", yaxis_type="log",
                      title={"text": "Tag frequency (long tail, log scale)", "x": 0, "font": {"size": 15}})
    st.plotly_chart(fig, width="stretch", key="tags_tail")


def heatmap():
    c1, c2 = st.columns([3, 1])
    top = c1.slider("Top tags in the co-occurrence view", 5, 60, 25, key="tags_cooc_top")
    measure = c2.radio("Measure", ("count", "jaccard"), key="tags_cooc_measure", horizontal=True,
                       help="count: rows having both tags; jaccard: rows with both / rows with either.")
    tags, m = tui.cooc(top, measure)
    if len(tags) < 2:
        return
    names = [ui.esc(t) for t in tags]
    z = m.astype(float)
    np.fill_diagonal(z, np.nan)  # a tag with itself (its own count) would swamp the colour scale
    fig = go.Figure(go.Heatmap(z=z, x=names, y=names, colorscale="Blues", hoverongaps=False,
                               hovertemplate="%{y} & %{x}: %{z}<extra></extra>"))
    fig.update_layout(height=max(360, 18 * len(tags) + 120), margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title={"text": "Tag co-occurrence of the most frequent tags (diagonal left blank)", "x": 0,
                             "font": {"size": 15}},
                      xaxis={"type": "category", "tickangle": -45, "dtick": 1},
                      yaxis={"type": "category", "autorange": "reversed", "dtick": 1})
    st.plotly_chart(fig, width="stretch", key="tags_cooc")


def rules_table():
    c1, c2 = st.columns(2)
    sup = c1.number_input("Min support (share of tagged rows)", 0.0001, 1.0, 0.01, step=0.005, format="%.4f",
                          key="tags_rule_sup")
    conf = c2.number_input("Min confidence", 0.0, 1.0, 0.5, step=0.05, key="tags_rule_conf")
    df = tui.rules(sup, conf)
    st.caption("Strongest association rules (tag A → tag B: rows with A mostly also have B), by lift.")
    if not len(df):
        st.caption("No rule reaches these thresholds.")
        return
    st.dataframe(df, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in ("support", "confidence", "lift")})


def measures():
    got = tui.summary(None, 10)
    w = got[0] if got else None
    if not w or not w["rows_tagged"]:
        st.info("No tagged rows under the current filter.")
        return
    c = st.columns(4)
    c[0].metric("Tagged rows", f"{w['rows_tagged']:,}", help=f"of {w['rows']:,} rows under the filter")
    c[1].metric("Complexity", f"{w['complexity']:.2f}", help="InsTag: mean number of tags per tagged row")
    c[2].metric("Diversity", f"{w['diversity']:,}", help="InsTag: distinct tags covered (normalised vocabulary)")
    c[3].metric("Raw tags", f"{w['unique_tags']:,}", help="distinct raw tags, before normalisation")
    _group_table("dataset", "Per dataset")
    if sui.status()["clustered"]:
        _group_table("cluster_label", "Per cluster")
    voc = tui.vocab()
    if len(voc) > 1:
        long_tail(voc)
        heatmap()
        rules_table()
    if w["rows_tagged"] > tui.METRIC_ROWS:
        st.caption(f"The co-occurrence view and the rules read the first {tui.METRIC_ROWS:,} tagged rows.")


# ------------------------------------------------------------------ vocabulary
def _to_browse(cond: Cond):
    if ui.add_cond(cond):
        st.session_state["sift_tag_browse"] = True


def vocabulary():
    voc = tui.vocab()
    if not len(voc):
        st.info("No tags under the current filter.")
        return
    q = st.text_input("Search tags", key="voc_q", placeholder="part of a tag, case-insensitive").strip()
    view = voc[voc["tag"].str.contains(q, case=False, regex=False)] if q else voc
    org = tui.origins()
    view = view.head(VOCAB_SHOWN).assign(origin=lambda d: d["tag"].map(lambda t: ", ".join(org.get(t, ["manual"]))))
    st.dataframe(view, hide_index=True, width="stretch",
                 column_config={"share": st.column_config.NumberColumn(format="percent"),
                                "rows": st.column_config.NumberColumn(format="localized")})
    st.caption(f"{len(view):,} of {len(voc):,} tags under the current filter" +
               (f" (the {VOCAB_SHOWN:,} most frequent shown)" if len(voc) > VOCAB_SHOWN else "") +
               "; share = rows with the tag / tagged rows.")
    k = st.session_state.get("voc_n", 0)
    sel = st.multiselect("Tags to act on", view["tag"].head(PICK_MAX).tolist(), key=f"voc_sel_{k}")
    st.caption("Filter by the selected tags (then Browse, Map, Plots and Export use it):")
    b = st.columns(4, vertical_alignment="bottom")
    b[0].button("tags has …", key="voc_has", disabled=len(sel) != 1, width="stretch",
                on_click=lambda: _to_browse(Cond("tags", "has", sel[0])))
    b[1].button("tags has any of …", key="voc_any", disabled=not sel, width="stretch",
                on_click=lambda: _to_browse(Cond("tags", "has any", list(sel))))
    b[2].button("tags has all of …", key="voc_all", disabled=not sel, width="stretch",
                on_click=lambda: _to_browse(Cond("tags", "has all", list(sel))))
    with b[3]:
        m = st.number_input("n_tags ≥", 0, 1_000, 3, key="voc_min_n")
        st.button("Filter by tag count", key="voc_n_tags", width="stretch",
                  on_click=lambda: _to_browse(Cond("n_tags", ">=", int(m))))
    st.caption("Rename, merge or delete the selected tags everywhere (kept across re-runs; undoable):")
    edit.vocab_actions(sel)


# ------------------------------------------------------------------ page
ui.page_setup("Tags")
if not ui.no_data_notice():
    runs = ui.page_header("sift_tag_browse") is not None  # a filter that cannot run gets its error, no more
    j = tui.job()
    if j is not None and j.running:
        tui.job_panel()
    else:
        tui.job_result()
    tagged = tui.tagged_rows()
    if not tagged:
        st.info(EMPTY)
    st.session_state.setdefault("tags_section", "Measures" if tagged else "Tag rows")  # first visit only
    section = st.radio("Section", SECTIONS, key="tags_section", horizontal=True, label_visibility="collapsed")
    if runs:
        {"Measures": measures, "Vocabulary": vocabulary, "Tag rows": run.run_panel, "Sources": run.sources_panel,
         "Normalise": edit.normalise_panel, "Edit by hand": edit.hand_panel}[section]()
