"""Datasets page: what is in the workspace, importing files (path or upload), quarantine, deleting."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import streamlit as st

from core.formats import FORMATS
from core.importer import import_paths
from core.readers import list_files
from core.store import StoreError, safe_name
from pages import _ui as ui

UPLOAD_SUFFIXES = (".jsonl.gz", ".json.gz", ".ndjson.gz", ".jsonl", ".json", ".ndjson", ".parquet", ".csv",
                   ".arrow", ".gz")


def upload_name(name: str) -> str:
    """A sanitised file name for an upload that keeps its (lower-cased) data suffix."""
    base = (name or "").replace("\\", "/").split("/")[-1]
    suf = next((s for s in UPLOAD_SUFFIXES if base.lower().endswith(s)), "")
    stem = base[: len(base) - len(suf)] if suf else base
    return safe_name(stem, "upload")[:80] + suf


def save_uploads(files) -> list[Path]:
    """Write uploaded files under WORKSPACE/uploads/<time>/ with sanitised, unique names."""
    folder = Path(ui.workspace()) / "uploads" / dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for f in files:
        name = upload_name(f.name)
        path, i = folder / name, 2
        while path.exists():
            path = folder / f"{i}-{name}"
            i += 1
        path.write_bytes(f.getvalue())
        out.append(path)
    return out


def datasets_table():
    ds = ui.datasets()
    if not ds:
        st.info("No datasets yet: import files below (a path on this machine, or upload them).")
        return
    df = pd.DataFrame([{
        "dataset": d["dataset"], "rows": d["rows"], "formats": ", ".join(d["formats"]),
        "quarantined": d["quarantined"], "duplicates": d["duplicates"], "files": d["files"],
        "extra columns": ", ".join(d["columns"]), "created": d["created"]} for d in ds])
    st.dataframe(df, hide_index=True, width="stretch", column_config={
        "rows": st.column_config.NumberColumn(format="localized"),
        "quarantined": st.column_config.NumberColumn(format="localized"),
        "duplicates": st.column_config.NumberColumn(format="localized")})
    total = sum(d["rows"] for d in ds)
    st.caption(ui.md(f"{len(ds)} datasets, {total:,} rows in {ui.workspace()}"))
    with st.expander("Files"):
        files = ui.store().files()
        st.dataframe(pd.DataFrame(files), hide_index=True, width="stretch")


def run_import(paths: list, name: str, fmt: str):
    store = ui.store()
    try:
        n_files = sum(len(list_files(p)) for p in paths)
    except (FileNotFoundError, OSError) as e:
        st.error(ui.md(e))
        return None
    seen: list = []
    with st.status(f"Importing {n_files} file(s)…", expanded=True) as status:
        bar = st.progress(0.0, text="starting")

        def progress(file, rows):
            if file not in seen:
                seen.append(file)
            bar.progress(min(1.0, (len(seen) - 0.5) / max(n_files, 1)),
                         text=f"file {len(seen)} of {n_files}: {rows:,} rows read")
        try:
            res = import_paths(store, paths, name=name or None, fmt=fmt, progress=progress)
        except (StoreError, FileNotFoundError, ValueError, OSError) as e:
            status.update(label="Import failed", state="error")
            st.error(ui.md(e))
            return None
        bar.progress(1.0, text="done")
        status.update(label=f"Imported {res.rows:,} rows into {res.dataset}", state="complete", expanded=False)
    return res.to_json(max_errors=500)


def show_result(res: dict):
    st.success(ui.md(f"Dataset {res['dataset']}: {res['rows']:,} rows imported ({res['format']}), "
                     f"{res['quarantined']:,} quarantined, {res['duplicates']:,} exact duplicates flagged, "
                     f"{res['seconds']:.1f} s"))
    c1, c2, c3 = st.columns(3)
    c1.metric("Rows", f"{res['rows']:,}")
    c2.metric("Quarantined", f"{res['quarantined']:,}")
    c3.metric("Duplicates", f"{res['duplicates']:,}")
    if res.get("files"):
        st.dataframe(pd.DataFrame(res["files"]), hide_index=True, width="stretch")
    if res.get("skipped_files"):
        st.warning(f"{len(res['skipped_files'])} file(s) skipped (already imported with the same content).")
        st.dataframe(pd.DataFrame(res["skipped_files"]), hide_index=True, width="stretch")
    if res.get("errors"):
        st.write("First problems (the rows went to quarantine; everything else loaded):")
        st.dataframe(pd.DataFrame(res["errors"][:200], columns=["file", "line", "field", "reason"]),
                     hide_index=True, width="stretch")


def import_form():
    st.subheader("Import")
    with st.form("import_form", clear_on_submit=False):
        c1, c2 = st.columns(2)
        paths_text = c1.text_area("Paths on this machine (one per line: files or folders)", key="imp_paths",
                                  placeholder="/data/alpaca.json\n/data/chats/")
        uploads = c2.file_uploader("…or upload files", accept_multiple_files=True, key="imp_upload",
                                   type=["json", "jsonl", "ndjson", "gz", "parquet", "csv"])
        c3, c4 = st.columns(2)
        fmt = c3.selectbox("Format", ("auto",) + tuple(FORMATS), key="imp_format",
                           help="auto detects the format from the first records")
        name = c4.text_input("Dataset name (optional; default: the first file's name)", key="imp_name")
        go = st.form_submit_button("Import", type="primary")
    if go:
        paths = [p.strip() for p in (paths_text or "").splitlines() if p.strip()]
        if uploads:
            paths += [str(p) for p in save_uploads(uploads)]
        if not paths:
            st.error("Give at least one path, or upload files.")
        else:
            res = run_import(paths, name.strip(), fmt)
            if res is not None:
                st.session_state["last_import"] = res
                st.rerun()  # redraw the datasets table above with the new data
    if st.session_state.get("last_import"):
        show_result(st.session_state["last_import"])


def quarantine_section():
    ds = ui.datasets()
    if not ds:
        return
    st.subheader("Quarantine")
    names = [d["dataset"] for d in ds]
    name = st.selectbox("Dataset", names, key="q_dataset")
    store = ui.store()
    summary = store.quarantine_summary(name)
    if not summary:
        st.success("No quarantined rows in this dataset.")
        return
    total = sum(n for _, _, n in summary)
    st.write(f"{total:,} rows quarantined, by reason:")
    st.dataframe(pd.DataFrame([(r, n) for _, r, n in summary], columns=["reason", "rows"]),
                 hide_index=True, width="stretch")
    entries = store.quarantine(name, limit=1000)
    st.caption(f"First {len(entries):,} entries (download the CSV for all of them)")
    st.dataframe(entries, hide_index=True, width="stretch", height=min(38 + 35 * max(len(entries), 1), 400))
    st.download_button("Download quarantine (CSV)", key="q_download", on_click="ignore",
                       data=lambda: store.quarantine(name).to_csv(index=False).encode("utf-8"),
                       file_name=f"{name}.quarantine.csv", mime="text/csv")


def delete_section():
    ds = ui.datasets()
    if not ds:
        return
    with st.expander("Delete a dataset", key="del_open", on_change="rerun"):  # open state kept across reruns
        names = [d["dataset"] for d in ds]
        name = st.selectbox("Dataset to delete", names, key="del_dataset")
        rows = next(d["rows"] for d in ds if d["dataset"] == name)
        # a fresh key after each deletion unticks the box (popping a widget's state left the browser's box out of
        # step: the next dataset's first tick was lost)
        n = st.session_state.get("del_n", 0)
        sure = st.checkbox(f"Yes, delete this dataset and its {rows:,} rows (cannot be undone)", key=f"del_confirm_{n}")
        if st.button("Delete dataset", key="del_go", type="primary", disabled=not sure):
            ui.store().delete_dataset(name)
            if ui.get_dataset() == name:
                st.session_state["sift_dataset"] = None
            st.session_state["del_n"] = n + 1
            ui.flash("success", ui.md(f"Deleted dataset {name}."))
            st.rerun()


ui.page_setup("Datasets")
datasets_table()
import_form()
quarantine_section()
delete_section()
