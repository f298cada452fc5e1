"""Shared UI for tags (not a page): cached tag reads keyed by the store version, the background runner for
taggers (progress, cancel), and small helpers the Map page and the row detail use.

Tag runs go to a background thread (one per workspace at a time, kept in st.cache_resource so that it
survives reruns, page switches and other browser sessions); the page polls it with st.fragment(run_every=1)
for the progress bar and the Cancel button. Inline runs would stop at the first click anywhere in the app.
The LLM tagger takes the cancel event itself (requests in flight finish and are kept); the others stop at
their next progress report (their Step records the run as interrupted; every committed batch stays).
"""
from __future__ import annotations

import json
import threading
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import streamlit as st

from core import tagmetrics
from core.filters import Filter
from pages import _steps_ui as sui
from pages import _ui as ui

METRIC_ROWS = 200_000  # co-occurrence and association rules read at most this many tagged rows
TAG_COLOR = "a tag (has it or not)"  # the Map page's colour option for one tag


# ------------------------------------------------------------------ the current filter, scoped to the dataset
def scoped() -> Filter:
    return sui._scoped(ui.get_filter(), ui.get_dataset())


def _key(flt: Filter) -> str:
    return json.dumps(flt.to_dict(), sort_keys=True, default=str)


def _flt(fk: str) -> Filter:
    return Filter.from_dict(json.loads(fk))


def _args(flt: Filter | None = None) -> tuple:
    return ui.workspace(), ui.version(), _key(scoped() if flt is None else flt)


# ------------------------------------------------------------------ cached reads
@st.cache_data(show_spinner=False, max_entries=64)
def _summary(ws: str, v: int, fk: str, by: str | None, top: int) -> list:
    return ui._open_store(ws).tag_summary(_flt(fk), by, top)


@st.cache_data(show_spinner=False, max_entries=32)
def _vocab(ws: str, v: int, fk: str) -> pd.DataFrame:
    s = ui._open_store(ws)
    got = s.tag_counts(_flt(fk), None)
    tagged = s.tag_summary(_flt(fk), None, 0)[0]["rows_tagged"] if got else 0
    return pd.DataFrame({"tag": [t for t, _ in got], "rows": [n for _, n in got],
                         "share": [n / tagged if tagged else 0.0 for _, n in got]})


@st.cache_data(show_spinner=False, max_entries=16)
def _tag_lists(ws: str, v: int, fk: str) -> list:
    return ui._open_store(ws).tag_lists(_flt(fk), METRIC_ROWS)


@st.cache_data(show_spinner=False, max_entries=16)
def _cooc(ws: str, v: int, fk: str, top: int, measure: str):
    return tagmetrics.cooccurrence(_tag_lists(ws, v, fk), top, measure)


@st.cache_data(show_spinner=False, max_entries=16)
def _rules(ws: str, v: int, fk: str, support: float, confidence: float) -> pd.DataFrame:
    with warnings.catch_warnings():  # mlxtend divides by zero in measures Sift does not show
        warnings.simplefilter("ignore", RuntimeWarning)
        return tagmetrics.association_rules(_tag_lists(ws, v, fk), support, confidence, top=50)


@st.cache_data(show_spinner=False, max_entries=8)
def _sources(ws: str, v: int) -> pd.DataFrame:
    return ui._open_store(ws).tag_sources()


@st.cache_data(show_spinner=False, max_entries=8)
def _origins(ws: str, v: int) -> dict:
    """Vocabulary tag -> the origins (enabled sources) whose raw tags lead to it through the normalisation
    mapping and the vocabulary edits. A tag no source leads to came from manual edits."""
    s = ui._open_store(ws)
    mapping, over = s.tag_map(), dict(s.tag_overrides())
    out = defaultdict(set)
    for r in s.tag_sources().itertuples():
        if not r.enabled:
            continue
        for raw in {t for tags in s.source_tags(r.origin, r.version)[1] for t in tags}:
            tag = mapping.get(raw, raw)
            tag = over.get(tag, tag) if tag is not None else None
            if tag is not None:
                out[tag].add(r.origin)
    return {t: sorted(o) for t, o in out.items()}


