"""Sift core: all logic (never imports streamlit)."""
__version__ = "0.1.0"
