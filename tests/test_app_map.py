"""AppTest for the Map and Clusters pages: the map draws, a lasso selection (injected into session state as
the plotly event would give it) becomes a Filter that Browse and Export honour; clusters table, rename and
drill-down; hostile cluster text stays text. Embeddings come from the fast fake embedder."""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import steps
from core.embed import FakeEmbedder
from core.importer import import_paths
from core.store import Store

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SCRIPT = "<script>alert(1)</script>"
TOPICS = {"cook": "bake bread cook pasta soup oven flour", "code": "python function list sort class debug",
          "sport": "football goal team league match keeper"}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("mapapp")
    rng = np.random.default_rng(0)
    recs = []
    for topic, words in TOPICS.items():
        w = words.split()
        for i in range(40):
            recs.append({"instruction": " ".join(rng.choice(w, 5)) + f" {topic} {i}", "input": "",
                         "output": f"{topic} answer {i}"})
    recs.append({"instruction": SCRIPT + " football goal team", "input": "", "output": "x"})
    f = root / "topics.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    store = Store(root / "ws")
    import_paths(store, [str(f)], name="topics")
    steps.embed(store, embedder=FakeEmbedder())
    steps.map2d(store, mode="reproducible")
    steps.cluster(store, min_cluster_size=10, reassign=True, mode="reproducible")
    c = [c for c in store.clusters() if c["cluster"] >= 0][0]["cluster"]
    store.rename_cluster(c, SCRIPT)
    pts, _ = store.points()
    info = {"ws": root / "ws", "total": store.count(), "xy": pts}
    store.close()
    return info


@pytest.fixture
def app(ws, monkeypatch):
    monkeypatch.setenv("SIFT_WORKSPACE", str(ws["ws"]))
    return AppTest.from_file(APP, default_timeout=120)


def open_page(at: AppTest, page: str) -> AppTest:
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sentence(at: AppTest) -> str:
    got = [html.unescape(re.sub(r"<[^>]+>", "", h.value)) for h in at.get("html") if "sift-sentence" in h.value]
    assert got
    return got[0]


def test_map_page_draws_points_and_labels(app, ws):
    at = open_page(app, "map")
    charts = at.get("plotly_chart")
    assert charts, "no map drawn"
    fig = json.loads(charts[0].proto.spec)
    n = sum(len(t["customdata"]) for t in fig["data"] if t.get("type") == "scattergl")
    assert n == ws["total"]
    texts = json.dumps(fig)
    assert SCRIPT not in texts and html.escape(SCRIPT) in texts  # hover / labels escaped
    assert fig["layout"]["annotations"], "cluster labels at centroids"


def test_lasso_region_becomes_filter_for_browse_and_export(app, ws):
    at = open_page(app, "map")
    xy = ws["xy"]
    xs = np.sort(xy["x"].to_numpy())
    x0, x1 = float(xs[0]) - 1, float(xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2  # no point on the edge
    y0, y1 = float(xy["y"].min()) - 1, float(xy["y"].max()) + 1
    at.session_state["map_region"] = [{"lasso": [[x0, x1, x1, x0], [y0, y0, y1, y1]]}]
    at.run()
    expect = int(((xy["x"] >= x0) & (xy["x"] <= x1)).sum())
    assert any(f"Selected region: {expect:,} rows" in s.value for s in at.subheader)
    at.button(key="map_apply").click().run()
    assert not at.exception
    assert f"map region (lasso) ({expect:,} rows): {expect:,} rows" in sentence(at)
    at.switch_page("pages/browse.py").run()
    assert f"map region (lasso) ({expect:,} rows): {expect:,} rows" in sentence(at)
    at.switch_page("pages/export.py").run()
    assert not at.exception
    assert "map region" in sentence(at)


def test_clusters_page_table_rename_and_drill(app, ws):
    at = open_page(app, "clusters")
    tables = [d.value for d in at.dataframe if "keywords" in d.value.columns]
    assert tables and tables[0]["rows"].sum() == ws["total"]
    assert SCRIPT in set(tables[0]["name"])  # the hostile name is data in a table, never markup
    assert not any(SCRIPT in h.value for h in at.get("html"))
    assert at.get("plotly_chart")
    pick = at.selectbox[[s.label for s in at.selectbox].index("Cluster")]
    first = pick.value
    rename = [t for t in at.text_input if t.key == f"rename_{first}"]
    if rename:  # not the noise cluster
        rename[0].set_value("Bread and baking").run()
        at.button(key=f"btn_rename_{first}").click().run()
        assert not at.exception
        tables = [d.value for d in at.dataframe if "keywords" in d.value.columns]
        assert "Bread and baking" in set(tables[0]["name"])
    at.button(key=f"drill_{first}").click().run()
    assert not at.exception
    assert f"cluster is {first}" in sentence(at)
