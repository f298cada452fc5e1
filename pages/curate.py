"""Curate page: on the current Filter, flag duplicates (keep rule chosen by the user), flag rows contaminated by
evaluation sets, select a budget of rows with a method of core.select, preview what the selection covers and
misses (pool vs selection per dataset, cluster, language and tag; InsTag measures; coverage gaps on the map),
save it under a name, then use, export (with its recipe), delete or compare saved selections.

Composition is filter → dedup → decontaminate → select (core/curate.py). Sections render one at a time.
Dataset text is shown only through st.text / tables / widget options; messages quoting it go through ui.md.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import curate
from core import select as sel
from core.filters import Cond, Filter
from core.store.select import GROUP_COLUMNS, SCORE_COLUMNS
from pages import _curate_saved as saved
from pages import _curate_ui as cui
from pages import _steps_ui as sui
from pages import _ui as ui

SECTIONS = ("Dedup", "Decontaminate", "Select", "Saved selections")
DEDUP_HELP = {"exact": "exact: same text after normalising case, spaces and punctuation",
              "minhash": "minhash: near-duplicates by MinHash LSH over word shingles (Jaccard threshold)",
              "semantic": "semantic: SemDeDup, pairs above a cosine threshold within clusters (needs embeddings)",
              "rouge": "rouge: Self-Instruct filter, drop an instruction with ROUGE-L ≥ threshold vs a kept one"}
DEDUP_THRESHOLD = {"minhash": (0.8, "Jaccard similarity"), "semantic": (0.95, "cosine similarity"),
                   "rouge": (0.7, "ROUGE-L F")}
KEEP_WORDS = {"first": "first seen (lowest row id)", "longest": "longest response", "score": "highest score",
              "dataset_priority": "dataset priority"}
METHOD_HELP = {
    "cfds": "InsTag complexity-first diverse sampling: most-tagged rows first, each must bring a tag not yet covered "
            "in its pass (needs tags)",
    "deita": "Deita: best score first, skipping rows too similar (cosine) to a row already picked (needs embeddings)",
    "longest": "Long Is More: the rows with the longest responses",
    "kcenter": "k-center greedy (DiverseEvol): farthest-point picks in embedding space; tends to pick outliers",
    "stratified": "Stratified quotas per cluster / dataset / language (proportional, equal or square root)",
    "facility": "Facility location (SMART): representative rows over a kNN similarity graph (needs embeddings)",
    "random": "Random baseline (seeded)",
}
QUOTA_WORDS = {"proportional": "proportional to group size", "equal": "equal per group", "sqrt": "square root of size"}
LENGTH_COLUMNS = ("response_chars", "n_tokens", "total_chars", "instruction_chars")
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SHARED_EVALS = ("mt_bench/mt_bench_question.jsonl", "alpaca_eval/alpaca_eval_outputs_example.json",
                "ifeval/input_data.jsonl")


def _datasets() -> list[str]:
    return [d["dataset"] for d in ui.datasets()]


def _run(label: str, fn, words):
    """Run a Step with a progress bar; on success leave its outcome (``words(result)``) for the next run."""
    res = sui.run_step(label, fn)
    if res:
        ui.flash("success", words(res))
        st.rerun()


def _metrics(values: dict):
    for col, (label, v) in zip(st.columns(len(values)), values.items()):
        col.metric(label, f"{v:,}")


# ------------------------------------------------------------------ dedup
def dedup_groups(flt: Filter):
    """Pick a duplicate group; its rows side by side, the kept one marked."""
    groups = ui.store().facet("dup_group", flt.and_(Cond("dup_group", "not null")), limit=500)
    if not groups:
        st.caption("No duplicate groups under the current filter.")
        return
    g = st.selectbox(f"Duplicate groups (largest {len(groups):,} shown)", groups, key="dd_group",
                     format_func=lambda x: f"group {x[0]} · {x[1]:,} rows")
    df = ui.store().rows(flt.and_(Cond("dup_group", "=", int(g[0]))), limit=8,
                         columns=["id", "dataset", "dup_keep", "response_chars", "instruction", "response"])
    if g[1] > len(df):
        st.caption(f"Showing {len(df)} of the group's {g[1]:,} rows.")
    cols = st.columns(min(4, max(1, len(df))))
    for i, r in enumerate(df.itertuples()):
        with cols[i % len(cols)], st.container(border=True):
            kept = "KEPT" if r.dup_keep else "not kept"
            st.html(f'<span class="sift-role {"assistant" if r.dup_keep else "rejected"}">{ui.esc(kept)}</span> '
                    f"row {ui.esc(r.id)} · {ui.esc(r.dataset)} · {ui.esc(r.response_chars)} response chars")
            st.text((r.instruction or "(empty)")[:1500])
            st.text("→ " + (r.response or "(empty)")[:1500])


def dedup_panel(flt: Filter):
    c = st.columns([2, 1, 2])
    method = c[0].selectbox("Method", curate.DEDUP_METHODS, key="dd_method", format_func=DEDUP_HELP.get)
    threshold = None
    if method in DEDUP_THRESHOLD:
        d, word = DEDUP_THRESHOLD[method]
        threshold = c[1].number_input(f"Threshold ({word})", 0.05, 1.0, d, 0.01, key=f"dd_thr_{method}")
    keep = c[2].selectbox("Keep in each group", curate.KEEP_RULES, key="dd_keep", format_func=KEEP_WORDS.get,
                          help="Which row of a duplicate group stays; the others get dup_keep = false and are "
                               "left out of selections by default. Recorded in the recipe.")
    opts, score, priority = {}, None, None
    if method == "minhash":
        c2 = st.columns(2)
        opts["shingle"] = int(c2[0].number_input("Shingle (words)", 1, 20, 5, key="dd_shingle"))
        opts["num_perm"] = int(c2[1].number_input("Permutations", 16, 512, 128, 16, key="dd_perm"))
    if keep == "score":
        score = st.selectbox("Score column (highest kept)", SCORE_COLUMNS, key="dd_score")
    if keep == "dataset_priority":
        priority = st.multiselect("Datasets in priority order (the first one listed is kept first)", _datasets(),
                                  key="dd_priority")
    if method == "semantic" and not sui.status()["spaces"]:
        st.warning("Semantic dedup needs embeddings: embed the rows on the Map page first.")
    if st.button("Find duplicates", key="dd_run", type="primary",
                 disabled=keep == "dataset_priority" and not priority):
        _run("Dedup", lambda p: curate.dedup(ui.store(), method, flt, threshold, keep, priority, score, progress=p,
                                             **opts),
             lambda r: f"Dedup ({ui.md(method)}): {r['groups']:,} groups, {r['duplicate_rows']:,} rows in them, "
                       f"{r['dropped']:,} not kept; {r['seconds']:.1f} s.")
    last = ui.store().get_meta("dedup")
    if last:
        p = last.get("params", {})
        _metrics({"Rows checked": last["rows"], "Duplicate groups": last["groups"],
                  "Rows in groups": last.get("duplicate_rows", 0), "Not kept": last["dropped"]})
        st.caption(f"Last dedup: {ui.md(p.get('method'))}, keep {ui.md(KEEP_WORDS.get(p.get('keep'), p.get('keep')))}"
                   + (f", threshold {p['threshold']}" if p.get("threshold") else "")
                   + f", on: {ui.md(Filter.from_dict(p.get('filter') or {}).describe())}.")
        dedup_groups(flt)


# ------------------------------------------------------------------ decontamination
def _use_shared():
    st.session_state["dc_paths"] = "\n".join(str(SHARED / p) for p in SHARED_EVALS if (SHARED / p).is_file())


def _browse_contaminated():
    if ui.add_cond(Cond("contaminated", "not null")):
        st.session_state[saved.JUMP] = True


def decontam_panel(flt: Filter):
    st.text_area("Evaluation files or folders, one path per line (any format the importer reads)", key="dc_paths",
                 placeholder="../shared/data/mt_bench/mt_bench_question.jsonl", height=110)
    if any((SHARED / p).is_file() for p in SHARED_EVALS):
        st.button("Use the shared MT-Bench, AlpacaEval and IFEval sets", key="dc_shared", on_click=_use_shared)
    st.caption(f"Relative paths are read from {ui.md(Path.cwd())}. Shared sets: ../shared/data/mt_bench/"
               "mt_bench_question.jsonl, ../shared/data/alpaca_eval/alpaca_eval_outputs_example.json, "
               "../shared/data/ifeval/input_data.jsonl.")
    c = st.columns(3)
    n = int(c[0].number_input("n-gram length (words)", 3, 50, 13, key="dc_n"))
    use_emb = c[1].toggle("Also match by embedding", key="dc_emb", help="Rows whose embedding is this close "
                                                                          "(cosine) to an eval prompt; needs embeddings.")
    thr = c[2].number_input("Cosine threshold", 0.5, 1.0, 0.9, 0.01, key="dc_thr", disabled=not use_emb)
    paths = [p.strip() for p in st.session_state.get("dc_paths", "").splitlines() if p.strip()]
    if st.button("Flag contaminated rows", key="dc_run", type="primary", disabled=not paths):
        missing = [p for p in paths if not Path(p).expanduser().exists()]
        if missing:
            st.error(f"Not found: {ui.md(', '.join(missing))}")
        else:
            _run("Decontaminate", lambda p: curate.decontaminate(
                ui.store(), [str(Path(x).expanduser()) for x in paths], n, float(thr) if use_emb else None, flt,
                progress=p),
                 lambda r: f"{r['contaminated']:,} of {r['rows']:,} rows match one of {r['eval_items']:,} eval "
                           f"prompts; {r['seconds']:.1f} s.")
    last = ui.store().get_meta("decontam")
    if last:
        _metrics({"Rows checked": last["rows"], "Contaminated": last["contaminated"],
                  "Eval prompts": last["eval_items"]})
        ex = last.get("examples") or []
        if ex:
            got = ui.store().rows(Filter(ids=tuple(e["id"] for e in ex)), limit=len(ex), columns=["id", "instruction"])
            text = dict(zip(got["id"], got["instruction"]))
            st.caption("Examples (row, matching eval item and the shared words, the row's instruction)")
            st.dataframe([{"id": e["id"], "match": e["match"], "instruction": str(text.get(e["id"], ""))[:300]}
                          for e in ex], hide_index=True, width="stretch", key="dc_examples")
            st.button("Show the contaminated rows in Browse", key="dc_browse", on_click=_browse_contaminated)


# ------------------------------------------------------------------ select
def _method_params(method: str) -> tuple[dict, dict]:
    """The method's parameter widgets: (params for core.select, keyword columns score/length/group)."""
    params, cols = {}, {}
    c = st.columns(3)
    if method == "deita":
        cols["score"] = c[0].selectbox("Score column (best first)", SCORE_COLUMNS, key="sel_score")
        params["threshold"] = float(c[1].number_input("Max cosine to a picked row", 0.5, 1.0, 0.9, 0.01,
                                                      key="sel_thr"))
    elif method == "longest":
        cols["length"] = c[0].selectbox("Length column", LENGTH_COLUMNS, key="sel_length")
    elif method == "stratified":
        k = int(c[0].number_input("k-means clusters (0 = use a group column)", 0, 10_000, 0, key="sel_kmeans"))
        if k:
            params["kmeans"] = k
        else:
            cols["group"] = c[0].selectbox("Group column", GROUP_COLUMNS, key="sel_group")
        params["quota"] = c[1].selectbox("Quota per group", tuple(QUOTA_WORDS), key="sel_quota",
                                         format_func=QUOTA_WORDS.get)
        params["within"] = c[2].selectbox("Within a group", ("random", "score"), key="sel_within",
                                          format_func=lambda w: "at random" if w == "random" else "highest score")
        if params["within"] == "score":
            cols["score"] = c[2].selectbox("Score column", SCORE_COLUMNS, key="sel_wscore")
    elif method == "facility":
        k = int(c[0].number_input("Neighbours per row (0 = automatic)", 0, 500, 0, key="sel_k"))
        if k:
            params["k"] = k
    return params, cols


