"""AppTest for the Curate page: empty state, exact dedup with the groups side by side, decontamination against a
planted eval prompt, a random 10 % preview saved under a name, coverage gaps of a lopsided selection (table and
map), a selection as the Browse filter, export of a selection with its recipe, comparing two selections, and
hostile text shown only as text.

The workspace (~100 rows, four categories) gets its clusters, names and map coordinates straight from
store.set_step_columns and its tags from the category column (tagging.tag_import): no embedder, no UMAP."""
from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import curate, select, steps, tagging
from core.embed import FakeEmbedder
from core.importer import import_paths
from core.store import Store
from pages import _curate_ui as cui
from pages import _ui as ui
from tests.test_app_tags import markdown_texts, ok, sentence

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SCRIPT = "<script>alert(1)</script>"
IMAGE = "![x](http://127.0.0.1:9/x.png)"
CATS = {"cook": "bake bread in the oven with flour", "code": "sort a python list with a function",
        "sport": "the team scored a goal in the match", "poem": "write a verse about the quiet sea"}
EVAL = "Compose an engaging travel blog post about a recent trip to Hawaii highlighting cultural experiences"


def _records() -> list[dict]:
    recs = []
    for c, (cat, words) in enumerate(CATS.items()):
        for i in range(24):
            out = ("long answer " * 40 if cat == "poem" else "short answer ") + str(i)
            recs.append({"instruction": f"{words} number {i}", "input": "", "output": out, "category": cat})
    recs += [dict(recs[1]), dict(recs[1])]  # two exact copies of row 2
    recs.append({"instruction": SCRIPT + " " + IMAGE, "input": "", "output": SCRIPT, "category": "cook"})
    recs.append({"instruction": SCRIPT + " " + IMAGE, "input": "", "output": SCRIPT, "category": "cook"})
    recs.append({"instruction": "Please: " + EVAL + " and more", "input": "", "output": "ok", "category": "code"})
    return recs


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("curateapp")
    f = root / "data.jsonl"
    recs = _records()
    f.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    (root / "eval.jsonl").write_text(json.dumps({"question_id": 1, "turns": [EVAL]}) + "\n", encoding="utf-8")
    store = Store(root / "ws")
    import_paths(store, [str(f)], name="data")
    tagging.tag_import(store, "category")
    steps.embed(store, embedder=FakeEmbedder())
    ids = store.select_inputs(None)["id"]
    cat_idx = {c: i for i, c in enumerate(CATS)}
    cl = [cat_idx[r["category"]] for r in recs]
    rng = np.random.default_rng(0)
    names = ["Baking", "Python", "Football", SCRIPT]
    store.set_step_columns(ids, {"cluster": cl, "cluster_label": [names[c] for c in cl],
                                 "x": [float(c * 10 + rng.normal()) for c in cl],
                                 "y": [float(c % 2 * 10 + rng.normal()) for c in cl]})
    store.close()
    return root


