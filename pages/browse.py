"""Browse page: filter bar, free-text search, facets, paginated table and row detail."""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from core.filters import OPS, Cond, FilterError, describe_cond
from pages import _ui as ui
from pages._detail import show_row
from pages._steps_ui import semantic_search_box

PAGE_SIZES = (10, 25, 50, 100, 200)
TABLE_COLS = ["id", "dataset", "format", "language", "n_turns", "instruction", "response", "instruction_chars",
              "response_chars", "n_tokens", "cluster_label", "tags", "roles", "is_duplicate", "file", "line"]
TRUNC = 160


# ------------------------------------------------------------------ filter bar
def _on_add():
    ss = st.session_state
    try:
        cond = ui.make_cond(ss["fb_col"], ss["fb_op"], ss.get("fb_val", ""))
    except FilterError as e:
        ui.filter_error(f"Filter not applied: {ui.md(e)}")
        return
    if ui.add_cond(cond):
        ss["fb_val"] = ""


def _on_search(key: str):
    ui.try_filter(ui.get_filter().with_search(st.session_state.get(key, "").strip()))


def _on_chips(key: str):
    keep = st.session_state.get(key) or []
    flt = ui.get_filter()
    ui.set_filter(type(flt)(tuple(c for i, c in enumerate(flt.conds) if i in keep), flt.search, flt.ids))


def filter_bar():
    cols = ui.columns()
    c1, c2, c3, c4 = st.columns([3, 2, 4, 1], vertical_alignment="bottom")
    c1.selectbox("Column", cols, key="fb_col", index=cols.index("language") if "language" in cols else 0)
    c2.selectbox("Operator", OPS, key="fb_op")
    op = st.session_state.get("fb_op", "=")
    c3.text_input("Value", key="fb_val", placeholder=ui.VALUE_HINTS.get(op, "value"),
                  disabled=op in ("is null", "not null"))
    c4.button("Add", key="fb_add", on_click=_on_add, type="primary", width="stretch")

    err = ui.filter_error()
    if err:
        st.error(err)
    flt, n = ui.get_filter(), ui.nonce()
    skey = f"fb_search_{n}"
    st.text_input("Search instructions and responses", value=flt.search, key=skey, on_change=_on_search,
                  args=(skey,), placeholder="free text, case-insensitive")
    if flt.conds:
        ckey = f"chips_{n}"
        st.multiselect("Conditions (remove one with its ×)", list(range(len(flt.conds))),
                       default=list(range(len(flt.conds))), key=ckey, on_change=_on_chips, args=(ckey,),
                       format_func=lambda i: describe_cond(flt.conds[i]))


# ------------------------------------------------------------------ facets
def _on_facet(key: str, column: str, values: list):
    sel = st.session_state.get(key)
    rows = (sel or {}).get("selection", {}).get("rows", []) if sel else []
    if not rows:
        return
    v = values[rows[0]]
    ui.add_cond(Cond(column, "is null") if v is None else Cond(column, "=", v))


def _facet_table(col: str):
    try:
        got = ui.facet(col, limit=15)
    except FilterError:
        return
    if not got:
        return
    values = [v for v, _ in got]
    df = pd.DataFrame({"value": ["(empty)" if v is None else str(v) for v in values], "rows": [n for _, n in got]})
    key = f"facet_{col}_{ui.nonce()}"
    ui.html_text(col, "sift-facet")  # extra column names come from the data: never a markdown label
    st.dataframe(df, hide_index=True, width="stretch", key=key, selection_mode="single-row",
                 on_select=lambda k=key, c=col, vs=values: _on_facet(k, c, vs), height=min(38 + 35 * len(df), 250),
                 column_config={"value": st.column_config.TextColumn(width="medium"),
                                "rows": st.column_config.NumberColumn(format="localized", width="small")})


def facets():
    st.subheader("Facets")
    st.caption("Click a value to filter on it.")
    cols = ui.facet_columns()
    for col in cols[:len(ui.FACET_CORE)]:
        _facet_table(col)
    if len(cols) > len(ui.FACET_CORE):
        with st.expander(f"Extra columns ({len(cols) - len(ui.FACET_CORE)})"):
            for col in cols[len(ui.FACET_CORE):]:
                _facet_table(col)


# ------------------------------------------------------------------ table + pagination
def _page_state(total: int, size: int) -> tuple[int, int]:
    ss = st.session_state
    pages = max(1, math.ceil(total / size))
    if ss.get("sift_page_for") != (ui.nonce(), size):
        ss["sift_page_for"] = (ui.nonce(), size)
        ss["sift_page"] = 1
    ss["sift_page"] = min(max(1, ss.get("sift_page", 1)), pages)
    return ss["sift_page"], pages


