"""Shared UI helpers for the Streamlit pages (not a page itself).

State kept in st.session_state (plain keys, not widget keys, so it survives page switches):
  sift_filter   the current core.filters.Filter
  sift_dataset  the selected dataset name, or None for all
  sift_nonce    bumped on every filter change; widget keys that must reset with the filter include it
  sift_flash    [(kind, message)] shown once at the top of the next run
  sift_filter_error  the message of a refused filter, shown under the filter bar

Dataset text is untrusted: it is only ever shown through st.text / st.code / st.dataframe / st.json /
selectbox and multiselect options, or through st.html after html.escape. Messages that may quote it
(errors) go through md(), which makes markdown inert. Widget labels never contain it.
"""
from __future__ import annotations

import contextlib
import html
import json
import os
from pathlib import Path

import duckdb
import streamlit as st

from core.filters import OPS, Cond, Filter, FilterError
from core.rows import COLUMN_KINDS
from core.store import Store

FACET_CORE = ["dataset", "format", "language", "n_turns", "roles", "is_duplicate"]
FACET_MAX_DISTINCT = 50
VALUE_HINTS = {"in": "e.g. en, zh", "between": "e.g. 10 and 100", "contains": "text (case-insensitive)",
               "regex": "regular expression", "is null": "(no value)", "not null": "(no value)"}


# ------------------------------------------------------------------ store and caches
def workspace() -> str:
    return str(Path(os.environ.get("SIFT_WORKSPACE", "./workspace")).resolve())


@st.cache_resource(show_spinner=False)
def _open_store(ws: str) -> Store:
    s = Store(ws)
    # large workspaces: the first text filter starts a background build of the word index (core/store/textindex.py),
    # after which contains/search answer from it instead of scanning every string
    s.auto_text_index = True
    return s


def store() -> Store:
    return _open_store(workspace())


def version() -> int:
    return store().version


def _fkey() -> str:
    return json.dumps(get_filter().to_dict(), sort_keys=True, default=str)


@st.cache_data(show_spinner=False, max_entries=256)
def _count(ws: str, v: int, fk: str, dataset: str | None) -> int:
    return _open_store(ws).count(Filter.from_dict(json.loads(fk)), dataset)


@st.cache_data(show_spinner=False, max_entries=1024)
def _facet(ws: str, v: int, column: str, fk: str, dataset: str | None, limit: int) -> list:
    return [tuple(r) for r in _open_store(ws).facet(column, Filter.from_dict(json.loads(fk)), dataset, limit)]


@st.cache_data(show_spinner=False, max_entries=512)
def _histogram(ws: str, v: int, column: str, fk: str, dataset: str | None, bins: int) -> list:
    return _open_store(ws).histogram(column, Filter.from_dict(json.loads(fk)), dataset, bins=bins)


@st.cache_data(show_spinner=False, max_entries=512)
def _distinct(ws: str, v: int, column: str, dataset: str | None) -> int:
    return _open_store(ws).distinct_estimate(column, dataset)


@st.cache_data(show_spinner=False, max_entries=128)
def _rows(ws: str, v: int, fk: str, dataset: str | None, limit: int, offset: int, cols: tuple):
    return _open_store(ws).rows(Filter.from_dict(json.loads(fk)), dataset, limit=limit, offset=offset,
                                columns=list(cols))


@st.cache_data(show_spinner=False, max_entries=64)
def _datasets(ws: str, v: int) -> list:
    return _open_store(ws).datasets()


def count() -> int:
    return _count(workspace(), version(), _fkey(), get_dataset())


def facet(column: str, limit: int = 20) -> list:
    return _facet(workspace(), version(), column, _fkey(), get_dataset(), limit)


def histogram(column: str, bins: int = 40) -> list:
    return _histogram(workspace(), version(), column, _fkey(), get_dataset(), bins)


def distinct(column: str) -> int:
    return _distinct(workspace(), version(), column, get_dataset())


def rows(limit: int, offset: int, cols: list[str]):
    """A page of rows (DataFrame) under the current filter and dataset."""
    return _rows(workspace(), version(), _fkey(), get_dataset(), int(limit), int(offset), tuple(cols))


def datasets() -> list:
    return _datasets(workspace(), version())


def columns() -> list[str]:
    """Filterable columns: the core ones, then the extra columns of the imported data."""
    return list(COLUMN_KINDS) + sorted(k for k in store().extra_kinds() if k not in COLUMN_KINDS)


def facet_columns() -> list[str]:
    """Core facet columns plus extra columns of scalar kind with few distinct values."""
    out = list(FACET_CORE)
    for k, kind in sorted(store().extra_kinds().items()):
        if kind in ("text", "int", "bool") and k not in COLUMN_KINDS:
            with contextlib.suppress(FilterError, duckdb.Error):  # an odd extra column never breaks the page
                if 0 < distinct(k) <= FACET_MAX_DISTINCT:
                    out.append(k)
    return out


# ------------------------------------------------------------------ filter state
def get_filter() -> Filter:
    return st.session_state.setdefault("sift_filter", Filter())


def get_dataset() -> str | None:
    ds = st.session_state.get("sift_dataset")
    return ds or None


def nonce() -> int:
    return st.session_state.setdefault("sift_nonce", 0)


def set_filter(flt: Filter):
    st.session_state["sift_filter"] = flt
    st.session_state["sift_nonce"] = nonce() + 1


def flash(kind: str, msg: str):
    st.session_state.setdefault("sift_flash", []).append((kind, msg))


def show_flash():
    for kind, msg in st.session_state.pop("sift_flash", []):
        getattr(st, kind)(msg)


def filter_error(msg: str | None = None) -> str | None:
    """Remember a refused filter's message (from a callback) / take it for display (msg None)."""
    if msg is not None:
        st.session_state["sift_filter_error"] = msg
        return msg
    return st.session_state.pop("sift_filter_error", None)


