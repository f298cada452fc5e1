"""Store, tag edits: manual tags per row, vocabulary edits, the normalisation mapping, and the append-only
event log with undo. Every edit writes one ``tag_events`` row holding what undoing it needs; an undo is itself
an event (``ref`` = the event it undid), so the log is never rewritten.
"""
from __future__ import annotations

import orjson
import pyarrow as pa

from core.filters import Filter
from core.store.base import StoreError, now


def _clean_tags(tags) -> list[str]:
    out = []
    for t in tags or ():
        t = " ".join(str(t).split())[:80]
        if t and t not in out:
            out.append(t)
    return out


class TagEditMixin:
    # ------------------------------------------------------------------ the log
    def _event(self, c, op: str, summary: str, undo: dict, ref: int | None = None) -> int:
        seq = int(c.execute("SELECT coalesce(max(seq), 0) + 1 FROM tag_events").fetchall()[0][0])
        c.execute("INSERT INTO tag_events VALUES (?, ?, ?, ?, ?, ?)",
                  [seq, now(), op, summary, orjson.dumps(undo).decode(), ref])
        return seq

    def tag_events(self, limit: int = 50):
        """Recent events, newest first, with whether each was undone."""
        return self._df(
            "SELECT e.seq, e.time, e.op, e.summary, e.ref, (u.seq IS NOT NULL) AS undone FROM tag_events e "
            "LEFT JOIN (SELECT seq, ref FROM tag_events WHERE op = 'undo') u ON u.ref = e.seq "
            "ORDER BY e.seq DESC LIMIT ?", [int(limit)])

    def _undoable(self, c) -> tuple | None:
        got = c.execute(
            "SELECT seq, op, summary, undo FROM tag_events WHERE op <> 'undo' AND seq NOT IN "
            "(SELECT ref FROM tag_events WHERE op = 'undo') ORDER BY seq DESC LIMIT 1").fetchall()
        return got[0] if got else None

    # ------------------------------------------------------------------ manual tags on rows
    def tag_rows(self, flt: Filter | None, add=(), remove=(), what: str = "") -> int:
        """Add and/or remove tags by hand on every row of the filter (a map region, a cluster, a single row).
        Returns the number of rows touched. One event; undo restores the earlier manual decisions exactly."""
        add, remove = _clean_tags(add), _clean_tags(remove)
        if not add and not remove:
            raise StoreError("give at least one tag to add or remove")
        if set(add) & set(remove):
            raise StoreError("a tag cannot be added and removed at once")
        where, params = self._where(flt)
        ids = self._run_user(lambda: self._q_numpy(f"SELECT id FROM rows WHERE {where} ORDER BY id", params),
                             flt)["id"].tolist()
        if not ids:
            return 0
        tags = add + remove
        edits = pa.table({"id": pa.array([i for i in ids for _ in tags], pa.int64()),
                          "tag": pa.array(tags * len(ids), pa.string()),
                          "op": pa.array((["add"] * len(add) + ["remove"] * len(remove)) * len(ids), pa.string())})
        parts = ([f"added {', '.join(add)}"] if add else []) + ([f"removed {', '.join(remove)}"] if remove else [])
        summary = f"{' and '.join(parts)} on {len(ids):,} rows" + (f" ({what})" if what else "")
        with self._lock, self._cur() as c:
            c.register("_ids", pa.table({"id": pa.array(ids, pa.int64())}))
            c.register("_edits", edits)
            c.execute("BEGIN TRANSACTION")
            prev = c.execute("SELECT id, tag, op, time FROM tag_manual WHERE id IN (SELECT id FROM _ids) AND "
                             "list_contains(?::VARCHAR[], tag)", [tags]).fetchall()
            c.execute("DELETE FROM tag_manual WHERE id IN (SELECT id FROM _ids) AND list_contains(?::VARCHAR[], tag)",
                      [tags])
            c.execute("INSERT INTO tag_manual SELECT id, tag, op, ? FROM _edits", [now()])
            self._event(c, "rows", summary, {"kind": "rows", "ids": ids, "tags": tags, "prev": prev})
            self._refresh_ids(c)
            self._bump(c)
            c.execute("COMMIT")
            c.unregister("_ids")
            c.unregister("_edits")
        return len(ids)

    def _refresh_ids(self, c):
        """Refresh the rows sharing a content hash with the registered ``_ids`` (manual tags are per row)."""
        hashes = [r[0] for r in c.execute("SELECT DISTINCT hash FROM rows WHERE id IN (SELECT id FROM _ids)").fetchall()]
        self._refresh(c, hashes)

    def set_row_tags(self, row_id: int, tags) -> dict:
        """Make one row's tags exactly ``tags`` (from its detail view): the differences become manual adds and
        removes, logged as one event. Returns {"added": [...], "removed": [...]}."""
        r = self._q("SELECT tags FROM rows WHERE id = ?", [int(row_id)])
        if not r:
            raise StoreError(f"no row {row_id}")
        cur, new = list(r[0][0] or []), _clean_tags(tags)
        add, remove = [t for t in new if t not in cur], [t for t in cur if t not in new]
        if add or remove:
            self.tag_rows(Filter(ids=(int(row_id),), ids_label="row"), add, remove, what=f"row {row_id}")
        return {"added": add, "removed": remove}

    def manual_tags(self, row_id: int) -> list[tuple[str, str]]:
        return [(t, op) for t, op in self._q("SELECT tag, op FROM tag_manual WHERE id = ? ORDER BY tag",
                                             [int(row_id)])]

    # ------------------------------------------------------------------ vocabulary edits
    def rename_tag(self, old: str, new: str | None) -> int:
        """Rename (or, with ``new`` None, delete) a vocabulary tag everywhere: a merge is several renames to the
        same name. Kept across re-runs and re-normalisation (an override after the mapping). Returns rows touched."""
        return self.merge_tags([old], new)

    def merge_tags(self, olds, new: str | None) -> int:
        olds = _clean_tags(olds)
        new = _clean_tags([new])[0] if new is not None and _clean_tags([new]) else None
        olds = [o for o in olds if o != new]
        if not olds:
            raise StoreError("nothing to rename: give tags different from the new name")
        touched = self.count(Filter().and_(_has_any(olds)))
        verb = (f"deleted {', '.join(olds)}" if new is None else
                f"renamed {olds[0]} to {new}" if len(olds) == 1 else f"merged {', '.join(olds)} into {new}")
        with self._lock, self._cur() as c:
            c.execute("BEGIN TRANSACTION")
            prev_ov = c.execute("SELECT tag_from, tag_to FROM tag_override").fetchall()
            prev_man = c.execute("SELECT id, tag, op, time FROM tag_manual WHERE list_contains(?::VARCHAR[], tag)",
                                 [olds]).fetchall()
            # earlier edits that led to an old name now lead to the new one; then the old names themselves
            c.execute("UPDATE tag_override SET tag_to = ? WHERE list_contains(?::VARCHAR[], tag_to)", [new, olds])
            c.execute("DELETE FROM tag_override WHERE list_contains(?::VARCHAR[], tag_from)", [olds])
            c.execute("INSERT INTO tag_override SELECT unnest(?::VARCHAR[]), ?", [olds, new])
            if new is None:
                c.execute("DELETE FROM tag_manual WHERE list_contains(?::VARCHAR[], tag) AND op = 'add'", [olds])
            else:
                c.execute("UPDATE tag_manual SET tag = ? WHERE list_contains(?::VARCHAR[], tag)", [new, olds])
            self._event(c, "vocab", f"{verb} ({touched:,} rows)",
                        {"kind": "vocab", "overrides": prev_ov, "tags": olds + ([new] if new else []),
                         "manual": prev_man})
            self._refresh(c)
            self._bump(c)
            c.execute("COMMIT")
        return touched

    def tag_overrides(self) -> list[tuple[str, str | None]]:
        return self._q("SELECT tag_from, tag_to FROM tag_override ORDER BY tag_from")

    # ------------------------------------------------------------------ normalisation mapping
    def set_tag_map(self, mapping: dict, params: dict | None = None, summary: str = "") -> None:
        """Replace the normalisation mapping (raw tag -> vocabulary tag, None = dropped). Raw tags are never
        touched, so any earlier mapping can come back (undo, or a re-run with other parameters)."""
        t = pa.table({"raw": pa.array(list(mapping), pa.string()),
                      "tag": pa.array([mapping[k] for k in mapping], pa.string())})
        changed = sum(1 for k, v in mapping.items() if v != k)
        with self._lock, self._cur() as c:
            c.register("_map", t)
            c.execute("BEGIN TRANSACTION")
            prev = c.execute("SELECT raw, tag FROM tag_map").fetchall()
            prev_params = (c.execute("SELECT value FROM meta WHERE key = 'step:tag_norm_params'").fetchall() or [None])[0]
            c.execute("DELETE FROM tag_map")
            c.execute("INSERT INTO tag_map SELECT raw, tag FROM _map WHERE raw IS DISTINCT FROM tag")
            c.execute("INSERT OR REPLACE INTO meta VALUES ('step:tag_norm_params', ?)",
                      [orjson.dumps(params or {}).decode()])
            self._event(c, "normalize", summary or f"normalised: {changed:,} raw tags mapped or dropped",
                        {"kind": "map", "map": prev, "params": prev_params[0] if prev_params else None})
            self._refresh(c)
            self._bump(c)
            c.execute("COMMIT")
            c.unregister("_map")

    def tag_map(self) -> dict:
        return dict(self._q("SELECT raw, tag FROM tag_map"))

    # ------------------------------------------------------------------ undo
    def undo_tag_event(self) -> str:
        """Undo the most recent edit not yet undone; returns its summary. Raises StoreError when none is left."""
        with self._lock, self._cur() as c:
            c.execute("BEGIN TRANSACTION")
            got = self._undoable(c)
            if not got:
                c.execute("ROLLBACK")
                raise StoreError("nothing to undo")
            seq, op, summary, undo = got
            u = orjson.loads(undo)
            if u["kind"] == "rows":
                c.register("_ids", pa.table({"id": pa.array(u["ids"], pa.int64())}))
                c.execute("DELETE FROM tag_manual WHERE id IN (SELECT id FROM _ids) AND list_contains(?::VARCHAR[], tag)",
                          [u["tags"]])
                if u["prev"]:
                    c.executemany("INSERT INTO tag_manual VALUES (?, ?, ?, ?)", u["prev"])
                self._refresh_ids(c)
                c.unregister("_ids")
            elif u["kind"] == "vocab":
                c.execute("DELETE FROM tag_override")
                if u["overrides"]:
                    c.executemany("INSERT INTO tag_override VALUES (?, ?)", u["overrides"])
                c.execute("DELETE FROM tag_manual WHERE list_contains(?::VARCHAR[], tag)", [u["tags"]])
                if u["manual"]:
                    c.executemany("INSERT INTO tag_manual VALUES (?, ?, ?, ?)", u["manual"])
                self._refresh(c)
            elif u["kind"] == "map":
                c.execute("DELETE FROM tag_map")
                if u["map"]:
                    c.register("_map", pa.table({"raw": [r[0] for r in u["map"]], "tag": [r[1] for r in u["map"]]}))
                    c.execute("INSERT INTO tag_map SELECT raw, tag FROM _map")
                    c.unregister("_map")
                if u["params"] is None:
                    c.execute("DELETE FROM meta WHERE key = 'step:tag_norm_params'")
                else:
                    c.execute("INSERT OR REPLACE INTO meta VALUES ('step:tag_norm_params', ?)", [u["params"]])
                self._refresh(c)
            self._event(c, "undo", f"undid: {summary}", {"kind": "undo"}, ref=seq)
            self._bump(c)
            c.execute("COMMIT")
            return summary


def _has_any(tags):
    from core.filters import Cond
    return Cond("tags", "has any", list(tags))
