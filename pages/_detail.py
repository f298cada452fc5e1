"""Row detail: provenance, the conversation turn by turn, rejected reply, extra fields, original record.

Every piece of dataset text goes through st.text / st.code / st.json, or st.html after html.escape.
"""
from __future__ import annotations

import streamlit as st

from pages._ui import esc

RAW_SHOW = 200_000  # characters of the original record shown (the rest is cut, with a note)
PROV = ["dataset", "format", "file", "line", "hash", "language", "n_tokens", "n_turns", "n_messages",
        "instruction_chars", "response_chars", "total_chars", "is_duplicate", "dup_count", "cluster", "cluster_label"]


def _badge(role: str, cls: str | None = None):
    st.html(f'<span class="sift-role {esc(cls or role)}">{esc(role)}</span>')


def _turn(role: str, content: str, cls: str | None = None):
    with st.container(border=True):
        _badge(role, cls)
        st.text(content if content else "(empty)")


def _provenance(r: dict):
    cells = "".join(f"<tr><th>{esc(k)}</th><td>{esc(r.get(k))}</td></tr>" for k in PROV)
    st.html('<table class="sift-prov" style="font-size:.85rem;border-collapse:collapse;width:100%">'
            "<style>.sift-prov th{text-align:left;padding:2px 8px 2px 0;color:#555;font-weight:500;"
            "white-space:nowrap;vertical-align:top}.sift-prov td{padding:2px 0;word-break:break-all}</style>"
            f"{cells}</table>")


def show_row(r: dict):
    st.html(f'<h4 style="margin:0">Row {esc(r["id"])}</h4>')
    left, right = st.columns([3, 2])
    with left:
        if r.get("system"):
            _turn("system", r["system"])
        for t in r.get("turns") or []:
            _turn(t["role"], t["content"])
        if r.get("rejected"):
            st.caption("Rejected reply (preference pair)")
            for t in r["rejected"]:
                _turn(f"rejected · {t['role']}", t["content"], "rejected")
    with right:
        st.caption("Provenance")
        _provenance(r)
        from pages._tags_edit import row_tags_editor
        row_tags_editor(r)
        if r.get("extra"):
            st.caption("Extra fields")
            st.json(r["extra"], expanded=1)
        st.caption("Original record (verbatim)")
        raw = r.get("raw") or ""
        if len(raw) > RAW_SHOW:
            st.caption(f"showing the first {RAW_SHOW:,} of {len(raw):,} characters")
            raw = raw[:RAW_SHOW]
        st.code(raw, language="json", wrap_lines=True, height=420 if raw.count("\n") > 25 else "content")
    if st.toggle("Show similar rows (by meaning, within the current filter)", key=f"similar_{r['id']}"):
        from pages._steps_ui import similar_rows
        similar_rows(int(r["id"]))