def try_filter(flt: Filter, dataset: str | None = None) -> bool:
    """Set the filter if it runs; otherwise keep the FilterError message for the filter bar. Returns success."""
    try:
        store().count(flt, dataset if dataset is not None else get_dataset())
    except FilterError as e:
        filter_error(f"Filter not applied: {md(e)}")
        return False
    set_filter(flt)
    return True


def make_cond(column: str, op: str, text: str) -> Cond:
    """A Cond from the filter bar's inputs (values are parsed and checked by the Filter itself)."""
    if op not in OPS:
        raise FilterError(f"unknown operator {op!r}")
    if op in ("is null", "not null"):
        return Cond(column, op)
    text = (text or "").strip()
    if not text:
        raise FilterError(f"{column} {op}: type a value first")
    if op == "in":
        return Cond(column, op, [v.strip() for v in text.split(",") if v.strip()])
    return Cond(column, op, text)


def add_cond(cond: Cond) -> bool:
    return try_filter(get_filter().and_(cond))


# ------------------------------------------------------------------ safe rendering
_MD_SPECIAL = set("\\`*_{}[]()<>#+-.!|~:$=\"'&%@^;,?/")


def md(text) -> str:
    """Text made inert for st.error/st.success/st.info (which render markdown): every ASCII punctuation
    character is backslash-escaped (CommonMark shows escaped punctuation literally), so no link, image,
    emphasis or directive can form. Newlines become spaces."""
    s = "" if text is None else str(text)
    return "".join("\\" + ch if ch in _MD_SPECIAL else (" " if ch in "\r\n" else ch) for ch in s)


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def html_text(text: str, cls: str = "sift-line"):
    """One line of (escaped) text through st.html, for styling without markdown."""
    st.html(f'<div class="{cls}">{esc(text)}</div>')


CSS = """<style>
.sift-sentence {font-size: 1.05rem; padding: .45rem .75rem; border-radius: .5rem;
  background: rgba(49, 51, 63, .06); border: 1px solid rgba(49, 51, 63, .12);}
.sift-facet {font-size: .85rem; color: rgba(49, 51, 63, .7); margin-bottom: -.6rem;}
.sift-sentence b {font-variant-numeric: tabular-nums;}
.sift-role {display: inline-block; font-size: .78rem; font-weight: 600; letter-spacing: .03em;
  text-transform: uppercase; padding: .05rem .5rem; border-radius: .4rem; background: rgba(49,51,63,.08);}
.sift-role.user {background: #dbeafe;} .sift-role.assistant {background: #dcfce7;}
.sift-role.system {background: #fef3c7;} .sift-role.rejected {background: #fee2e2;}
</style>"""


def page_setup(title: str):
    """Start of every page: styles, messages left by callbacks, title."""
    if not st.session_state.get("sift_router"):
        # A deep link opened before the router ever ran (Streamlit starts in its folder-based page mode
        # when pages/ exists): run the router first, then come back to this page through it.
        st.session_state["sift_deeplink"] = title.lower()
        st.switch_page("app.py")
    st.html(CSS)
    show_flash()
    st.title(title)


def sentence() -> tuple[str, int | None, str]:
    """The current filter in words (with the dataset), its row count (None if it cannot run) and the error."""
    flt, ds = get_filter(), get_dataset()
    words = flt.describe() + (f" in {ds}" if ds else "")
    try:
        return words, count(), ""
    except FilterError as e:
        return words, None, str(e)


def show_sentence() -> int | None:
    """Show the filter sentence with its count; on a filter that cannot run, an error and a way out."""
    words, n, err = sentence()
    if n is None:
        st.html(f'<div class="sift-sentence">{esc(words)}</div>')
        st.error(f"The current filter cannot run: {md(err)}")
        st.button("Clear filter", key="clear_bad_filter", on_click=lambda: set_filter(Filter()))
    else:
        st.html(f'<div class="sift-sentence">{esc(words)}: <b>{n:,}</b> rows</div>')
    return n


def dataset_selector(key: str = "ds_select"):
    """All or one dataset; kept in sift_dataset across pages."""
    names = [d["dataset"] for d in datasets()]
    cur = get_dataset()
    if cur not in names:
        cur = None
        st.session_state["sift_dataset"] = None
    opts = [None] + names

    def changed():
        st.session_state["sift_dataset"] = st.session_state[key]
        st.session_state["sift_nonce"] = nonce() + 1

    st.selectbox("Dataset", opts, index=opts.index(cur), key=key, on_change=changed,
                 format_func=lambda v: "All datasets" if v is None else v)


def clear_filter_button(key: str = "clear_filter"):
    if get_filter() != Filter():
        st.button("Clear filter", key=key, on_click=lambda: set_filter(Filter()))


def sentence_bar() -> int | None:
    """The filter sentence with its count and, when a filter is set, a Clear button beside it."""
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    with c1:
        n = show_sentence()
    with c2:
        clear_filter_button()
    return n


def page_header(jump_flag: str) -> int | None:
    """Common top of the analysis pages: go to Browse when ``jump_flag`` was set by a drill-down, the dataset
    selector in the sidebar, then the sentence bar. Returns the filter's row count (None: it cannot run)."""
    if st.session_state.pop(jump_flag, False):
        st.switch_page("pages/browse.py")
    with st.sidebar:
        dataset_selector()
    return sentence_bar()


def no_data_notice() -> bool:
    """True (and an info box) when the workspace has no datasets yet."""
    if datasets():
        return False
    st.info("This workspace has no datasets yet. Import files on the Datasets page.")
    st.page_link("pages/datasets.py", label="Go to Datasets")
    return True
