"""Tags page, part 2 (not a page): normalisation with per-proposal review, editing tags by hand (bulk on the
current filter, vocabulary rename / merge / delete, one row in its detail view), and the event log with undo.

Tag names are dataset (or model) text: shown through st.dataframe / st.text / widget options, and through md()
in messages.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import tagging, tagnorm
from core.store import StoreError
from pages import _steps_ui as sui
from pages import _tags_ui as tui
from pages import _ui as ui


def _call(fn, ok: str):
    """Run a store edit from a callback; its outcome becomes a message at the top of the next run."""
    try:
        out = fn()
    except (StoreError, ValueError) as e:
        ui.flash("error", ui.md(e))
        return None
    ui.flash("success", ui.md(ok.format(out=out)))
    return out


def _bump(name: str):
    st.session_state[name] = st.session_state.get(name, 0) + 1


# ------------------------------------------------------------------ normalisation
def _params() -> dict:
    ss = st.session_state
    return {"min_count": int(ss.get("nm_min", 0)) or None, "eps": float(ss.get("nm_eps", 0.05)),
            "support": int(ss.get("nm_sup", 0)) or None, "confidence": float(ss.get("nm_conf", 0.99)),
            "stages": list(ss.get("nm_stages") or tagnorm.STAGES), "model": (ss.get("nm_model") or "").strip() or None}


def editor_key(stage: str, token: int) -> str:
    return f"nm_ed_{stage}_{token}"


def choices(res: dict, token: int) -> tuple[set, set]:
    """(rejected, accepted) proposal ids: each proposal's tick in its stage's editor (edits in session state),
    or its state in the preview when untouched."""
    rejected, accepted = set(), set()
    for stage in res["stages"]:
        edits = (st.session_state.get(editor_key(stage["name"], token)) or {}).get("edited_rows") or {}
        for i, p in enumerate(stage["proposals"]):
            ok = (edits.get(i) or edits.get(str(i)) or {}).get("accept", not p["rejected"])
            (accepted if ok else rejected).add(p["id"])
    return rejected, accepted


def _normalize(params: dict, apply: bool, rejected=(), accepted=()):
    return sui.run_step("Normalising" if apply else "Preview", lambda p: tagging.normalize(
        ui.store(), params["min_count"], params["eps"], params["support"], params["confidence"], params["stages"],
        rejected=rejected, accepted=accepted, apply=apply, model=params["model"], progress=p))


def _proposals_table(stage: dict, token: int):
    props = stage["proposals"]
    st.markdown(f"**{stage['name']}**: {stage['n_before']:,} → {stage['n_after']:,} tags · {len(props):,} proposals")
    if not props:
        return
    df = pd.DataFrame({"accept": [not p["rejected"] for p in props], "kind": [p["kind"] for p in props],
                       "before": [", ".join(p["before"]) for p in props],
                       "after": ["(dropped)" if p["after"] is None else p["after"] for p in props],
                       "rows": [p["count"] for p in props], "detail": [p["detail"] for p in props]})
    st.data_editor(df, key=editor_key(stage["name"], token), hide_index=True, width="stretch",
                   disabled=["kind", "before", "after", "rows", "detail"], height=min(38 + 35 * len(df), 400),
                   column_config={"accept": st.column_config.CheckboxColumn(width="small"),
                                  "before": st.column_config.TextColumn(width="large")})


def normalise_panel():
    st.caption("InsTag's four stages over the raw tags of every enabled source, over the whole workspace (the "
               "vocabulary is one mapping). Preview shows what each stage proposes; untick what you reject, then "
               "apply. Raw tags are never changed: Undo or a new run brings any earlier vocabulary back.")
    c = st.columns(5)
    c[0].number_input("Min count (0 = scale with size)", 0, 1_000_000, 0, key="nm_min")
    c[1].number_input("Semantic eps (cosine distance)", 0.001, 1.0, 0.05, step=0.01, format="%.3f", key="nm_eps")
    c[2].number_input("Association support (0 = scale)", 0, 1_000_000, 0, key="nm_sup")
    c[3].number_input("Association confidence", 0.5, 1.0, 0.99, step=0.005, format="%.3f", key="nm_conf")
    c[4].text_input("Embedding model (semantic stage)", "", key="nm_model", placeholder="default")
    st.multiselect("Stages, in this order", tagnorm.STAGES, default=list(tagnorm.STAGES), key="nm_stages")
    cur = ui.store().get_meta("tag_norm_params")
    if cur:
        shown = ", ".join(f"{k.replace('_', ' ')} {', '.join(v) if isinstance(v, list) else v}"
                          for k, v in cur.items() if k not in ("rejected", "min_samples"))
        st.caption(ui.md(f"In use: {len(ui.store().tag_map()):,} raw tags mapped or dropped ({shown}; "
                         f"{len(cur.get('rejected', [])):,} proposals rejected)."))
    ss = st.session_state
    if st.button("Preview", key="nm_preview"):
        params = _params()
        res = _normalize(params, apply=False)
        if res is not None:
            _bump("nm_token")
            ss["tags_norm"] = {"res": res, "params": params, "token": ss["nm_token"], "version": ui.version()}
    prev = ss.get("tags_norm")
    if not prev:
        return
    res, token = prev["res"], prev["token"]
    if prev["version"] != ui.version():
        st.warning("The tags changed since this preview: preview again before applying.")
    st.caption(f"{res['rows']:,} tagged samples, {res['raw_tags']:,} raw tags → {res['vocabulary']:,} tags "
               f"({res['merged']:,} merged, {res['dropped']:,} dropped) in {res['seconds']:.1f} s.")
    for stage in res["stages"]:
        _proposals_table(stage, token)
    b1, b2 = st.columns(2)
    again = b1.button("Preview again with these choices", key="nm_again",
                      help="A stage works on what the stages before it left: rejecting a merge can change the "
                           "proposals after it.")
    apply = b2.button("Apply", key="nm_apply", type="primary")
    if again or apply:
        rejected, accepted = choices(res, token)
        out = _normalize(prev["params"], apply, rejected, accepted)
        if out is not None and apply:
            ss.pop("tags_norm", None)
            ui.flash("success", f"Vocabulary applied: {out['raw_tags']:,} raw tags → {out['vocabulary']:,} tags "
                                f"({out['merged']:,} merged, {out['dropped']:,} dropped). Undo is in Edit by hand.")
            st.rerun()
        if out is not None:
            _bump("nm_token")
            ss["tags_norm"] = {"res": out, "params": prev["params"], "token": ss["nm_token"], "version": ui.version()}
            st.rerun()


# ------------------------------------------------------------------ hand edits
def _bulk(words: str):
    ss = st.session_state
    add, rem = ss.get(f"bk_add_{ss.get('bk_n', 0)}") or [], ss.get(f"bk_rem_{ss.get('bk_n', 0)}") or []
    if _call(lambda: ui.store().tag_rows(tui.scoped(), add, rem, what=words[:120]),
             "Tags changed on {out:,} rows (undo below).") is not None:
        _bump("bk_n")


def bulk_panel():
    st.subheader("Add or remove tags on the current filter")
    words, n, _ = ui.sentence()
    ui.html_text(f"Applies to the rows under the current filter (a map region included): {words}"
                 + (f" ({n:,} rows)" if n is not None else ""))
    opts, k = tui.all_tags(), st.session_state.get("bk_n", 0)
    c1, c2 = st.columns(2)
    add = c1.multiselect("Add tags (pick or type new ones)", opts, key=f"bk_add_{k}", accept_new_options=True)
    rem = c2.multiselect("Remove tags", opts, key=f"bk_rem_{k}", accept_new_options=True)
    st.button(f"Apply to {n or 0:,} rows", key="bk_go", type="primary", disabled=not n or not (add or rem),
              on_click=_bulk, args=(words,))
    st.caption("Hand edits win over automatic re-runs and re-normalisation; each is one entry in the log below.")


def hand_panel():
    bulk_panel()
    log_panel()


def log_panel():
    st.subheader("Edit log")
    ev = ui.store().tag_events(50)
    if not len(ev):
        st.caption("No edits yet.")
        return
    st.button("Undo the last edit", key="tag_undo", on_click=lambda: _call(ui.store().undo_tag_event,
                                                                           "Undone: {out}"))
    st.dataframe(ev[["seq", "time", "op", "summary", "undone"]], hide_index=True, width="stretch",
                 column_config={"summary": st.column_config.TextColumn(width="large")})


def vocab_actions(selected: list[str]):
    """Rename (one tag), merge (several into a new or existing name) or delete the selected tags everywhere."""
    store, k = ui.store(), st.session_state.get("voc_n", 0)
    c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
    new = c1.text_input("New name (rename one tag, or merge the selected ones into it)", key=f"voc_new_{k}")
    verb = "Rename" if len(selected) == 1 else "Merge"

    def rename():
        if _call(lambda: store.merge_tags(selected, new), f"{verb}d: {{out:,}} rows touched (undo in Edit by hand).") \
                is not None:
            _bump("voc_n")

    def delete():
        if _call(lambda: store.merge_tags(selected, None), "Deleted: {out:,} rows touched (undo in Edit by hand).") \
                is not None:
            _bump("voc_n")

    c2.button(verb, key="voc_rename", disabled=not selected or not (new or "").strip(), on_click=rename,
              width="stretch")
    sure = st.checkbox("Yes, delete the selected tags from every row", key=f"voc_sure_{k}")
    c3.button("Delete", key="voc_delete", disabled=not selected or not sure, on_click=delete, width="stretch")


# ------------------------------------------------------------------ one row (detail view)
def row_tags_editor(r: dict):
    """A row's tags and raw tags, and a picker that makes its tags exactly what is chosen (manual edits)."""
    tags, raw = list(r.get("tags") or []), list(r.get("raw_tags") or [])
    st.caption("Tags" + ("" if r.get("n_tags") is not None else " (not tagged yet)"))
    st.text(", ".join(tags) or "(none)")
    if raw:
        st.caption("Raw tags (enabled sources, before normalisation)")
        st.text(", ".join(raw))
    key = f"row_tags_{r['id']}_{abs(hash(tuple(tags)))}"
    opts = list(dict.fromkeys(tags + tui.all_tags(500)))
    pick = st.multiselect("Edit this row's tags (pick or type new ones)", opts, default=tags, key=key,
                          accept_new_options=True)

    def save():
        _call(lambda: ui.store().set_row_tags(int(r["id"]), st.session_state.get(key) or []),
              f"Row {int(r['id'])}: " + "added {out[added]}, removed {out[removed]}.")

    st.button("Save tags", key=f"row_tags_save_{r['id']}", disabled=list(pick) == tags, on_click=save)