@st.cache_data(show_spinner=False, max_entries=8)
def _compare(ws: str, v: int, keys: tuple) -> tuple[pd.DataFrame, dict]:
    """InsTag measures of each source's raw tags, over all it tagged and over the samples every one of the
    given sources tagged; plus {hash: {source: tags}} for those common samples (examples side by side)."""
    s = ui._open_store(ws)
    got = {k: dict(zip(*s.source_tags(*k))) for k in keys}
    common = set.intersection(*(set(g) for g in got.values())) if got else set()
    rows = []
    for (origin, version), per in got.items():
        whole = tagmetrics.summary(list(per.values()), top=5)
        both = tagmetrics.summary([per[h] for h in common], top=5)
        rows.append({"source": f"{origin} · {version}", "samples": whole["rows_tagged"],
                     "complexity": whole["complexity"], "diversity": whole["diversity"],
                     "common samples": both["rows_tagged"], "complexity (common)": both["complexity"],
                     "diversity (common)": both["diversity"],
                     "top tags": ", ".join(t["tag"] for t in whole["top_tags"])})
    sample = sorted(common)[:10]
    return pd.DataFrame(rows), {h: {f"{o} · {v_}": got[(o, v_)][h] for o, v_ in keys} for h in sample}


@st.cache_data(show_spinner=False, max_entries=32)
def _pending(ws: str, v: int, fk: str, origin: str, version: str) -> int:
    return ui._open_store(ws).tag_pending(origin, version, _flt(fk))[0]


def summary(by: str | None = None, top: int = 10) -> list:
    return _summary(*_args(), by, top)


def vocab() -> pd.DataFrame:
    return _vocab(*_args())


def cooc(top: int, measure: str):
    return _cooc(*_args(), int(top), measure)


def rules(support: float, confidence: float) -> pd.DataFrame:
    return _rules(*_args(), float(support), float(confidence))


def sources() -> pd.DataFrame:
    return _sources(ui.workspace(), ui.version())


def origins() -> dict:
    return _origins(ui.workspace(), ui.version())


def compare(keys: list[tuple[str, str]]):
    return _compare(ui.workspace(), ui.version(), tuple(keys))


def pending(origin: str, version: str) -> int:
    return _pending(*_args(), origin, version)


def all_tags(limit: int = 2_000) -> list[str]:
    """The workspace's most frequent vocabulary tags (for pickers; other tags can be typed)."""
    return _vocab(*_args(Filter()))["tag"].head(limit).tolist()


def tagged_rows() -> int:
    """Rows of the whole workspace that carry tags (tagged by a source, or edited by hand)."""
    got = _summary(*_args(Filter()), None, 0)
    return got[0]["rows_tagged"] if got else 0


# ------------------------------------------------------------------ background tag runs
class Cancelled(KeyboardInterrupt):
    """Raised from a progress report when the user cancels a tagger that takes no cancel event: its Step
    records the run as interrupted; every batch committed before stays."""


@dataclass
class Job:
    label: str
    method: str
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: dict = field(default_factory=dict)
    result: dict | None = None
    error: str | None = None
    cancelled: bool = False
    started: float = field(default_factory=time.time)
    finished: float | None = None

    @property
    def running(self) -> bool:
        return self.finished is None


@st.cache_resource(show_spinner=False)
def _jobs() -> dict:
    return {"lock": threading.Lock(), "jobs": {}}


def job() -> Job | None:
    return _jobs()["jobs"].get(ui.workspace())


def start(label: str, method: str, fn, graceful: bool = False) -> bool:
    """Run ``fn(progress, cancel)`` in a background thread unless a run is already going in this workspace.
    ``graceful``: fn honours the cancel event itself; otherwise cancelling raises Cancelled at its next report."""
    reg = _jobs()
    with reg["lock"]:
        cur = reg["jobs"].get(ui.workspace())
        if cur is not None and cur.running:
            return False
        j = Job(label, method)
        reg["jobs"][ui.workspace()] = j

    def progress(stage, done, total, info=None):
        j.progress = {"stage": stage, "done": done, "total": total, **(info or {})}
        if j.cancel.is_set() and not graceful:
            raise Cancelled()

    def work():
        try:
            j.result = fn(progress, j.cancel)
        except Cancelled:
            j.cancelled = True
        except Exception as e:  # noqa: BLE001 - any failure is shown on the page; the Step recorded the run
            j.error = f"{type(e).__name__}: {e}"
        finally:
            j.finished = time.time()

    threading.Thread(target=work, name="sift-tag-job", daemon=True).start()
    return True


