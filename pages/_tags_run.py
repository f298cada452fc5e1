"""Tags page, part 1 (not a page): run a tagger on the current filter, and the tag sources side by side.

Taggers run in the background (pages/_tags_ui.start): LLM (any OpenAI-compatible server; the API key is read
from an environment variable whose NAME is typed here, never the key), keyphrases and taxonomy (offline),
propagation from a tagged sample, or an existing label column.
"""
from __future__ import annotations

import importlib.util
import os
import re

import pandas as pd
import streamlit as st

from core import steps, tagging, tagllm
from core.filters import Cond, Filter
from core.llm import LLMConfig, estimate_tokens
from pages import _steps_ui as sui
from pages import _tags_ui as tui
from pages import _ui as ui

METHOD_WORDS = {"llm": "LLM (OpenAI-compatible)", "keyphrase": "Keyphrases (offline)",
                "taxonomy": "Taxonomy (offline)", "propagate": "Propagate a sample",
                "import": "Import a label column"}
METHOD_HELP = {
    "llm": "InsTag's method: the model names the fine-grained intentions of each sample's user turns. Replies are "
           "cached by model, prompt version and content: re-runs and identical samples cost nothing.",
    "keyphrase": "Open-set tags from the instruction itself (verb-object and noun phrases ranked by embedding "
                 "similarity). No LLM, works offline.",
    "taxonomy": "Tags from Sift's intention taxonomy, assigned by embedding similarity. No LLM, works offline.",
    "propagate": "Spreads a tagged sample's tags (e.g. a few hundred LLM-tagged rows) to the untagged rows by "
                 "nearest-neighbour voting over the embeddings (Map page), with a confidence per tag.",
    "import": "An existing label column (a category field, a list of ids) becomes tags.",
}
MODULES = {"taxonomy": "core.taxonomy", "propagate": "core.propagate", "keyphrase": "core.keyphrase"}
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
GUESS_REPLY_TOKENS = 150


def _on_env():
    """Only a variable's name is kept: anything else (a pasted key) is wiped from the session at once."""
    v = (st.session_state.get("tg_env") or "").strip()
    if v and not ENV_NAME.fullmatch(v):
        st.session_state["tg_env"] = ""
        ui.flash("error", "Type the NAME of the environment variable that holds the key (e.g. OPENAI_API_KEY), "
                          "not the key itself; what was typed has been cleared.")


def _cost_guess(cfg: LLMConfig, origin: str, n: int) -> str:
    if not (cfg.price_in_per_mtok or cfg.price_out_per_mtok) or not n:
        return ""
    src = tui.sources()
    mine = src[(src["origin"] == origin) & (src["version"] == tagllm.PROMPT_VERSION) & (src["done"] > 0)]
    if len(mine):
        r = mine.iloc[0]
        pt, ct, how = r["prompt_tokens"] / r["done"], r["completion_tokens"] / r["done"], "this model's earlier average"
    else:
        pt, ct = estimate_tokens(tagllm.SYSTEM_PROMPT) + 100, GUESS_REPLY_TOKENS
        how = "a rough guess until the first replies come back"
    return (f" Estimated cost for them: about {cfg.cost(pt * n, ct * n):,.2f} ({pt:,.0f} prompt and {ct:,.0f} "
            f"reply tokens a sample, {how}).")