def _goto(page: int):
    st.session_state["sift_page"] = page
    st.session_state.pop("pg_input", None)


def _on_page_input():
    st.session_state["sift_page"] = int(st.session_state["pg_input"])


def _truncate(s) -> str:
    s = "" if s is None else str(s).replace("\r", "").replace("\n", " ⏎ ")
    return s if len(s) <= TRUNC else s[:TRUNC - 1] + "…"


def _pick_key(page: int, size: int) -> str:
    return f"detail_pick_{ui.nonce()}_{page}_{size}"


def _on_table_select(key: str, ids: list, pick_key: str):
    sel = st.session_state.get(key)
    rows = (sel or {}).get("selection", {}).get("rows", []) if sel else []
    if rows:
        st.session_state[pick_key] = int(ids[rows[0]])
        st.session_state["sift_goto"] = None
        st.session_state.pop("goto_id", None)


def table(total: int) -> list:
    size = st.session_state.get("pg_size", 25)
    page, pages = _page_state(total, size)
    df = ui.rows(size, (page - 1) * size, TABLE_COLS)
    for c in ("instruction", "response"):
        if c in df:
            df[c] = df[c].map(_truncate)
    if "tags" in df:
        df["tags"] = df["tags"].map(lambda t: ", ".join(t) if hasattr(t, "__len__") and not isinstance(t, str) else "")
    ids = [int(i) for i in df["id"]] if len(df) else []
    key, pick_key = f"table_{ui.nonce()}_{page}_{size}", _pick_key(page, size)
    st.dataframe(df, hide_index=True, width="stretch", key=key, on_select=lambda: _on_table_select(key, ids, pick_key),
                 selection_mode="single-row", height=min(38 + 35 * max(len(df), 1), 640),
                 column_config={"instruction": st.column_config.TextColumn(width="large"),
                                "response": st.column_config.TextColumn(width="large")})
    c1, c2, c3, c4, c5 = st.columns([1, 1, 2, 2, 4], vertical_alignment="bottom")
    c1.button("◀ Prev", key="pg_prev", disabled=page <= 1, on_click=_goto, args=(page - 1,), width="stretch")
    c2.button("Next ▶", key="pg_next", disabled=page >= pages, on_click=_goto, args=(page + 1,), width="stretch")
    if "pg_input" not in st.session_state or st.session_state["pg_input"] != page:
        st.session_state["pg_input"] = page
    c3.number_input("Page", min_value=1, max_value=pages, step=1, key="pg_input", on_change=_on_page_input)
    c4.selectbox("Rows per page", PAGE_SIZES, key="pg_size", index=PAGE_SIZES.index(size))
    first = (page - 1) * size + 1 if total else 0
    c5.html(f'<div style="padding-bottom:.6rem">page {page:,} of {pages:,} · rows {first:,}–'
            f'{min(page * size, total):,} of {total:,}</div>')
    return pick_key, [(i, t) for i, t in zip(ids, df["instruction"] if len(df) else [])]


# ------------------------------------------------------------------ row detail
def _on_pick():
    st.session_state["sift_goto"] = None
    st.session_state.pop("goto_id", None)


def _on_goto_id():
    v = int(st.session_state.get("goto_id") or 0)
    st.session_state["sift_goto"] = v if v > 0 else None


def detail(pick_key: str, page_rows: list):
    """The row picked on this page (table click or selectbox), or any row id typed in."""
    st.subheader("Row detail")
    ss = st.session_state
    ids = [i for i, _ in page_rows]
    labels = dict(page_rows)
    c1, c2 = st.columns([4, 1])
    pick = None
    if ids:
        pick = c1.selectbox("Row on this page (or click a row in the table)", ids, key=pick_key,
                            on_change=_on_pick, format_func=lambda i: f"{i} · {labels.get(i, '')[:90]}")
    c2.number_input("…or open any row id", min_value=0, step=1, key="goto_id", on_change=_on_goto_id)
    rid = ss.get("sift_goto") or pick
    if rid is None:
        st.info("No rows match the current filter.")
        return
    r = ui.store().row(int(rid))
    if r is None:
        st.warning(f"There is no row with id {int(rid)}.")
        return
    show_row(r)


# ------------------------------------------------------------------ page
ui.page_setup("Browse")
if not ui.no_data_notice():
    with st.sidebar:
        ui.dataset_selector()
        facets()
    filter_bar()
    semantic_search_box()
    total = ui.sentence_bar()
    if total is not None:
        pick_key, page_rows = table(total)
        st.divider()
        detail(pick_key, page_rows)
