"""Store, Tags: where tags live and how a row's effective tags are made.

- ``tag_sources``: one row per tagger identity (origin + version), e.g. (``llm:gpt-4o-mini``, ``instag-v1``),
  (``keyphrase``, ``kp-v1``), (``imported:category``, ``1``). Only enabled sources feed the rows' tags; a new
  version of an origin disables its older versions (their data stay, so switching back costs nothing).
- ``tag_done``: per (source, content hash) the outcome: ``ok`` or ``failed`` (with the raw reply kept). This is
  the cache: identical samples share one entry, a re-run asks only for hashes without an ``ok``, failures retry.
- ``tag_raw``: the raw tags of each (source, hash), with confidence and the tagger's explanation.
- ``tag_map``: the normalisation mapping raw tag → vocabulary tag (NULL = dropped); raw tags stay as they are.
- ``tag_override``: vocabulary edits by hand (rename, merge, delete), applied after the mapping.
- ``tag_manual``: per-row ``add`` / ``remove`` decisions; applied last, so they win over automatic re-runs.
- ``tag_events``: append-only log of hand edits and normalisations, each with what undoing it needs.
The effective tags are materialised on ``rows`` (``tags``, ``raw_tags``, ``n_tags``) so that one Filter
(``tags has X``, ``n_tags >= 3``) serves table, facets, map and export with no joins.
"""
from __future__ import annotations

import orjson
import pyarrow as pa

from core.filters import Filter
from core.store.base import StoreError, now
from core.store.steps import MAX_TEXT_CHARS, TEXT_SQL

USER_TURNS_SQL = (f"list_transform(list_filter(turns, lambda t: t.role = 'user'), "
                  f"lambda t: left(t.content, {MAX_TEXT_CHARS}))")
_ENABLED = "(SELECT origin, version FROM tag_sources WHERE enabled)"


def _hash_tab(hashes) -> pa.Table:
    return pa.table({"hash": pa.array(list(hashes), pa.string())})


