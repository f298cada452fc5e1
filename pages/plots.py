"""Plots page: length histograms, turns, tokens, language / dataset / format bars, under the current filter.

Histograms and counts are computed in SQL by the Store (cached per store.version + filter). Category labels
are html.escape'd because plotly renders a small HTML subset in labels and hover text.
"""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from core.filters import FilterError
from pages import _ui as ui

COLOR = "#4f6bed"


def _layout(fig: go.Figure, title: str, xtitle: str, logy: bool, height: int = 320) -> go.Figure:
    fig.update_layout(title={"text": ui.esc(title), "x": 0, "font": {"size": 15}}, height=height,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, bargap=0.05, showlegend=False,
                      xaxis_title=ui.esc(xtitle), yaxis_title="rows")
    if logy:
        fig.update_yaxes(type="log")
    return fig


def hist_chart(column: str, title: str, logy: bool, bins: int):
    try:
        h = ui.histogram(column, bins=bins)
    except FilterError as e:
        st.error(ui.md(e))
        return
    if not h:
        st.info(f"{title}: no values under this filter.")
        return
    width = h[0][1] - h[0][0] if len(h) > 1 or h[0][1] > h[0][0] else 1
    last = len(h) - 1
    labels = [f"{a:,.0f} – {b:,.0f}" + (" (to the maximum)" if i == last and b - a > width * 1.01 else "")
              for i, (a, b, _) in enumerate(h)]
    fig = go.Figure(go.Bar(x=[a for a, _, _ in h], y=[n for _, _, n in h], width=[width] * len(h), offset=0,
                           marker_color=COLOR, customdata=[ui.esc(x) for x in labels],
                           hovertemplate="%{customdata}: %{y:,} rows<extra></extra>"))
    st.plotly_chart(_layout(fig, title, column, logy), width="stretch", key=f"plot_{column}")


def bar_chart(column: str, title: str, logy: bool, limit: int = 20, sort_by_value: bool = False,
              horizontal: bool = False):
    try:
        got = ui.facet(column, limit=limit)
    except FilterError as e:
        st.error(ui.md(e))
        return
    if not got:
        st.info(f"{title}: no rows under this filter.")
        return
    if sort_by_value:
        got = sorted(got, key=lambda vn: (vn[0] is None, vn[0] if vn[0] is not None else 0))
    labels = [ui.esc("(none)" if v is None or v == "" else v) for v, _ in got]
    counts = [n for _, n in got]
    if horizontal:
        bar = go.Bar(y=labels[::-1], x=counts[::-1], orientation="h", marker_color=COLOR,
                     hovertemplate="%{y}: %{x:,} rows<extra></extra>")
    else:
        bar = go.Bar(x=labels, y=counts, marker_color=COLOR, hovertemplate="%{x}: %{y:,} rows<extra></extra>")
    fig = go.Figure(bar)
    if horizontal:
        fig.update_yaxes(type="category")
    else:
        fig.update_xaxes(type="category")
    _layout(fig, title, column, logy and not horizontal, height=max(320, 24 * len(got)) if horizontal else 320)
    if horizontal:
        fig.update_layout(xaxis_title="rows", yaxis_title=None)
        if logy:
            fig.update_xaxes(type="log")
    st.plotly_chart(fig, width="stretch", key=f"plot_bar_{column}")


ui.page_setup("Plots")
if not ui.no_data_notice():
    with st.sidebar:
        ui.dataset_selector()
        logy = st.toggle("Log scale (counts)", key="plots_logy")
        bins = st.slider("Histogram bins", 10, 100, 40, step=5, key="plots_bins")
    ui.show_sentence()
    st.caption("Plots follow the current filter and dataset (set them on the Browse page). Histograms put the "
               "top 1% of values into the last bar.")
    c1, c2 = st.columns(2)
    with c1:
        hist_chart("instruction_chars", "Instruction length (characters)", logy, bins)
    with c2:
        hist_chart("response_chars", "Response length (characters)", logy, bins)
    c1, c2 = st.columns(2)
    with c1:
        bar_chart("n_turns", "Turns per conversation (user turns)", logy, limit=50, sort_by_value=True)
    with c2:
        hist_chart("n_tokens", "Tokens per conversation", logy, bins)
    c1, c2 = st.columns(2)
    with c1:
        bar_chart("language", "Languages (top 20)", logy, limit=20)
    with c2:
        bar_chart("dataset", "Datasets (sources)", logy, limit=30, horizontal=True)
    c1, c2 = st.columns(2)
    with c1:
        bar_chart("format", "Formats", logy, limit=20)
    with c2:
        bar_chart("roles", "Role sets", logy, limit=20, horizontal=True)
