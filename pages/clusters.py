"""Clusters page: the clusters of the current filter's rows (keywords, size, share, lengths, languages),
a bar chart of sizes, renaming, representatives and a drill-down into Browse.

Cluster names and keywords come from dataset text: shown through st.dataframe / st.text, escaped in plots.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.filters import Cond, Filter
from core.store import StoreError
from pages import _steps_ui as sui
from pages import _ui as ui


def _drill(cluster: int):
    cur = ui.get_filter()
    conds = tuple(c for c in cur.conds if c.column != "cluster") + (Cond("cluster", "=", int(cluster)),)
    ui.set_filter(Filter(conds, cur.search, cur.ids, cur.ids_label))
    st.session_state["sift_drill"] = True


def _rename(cluster: int, key: str):
    try:
        ui.store().rename_cluster(cluster, st.session_state.get(key, ""))
        ui.flash("success", f"Cluster {cluster} renamed.")
    except StoreError as e:
        ui.flash("error", ui.md(e))


def size_chart(cl: list):
    top = [c for c in cl if c["rows"]][:40]
    labels = [ui.esc(f"{c['cluster']} · {c['title'][:40]}") for c in top]
    fig = go.Figure(go.Bar(y=labels[::-1], x=[c["rows"] for c in top][::-1], orientation="h",
                           marker_color=["#c8c8c8" if c["cluster"] < 0 else "#4f6bed" for c in top][::-1],
                           hovertemplate="%{y}: %{x:,} rows<extra></extra>"))
    fig.update_layout(height=max(320, 22 * len(top)), margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title={"text": "Cluster sizes under the filter (largest 40)", "x": 0, "font": {"size": 15}},
                      xaxis_title="rows")
    fig.update_yaxes(type="category")
    st.plotly_chart(fig, width="stretch", key="clusters_sizes")


def detail(c: dict):
    st.subheader(f"Cluster {c['cluster']}")
    st.text(c["title"])
    if c["keywords"]:
        st.caption("Keywords (c-TF-IDF)")
        st.text(", ".join(c["keywords"]))
    if c["cluster"] >= 0:
        key = f"rename_{c['cluster']}"
        r1, r2 = st.columns([4, 1], vertical_alignment="bottom")
        r1.text_input("Name (kept across re-runs while the cluster stays the same)", value=c["name"], key=key,
                      max_chars=120)
        r2.button("Rename", key=f"btn_{key}", on_click=_rename, args=(c["cluster"], key), width="stretch")
    if c["reps"]:
        st.caption("Representative samples (nearest the cluster's centre)")
        for rid in c["reps"]:
            r = ui.store().row(rid)
            if r:
                with st.container(border=True):
                    st.caption(f"row {rid} · {r['dataset']}")
                    st.text((r["instruction"] or "")[:600])
    st.button(f"Open cluster {c['cluster']} in Browse", key=f"drill_{c['cluster']}", type="primary",
              on_click=_drill, args=(c["cluster"],))


def titles_panel():
    """Optional: name the clusters with an LLM (any OpenAI-compatible server; settings shared with Tags)."""
    import os

    from core.llm import LLMClient, LLMConfig
    from core.titles import suggest_titles
    with st.expander("Name clusters with an LLM (optional)"):
        st.caption("Each cluster's keywords and representative samples go to the server; its short title becomes "
                   "the cluster's name (editable, kept across re-runs). Names you gave by hand are kept.")
        c1, c2, c3 = st.columns([3, 2, 2])
        base = c1.text_input("Base URL (ending in /v1)", st.session_state.get("tg_base", "https://api.openai.com/v1"),
                             key="ct_base")
        model = c2.text_input("Model", st.session_state.get("tg_model", "gpt-4o-mini"), key="ct_model").strip()
        env = c3.text_input("API key: name of its environment variable", st.session_state.get("tg_env",
                            "OPENAI_API_KEY"), key="ct_env").strip()
        over = st.checkbox("Also replace names given by hand", key="ct_over")
        if st.button("Suggest titles", key="ct_go"):
            if env and not (env.replace("_", "a").isalnum() and not env[0].isdigit()):
                st.error("Type the NAME of the environment variable that holds the key, not the key itself.")
                return
            try:
                cfg = LLMConfig(base.strip(), model, api_key_env=env or "")
            except ValueError as e:
                st.error(ui.md(e))
                return
            if env and not os.environ.get(env):
                st.caption(f"{env} is not set: requests go without a key.")
            with LLMClient(cfg) as client:
                res = sui.run_step("Cluster titles", lambda p: suggest_titles(ui.store(), client, overwrite=over,
                                                                              progress=p))
            if res:
                ui.flash("success", f"{res['titled']} clusters named, {res['failed']} failed, {res['skipped']} "
                                    f"kept their names ({res['prompt_tokens'] + res['completion_tokens']:,} tokens).")
                st.rerun()


ui.page_setup("Clusters")
if not ui.no_data_notice():
    ui.page_header("sift_drill")
    cl = sui.clusters()
    stt = sui.status()
    if not cl:
        st.info("No clusters yet: embed, map and cluster the rows on the Map page.")
        st.page_link("pages/map.py", label="Go to the Map page")
    else:
        meta = stt["cluster"] or {}
        p = meta.get("params", {})
        noise = next((c for c in cl if c["cluster"] < 0), None)
        st.caption(f"{sum(1 for c in cl if c['cluster'] >= 0)} clusters by {meta.get('method', '?')} over "
                   f"{stt['clustered']:,} rows (model {meta.get('model', '?')}, text {meta.get('text', '?')}; "
                   f"min cluster size {p.get('min_cluster_size', '-')}, min samples {p.get('min_samples', '-')}); "
                   + (f"noise {noise['size'] / max(stt['clustered'], 1):.1%} of rows." if noise else "no noise."))
        df = pd.DataFrame([{"cluster": c["cluster"], "name": c["title"], "keywords": ", ".join(c["keywords"]),
                            "rows": c["rows"], "share": c["share"] * 100, "size (all)": c["size"],
                            "mean instruction chars": c["mean_instruction_chars"],
                            "mean response chars": c["mean_response_chars"], "languages": c["languages"]}
                           for c in cl])
        key = f"clusters_table_{ui.nonce()}"
        st.dataframe(df, hide_index=True, width="stretch", key=key, selection_mode="single-row", on_select="rerun",
                     column_config={"share": st.column_config.NumberColumn("share %", format="%.1f"),
                                    "mean instruction chars": st.column_config.NumberColumn(format="%.0f"),
                                    "mean response chars": st.column_config.NumberColumn(format="%.0f"),
                                    "keywords": st.column_config.TextColumn(width="large")})
        sel = (st.session_state.get(key) or {}).get("selection", {}).get("rows", [])
        left, right = st.columns([3, 2])
        with left:
            size_chart(cl)
        with right:
            ids = [c["cluster"] for c in cl]
            pick = st.selectbox("Cluster", ids, index=sel[0] if sel else 0, key=f"cl_pick_{sel[0] if sel else ''}",
                                format_func=lambda i: f"{i} · {next(c['title'] for c in cl if c['cluster'] == i)[:60]}")
            detail(next(c for c in cl if c["cluster"] == pick))
        titles_panel()