class TagsMixin:
    # ------------------------------------------------------------------ sources
    def tag_source(self, origin: str, version: str, params: dict | None = None):
        """Register (or re-enable) a tagger identity; other versions of the same origin are disabled."""
        with self._lock, self._cur() as c:
            c.execute("BEGIN TRANSACTION")
            have = c.execute("SELECT enabled FROM tag_sources WHERE origin = ? AND version = ?",
                             [origin, version]).fetchall()
            have = have[0] if have else None
            others = c.execute("SELECT count(*) FROM tag_sources WHERE origin = ? AND version <> ? AND enabled",
                               [origin, version]).fetchall()[0][0]
            c.execute("UPDATE tag_sources SET enabled = (version = ?) WHERE origin = ?", [version, origin])
            if not have:
                c.execute("INSERT INTO tag_sources VALUES (?, ?, TRUE, ?, ?)",
                          [origin, version, now(), orjson.dumps(params or {}).decode()])
            c.execute("COMMIT")
        if others or (have and not have[0]):
            self.refresh_tags()

    def tag_sources(self):
        return self._df(
            "SELECT s.origin, s.version, s.enabled, s.created, s.params, "
            "count(d.hash) FILTER (WHERE d.status = 'ok') AS done, "
            "count(d.hash) FILTER (WHERE d.status = 'failed') AS failed, "
            "CAST(coalesce(sum(d.prompt_tokens), 0) AS BIGINT) AS prompt_tokens, "
            "CAST(coalesce(sum(d.completion_tokens), 0) AS BIGINT) AS "
            "completion_tokens FROM tag_sources s LEFT JOIN tag_done d USING (origin, version) "
            "GROUP BY ALL ORDER BY s.created, s.origin")

    def set_tag_source_enabled(self, origin: str, version: str, enabled: bool):
        with self._lock, self._cur() as c:
            c.execute("UPDATE tag_sources SET enabled = ? WHERE origin = ? AND version = ?",
                      [bool(enabled), origin, version])
        self.refresh_tags()

    # ------------------------------------------------------------------ automatic tags
    def tag_pending(self, origin: str, version: str, flt: Filter | None = None, payload: str = "user_turns",
                    limit: int | None = None, batch: int = 256):
        """(number of hashes still to tag, iterator of [(hash, payload)] batches) in dataset order.
        ``payload`` is ``user_turns`` (a list of the user turns' texts) or a text recipe name (a string)."""
        if payload != "user_turns" and payload not in TEXT_SQL:
            raise StoreError(f"unknown text {payload!r}; use user_turns or one of: {', '.join(TEXT_SQL)}")
        expr = USER_TURNS_SQL if payload == "user_turns" else f"left({TEXT_SQL[payload]}, {MAX_TEXT_CHARS})"
        where, params = self._where(flt)
        body = (f"SELECT hash, any_value({expr}) AS payload, min(id) AS first FROM rows WHERE ({where}) AND hash NOT IN "
                f"(SELECT hash FROM tag_done WHERE origin = ? AND version = ? AND status = 'ok') GROUP BY hash")
        params = params + [origin, version]
        total = int(self._run_user(lambda: self._q(f"SELECT count(*) FROM ({body})", params), flt)[0][0])
        lim = f" LIMIT {int(limit)}" if limit else ""
        total = min(total, int(limit)) if limit else total

        def gen():
            with self._cur() as c:
                reader = c.sql(f"SELECT hash, payload FROM ({body}) ORDER BY first{lim}",
                               params=params).to_arrow_reader(batch)
                for b in reader:
                    yield list(zip(b.column(0).to_pylist(), b.column(1).to_pylist()))
        return total, gen()

    def save_tags(self, origin: str, version: str, results: list[dict], refresh: bool = True):
        """Store one batch of tagging outcomes in one commit and refresh the rows they touch (with
        ``refresh=False`` the rows are refreshed later by refresh_pending_tags: commits stay cheap for one-row
        batches; a crash before that is repaired when the workspace next opens).
        Each result: ``{"hash", "status": "ok"|"failed", "tags": [(tag, confidence, explanation)], "raw",
        "prompt_tokens", "completion_tokens"}``. A hash's earlier outcome for this source is replaced."""
        if not results:
            return
        t = now()
        done = pa.table({
            "hash": [r["hash"] for r in results], "status": [r["status"] for r in results],
            "raw": [r.get("raw") for r in results],
            "pt": pa.array([int(r.get("prompt_tokens") or 0) for r in results], pa.int32()),
            "ct": pa.array([int(r.get("completion_tokens") or 0) for r in results], pa.int32())})
        tags = [(r["hash"], str(tg), float(cf) if cf is not None else None, ex)
                for r in results if r["status"] == "ok" for tg, cf, ex in r.get("tags") or []]
        raw = pa.table({"hash": pa.array([x[0] for x in tags], pa.string()),
                        "tag": pa.array([x[1] for x in tags], pa.string()),
                        "confidence": pa.array([x[2] for x in tags], pa.float32()),
                        "explanation": pa.array([x[3] for x in tags], pa.string())})
        with self._lock, self._cur() as c:
            c.register("_done", done)
            c.register("_raw", raw)
            c.execute("BEGIN TRANSACTION")
            for table in ("tag_done", "tag_raw"):
                c.execute(f"DELETE FROM {table} WHERE origin = ? AND version = ? AND hash IN (SELECT hash FROM _done)",
                          [origin, version])
            c.execute("INSERT INTO tag_done SELECT ?, ?, hash, status, raw, pt, ct, ? FROM _done", [origin, version, t])
            c.execute("INSERT INTO tag_raw SELECT ?, ?, hash, tag, confidence, explanation FROM _raw",
                      [origin, version])
            if refresh:
                self._refresh(c, hashes=[r["hash"] for r in results])
            else:
                self._tag_dirty.update(r["hash"] for r in results)
            self._bump(c)
            c.execute("COMMIT")
            c.unregister("_done")
            c.unregister("_raw")

    def source_tags(self, origin: str, version: str) -> tuple[list[str], list[list[str]]]:
        """(hashes, raw tag lists) of every hash this source tagged ok (a hash with no tags gets [])."""
        got = self._q("SELECT d.hash, list(r.tag ORDER BY r.confidence DESC NULLS LAST, r.tag) FILTER "
                      "(WHERE r.tag IS NOT NULL) FROM tag_done d LEFT JOIN tag_raw r USING (origin, version, hash) "
                      "WHERE d.origin = ? AND d.version = ? AND d.status = 'ok' GROUP BY d.hash ORDER BY d.hash",
                      [origin, version])
        return [r[0] for r in got], [list(r[1] or []) for r in got]

    def refresh_pending_tags(self):
        """Refresh the rows of results saved with refresh=False."""
        with self._lock:
            hashes, self._tag_dirty = self._tag_dirty, set()
        if hashes:
            self.refresh_tags(hashes)

    def tag_failures(self, origin: str, version: str, limit: int = 100):
        return self._df("SELECT hash, raw, time FROM tag_done WHERE origin = ? AND version = ? AND status = 'failed' "
                        "ORDER BY time DESC LIMIT ?", [origin, version, int(limit)])

    def column_values(self, column: str, flt: Filter | None = None):
        """(hash, value) of every distinct hash in the filter, for turning a label column into tags. ``column``
        is a core column or an extra field (JSON value, so lists stay lists)."""
        kinds = self.extra_kinds()
        from core.filters import column_kind, json_pointer
        _, is_extra = column_kind(column, kinds)
        where, params = self._where(flt)
        if is_extra:
            key = column[len("extra."):] if column.startswith("extra.") else column
            expr, p = "CAST(json_extract(any_value(extra), ?) AS VARCHAR)", [json_pointer(key)]
        else:
            expr, p = f'CAST(any_value("{column}") AS VARCHAR)', []
        return self._run_user(lambda: self._q(f"SELECT hash, {expr} FROM rows WHERE {where} GROUP BY hash",
                                              p + params), flt)

    # ------------------------------------------------------------------ effective tags on rows
    def _refresh(self, c, hashes=None):
        """Recompute rows.tags / raw_tags / n_tags (for rows with these hashes, or every row)."""
        scope = ""
        if hashes is not None:
            c.register("_th", _hash_tab(set(hashes)))
            scope = " AND hash IN (SELECT hash FROM _th)"
        c.execute(f"UPDATE rows SET tags = NULL, raw_tags = NULL, n_tags = NULL WHERE n_tags IS NOT NULL{scope}")
        c.execute(f"""
            WITH src AS (SELECT DISTINCT hash, tag FROM tag_raw WHERE (origin, version) IN {_ENABLED}{scope}),
            done AS (SELECT DISTINCT hash FROM tag_done WHERE status = 'ok' AND (origin, version) IN {_ENABLED}{scope}),
            norm AS (SELECT s.hash, s.tag AS raw, CASE WHEN m.raw IS NULL THEN s.tag ELSE m.tag END AS t
                     FROM src s LEFT JOIN tag_map m ON m.raw = s.tag),
            ov AS (SELECT n.hash, n.raw, CASE WHEN o.tag_from IS NULL THEN n.t ELSE o.tag_to END AS t
                   FROM norm n LEFT JOIN tag_override o ON o.tag_from = n.t),
            agg AS (SELECT hash, list(DISTINCT raw ORDER BY raw) AS raw_tags,
                           list(DISTINCT t ORDER BY t) FILTER (WHERE t IS NOT NULL) AS tags FROM ov GROUP BY hash),
            per AS (SELECT d.hash, coalesce(a.raw_tags, []::VARCHAR[]) AS raw_tags,
                           coalesce(a.tags, []::VARCHAR[]) AS tags FROM done d LEFT JOIN agg a USING (hash))
            UPDATE rows SET raw_tags = per.raw_tags, tags = per.tags, n_tags = len(per.tags)
            FROM per WHERE rows.hash = per.hash""")
        mscope = " WHERE id IN (SELECT id FROM rows WHERE hash IN (SELECT hash FROM _th))" if hashes is not None else ""
        c.execute(f"""
            WITH m AS (SELECT id, coalesce(list(tag) FILTER (WHERE op = 'add'), []) AS adds,
                              coalesce(list(tag) FILTER (WHERE op = 'remove'), []) AS rems FROM tag_manual{mscope}
                       GROUP BY id),
            n AS (SELECT r.id, list_sort(list_distinct(list_concat(
                      list_filter(coalesce(r.tags, []::VARCHAR[]), lambda x: NOT list_contains(m.rems, x)), m.adds)))
                      AS t FROM rows r JOIN m USING (id))
            UPDATE rows SET tags = n.t, n_tags = len(n.t) FROM n WHERE rows.id = n.id""")
        if hashes is not None:
            c.unregister("_th")

    def refresh_tags(self, hashes=None):
        with self._lock, self._cur() as c:
            c.execute("BEGIN TRANSACTION")
            self._refresh(c, hashes)
            self._bump(c)
            c.execute("COMMIT")

    def raw_tag_sets(self, flt: Filter | None = None) -> list[list[str]]:
        """Raw tags (enabled sources) per distinct content hash among the filter's rows: normalisation's input."""
        where, params = self._where(flt)
        return [list(r[0]) for r in self._run_user(lambda: self._q(
            f"SELECT any_value(raw_tags) FROM rows WHERE ({where}) AND raw_tags IS NOT NULL AND len(raw_tags) > 0 "
            f"GROUP BY hash", params), flt)]

    def tag_lists(self, flt: Filter | None = None, limit: int | None = None) -> list[list[str]]:
        """Effective tags of the filter's tagged rows (rows never tagged are left out)."""
        where, params = self._where(flt)
        lim = f" LIMIT {int(limit)}" if limit else ""
        return [list(r[0]) for r in self._run_user(lambda: self._q(
            f"SELECT tags FROM rows WHERE ({where}) AND tags IS NOT NULL ORDER BY id{lim}", params), flt)]

    def tag_summary(self, flt: Filter | None = None, by: str | None = None, top: int = 20) -> list[dict]:
        """InsTag's measures over the filter's tagged rows: complexity = mean tags per tagged row, diversity =
        distinct (normalised) tags, unique_tags = distinct raw tags; ``by`` (dataset / cluster / cluster_label /
        language / format) gives one entry per group, largest first. Keys: group, rows, rows_tagged, complexity, diversity, top_tags."""
        if by not in (None, "dataset", "cluster", "cluster_label", "language", "format"):
            raise StoreError(f"cannot group tag measures by {by!r}")
        where, params = self._where(flt)
        g = f'"{by}"' if by else "'all'"
        stats = self._run_user(lambda: self._q(
            f"SELECT {g} AS g, count(*), count(*) FILTER (WHERE tags IS NOT NULL), avg(n_tags) FROM rows "
            f"WHERE {where} GROUP BY g ORDER BY 2 DESC, 1", params), flt)
        div, raw = ({r[0]: int(r[1]) for r in self._run_user(lambda: self._q(
            f"SELECT g, count(DISTINCT t) FROM (SELECT {g} AS g, unnest({col}) AS t FROM rows WHERE {where}) "
            f"GROUP BY g", params), flt)} for col in ("tags", "raw_tags"))
        tops: dict = {}  # every group's top tags in one query (not one query per group)
        for grp, t, c in self._run_user(lambda: self._q(
                f"SELECT g, t, count(*) AS n FROM (SELECT {g} AS g, unnest(tags) AS t FROM rows WHERE {where}) "
                f"GROUP BY g, t QUALIFY row_number() OVER (PARTITION BY g ORDER BY n DESC, t) <= ? ORDER BY g, n DESC, t",
                params + [int(top)]), flt):
            tops.setdefault(grp, []).append({"tag": t, "count": int(c)})
        return [{"group": grp, "rows": int(n), "rows_tagged": int(tagged), "complexity": float(cx or 0.0),
                 "diversity": div.get(grp, 0), "unique_tags": raw.get(grp, 0),
                 "top_tags": tops.get(grp, [])}
                for grp, n, tagged, cx in stats]

    def tag_counts(self, flt: Filter | None = None, limit: int | None = 50, group: tuple | None = None,
                   column: str = "tags") -> list[tuple[str, int]]:
        """(tag, rows) most frequent first, over the filter's rows (optionally one group of tag_summary)."""
        if column not in ("tags", "raw_tags"):
            raise StoreError("tag counts are over tags or raw_tags")
        where, params = self._where(flt)
        if group:
            where, params = f'({where}) AND "{group[0]}" IS NOT DISTINCT FROM ?', params + [group[1]]
        lim = f" LIMIT {int(limit)}" if limit else ""
        return [(t, int(n)) for t, n in self._run_user(lambda: self._q(
            f"SELECT t, count(*) AS n FROM (SELECT unnest({column}) AS t FROM rows WHERE {where}) "
            f"GROUP BY t ORDER BY n DESC, t{lim}", params), flt)]
