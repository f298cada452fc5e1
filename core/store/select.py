"""Store, Selections: named, ordered lists of row ids with the recipe (JSON) that produced them, and the
inputs the selection methods read (tags, vectors, scores, groups) for the rows of a Filter."""
from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa

from core.filters import Filter
from core.store.base import StoreError, now, safe_name

# numeric columns a selection may use as its score / length / group (whitelisted; extra fields go through
# the Filter's JSON-pointer path in _column_expr)
SCORE_COLUMNS = ("n_tags", "n_tokens", "response_chars", "instruction_chars", "total_chars", "n_turns", "dup_count")
GROUP_COLUMNS = ("cluster", "dataset", "language", "format", "cluster_label")


class SelectMixin:
    # ------------------------------------------------------------------ saved selections
    def save_selection(self, name: str, ids, recipe: dict) -> str:
        """Save (or replace) a Selection under a sanitised name; returns the name used."""
        name = safe_name(name, "selection")
        ids = np.asarray(ids, dtype=np.int64)
        t = pa.table({"pos": pa.array(np.arange(len(ids), dtype=np.int64)), "id": pa.array(ids)})
        with self._lock, self._cur() as c:
            c.register("_sel", t)
            c.execute("BEGIN TRANSACTION")
            c.execute("DELETE FROM selection_rows WHERE name = ?", [name])
            c.execute("DELETE FROM selections WHERE name = ?", [name])
            c.execute("INSERT INTO selections VALUES (?, ?, ?, ?)",
                      [name, now(), int(len(ids)), orjson.dumps(recipe, option=orjson.OPT_SORT_KEYS).decode()])
            c.execute("INSERT INTO selection_rows SELECT ?, pos, id FROM _sel", [name])
            self._bump(c)
            c.execute("COMMIT")
            c.unregister("_sel")
        return name

    def selections(self) -> list[dict]:
        return [{"name": n, "created": t, "rows": int(k), "method": orjson.loads(r).get("selection", {}).get("method")}
                for n, t, k, r in self._q("SELECT name, created, n, recipe FROM selections ORDER BY created, name")]

    def selection(self, name: str) -> tuple[np.ndarray, dict]:
        """(ordered row ids, recipe) of a saved Selection."""
        r = self._q("SELECT recipe FROM selections WHERE name = ?", [name])
        if not r:
            have = ", ".join(s["name"] for s in self.selections()) or "none yet"
            raise StoreError(f"no selection named {name!r} (saved: {have})")
        ids = self._q_numpy("SELECT id FROM selection_rows WHERE name = ? ORDER BY pos", [name])["id"]
        return np.asarray(ids, dtype=np.int64), orjson.loads(r[0][0])

    def selection_filter(self, name: str) -> Filter:
        ids, _ = self.selection(name)
        return Filter(ids=tuple(int(i) for i in ids), ids_label=f"selection {name}")

    def delete_selection(self, name: str):
        with self._lock, self._cur() as c:
            c.execute("BEGIN TRANSACTION")
            c.execute("DELETE FROM selection_rows WHERE name = ?", [name])
            c.execute("DELETE FROM selections WHERE name = ?", [name])
            self._bump(c)
            c.execute("COMMIT")

    def import_order(self) -> list[dict]:
        """Every imported file in the order its rows were numbered: what a replay imports again, in order."""
        got = self._q("SELECT f.dataset, f.path, f.sha256, f.format, f.rows, r.first FROM files f LEFT JOIN "
                      "(SELECT dataset, file, min(id) AS first FROM rows GROUP BY dataset, file) r "
                      "ON r.dataset = f.dataset AND r.file = f.path ORDER BY r.first NULLS LAST, f.imported")
        return [{"dataset": d, "path": p, "sha256": h, "format": f, "rows": int(n or 0)} for d, p, h, f, n, _ in got]

    # ------------------------------------------------------------------ inputs of the selection methods
    def select_inputs(self, flt: Filter | None, columns=()) -> dict:
        """Arrays for the Filter's rows in id order: ``id`` plus each requested column (whitelisted core/Step
        columns; ``tags`` comes back as a list of lists, None for untagged rows)."""
        cols = [c for c in dict.fromkeys(columns) if c != "id"]
        bad = [c for c in cols if c not in SCORE_COLUMNS + GROUP_COLUMNS + ("tags", "hash", "instruction",
                                                                            "response", "dup_keep", "contaminated")]
        if bad:
            raise StoreError(f"cannot select on {bad}; use one of {', '.join(SCORE_COLUMNS + GROUP_COLUMNS)}")
        where, params = self._where(flt)
        sel = ", ".join(["id"] + [f'"{c}"' for c in cols])
        with self._cursor_for(where) as c:
            t = self._run_user(lambda: c.sql(f"SELECT {sel} FROM rows WHERE {where} ORDER BY id",
                                             params=params).to_arrow_table(), flt)
        out = {"id": t.column("id").to_numpy().astype(np.int64)}
        for col in cols:
            a = t.column(col)
            out[col] = a.to_pylist() if col in ("tags", "hash", "instruction", "response", "contaminated",
                                                 "dataset", "language", "format", "cluster_label") \
                else a.to_numpy(zero_copy_only=False)
        return out
