"""AppTest smoke over every page of the Streamlit app, the filter-bar interaction, and safe rendering.

The workspace is built in a temporary folder from small generated files (alpaca, sharegpt, messages)
through core.importer, then the app is pointed at it with SIFT_WORKSPACE.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import element_tree as et

from core.filters import Cond, Filter
from core.importer import import_paths
from core.store import Store

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SCRIPT = "<script>alert(1)</script>"
IMAGE = "![x](http://127.0.0.1:9/x.png)"
KEY = "![k](http://127.0.0.1:9/key.png)"  # an extra column whose *name* is hostile
TIMEOUT = 60

ALPACA = [
    {"instruction": "Translate 'hello' to French.", "input": "", "output": "Bonjour.", "category": "translate"},
    {"instruction": SCRIPT, "input": "", "output": IMAGE, "category": "hostile", KEY: "<b>x</b>"},
    {"instruction": "What is two plus two?", "input": "", "output": "Four.", "category": "math"},
    {"instruction": "Name a primary colour.", "input": "", "output": "Blue.", "category": "qa"},
    {"instruction": 5, "output": ["not", "text"]},  # wrong types: quarantined
]
SHAREGPT = [
    {"conversations": [{"from": "human", "value": "Hi, who are you?"}, {"from": "gpt", "value": "An assistant."},
                       {"from": "human", "value": "What can you do?"}, {"from": "gpt", "value": "Answer questions."}]},
    {"conversations": [{"from": "human", "value": "Tell me a joke."}, {"from": "gpt", "value": "Knock knock."},
                       {"from": "human", "value": "Who is there?"}, {"from": "gpt", "value": "Lettuce."}]},
    {"conversations": [{"from": "human", "value": "Summarise the plot of Hamlet in one line."},
                       {"from": "gpt", "value": "A prince avenges his father and everyone dies."}]},
]
MESSAGES = [
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"},
                  {"role": "assistant", "content": "Paris."}, {"role": "user", "content": "And of Italy?"},
                  {"role": "assistant", "content": "Rome."}]},
    {"messages": [{"role": "user", "content": "Write a haiku about rain."},
                  {"role": "assistant", "content": "Soft rain on the roof / the garden drinks slowly / "
                                                   "puddles hold the sky"}]},
    {"messages": [{"role": "user", "content": "Is water wet?"}, {"role": "assistant", "content": "Yes."}]},
]


BULK = [{"instruction": f"What is {i} squared?", "input": "", "output": str(i * i)} for i in range(30)]


def write_inputs(folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"alpaca": folder / "alpaca.json", "chats": folder / "chats.jsonl", "msgs": folder / "msgs.jsonl",
             "bulk": folder / "bulk.jsonl"}
    files["bulk"].write_text("".join(json.dumps(r) + "\n" for r in BULK), encoding="utf-8")
    files["alpaca"].write_text(json.dumps(ALPACA, indent=1), encoding="utf-8")
    files["chats"].write_text("".join(json.dumps(r) + "\n" for r in SHAREGPT), encoding="utf-8")
    files["msgs"].write_text("".join(json.dumps(r) + "\n" for r in MESSAGES), encoding="utf-8")
    return files


def build_workspace(root: Path) -> dict:
    files = write_inputs(root / "in")
    ws = root / "ws"
    store = Store(ws)
    try:
        for name, path in files.items():
            import_paths(store, [str(path)], name=name)
        multi = Filter((Cond("n_turns", ">", 1),))
        info = {"ws": ws, "total": store.count(), "multi": store.count(multi),
                "script_id": int(store.rows(Filter(search="<script>"), limit=1)["id"][0]),
                "datasets": [d["dataset"] for d in store.datasets()],
                "quarantined": sum(d["quarantined"] for d in store.datasets())}
    finally:
        store.close()
    return info


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("app"))


@pytest.fixture
def app(workspace, monkeypatch):
    monkeypatch.setenv("SIFT_WORKSPACE", str(workspace["ws"]))
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def open_page(at: AppTest, page: str) -> AppTest:
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def htmls(at: AppTest) -> list[str]:
    return [h.value for h in at.get("html")]


def sentence(at: AppTest) -> str:
    got = [html.unescape(re.sub(r"<[^>]+>", "", h)) for h in htmls(at) if "sift-sentence" in h]
    assert got, "no filter sentence on the page"
    return got[0]


def table_rows(at: AppTest) -> int:
    tables = [d for d in at.dataframe if "instruction" in d.value.columns and "id" in d.value.columns]
    assert tables, "no rows table"
    return len(tables[0].value)


def markdown_texts(at: AppTest) -> list[str]:
    """Everything on the page that Streamlit renders as markdown: markdown/caption/heading/alert bodies
    and widget, expander, tab and metric labels."""
    out = []
    for node in at._tree:
        if isinstance(node, (et.Markdown, et.HeadingBase, et.AlertBase, et.Toast)):
            out.append(str(node.value))
        label = getattr(node, "label", None)
        if isinstance(label, str):
            out.append(label)
    return out


# ------------------------------------------------------------------ smoke over every page
def test_datasets_page(app, workspace):
    at = app.run()
    assert not at.exception
    names = list(at.dataframe[0].value["dataset"])
    assert sorted(names) == sorted(workspace["datasets"])
    assert at.selectbox(key="q_dataset") is not None
    at.selectbox(key="q_dataset").set_value("alpaca").run()
    assert not at.exception
    assert any("quarantined" in str(m.value) for m in at.markdown)
    assert [d for d in at.get("download_button") if "quarantine" in d.proto.label.lower()]


def test_browse_page(app, workspace):
    at = open_page(app, "browse")
    assert sentence(at) == f"all rows: {workspace['total']:,} rows"
    assert table_rows(at) == min(25, workspace["total"])
    assert at.get("text"), "row detail shows the turns as text"


def test_browse_pagination(app, workspace):
    at = open_page(app, "browse")
    total = workspace["total"]
    assert total > 25
    pages = -(-total // 25)
    assert f"page 1 of {pages} · rows 1–25 of {total}" in " ".join(htmls(at))
    at.button(key="pg_next").click().run()
    assert not at.exception
    assert f"page 2 of {pages}" in " ".join(htmls(at))
    assert table_rows(at) == min(25, total - 25)
    at.button(key="pg_prev").click().run()
    assert table_rows(at) == 25
    at.selectbox(key="pg_size").set_value(10).run()
    assert f"page 1 of {-(-total // 10)}" in " ".join(htmls(at)) and table_rows(at) == 10
    at.number_input(key="pg_input").set_value(3).run()
    assert f"page 3 of {-(-total // 10)}" in " ".join(htmls(at))
    # the detail follows the rows of the shown page
    ids = list(next(d for d in at.dataframe if "instruction" in d.value.columns).value["id"])
    pick = next(s for s in at.selectbox if s.key and s.key.startswith("detail_pick_"))
    assert pick.value == ids[0]
    pick.set_value(ids[3]).run()
    assert f"Row {ids[3]}" in " ".join(htmls(at))


def test_plots_page(app, workspace):
    at = open_page(app, "plots")
    assert sentence(at) == f"all rows: {workspace['total']:,} rows"
    charts = [n for n in at._tree if getattr(n, "type", "") == "plotly_chart"]
    assert len(charts) == 8  # 3 histograms + 5 bar charts, nothing written twice by Streamlit "magic"
    at.toggle(key="plots_logy").set_value(True).run()
    assert not at.exception


def test_export_page(app, workspace):
    at = open_page(app, "export")
    assert sentence(at) == f"all rows: {workspace['total']:,} rows"
    at.text_input(key="exp_name").input("my export")
    at.selectbox(key="exp_type").set_value("jsonl")
    at.selectbox(key="exp_as").set_value("messages")
    at.button[0].click().run()  # the form's Export button
    assert not at.exception
    out = workspace["ws"] / "exports"
    files = sorted(p.name for p in out.glob("*.jsonl"))
    assert files, "nothing exported"
    assert "my_export.jsonl" in files
    manifest = json.loads((out / (files[0] + ".manifest.json")).read_text())
    assert manifest["rows"] + manifest["skipped"] == workspace["total"]
    assert any(m.value == f"{manifest['rows']:,}" for m in at.metric)
    assert any(c.value == manifest["sha256"] for c in at.code)
    labels = [d.proto.label for d in at.get("download_button")]
    assert any("manifest" in x for x in labels) and len(labels) == 2


def test_export_bad_name_shows_error(app, workspace):
    at = open_page(app, "export")
    at.text_input(key="exp_name").input("../../evil")
    at.selectbox(key="exp_type").set_value("csv")
    at.button[0].click().run()
    assert not at.exception
    assert at.error and not at.success
    assert not list(workspace["ws"].parent.rglob("evil*"))


# ------------------------------------------------------------------ the filter bar
def test_filter_bar_add_remove_and_invalid(app, workspace):
    at = open_page(app, "browse")
    before = table_rows(at)
    at.selectbox(key="fb_col").set_value("n_turns")
    at.selectbox(key="fb_op").set_value(">")
    at.text_input(key="fb_val").input("1")
    at.button(key="fb_add").click().run()
    assert not at.exception and not at.error
    assert sentence(at) == f"n_turns > 1: {workspace['multi']:,} rows"
    assert 0 < workspace["multi"] < workspace["total"]
    assert table_rows(at) == workspace["multi"] < before

    # an invalid value: a clear error, no exception, the filter unchanged
    at.selectbox(key="fb_col").set_value("n_turns")
    at.selectbox(key="fb_op").set_value(">")
    at.text_input(key="fb_val").input("abc")
    at.button(key="fb_add").click().run()
    assert not at.exception
    assert at.error and "number" in at.error[0].value
    assert sentence(at) == f"n_turns > 1: {workspace['multi']:,} rows"

    # remove the condition with its chip
    chips = [m for m in at.multiselect if m.key and m.key.startswith("chips_")]
    assert chips and chips[0].value == [0]
    chips[0].unselect(0).run()
    assert not at.exception
    assert sentence(at) == f"all rows: {workspace['total']:,} rows"


def test_search_and_dataset_selector(app, workspace):
    at = open_page(app, "browse")
    search = next(t for t in at.text_input if t.key and t.key.startswith("fb_search_"))
    search.input("haiku").run()
    assert not at.exception
    assert sentence(at) == 'text contains "haiku": 1 rows'
    assert table_rows(at) == 1
    at.selectbox(key="ds_select").set_value("chats").run()
    assert sentence(at) == 'text contains "haiku" in chats: 0 rows'
    at.button(key="clear_filter").click().run()
    assert sentence(at) == f"all rows in chats: {len(SHAREGPT)} rows"
    # the dataset choice follows to the other pages
    at.switch_page("pages/plots.py").run()
    assert sentence(at) == f"all rows in chats: {len(SHAREGPT)} rows"


def test_regex_error_is_a_message(app):
    at = open_page(app, "browse")
    at.selectbox(key="fb_col").set_value("instruction")
    at.selectbox(key="fb_op").set_value("regex")
    at.text_input(key="fb_val").input("(unclosed")
    at.button(key="fb_add").click().run()
    assert not at.exception
    assert at.error


# ------------------------------------------------------------------ safe rendering of dataset text
def test_hostile_row_only_as_text(app, workspace):
    at = open_page(app, "browse")
    at.number_input(key="goto_id").set_value(workspace["script_id"]).run()
    assert not at.exception
    texts = [t.value for t in at.get("text")]
    assert SCRIPT in texts and IMAGE in texts, texts
    for body in markdown_texts(at):
        assert SCRIPT not in body and IMAGE not in body and "127.0.0.1:9" not in body, body
    for h in htmls(at):  # st.html shows markdown syntax literally; only live tags would matter
        assert "<script>alert" not in h and "<img" not in h and "<b>x" not in h, h
    # the original record is shown verbatim as code
    assert any(SCRIPT in c.value for c in at.code)
    # search for the payload: the sentence shows it escaped, the table as data
    search = next(t for t in at.text_input if t.key and t.key.startswith("fb_search_"))
    search.input(SCRIPT).run()
    assert not at.exception
    assert sentence(at) == f'text contains "{SCRIPT}": 1 rows'
    for h in htmls(at):
        assert "<script>alert" not in h
    for body in markdown_texts(at):
        assert SCRIPT not in body and IMAGE not in body, body


def test_hostile_column_name_is_inert(app):
    for page in ("datasets", "browse", "plots", "export"):
        at = open_page(app, page)
        for body in markdown_texts(at):
            assert "127.0.0.1:9" not in body, (page, body)
        for h in htmls(at):  # st.html shows markdown syntax literally; only live tags would matter
            assert "<b>x" not in h and "<img" not in h, (page, h)
    at = open_page(app, "browse")
    assert KEY in at.selectbox(key="fb_col").options
    at.selectbox(key="fb_col").set_value(KEY)
    at.selectbox(key="fb_op").set_value("not null")
    at.button(key="fb_add").click().run()
    assert not at.exception and not at.error
    assert sentence(at) == f"{KEY} is not empty: 1 rows"
    for body in markdown_texts(at):
        assert "127.0.0.1:9" not in body, body


def test_hostile_chip_and_error_are_inert(app):
    at = open_page(app, "browse")
    at.selectbox(key="fb_col").set_value("n_turns")
    at.selectbox(key="fb_op").set_value("=")
    at.text_input(key="fb_val").input(IMAGE)
    at.button(key="fb_add").click().run()
    assert not at.exception and at.error
    for body in markdown_texts(at):
        assert IMAGE not in body and "127.0.0.1:9/x.png)" not in body, body


# ------------------------------------------------------------------ importing and deleting through the UI
def test_import_path_upload_and_delete(tmp_path, monkeypatch):
    info = build_workspace(tmp_path)
    monkeypatch.setenv("SIFT_WORKSPACE", str(info["ws"]))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception

    extra = tmp_path / "more.jsonl"
    extra.write_text(json.dumps({"instruction": "Say hi.", "output": "Hi!"}) + "\n{oops\n", encoding="utf-8")
    at.text_area(key="imp_paths").input(str(extra))
    at.text_input(key="imp_name").input("more")
    at.button[0].click().run()  # the form's Import button
    assert not at.exception, [e.value for e in at.exception]
    assert "more" in list(at.dataframe[0].value["dataset"])
    errors = [d.value for d in at.dataframe if list(d.value.columns) == ["file", "line", "field", "reason"]]
    assert errors and int(errors[0]["line"][0]) == 2

    at.file_uploader(key="imp_upload").upload("../../up load.jsonl", json.dumps(
        {"messages": [{"role": "user", "content": "Up?"}, {"role": "assistant", "content": "Down."}]}).encode())
    at.text_area(key="imp_paths").input("")
    at.text_input(key="imp_name").input("uploaded")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "uploaded" in list(at.dataframe[0].value["dataset"])
    saved = list((info["ws"] / "uploads").rglob("*.jsonl"))
    assert len(saved) == 1 and saved[0].name == "up_load.jsonl"
    assert saved[0].resolve().is_relative_to((info["ws"] / "uploads").resolve())

    at.selectbox(key="del_dataset").set_value("more").run()
    assert at.button(key="del_go").disabled
    at.checkbox(key="del_confirm_0").check().run()
    at.button(key="del_go").click().run()
    assert not at.exception
    assert "more" not in list(at.dataframe[0].value["dataset"])
    assert at.success
    assert not at.checkbox(key="del_confirm_1").value and at.button(key="del_go").disabled  # a fresh confirmation


def test_empty_workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("SIFT_WORKSPACE", str(tmp_path / "empty"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    for page in ("browse", "plots", "export"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception
        assert at.info
