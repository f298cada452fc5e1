"""Selections as files: export a Selection with its recipe, and replay a recipe headless into a fresh workspace.

``export_selection`` writes the rows of a saved Selection (exports/NAME + NAME.manifest.json with the recipe in
it) and NAME.recipe.json: the recipe plus the export settings and the export's sha256. ``replay`` reads such a
file, checks every source file's sha256 (and says which changed), imports them again in the same order into
OUT/workspace, re-runs the recorded dedup, decontamination and (where its inputs can be recomputed exactly)
the selection method, checks that the rows are the recorded ones, and writes the export again, reporting
whether its sha256 equals the recorded one.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson

from core.filters import Filter
from core.store import Store, StoreError

# methods whose inputs are recomputed exactly offline (embeddings by the same model; no LLM, no UMAP)
RECOMPUTABLE = {"random", "longest", "kcenter", "facility", "deita"}


def export_selection(store: Store, name: str, out: str, as_: str = "original", flt: Filter | None = None,
                     dataset: str | None = None, columns=None) -> dict:
    from core.export import export_rows
    ids, rec = store.selection(name)
    f = flt or Filter()
    f = Filter(f.conds, f.search, tuple(int(i) for i in ids), f"selection {name}")
    man = export_rows(store, f, out, as_, dataset=dataset, extra={"selection": name, "recipe": rec}, columns=columns)
    full = {**rec, "selection_name": name,
            "export": {"out": Path(man["path"]).name, "as": as_, "dataset": dataset, "with": man["with"],
                       "filter": (flt or Filter()).to_dict(), "rows": man["rows"], "sha256": man["sha256"]}}
    rpath = Path(man["path"]).with_name(Path(man["path"]).name + ".recipe.json")
    rpath.write_bytes(orjson.dumps(full, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    man["recipe_file"] = str(rpath)
    return man


def _check_files(files: list[dict]) -> list[dict]:
    from core.importer import file_sha256
    out = []
    for f in files:
        p = Path(f["path"])
        if not p.exists():
            out.append({**f, "status": "missing"})
            continue
        got = file_sha256(p)
        out.append({**f, "status": "same" if got == f["sha256"] else "changed", "found_sha256": got})
    return out


def replay(recipe_path: str | Path, out_dir: str | Path, progress=None) -> dict:
    """Rebuild a Selection's workspace from its recipe and export it again; see the module docstring."""
    from core import curate, steps
    from core.embed import embedder_for_model_id
    from core.importer import import_paths
    rec = json.loads(Path(recipe_path).read_text(encoding="utf-8"))
    if rec.get("tool") != "sift" or "selection" not in rec or "files" not in rec:
        raise StoreError(f"{recipe_path} is not a Sift selection recipe")
    ws = Path(out_dir) / "workspace"
    if (ws / "sift.duckdb").exists():
        raise StoreError(f"{ws} already holds a workspace; replay into an empty folder")
    files = _check_files(rec["files"])
    missing = [f["path"] for f in files if f["status"] == "missing"]
    if missing:
        raise StoreError("source files not found: " + ", ".join(missing))
    changed = [f for f in files if f["status"] == "changed"]
    report: dict = {"workspace": str(ws), "files": files, "changed_files": [f["path"] for f in changed],
                    "notes": []}
    for f in changed:
        report["notes"].append(f"{f['path']} changed since the recipe (sha256 {f['sha256'][:12]}… → "
                               f"{f['found_sha256'][:12]}…): rows and exports may differ")
    store = Store(ws)
    try:
        for f in rec["files"]:
            import_paths(store, [f["path"]], name=f["dataset"], fmt=f["format"] or "auto")
        sel = rec["selection"]
        flt = Filter.from_dict(rec["filter"])
        space = sel.get("space")
        needs_vectors = bool(space) or (rec.get("dedup") or {}).get("method") == "semantic"
        if needs_vectors and space:
            steps.embed(store, recipe=space["recipe"], embedder=embedder_for_model_id(space["model"]))
        if rec.get("dedup"):
            d = rec["dedup"]
            curate.dedup(store, d["method"], Filter.from_dict(d["filter"]), d.get("threshold"), d.get("keep", "first"),
                         d.get("priority"), d.get("score"), d.get("text"), d.get("num_perm", 128), d.get("shingle", 5))
        if rec.get("decontamination"):
            d = rec["decontamination"]
            ev = _check_files([{"path": e["path"], "sha256": e["sha256"]} for e in d["evals"]])
            for e in ev:
                if e["status"] != "same":
                    report["notes"].append(f"evaluation file {e['path']} is {e['status']}")
            curate.decontaminate(store, [e["path"] for e in d["evals"]], d["n"], d.get("embed_threshold"),
                                 Filter.from_dict(d["filter"]), d.get("text", "conversation"))
        ids, how = _selection_ids(store, rec, flt, report)
        name = store.save_selection(rec.get("selection_name") or "replayed", ids, rec)
        report["selection"] = {"name": name, "rows": len(ids), "how": how}
        exp = rec.get("export")
        if exp:
            man = export_selection(store, name, exp["out"], exp["as"], Filter.from_dict(exp["filter"]),
                                   exp.get("dataset"), columns=exp.get("with"))
            report["export"] = {"path": man["path"], "rows": man["rows"], "sha256": man["sha256"],
                                "expected_sha256": exp["sha256"], "identical": man["sha256"] == exp["sha256"]}
    finally:
        store.close()
    return report


def _selection_ids(store: Store, rec: dict, flt: Filter, report: dict) -> tuple[list[int], str]:
    """The replayed Selection's row ids: recomputed when the method's inputs are exact, else the recorded rows;
    either way every recorded row must be found with its recorded content hash."""
    from core import curate
    sel = rec["selection"]
    want_ids, want_hashes = [int(i) for i in sel["ids"]], sel["hashes"]
    got = store.select_inputs(Filter(ids=tuple(want_ids)), ["hash"]) if want_ids else {"id": np.array([]), "hash": []}
    have = dict(zip(got["id"].tolist(), got["hash"]))
    bad = [i for i, h in zip(want_ids, want_hashes) if have.get(i) != h]
    if bad:
        raise StoreError(f"{len(bad)} recorded rows are not in the rebuilt workspace with their recorded content "
                         f"(first: row {bad[0]}); the source files differ from the recipe's")
    if sel["method"] not in RECOMPUTABLE or sel.get("include") or sel.get("exclude"):
        return want_ids, "recorded rows (the method's inputs, such as LLM tags or a UMAP, are not recomputed)"
    res = curate.select(store, sel["method"], sel["budget"], flt, name="_replay_check", seed=sel["seed"],
                        params={k: v for k, v in sel["params"].items()}, score=sel["score"], length=sel["length"],
                        group=sel["group"], exclude_duplicates=rec["exclude"]["duplicates"],
                        exclude_contaminated=rec["exclude"]["contaminated"])
    store.delete_selection(res["name"])
    again = res["recipe"]["selection"]["ids"]
    if again == want_ids:
        return want_ids, "recomputed: the method chose exactly the recorded rows"
    diff = len(set(again) ^ set(want_ids))
    report["notes"].append(f"recomputing {sel['method']} chose {diff} different rows (floating-point differences "
                           f"between machines?); the recorded rows are used")
    return want_ids, "recorded rows (recomputation differed)"
