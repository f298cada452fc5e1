"""Sift: explore, filter and export instruction-tuning datasets (Streamlit entry point).

Run:  SIFT_WORKSPACE=./workspace streamlit run app.py

The page scripts live in views/, not pages/: with a folder named pages/ next to app.py Streamlit starts in its
old multipage mode until the first run of this router, so a deep link (/browse) opened first after a restart
runs the page without the router, and every file in the folder (_ui.py too) becomes a page.
"""
import streamlit as st

from core.store import StoreError
from views import _ui as ui

st.set_page_config(page_title="Sift", layout="wide", page_icon=":material/search:")

try:
    ui.store()
except StoreError as e:  # e.g. the workspace is locked by a CLI command
    st.error(f"Cannot open the workspace: {ui.md(e)}")
    st.stop()

nav = st.navigation([
    st.Page("views/datasets.py", title="Datasets", icon=":material/table_rows:", default=True),
    st.Page("views/browse.py", title="Browse", icon=":material/search:"),
    st.Page("views/plots.py", title="Plots", icon=":material/bar_chart:"),
    st.Page("views/export.py", title="Export", icon=":material/download:"),
], position="top")
nav.run()  # each page starts with ui.page_setup() (styles + pending messages)