def _llm_form(store, flt: Filter):
    c1, c2, c3 = st.columns([3, 2, 2])
    base = c1.text_input("Base URL (ending in /v1)", "https://api.openai.com/v1", key="tg_base",
                         help="OpenAI https://api.openai.com/v1 · vLLM http://127.0.0.1:8000/v1 · Ollama "
                              "http://localhost:11434/v1 · llama.cpp server http://127.0.0.1:8080/v1 · "
                              "LM Studio http://localhost:1234/v1")
    model = c2.text_input("Model", "gpt-4o-mini", key="tg_model").strip()
    env = c3.text_input("API key: name of its environment variable", "OPENAI_API_KEY", key="tg_env",
                        on_change=_on_env, help="The key itself is never typed here, stored or logged: Sift reads "
                                                "it from this variable of the app's environment at each request.")
    env = (env or "").strip()
    if env and ENV_NAME.fullmatch(env):
        st.caption(f"{env} is set in the app's environment." if os.environ.get(env) else
                   f"{env} is not set in the app's environment: requests go without a key (fine for most local "
                   f"servers).")
    c = st.columns(5)
    conc = c[0].number_input("Concurrency", 1, 256, 8, key="tg_conc", help="Requests in flight at once.")
    cap = c[1].number_input("Row cap (0 = none)", 0, 10_000_000, 0, key="tg_cap")
    tok = c[2].number_input("Token cap (0 = none)", 0, 10_000_000_000, 0, step=100_000, key="tg_tok")
    p_in = c[3].number_input("Price per 1M prompt tokens", 0.0, 1_000.0, 0.0, key="tg_pin",
                             help="Optional, for the cost estimate (any currency).")
    p_out = c[4].number_input("Price per 1M reply tokens", 0.0, 1_000.0, 0.0, key="tg_pout")
    try:
        cfg = LLMConfig(base.strip(), model, api_key_env=env or "", price_in_per_mtok=float(p_in),
                        price_out_per_mtok=float(p_out))
    except ValueError as e:
        st.error(ui.md(e))
        return None
    origin = tagging.llm_origin(model)
    n = tui.pending(origin, tagllm.PROMPT_VERSION)
    n_run = min(n, int(cap)) if cap else n
    st.caption(ui.md(f"{n:,} distinct samples under the filter are still to tag with {model} (prompt "
                     f"{tagllm.PROMPT_VERSION}); samples tagged before are cached and cost nothing."
                     + _cost_guess(cfg, origin, n_run)))
    return (f"LLM tagging with {model}", lambda p, cancel: tagging.tag_llm(
        store, cfg, flt, concurrency=int(conc), limit=int(cap) or None, max_tokens=int(tok) or None,
        progress=p, cancel=cancel), n_run > 0)


def _offline_form(store, flt: Filter, method: str):
    c1, c2, c3 = st.columns([3, 2, 2])
    model = c1.text_input("Embedding model (empty = the default, all-MiniLM-L6-v2, offline)", "",
                          key=f"tg_{method}_model").strip()
    text = c2.selectbox("Text to tag", steps.RECIPES, key=f"tg_{method}_text")
    cap = c3.number_input("Row cap (0 = none)", 0, 10_000_000, 0, key=f"tg_{method}_cap")
    return (f"{METHOD_WORDS[method]} tagging", lambda p, cancel: tagging.tag_offline(
        store, method, flt, model=model or None, text=text, limit=int(cap) or None, progress=p), True)


def _propagate_form(store, flt: Filter):
    src = tui.sources()
    src = src[src["enabled"] & (src["done"] > 0) & (src["origin"] != "propagated")]
    if not len(src):
        st.info("Tag a sample first (e.g. the LLM with a row cap of a few hundred), then propagate its tags.")
        return None
    if not sui.status()["spaces"]:
        st.info("Propagation votes over the embeddings: embed the rows on the Map page first.")
        st.page_link("pages/map.py", label="Go to the Map page")
        return None
    c1, c2, c3 = st.columns([3, 1, 1])
    origin = c1.selectbox("Tags to spread", list(dict.fromkeys(src["origin"])), key="tg_prop_src")
    k = c2.number_input("Neighbours (k)", 1, 200, 10, key="tg_prop_k")
    conf = c3.number_input("Minimum confidence", 0.0, 1.0, 0.5, step=0.05, key="tg_prop_conf")
    return (f"Propagating {origin}", lambda p, cancel: tagging.tag_propagate(
        store, origin, flt, k=int(k), min_conf=float(conf), progress=p), True)


def _import_form(store, flt: Filter):
    cols = sorted(store.extra_kinds()) + ["language", "format", "dataset"]
    col = st.selectbox("Label column", cols, key="tg_imp_col",
                       help="Extra fields of the imported data first (a list value gives several tags).")
    n = store.count(flt.and_(Cond(col, "not null")))  # rows without a value stay untagged
    st.caption(f"{n:,} rows under the filter have a value in this column.")
    return f"Importing {col} as tags", lambda p, cancel: tagging.tag_import(store, col, flt, progress=p), n > 0


