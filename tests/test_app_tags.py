"""AppTest for the Tags page and the tag editing in Browse and Map: empty state, measures and views, a tagger run
in the background (label column, and an LLM against the local fake server with a failing row), bulk add on a
filter then undo, normalisation preview + apply with a rejected proposal, vocabulary rename, the row detail
editor, a tag filter that reaches Browse, and hostile tags shown only as text.

Each test gets its own copy of a small workspace tagged with core.tagging.tag_import (no LLM, no model)."""
from __future__ import annotations

import html
import json
import re
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import element_tree as et

from core import steps, tagging
from core.embed import FakeEmbedder
from core.filters import Cond, Filter
from core.importer import import_paths
from core.store import Store
from pages import _tags_ui as tui
from tests.fake_llm import FakeLLM

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SCRIPT = "<script>alert(1)</script>"
IMAGE = "![x](http://127.0.0.1:9/x.png)"
LABELS = [["Python", "python ", "sorting"], ["python", "Sorting!", "math"], [SCRIPT, IMAGE, "verse"]]
CATS = ["math", "code", "poem"]


def _records(n: int = 30) -> list[dict]:
    return [{"instruction": f"Task number {i}: write about topic {i % 3}", "input": "", "output": f"answer {i}",
             "category": CATS[i % 3], "labels": LABELS[i % 3]} for i in range(n)]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagsapp")
    f = root / "data.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in _records()), encoding="utf-8")
    out = {}
    for name, tag in (("plain", False), ("tagged", True)):
        store = Store(root / name)
        import_paths(store, [str(f)], name="data")
        if tag:
            tagging.tag_import(store, "category")
            tagging.tag_import(store, "labels")
        store.close()
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def mapped(template, tmp_path_factory):
    """The tagged workspace, embedded (fake embedder) and on the 2-D map (UMAP: about 10 s)."""
    ws = tmp_path_factory.mktemp("tagsmap") / "mapped"
    shutil.copytree(template["tagged"], ws)
    store = Store(ws)
    steps.embed(store, embedder=FakeEmbedder())
    steps.map2d(store, mode="reproducible")
    store.close()
    return {**template, "mapped": ws}


def make_app(template, tmp_path, monkeypatch, which: str = "tagged") -> tuple[AppTest, Path]:
    ws = tmp_path / "ws"
    shutil.copytree(template[which], ws)
    monkeypatch.setenv("SIFT_WORKSPACE", str(ws))
    return AppTest.from_file(APP, default_timeout=60), ws


def open_tags(at: AppTest, section: str | None = None) -> AppTest:
    at.run()
    at.switch_page("pages/tags.py").run()
    ok(at)
    if section:
        at.radio(key="tags_section").set_value(section).run()
        ok(at)
    return at


def ok(at: AppTest):
    assert not at.exception, [e.value for e in at.exception]


def sentence(at: AppTest) -> str:
    got = [html.unescape(re.sub(r"<[^>]+>", "", h.value)) for h in at.get("html") if "sift-sentence" in h.value]
    assert got, "no filter sentence"
    return got[0]


def vocab(at: AppTest) -> dict:
    tables = [d.value for d in at.dataframe if list(d.value.columns)[:2] == ["tag", "rows"]]
    assert tables, "no vocabulary table"
    return dict(zip(tables[0]["tag"], tables[0]["rows"]))


def markdown_texts(at: AppTest) -> list[str]:
    out = []
    for node in at._tree:
        if isinstance(node, (et.Markdown, et.HeadingBase, et.AlertBase, et.Toast)):
            out.append(str(node.value))
        if isinstance(getattr(node, "label", None), str):
            out.append(node.label)
    return out


def finish_job(at: AppTest) -> AppTest:
    """Wait for the background tag run of this app's workspace (the thread the page started), then rerun."""
    j = tui.wait(30)  # same process: the job registry (st.cache_resource) is the app's
    assert j is not None and not j.running
    at.run()
    ok(at)
    return at


# ------------------------------------------------------------------ rendering
def test_empty_state_says_what_to_do(template, tmp_path, monkeypatch):
    at, _ = make_app(template, tmp_path, monkeypatch, "plain")
    open_tags(at)
    assert any("No tags yet" in i.value and "Tag rows" in i.value for i in at.info)
    assert at.radio(key="tags_section").value == "Tag rows"
    assert at.button(key="tg_start") is not None
    at.radio(key="tags_section").set_value("Measures").run()
    ok(at)
    assert any("No tagged rows" in i.value for i in at.info)
    for sec in ("Vocabulary", "Sources", "Normalise", "Edit by hand"):
        at.radio(key="tags_section").set_value(sec).run()
        ok(at)


