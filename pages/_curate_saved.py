"""The Curate page's saved selections (not a page): list, filter Browse / Export to one, export it with its recipe,
delete it, and compare two (overlap and coverage differences, core.coverage)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from core import coverage
from core.export import AS, WITH_OFFERED
from core.filters import Filter, FilterError
from core.replay import export_selection
from core.store import StoreError
from pages import _curate_ui as cui
from pages import _ui as ui

TYPES = ("jsonl", "parquet", "csv")
JUMP = "sift_curate_browse"  # page_header's flag: go to Browse on the next run


def saved() -> list[dict]:
    return [s for s in ui.store().selections() if not cui.is_preview(s["name"])]


def _use(name: str, browse: bool):
    ui.set_filter(ui.store().selection_filter(name))
    st.session_state["sift_dataset"] = None  # the selection's rows, whatever dataset they come from
    st.session_state.pop("ds_select", None)  # the sidebar's dataset box follows (it is drawn after this callback)
    ui.flash("success", f"Filter set to the selection {ui.md(name)}: Browse, Map, Plots and Export use it.")
    if browse:
        st.session_state[JUMP] = True


def _delete(name: str):
    ui.store().delete_selection(name)
    st.session_state.pop("cur_export", None)
    ui.flash("success", f"Deleted the selection {ui.md(name)}.")


def _export(name: str, file: str, typ: str, as_: str, cols: list[str]):
    base = (file or name).strip()
    for t in TYPES:
        if base.lower().endswith("." + t):
            base = base[: -len(t) - 1]
    try:
        man = export_selection(ui.store(), name, f"{base}.{typ}", as_, columns=cols)
    except (StoreError, FilterError, OSError) as e:
        st.error(f"Export failed: {ui.md(e)}")
        return
    st.session_state["cur_export"] = {"name": name, **{k: man.get(k) for k in (
        "path", "manifest", "recipe_file", "rows", "skipped", "sha256", "format", "as")}}


def _show_export(m: dict):
    st.success(f"Exported {m['rows']:,} rows of the selection {ui.md(m['name'])}"
               + (f" ({m['skipped']:,} skipped: not representable as {ui.md(m['as'])})" if m.get("skipped") else "")
               + ".")
    replay = "Recipe (replay it with `python -m core replay RECIPE --out DIR`)"
    for label, k in (("File", "path"), ("Manifest", "manifest"), (replay, "recipe_file"), ("sha256", "sha256")):
        st.caption(label)
        st.code(str(m[k]), language=None)
    rf = Path(m["recipe_file"])
    if rf.is_file():
        st.download_button("Download recipe", key="cur_dl_recipe", on_click="ignore", data=lambda: rf.read_bytes(),
                           file_name=rf.name, mime="application/json")


def one_selection(name: str):
    """Use, export or delete one saved selection."""
    ids, rec = ui.store().selection(name)
    sel = rec.get("selection", {})
    st.caption(f"{len(ids):,} rows · method {ui.md(sel.get('method'))} · budget {ui.md(sel.get('budget'))} · "
               f"seed {ui.md(sel.get('seed'))} · drawn from: {ui.md(Filter.from_dict(rec.get('filter') or {}).describe())}")
    c = st.columns(3)
    c[0].button("Filter to this selection", key="cur_use", width="stretch", on_click=_use, args=(name, False))
    c[1].button("Open it in Browse", key="cur_browse", type="primary", width="stretch", on_click=_use,
                args=(name, True))
    with c[2]:
        sure = st.checkbox("Yes, delete it", key=f"cur_del_ok_{name}")
        st.button("Delete selection", key="cur_delete", width="stretch", disabled=not sure, on_click=_delete,
                  args=(name,))
    with st.expander("Recipe (what a replay rebuilds)"):
        st.json({k: v for k, v in rec.items() if k != "selection"}
                | {"selection": {k: v for k, v in sel.items() if k not in ("ids", "hashes")}}, expanded=1)
    st.markdown("**Export this selection** (with its manifest and recipe, in the workspace's exports/ folder)")
    with st.form("cur_export_form"):
        c = st.columns([3, 1, 2])
        file = c[0].text_input("File name", value=name, key=f"cur_exp_name_{name}")
        typ = c[1].selectbox("File type", TYPES, key="cur_exp_type")
        as_ = c[2].selectbox("Records as", AS, key="cur_exp_as")
        cols = st.multiselect("Add Sift columns", WITH_OFFERED, key="cur_exp_with",
                              help="Each record gets a '_sift' object with these columns.")
        go = st.form_submit_button("Export selection", type="primary")
    if go:
        _export(name, file, typ, as_, cols)
    m = st.session_state.get("cur_export")
    if m and m["name"] == name:
        _show_export(m)


def compare_panel(names: list[str]):
    """Two selections side by side: overlap counts and the labels each covers that the other misses."""
    st.markdown("**Compare two selections**")
    if len(names) < 2:
        st.caption("Save at least two selections to compare them.")
        return
    c = st.columns(2)
    a = c[0].selectbox("Selection A", names, index=0, key="cur_cmp_a")
    b = c[1].selectbox("Selection B", names, index=1, key="cur_cmp_b")
    s = ui.store()
    ia, _ = s.selection(a)
    ib, _ = s.selection(b)
    r = coverage.compare(ia, ib)
    m = st.columns(6)
    for col, (label, val) in zip(m, (("A rows", f"{r['a']:,}"), ("B rows", f"{r['b']:,}"), ("In both", f"{r['both']:,}"),
                                     ("Jaccard", f"{r['jaccard']:.3f}"), ("Only in A", f"{r['only_a']:,}"),
                                     ("Only in B", f"{r['only_b']:,}"))):
        col.metric(label, val)
    b1, b2 = st.columns(2)
    for btn, part, word in ((b1, "only_a_ids", f"{a} minus {b}"), (b2, "only_b_ids", f"{b} minus {a}")):
        ids = tuple(int(i) for i in r[part])
        btn.button(f"Filter to the rows only in {'A' if part == 'only_a_ids' else 'B'}", key=f"cur_cmp_{part}",
                   disabled=not ids, width="stretch",
                   on_click=lambda ids=ids, w=word: ui.set_filter(Filter(ids=ids, ids_label=f"selection {w}")))
    union = np.union1d(ia, ib)
    if not len(union):
        return
    lab = cui.labels_of(s, Filter(ids=tuple(int(i) for i in union)))
    kind = st.radio("Coverage by", list(cui.KINDS), horizontal=True, key="cur_cmp_kind",
                    format_func=lambda k: cui.KINDS[k].lower())
    t = coverage.compare_coverage(lab[kind], np.isin(lab["id"], ia), np.isin(lab["id"], ib), multi=kind == "tags")
    only_a, only_b = int((t["covered_by"] == "A only").sum()), int((t["covered_by"] == "B only").sum())
    st.caption(f"{len(t):,} {cui.KINDS[kind].lower()} labels among the rows of A or B: {only_a:,} covered only by A, "
               f"{only_b:,} only by B. diff = rows in B − rows in A.")
    if len(t):
        if kind == "cluster":
            t.insert(1, "name", [str(lab["names"].get(c, "")) for c in t["label"]])
        st.dataframe(t.assign(label=t["label"].astype(str)), hide_index=True, width="stretch", key="cur_cmp_table")


def saved_panel():
    items = saved()
    if not items:
        st.info("No saved selections yet. Preview one under Select, then save it under a name.")
        return
    st.dataframe([{k: s[k] for k in ("name", "rows", "method", "created")} for s in items], hide_index=True,
                 width="stretch", key="cur_saved_table")
    names = [s["name"] for s in items]
    name = st.selectbox("Selection", names, key="cur_pick")
    one_selection(name)
    st.divider()
    compare_panel(names)
