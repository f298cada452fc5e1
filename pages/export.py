"""Export page: the current filter as JSONL / Parquet / CSV, verbatim or converted, with a manifest."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.export import AS, WITH_OFFERED, export_rows
from core.filters import FilterError
from core.store import StoreError
from pages import _ui as ui

TYPES = ("jsonl", "parquet", "csv")
MIME = {"jsonl": "application/jsonl", "parquet": "application/vnd.apache.parquet", "csv": "text/csv"}
AS_HELP = ("original: each record verbatim, as it was imported · alpaca: instruction/input/output (+ system, "
           "history) · sharegpt: conversations [{from, value}] · messages: OpenAI chat messages [{role, content}]. "
           "Rows a format cannot hold (e.g. tool turns in Alpaca) are skipped and counted.")

WITH_HELP = ("Each record gets a '_sift' object with these columns (tags, cluster, ...), for training code that "
             "filters or weights by them; an original record is then re-serialised instead of copied byte for byte.")


def out_name(name: str, typ: str) -> str:
    name = (name or "").strip()
    for t in TYPES:
        if name.lower().endswith("." + t):
            name = name[: -len(t) - 1]
    return f"{name}.{typ}"


def do_export(name: str, typ: str, as_: str, cols: list[str]):
    out = out_name(name, typ)
    bar = st.progress(0.0, text="exporting")

    def progress(n, total):
        bar.progress(min(1.0, n / max(total, 1)), text=f"{n:,} of {total:,} rows")
    try:
        m = export_rows(ui.store(), ui.get_filter(), out, as_=as_, dataset=ui.get_dataset(), progress=progress,
                        columns=cols)
    except (StoreError, FilterError, OSError) as e:
        bar.empty()
        st.error(ui.md(e))
        return
    bar.empty()
    st.session_state["last_export"] = m


def show_result(m: dict):
    path = Path(m["path"])
    st.success(f"Exported {m['rows']:,} rows.")
    c1, c2, c3 = st.columns(3)
    c1.metric("Rows written", f"{m['rows']:,}")
    c2.metric("Skipped (not representable)", f"{m['skipped']:,}")
    c3.metric("Format", f"{m['format']} · {m['as']}")
    st.caption("File")
    st.code(str(path), language=None)
    st.caption("sha256")
    st.code(m["sha256"], language=None)
    st.caption("Filter")
    st.code(m["filter"]["description"] + (f"  (dataset {m['dataset']})" if m.get("dataset") else ""),
            language=None)
    if m.get("skipped_rows"):
        with st.expander(f"Skipped rows ({m['skipped']:,})"):
            st.dataframe(pd.DataFrame(m["skipped_rows"]), hide_index=True, width="stretch")
    mpath = Path(m["manifest"])
    c1, c2 = st.columns(2)
    if path.is_file():
        c1.download_button(f"Download {m['format']} file", key="dl_file", on_click="ignore",
                           data=lambda: path.read_bytes(), file_name=path.name,
                           mime=MIME.get(m["format"], "application/octet-stream"))
    if mpath.is_file():
        c2.download_button("Download manifest", key="dl_manifest", on_click="ignore",
                           data=lambda: mpath.read_bytes(), file_name=mpath.name, mime="application/json")


ui.page_setup("Export")
if not ui.no_data_notice():
    with st.sidebar:
        ui.dataset_selector()
    n = ui.show_sentence()
    st.caption("Set the filter on the Browse page. Files are written to the workspace's exports/ folder, each with "
               "a FILE.manifest.json next to it (filter, row count, sha256, per-row provenance).")
    with st.form("export_form"):
        c1, c2, c3 = st.columns([3, 1, 2])
        name = c1.text_input("File name", value="export", key="exp_name")
        typ = c2.selectbox("File type", TYPES, key="exp_type")
        as_ = c3.selectbox("Records as", AS, key="exp_as", help=AS_HELP)
        cols = st.multiselect("Add Sift columns", WITH_OFFERED, key="exp_with", help=WITH_HELP)
        go = st.form_submit_button("Export", type="primary", disabled=n is None)
    if go:
        do_export(name, typ, as_, cols)
    if st.session_state.get("last_export"):
        show_result(st.session_state["last_export"])