@pytest.fixture
def app(template, tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    shutil.copytree(template / "ws", ws)
    monkeypatch.setenv("SIFT_WORKSPACE", str(ws))
    at = AppTest.from_file(APP, default_timeout=60)
    at.ws = ws
    at.eval_file = template / "eval.jsonl"
    return at


def open_curate(at: AppTest, section: str = "Dedup") -> AppTest:
    at.run()
    at.switch_page("pages/curate.py").run()
    at.radio(key="cur_section").set_value(section).run()
    ok(at)
    return at


def tables(at: AppTest, *cols: str, without: str = "") -> list:
    """The tables shown that have all these columns (and not the ``without`` one)."""
    return [d.value for d in at.dataframe if set(cols) <= set(d.value.columns) and without not in d.value.columns]


def preview(at: AppTest, method: str, pct: float = 10.0) -> AppTest:
    at.selectbox(key="sel_method").set_value(method).run()
    at.number_input(key="sel_pct").set_value(pct).run()
    at.button(key="sel_preview").click().run()
    ok(at)
    return at


def markup(at: AppTest) -> list[str]:
    """Everything rendered as markdown (captions included) or HTML: dataset text must never appear there raw."""
    return markdown_texts(at) + [h.value for h in at.get("html")]


def test_renders_with_no_selections(app):
    at = open_curate(app)
    assert sentence(app) == "all rows: 101 rows"
    assert at.button(key="dd_run") is not None
    at.radio(key="cur_section").set_value("Saved selections").run()
    ok(at)
    assert any("No saved selections yet" in i.value for i in at.info)
    at.radio(key="cur_section").set_value("Select").run()
    ok(at)
    shown = {o.split(":")[0] for o in at.selectbox(key="sel_method").options}
    assert shown == set(select.METHODS) >= {"cfds", "deita", "longest", "kcenter", "stratified", "facility", "random"}


def test_dedup_exact_shows_groups_side_by_side(app):
    at = open_curate(app, "Dedup")
    at.button(key="dd_run").click().run()
    ok(at)
    assert any("2 groups" in s.value and "3 not kept" in s.value for s in at.success), [s.value for s in at.success]
    got = {m.label: m.value for m in at.metric}
    assert got["Duplicate groups"] == "2" and got["Not kept"] == "3" and got["Rows checked"] == "101"
    groups = at.selectbox(key="dd_group")
    assert len(groups.options) == 2 and all("2 rows" in o or "3 rows" in o for o in groups.options)
    texts = [t.value for t in at.get("text")]
    assert texts.count("bake bread in the oven with flour number 1") == 3  # the three copies, side by side
    badges = [h.value for h in at.get("html") if "sift-role" in h.value]
    assert sum("KEPT" in b for b in badges) == 1 and sum("not kept" in b for b in badges) == 2
    groups.set_value(groups.options[1]).run()  # the hostile pair: shown through st.text only
    ok(at)
    assert SCRIPT + " " + IMAGE in [t.value for t in at.get("text")]
    assert not any(SCRIPT in m or IMAGE in m for m in markup(at))


def test_decontaminate_flags_planted_eval_prompt(app):
    at = open_curate(app, "Decontaminate")
    at.text_area(key="dc_paths").input(str(app.eval_file)).run()
    at.button(key="dc_run").click().run()
    ok(at)
    got = {m.label: m.value for m in at.metric}
    assert got["Contaminated"] == "1" and got["Eval prompts"] == "1"
    ex = tables(at, "match")
    assert ex and list(ex[0]["id"]) == [101]
    at.text_area(key="dc_paths").input("/no/such/eval.jsonl").run()
    at.button(key="dc_run").click().run()
    ok(at)
    assert any("Not found" in e.value for e in at.error)


def test_random_preview_save_and_browse_filter(app):
    at = open_curate(app, "Select")
    preview(at, "random", 10.0)
    assert any(s.value == "Preview: 10 rows by random" for s in at.subheader)
    assert any(m.label == "Clusters covered" for m in at.metric)
    assert tables(at, "name", "gap", without="kind") and tables(at, "name", "gap", without="kind")[0]["pool"].sum() == 101
    at.text_input(key="sel_save_name_1").set_value("rand10").run()
    at.button(key="sel_save").click().run()
    ok(at)
    assert any("Saved the selection rand10" in s.value for s in at.success)
    s = ui.store()  # the app's own Store (same process; a second one could not open the workspace)
    assert [x["name"] for x in s.selections()] == ["rand10"]
    ids, rec = s.selection("rand10")
    assert len(ids) == 10 and rec["selection"]["method"] == "random" and rec["selection"]["budget"] == "10%"
    at.radio(key="cur_section").set_value("Saved selections").run()
    ok(at)
    assert list(tables(at, "created")[0]["name"]) == ["rand10"]
    at.button(key="cur_browse").click().run()
    ok(at)
    assert sentence(at) == "row is in the selection rand10 (10 rows): 10 rows"
    assert any(getattr(n, "key", None) == "fb_col" for n in at._tree)  # now on Browse


def test_manual_include_and_exclude_on_top_of_a_method(app):
    at = open_curate(app, "Select")
    at.text_input(key="sel_include").input("5, 7 x").run()
    preview(at, "longest", 10.0)
    assert any("not a row id" in e.value for e in at.error)
    at.text_input(key="sel_include").input("5, 7").run()
    assert not [x for x in ui.store().selections() if cui.is_preview(x["name"])]  # the refused preview saved nothing
    # the 10 longest responses are poems 10..19 (two-digit suffix), rows 83..92, in row order
    at.text_input(key="sel_exclude").input("83").run()
    preview(at, "longest", 10.0)
    ids, rec = ui.store().selection(cui.PREVIEW_PREFIX + at.session_state["cur_preview_id"])
    assert list(ids) == [5, 7] + list(range(84, 93))
    assert rec["selection"]["include"] == [5, 7] and rec["selection"]["exclude"] == [83]


@pytest.mark.parametrize("method", ["cfds", "kcenter", "deita", "stratified"])
def test_preview_of_each_kind_of_method(app, method):
    at = open_curate(app, "Select")
    if method == "deita":
        at.selectbox(key="sel_method").set_value(method).run()
        at.selectbox(key="sel_score").set_value("response_chars").run()
    preview(at, method, 10.0)
    rows = int(re.fullmatch(rf"Preview: (\d+) rows by {method}", at.subheader[0].value).group(1))
    short = [i.value for i in at.info if "fewer than the budget of 10" in i.value]
    assert rows == 10 and not short if method != "deita" else rows <= 10 and bool(short) == (rows < 10)
    cl = tables(at, "name", "gap", without="kind")[0]
    if method in ("cfds", "stratified"):  # one row per tag / cluster first: all four covered
        assert (cl["selected"] > 0).all()


def test_lopsided_selection_lists_coverage_gaps_and_marks_them_on_the_map(app):
    at = open_curate(app, "Select")
    preview(at, "longest", 10.0)  # the 10 longest responses are all poems
    gaps = tables(at, "kind", "expected")
    assert gaps, "no gap table"
    g = gaps[0]
    assert set(g.loc[g["kind"] == "Cluster", "name"]) == {"Baking", "Python", "Football"}
    assert set(g.loc[g["kind"] == "Tag", "label"]) == {"cook", "code", "sport"}
    cl = tables(at, "name", "gap", without="kind")[0]
    assert dict(zip(cl["name"], cl["selected"]))[SCRIPT] == 10  # the hostile name is a table cell
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    gap_trace = [t for t in fig["data"] if t.get("name") == "coverage gap (cluster)"]
    assert gap_trace and len(gap_trace[0]["hovertext"]) == 3
    assert all(t.startswith(("Baking", "Python", "Football")) for t in gap_trace[0]["hovertext"])
    sel = [t for t in fig["data"] if t.get("name") == "selected"]
    assert len(sel[0]["customdata"]) == 10
    dump = json.dumps(fig)
    assert SCRIPT not in dump and html.escape(SCRIPT) in dump  # hover texts escaped
    assert not any(SCRIPT in m for m in markup(at))


def test_export_selection_writes_file_and_recipe(app):
    s = Store(app.ws)
    curate.select(s, "random", 12, name="pick", seed=4)
    s.close()
    at = open_curate(app, "Saved selections")
    at.text_input(key="cur_exp_name_pick").set_value("picked.jsonl")  # form widgets: sent with the submit
    at.selectbox(key="cur_exp_as").set_value("sharegpt")
    at.button(key="FormSubmitter:cur_export_form-Export selection").click().run()
    ok(at)
    out = app.ws / "exports" / "picked.jsonl"
    recipe = app.ws / "exports" / "picked.jsonl.recipe.json"
    assert out.is_file() and recipe.is_file() and (app.ws / "exports" / "picked.jsonl.manifest.json").is_file()
    assert len(out.read_text().splitlines()) == 12
    rec = json.loads(recipe.read_text())
    assert rec["selection_name"] == "pick" and rec["export"]["as"] == "sharegpt"
    codes = [c.value for c in at.code]
    assert str(out) in codes and str(recipe) in codes
    assert any("Exported 12 rows" in x.value for x in at.success)


def test_compare_two_selections_and_delete(app):
    s = Store(app.ws)
    a = curate.select(s, "random", 20, name="a", seed=1)["recipe"]["selection"]["ids"]
    b = curate.select(s, "longest", 20, name="b")["recipe"]["selection"]["ids"]
    s.close()
    both = len(set(a) & set(b))
    at = open_curate(app, "Saved selections")
    got = {m.label: m.value for m in at.metric}
    assert got["A rows"] == "20" and got["B rows"] == "20" and got["In both"] == str(both)
    assert got["Jaccard"] == f"{both / len(set(a) | set(b)):.3f}"
    assert got["Only in A"] == str(20 - both)
    at.radio(key="cur_cmp_kind").set_value("tags").run()
    ok(at)
    t = tables(at, "covered_by")[0]
    assert dict(zip(t["label"], t["b"]))["poem"] == 20  # longest: all poems
    assert set(t.loc[t["covered_by"] == "A only", "label"]) <= {"cook", "code", "sport"}
    at.button(key="cur_cmp_only_b_ids").click().run()
    ok(at)
    assert sentence(at).startswith("row is in the selection b minus a")
    at.checkbox(key="cur_del_ok_a").check().run()
    at.button(key="cur_delete").click().run()
    ok(at)
    assert list(tables(at, "created")[0]["name"]) == ["b"]


def test_two_sessions_preview_apart_and_stale_previews_go(app):
    """Two browser sessions previewing at once keep their own previews; a day-old preview of a gone session is
    deleted when the page opens, and a saved selection named like a preview is not hidden."""
    first = open_curate(app, "Select")
    preview(first, "longest", 10.0)
    second = AppTest.from_file(APP, default_timeout=60)
    open_curate(second, "Select")
    preview(second, "random", 20.0)
    s = ui.store()
    mine = {at.session_state["cur_preview_id"] for at in (first, second)}
    assert len(mine) == 2
    longest, _ = s.selection(cui.PREVIEW_PREFIX + first.session_state["cur_preview_id"])
    rand, rec = s.selection(cui.PREVIEW_PREFIX + second.session_state["cur_preview_id"])
    assert len(longest) == 10 and len(rand) == 20 and rec["selection"]["method"] == "random"
    s.save_selection("preview.gone", longest, rec)
    s._con.execute("UPDATE selections SET created = '2020-01-01T00:00:00+00:00' WHERE name = 'preview.gone'")
    first.run()
    ok(first)
    left = {x["name"] for x in s.selections()}
    assert "preview.gone" not in left and all(cui.PREVIEW_PREFIX + m in left for m in mine)
    first.text_input(key="sel_save_name_1").set_value("preview.mine").run()
    first.button(key="sel_save").click().run()
    ok(first)
    assert "selection.preview.mine" in {x["name"] for x in s.selections()}
