"""Sift: explore, filter and export instruction-tuning datasets (Streamlit entry point).

Run:  SIFT_WORKSPACE=./workspace streamlit run app.py
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

nav = st.navigation([
    st.Page("pages/datasets.py", title="Datasets", icon=":material/table_rows:", default=True),
    st.Page("pages/browse.py", title="Browse", icon=":material/search:"),
    st.Page("pages/plots.py", title="Plots", icon=":material/bar_chart:"),
    st.Page("pages/export.py", title="Export", icon=":material/download:"),
], position="top")
nav.run()  # each page starts with ui.page_setup() (styles + pending messages)