def _save_preview(name: str):
    s = ui.store()
    ids, rec = s.selection(cui.preview_name())
    if cui.is_preview(name):
        name = "selection." + name  # a saved selection must not look like a preview (those are hidden)
    used = s.save_selection(name, ids, rec)
    s.delete_selection(cui.preview_name())
    st.session_state.pop("cur_preview", None)
    ui.flash("success", f"Saved the selection {ui.md(used)} ({len(ids):,} rows). See Saved selections.")


def select_panel(flt: Filter):
    c = st.columns([2, 1, 1, 1])
    method = c[0].selectbox("Method", list(sel.METHODS), key="sel_method",
                            index=list(sel.METHODS).index("facility"),  # best measured coverage (bench/selection.py)
                            format_func=lambda m: f"{m}: {METHOD_HELP.get(m, '')}".rstrip(": "))
    unit = c[1].radio("Budget in", ("% of pool", "rows"), key="sel_unit", horizontal=True)
    if unit == "rows":
        budget = int(c[2].number_input("Rows", 1, 10_000_000, 1000, key="sel_rows"))
    else:
        budget = f"{c[2].number_input('Share (%)', 0.01, 100.0, 5.0, 0.5, key='sel_pct'):g}%"
    seed = int(c[3].number_input("Seed", 0, 2**31 - 1, 0, key="sel_seed"))
    params, cols = _method_params(method)
    t = st.columns(2)
    ex_dup = t[0].toggle("Leave out duplicates that are not kept", True, key="sel_ex_dup")
    ex_con = t[1].toggle("Leave out contaminated rows", True, key="sel_ex_con")
    m = st.columns(2)
    inc_text = m[0].text_input("Always include row ids", key="sel_include", placeholder="e.g. 12, 40, 77")
    exc_text = m[1].text_input("Never include row ids", key="sel_exclude", placeholder="e.g. 3 5 8")
    needs = sel.required_inputs(method, params)
    blocked = ""
    if "vecs" in needs and not sui.status()["spaces"]:
        blocked = "This method needs embeddings: embed the rows on the Map page first."
    elif "tags" in needs and not ui.store().count(flt.and_(Cond("tags", "not null"))):
        st.warning("No tagged rows under this filter: CFDS would only draw untagged rows in seeded order.")
    if blocked:
        st.warning(blocked)
    if st.button("Preview", key="sel_preview", type="primary", disabled=bool(blocked)):
        try:
            inc, exc = cui.parse_ids(inc_text), cui.parse_ids(exc_text)
        except ValueError as e:
            st.error(ui.md(e))
            return
        res = sui.run_step("Select", lambda p: curate.select(
            ui.store(), method, budget, flt, name=cui.preview_name(), seed=seed, params=params,
            exclude_duplicates=ex_dup, exclude_contaminated=ex_con, include=inc, exclude=exc, progress=p, **cols))
        if res:
            pool = curate.pool_filter(flt, ex_dup, ex_con)
            n = st.session_state.get("cur_preview", {}).get("n", 0) + 1
            st.session_state["cur_preview"] = {"pool": pool.to_dict(), "rows": res["rows"], "pool_rows": res["pool"],
                                               "seconds": res["seconds"], "note": res["note"], "method": method,
                                               "n": n, "budget": sel.resolve_budget(budget, res["pool"]) + len(inc)}
    show_preview()


