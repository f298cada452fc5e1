"""Export --with: Sift's own columns (tags, cluster, ...) added to each exported record under "_sift", in every
file type and record form, recorded in the manifest and the selection recipe, and refused when unknown."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from core.export import SIFT_KEY, export_rows
from core.filters import Cond, Filter
from core.importer import import_paths
from core.replay import export_selection
from core.store import Store, StoreError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path):
    src = tmp_path / "a.jsonl"
    src.write_text("".join(json.dumps({"instruction": f"task {i}", "input": "", "output": f"answer {i}",
                                       "source": "s" + str(i % 2)}) + "\n" for i in range(6)))
    s = Store(tmp_path / "ws")
    import_paths(s, [str(src)], name="a")
    ids = s.select_inputs(None)["id"]
    s.set_step_columns(ids, {"cluster": [i % 3 for i in range(len(ids))],
                             "cluster_label": [f"c{i % 3}" for i in range(len(ids))]})
    s.tag_rows(Filter((Cond("instruction", "contains", "task 1"),)), add=["maths", "short"])
    yield s
    s.close()


def read(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            return [{**r, SIFT_KEY: json.loads(r[SIFT_KEY])} for r in csv.DictReader(f)]
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.parametrize("suffix", ["jsonl", "parquet", "csv"])
@pytest.mark.parametrize("as_", ["original", "alpaca", "messages"])
def test_with_columns_in_every_form(store, suffix, as_):
    man = export_rows(store, Filter(), f"out.{suffix}", as_, columns="tags,cluster,cluster_label,id")
    recs = read(Path(man["path"]))
    assert man["with"] == ["tags", "cluster", "cluster_label", "id"] and len(recs) == man["rows"] == 6
    by_id = {r[SIFT_KEY]["id"]: r for r in recs}
    tagged = {i for i, r in by_id.items() if r[SIFT_KEY]["tags"]}
    assert len(tagged) == 1 and by_id[min(tagged)][SIFT_KEY]["tags"] == ["maths", "short"]
    assert [r[SIFT_KEY]["cluster"] for r in recs] == [i % 3 for i in range(6)]
    assert all(r[SIFT_KEY]["cluster_label"] == f"c{r[SIFT_KEY]['cluster']}" for r in recs)
    if as_ == "original":  # the record's own fields are still all there
        assert all(r["instruction"].startswith("task ") and r["source"] in ("s0", "s1") for r in recs)


def test_without_with_the_original_stays_verbatim(store, tmp_path):
    man = export_rows(store, Filter(), "plain.jsonl")
    assert man["with"] == [] and SIFT_KEY not in Path(man["path"]).read_text()
    assert Path(man["path"]).read_text() == (tmp_path / "a.jsonl").read_text()


def test_unknown_or_record_columns_are_refused(store):
    for bad in ("nope", "raw", "turns", "tags;DROP TABLE rows"):
        with pytest.raises(StoreError, match="--with: unknown column"):
            export_rows(store, Filter(), "x.jsonl", columns=bad)
    assert not (store.workspace / "exports" / "x.jsonl").exists()


def test_selection_recipe_keeps_with(store):
    tagged = next(r["id"] for b in store.iter_rows(columns=["tags"]) for r in b if r["tags"])
    other = next(r["id"] for b in store.iter_rows(columns=["tags"]) for r in b if not r["tags"])
    store.save_selection("pick", [tagged, other], {"selection": {"method": "manual"}})
    man = export_selection(store, "pick", "pick.jsonl", columns=["tags"])
    recipe = json.loads(Path(man["recipe_file"]).read_text())
    assert recipe["export"]["with"] == ["tags"]
    assert sorted(r[SIFT_KEY]["tags"] or [] for r in read(Path(man["path"]))) == [[], ["maths", "short"]]


def test_cli_with(store, tmp_path):
    ws = store.workspace
    store.close()
    r = subprocess.run([sys.executable, "-m", "core", "export", "--workspace", str(ws), "--out", "c.jsonl",
                        "--with", "cluster", "--json"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["with"] == ["cluster"]
    bad = subprocess.run([sys.executable, "-m", "core", "export", "--workspace", str(ws), "--out", "d.jsonl",
                          "--with", "nope"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown column 'nope'" in bad.stderr and "Traceback" not in bad.stderr
