"""Store, reading side: datasets, filtered counts, pages, facets, histograms, quarantine."""
from __future__ import annotations

import duckdb
import orjson
import pyarrow as pa

from core.filters import Filter, FilterError
from core.store.base import ALL_COLUMNS, LIST_COLUMNS, merge_kind


class QueryMixin:
    # ------------------------------------------------------------------ reading
    def datasets(self) -> list[dict]:
        rows = self._q("""SELECT d.name, d.formats, d.created,
                              (SELECT count(*) FROM rows r WHERE r.dataset = d.name),
                              (SELECT count(*) FROM quarantine q WHERE q.dataset = d.name),
                              (SELECT count(*) FROM rows r WHERE r.dataset = d.name AND r.is_duplicate),
                              (SELECT count(*) FROM files f WHERE f.dataset = d.name),
                              d.extra_kinds
                          FROM datasets d ORDER BY d.created, d.name""")
        return [{"dataset": n, "formats": f.split(",") if f else [], "created": cr, "rows": r, "quarantined": q,
                 "duplicates": du, "files": nf, "columns": list(orjson.loads(ek or "{}"))}
                for n, f, cr, r, q, du, nf, ek in rows]

    def files(self, dataset: str | None = None) -> list[dict]:
        cols = ["dataset", "path", "sha256", "size", "format", "rows", "quarantined", "imported", "seconds"]
        sql = f"SELECT {', '.join(cols)} FROM files" + (" WHERE dataset = ?" if dataset else "") + " ORDER BY imported"
        return [dict(zip(cols, r)) for r in self._q(sql, [dataset] if dataset else [])]

    def extra_kinds(self) -> dict:
        """Extra (non-core) columns over all datasets -> kind (int/float/bool/text/nested)."""
        v = self.version
        if self._extra_cache and self._extra_cache[0] == v:
            return self._extra_cache[1]
        kinds: dict = {}
        for (ek,) in self._q("SELECT extra_kinds FROM datasets"):
            for k, kind in orjson.loads(ek or "{}").items():
                kinds[k] = merge_kind(kinds.get(k), kind)
        self._extra_cache = (v, kinds)
        return kinds

    def _text_ids(self, text_flt: Filter) -> str:
        """Name of a registered Arrow table holding the ids that match a text filter (search, contains,
        regex). Text conditions scan every string; the table, three facets and the plots of one filter
        would scan them again and again, so the matching ids are computed once per store version."""
        key = (self.version, orjson.dumps(text_flt.to_dict()).decode())
        with self._id_lock:
            name = self._id_keys.get(key)
            if name:
                return name
        try:
            got = self._text_index_ids(text_flt)  # the text index, where it is current and helps
        except duckdb.Error:  # a value the engine rejects (the scan below says which) or an index mishap
            got = None
        if got is None:
            where, params = text_flt.to_sql(self.extra_kinds())
            got = self._run_user(lambda: self._q_numpy(f"SELECT id FROM rows WHERE {where}", params)["id"], text_flt)
        ids = pa.table({"id": got})
        with self._id_lock:
            self._id_seq += 1
            name = f"_sift_ids_{self._id_seq}"
            self._id_keys[key] = name
            self._id_tables[name] = ids
            while len(self._id_keys) > 32:  # keep the 32 most recent filters
                old = next(iter(self._id_keys))
                self._id_tables.pop(self._id_keys.pop(old), None)
        return name

    def _where(self, flt: Filter | None, dataset: str | None = None) -> tuple[str, list]:
        flt = flt or Filter()
        text = tuple(c for c in flt.conds if c.op in ("contains", "regex"))
        if (text or flt.search) and self._big():
            name = self._text_ids(Filter(text, flt.search))
            rest = Filter(tuple(c for c in flt.conds if c not in text), "", flt.ids)
            where, params = rest.to_sql(self.extra_kinds())
            where = f"({where}) AND id IN (SELECT id FROM {name})"
        else:
            where, params = flt.to_sql(self.extra_kinds())
        if dataset:
            where, params = f"({where}) AND dataset = ?", params + [dataset]
        return where, params

    def _run_user(self, fn, flt: Filter | None = None):
        """Run a user-driven query; turn engine errors into a clear message without SQL."""
        regex = any(c.op == "regex" for c in (flt.conds if flt else ()))
        try:
            return fn()
        except FilterError:
            raise
        except duckdb.InvalidInputException as e:
            msg = str(e).split("\n")[0]
            if regex:
                raise FilterError("invalid regular expression: " + msg.split(": ", 1)[-1][:200]) from None
            raise FilterError("a filter value could not be used: " + msg.split(": ", 1)[-1][:200]) from None
        except duckdb.Error as e:
            raise FilterError("the filter could not be run (" + type(e).__name__ + ")") from None

    def count(self, flt: Filter | None = None, dataset: str | None = None) -> int:
        where, params = self._where(flt, dataset)
        return self._run_user(lambda: int(self._q(f"SELECT count(*) FROM rows WHERE {where}", params)[0][0]), flt)

    def rows(self, flt: Filter | None = None, dataset: str | None = None, limit: int = 50, offset: int = 0,
             columns: list[str] | None = None, order: str = "id"):
        """A page of rows as a DataFrame (columns from the whitelist only)."""
        cols = [c for c in (columns or LIST_COLUMNS) if c in ALL_COLUMNS]
        if order.lstrip("-") not in ALL_COLUMNS:
            raise FilterError(f"cannot sort by {order!r}")
        ob = f'"{order.lstrip("-")}" {"DESC" if order.startswith("-") else "ASC"}, id'
        where, params = self._where(flt, dataset)
        sel = ", ".join(chr(34) + c + chr(34) for c in cols)

        def page():  # the page's ids first, then only their rows: the engine would read every column of every
            # row the filter keeps in the scanned row groups (2-4x slower on a million rows)
            ids = self._q_numpy(f"SELECT id FROM rows WHERE {where} ORDER BY {ob} LIMIT ? OFFSET ?",
                                params + [int(limit), int(offset)])["id"]
            return self._df(f"SELECT {sel} FROM rows WHERE id IN (SELECT unnest(?::BIGINT[])) ORDER BY {ob}",
                            [[int(i) for i in ids]])
        return self._run_user(page, flt)

    def row(self, row_id: int) -> dict | None:
        cols = list(ALL_COLUMNS)
        r = self._q(f"SELECT {', '.join(chr(34) + c + chr(34) for c in cols)} FROM rows WHERE id = ?", [int(row_id)])
        if not r:
            return None
        d = dict(zip(cols, r[0]))
        d["extra"] = orjson.loads(d["extra"]) if d["extra"] else {}
        return d

    def iter_rows(self, flt: Filter | None = None, dataset: str | None = None, batch: int = 10_000,
                  columns: list[str] | None = None):
        """Yield lists of row dicts in id order, keyset-paginated so memory stays bounded."""
        cols = [c for c in (columns or list(ALL_COLUMNS)) if c in ALL_COLUMNS]
        if "id" not in cols:
            cols = ["id"] + cols
        where, params = self._where(flt, dataset)
        last = -1
        sel = ", ".join(chr(34) + c + chr(34) for c in cols)
        while True:
            got = self._run_user(lambda: self._q(
                f"SELECT {sel} FROM rows WHERE ({where}) AND id > ? ORDER BY id LIMIT ?", params + [last, batch]), flt)
            if not got:
                return
            yield [dict(zip(cols, r)) for r in got]
            last = got[-1][cols.index("id")]

    def facet(self, column: str, flt: Filter | None = None, dataset: str | None = None, limit: int = 20):
        """[(value, count)] of a column (core or extra) under the filter, most frequent first."""
        expr, eparams = self._column_expr(column)
        where, params = self._where(flt, dataset)
        sql = (f"SELECT {expr} AS v, count(*) AS n FROM rows WHERE {where} GROUP BY v "
               f"ORDER BY n DESC, v NULLS LAST LIMIT ?")
        return self._run_user(lambda: self._q(sql, eparams + params + [int(limit)]), flt)

    def distinct_estimate(self, column: str, dataset: str | None = None) -> int:
        expr, eparams = self._column_expr(column)
        where, params = self._where(None, dataset)
        # sample only the one column (not whole rows with their texts) and estimate its distinct values
        return self._run_user(lambda: int(self._q(
            f"SELECT approx_count_distinct(v) FROM (SELECT {expr} AS v FROM rows WHERE {where} "
            f"USING SAMPLE 20000 ROWS)", eparams + params)[0][0] or 0))

    def _column_expr(self, column: str) -> tuple[str, list]:
        from core.filters import column_kind, json_pointer
        kind, is_extra = column_kind(column, self.extra_kinds())
        if is_extra:
            key = column[len("extra."):] if column.startswith("extra.") else column
            return "json_extract_string(extra, ?)", [json_pointer(key)]
        return f'"{column}"', []

    def histogram(self, column: str, flt: Filter | None = None, dataset: str | None = None, bins: int = 40):
        """Histogram of a numeric column computed in SQL: [(bin_start, bin_end, count)]."""
        expr, eparams = self._column_expr(column)
        expr = f"TRY_CAST({expr} AS DOUBLE)"
        where, params = self._where(flt, dataset)
        lo_hi = self._run_user(lambda: self._q(
            f"SELECT min({expr}), quantile_cont({expr}, 0.99), max({expr}) FROM rows WHERE {where}",
            eparams * 3 + params), flt)[0]
        if lo_hi[0] is None:
            return []
        lo, hi = float(lo_hi[0]), float(max(lo_hi[1], lo_hi[0] + 1))
        width = (hi - lo) / bins or 1.0
        sql = (f"SELECT least(floor(({expr} - ?) / ?), ?) AS b, count(*) FROM rows WHERE {where} "
               f"AND {expr} IS NOT NULL GROUP BY b ORDER BY b")
        got = self._run_user(lambda: self._q(sql, eparams + [lo, width, bins - 1] + params + eparams), flt)
        return [(lo + b * width, lo + (b + 1) * width if b < bins - 1 else float(lo_hi[2]), n) for b, n in got]

    def stats(self, flt: Filter | None = None, dataset: str | None = None) -> dict:
        where, params = self._where(flt, dataset)
        r = self._run_user(lambda: self._q(
            f"""SELECT count(*), count(DISTINCT dataset), sum(CASE WHEN is_duplicate THEN 1 ELSE 0 END),
                       avg(n_turns), median(instruction_chars), median(response_chars), sum(n_tokens)
                FROM rows WHERE {where}""", params), flt)[0]
        keys = ["rows", "datasets", "duplicates", "avg_turns", "median_instruction_chars",
                "median_response_chars", "tokens"]
        return {k: (v if v is not None else 0) for k, v in zip(keys, r)}

    def quarantine(self, dataset: str | None = None, limit: int | None = None):
        sql = "SELECT dataset, file, line, field, reason, raw FROM quarantine" + (
            " WHERE dataset = ?" if dataset else "") + " ORDER BY dataset, file, line" + (
            " LIMIT ?" if limit else "")
        params = ([dataset] if dataset else []) + ([int(limit)] if limit else [])
        return self._df(sql, params)

    def quarantine_summary(self, dataset: str | None = None) -> list[tuple]:
        sql = "SELECT dataset, reason, count(*) FROM quarantine" + (" WHERE dataset = ?" if dataset else "") + \
              " GROUP BY dataset, reason ORDER BY count(*) DESC"
        return self._q(sql, [dataset] if dataset else [])