def test_measures_views_and_sources(template, tmp_path, monkeypatch):
    at, _ = make_app(template, tmp_path, monkeypatch)
    open_tags(at, "Measures")
    m = {x.label: x.value for x in at.metric}
    # every row has its category tag plus its label tags: 3 distinct label tags + 1 category = 4 per row
    assert m["Tagged rows"] == "30" and m["Complexity"] == "4.00"
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 2  # long tail + co-occurrence
    assert charts[0]["layout"]["yaxis"]["type"] == "log"
    assert any(list(d.value.columns)[:2] == ["antecedent", "consequent"] for d in at.dataframe)
    at.radio(key="tags_section").set_value("Sources").run()
    ok(at)
    src = next(d.value for d in at.dataframe if "origin" in d.value.columns)
    assert set(src["origin"]) == {"imported:category", "imported:labels"} and list(src["done"]) == [30, 30]
    cmp = next(d.value for d in at.dataframe if "complexity (common)" in d.value.columns)
    assert sorted(cmp["complexity"]) == [1.0, 3.0]
    # disabling a source takes its tags off the rows
    toggle = next(t for t in at.toggle if "labels" in t.label)
    toggle.set_value(False).run()
    ok(at)
    at.radio(key="tags_section").set_value("Measures").run()
    assert {x.label: x.value for x in at.metric}["Complexity"] == "1.00"


def test_hostile_tags_are_text(template, tmp_path, monkeypatch):
    at, _ = make_app(template, tmp_path, monkeypatch)
    open_tags(at, "Measures")
    specs = json.dumps([json.loads(c.proto.spec) for c in at.get("plotly_chart")])
    assert SCRIPT not in specs and html.escape(SCRIPT) in specs
    at.radio(key="tags_section").set_value("Vocabulary").run()
    assert SCRIPT in vocab(at) and IMAGE in vocab(at)  # data in a table
    for sec in ("Measures", "Vocabulary", "Sources", "Edit by hand"):
        at.radio(key="tags_section").set_value(sec).run()
        for body in markdown_texts(at):
            assert SCRIPT not in body and "127.0.0.1:9" not in body, (sec, body)
        for h in at.get("html"):
            assert "<script>alert" not in h.value, (sec, h.value)


# ------------------------------------------------------------------ running a tagger
def test_import_column_runs_in_background(template, tmp_path, monkeypatch):
    at, _ = make_app(template, tmp_path, monkeypatch, "plain")
    open_tags(at, "Tag rows")
    at.radio(key="tg_method").set_value("import").run()
    at.selectbox(key="tg_imp_col").set_value("category").run()
    at.button(key="tg_start").click().run()
    ok(at)
    finish_job(at)
    assert any("30 of 30 rows carry a value" in s.value for s in at.success)
    at.radio(key="tags_section").set_value("Vocabulary").run()
    assert vocab(at) == {"code": 10, "math": 10, "poem": 10}


def test_llm_run_with_progress_and_failures(template, tmp_path, monkeypatch):
    at, _ = make_app(template, tmp_path, monkeypatch, "plain")
    with FakeLLM() as srv:
        srv.faults.extend(["garbage"] * 1)
        open_tags(at, "Tag rows")
        at.text_input(key="tg_base").input(srv.base_url).run()
        at.text_input(key="tg_model").input("fake-model").run()
        at.text_input(key="tg_env").input("SIFT_TEST_NO_SUCH_KEY").run()
        assert any("30 distinct samples" in c.value for c in at.caption)
        at.number_input(key="tg_pin").set_value(1.0).run()
        at.button(key="tg_start").click().run()
        ok(at)
        finish_job(at)
    assert {x.label: x.value for x in at.metric}["Rows tagged"] == "29"
    assert {x.label: x.value for x in at.metric}["Failed"] == "1"
    fails = [d.value for d in at.dataframe if "raw" in d.value.columns]
    assert fails and len(fails[0]) == 1  # the garbage reply, kept as received


def test_pasted_key_is_wiped(template, tmp_path, monkeypatch):
    at, _ = make_app(template, tmp_path, monkeypatch)
    open_tags(at, "Tag rows")
    at.text_input(key="tg_env").input("sk-live-1234567890abcdef/+=").run()
    ok(at)
    assert at.text_input(key="tg_env").value == ""
    assert at.error and "NAME" in at.error[0].value


# ------------------------------------------------------------------ editing by hand
def test_bulk_add_on_filter_then_undo(template, tmp_path, monkeypatch):
    at, _ = make_app(template, tmp_path, monkeypatch)
    at.run()
    at.session_state["sift_filter"] = Filter((Cond("category", "=", "math"),))
    open_tags(at, "Edit by hand")
    assert "category is math: 10 rows" in sentence(at)
    at.multiselect(key="bk_add_0").set_value(["hand picked"]).run()
    at.button(key="bk_go").click().run()
    ok(at)
    assert any("10 rows" in s.value for s in at.success)
    log = next(d.value for d in at.dataframe if "summary" in d.value.columns)
    assert "added hand picked on 10 rows" in log["summary"][0]
    at.session_state["sift_filter"] = Filter()
    at.radio(key="tags_section").set_value("Vocabulary").run()
    assert vocab(at)["hand picked"] == 10
    at.radio(key="tags_section").set_value("Edit by hand").run()
    at.button(key="tag_undo").click().run()
    ok(at)
    at.radio(key="tags_section").set_value("Vocabulary").run()
    assert "hand picked" not in vocab(at)