def wait(timeout: float = 60.0) -> Job | None:
    """Block until the current job ends (for tests and scripts); returns it."""
    t0 = time.time()
    while (j := job()) is not None and j.running and time.time() - t0 < timeout:
        time.sleep(0.05)
    return j


def progress_words(j: Job) -> tuple[float, str]:
    p = j.progress
    done, total = int(p.get("done", 0)), int(p.get("total") or 0)
    parts = [f"{done:,} of {total:,}" if total else f"{done:,} rows"]
    if p.get("rows_per_s"):
        parts.append(f"{p['rows_per_s']:,.1f} rows/s")
    if p.get("eta_s") is not None and done < total:
        parts.append(f"about {p['eta_s']:,.0f} s left")
    if p.get("tokens"):
        parts.append(f"{p['tokens']:,} tokens")
    if p.get("cost"):
        parts.append(f"≈ {p['cost']:,.4f} estimated cost")
    if p.get("rows_failed"):
        parts.append(f"{p['rows_failed']:,} failed")
    parts.append(f"{time.time() - j.started:,.0f} s")
    frac = min(1.0, done / total) if total else 0.0
    return frac, f"{ui.md(j.label)}: " + " · ".join(parts)


@st.fragment(run_every=1.0)
def job_panel():
    """The running job's progress bar and Cancel button, refreshed every second; the whole page reruns once
    the job ends (so every view shows the new tags)."""
    j = job()
    if j is None:
        return
    if not j.running:
        st.rerun()
    frac, words = progress_words(j)
    st.progress(frac, text=words)
    if j.cancel.is_set():
        st.caption("Cancelling: waiting for the requests in flight…" if j.method == "llm" else
                   "Cancelling at the next batch…")
    else:
        st.button("Cancel", key="tag_cancel", on_click=j.cancel.set)


def dismiss():
    reg = _jobs()
    with reg["lock"]:
        j = reg["jobs"].get(ui.workspace())
        if j is not None and not j.running:
            del reg["jobs"][ui.workspace()]


def job_result():
    """The outcome of the last finished run: note, tokens and cost, and the rows that failed with their raw
    replies (LLM)."""
    j = job()
    if j is None or j.running:
        return
    r = j.result or {}
    if j.error:
        st.error(f"{ui.md(j.label)} failed: {ui.md(j.error)}")
    elif j.cancelled or r.get("stopped_reason") == "cancelled":
        st.warning(f"{ui.md(j.label)} cancelled after {int(j.progress.get('done', 0)):,} rows: what was tagged is "
                   f"kept, and a new run resumes with the rest.")
    else:
        st.success(f"{ui.md(j.label)}: {ui.md(r.get('note', 'done'))}")
    if r.get("error"):
        st.error(f"The server refused the requests: {ui.md(r['error'])}")
    if j.method == "llm" and r:
        c = st.columns(4)
        c[0].metric("Rows tagged", f"{r.get('rows_ok', 0):,}")
        c[1].metric("Failed", f"{r.get('rows_failed', 0):,}")
        c[2].metric("Tokens", f"{r.get('prompt_tokens', 0) + r.get('completion_tokens', 0):,}")
        c[3].metric("Estimated cost", f"{r['cost']:,.4f}" if r.get("cost") else "—",
                    help="From the prices per 1M tokens given in the form (none given: no estimate).")
        if r.get("rows_failed"):
            failures(*r["source"])
    st.button("Dismiss", key="tag_dismiss", on_click=dismiss)


def failures(origin: str, version: str):
    """Failed rows of a source with the raw reply kept (retried on the next run)."""
    df = ui.store().tag_failures(origin, version)
    if len(df):
        st.caption(f"{len(df):,} most recent failures (raw replies as received; these rows are retried on the "
                   f"next run)")
        st.dataframe(df, hide_index=True, width="stretch",
                     column_config={"raw": st.column_config.TextColumn(width="large")})


# ------------------------------------------------------------------ helpers for other pages
def has_tag_labels(tags: pd.Series, tag: str) -> pd.Series:
    """Per point: 'has TAG', 'no TAG' or '(none)' (never tagged), for colouring the map by one tag."""
    def one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "(none)"
        return f"has {tag}" if tag in list(v) else f"no {tag}"
    return tags.map(one)