def run_panel():
    """Pick a tagger, set it up, start it on the current filter's rows."""
    store, flt = ui.store(), tui.scoped()
    method = st.radio("Method", tagging.METHODS, key="tg_method", horizontal=True,
                      format_func=lambda m: METHOD_WORDS[m])
    st.caption(METHOD_HELP[method])
    words, n, _ = ui.sentence()
    ui.html_text(f"Runs on the rows under the current filter: {words}" + (f" ({n:,} rows)" if n is not None else ""))
    mod = MODULES.get(method)
    if mod and importlib.util.find_spec(mod) is None:
        st.info(f"The {METHOD_WORDS[method]} tagger is not part of this installation yet.")
        return
    form = {"llm": lambda: _llm_form(store, flt), "propagate": lambda: _propagate_form(store, flt),
            "import": lambda: _import_form(store, flt)}.get(method, lambda: _offline_form(store, flt, method))()
    if form is None:
        return
    label, fn, ready = form
    j = tui.job()
    busy = j is not None and j.running
    if st.button("Start tagging", key="tg_start", type="primary", disabled=busy or not ready or not n):
        if tui.start(label, method, fn, graceful=method == "llm"):
            st.rerun()
        st.warning("A tagging run is already going in this workspace; wait for it or cancel it.")
    if busy:
        st.caption("A tagging run is going (see the progress bar at the top).")


# ------------------------------------------------------------------ sources
def _toggle(origin: str, version: str, key: str):
    ui.store().set_tag_source_enabled(origin, version, bool(st.session_state.get(key)))


def sources_panel():
    src = tui.sources()
    if not len(src):
        st.info("No tagger has run in this workspace yet (Tag rows).")
        return
    view = pd.DataFrame({"origin": src["origin"], "version": src["version"], "enabled": src["enabled"],
                         "done": src["done"], "failed": src["failed"],
                         "tokens": src["prompt_tokens"] + src["completion_tokens"], "created": src["created"]})
    st.dataframe(view, hide_index=True, width="stretch",
                 column_config={"tokens": st.column_config.NumberColumn(format="localized")})
    st.caption("Only enabled sources feed the rows' tags. Running a new version of an origin disables its older "
               "versions; their tags stay stored, so switching back costs nothing.")
    for i, r in enumerate(src.itertuples()):
        key = f"src_on_{i}_{ui.version()}"
        st.toggle(f"{ui.md(r.origin)} · {ui.md(r.version)}", value=bool(r.enabled), key=key, on_change=_toggle,
                  args=(r.origin, r.version, key))
    failed = [(r.origin, r.version) for r in src.itertuples() if r.failed]
    if failed:
        with st.expander("Failed rows and their raw replies"):
            pick = st.selectbox("Source", failed, key="src_fail", format_func=lambda k: f"{k[0]} · {k[1]}")
            tui.failures(*pick)
    compare_panel(src)


def compare_panel(src: pd.DataFrame):
    """The sources' raw tags side by side: InsTag measures, and the same samples tagged by each."""
    st.subheader("Sources side by side")
    keys = [(r.origin, r.version) for r in src.itertuples() if r.done]
    if not keys:
        return
    pick = st.multiselect("Sources to compare", keys, default=keys[:4], key="src_cmp",
                          format_func=lambda k: f"{k[0]} · {k[1]}")
    if not pick:
        return
    table, examples = tui.compare(pick)
    st.caption("Raw tags (before normalisation) of every sample each source tagged, and of the samples all of "
               "the chosen sources tagged (common), so that their complexity and diversity compare like for like.")
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.2f") for c in
                                ("complexity", "complexity (common)")})
    if examples and len(pick) > 1:
        hashes = list(examples)
        rows = ui.store().rows(Filter((Cond("hash", "in", hashes), Cond("is_duplicate", "=", False))),
                               limit=len(hashes), columns=["hash", "instruction"])
        text = dict(zip(rows["hash"], rows["instruction"]))
        df = pd.DataFrame([{"instruction": (str(text.get(h) or ""))[:200].replace("\n", " ⏎ "),
                            **{s: ", ".join(t) for s, t in examples[h].items()}} for h in hashes])
        st.caption("The same samples, tagged by each source")
        st.dataframe(df, hide_index=True, width="stretch")