def show_preview():
    pv = st.session_state.get("cur_preview")
    if not pv or cui.preview_name() not in {s["name"] for s in ui.store().selections()}:
        return
    st.divider()
    st.subheader(f"Preview: {pv['rows']:,} rows by {pv['method']}")
    if pv["note"]:
        st.caption(ui.md(pv["note"]))
    st.caption(f"Drawn from a pool of {pv['pool_rows']:,} rows in {pv['seconds']:.2f} s.")
    if pv["rows"] < pv["budget"]:
        st.info(f"The method returned {pv['rows']:,} rows, fewer than the budget of {pv['budget']:,}"
                + (": every other row is too similar to a row already picked (raise the cosine threshold)."
                   if pv["method"] == "deita" else "."))
    c = st.columns([3, 1], vertical_alignment="bottom")
    name = c[0].text_input("Save as", value=f"{pv['method']}_{pv['rows']}", key=f"sel_save_name_{pv['n']}")
    if name.strip() and name.strip() in {s["name"] for s in saved.saved()}:
        st.caption("A selection with this name exists: saving replaces it.")
    c[1].button("Save selection", key="sel_save", type="primary", width="stretch", disabled=not name.strip(),
                on_click=_save_preview, args=(name.strip(),))
    cui.show_coverage(Filter.from_dict(pv["pool"]), cui.preview_name(), "pv")


# ------------------------------------------------------------------ page
ui.page_setup("Curate")
if not ui.no_data_notice():
    runs = ui.page_header(saved.JUMP) is not None
    cui.drop_stale_previews(ui.store())
    st.caption("Filter → dedup → decontaminate → select: each step works on the rows of the current filter; a "
               "selection leaves out duplicates that are not kept and contaminated rows unless told otherwise, and "
               "its recipe records every step so `python -m core replay` rebuilds the same export.")
    section = st.radio("Section", SECTIONS, key="cur_section", horizontal=True, label_visibility="collapsed")
    if runs:
        flt = cui.scoped()
        {"Dedup": dedup_panel, "Decontaminate": decontam_panel, "Select": select_panel,
         "Saved selections": lambda _: saved.saved_panel()}[section](flt)
