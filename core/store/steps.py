"""Store, Steps: runs, embedding vectors, Step columns (map coordinates, clusters) and cluster info.

Vectors live in one table per embedding space (model + text recipe): ``vec_<id> (hash, vec FLOAT[dim])``,
keyed by the row's content hash, so duplicates share a vector and a re-run computes only missing hashes.
Table names are built from integer ids the Store itself assigns, never from user text.
"""
from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa

from core.filters import Filter
from core.rows import STEP_COLUMNS
from core.store.base import StoreError, now

# the text each recipe embeds; ``instruction`` is the bare instruction (Alpaca's ``input`` left out)
TEXT_SQL = {
    "instruction": ("CASE WHEN format = 'alpaca' THEN coalesce(nullif(json_extract_string(raw, '$.instruction'), ''),"
                    " instruction) ELSE instruction END"),
    "instruction_input": "instruction",
    "conversation": ("concat_ws(chr(10), nullif(system, ''), "
                     "array_to_string(list_transform(turns, lambda t: t.content), chr(10)))"),
    "response": "response",
}
MAX_TEXT_CHARS = 4000  # the models read at most a few hundred tokens; longer texts are cut before embedding


def _vec_table(space: int) -> str:
    return f"vec_{int(space)}"


class StepsMixin:
    # ------------------------------------------------------------------ runs (Step bookkeeping)
    def start_run(self, step: str, params: dict) -> int:
        with self._lock, self._cur() as c:
            rid = int(c.execute("SELECT coalesce(max(id), 0) + 1 FROM runs").fetchone()[0])
            c.execute("INSERT INTO runs VALUES (?, ?, ?, 'running', ?, NULL, 0, NULL)",
                      [rid, step, orjson.dumps(params).decode(), now()])
            return rid

    def finish_run(self, rid: int, status: str, rows: int, note: str = ""):
        with self._lock, self._cur() as c:
            c.execute("UPDATE runs SET status = ?, finished = ?, rows = ?, note = ? WHERE id = ?",
                      [status, now(), int(rows), note, rid])

    def runs(self):
        return self._df("SELECT * FROM runs ORDER BY id DESC")

    def get_meta(self, key: str, default=None):
        r = self._q("SELECT value FROM meta WHERE key = ?", ["step:" + key])
        return orjson.loads(r[0][0]) if r else default

    def set_meta(self, key: str, value):
        with self._lock, self._cur() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", ["step:" + key, orjson.dumps(value).decode()])

    # ------------------------------------------------------------------ embedding spaces and vectors
    def space(self, model: str, recipe: str, dim: int) -> int:
        """Id of the embedding space (model, recipe), created on first use."""
        if recipe not in TEXT_SQL:
            raise StoreError(f"unknown text recipe {recipe!r}; use one of: {', '.join(TEXT_SQL)}")
        with self._lock, self._cur() as c:
            got = c.execute("SELECT id, dim FROM spaces WHERE model = ? AND recipe = ?", [model, recipe]).fetchone()
            if got:
                if int(got[1]) != int(dim):
                    raise StoreError(f"model {model} gave {dim}-d vectors but its stored ones are {got[1]}-d")
                return int(got[0])
            sid = int(c.execute("SELECT coalesce(max(id), 0) + 1 FROM spaces").fetchone()[0])
            c.execute("BEGIN TRANSACTION")
            c.execute(f"CREATE TABLE {_vec_table(sid)} (hash VARCHAR, vec FLOAT[{int(dim)}])")
            c.execute("INSERT INTO spaces VALUES (?, ?, ?, ?, ?)", [sid, model, recipe, int(dim), now()])
            c.execute("COMMIT")
            return sid

    def spaces(self) -> list[dict]:
        out = []
        for sid, model, recipe, dim, created in self._q("SELECT * FROM spaces ORDER BY id"):
            n = self._q(f"SELECT count(*) FROM {_vec_table(sid)}")[0][0]
            out.append({"space": sid, "model": model, "recipe": recipe, "dim": dim, "created": created, "vectors": n})
        return out

    def space_id(self, model: str, recipe: str) -> int | None:
        """The id of an existing embedding space (model, recipe), or None."""
        r = self._q("SELECT id FROM spaces WHERE model = ? AND recipe = ?", [model, recipe])
        return int(r[0][0]) if r else None

    def space_info(self, space: int) -> dict:
        """One space's model, recipe and dim (no vector count: callers on hot paths need only these)."""
        got = self._q("SELECT id, model, recipe, dim, created FROM spaces WHERE id = ?", [int(space)])
        if not got:
            raise StoreError(f"no embedding space {space}; run embed first")
        sid, model, recipe, dim, created = got[0]
        return {"space": sid, "model": model, "recipe": recipe, "dim": dim, "created": created}

    def coverage(self, space: int, flt: Filter | None = None) -> tuple[int, int]:
        """(rows with a vector, rows) under the filter."""
        where, params = self._where(flt)
        r = self._run_user(lambda: self._q(
            f"SELECT count(v.hash), count(*) FROM rows LEFT JOIN (SELECT DISTINCT hash FROM {_vec_table(space)}) v "
            f"USING (hash) WHERE {where}", params), flt)[0]
        return int(r[0]), int(r[1])

    def missing_texts(self, space: int, recipe: str, flt: Filter | None = None, batch: int = 1024):
        """(number of hashes without a vector, iterator of (hashes, texts) batches). Texts come sorted, so
        identical texts fall in the same batch and are embedded once. Writes between batches are safe."""
        where, params = self._where(flt)
        body = (f"SELECT hash, left(any_value({TEXT_SQL[recipe]}), {MAX_TEXT_CHARS}) AS text FROM rows "
                f"WHERE ({where}) AND hash NOT IN (SELECT hash FROM {_vec_table(space)}) GROUP BY hash")
        total = int(self._run_user(lambda: self._q(f"SELECT count(*) FROM ({body})", params), flt)[0][0])

        def gen():
            with self._cur() as c:
                reader = c.sql(f"SELECT hash, coalesce(text, '') FROM ({body}) ORDER BY 2, 1",
                               params=params).to_arrow_reader(batch)
                for b in reader:
                    yield b.column(0).to_pylist(), b.column(1).to_pylist()
        return total, gen()

    def add_vectors(self, space: int, hashes: list[str], vecs: np.ndarray):
        """Store one batch of vectors in its own commit (a crash loses at most the batch in flight)."""
        if len(hashes) == 0:
            return
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        dim = vecs.shape[1]
        t = pa.table({"hash": pa.array(hashes, pa.string()),
                      "vec": pa.FixedSizeListArray.from_arrays(pa.array(vecs.ravel()), dim)})
        with self._lock, self._cur() as c:
            c.register("_vecs", t)
            c.execute("BEGIN TRANSACTION")
            c.execute(f"INSERT INTO {_vec_table(space)} SELECT hash, vec FROM _vecs")
            c.execute("COMMIT")
            c.unregister("_vecs")

    def vectors(self, space: int, flt: Filter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(row ids, float32 vectors) of the filter's rows that have a vector, in id order."""
        dim = self.space_info(space)["dim"]
        where, params = self._where(flt)
        sql = (f"SELECT rows.id, v.vec FROM rows JOIN (SELECT hash, any_value(vec) AS vec FROM {_vec_table(space)} "
               f"GROUP BY hash) v USING (hash) WHERE {where} ORDER BY rows.id")
        with self._cursor_for(sql) as c:
            t = self._run_user(lambda: c.sql(sql, params=params).to_arrow_table(), flt)
        ids = t.column("id").to_numpy()
        col = t.column("vec").combine_chunks() if t.num_rows else None
        vecs = (col.values.to_numpy(zero_copy_only=False).reshape(-1, dim) if col is not None
                else np.zeros((0, dim), np.float32))
        return ids.astype(np.int64), vecs.astype(np.float32, copy=False)

    def hash_vectors(self, space: int, hashes: list[str]) -> tuple[list[str], np.ndarray]:
        """(hashes that have a vector, their vectors) for the given content hashes, in the given order."""
        dim = self.space_info(space)["dim"]
        t = pa.table({"hash": pa.array(list(hashes), pa.string()), "pos": pa.array(np.arange(len(hashes)))})
        with self._cur() as c:
            c.register("_hv", t)
            got = c.sql(f"SELECT h.hash, v.vec FROM _hv h JOIN (SELECT hash, any_value(vec) AS vec FROM "
                        f"{_vec_table(space)} GROUP BY hash) v USING (hash) ORDER BY h.pos").to_arrow_table()
            c.unregister("_hv")
        col = got.column("vec").combine_chunks() if got.num_rows else None
        vecs = (col.values.to_numpy(zero_copy_only=False).reshape(-1, dim) if col is not None
                else np.zeros((0, dim), np.float32))
        return got.column("hash").to_pylist(), vecs.astype(np.float32, copy=False)

    def nearest(self, space: int, query: np.ndarray, flt: Filter | None = None, k: int = 20,
                exclude_id: int | None = None):
        """Rows nearest a query vector by cosine, under the filter: DataFrame with a ``score`` column."""
        info = self.space_info(space)
        where, params = self._where(flt)
        if exclude_id is not None:
            where, params = f"({where}) AND rows.id <> ?", params + [int(exclude_id)]
        q = np.asarray(query, dtype=np.float32).ravel().tolist()
        if len(q) != info["dim"]:
            raise StoreError(f"query vector has {len(q)} dimensions, the space has {info['dim']}")
        sql = (f"SELECT rows.id, dataset, instruction, response, language, cluster_label, "
               f"array_cosine_similarity(v.vec, ?::FLOAT[{int(info['dim'])}]) AS score FROM rows "
               f"JOIN (SELECT hash, any_value(vec) AS vec FROM {_vec_table(space)} GROUP BY hash) v USING (hash) "
               f"WHERE {where} ORDER BY score DESC, rows.id LIMIT ?")
        return self._run_user(lambda: self._df(sql, [q] + params + [int(k)]), flt)

    def texts(self, ids: np.ndarray, recipe: str) -> list[str]:
        """The recipe's text of each row id (ids ascending and unique, as vectors() returns them)."""
        t = pa.table({"id": pa.array(np.asarray(ids, dtype=np.int64))})
        sql = (f"SELECT id, coalesce(left({TEXT_SQL[recipe]}, {MAX_TEXT_CHARS}), '') AS text FROM rows "
               f"WHERE id IN (SELECT id FROM _text_ids) ORDER BY id")
        with self._cur() as c:
            c.register("_text_ids", t)
            got = c.sql(sql).to_arrow_table()
            c.unregister("_text_ids")
        if got.num_rows != len(ids):
            raise StoreError("rows changed while reading their texts; run the step again")
        return got.column("text").to_pylist()

    def row_vector(self, space: int, row_id: int) -> np.ndarray | None:
        r = self._q(f"SELECT v.vec FROM rows JOIN {_vec_table(space)} v USING (hash) WHERE rows.id = ? LIMIT 1",
                    [int(row_id)])
        return np.asarray(r[0][0], dtype=np.float32) if r else None

    # ------------------------------------------------------------------ Step columns and clusters
    def step_ids(self, column: str, missing: bool, flt: Filter | None = None) -> np.ndarray:
        """Ids of rows whose Step column is (missing=True) or is not yet set."""
        if column not in STEP_COLUMNS:
            raise StoreError(f"not a Step column: {column!r}")
        where, params = self._where(flt)
        sql = f'SELECT id FROM rows WHERE ({where}) AND "{column}" IS {"" if missing else "NOT "}NULL ORDER BY id'
        return self._run_user(lambda: self._q_numpy(sql, params)["id"], flt).astype(np.int64)

    def set_step_columns(self, ids: np.ndarray, values: dict, clear: tuple = ()):
        """Write Step columns for the given row ids in one commit; ``clear`` columns are emptied first
        for every row (a fresh clustering replaces the old one everywhere)."""
        bad = [k for k in list(values) + list(clear) if k not in STEP_COLUMNS]
        if bad:
            raise StoreError(f"not Step columns: {bad}")
        t = pa.table({"id": pa.array(np.asarray(ids, dtype=np.int64)), **{k: pa.array(v) for k, v in values.items()}})
        sets = ", ".join(f'"{k}" = _step."{k}"' for k in values)
        with self._lock, self._cur() as c:
            c.register("_step", t)
            c.execute("BEGIN TRANSACTION")
            if clear:
                c.execute("UPDATE rows SET " + ", ".join(f'"{k}" = NULL' for k in clear))
            if values:
                c.execute(f"UPDATE rows SET {sets} FROM _step WHERE rows.id = _step.id")
            self._bump(c)
            c.execute("COMMIT")
            c.unregister("_step")

    def cluster_members(self) -> dict[int, set]:
        """Current cluster -> set of row ids (to carry names over to a re-run)."""
        d = self._q_numpy("SELECT cluster, id FROM rows WHERE cluster IS NOT NULL")
        out: dict[int, set] = {}
        for cl, i in zip(d["cluster"].tolist(), d["id"].tolist()):
            out.setdefault(int(cl), set()).add(int(i))
        return out

    def set_clusters(self, info: list[dict]):
        """Replace the clusters table: dicts with cluster, label, name, size, keywords, reps."""
        rows = [(int(d["cluster"]), d["label"], d.get("name") or "", int(d["size"]),
                 orjson.dumps(d.get("keywords", [])).decode(), orjson.dumps(d.get("reps", [])).decode()) for d in info]
        with self._lock, self._cur() as c:
            c.execute("BEGIN TRANSACTION")
            c.execute("DELETE FROM clusters")
            if rows:
                c.executemany("INSERT INTO clusters VALUES (?, ?, ?, ?, ?, ?)", rows)
            self._bump(c)
            c.execute("COMMIT")

    def clusters(self, flt: Filter | None = None) -> list[dict]:
        """Clusters with their size and share under the filter, mean lengths and language mix."""
        where, params = self._where(flt)
        got = self._run_user(lambda: self._q(
            f"""SELECT c.cluster, c.label, c.name, c.size, c.keywords, c.reps, count(r.id) AS n,
                       avg(r.instruction_chars), avg(r.response_chars), avg(r.n_tokens),
                       string_agg(DISTINCT r.language, ',')
                FROM clusters c LEFT JOIN (SELECT * FROM rows WHERE {where}) r ON r.cluster = c.cluster
                GROUP BY c.cluster, c.label, c.name, c.size, c.keywords, c.reps
                ORDER BY c.cluster < 0, n DESC, c.cluster""", params), flt)
        total = sum(g[6] for g in got) or 1
        return [{"cluster": g[0], "label": g[1], "name": g[2], "title": g[2] or g[1], "size": g[3],
                 "keywords": orjson.loads(g[4]), "reps": orjson.loads(g[5]), "rows": g[6], "share": g[6] / total,
                 "mean_instruction_chars": g[7], "mean_response_chars": g[8], "mean_tokens": g[9],
                 "languages": g[10] or ""} for g in got]

    def rename_cluster(self, cluster: int, name: str):
        name = " ".join(str(name or "").split())[:120]
        with self._lock, self._cur() as c:
            if not c.execute("SELECT 1 FROM clusters WHERE cluster = ?", [int(cluster)]).fetchone():
                raise StoreError(f"no cluster {cluster}")
            c.execute("BEGIN TRANSACTION")
            c.execute("UPDATE clusters SET name = ? WHERE cluster = ?", [name, int(cluster)])
            c.execute("""UPDATE rows SET cluster_label = (SELECT CASE WHEN name <> '' THEN name ELSE label END
                         FROM clusters WHERE cluster = ?) WHERE cluster = ?""", [int(cluster), int(cluster)])
            self._bump(c)
            c.execute("COMMIT")

    def points(self, flt: Filter | None = None, columns: tuple = (), limit: int | None = None, seed: int = 0):
        """Map points (id, x, y and extra columns) of the filter's rows that have coordinates; with ``limit``
        a reproducible random sample of that many. Returns (DataFrame, total number of points)."""
        exprs, eparams = ["id", "x", "y"], []
        for i, col in enumerate(c for c in dict.fromkeys(columns) if c not in ("id", "x", "y")):
            e, p = self._column_expr(col)  # core columns by whitelist, extra columns by a JSON-pointer parameter
            exprs.append(f'{e} AS "c{i}"')
            eparams += p
        names = ["id", "x", "y"] + [c for c in dict.fromkeys(columns) if c not in ("id", "x", "y")]
        where, params = self._where(flt)
        where = f"({where}) AND x IS NOT NULL"
        total = int(self._run_user(lambda: self._q(f"SELECT count(*) FROM rows WHERE {where}", params), flt)[0][0])
        sel = ", ".join(exprs)
        params = eparams + params
        if limit is not None and total > limit:
            # hash-based sample: stable for a given seed, so the map does not jump between reruns
            sql = f"SELECT {sel} FROM rows WHERE {where} ORDER BY hash(id + ?) LIMIT ?"
            df = self._run_user(lambda: self._df(sql, params + [int(seed), int(limit)]), flt)
        else:
            df = self._run_user(lambda: self._df(f"SELECT {sel} FROM rows WHERE {where} ORDER BY id", params), flt)
        df.columns = names
        return df, total
