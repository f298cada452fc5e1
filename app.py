"""Sift: explore, filter and export instruction-tuning datasets (Streamlit entry point).

Run:  SIFT_WORKSPACE=./workspace streamlit run app.py

Pages live in pages/ (thin UI over core/). With a pages/ folder next to app.py, Streamlit starts in its
folder-based page mode until this router first runs; a deep link (/browse) opened first after a restart
would run the page without the router. pages/_ui.page_setup detects that, runs this router and comes back
to the page (sift_deeplink), and .streamlit/config.toml hides the folder-based sidebar list.
"""
import streamlit as st

from core.store import StoreError
from pages import _ui as ui

st.set_page_config(page_title="Sift", layout="wide", page_icon=":material/search:")

try:
    ui.store()
except StoreError as e:  # e.g. the workspace is locked by a CLI command
    st.error(f"Cannot open the workspace: {ui.md(e)}")
    st.stop()

PAGES = {
    "datasets": st.Page("pages/datasets.py", title="Datasets", icon=":material/table_rows:", default=True),
    "browse": st.Page("pages/browse.py", title="Browse", icon=":material/search:"),
    "map": st.Page("pages/map.py", title="Map", icon=":material/scatter_plot:"),
    "clusters": st.Page("pages/clusters.py", title="Clusters", icon=":material/workspaces:"),
    "tags": st.Page("pages/tags.py", title="Tags", icon=":material/sell:"),
    "curate": st.Page("pages/curate.py", title="Curate", icon=":material/filter_alt:"),
    "plots": st.Page("pages/plots.py", title="Plots", icon=":material/bar_chart:"),
    "export": st.Page("pages/export.py", title="Export", icon=":material/download:"),
}
nav = st.navigation(list(PAGES.values()), position="top")
st.session_state["sift_router"] = True
deeplink = st.session_state.pop("sift_deeplink", None)
if deeplink in PAGES and deeplink != "datasets":
    st.switch_page(PAGES[deeplink])
nav.run()  # each page starts with ui.page_setup() (styles + pending messages)