def test_normalise_preview_reject_apply(template, tmp_path, monkeypatch):
    at, _ = make_app(template, tmp_path, monkeypatch)
    open_tags(at, "Normalise")
    at.multiselect(key="nm_stages").set_value(["rule"]).run()
    at.button(key="nm_preview").click().run()
    ok(at)
    eds = {e.key: e.value for e in at.data_editor}
    rule = next(v for k, v in eds.items() if k.startswith("nm_ed_rule_"))
    merges = {row["after"]: row["before"] for _, row in rule.iterrows()}
    assert set(merges) == {"python", "sorting"}, merges
    # reject the "sorting" merge, accept the python one
    key = next(k for k in eds if k.startswith("nm_ed_rule_"))
    i = list(rule["after"]).index("sorting")
    at.session_state[key] = {"edited_rows": {i: {"accept": False}}, "added_rows": [], "deleted_rows": []}
    at.button(key="nm_apply").click().run()
    ok(at)
    assert any("Vocabulary applied" in s.value for s in at.success)
    at.radio(key="tags_section").set_value("Vocabulary").run()
    v = vocab(at)
    assert "Python" not in v and v["python"] == 20  # merged
    assert "sorting" in v and "Sorting!" in v  # the rejected merge did not happen


def test_vocabulary_rename_and_filter_reaches_browse(template, tmp_path, monkeypatch):
    at, _ = make_app(template, tmp_path, monkeypatch)
    open_tags(at, "Vocabulary")
    at.multiselect(key="voc_sel_0").set_value(["code"]).run()
    at.text_input(key="voc_new_0").input("programming").run()
    at.button(key="voc_rename").click().run()
    ok(at)
    v = vocab(at)
    assert "code" not in v and v["programming"] == 10
    at.multiselect(key="voc_sel_1").set_value(["programming"]).run()
    at.button(key="voc_has").click().run()
    ok(at)
    assert sentence(at) == "tags has programming: 10 rows"
    assert any(getattr(n, "key", None) == "fb_col" for n in at._tree)  # Browse's filter bar


def test_detail_view_edits_one_row(template, tmp_path, monkeypatch):
    at, _ = make_app(template, tmp_path, monkeypatch)
    at.run()
    at.switch_page("pages/browse.py").run()
    at.number_input(key="goto_id").set_value(1).run()
    ok(at)
    texts = [t.value for t in at.get("text")]
    assert "Python, math, python, sorting" in texts  # row 1 = the first record: category math + its labels
    pick = next(m for m in at.multiselect if m.key and m.key.startswith("row_tags_1_"))
    pick.set_value(["math", "python", "mine"]).run()
    at.button(key="row_tags_save_1").click().run()
    ok(at)
    assert "math, mine, python" in [t.value for t in at.get("text")]
    assert any("added" in s.value and "mine" in s.value for s in at.success)


@pytest.mark.slow
def test_map_colour_by_tag(mapped, tmp_path, monkeypatch):
    at, _ = make_app(mapped, tmp_path, monkeypatch, "mapped")
    at.run()
    at.switch_page("pages/map.py").run()
    ok(at)
    at.selectbox(key="map_color").set_value(tui.TAG_COLOR).run()
    at.selectbox(key="map_tag").set_value(SCRIPT).run()
    ok(at)
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    sizes = {t["name"]: len(t["customdata"]) for t in fig["data"] if t.get("type") == "scattergl"}
    # legend names are escaped (and cut to 40 characters by the map)
    assert sorted(sizes.values()) == [10, 20] and len(sizes) == 2
    assert sizes[next(k for k in sizes if k.startswith("has &lt;script&gt;"))] == 10
    assert sizes[next(k for k in sizes if k.startswith("no &lt;script&gt;"))] == 20
    assert SCRIPT not in json.dumps(fig)


def test_progress_bar_and_cancel(template, tmp_path, monkeypatch):
    """A running job shows rows/s, ETA, tokens and cost; Cancel stops a tagger at its next progress report."""
    at, _ = make_app(template, tmp_path, monkeypatch)
    at.run()

    def slow(progress, cancel):
        for i in range(2_000):
            progress("tag", i, 2_000, {"rows_per_s": 12.5, "eta_s": 40.0, "tokens": 4321, "cost": 0.25})
            time.sleep(0.01)
        return {"rows": 2_000, "note": "not cancelled"}

    assert tui.start("Slow tagging", "keyphrase", slow)
    assert not tui.start("Another", "import", slow)  # one run at a time per workspace
    time.sleep(0.1)
    open_tags(at)
    bar = at.get("progress")[0].proto.text
    assert all(w in bar for w in ("of 2,000", "12.5 rows/s", "about 40 s left", "4,321 tokens", "0.2500"))
    at.button(key="tag_cancel").click().run()
    finish_job(at)
    assert any("cancelled after" in w.value for w in at.warning)
    at.button(key="tag_dismiss").click().run()
    assert tui.job() is None
